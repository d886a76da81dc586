//! The differential corpus (tests/fixtures/langchain_corpus.json, made by
//! tests/fixtures/gen/gen_corpus.py with the real langchain_core): every
//! dict LangChain accepts is read to exactly its normalized dict, every dict
//! it rejects is refused naming the field.

mod support;

use langchain_cockroachdb::{Error, Message};
use support::corpus::{Case, Verdict, corpus, needs_exact_json, same};

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
        .filter(|case| !needs_exact_json(&case.name))
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

/// Without `exact-json`, the cases that need it differ from LangChain, all
/// of them and in the documented way: the list cannot hide a regression.
#[cfg(not(feature = "exact-json"))]
#[test]
fn without_exact_json_only_the_listed_cases_differ() {
    let corpus = corpus();
    for (name, why) in support::corpus::EXACT_ONLY {
        let case = corpus
            .iter()
            .find(|case| case.name == name)
            .unwrap_or_else(|| panic!("{name} is not in the corpus"));
        let differs = check(case).expect_err(name);
        let expected = match why {
            w if w.contains("sorted") => "{'text': 't', 'type': 'text'}",
            _ => "must be an integer",
        };
        assert!(differs.contains(expected), "{name} ({why}): {differs}");
    }
}
