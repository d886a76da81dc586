//! OpenAI chat-completions conversions against langchain_core's own
//! (tests/fixtures/langchain_openai.json, made by
//! tests/fixtures/gen/gen_openai.py): `to_openai_messages` as
//! `convert_to_openai_messages`, `from_openai_messages` as
//! `convert_to_messages`, case by case, errors included.

mod support;

use langchain_cockroachdb::{Message, from_openai_messages, to_openai_messages};
use serde_json::Value;
use support::corpus::same;

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/langchain_openai.json"))
        .expect("the fixture parses")
}

#[test]
fn to_openai_messages_is_langchains_convert_to_openai_messages() {
    let fixture = fixture();
    let mut failures = Vec::new();
    for case in fixture["to_openai"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let messages: Vec<Message> = case["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| Message::from_dict(m.clone()).expect("a valid message"))
            .collect();
        match (to_openai_messages(&messages), case.get("ok")) {
            (Ok(got), Some(want)) if same(&Value::Array(got.clone()), want) => {}
            (Err(_), None) => {}
            (got, want) => failures.push(format!("{name}: got {got:?}, LangChain gives {want:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn from_openai_messages_is_langchains_convert_to_messages() {
    let fixture = fixture();
    let mut failures = Vec::new();
    for case in fixture["from_openai"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let input = case["openai"].as_array().unwrap();
        let got = from_openai_messages(input)
            .map(|messages| Value::Array(messages.iter().map(Message::to_dict).collect()));
        match (got, case.get("ok")) {
            (Ok(got), Some(want)) if same(&got, want) => {}
            (Err(_), None) => {}
            (got, want) => failures.push(format!("{name}: got {got:?}, LangChain gives {want:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
