//! The two faces say the same. Every public operation is written once in
//! `src/io/api_*.rs`; what is written per face is checked here:
//!
//! - each runnable example of `api_*.rs` and `transaction.rs` has a blocking
//!   and an async form, and the two must be equal once the async one is
//!   read as blocking code (no `.await`, the blocking types);
//! - the methods that stay in the faces' own files (constructors, export
//!   and import, the table helpers, `on`) must have the same names,
//!   signatures and docs on both faces, modulo `async`/`.await` (and for
//!   `on`, which takes the driver's own client, modulo the driver: its
//!   examples make that client each its own way, so only its prose is
//!   compared);
//! - every operation that does I/O must be in the tests' `Face` trait, so
//!   that the behaviour tests run it on both faces, and every operation of
//!   the view `on` returns in the `Ops` of `tests/own_transaction.rs`.
//!
//! Reading source as text keeps this free of a parser dependency; the
//! files are the crate's own, in rustfmt's layout.

use std::collections::BTreeMap;

/// The public operations of both faces, written once (`src/io/api_*.rs`).
const API: [&str; 4] = [
    include_str!("../src/io/api_engine.rs"),
    include_str!("../src/io/api_upkeep.rs"),
    include_str!("../src/io/api_history.rs"),
    include_str!("../src/io/api_reads.rs"),
];
const TRANSACTION: &str = include_str!("../src/io/transaction.rs");
const OWN_TRANSACTION: &str = include_str!("own_transaction.rs");
const BLOCKING: &str = include_str!("../src/blocking/mod.rs");
const NONBLOCKING: &str = include_str!("../src/nonblocking/mod.rs");
const SUPPORT: &str = include_str!("support/mod.rs");

/// Async text as the blocking face would say it. Test tables and sessions
/// of async examples carry `async` in their names, so that both faces'
/// doctests can run at once.
fn as_blocking(text: &str) -> String {
    [
        (".await", ""),
        ("async fn", "fn"),
        ("AsyncWrite + Unpin", "Write"),
        ("AsyncBufRead + Unpin", "BufRead"),
        ("AsyncChatMessageHistory", "ChatMessageHistory"),
        ("AsyncChatHistoryStore", "ChatHistoryStore"),
        ("AsyncCockroachDB", "CockroachDB"),
        ("nonblocking", "blocking"),
        ("acreate_tables", "create_tables"),
        ("adrop_tables", "drop_tables"),
        ("\"doc-async-", "\"doc-"),
        ("\"doc_async_", "\"doc_"),
    ]
    .iter()
    .fold(text.to_owned(), |text, (from, to)| text.replace(from, to))
}

