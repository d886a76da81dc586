//! The differential corpus made by tests/fixtures/gen/gen_corpus.py.

use serde_json::Value;

pub enum Verdict {
    /// LangChain reads it, to this dict.
    Accept(Value),
    /// LangChain refuses it; `field` is the one its error names, if any.
    Reject { field: Option<String> },
}

pub struct Case {
    pub name: String,
    pub input: Value,
    pub verdict: Verdict,
}

pub fn corpus() -> Vec<Case> {
    let text = include_str!("../fixtures/langchain_corpus.json");
    let mut deserializer = serde_json::Deserializer::from_str(text);
    deserializer.disable_recursion_limit();
    let file: Value =
        serde::Deserialize::deserialize(&mut deserializer).expect("the corpus parses");
    file["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|case| Case {
            name: case["name"].as_str().expect("a name").to_owned(),
            input: case["input"].clone(),
            verdict: match case["verdict"].as_str() {
                Some("accept") => Verdict::Accept(case["normalized"].clone()),
                _ => Verdict::Reject {
                    field: case["field"].as_str().map(str::to_owned),
                },
            },
        })
        .collect()
}

/// What a case needs of serde_json to come out as LangChain's.
#[derive(Clone, Copy)]
pub enum Needs {
    /// Keys in the order given (`preserve_order`).
    KeyOrder,
    /// Every digit of every number (`arbitrary_precision`).
    Digits,
}

impl Needs {
    /// Whether this build's serde_json has it. Read off serde_json itself,
    /// not off this crate's features: cargo turns a dependency's features on
    /// for the whole build, and not only `exact-json` turns these on
    /// (rig-core, under the feature `rig`, turns on `preserve_order`).
    pub fn here(self) -> bool {
        match self {
            Needs::KeyOrder => keys_in_order(),
            Needs::Digits => numbers_as_written(),
        }
    }

    /// How the case comes out without it, as docs/python.md's "Numbers and key
    /// order" says.
    pub fn symptom(self) -> &'static str {
        match self {
            // The str() of an object lists its keys sorted.
            Needs::KeyOrder => "{'text': 't', 'type': 'text'}",
            // An integer wider than 64 bits is read as a float.
            Needs::Digits => "must be an integer",
        }
    }
}

/// Whether serde_json keeps object keys in the order given.
pub fn keys_in_order() -> bool {
    let map: serde_json::Map<String, Value> =
        serde_json::from_str(r#"{"b": 0, "a": 0}"#).expect("an object");
    map.keys().next().map(String::as_str) == Some("b")
}

/// Whether serde_json keeps every digit of a number.
pub fn numbers_as_written() -> bool {
    let wide = "123456789012345678901234567890";
    let read = serde_json::from_str::<Value>(wide).and_then(|n| serde_json::to_string(&n));
    read.is_ok_and(|text| text == wide)
}

/// Whether serde_json reads a long decimal integer to its nearest `f64`:
/// the 309 digits JSONB writes for `f64::MAX` (`float_roundtrip`, or
/// `arbitrary_precision`); its default parsing rounds them past it.
pub fn floats_read_exactly() -> bool {
    let max = format!("17976931348623157{}", "0".repeat(292));
    serde_json::from_str::<Value>(&max).is_ok_and(|n| n.as_f64() == Some(f64::MAX))
}

/// The cases whose LangChain result needs more of serde_json than its
/// defaults (the `exact-json` feature gives all of it): without it they
/// come out as docs/python.md's "Numbers and key order" says, and only they.
pub const EXACT_ONLY: [(&str, Needs); 3] = [
    ("tool/content_dict", Needs::KeyOrder),
    ("ToolMessageChunk/content_dict", Needs::KeyOrder),
    ("ai/usage_big", Needs::Digits),
];

/// Through the database, one more: JSONB writes the largest float as a
/// 309-digit integer, which serde_json's default parsing rounds past
/// `f64::MAX`, so the row is refused as malformed.
pub const EXACT_ONLY_IN_THE_DATABASE: &str = "human/number_max_f64";

/// Whether this build cannot give LangChain's exact result for `case`.
pub fn differs_here(case: &str) -> bool {
    EXACT_ONLY
        .iter()
        .any(|(name, needs)| *name == case && !needs.here())
}

/// Value equality with numbers compared by value (`1.0` = `1`, `1e-7` =
/// `0.0000001`), as JSONB and Python's float/int do; nothing else is
/// forgiven.
pub fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.to_string(), y.to_string());
            let float = |t: &str| t.contains(['.', 'e', 'E']);
            x == y
                || ((float(&x) || float(&y))
                    && x.parse::<f64>().ok() == y.parse::<f64>().ok()
                    && x.parse::<f64>().is_ok())
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same(v, w))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// The `TrimOptions` of a case of tests/fixtures/langchain_trim.json.
pub fn trim_options(case: &Value) -> langchain_cockroachdb::TrimOptions {
    use langchain_cockroachdb::{MessageType, TrimOptions};
    let kinds = |value: &Value| -> Vec<MessageType> {
        match value {
            Value::String(s) => vec![s.parse().unwrap()],
            Value::Array(items) => items
                .iter()
                .map(|s| s.as_str().unwrap().parse().unwrap())
                .collect(),
            _ => Vec::new(),
        }
    };
    let mut options = TrimOptions::new(case["max_tokens"].as_u64().unwrap() as usize)
        .include_system(case["include_system"].as_bool().unwrap());
    for kind in kinds(&case["start_on"]) {
        options = options.start_on(kind);
    }
    for kind in kinds(&case["end_on"]) {
        options = options.end_on(kind);
    }
    options
}
