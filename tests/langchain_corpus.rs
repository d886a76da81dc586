//! The differential corpus (tests/fixtures/langchain_corpus.json, made by
//! tests/fixtures/gen/gen_corpus.py with the real langchain_core): every
//! dict LangChain accepts is read to exactly its normalized dict, every dict
//! it rejects is refused naming the field.

mod support;

use langchain_cockroachdb::{Error, Message};
use serde_json::Value;
use support::corpus::{Case, Verdict, corpus};

/// Value equality with numbers compared by value (`1.0` = `1`, `1e-7` =
/// `0.0000001`), as JSONB and Python's float/int do; nothing else is
/// forgiven.
fn same(a: &Value, b: &Value) -> bool {
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

fn check(case: &Case) -> Result<(), String> {
    match (&case.verdict, Message::from_dict(case.input.clone())) {
        (Verdict::Accept(normalized), Ok(message)) => {
            let got = message.to_dict();
            if same(&got, normalized)
                && got["data"].as_object().map(|d| d.len())
                    == normalized["data"].as_object().map(|d| d.len())
            {
                Ok(())
            } else {
                Err(format!("accepted, but\n  got  {got}\n  want {normalized}"))
            }
        }
        (Verdict::Accept(_), Err(err)) => Err(format!("LangChain accepts it; refused: {err}")),
        (Verdict::Reject { field }, Err(Error::InvalidMessage(reason))) => match field {
            Some(field) if !reason.contains(field.as_str()) => Err(format!(
                "refused, but the reason does not name {field:?}: {reason}"
            )),
            _ => Ok(()),
        },
        (Verdict::Reject { .. }, Err(other)) => {
            Err(format!("refused with the wrong error: {other:?}"))
        }
        (Verdict::Reject { .. }, Ok(message)) => Err(format!(
            "LangChain rejects it; accepted as {}",
            message.to_dict()
        )),
    }
}

#[test]
fn every_corpus_case_is_read_as_langchain_reads_it() {
    let corpus = corpus();
    assert!(corpus.len() >= 300, "{} cases", corpus.len());
    let failures: Vec<String> = corpus
        .iter()
        .filter_map(|case| check(case).err().map(|why| format!("{}: {why}", case.name)))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from langchain_core:\n{}",
        failures.len(),
        corpus.len(),
        failures.join("\n")
    );
}
