//! Behaviours every face must have, written once. `face_tests!(Type)` turns
//! each into a `#[test]` for that face.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use langchain_cockroachdb::{
    EngineOptions, Error, HistoryOptions, Message, MessageType, RetryPolicy,
};
use serde_json::{json, Value};

use super::proxy::Proxy;
use super::{
    database_url, fixture_cases, raw_client, raw_execute, raw_query, runtime, Face, TempTable,
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
    let expected = [
        ("id", "uuid", "NO"),
        ("session_id", "text", "NO"),
        ("message", "jsonb", "NO"),
        ("created_at", "timestamp with time zone", "YES"),
    ];
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

pub fn sessions_are_isolated<F: Face>() {
    let table = TempTable::new("isolated");
    let alice: F = open(&table, "user-123:support:ticket-456");
    let bob: F = open(&table, "user-456");
    alice.add_user_message("What's the weather?").unwrap();
    bob.add_user_message("Tell me a joke").unwrap();
    alice.add_ai_message("Sunny").unwrap();
    assert_eq!(
        texts(&alice.messages().unwrap()),
        ["What's the weather?", "Sunny"]
    );
    assert_eq!(texts(&bob.messages().unwrap()), ["Tell me a joke"]);
    alice.clear().unwrap();
    assert!(alice.messages().unwrap().is_empty());
    assert_eq!(texts(&bob.messages().unwrap()), ["Tell me a joke"]);
}

pub fn custom_table_and_schema<F: Face>() {
    let table = TempTable::in_schema("lc_test_schema", "custom");
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

pub fn every_message_type_and_metadata<F: Face>() {
    let table = TempTable::new("types");
    let history: F = open(&table, "s");
    let call = json!({"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1", "type": "tool_call"});
    let sent = vec![
        Message::system("You are a helpful assistant"),
        Message::human("What's the capital of France?")
            .with_additional_kwarg("timestamp", "2024-01-15T10:30:00"),
        Message::ai("The capital of France is Paris.")
            .with_additional_kwarg("model", "gpt-4")
            .with_additional_kwarg("tokens", 12),
        Message::ai("").with_tool_calls(vec![call]).unwrap(),
        Message::tool("call_1", "21 degrees"),
        Message::function("get_weather", "Weather: 72°F, Sunny"),
        Message::chat("critic", "Too long."),
        Message::remove("msg-1"),
        Message::human(vec![
            json!({"type": "text", "text": "What is in this image?"}),
            json!({"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}),
        ]),
    ];
    for message in &sent {
        history.add_message(message).unwrap();
    }
    let got = history.messages().unwrap();
    assert_eq!(got, sent);
    assert_eq!(got[2].additional_kwargs()["model"], "gpt-4");
    assert_eq!(got[3].tool_calls()[0]["args"]["city"], "Paris");
    assert_eq!(got[5].name(), Some("get_weather"));
}

pub fn batch_keeps_its_order<F: Face>() {
    let table = TempTable::new("batch");
    let history: F = open(&table, "s");
    history.add_user_message("before").unwrap();
    let batch: Vec<Message> = (0..50)
        .map(|i| {
            if i % 2 == 0 {
                Message::human(format!("m{i}"))
            } else {
                Message::ai(format!("m{i}"))
            }
        })
        .collect();
    history.add_messages(&batch).unwrap();
    history.add_user_message("after").unwrap();
    let mut expected = vec!["before".to_string()];
    expected.extend((0..50).map(|i| format!("m{i}")));
    expected.push("after".into());
    assert_eq!(texts(&history.messages().unwrap()), expected);
    history.add_messages(&[]).unwrap();
    assert_eq!(table.count_rows("s"), 52);
}

pub fn quick_single_adds_keep_their_order<F: Face>() {
    let table = TempTable::new("quick");
    let history: F = open(&table, "s");
    // A big batch first: its rows reach furthest ahead in time, so the
    // single adds right after it must still sort after it.
    let batch: Vec<Message> = (0..2000).map(|i| Message::human(format!("b{i}"))).collect();
    history.add_messages(&batch).unwrap();
    for i in 0..200 {
        history.add_user_message(&format!("q{i}")).unwrap();
    }
    let got = texts(&history.messages().unwrap());
    let expected: Vec<String> = (0..2000)
        .map(|i| format!("b{i}"))
        .chain((0..200).map(|i| format!("q{i}")))
        .collect();
    assert_eq!(got, expected);
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
    let table = TempTable::new("python");
    let history: F = open(&table, "s");
    history.add_user_message("creates the table").unwrap();
    history.clear().unwrap();
    // What langchain-cockroachdb (Python) writes: a plain INSERT relying on
    // the column defaults, one row per message.
    for (i, dict) in [
        json!({"type": "human", "data": {"content": "minimal"}}),
        json!({"type": "ai", "data": {"content": "with extras", "unknown_field": 1,
               "additional_kwargs": {"huge": 123456789012345678901234567890_u128, "exp": 1e-7}}}),
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
    assert!(
        got[1].to_json().contains("123456789012345678901234567890"),
        "{}",
        got[1].to_json()
    );

    // Written back, the unknown field and the 97-bit integer are still there.
    history.clear().unwrap();
    history.add_message(&got[1]).unwrap();
    let kept: bool = raw_query(
        &format!(
            "SELECT message->'data'->'unknown_field' = '1'::jsonb
                AND message->'data'->'additional_kwargs'->'huge' = '123456789012345678901234567890'::jsonb
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
        Err(Error::MalformedRow { id: bad, reason }) => {
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
    let small = F::open(
        "s",
        &url,
        HistoryOptions {
            max_message_bytes: 1000,
            ..table.options()
        },
    )
    .unwrap();
    let oversized = [Message::human("ok"), Message::human("x".repeat(2000))];
    match small.add_messages(&oversized) {
        Err(Error::InvalidMessage(reason)) => assert!(reason.contains("2"), "{reason}"),
        other => panic!("expected InvalidMessage, got {other:?}"),
    }
    assert_eq!(texts(&history.messages().unwrap()), ["kept"]);
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
    let options = EngineOptions {
        connect_timeout: Duration::from_secs(1),
        checkout_timeout: Duration::from_secs(2),
        ..EngineOptions::default()
    };
    let started = Instant::now();
    match F::ping("postgresql://root@127.0.0.1:1/test", options) {
        Err(Error::Connection { target, cause }) => {
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
    let options = EngineOptions {
        checkout_timeout: Duration::from_secs(2),
        ..EngineOptions::default()
    };
    match F::ping("postgresql://no_such_role@127.0.0.1:5432/test", options) {
        Err(Error::Connection { target, cause }) => {
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

pub fn serialization_failures_are_retried_and_nothing_is_doubled<F: Face>() {
    let table = TempTable::new("hot");
    // SERIALIZABLE, as CockroachDB always runs: concurrent inserts that read
    // the same session's newest row conflict and get 40001.
    let url = url_with("options=-c%20default_transaction_isolation%3Dserializable");
    let patient = RetryPolicy {
        max_attempts: 50,
        ..RetryPolicy::default()
    };
    let options = HistoryOptions {
        retry: Some(patient),
        ..table.options()
    };
    let history = F::open_pooled(
        "hot",
        &url,
        options,
        EngineOptions {
            pool_size: 8,
            ..Default::default()
        },
    )
    .unwrap();
    history.add_user_message("warm-up").unwrap();
    let writers: Vec<_> = (0..8)
        .map(|w| {
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
    assert!(
        history.retries() > 0,
        "no 40001 was met: the test proves nothing"
    );
}

pub fn killed_backends_are_survived<F: Face>() {
    let table = TempTable::new("killed");
    let app = format!("kill_{}", &table.name[table.name.len() - 10..]);
    let history = F::open(
        "s",
        &url_with(&format!("application_name={app}")),
        table.options(),
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
    let history = F::open("s", &proxy.url("test"), table.options()).unwrap();
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

pub fn an_exhausted_pool_times_out_clearly_and_recovers<F: Face>() {
    let table = TempTable::new("exhausted");
    let engine = EngineOptions {
        pool_size: 1,
        checkout_timeout: Duration::from_millis(300),
        ..Default::default()
    };
    let history = F::open_pooled("s", &database_url(), table.options(), engine).unwrap();
    history.add_user_message("table made").unwrap();

    // Hold the table locked, so an operation holds the only connection.
    let locker = runtime().block_on(raw_client());
    runtime()
        .block_on(locker.batch_execute(&format!(
            "BEGIN; LOCK TABLE {} IN ACCESS EXCLUSIVE MODE",
            table.qualified()
        )))
        .unwrap();
    let stuck = {
        let history = history.clone();
        std::thread::spawn(move || history.add_user_message("waited"))
    };
    std::thread::sleep(Duration::from_millis(200));
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

pub fn several_hosts_fail_over_to_one_that_answers<F: Face>() {
    let table = TempTable::new("hosts");
    let url = "postgresql://root@127.0.0.1:1,127.0.0.1:5432/test?sslmode=disable";
    let history = F::open("s", url, table.options()).unwrap();
    history.add_user_message("via the second host").unwrap();
    assert_eq!(texts(&history.messages().unwrap()), ["via the second host"]);

    let options = EngineOptions {
        connect_timeout: Duration::from_secs(1),
        ..Default::default()
    };
    match F::ping("postgresql://root@127.0.0.1:1,127.0.0.1:2/test", options) {
        Err(Error::Connection { target, .. }) => assert_eq!(target, "127.0.0.1:1,127.0.0.1:2"),
        other => panic!("expected a connection error, got {other:?}"),
    }
}

/// One `#[test]` per case above, for the face `$face`.
#[macro_export]
macro_rules! face_tests {
    ($face:ty) => {
        $crate::face_tests!(@each $face;
            basic_usage,
            table_is_created_on_first_use_with_the_guide_schema,
            create_and_drop_tables,
            concurrent_creates_of_one_table_all_succeed,
            sessions_are_isolated,
            custom_table_and_schema,
            every_message_type_and_metadata,
            batch_keeps_its_order,
            quick_single_adds_keep_their_order,
            unicode_and_a_one_megabyte_message,
            every_fixture_case_is_stored_as_langchain_writes_it,
            rows_written_by_python_are_read,
            a_malformed_row_is_an_error_naming_it,
            bad_input_is_refused_and_changes_nothing,
            concurrent_writers_on_different_sessions,
            a_history_is_cheap_to_clone_and_share,
            an_unreachable_server_is_a_connection_error_naming_it,
            serialization_failures_are_retried_and_nothing_is_doubled,
            killed_backends_are_survived,
            a_reply_lost_after_commit_does_not_duplicate_the_write,
            an_exhausted_pool_times_out_clearly_and_recovers,
            several_hosts_fail_over_to_one_that_answers,
        );
    };
    (@each $face:ty; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                support::cases::$case::<$face>();
            }
        )*
    };
}
