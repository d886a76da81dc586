//! Behaviours every face must have, written once. `face_tests!(Type)` turns
//! each into a `#[test]` for that face.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use langchain_cockroachdb::{
    EngineOptions, Error, HistoryOptions, Message, MessageType, RetryPolicy, SessionFilter,
    StoredMessage,
};
use langchain_cockroachdb::time::OffsetDateTime;
use serde_json::{Value, json};

use crate::support::proxy::Proxy;
use crate::support::{
    Face, TempDatabase, TempTable, database_url, fixture_cases, on_cockroachdb, raw_client,
    raw_execute, raw_query, runtime, skip_unless_postgresql, with_server_options,
};

fn open<F: Face>(table: &TempTable, session: &str) -> F {
    F::open(session, &database_url(), table.options()).expect("history opens")
}

fn texts(messages: &[Message]) -> Vec<String> {
    messages.iter().map(|m| m.text().into_owned()).collect()
}

pub fn basic_usage<F: Face>() {
    let table = TempTable::new("basic");
    let history: F = open(&table, "user-123");
    assert!(history.messages().unwrap().is_empty());
    history.add_user_message("Hello! How are you?").unwrap();
    history
        .add_ai_message("I'm doing well, thank you! How can I help you today?")
        .unwrap();
    let messages = history.messages().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0].message_type(), MessageType::Human);
    assert_eq!(messages[0].text(), "Hello! How are you?");
    assert_eq!(messages[1].message_type(), MessageType::Ai);
    assert_eq!(
        messages[1].text(),
        "I'm doing well, thank you! How can I help you today?"
    );
    assert_eq!(table.count_rows("user-123"), 2);

    history.clear().unwrap();
    assert!(history.messages().unwrap().is_empty());
    assert_eq!(table.count_rows("user-123"), 0);
    history.clear().unwrap(); // clearing an empty session is fine
}

pub fn table_is_created_on_first_use_with_the_guide_schema<F: Face>() {
    let table = TempTable::new("autocreate");
    let history: F = open(&table, "s");
    let exists = |name: &str| -> bool {
        raw_query("SELECT to_regclass($1)::text", &[&name])[0]
            .get::<_, Option<String>>(0)
            .is_some()
    };
    assert!(!exists(&table.qualified()));
    history.add_user_message("hi").unwrap();
    assert!(exists(&table.qualified()));
    let columns: Vec<(String, String, String)> = raw_query(
        "SELECT column_name::text, data_type::text, is_nullable::text FROM information_schema.columns
         WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
        &[&table.schema, &table.name],
    )
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect();
    let mut expected = vec![
        ("id", "uuid", "NO"),
        ("session_id", "text", "NO"),
        ("message", "jsonb", "NO"),
        ("created_at", "timestamp with time zone", "YES"),
    ];
    // PostgreSQL: the column watches key rows by, which the server fills.
    if !on_cockroachdb() {
        expected.push(("xact_id", "xid8", "YES"));
    }
    let got: Vec<(&str, &str, &str)> = columns
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
        .collect();
    assert_eq!(got, expected);
    let index: Vec<String> = raw_query(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = $2 AND indexdef LIKE '%(session_id, created_at)%'",
        &[&table.schema, &table.name],
    )
    .iter()
    .map(|r| r.get(0))
    .collect();
    assert_eq!(
        index.len(),
        1,
        "one (session_id, created_at) index: {index:?}"
    );
}

/// The names of the `(session_id, created_at)` indexes of `table`.
fn session_indexes(table: &TempTable) -> Vec<String> {
    raw_query(
        "SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = $2 \
         AND indexdef LIKE '%(session_id, created_at)%' ORDER BY indexname",
        &[&table.schema, &table.name],
    )
    .iter()
    .map(|row| row.get(0))
    .collect()
}

/// One index, under the Python library's name, whoever creates the table:
/// this crate, the Python library, or an earlier version of this crate
/// (whose index name is kept, and not doubled).
pub fn one_index_whoever_creates_the_table<F: Face>() {
    let ours = TempTable::new("index_ours");
    open::<F>(&ours, "s").add_user_message("hi").unwrap();
    assert_eq!(
        session_indexes(&ours),
        [format!("{}_session_idx", ours.name)]
    );

    let create = |table: &TempTable, index: &str| {
        raw_execute(&format!(
            "CREATE TABLE {t} (id UUID PRIMARY KEY DEFAULT gen_random_uuid(), session_id TEXT NOT NULL, \
             message JSONB NOT NULL, created_at TIMESTAMPTZ DEFAULT now());
             CREATE INDEX {index} ON {t} (session_id, created_at)",
            t = table.qualified()
        ))
    };
    let python = TempTable::new("index_python");
    create(&python, &format!("{}_session_idx", python.name));
    let older = TempTable::new("index_older");
    create(&older, &format!("{}_session_created_idx", older.name));
    for (table, index) in [(&python, "_session_idx"), (&older, "_session_created_idx")] {
        let history: F = open(table, "s");
        history.add_user_message("hi").unwrap();
        assert_eq!(texts(&history.messages().unwrap()), ["hi"]);
        assert_eq!(session_indexes(table), [format!("{}{index}", table.name)]);
    }
}

/// The activity index is made on request, and old messages go through it;
/// row-level TTL is refused on PostgreSQL before anything is created.
pub fn activity_index_and_row_ttl<F: Face>() {
    let table = TempTable::new("activity");
    let options = table.options().activity_index(true).delete_batch_size(3);
    let history = F::open("s", &database_url(), options.clone()).unwrap();
    history.add_user_message("new").unwrap();
    bulk_load(&table, 10, 2, 40);
    let indexes: Vec<String> = raw_query(
        "SELECT indexname FROM pg_indexes WHERE tablename = $1 ORDER BY indexname",
        &[&table.name],
    )
    .iter()
    .map(|r| r.get(0))
    .collect();
    assert!(
        indexes.contains(&format!("{}_activity_idx", table.name)),
        "{indexes:?}"
    );
    let thirty_days = Duration::from_secs(30 * 24 * 3600);
    assert_eq!(
        history
            .delete_messages_older_than(&options, thirty_days)
            .unwrap(),
        10
    );
    assert_eq!(texts(&history.messages().unwrap()), ["new"]);

    if on_cockroachdb() {
        return; // row-level TTL is there: see `row_level_ttl_is_set_once`
    }
    let ttl = TempTable::new("ttl");
    let options = ttl.options().ttl(thirty_days);
    let refused = F::open("s", &database_url(), options).unwrap();
    match refused.add_user_message("x") {
        Err(Error::Config(reason)) => {
            assert!(reason.contains("delete_messages_older_than"), "{reason}")
        }
        other => panic!("expected a configuration error, got {other:?}"),
    }
    let exists: Option<String> =
        raw_query("SELECT to_regclass($1)::TEXT", &[&ttl.qualified()])[0].get(0);
    assert_eq!(exists, None, "a refused option created the table");
}

pub fn create_and_drop_tables<F: Face>() {
    let table = TempTable::new("explicit");
    let exists = || {
        raw_query("SELECT to_regclass($1)::text", &[&table.qualified()])[0]
            .get::<_, Option<String>>(0)
            .is_some()
    };
    F::create_tables(&database_url(), &table.name).unwrap();
    assert!(exists());
    F::create_tables(&database_url(), &table.name).unwrap(); // idempotent
    F::drop_tables(&database_url(), &table.name).unwrap();
    assert!(!exists());
    F::drop_tables(&database_url(), &table.name).unwrap(); // idempotent

    // Through the engine, in a schema of its own, made with the table.
    let custom = TempTable::in_new_schema("explicit", "engine");
    let exists_custom = || {
        raw_query("SELECT to_regclass($1)::text", &[&custom.qualified()])[0]
            .get::<_, Option<String>>(0)
            .is_some()
    };
    let via: F = open(&custom, "s");
    via.engine_create_tables(&custom.options()).unwrap();
    assert!(exists_custom());
    via.engine_drop_tables(&custom.options()).unwrap();
    assert!(!exists_custom());

    // A history whose table was dropped under it creates it again.
    let history: F = open(&table, "s");
    history.add_user_message("one").unwrap();
    raw_execute(&format!("DROP TABLE {}", table.qualified()));
    history.add_user_message("two").unwrap();
    assert_eq!(texts(&history.messages().unwrap()), ["two"]);
}

pub fn concurrent_creates_of_one_table_all_succeed<F: Face>() {
    let table = TempTable::new("race");
    let url = database_url();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (url, name) = (url.clone(), table.name.clone());
            std::thread::spawn(move || F::create_tables(&url, &name))
        })
        .collect();
    for t in threads {
        t.join().unwrap().unwrap();
    }
    assert_eq!(table.count_rows("nobody"), 0);
}

pub fn custom_table_and_schema<F: Face>() {
    let table = TempTable::in_new_schema("lc_test_schema", "custom");
    let history: F = open(&table, "s");
    history.add_user_message("in a schema of its own").unwrap();
    assert_eq!(table.count_rows("s"), 1);
    let in_default: i64 = raw_query(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name = $1",
        &[&table.name],
    )[0]
    .get(0);
    assert_eq!(in_default, 0);
    assert_eq!(
        texts(&history.messages().unwrap()),
        ["in a schema of its own"]
    );
}

