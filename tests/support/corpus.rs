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
