//! The message model against the dicts the real `langchain_core` wrote.

mod support;

use langchain_cockroachdb::{Content, Error, Message, MessageType};
use serde_json::{Value, json};

#[test]
fn every_fixture_reads_and_writes_back_the_same_json_value() {
    let cases = support::fixture_cases();
    assert_eq!(cases.len(), 21);
    for (name, dict) in cases {
        let message = Message::from_dict(dict.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
        // Exact: with arbitrary_precision, numbers compare by their text.
        assert_eq!(message.to_dict(), dict, "{name}");
        let text = message.to_json();
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            dict,
            "{name}"
        );
        let via_serde: Message = serde_json::from_str(&text).unwrap();
        assert_eq!(via_serde, message, "{name}");
    }
}

#[test]
fn fixture_types_map_to_the_model() {
    let types: Vec<MessageType> = support::fixture_cases()
        .into_iter()
        .map(|(_, d)| Message::from_dict(d).unwrap().message_type())
        .collect();
    for t in [
        MessageType::Human,
        MessageType::Ai,
        MessageType::System,
        MessageType::Function,
        MessageType::Tool,
        MessageType::Chat,
        MessageType::AiChunk,
        MessageType::HumanChunk,
        MessageType::Remove,
    ] {
        assert!(types.contains(&t), "{t}");
    }
}

#[test]
fn minimal_dicts_get_langchains_defaults() {
    let base = json!({"additional_kwargs": {}, "response_metadata": {}, "name": null, "id": null});
    let with = |extra: Value| {
        let mut data = base.clone();
        data.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        data
    };
    for (dict, expected) in [
        (
            json!({"type": "human", "data": {"content": "x"}}),
            with(json!({"content": "x", "type": "human"})),
        ),
        (
            json!({"type": "system", "data": {"content": "x"}}),
            with(json!({"content": "x", "type": "system"})),
        ),
        (
            json!({"type": "ai", "data": {"content": "x"}}),
            with(
                json!({"content": "x", "type": "ai", "tool_calls": [], "invalid_tool_calls": [], "usage_metadata": null}),
            ),
        ),
        (
            json!({"type": "chat", "data": {"content": "x", "role": "critic"}}),
            with(json!({"content": "x", "type": "chat", "role": "critic"})),
        ),
        (
            json!({"type": "function", "data": {"content": "x", "name": "f"}}),
            with(json!({"content": "x", "type": "function", "name": "f"})),
        ),
        (
            json!({"type": "tool", "data": {"content": "x", "tool_call_id": "c1"}}),
            with(
                json!({"content": "x", "type": "tool", "tool_call_id": "c1", "artifact": null, "status": "success"}),
            ),
        ),
        (
            json!({"type": "AIMessageChunk", "data": {"content": "x"}}),
            with(
                json!({"content": "x", "type": "AIMessageChunk", "tool_calls": [], "invalid_tool_calls": [],
                        "usage_metadata": null, "tool_call_chunks": [], "chunk_position": null}),
            ),
        ),
    ] {
        let message = Message::from_dict(dict.clone()).unwrap_or_else(|e| panic!("{dict}: {e}"));
        assert_eq!(message.to_dict()["data"], expected, "{dict}");
    }
}

#[test]
fn malformed_dicts_are_typed_errors_naming_the_problem() {
    for (dict, needle) in [
        (json!({"type": "chat", "data": {"content": "x"}}), "role"),
        (
            json!({"type": "function", "data": {"content": "x"}}),
            "name",
        ),
        (
            json!({"type": "tool", "data": {"content": "x"}}),
            "tool_call_id",
        ),
        (json!({"type": "human", "data": {}}), "content"),
        (
            json!({"type": "human", "data": {"content": null}}),
            "content",
        ),
        (json!({"type": "human", "data": {"content": 5}}), "content"),
        (
            json!({"type": "human", "data": {"content": "x", "type": "ai"}}),
            "does not match",
        ),
        (json!({"type": "human"}), "data"),
        (json!({"data": {"content": "x"}}), "type"),
        (json!({"type": "robot", "data": {"content": "x"}}), "robot"),
        (
            json!({"type": "tool", "data": {"content": "x", "tool_call_id": "c", "status": "maybe"}}),
            "status",
        ),
        (
            json!({"type": "human", "data": {"content": "x", "additional_kwargs": []}}),
            "additional_kwargs",
        ),
        (
            json!({"type": "remove", "data": {"content": "x", "id": "m"}}),
            "content",
        ),
        (json!([1, 2]), "object"),
    ] {
        match Message::from_dict(dict.clone()) {
            Err(Error::InvalidMessage(reason)) => {
                assert!(reason.contains(needle), "{dict}: {reason}")
            }
            other => panic!("{dict}: expected InvalidMessage, got {other:?}"),
        }
    }
    assert!(matches!(
        Message::from_json(b"not json"),
        Err(Error::InvalidMessage(_))
    ));
}