pub fn unicode_and_a_one_megabyte_message<F: Face>() {
    let table = TempTable::new("unicode");
    let history: F = open(&table, "s");
    let unicode = "Grüße, 你好, こんにちは, مرحبا 🦀🚀 👩🏽‍💻 👨‍👩‍👧‍👦 🇳🇴 𝔘𝔫𝔦 e\u{301} \u{200b} \"q\" \\b\\ tab\tnl\ncr\r\u{7}";
    let big = "0123456789abcdef🦀".repeat(1 << 16); // 1.3 MB of UTF-8
    assert!(big.len() > 1 << 20);
    history.add_user_message(unicode).unwrap();
    history.add_ai_message(&big).unwrap();
    let got = history.messages().unwrap();
    assert_eq!(got[0].text(), unicode);
    assert_eq!(got[1].text(), big.as_str());
}

pub fn every_fixture_case_is_stored_as_langchain_writes_it<F: Face>() {
    let table = TempTable::new("fixtures");
    let history: F = open(&table, "s");
    let cases = fixture_cases();
    let messages: Vec<Message> = cases
        .iter()
        .map(|(_, dict)| Message::from_dict(dict.clone()).unwrap())
        .collect();
    history.add_messages(&messages[..10]).unwrap();
    for message in &messages[10..] {
        history.add_message(message).unwrap();
    }
    assert_eq!(history.messages().unwrap(), messages);

    // The server's own JSONB equality: each row holds exactly the dict the
    // Python library would have written.
    let rows = raw_query(
        &format!(
            "SELECT message::text FROM {} WHERE session_id = 's' ORDER BY created_at, id",
            table.qualified()
        ),
        &[],
    );
    assert_eq!(rows.len(), cases.len());
    for ((name, dict), row) in cases.iter().zip(&rows) {
        let stored: String = row.get(0);
        let same: bool = raw_query(
            "SELECT $1::text::jsonb = $2::text::jsonb",
            &[&stored, &dict.to_string()],
        )[0]
        .get(0);
        assert!(same, "case {name}: stored {stored:.200}");
    }
}

pub fn rows_written_by_python_are_read<F: Face>() {
    use crate::support::corpus::numbers_as_written;
    let table = TempTable::new("python");
    let history: F = open(&table, "s");
    history.add_user_message("creates the table").unwrap();
    history.clear().unwrap();
    // What langchain-cockroachdb (Python) writes: a plain INSERT relying on
    // the column defaults, one row per message.
    for (i, dict) in [
        r#"{"type": "human", "data": {"content": "minimal"}}"#,
        r#"{"type": "ai", "data": {"content": "with extras", "unknown_field": 1,
            "additional_kwargs": {"huge": 123456789012345678901234567890, "exp": 1e-7}}}"#,
    ]
    .iter()
    .enumerate()
    {
        raw_execute(&format!(
            "INSERT INTO {} (session_id, message, created_at) VALUES ('s', '{}', now() + interval '{i} second')",
            table.qualified(),
            dict
        ));
    }
    let got = history.messages().unwrap();
    assert_eq!(
        got[0].to_dict()["data"],
        json!({"content": "minimal", "additional_kwargs": {}, "response_metadata": {},
        "type": "human", "name": null, "id": null})
    );
    assert_eq!(got[1].get("unknown_field"), Some(&json!(1)));
    // A 97-bit integer keeps every digit when serde_json does (exact JSON);
    // else it is the nearest float.
    let huge = &got[1].additional_kwargs()["huge"];
    match numbers_as_written() {
        true => assert_eq!(huge.to_string(), "123456789012345678901234567890"),
        false => assert_eq!(huge.as_f64(), Some(1.2345678901234568e29)),
    }

    // Written back, the unknown field and the number are still there.
    history.clear().unwrap();
    history.add_message(&got[1]).unwrap();
    let huge_as_stored = match numbers_as_written() {
        true => "123456789012345678901234567890",
        false => "123456789012345680000000000000",
    };
    let kept: bool = raw_query(
        &format!(
            "SELECT message->'data'->'unknown_field' = '1'::jsonb
                AND message->'data'->'additional_kwargs'->'huge' = '{huge_as_stored}'::jsonb
                AND message->'data'->'additional_kwargs'->'exp' = '1e-7'::jsonb
             FROM {}",
            table.qualified()
        ),
        &[],
    )[0]
    .get(0);
    assert!(kept);
}

pub fn a_malformed_row_is_an_error_naming_it<F: Face>() {
    let table = TempTable::new("malformed");
    let history: F = open(&table, "s");
    history.add_user_message("fine").unwrap();
    let id: uuid::Uuid = raw_query(
        &format!(
            "INSERT INTO {} (session_id, message) VALUES ('s', '{{\"type\": \"chat\", \"data\": {{\"content\": \"no role\"}}}}') RETURNING id",
            table.qualified()
        ),
        &[],
    )[0]
    .get(0);
    match history.messages() {
        Err(Error::MalformedRow {
            id: bad, reason, ..
        }) => {
            assert_eq!(bad, id);
            assert!(reason.contains("role"), "{reason}");
        }
        other => panic!("expected MalformedRow, got {other:?}"),
    }
}