/// A doc comment without the lines that only set up a doctest's `main`,
/// which is `async` on one face and not on the other.
fn without_main(docs: &str) -> String {
    docs.lines()
        .filter(|line| {
            let line = line.trim();
            !(line.starts_with("# ") && line.contains("fn main()")
                || line == "# Ok(()) }"
                || line == "# Ok::<(), langchain_cockroachdb::Error>(())")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The `example!(blocking, async)` pairs of `api_*.rs` and the
/// `example_tx!(blocking, async)` pairs of `transaction.rs`, by the item
/// they document.
fn example_pairs() -> Vec<(String, String, String)> {
    let mut pairs = Vec::new();
    let api = API.concat();
    for (source, marker) in [
        (api.as_str(), "#[doc = example!("),
        (TRANSACTION, "#[doc = example_tx!("),
    ] {
        pairs.extend(example_pairs_of(source, marker));
    }
    pairs
}

fn example_pairs_of(source: &str, marker: &str) -> Vec<(String, String, String)> {
    let mut pairs = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find(marker) {
        rest = &rest[at..];
        let forms: Vec<&str> = rest.splitn(5, "r#\"").skip(1).take(2).collect();
        let [blocking, nonblocking] = forms[..] else {
            panic!("an example! without two forms: {}", &rest[..80]);
        };
        let blocking = &blocking[..blocking.find("\"#").expect("a closed blocking form")];
        let nonblocking = &nonblocking[..nonblocking.find("\"#").expect("a closed async form")];
        let after = &rest[rest.find(")]").expect("example! closes")..];
        let name = after
            .lines()
            .find_map(|line| {
                let line = line.trim();
                line.split("fn ")
                    .nth(1)
                    .or(line.strip_prefix("pub struct "))
            })
            .and_then(|s| s.split(['(', '<']).next())
            .expect("an example! documents a method or a type")
            .to_owned();
        pairs.push((name, blocking.to_owned(), nonblocking.to_owned()));
        rest = after;
    }
    pairs
}

/// A public item of a face file: its docs and its signature.
#[derive(Debug, PartialEq)]
struct Item {
    docs: String,
    signature: String,
}

/// The public methods (by `Type::name`) and types of a face's own file.
fn face_items(source: &str) -> BTreeMap<String, Item> {
    let mut items = BTreeMap::new();
    let (mut docs, mut in_impl) = (Vec::new(), None::<String>);
    let mut lines = source.lines();
    while let Some(line) = lines.next() {
        let code = line.trim();
        if let Some(doc) = code.strip_prefix("///") {
            docs.push(doc.strip_prefix(' ').unwrap_or(doc).to_owned());
            continue;
        }
        if code.starts_with("#[") {
            continue;
        }
        if let Some(ty) = line
            .strip_prefix("impl ")
            .and_then(|l| l.strip_suffix(" {"))
        {
            in_impl = Some(ty.to_owned());
        } else if line == "}" {
            in_impl = None;
        }
        let public_fn = code.starts_with("pub fn ") || code.starts_with("pub async fn ");
        let name = match (&in_impl, code) {
            (Some(ty), _) if public_fn => {
                let name = code
                    .split("fn ")
                    .nth(1)
                    .and_then(|s| s.split(['(', '<']).next());
                name.map(|name| format!("{ty}::{name}"))
            }
            (None, _) if code.starts_with("pub struct ") => {
                code.split_whitespace().nth(2).map(|name| {
                    name.trim_end_matches(|c: char| !c.is_alphanumeric())
                        .to_owned()
                })
            }
            _ => None,
        };
        if let Some(name) = name {
            let mut signature = code.to_owned();
            while public_fn && !signature.ends_with('{') {
                signature.push(' ');
                signature.push_str(lines.next().expect("a signature ends").trim());
            }
            // As rustfmt would lay it out on one line, whatever its width.
            let signature: String = signature.split_whitespace().collect::<Vec<_>>().join(" ");
            let signature = signature.replace("( ", "(").replace(", )", ")");
            let docs = docs.join("\n");
            items.insert(name, Item { docs, signature });
        }
        docs.clear();
    }
    items
}

#[test]
fn both_forms_of_every_shared_example_say_the_same() {
    let pairs = example_pairs();
    assert!(pairs.len() >= 25, "only {} examples found", pairs.len());
    let mut differ = Vec::new();
    for (name, blocking, nonblocking) in &pairs {
        assert!(
            !blocking.contains(".await"),
            "{name}: the blocking form awaits"
        );
        if as_blocking(nonblocking) != *blocking {
            differ.push(format!(
                "{name}:\n--- blocking\n{blocking}\n--- async, read as blocking\n{}",
                as_blocking(nonblocking)
            ));
        }
    }
    assert!(
        differ.is_empty(),
        "the faces' examples differ:\n{}",
        differ.join("\n")
    );
}

/// The methods that take the driver's own client: their examples make one
/// each its own way (`tokio_postgres::connect` and a task, or
/// `postgres::Client::connect`), so only their prose is compared.
const DRIVER_CLIENT: [&str; 1] = ["CockroachDBChatMessageHistory::on"];

/// Docs without their fenced code.
fn prose(docs: &str) -> String {
    let mut in_code = false;
    docs.lines()
        .filter(|line| {
            if line.trim_start().starts_with("```") {
                in_code = !in_code;
                return false;
            }
            !in_code
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// An async signature that takes the driver's client, as the blocking face
/// says it: that driver's trait, whose methods take `&mut self`, so the
/// client is borrowed exclusively.
fn driver_as_blocking(signature: &str) -> String {
    signature
        .replace("tokio_postgres::GenericClient", "postgres::GenericClient")
        .replace("client: &'a C", "client: &'a mut C")
}

#[test]
fn what_each_face_writes_itself_matches_the_other() {
    let blocking = face_items(BLOCKING);
    let nonblocking: BTreeMap<String, Item> = face_items(NONBLOCKING)
        .into_iter()
        .map(|(name, item)| {
            let name = as_blocking(&name);
            let docs = without_main(&as_blocking(&item.docs));
            let item = Item {
                docs: match DRIVER_CLIENT.contains(&name.as_str()) {
                    true => prose(&docs),
                    false => docs,
                },
                signature: driver_as_blocking(&as_blocking(&item.signature)),
            };
            (name, item)
        })
        .collect();
    let names = |items: &BTreeMap<String, Item>| items.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        names(&blocking),
        names(&nonblocking),
        "the faces' own methods"
    );
    assert!(blocking.len() >= 6, "only {} items found", blocking.len());
    for (name, item) in &blocking {
        let docs = without_main(&item.docs);
        let item = Item {
            docs: match DRIVER_CLIENT.contains(&name.as_str()) {
                true => prose(&docs),
                false => docs,
            },
            signature: item.signature.clone(),
        };
        assert_eq!(item, nonblocking[name], "{name} differs between the faces");
    }
}

/// The names of the public methods that do I/O: `async` in `api_*.rs` and in
/// the async face's own file.
fn io_operations() -> Vec<(String, String)> {
    let mut found = Vec::new();
    let api = API.concat();
    for (file, source) in [("api", api.as_str()), ("nonblocking", NONBLOCKING)] {
        let mut in_impl = String::new();
        for line in source.lines() {
            if let Some(ty) = line
                .strip_prefix("impl ")
                .and_then(|l| l.strip_suffix(" {"))
            {
                in_impl = as_blocking(ty);
            }
            if let Some(rest) = line.trim().strip_prefix("pub async fn ") {
                let name = rest.split(['(', '<']).next().unwrap_or(rest);
                found.push((format!("{file}: {in_impl}"), as_blocking(name)));
            }
        }
    }
    found
}

#[test]
fn every_io_operation_is_run_by_the_face_tests() {
    let face_trait = &SUPPORT[SUPPORT.find("faces! {").expect("the faces! list")..];
    let face_trait = &face_trait[..face_trait
        .find("    blocking {")
        .expect("its blocking part")];
    // What the tests' `Face` calls an operation where its name is taken
    // (the history's static table helpers) or its form differs (streams).
    let in_face = |ty: &str, name: &str| -> String {
        let engine = ty.ends_with("Engine");
        match name {
            "create_tables" | "drop_tables" if engine => format!("engine_{name}"),
            "export_jsonl" if engine => "export_table".into(),
            "export_jsonl" => "export_session".into(),
            "import_jsonl" => "import_table".into(),
            _ => name.into(),
        }
    };
    let operations = io_operations();
    assert!(
        operations.len() >= 25,
        "only {} operations found",
        operations.len()
    );
    let missing: Vec<String> = operations
        .iter()
        .filter(|(ty, name)| {
            let face_name = in_face(ty, name);
            !face_trait.contains(&format!("fn {face_name}("))
                && !face_trait.contains(&format!("fn {face_name} =>"))
        })
        .map(|(ty, name)| format!("{ty}::{name}"))
        .collect();
    assert!(missing.is_empty(), "not in the tests' Face: {missing:?}");
}

/// Every operation of the view a history's `on` returns is in the `Ops` of
/// `tests/own_transaction.rs`, which runs it on both faces.
#[test]
fn every_operation_in_a_callers_transaction_is_run_by_its_tests() {
    let ops = &OWN_TRANSACTION[OWN_TRANSACTION.find("ops! {").expect("the ops! list")..];
    let ops = &ops[..ops.find("\n}").expect("its end")];
    let operations: Vec<&str> = TRANSACTION
        .lines()
        .filter_map(|line| line.trim().strip_prefix("pub async fn "))
        .map(|rest| rest.split(['(', '<']).next().unwrap_or(rest))
        .collect();
    assert!(
        operations.len() >= 10,
        "only {} operations found",
        operations.len()
    );
    let missing: Vec<&&str> = operations
        .iter()
        .filter(|name| !ops.contains(&format!("fn {name}(")))
        .collect();
    assert!(
        missing.is_empty(),
        "not in the Ops of own_transaction.rs: {missing:?}"
    );
}
