//! Token counts and context windows against langchain_core's own
//! (tests/fixtures/langchain_trim.json, made by tests/fixtures/gen/gen_trim.py).

mod support;

use langchain_cockroachdb::{Message, count_tokens_approximately, trim_messages};
use serde_json::Value;
use support::corpus::{same, trim_options};

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
        let options = trim_options(case);
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
