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

/// Value equality with numbers compared by value (`1.0` = `1`, `1e-7` =
/// `0.0000001`), as JSONB and Python's float/int do; nothing else is
/// forgiven.
/// The cases whose LangChain result needs exact JSON (the `exact-json`
/// feature), and why: without it they come out as the README's "Numbers and
/// key order" says, and only they.
pub const EXACT_ONLY: [(&str, &str); 3] = [
    (
        "tool/content_dict",
        "the str() of an object lists its keys sorted",
    ),
    (
        "ToolMessageChunk/content_dict",
        "the str() of an object lists its keys sorted",
    ),
    (
        "ai/usage_big",
        "an integer wider than 64 bits is read as a float",
    ),
];

/// Through the database, one more: JSONB writes the largest float as a
/// 309-digit integer, which serde_json's default parsing rounds past
/// `f64::MAX`, so the row is refused as malformed.
pub const EXACT_ONLY_IN_THE_DATABASE: &str = "human/number_max_f64";

/// Whether this build cannot give LangChain's exact result for `case`.
pub fn needs_exact_json(case: &str) -> bool {
    !cfg!(feature = "exact-json") && EXACT_ONLY.iter().any(|(name, _)| *name == case)
}

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