pub fn bad_input_is_refused_and_changes_nothing<F: Face>() {
    let table = TempTable::new("badinput");
    let url = database_url();
    for (what, options) in [
        (
            "table name",
            HistoryOptions::default().table_name("chat-history"),
        ),
        (
            "table name",
            HistoryOptions::default().table_name("x; DROP TABLE message_store"),
        ),
        ("table name", HistoryOptions::default().table_name("")),
        ("schema name", HistoryOptions::default().schema("1st")),
        (
            "table name",
            HistoryOptions::default().table_name("t".repeat(64)),
        ),
    ] {
        match F::open("s", &url, options) {
            Err(Error::InvalidIdentifier { what: got, .. }) => assert_eq!(got, what),
            other => panic!(
                "expected InvalidIdentifier for {what}, got {:?}",
                other.map(|_| ())
            ),
        }
    }
    assert!(matches!(
        F::open("", &url, table.options()),
        Err(Error::InvalidIdentifier {
            what: "session id",
            ..
        })
    ));
    assert!(matches!(
        F::open("s", "mysql://root@localhost/db", table.options()),
        Err(Error::Config(_))
    ));

    let history: F = open(&table, "s");
    history.add_user_message("kept").unwrap();
    let with_nul = [Message::human("ok"), Message::human("nul \0 inside")];
    assert!(matches!(
        history.add_messages(&with_nul),
        Err(Error::InvalidMessage(_))
    ));
    // A message LangChain would refuse (here: a tool call id that is not a
    // string, in OpenAI's form) is never stored, so that no Python reader
    // of the table meets it.
    let refused = Message::ai("").with_additional_kwarg(
        "tool_calls",
        json!([{"id": 3, "type": "function", "function": {"name": "f", "arguments": "{}"}}]),
    );
    match history.add_message(&refused) {
        Err(Error::InvalidMessage(reason)) => {
            assert!(reason.contains("tool_calls[0].id"), "{reason}")
        }
        other => panic!("expected InvalidMessage, got {other:?}"),
    }
    let small = F::open("s", &url, table.options().max_message_bytes(1000)).unwrap();
    let oversized = [Message::human("ok"), Message::human("x".repeat(2000))];
    match small.add_messages(&oversized) {
        Err(Error::TooLarge { what, limit, .. }) => {
            assert_eq!((what.as_str(), limit), ("message 1", 1000))
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert_eq!(texts(&history.messages().unwrap()), ["kept"]);
}

/// Limits that the server would enforce with a raw error (or a dropped
/// connection) are checked before anything is sent, with a typed error.
pub fn limits_are_checked_before_anything_is_sent<F: Face>() {
    let table = TempTable::new("limits");
    let url = database_url();
    let history: F = open(&table, "s");
    history.add_user_message("kept").unwrap();

    // The whole batch: here 3 messages of 400 bytes against 1000.
    let capped = F::open("s", &url, table.options().max_batch_bytes(1000)).unwrap();
    let batch: Vec<Message> = (0..3).map(|_| Message::human("x".repeat(400))).collect();
    match capped.add_messages(&batch) {
        Err(Error::TooLarge {
            limit: 1000, size, ..
        }) => assert!(size > 1200, "{size}"),
        other => panic!("expected TooLarge for the batch, got {other:?}"),
    }

    // A session id longer than the index can hold (PostgreSQL: 54000).
    match F::open(&"s".repeat(3000), &url, table.options()) {
        Err(Error::InvalidIdentifier {
            what: "session id",
            value,
            ..
        }) => {
            assert!(value.len() < 300, "the error keeps a short excerpt")
        }
        other => panic!("expected InvalidIdentifier, got {:?}", other.map(|_| ())),
    }
    assert!(F::open(&"s".repeat(2048), &url, table.options()).is_ok());

    // Numbers JSONB's numeric cannot hold (PostgreSQL: 22003); only exact
    // JSON can even hold them (an f64 always fits `numeric`).
    #[cfg(feature = "exact-json")]
    for number in ["1e131072", "1e-16384"] {
        let dict = json!({"type": "human", "data": {"content": "n", "additional_kwargs": {
            "x": serde_json::Number::from_string_unchecked(number.into())
        }}});
        let message = Message::from_dict(dict).unwrap();
        match history.add_message(&message) {
            Err(Error::InvalidMessage(reason)) => assert!(reason.contains("range"), "{reason}"),
            other => panic!("expected InvalidMessage for {number}, got {other:?}"),
        }
    }
    assert_eq!(texts(&history.messages().unwrap()), ["kept"]);
    assert_eq!(table.count_rows("s"), 1);
}

/// The differential corpus through the database: every message LangChain
/// accepts is stored and read back as LangChain normalizes it, and every
/// dict found in a row (written by anyone) reads as LangChain reads it: to
/// its normalized form, or as a malformed row naming its id.
pub fn every_corpus_case_through_the_database<F: Face>() {
    use crate::support::corpus::{
        EXACT_ONLY_IN_THE_DATABASE, Verdict, corpus, differs_here, floats_read_exactly, same,
    };
    let corpus = corpus();
    let table = TempTable::new("corpus");

    let exact_only_here = |name: &str| {
        differs_here(name) || !floats_read_exactly() && name == EXACT_ONLY_IN_THE_DATABASE
    };
    if !floats_read_exactly() {
        // What that case gives without: a refusal naming the row.
        let table = TempTable::new("corpus_max");
        let history: F = open(&table, "s");
        let case = corpus.iter().find(|c| c.name == EXACT_ONLY_IN_THE_DATABASE);
        let message = Message::from_dict(case.expect("the case").input.clone()).unwrap();
        history.add_message(&message).unwrap();
        assert!(matches!(history.messages(), Err(Error::MalformedRow { .. })));
    }
    let corpus: Vec<_> = corpus
        .into_iter()
        .filter(|case| !exact_only_here(&case.name))
        .collect();
    let accepted: Vec<(&str, &Value, Message)> = corpus
        .iter()
        .filter_map(|case| match &case.verdict {
            Verdict::Accept(normalized) => Some((
                case.name.as_str(),
                normalized,
                Message::from_dict(case.input.clone()).expect("the model test covers this"),
            )),
            Verdict::Reject { .. } => None,
        })
        .collect();
    let written: F = open(&table, "written");
    let messages: Vec<Message> = accepted.iter().map(|(_, _, m)| m.clone()).collect();
    written.add_messages(&messages).unwrap();
    let read = written.messages().unwrap();
    assert_eq!(read.len(), accepted.len());
    for ((name, normalized, _), message) in accepted.iter().zip(&read) {
        assert!(
            same(&message.to_dict(), normalized),
            "{name}: stored as {}",
            message.to_dict()
        );
    }

    let client = runtime().block_on(raw_client());
    let insert = format!(
        "INSERT INTO {} (id, session_id, message) VALUES ($1, $2, $3::TEXT::JSONB)",
        table.qualified()
    );
    for (i, case) in corpus.iter().enumerate() {
        let id = langchain_cockroachdb::uuid::Uuid::new_v4();
        let session = format!("raw-{i}");
        let text = serde_json::to_string(&case.input).unwrap();
        runtime()
            .block_on(client.execute(&insert, &[&id, &session, &text]))
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let history: F = open(&table, &session);
        match (&case.verdict, history.messages()) {
            // A tool message's object content becomes its Python `str()`,
            // which follows key order, and JSONB keeps its own key order: a
            // Python reader of this row gets the same text as this crate,
            // not the one of the dict before it was stored.
            (Verdict::Accept(_), Ok(read)) if case.name.ends_with("/content_dict") => {
                assert_eq!(read[0].text(), "{'text': 't', 'type': 'text'}")
            }
            (Verdict::Accept(normalized), Ok(read)) => {
                assert_eq!(read.len(), 1, "{}", case.name);
                assert!(
                    same(&read[0].to_dict(), normalized),
                    "{}: read as {}",
                    case.name,
                    read[0].to_dict()
                );
            }
            (Verdict::Reject { .. }, Err(Error::MalformedRow { id: row, .. })) => {
                assert_eq!(row, id, "{}", case.name)
            }
            (_, other) => panic!("{}: {:?}", case.name, other.map(|m| m.len())),
        }
    }
}

/// Messages nested deeper than serde_json's default limit (128) are stored
/// and read, also when another writer stored them.
pub fn deeply_nested_messages_round_trip<F: Face>() {
    let table = TempTable::new("deep");
    let history: F = open(&table, "s");
    let mut deep = json!("bottom");
    for _ in 0..1000 {
        deep = json!({"d": deep});
    }
    let message = Message::human("deep").with_additional_kwarg("deep", deep);
    history.add_message(&message).unwrap();
    assert_eq!(history.messages().unwrap(), [message]);

    let text = format!(
        r#"{{"type": "human", "data": {{"content": "deeper", "additional_kwargs": {{"x": {}1{}}}}}}}"#,
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let sql = format!(
        "INSERT INTO {} (session_id, message) VALUES ('raw', $1::TEXT::JSONB)",
        table.qualified()
    );
    raw_query(&sql, &[&text]);
    let raw: F = open(&table, "raw");
    assert_eq!(raw.messages().unwrap()[0].text(), "deeper");
}

/// The trimming cases LangChain made (tests/fixtures/langchain_trim.json),
/// each stored as a session and trimmed from the database; and a long
/// session whose window is read without reading it all.
pub fn trimmed_windows_read_from_the_database_are_langchains<F: Face>() {
    use crate::support::corpus::{same, trim_options};
    use langchain_cockroachdb::TrimOptions;
    let fixture: Value =
        serde_json::from_str(include_str!("../fixtures/langchain_trim.json")).unwrap();
    let table = TempTable::new("trim");
    for (i, case) in fixture["trim"].as_array().unwrap().iter().enumerate() {
        let history: F = open(&table, &format!("case-{i}"));
        let messages: Vec<Message> = case["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| Message::from_dict(d.clone()).unwrap())
            .collect();
        history.add_messages(&messages).unwrap();
        let got = Value::Array(
            history
                .trim(&trim_options(case))
                .unwrap()
                .iter()
                .map(Message::to_dict)
                .collect(),
        );
        assert!(same(&got, &case["trimmed"]), "{}: {got}", case["name"]);
    }

    // 2,000 messages after a system message: the window read from the
    // newest rows is the one LangChain cuts from the whole session.
    let long: F = open(&table, "long");
    let mut messages = vec![Message::system("Be brief.")];
    messages.extend((0..2000).map(|i| Message::human(format!("message {i}"))));
    long.add_messages(&messages).unwrap();
    let window = long
        .trim(&TrimOptions::new(60).include_system(true))
        .unwrap();
    assert_eq!(window[0].text(), "Be brief.");
    assert_eq!(window.last().unwrap().text(), "message 1999");
    let whole = langchain_cockroachdb::trim_messages(
        &messages,
        &TrimOptions::new(60).include_system(true),
        langchain_cockroachdb::count_tokens_approximately,
    );
    assert_eq!(window, whole);

    // With the caller's counter (one token a message), from the same rows.
    let per_message = |m: &[Message]| m.len();
    let newest = long
        .trim_with_counter(&TrimOptions::new(5), &per_message)
        .unwrap();
    assert_eq!(
        texts(&newest),
        (1995..2000)
            .map(|i| format!("message {i}"))
            .collect::<Vec<_>>()
    );
}

pub fn concurrent_writers_on_different_sessions<F: Face>() {
    let table = TempTable::new("writers");
    let threads: Vec<_> = (0..8)
        .map(|w| {
            let history: F = open(&table, &format!("writer-{w}"));
            std::thread::spawn(move || {
                for i in 0..25 {
                    history.add_user_message(&format!("{w}-{i}")).unwrap();
                }
                history
            })
        })
        .collect();
    for (w, thread) in threads.into_iter().enumerate() {
        let history = thread.join().unwrap();
        let expected: Vec<String> = (0..25).map(|i| format!("{w}-{i}")).collect();
        assert_eq!(texts(&history.messages().unwrap()), expected);
    }
    let sessions: HashSet<String> = raw_query(
        &format!("SELECT DISTINCT session_id FROM {}", table.qualified()),
        &[],
    )
    .iter()
    .map(|r| r.get(0))
    .collect();
    assert_eq!(sessions.len(), 8);
}

pub fn a_history_is_cheap_to_clone_and_share<F: Face>() {
    let table = TempTable::new("clone");
    let history: F = open(&table, "s");
    let twin = history.clone();
    twin.add_user_message("from the clone").unwrap();
    assert_eq!(texts(&history.messages().unwrap()), ["from the clone"]);
    let value: Value = history.messages().unwrap()[0].to_dict();
    assert_eq!(value["type"], "human");
}

pub fn an_unreachable_server_is_a_connection_error_naming_it<F: Face>() {
    let options = EngineOptions::default()
        .connect_timeout(Duration::from_secs(1))
        .checkout_timeout(Duration::from_secs(2));
    let started = Instant::now();
    match F::ping("postgresql://root@127.0.0.1:1/test", options) {
        Err(Error::Connection { target, cause, .. }) => {
            assert_eq!(target, "127.0.0.1:1");
            assert!(cause.to_lowercase().contains("refused"), "{cause}");
        }
        other => panic!("expected a connection error, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "not within the connect timeout"
    );

    // Authentication failures are connection errors too, with the server's reason.
    let options = EngineOptions::default().checkout_timeout(Duration::from_secs(2));
    match F::ping("postgresql://no_such_role@127.0.0.1:5432/test", options) {
        Err(Error::Connection { target, cause, .. }) => {
            assert_eq!(target, "127.0.0.1:5432");
            assert!(cause.contains("no_such_role"), "{cause}");
        }
        other => panic!("expected a connection error, got {other:?}"),
    }
}

/// A connection string to the test database with extra libpq options.
fn url_with(query: &str) -> String {
    let url = database_url();
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{query}")
}

/// Writers into one session through separate engines (as separate
/// processes would be): under SERIALIZABLE their inserts conflict and get
/// 40001, which is retried, and nothing is lost, doubled or reordered.
pub fn serialization_failures_are_retried_and_nothing_is_doubled<F: Face>() {
    let table = TempTable::new("hot");
    // SERIALIZABLE, as CockroachDB always runs: concurrent inserts that read
    // the same session's newest row conflict and get 40001.
    let url = with_server_options(
        &database_url(),
        "-c default_transaction_isolation=serializable",
    );
    let options = table.options();
    let engine = || EngineOptions::default().pool_size(2);
    let history = F::open_pooled("hot", &url, options.clone(), engine()).unwrap();
    history.add_user_message("warm-up").unwrap();
    let engines: Vec<F> = (0..8)
        .map(|_| F::open_pooled("hot", &url, options.clone(), engine()).unwrap())
        .collect();
    let writers: Vec<_> = engines
        .iter()
        .enumerate()
        .map(|(w, history)| {
            let history = history.clone();
            std::thread::spawn(move || {
                for i in 0..25 {
                    history
                        .add_messages(&[
                            Message::human(format!("{w}-{i}")),
                            Message::ai(format!("{w}-{i}!")),
                        ])
                        .unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    let got = texts(&history.messages().unwrap());
    assert_eq!(got.len(), 1 + 8 * 25 * 2);
    let unique: HashSet<&String> = got.iter().collect();
    assert_eq!(unique.len(), got.len(), "a message was stored twice");
    for w in 0..8 {
        // Each writer's messages keep their order, and each pair stays together.
        let mine: Vec<&String> = got
            .iter()
            .filter(|t| t.starts_with(&format!("{w}-")))
            .collect();
        let expected: Vec<String> = (0..25)
            .flat_map(|i| [format!("{w}-{i}"), format!("{w}-{i}!")])
            .collect();
        assert_eq!(mine, expected.iter().collect::<Vec<_>>());
    }
    let retries: u64 = engines.iter().map(|e| e.pool_state().retries).sum();
    assert!(retries > 0, "no 40001 was met: the test proves nothing");
}

/// Many writers into one session through one engine, under SERIALIZABLE:
/// their writes take turns and merge, so they never conflict with each
/// other (no retry at all), each writer's messages keep their order, and
/// every message is stored once. Deletes take their place in the same
/// order.
pub fn writers_on_one_session_of_one_engine_never_race<F: Face>() {
    let table = TempTable::new("lane");
    let url = with_server_options(
        &database_url(),
        "-c default_transaction_isolation=serializable",
    );
    let pool = EngineOptions::default().pool_size(8);
    let history = F::open_pooled("hot", &url, table.options(), pool).unwrap();
    history.add_user_message("warm-up").unwrap();
    let writers: Vec<_> = (0..16)
        .map(|w| {
            let history = history.clone();
            std::thread::spawn(move || {
                for i in 0..40 {
                    history.add_user_message(&format!("{w}-{i}")).unwrap();
                    if i % 10 == 9 {
                        let id = langchain_cockroachdb::uuid::Uuid::new_v4();
                        let turn = [(id, Message::ai(format!("{w}-{i}!")))];
                        assert_eq!(history.add_messages_with_ids(&turn).unwrap(), 1);
                        assert_eq!(history.add_messages_with_ids(&turn).unwrap(), 0);
                    }
                }
            })
        })
        .collect();
    // Meanwhile, a refused message fails only its own call.
    let refused = history.add_message(&Message::human("nul \0 inside"));
    assert!(matches!(refused, Err(Error::InvalidMessage(_))), "{refused:?}");
    for writer in writers {
        writer.join().unwrap();
    }
    let got = texts(&history.messages().unwrap());
    assert_eq!(got.len(), 1 + 16 * (40 + 4));
    let unique: HashSet<&String> = got.iter().collect();
    assert_eq!(unique.len(), got.len(), "a message was stored twice");
    for w in 0..16 {
        let mine: Vec<&String> = got
            .iter()
            .filter(|t| t.starts_with(&format!("{w}-")))
            .collect();
        let expected: Vec<String> = (0..40)
            .flat_map(|i| {
                let ai = (i % 10 == 9).then(|| format!("{w}-{i}!"));
                std::iter::once(format!("{w}-{i}")).chain(ai)
            })
            .collect();
        assert_eq!(mine, expected.iter().collect::<Vec<_>>(), "writer {w}");
    }
    assert_eq!(
        history.pool_state().retries,
        0,
        "writes of one engine conflicted with each other"
    );

    // A clear queued behind writes runs after them, and writes queued
    // behind it after it.
    let before_clear: Vec<_> = (0..8)
        .map(|w| {
            let history = history.clone();
            std::thread::spawn(move || history.add_user_message(&format!("late-{w}")))
        })
        .collect();
    for writer in before_clear {
        writer.join().unwrap().unwrap();
    }
    history.clear().unwrap();
    history.add_user_message("after").unwrap();
    assert_eq!(texts(&history.messages().unwrap()), ["after"]);
}

pub fn killed_backends_are_survived<F: Face>() {
    if skip_unless_postgresql("pg_terminate_backend") {
        return;
    }
    let table = TempTable::new("killed");
    let app = format!("kill_{}", &table.name[table.name.len() - 10..]);
    // Backends die here every 20 ms, for as long as the writer runs: on a
    // loaded machine the default six attempts can all meet a kill. More of
    // them test the same thing, that no attempt is lost or doubled.
    let retry = RetryPolicy::default().max_attempts(20);
    let history = F::open(
        "s",
        &url_with(&format!("application_name={app}")),
        table.options().retry(retry),
    )
    .unwrap();
    history.add_user_message("before").unwrap();
    let kill = || -> i64 {
        raw_query(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
            &[&app],
        )[0]
        .get(0)
    };
    // Between operations: the pooled connection is dead when next used.
    assert!(kill() >= 1);
    history.add_user_message("after").unwrap();

    // During operations: a writer keeps adding while backends keep dying.
    let writer = {
        let history = history.clone();
        std::thread::spawn(move || {
            for i in 0..150 {
                history.add_user_message(&format!("w{i}")).unwrap();
            }
        })
    };
    let mut killed = 0;
    while !writer.is_finished() {
        killed += kill();
        std::thread::sleep(Duration::from_millis(20));
    }
    writer.join().unwrap();
    assert!(
        killed > 0,
        "no backend was killed during the writes: the test proves nothing"
    );
    let mut expected = vec!["before".to_string(), "after".to_string()];
    expected.extend((0..150).map(|i| format!("w{i}")));
    assert_eq!(texts(&history.messages().unwrap()), expected);
}

pub fn a_reply_lost_after_commit_does_not_duplicate_the_write<F: Face>() {
    let table = TempTable::new("lostreply");
    let proxy = Proxy::start();
    let history = F::open("s", &proxy.test_url(), table.options()).unwrap();
    history.add_user_message("first").unwrap(); // connection open, statement prepared

    proxy.cut_after_next_request();
    history
        .add_messages(&[Message::human("exactly once"), Message::ai("me too")])
        .unwrap();
    assert_eq!(
        proxy.cuts(),
        1,
        "the connection was not cut: the test proves nothing"
    );
    assert_eq!(
        texts(&history.messages().unwrap()),
        ["first", "exactly once", "me too"]
    );
    assert_eq!(table.count_rows("s"), 3);
}

/// Holds `table` locked in a transaction of its own connection, so that a
/// statement on it waits (the server ends the transaction by itself if the
/// test gets stuck): the lock goes with `COMMIT` on the client returned.
fn hold_table_lock(table: &TempTable) -> tokio_postgres::Client {
    let locker = runtime().block_on(raw_client());
    runtime()
        .block_on(locker.batch_execute(&format!(
            "SET idle_in_transaction_session_timeout = '20s';
             BEGIN; LOCK TABLE {} IN ACCESS EXCLUSIVE MODE",
            table.qualified()
        )))
        .unwrap();
    locker
}

/// Returns once the server shows a statement waiting for `table`'s lock.
fn until_a_statement_waits_for(table: &TempTable) {
    let waiting = format!(
        "SELECT count(*) FROM pg_locks WHERE relation = '{}'::regclass AND NOT granted",
        table.qualified()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while raw_query(&waiting, &[])[0].get::<_, i64>(0) == 0 {
        assert!(
            Instant::now() < deadline,
            "no statement waited for the lock"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn an_exhausted_pool_times_out_clearly_and_recovers<F: Face>() {
    let table = TempTable::new("exhausted");
    let engine = EngineOptions::default()
        .pool_size(1)
        .checkout_timeout(Duration::from_millis(300));
    let history = F::open_pooled("s", &database_url(), table.options(), engine).unwrap();
    history.add_user_message("table made").unwrap();

    // Hold the table locked, so an operation holds the only connection.
    let locker = hold_table_lock(&table);
    let stuck = {
        let history = history.clone();
        std::thread::spawn(move || history.add_user_message("waited"))
    };
    // Once the insert waits for the lock, it holds the pool's only connection.
    until_a_statement_waits_for(&table);
    match history.messages() {
        Err(Error::PoolTimeout(waited)) => assert_eq!(waited, Duration::from_millis(300)),
        other => panic!("expected PoolTimeout, got {other:?}"),
    }
    runtime().block_on(locker.batch_execute("COMMIT")).unwrap();
    stuck.join().unwrap().unwrap();
    assert_eq!(
        texts(&history.messages().unwrap()),
        ["table made", "waited"]
    );
}

/// `close` lets the statement in flight finish, then refuses every new
/// operation of the engine with `Error::Closed`; it reports a timeout when
/// a statement outlives its wait.
pub fn close_waits_for_the_call_in_flight_and_refuses_new_ones<F: Face>() {
    let table = TempTable::new("close");
    let open_engine = || {
        let engine = EngineOptions::default().pool_size(2);
        F::open_pooled("s", &database_url(), table.options(), engine).unwrap()
    };
    let history = open_engine();
    history.add_user_message("before").unwrap();

    // A statement in flight: an insert that waits for a lock this test holds.
    let locker = hold_table_lock(&table);
    let in_flight = {
        let history = history.clone();
        std::thread::spawn(move || history.add_user_message("in flight"))
    };
    until_a_statement_waits_for(&table);
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        runtime().block_on(locker.batch_execute("COMMIT")).unwrap();
    });
    history.close(Duration::from_secs(10)).unwrap();
    in_flight.join().unwrap().unwrap();
    release.join().unwrap();
    assert_eq!(table.count_rows("s"), 2);
    assert!(matches!(history.messages(), Err(Error::Closed)));
    assert!(matches!(history.add_user_message("after"), Err(Error::Closed)));
    assert!(!history.messages().unwrap_err().is_retryable());
    assert_eq!(history.pool_state().connections, 0);
    assert_eq!(table.count_rows("s"), 2);

    // A statement that outlives the wait: close says so, and the statement
    // still ends as it would have.
    let history = open_engine();
    history.add_user_message("warm").unwrap();
    let locker = hold_table_lock(&table);
    let in_flight = {
        let history = history.clone();
        std::thread::spawn(move || history.add_user_message("slow"))
    };
    until_a_statement_waits_for(&table);
    match history.close(Duration::from_millis(100)) {
        Err(Error::Timeout(wait)) => assert_eq!(wait, Duration::from_millis(100)),
        other => panic!("expected a timeout, got {other:?}"),
    }
    runtime().block_on(locker.batch_execute("COMMIT")).unwrap();
    in_flight.join().unwrap().unwrap();
    assert_eq!(table.count_rows("s"), 4);
}

/// The reply of a merged statement is lost after its commit: writers queued
/// behind a turn (its insert held by a lock) go out as one statement, whose
/// connection is cut once it is sent. The engine tries it again under the
/// same ids: every caller succeeds and every message is stored once.
pub fn a_lost_reply_of_a_merged_statement_stores_each_message_once<F: Face>() {
    let table = TempTable::new("merged_lost");
    let proxy = Proxy::start();
    let pool = EngineOptions::default().pool_size(1);
    let history = F::open_pooled("s", &proxy.test_url(), table.options(), pool).unwrap();
    history.add_user_message("first").unwrap();
    // The merged statement (INSERT ... RETURNING) prepared on the connection.
    let id = langchain_cockroachdb::uuid::Uuid::new_v4();
    history
        .add_messages_with_ids(&[(id, Message::human("prepared"))])
        .unwrap();

    let locker = hold_table_lock(&table);
    let held = {
        let history = history.clone();
        std::thread::spawn(move || history.add_user_message("held"))
    };
    until_a_statement_waits_for(&table);
    let queued: Vec<_> = (0..8)
        .map(|w| {
            let history = history.clone();
            std::thread::spawn(move || history.add_user_message(&format!("w{w}")))
        })
        .collect();
    // Time for the writers to join the queue; fewer would merge fewer.
    std::thread::sleep(Duration::from_millis(300));
    let binds = proxy.sent(b'B');
    proxy.cut_after_next_request();
    runtime().block_on(locker.batch_execute("COMMIT")).unwrap();
    held.join().unwrap().unwrap();
    for writer in queued {
        writer.join().unwrap().unwrap();
    }
    assert_eq!(proxy.cuts(), 1, "no reply was lost: the test proves nothing");
    // The merged statement, and its retry (prepared again on the new
    // connection): two statements for eight callers.
    assert!(
        proxy.sent(b'B') - binds <= 3,
        "{} statements: the writers were not merged",
        proxy.sent(b'B') - binds
    );
    let got = texts(&history.messages().unwrap());
    assert_eq!(&got[..3], ["first", "prepared", "held"]);
    let mut rest = got[3..].to_vec();
    rest.sort();
    let expected: Vec<String> = (0..8).map(|w| format!("w{w}")).collect();
    assert_eq!(rest, expected, "lost or doubled");
}

pub fn several_hosts_fail_over_to_one_that_answers<F: Face>() {
    let table = TempTable::new("hosts");
    let url = "postgresql://root@127.0.0.1:1,127.0.0.1:5432/test?sslmode=disable";
    let history = F::open("s", url, table.options()).unwrap();
    history.add_user_message("via the second host").unwrap();
    assert_eq!(texts(&history.messages().unwrap()), ["via the second host"]);

    let options = EngineOptions::default().connect_timeout(Duration::from_secs(1));
    match F::ping("postgresql://root@127.0.0.1:1,127.0.0.1:2/test", options) {
        Err(Error::Connection { target, .. }) => assert_eq!(target, "127.0.0.1:1,127.0.0.1:2"),
        other => panic!("expected a connection error, got {other:?}"),
    }
}

/// Fills `table` with `rows` rows over `sessions` sessions (`s0`, `s1`...)
/// straight on the server: row `g` of session `s{g % sessions}` says `m{g}`,
/// one millisecond apart, starting `age_days` ago.
fn bulk_load(table: &TempTable, rows: u32, sessions: u32, age_days: u32) {
    raw_execute(&format!(
        "INSERT INTO {} (session_id, message, created_at)
         SELECT 's' || (g % {sessions}), jsonb_build_object('type', 'human', 'data', jsonb_build_object('content', 'm' || g)),
                now() - interval '{age_days} days' + g * interval '1 millisecond'
         FROM generate_series(1, {rows}) AS g;
         ANALYZE {};",
        table.qualified(),
        table.qualified()
    ));
}

pub fn last_messages_of_a_long_session_among_many<F: Face>() {
    let table = TempTable::new("last");
    let history: F = open(&table, "s3");
    history.clear().unwrap(); // creates the table
    bulk_load(&table, 100_000, 10, 1);
    assert_eq!(history.message_count().unwrap(), 10_000);
    let expected: Vec<String> = (0..10).map(|i| format!("m{}", 99_903 + 10 * i)).collect();
    assert_eq!(texts(&history.last_messages(10).unwrap()), expected);
    assert_eq!(texts(&history.buffer_window(3).unwrap()), expected[4..]);
    assert!(history.last_messages(0).unwrap().is_empty());
    let other: F = open(&table, "nobody");
    assert!(other.last_messages(10).unwrap().is_empty());
    assert_eq!(other.message_count().unwrap(), 0);
}

pub fn entries_since_and_deletes<F: Face>() {
    let table = TempTable::new("deletes");
    let history: F = open(&table, "s");
    for i in 0..6 {
        history.add_user_message(&format!("t{i}")).unwrap();
    }
    let entries = history.entries().unwrap();
    assert!(
        entries
            .windows(2)
            .all(|w| w[0].created_at < w[1].created_at)
    );
    assert!(entries.iter().all(|e| e.session_id == "s"));
    assert_eq!(
        texts(&history.messages_since(entries[3].created_at).unwrap()),
        ["t4", "t5"]
    );

    assert!(history.delete_message(entries[0].id).unwrap());
    assert!(
        !history.delete_message(entries[0].id).unwrap(),
        "deleting twice is harmless"
    );
    let other: F = open(&table, "other");
    assert!(
        !other.delete_message(entries[1].id).unwrap(),
        "another session's row is not touched"
    );
    assert_eq!(history.delete_last(2).unwrap(), 2);
    assert_eq!(texts(&history.messages().unwrap()), ["t1", "t2", "t3"]);
    assert_eq!(history.delete_last(10).unwrap(), 3);
    assert_eq!(history.delete_last(1).unwrap(), 0);
}

pub fn sessions_are_listed_newest_first_by_prefix<F: Face>() {
    let table = TempTable::new("listing");
    let opts = table.options();
    for id in ["user-1:a", "user-10:x", "user-1:b", "user-2:a"] {
        let h: F = open(&table, id);
        h.add_user_message("hello").unwrap();
        h.add_ai_message("hi").unwrap();
    }
    let one: F = open(&table, "user-1:a");
    one.add_user_message("again").unwrap(); // now the newest

    let history: F = open(&table, "user-1:a");
    let listed = history
        .list_sessions(&opts, &SessionFilter::default().prefix("user-1:"))
        .unwrap();
    let ids: Vec<&str> = listed.iter().map(|s| s.session_id.as_str()).collect();
    assert_eq!(ids, ["user-1:a", "user-1:b"]);
    assert_eq!(listed[0].message_count, 3);
    assert!(listed[0].first_activity < listed[0].last_activity);
    let newest = history
        .list_sessions(&opts, &SessionFilter::default().prefix("user-1:").limit(1))
        .unwrap();
    assert_eq!(newest.len(), 1);
    assert_eq!(newest[0].session_id, "user-1:a");
    let all = history
        .list_sessions(&opts, &SessionFilter::default())
        .unwrap();
    let ids: Vec<&str> = all.iter().map(|s| s.session_id.as_str()).collect();
    assert_eq!(ids, ["user-1:a", "user-2:a", "user-1:b", "user-10:x"]);
    assert!(
        history
            .list_sessions(&opts, &SessionFilter::default().prefix("nobody"))
            .unwrap()
            .is_empty()
    );
}

pub fn prefixes_are_exact_under_a_linguistic_collation<F: Face>() {
    // Ids that differ only in case and accents, and the README's example:
    // under ICU's `en-US` a range of ids holds `Alice:1` for `alice`, and
    // nothing for `user-123:`.
    if skip_unless_postgresql("ICU collations") {
        return;
    }
    let database = TempDatabase::linguistic("lc_icu");
    let (url, opts) = (database.url(), HistoryOptions::default());
    let ids = [
        "alice", "alice:1", "Alice:1", "ALICE:2", "alicé:x", "alicf", "user-123:a", "user-123:b",
        "user-1234:c", "user-12:d", "user-123",
    ];
    for id in ids {
        F::open(id, &url, opts.clone()).unwrap().add_user_message(id).unwrap();
    }
    let history = F::open("alice", &url, opts.clone()).unwrap();
    let listed = |prefix: &str| {
        let filter = SessionFilter::default().prefix(prefix).limit(100);
        let mut ids: Vec<String> = (history.list_sessions(&opts, &filter).unwrap())
            .into_iter()
            .map(|s| s.session_id)
            .collect();
        ids.sort();
        ids
    };
    let exported = |prefix: &str| {
        let lines = history.export_table(&opts, Some(prefix)).unwrap();
        let mut ids: Vec<String> = String::from_utf8(lines)
            .unwrap()
            .lines()
            .map(|line| StoredMessage::from_json_line(line).unwrap().session_id)
            .collect();
        ids.dedup();
        ids
    };
    for (prefix, expected) in [
        ("alice", &["alice", "alice:1"][..]),
        ("alice:", &["alice:1"]),
        ("Alice", &["Alice:1"]),
        ("alicé", &["alicé:x"]),
        ("user-123:", &["user-123:a", "user-123:b"]),
        ("user-123", &["user-123", "user-1234:c", "user-123:a", "user-123:b"]),
    ] {
        assert_eq!(listed(prefix), expected, "listing {prefix:?}");
        // Both in byte order (`4` before `:`): an export walks the ids so.
        assert_eq!(exported(prefix), expected, "export of {prefix:?}");
    }
    assert_eq!(listed("").len(), ids.len());
}

/// `erase_prefix` deletes exactly the sessions that start with the prefix,
/// whole, also where the collation is linguistic; its dry run is the
/// listing of the same prefix.
pub fn erasing_a_prefix_takes_exactly_its_sessions<F: Face>() {
    // Under ICU's collation too, where the server has one (PostgreSQL).
    let database = (!on_cockroachdb()).then(|| TempDatabase::linguistic("lc_erase"));
    let table = TempTable::new("erase");
    let linguistic = database.iter().map(|d| (d.url(), HistoryOptions::default()));
    for (url, opts) in linguistic.chain([(database_url(), table.options())]) {
        let ids = [
            "user-1:a", "user-1:b", "User-1:c", "user-1é:d", "user-12:e", "user-1", "user-2:f",
        ];
        for id in ids {
            let h = F::open(id, &url, opts.clone()).unwrap();
            h.add_messages(&[Message::human(id), Message::ai("ok")]).unwrap();
        }
        let history = F::open("user-1:a", &url, opts.clone()).unwrap();
        let listed = history
            .list_sessions(&opts.clone(), &SessionFilter::default().prefix("user-1:").limit(1000))
            .unwrap();
        assert_eq!(listed.iter().map(|s| s.message_count).sum::<u64>(), 4);
        // Two sessions of two rows per statement at most, so three rounds.
        let small = opts.clone().delete_batch_size(2);
        assert_eq!(history.erase_prefix(&small, "user-1:").unwrap(), 4);
        let mut left: Vec<String> = (history.list_sessions(&opts, &SessionFilter::default()).unwrap())
            .into_iter()
            .map(|s| s.session_id)
            .collect();
        left.sort();
        assert_eq!(left, ["User-1:c", "user-1", "user-12:e", "user-1é:d", "user-2:f"]);
        assert!(matches!(history.erase_prefix(&opts, ""), Err(Error::InvalidArgument(_))));
        assert_eq!(history.erase_prefix(&opts, "user-").unwrap(), 8);
    }
}

/// The batched deletes report their progress after each statement and
/// stop when told, having deleted whole statements' worth.
pub fn batched_deletes_report_progress_and_stop<F: Face>() {
    let table = TempTable::new("progress");
    let old = |session: &str, n: i32| {
        raw_execute(&format!(
            "INSERT INTO {t} (session_id, message, created_at)
             SELECT '{session}', '{{\"type\": \"human\", \"data\": {{\"content\": \"x\"}}}}',
                    now() - interval '60 days' + g * interval '1 second'
             FROM generate_series(1, {n}) AS g",
            t = table.qualified()
        ))
    };
    let history: F = open(&table, "fresh");
    history.add_user_message("keep").unwrap();
    for s in ["a", "b", "c", "d"] {
        old(s, 3);
    }
    let opts = table.options().delete_batch_size(3);
    let month = Duration::from_secs(30 * 24 * 3600);
    assert_eq!(history.count_sessions_idle_since(&opts, month).unwrap(), (4, 12));
    assert_eq!(history.count_messages_older_than(&opts, month).unwrap(), 12);
    let seen = std::sync::Mutex::new(Vec::new());
    let stop_after_two = |total: u64| {
        let mut seen = seen.lock().unwrap();
        seen.push(total);
        seen.len() < 2
    };
    assert_eq!(history.delete_sessions_idle_since_with_progress(&opts, month, &stop_after_two).unwrap(), 6);
    assert_eq!(*seen.lock().unwrap(), [3, 6]);
    assert_eq!(history.count_sessions_idle_since(&opts, month).unwrap(), (2, 6));
    seen.lock().unwrap().clear();
    assert_eq!(history.delete_messages_older_than_with_progress(&opts, month, &stop_after_two).unwrap(), 6);
    assert_eq!(history.count_messages_older_than(&opts, month).unwrap(), 0);
    for s in ["p:1", "p:2", "p:3"] {
        old(s, 3);
    }
    seen.lock().unwrap().clear();
    assert_eq!(history.erase_prefix_with_progress(&opts, "p:", &stop_after_two).unwrap(), 6);
    assert_eq!(history.erase_prefix(&opts, "p:").unwrap(), 3);
    assert_eq!(history.message_count().unwrap(), 1, "the fresh session is untouched");
}

/// A diagnosis from the catalogs: a missing table, a fresh one, one with
/// the older index and the activity index, and an ICU database; it never
/// creates the table.
pub fn a_diagnosis_reads_the_catalogs<F: Face>() {
    let table = TempTable::new("diagnose");
    let history: F = open(&table, "s");
    let missing = history.diagnose(&table.options()).unwrap();
    assert!(!missing.table_exists() && !missing.session_index, "{missing:?}");
    assert!(missing.can_create && missing.ids_byte_order);
    let server = match on_cockroachdb() {
        true => langchain_cockroachdb::ServerKind::CockroachDB,
        false => langchain_cockroachdb::ServerKind::PostgreSQL,
    };
    assert_eq!(missing.server, server);
    let exists: Option<String> =
        raw_query("SELECT to_regclass($1)::text", &[&table.qualified()])[0].get(0);
    assert_eq!(exists, None, "a diagnosis created the table");

    history.add_user_message("hi").unwrap();
    let fresh = history.diagnose(&table.options()).unwrap();
    assert!(fresh.table_exists() && fresh.session_index, "{fresh:?}");
    assert!(!fresh.older_index && !fresh.activity_index && !fresh.collated_index);
    assert!(fresh.can_select && fresh.can_insert && fresh.can_delete && fresh.can_create);
    let columns: Vec<(&str, &str)> =
        fresh.columns.iter().map(|(c, t)| (c.as_str(), t.as_str())).collect();
    let mut expected = vec![
        ("id", "uuid"),
        ("session_id", "text"),
        ("message", "jsonb"),
        ("created_at", "timestamp with time zone"),
    ];
    // PostgreSQL: the column watches key rows by.
    if !on_cockroachdb() {
        expected.push(("xact_id", "xid8"));
    }
    assert_eq!(columns, expected);
    // PostgreSQL says (whether it is depends on the server and sslmode).
    assert!(fresh.encrypted.is_some());
    assert!(fresh.round_trip < Duration::from_secs(30));
    raw_execute(&format!(
        "CREATE INDEX {name}_session_created_idx ON {t} (session_id, created_at);
         CREATE INDEX {name}_activity_idx ON {t} (created_at);
         INSERT INTO {t} (session_id, message)
         SELECT 's' || (g % 10), '{{}}' FROM generate_series(1, 1000) AS g;
         ANALYZE {t}",
        name = table.name,
        t = table.qualified()
    ));
    let grown = history.diagnose(&table.options()).unwrap();
    assert!(grown.older_index && grown.activity_index, "{grown:?}");
    assert_eq!(grown.estimated_rows, Some(1001));
    assert_eq!(grown.estimated_sessions, Some(11), "s0 to s9, and s");
    // Which statistics, and how old.
    assert!(grown.statistics.is_some(), "{grown:?}");
    let age = langchain_cockroachdb::time::OffsetDateTime::now_utc() - grown.statistics_created.unwrap();
    assert!(age < langchain_cockroachdb::time::Duration::minutes(5), "{age}");

    if on_cockroachdb() {
        return; // no ICU collations
    }
    let database = TempDatabase::linguistic("lc_diagnose");
    let icu = F::open("s", &database.url(), HistoryOptions::default()).unwrap();
    let diagnosis = icu.diagnose(&HistoryOptions::default()).unwrap();
    assert!(!diagnosis.ids_byte_order, "{diagnosis:?}");
}

pub fn expired_rows_are_never_read<F: Face>() {
    // With `ttl`, CockroachDB's job deletes expired rows up to an hour
    // late; no read returns them meanwhile. Here the option's filter runs
    // without the job, on a table made beforehand.
    let table = TempTable::new("ttl_reads");
    let writer: F = open(&table, "mixed");
    writer.add_user_message("fresh").unwrap();
    writer.add_ai_message("fresh too").unwrap();
    raw_execute(&format!(
        "INSERT INTO {t} (session_id, message, created_at) VALUES
         ('mixed', '{{\"type\": \"human\", \"data\": {{\"content\": \"stale\"}}}}', now() - interval '31 days'),
         ('gone', '{{\"type\": \"human\", \"data\": {{\"content\": \"stale\"}}}}', now() - interval '40 days')",
        t = table.qualified()
    ));
    let ttl = table
        .options()
        .ttl(Duration::from_secs(30 * 24 * 3600))
        .create_table(false);
    let mixed = F::open("mixed", &database_url(), ttl.clone()).unwrap();
    let fresh = ["fresh", "fresh too"];
    assert_eq!(texts(&mixed.messages().unwrap()), fresh);
    assert_eq!(texts(&mixed.last_messages(10).unwrap()), fresh);
    assert_eq!(texts(&mixed.buffer_window(10).unwrap()), fresh);
    assert_eq!(mixed.message_count().unwrap(), 2);
    assert_eq!(mixed.entries().unwrap().len(), 2);
    let since = OffsetDateTime::now_utc() - Duration::from_secs(400 * 24 * 3600);
    assert_eq!(texts(&mixed.messages_since(since).unwrap()), fresh);
    assert_eq!(mixed.messages_page(None, 10).unwrap().entries.len(), 2);
    assert_eq!(mixed.messages_page_back(None, 10).unwrap().entries.len(), 2);
    let gone = F::open("gone", &database_url(), ttl.clone()).unwrap();
    assert!(gone.messages().unwrap().is_empty());
    let listed = mixed.list_sessions(&ttl, &SessionFilter::default()).unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!((listed[0].session_id.as_str(), listed[0].message_count), ("mixed", 2));
    let by_prefix = SessionFilter::default().prefix("g");
    assert!(mixed.list_sessions(&ttl, &by_prefix).unwrap().is_empty());
    for prefix in [None, Some("mixed")] {
        let lines = mixed.export_table(&ttl, prefix).unwrap();
        assert_eq!(String::from_utf8(lines).unwrap().lines().count(), 2, "{prefix:?}");
    }
    assert_eq!(String::from_utf8(mixed.export_session().unwrap()).unwrap().lines().count(), 2);
    // Without the option every row is there, as the table holds them.
    let all = F::open("mixed", &database_url(), table.options()).unwrap();
    assert_eq!(all.message_count().unwrap(), 3);
}

pub fn retention_cleans_up_in_batches<F: Face>() {
    retention_with::<F>(false);
    // The same through the activity index, which finds idle sessions from
    // their old rows.
    retention_with::<F>(true);
}

fn retention_with<F: Face>(activity_index: bool) {
    let table = TempTable::new("retention");
    let options = table
        .options()
        .activity_index(activity_index)
        .delete_batch_size(7);
    let active: F = F::open("active", &database_url(), options.clone()).unwrap();
    active.clear().unwrap();
    bulk_load(&table, 215, 43, 40); // 43 sessions of 5 messages, 40 days old
    raw_execute(&format!(
        "UPDATE {} SET session_id = 'active' WHERE session_id = 's0'",
        table.qualified()
    ));
    active.add_user_message("still here").unwrap();
    let thirty_days = Duration::from_secs(30 * 24 * 3600);

    // 42 idle sessions of 5 messages: 210 rows in batches of 7.
    assert_eq!(
        active
            .delete_sessions_idle_since(&options, thirty_days)
            .unwrap(),
        210
    );
    let left = active
        .list_sessions(&options, &SessionFilter::default())
        .unwrap();
    assert_eq!(
        left.iter()
            .map(|s| s.session_id.as_str())
            .collect::<Vec<_>>(),
        ["active"]
    );
    assert_eq!(active.message_count().unwrap(), 6);
    assert_eq!(
        active
            .delete_sessions_idle_since(&options, thirty_days)
            .unwrap(),
        0
    );

    // Old messages of the active session go by age alone.
    assert_eq!(
        active
            .delete_messages_older_than(&options, thirty_days)
            .unwrap(),
        5
    );
    assert_eq!(texts(&active.messages().unwrap()), ["still here"]);
}

pub fn export_then_import_gives_an_identical_history<F: Face>() {
    let (from, to) = (TempTable::new("export_from"), TempTable::new("export_to"));
    let fixtures: Vec<Message> = fixture_cases()
        .into_iter()
        .map(|(_, d)| Message::from_dict(d).unwrap())
        .collect();
    for id in ["user-7:a", "user-7:b", "user-70:c"] {
        let h: F = open(&from, id);
        h.add_messages(&fixtures).unwrap();
        h.add_user_message(id).unwrap();
    }
    let source: F = open(&from, "user-7:a");
    let lines = source
        .export_table(&from.options(), Some("user-7:"))
        .unwrap();
    assert_eq!(
        lines.iter().filter(|b| **b == b'\n').count(),
        2 * (fixtures.len() + 1)
    );

    let target: F = open(&to, "user-7:a");
    target.clear().unwrap();
    assert_eq!(
        target.import_table(&to.options(), &lines).unwrap(),
        2 * (fixtures.len() as u64 + 1)
    );
    assert_eq!(
        target.import_table(&to.options(), &lines).unwrap(),
        0,
        "a re-import writes nothing"
    );
    for id in ["user-7:a", "user-7:b"] {
        let (a, b): (F, F) = (open(&from, id), open(&to, id));
        assert_eq!(a.entries().unwrap(), b.entries().unwrap(), "{id}");
    }
    let missing: F = open(&to, "user-70:c");
    assert_eq!(missing.message_count().unwrap(), 0);

    // One session's export is the same lines as its part of the table's.
    let session = source.export_session().unwrap();
    assert_eq!(session, lines[..session.len()]);

    // A bad line is refused with its number; nothing of its batch is written.
    let bad = format!(
        "{}{{\"id\": \"nope\"}}\n",
        String::from_utf8(session.clone()).unwrap()
    );
    let fresh = TempTable::new("export_bad");
    let target: F = open(&fresh, "user-7:a");
    match target.import_table(&fresh.options(), bad.as_bytes()) {
        Err(Error::Import {
            line,
            committed: 0,
            source,
            ..
        }) => {
            assert_eq!(line, fixtures.len() as u64 + 2);
            assert!(matches!(*source, Error::InvalidMessage(_)), "{source:?}");
        }
        other => panic!("expected an import error, got {other:?}"),
    }
    assert_eq!(target.message_count().unwrap(), 0);
}

/// An import file cannot break the table or the importer: lines longer
/// than a message can be, batches over `max_batch_bytes`, dates that would
/// push a session past what reads decode; errors name the line and what
/// was stored before it; whatever an export wrote imports again.
pub fn a_hostile_import_file_breaks_nothing<F: Face>() {
    use crate::support::proxy::Proxy;
    let table = TempTable::new("import_hostile");
    let options = table.options().max_message_bytes(2000).max_batch_bytes(5000);
    let proxy = Proxy::start();
    let history = F::open("s", &proxy.test_url(), options.clone()).unwrap();
    let line = |i: usize, created_at: &str| {
        let id = langchain_cockroachdb::uuid::Uuid::new_v4();
        let text = format!("{i:04}{}", "x".repeat(1000));
        format!(
            r#"{{"id": "{id}", "session_id": "s", "created_at": "{created_at}", "message": {{"type": "human", "data": {{"content": "{text}"}}}}}}"#
        ) + "\n"
    };
    let now = "2026-01-01T00:00:00Z";
    // Batches of at most 5,000 bytes: four rows of ~1 KB each at most.
    let good: String = (0..600).map(|i| line(i, now)).collect();
    let trips = proxy.received(b'Z');
    assert_eq!(history.import_table(&options, good.as_bytes()).unwrap(), 600);
    assert!(proxy.received(b'Z') - trips >= 150, "batches over max_batch_bytes");
    assert_eq!(history.message_count().unwrap(), 600);

    let stopped = |input: &[u8]| match history.import_table(&options, input) {
        Err(Error::Import { line, committed, source, .. }) => (line, committed, *source),
        other => panic!("expected an import error, got {other:?}"),
    };
    // A line of 10 MB is refused having kept no more of it than the limit.
    let long = format!("{}{}\n{}", line(0, now), "y".repeat(10 << 20), line(1, now));
    let (at, committed, err) = stopped(long.as_bytes());
    assert_eq!((at, committed), (2, 0));
    assert!(matches!(err, Error::TooLarge { size, .. } if size == 10 << 20), "{err:?}");
    // Far in the future, or past what a timestamp holds: named, refused.
    let fresh = TempTable::new("import_dates");
    let target = F::open("s", &database_url(), fresh.options()).unwrap();
    for date in ["9999-12-31T23:59:59Z", "2126-01-01T00:00:00Z"] {
        let input: String = (0..5).map(|i| line(i, now)).chain([line(9, date)]).collect();
        match target.import_table(&fresh.options(), input.as_bytes()) {
            Err(Error::Import { line: 6, committed: 0, source, .. }) => {
                assert!(source.to_string().contains("created_at"), "{source}");
            }
            other => panic!("{date}: expected an import error, got {other:?}"),
        }
    }
    assert_eq!(target.message_count().unwrap(), 0, "nothing of the batch was stored");
    // What earlier batches stored is counted: 500 rows a batch here.
    let many: String = (0..700).map(|i| line(i, now)).chain(["not json\n".into()]).collect();
    match target.import_table(&fresh.options(), many.as_bytes()) {
        Err(Error::Import { line: 701, committed: 500, .. }) => {}
        other => panic!("expected an import error at line 701, got {other:?}"),
    }
    assert_eq!(target.message_count().unwrap(), 500);
    // Not UTF-8.
    let (at, _, err) = stopped(b"\n\xff\xfe\n");
    assert_eq!(at, 2);
    assert!(matches!(err, Error::InvalidMessage(_)), "{err:?}");

    // 1,000 levels deep: exported, and imported again as it was.
    let mut deep = json!("bottom");
    for _ in 0..1000 {
        deep = json!({"d": deep});
    }
    let deep = Message::human("deep").with_additional_kwarg("deep", deep);
    let from = TempTable::new("import_deep_from");
    let source = F::open("deep", &database_url(), from.options()).unwrap();
    source.add_message(&deep).unwrap();
    let lines = source.export_session().unwrap();
    let to = TempTable::new("import_deep_to");
    let copy = F::open("deep", &database_url(), to.options()).unwrap();
    assert_eq!(copy.import_table(&to.options(), &lines).unwrap(), 1);
    assert_eq!(copy.entries().unwrap(), source.entries().unwrap());
}

pub fn a_server_that_accepts_but_never_answers_times_out_within_the_connect_timeout<F: Face>() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "postgresql://root@127.0.0.1:{}/test",
        silent.local_addr().unwrap().port()
    );
    let options = EngineOptions::default()
        .connect_timeout(Duration::from_millis(500))
        .checkout_timeout(Duration::from_secs(5));
    let started = Instant::now();
    match F::ping(&url, options) {
        Err(Error::Connection { cause, .. }) => assert!(cause.contains("timed out"), "{cause}"),
        other => panic!("expected a connection error, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

pub fn without_table_creation_a_missing_table_is_an_error<F: Face>() {
    let table = TempTable::new("nocreate");
    let options = table.options().create_table(false);
    let history = F::open("s", &database_url(), options).unwrap();
    match history.add_user_message("nowhere to go") {
        Err(err) => assert_eq!(
            err.code(),
            Some(&langchain_cockroachdb::SqlState::UNDEFINED_TABLE),
            "{err}"
        ),
        Ok(()) => panic!("a table was created although create_table is false"),
    }
    let exists: Option<String> =
        raw_query("SELECT to_regclass($1)::text", &[&table.qualified()])[0].get(0);
    assert_eq!(exists, None);
}

pub fn each_operation_is_one_round_trip<F: Face>() {
    if skip_unless_postgresql("pg_stat_database") {
        return;
    }
    // A database of its own, so that the server's transaction count is ours.
    let database = TempDatabase::new("lc_trips");
    let db = database.name.clone();
    // A backend reports its statistics when it exits: count after closing.
    let commits_after_close = || -> i64 {
        for _ in 0..100 {
            let open: i64 = raw_query(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1",
                &[&db],
            )[0]
            .get(0);
            if open == 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        raw_query("SELECT pg_stat_clear_snapshot()", &[]);
        raw_query(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = $1",
            &[&db],
        )[0]
        .get(0)
    };
    let proxy = Proxy::start();
    let open_one = || {
        let pool = EngineOptions::default().pool_size(1);
        F::open_pooled("s", &proxy.url(&db), HistoryOptions::default(), pool).unwrap()
    };
    let batch: Vec<Message> = (0..10).map(|i| Message::human(format!("b{i}"))).collect();
    let run_all = |history: &F| {
        history.add_user_message("one").unwrap();
        history.add_messages(&batch).unwrap();
        assert!(!history.messages().unwrap().is_empty());
        assert!(!history.last_messages(10).unwrap().is_empty());
        history.message_count().unwrap();
    };
    drop(open_one().clear()); // creates the table
    let commits_before = commits_after_close();
    let trips_before = proxy.sent(b'S') + proxy.sent(b'Q');

    let history = open_one();
    run_all(&history); // prepares the statements on this connection
    let sent = |k| proxy.sent(k);
    let before = ([b'P', b'Q', b'S', b'B'].map(sent), proxy.received(b'Z'));
    const ROUNDS: usize = 20;
    for _ in 0..ROUNDS {
        run_all(&history);
    }
    let ops = ROUNDS * 5;
    let after = ([b'P', b'Q', b'S', b'B'].map(sent), proxy.received(b'Z'));
    let delta = |i: usize| after.0[i] - before.0[i];
    assert_eq!(
        delta(0),
        0,
        "statements were parsed again: no prepared statement reuse"
    );
    assert_eq!(
        delta(1),
        0,
        "simple queries were sent (BEGIN/COMMIT, a ping, a table check)"
    );
    assert_eq!(delta(2), ops, "round trips (Sync) per operation");
    assert_eq!(delta(3), ops, "statements (Bind) per operation");
    assert_eq!(
        after.1 - before.1,
        ops,
        "server replies (ReadyForQuery) per operation"
    );

    // The server agrees: one transaction per round trip of this connection
    // (none wrapped in BEGIN/COMMIT or split in two), plus the one a backend
    // runs at start-up.
    drop(history);
    let trips = (proxy.sent(b'S') + proxy.sent(b'Q') - trips_before) as i64;
    assert_eq!(
        commits_after_close() - commits_before,
        trips + 1,
        "server transactions vs round trips"
    );
}
