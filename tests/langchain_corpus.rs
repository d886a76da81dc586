//! The differential corpus (tests/fixtures/langchain_corpus.json, made by
//! tests/fixtures/gen/gen_corpus.py with the real langchain_core): every
//! dict LangChain accepts is read to exactly its normalized dict, every dict
//! it rejects is refused naming the field.

mod support;

use langchain_cockroachdb::{Error, Message};
use support::corpus::{Case, EXACT_ONLY, Verdict, corpus, differs_here, same};

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
        .filter(|case| !differs_here(&case.name))
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

/// The cases that need more of serde_json than its defaults: those this
/// build has it for are LangChain's, the others differ, all of them and in
/// the documented way: the list cannot hide a regression.
#[test]
fn the_listed_cases_are_exact_or_differ_as_documented() {
    let corpus = corpus();
    for (name, needs) in EXACT_ONLY {
        let case = corpus
            .iter()
            .find(|case| case.name == name)
            .unwrap_or_else(|| panic!("{name} is not in the corpus"));
        match (needs.here(), check(case)) {
            (true, Ok(())) => {}
            (true, Err(differs)) => panic!("{name}: {differs}"),
            (false, Ok(())) => panic!("{name}: exact in a build without what it needs"),
            (false, Err(differs)) => {
                assert!(differs.contains(needs.symptom()), "{name}: {differs}")
            }
        }
    }
}

/// The probes read what this build's features turn on: `exact-json` all
/// three, `rig` (through rig-core) key order and exact floats; no other
/// feature of this crate changes serde_json.
#[test]
fn the_probes_read_this_builds_serde_json() {
    use support::corpus::{floats_read_exactly, keys_in_order, numbers_as_written};
    let got = (keys_in_order(), numbers_as_written(), floats_read_exactly());
    let want = if cfg!(feature = "exact-json") {
        (true, true, true)
    } else if cfg!(feature = "rig") {
        (true, false, true)
    } else {
        (false, false, false)
    };
    assert_eq!(got, want, "(key order, digits, exact floats)");
}
