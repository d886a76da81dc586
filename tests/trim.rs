//! Token counts and context windows against langchain_core's own
//! (tests/fixtures/langchain_trim.json, made by tests/fixtures/gen/gen_trim.py).

mod support;

use langchain_cockroachdb::{
    Message, MessageType, TrimOptions, count_tokens_approximately, trim_messages,
};
use serde_json::Value;
use support::corpus::same;

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/langchain_trim.json")).expect("the fixture parses")
}

fn messages(dicts: &Value) -> Vec<Message> {
    dicts
        .as_array()
        .unwrap()
        .iter()
        .map(|d| Message::from_dict(d.clone()).expect("a valid message"))
        .collect()
}

fn kinds(value: &Value) -> Vec<MessageType> {
    match value {
        Value::Null => Vec::new(),
        Value::String(s) => vec![s.parse().unwrap()],
        Value::Array(items) => items
            .iter()
            .map(|s| s.as_str().unwrap().parse().unwrap())
            .collect(),
        other => panic!("{other}"),
    }
}

#[test]
fn approximate_counts_are_langchains() {
    let fixture = fixture();
    for case in fixture["count"].as_array().unwrap() {
        let got = count_tokens_approximately(&messages(&case["messages"]));
        assert_eq!(
            Some(got as u64),
            case["tokens"].as_u64(),
            "{}",
            case["name"]
        );
    }
}

#[test]
fn trimmed_windows_are_langchains() {
    let fixture = fixture();
    let cases = fixture["trim"].as_array().unwrap();
    assert!(cases.len() >= 60);
    for case in cases {
        let mut options = TrimOptions::new(case["max_tokens"].as_u64().unwrap() as usize)
            .include_system(case["include_system"].as_bool().unwrap());
        for kind in kinds(&case["start_on"]) {
            options = options.start_on(kind);
        }
        for kind in kinds(&case["end_on"]) {
            options = options.end_on(kind);
        }
        let got = trim_messages(
            &messages(&case["messages"]),
            &options,
            count_tokens_approximately,
        );
        let got = Value::Array(got.iter().map(Message::to_dict).collect());
        assert!(
            same(&got, &case["trimmed"]),
            "{}: got {got}\nwant {}",
            case["name"],
            case["trimmed"]
        );
    }
}
