//! The `langchain-rust` feature: its messages converted both ways, and the
//! async history as its `BaseMemory` on the real database.
#![cfg(feature = "langchain-rust")]

mod support;

use langchain_cockroachdb::nonblocking::AsyncCockroachDBEngine;
use langchain_cockroachdb::{
    Content, Message, MessageType, from_langchain_rust, to_langchain_rust,
};
use langchain_rust::schemas::memory::BaseMemory;
use langchain_rust::schemas::messages::{Message as LrMessage, MessageType as LrType};
use serde_json::json;
use support::database_url;

#[test]
fn every_kind_converts_both_ways() {
    let call = json!({"name": "get_weather", "args": {"city": "Zürich"}, "id": "call_1", "type": "tool_call"});
    let image = json!({"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}});
    let messages = [
        Message::system("Be brief."),
        Message::human("Weather?"),
        Message::human(
            Content::parts(vec![
                json!({"type": "text", "text": "What is this?"}),
                image,
            ])
            .unwrap(),
        ),
        Message::ai("").with_tool_calls(vec![call]).unwrap(),
        Message::tool("call_1", "21 degrees"),
        Message::ai("It is 21 degrees."),
    ];
    for message in &messages {
        let converted = to_langchain_rust(message)
            .unwrap()
            .expect("a conversational message");
        let back = from_langchain_rust(&converted).unwrap();
        assert_eq!(&back, message, "{converted:?}");
    }
    let tool = to_langchain_rust(&messages[4]).unwrap().unwrap();
    assert_eq!(
        (tool.message_type, tool.id.as_deref()),
        (LrType::ToolMessage, Some("call_1"))
    );
    let ai = to_langchain_rust(&messages[3]).unwrap().unwrap();
    assert_eq!(ai.parse_tool_calls()[0].name, "get_weather");
    let pictured = to_langchain_rust(&messages[2]).unwrap().unwrap();
    assert_eq!(pictured.images.unwrap()[0].detail.as_deref(), Some("low"));

    // What langchain-rust has no form for.
    assert!(to_langchain_rust(&Message::remove("m1")).unwrap().is_none());
    assert_eq!(
        to_langchain_rust(&Message::chat("assistant", "hi"))
            .unwrap()
            .unwrap()
            .message_type,
        LrType::AIMessage
    );
    let orphan = LrMessage {
        id: None,
        ..LrMessage::new_tool_message("x", "c")
    };
    assert!(from_langchain_rust(&orphan).is_err());
    assert_eq!(
        from_langchain_rust(&LrMessage::new_system_message("s"))
            .unwrap()
            .message_type(),
        MessageType::System
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_async_history_is_langchain_rusts_memory() {
    let engine = AsyncCockroachDBEngine::from_connection_string(&database_url()).unwrap();
    let session = format!("lr-{}", langchain_cockroachdb::uuid::Uuid::new_v4());
    let mut memory = engine.history(session.as_str()).unwrap();
    BaseMemory::add_user_message(&mut memory, &"My name is Alice")
        .await
        .unwrap();
    BaseMemory::add_ai_message(&mut memory, &"Nice to meet you, Alice!")
        .await
        .unwrap();
    BaseMemory::add_message(&mut memory, LrMessage::new_tool_message("sunny", "call_9"))
        .await
        .unwrap();
    let read = BaseMemory::messages(&memory).await.unwrap();
    let kinds: Vec<_> = read.iter().map(|m| m.message_type.clone()).collect();
    assert_eq!(
        kinds,
        [LrType::HumanMessage, LrType::AIMessage, LrType::ToolMessage]
    );
    assert_eq!(read[2].id.as_deref(), Some("call_9"));
    // Stored as LangChain writes them, for a Python reader of the table.
    let stored = engine
        .history(session.as_str())
        .unwrap()
        .messages()
        .await
        .unwrap();
    assert_eq!(stored[0].to_dict()["type"], "human");
    assert_eq!(stored[2].tool_call_id(), Some("call_9"));
    BaseMemory::clear(&mut memory).await.unwrap();
    assert!(BaseMemory::messages(&memory).await.unwrap().is_empty());
}