#[cfg(feature = "exact-json")]
#[test]
fn unknown_fields_and_wide_integers_survive() {
    let text = r#"{"type":"ai","data":{"content":"x","unknown_field":{"nested":[1,2]},
        "additional_kwargs":{"u128":340282366920938463463374607431768211455,"neg":-170141183460469231731687303715884105728,
        "huge":1e400,"precise":0.1000000000000000055511151231257827}}}"#;
    let message = Message::from_json(text.as_bytes()).unwrap();
    assert_eq!(
        message.get("unknown_field"),
        Some(&json!({"nested": [1, 2]}))
    );
    let out = message.to_json();
    for literal in [
        "340282366920938463463374607431768211455",
        "-170141183460469231731687303715884105728",
        "1e+400", // serde_json spells the exponent's sign; same value
        "0.1000000000000000055511151231257827",
    ] {
        assert!(out.contains(literal), "{literal} lost in {out}");
    }
}

/// Without `exact-json`, numbers are serde_json's: a wide integer is the
/// nearest float, and one beyond any float is refused, never a panic.
#[cfg(not(feature = "exact-json"))]
#[test]
fn without_exact_json_wide_numbers_are_floats_or_refused() {
    let text = r#"{"type":"ai","data":{"content":"x","unknown_field":{"nested":[1,2]},
        "additional_kwargs":{"u128":340282366920938463463374607431768211455,"max":18446744073709551615,
        "min":-9223372036854775808,"precise":0.1000000000000000055511151231257827}}}"#;
    let message = Message::from_json(text.as_bytes()).unwrap();
    assert_eq!(
        message.get("unknown_field"),
        Some(&json!({"nested": [1, 2]}))
    );
    let kwargs = message.additional_kwargs();
    assert_eq!(kwargs["u128"].as_f64(), Some(3.402823669209385e38));
    assert_eq!(kwargs["max"].as_u64(), Some(u64::MAX));
    assert_eq!(kwargs["min"].as_i64(), Some(i64::MIN));
    assert_eq!(kwargs["precise"].as_f64(), Some(0.1));
    let beyond = r#"{"type":"human","data":{"content":"x","additional_kwargs":{"n":1e400}}}"#;
    assert!(matches!(
        Message::from_json(beyond.as_bytes()),
        Err(Error::InvalidMessage(_))
    ));
}

#[test]
fn constructors_and_accessors() {
    let m = Message::human("hi").with_name("alice").with_id("m1");
    assert_eq!(
        (m.name(), m.id(), m.text().as_ref()),
        (Some("alice"), Some("m1"), "hi")
    );
    assert_eq!(Message::chat("critic", "x").role(), Some("critic"));
    assert_eq!(Message::tool("c1", "x").tool_call_id(), Some("c1"));
    assert_eq!(
        Message::function("f", "x").message_type(),
        MessageType::Function
    );
    assert!(Message::system("x").tool_calls().is_empty());
    let parts = Message::ai(
        Content::parts(vec![
            json!("a"),
            json!({"type": "text", "text": "b"}),
            json!({"type": "image_url"}),
        ])
        .unwrap(),
    );
    assert_eq!(parts.text(), "ab");
    assert_eq!(
        parts.content(),
        &json!(["a", {"type": "text", "text": "b"}, {"type": "image_url"}])
    );
    for t in [
        "human",
        "ai",
        "system",
        "chat",
        "function",
        "tool",
        "remove",
        "HumanMessageChunk",
        "AIMessageChunk",
        "SystemMessageChunk",
        "ChatMessageChunk",
        "FunctionMessageChunk",
        "ToolMessageChunk",
    ] {
        assert_eq!(t.parse::<MessageType>().unwrap().as_str(), t);
    }
}
