//! The `langchain-rust` feature: that crate's messages converted to and
//! from LangChain's (the async history as its `BaseMemory` is in
//! `nonblocking/memory.rs`).
//!
//! langchain-rust's `Message` holds text, a type (human, ai, system, tool),
//! an `id` (a tool message's call id), OpenAI-format `tool_calls` and
//! images. What it cannot hold is mapped to its nearest form: list content
//! becomes its text plus images, `chat` messages follow their role,
//! `function` messages become tool messages, and `remove` messages (a
//! LangGraph instruction, not part of a conversation) are left out.

use ::langchain_rust::schemas::messages::{
    ImageContent, Message as LrMessage, MessageType as LrType,
};
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
use crate::message::{Message, MessageType, from_openai_messages, to_openai_messages};

/// A LangChain message as langchain-rust's, or `None` for a `remove`
/// message, which it has no form for.
///
/// ```
/// use langchain_cockroachdb::{Message, to_langchain_rust};
/// let converted = to_langchain_rust(&Message::tool("call_1", "21 degrees"))?.unwrap();
/// assert_eq!(converted.content, "21 degrees");
/// assert_eq!(converted.id.as_deref(), Some("call_1"));
/// # Ok::<(), langchain_cockroachdb::Error>(())
/// ```
pub fn to_langchain_rust(message: &Message) -> Result<Option<LrMessage>> {
    let kind = match message.message_type().base() {
        MessageType::Human => LrType::HumanMessage,
        MessageType::Ai => LrType::AIMessage,
        MessageType::System => LrType::SystemMessage,
        MessageType::Tool | MessageType::Function => LrType::ToolMessage,
        MessageType::Chat => match message.role() {
            Some("assistant" | "ai") => LrType::AIMessage,
            Some("system" | "developer") => LrType::SystemMessage,
            _ => LrType::HumanMessage,
        },
        _ => return Ok(None),
    };
    let images: Vec<ImageContent> = match message.content() {
        Value::Array(parts) => parts
            .iter()
            .filter(|p| p.get("type").and_then(Value::as_str) == Some("image_url"))
            .filter_map(|p| {
                let image = &p["image_url"];
                let url = image.get("url").or(Some(image)).and_then(Value::as_str)?;
                let mut content = ImageContent::from(url);
                content.detail = image
                    .get("detail")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                Some(content)
            })
            .collect(),
        _ => Vec::new(),
    };
    let tool_calls = match (kind.clone(), message.tool_calls()) {
        (LrType::AIMessage, calls) if !calls.is_empty() => {
            let openai = to_openai_messages(std::slice::from_ref(message))?;
            openai.first().and_then(|m| m.get("tool_calls")).cloned()
        }
        _ => None,
    };
    Ok(Some(LrMessage {
        content: message.text().into_owned(),
        message_type: kind.clone(),
        id: match kind {
            LrType::ToolMessage => message.tool_call_id().map(str::to_owned),
            _ => None,
        },
        tool_calls,
        images: (!images.is_empty()).then_some(images),
    }))
}

/// A langchain-rust message as LangChain's: images become `image_url`
/// parts after the text, OpenAI-format tool calls become tool calls.
///
/// ```
/// use langchain_cockroachdb::{MessageType, from_langchain_rust};
/// use langchain_rust::schemas::messages::Message;
/// let message = from_langchain_rust(&Message::new_ai_message("Hi!"))?;
/// assert_eq!(message.message_type(), MessageType::Ai);
/// assert_eq!(message.text(), "Hi!");
/// # Ok::<(), langchain_cockroachdb::Error>(())
/// ```
pub fn from_langchain_rust(message: &LrMessage) -> Result<Message> {
    let role = match message.message_type {
        LrType::HumanMessage => "user",
        LrType::AIMessage => "assistant",
        LrType::SystemMessage => "system",
        LrType::ToolMessage => "tool",
    };
    let mut openai = Map::new();
    openai.insert("role".into(), role.into());
    let content = match &message.images {
        Some(images) if !images.is_empty() => Value::Array(parts_of(images, &message.content)),
        _ => Value::String(message.content.clone()),
    };
    openai.insert("content".into(), content);
    if let Some(calls) = message.tool_calls.as_ref().filter(|c| !c.is_null()) {
        openai.insert("tool_calls".into(), calls.clone());
    }
    if message.message_type == LrType::ToolMessage {
        let id = message.id.clone().ok_or_else(|| {
            Error::InvalidMessage("a langchain-rust tool message has no id".into())
        })?;
        openai.insert("tool_call_id".into(), id.into());
    }
    let mut converted = from_openai_messages(&[Value::Object(openai)])?;
    Ok(converted.remove(0))
}

/// The content parts of a message with images: its text, then each image.
fn parts_of(images: &[ImageContent], text: &str) -> Vec<Value> {
    let mut parts = Vec::new();
    if !text.is_empty() {
        parts.push(json!({"type": "text", "text": text}));
    }
    for image in images {
        let mut url = Map::new();
        url.insert("url".into(), image.image_url.clone().into());
        if let Some(detail) = &image.detail {
            url.insert("detail".into(), detail.clone().into());
        }
        parts.push(json!({"type": "image_url", "image_url": url}));
    }
    parts
}
