//! Where CockroachDB fails differently from PostgreSQL, reproduced at the
//! wire by the proxy's CockroachDB mode (`cockroach.rs`) in front of the
//! real server: `40003` after a commit, `40001` before a statement, and
//! messages over `sql.conn.max_read_buffer_message_size`. Written once over
//! `Face`, run on both faces.

use std::time::Duration;

use langchain_cockroachdb::uuid::Uuid;
use langchain_cockroachdb::{EngineOptions, Error, Message, RetryPolicy, SqlState};

use crate::support::cockroach::{Fault, Mode};
use crate::support::proxy::Proxy;
use crate::support::{Face, TempTable, database_url, raw_execute, raw_query, skip_unless_cockroachdb};

fn quick() -> RetryPolicy {
    RetryPolicy::default()
        .max_attempts(3)
        .initial_backoff(Duration::from_millis(1))
}

/// `40003` once, after the statement committed: every write says what it
/// did, never "nothing" for its own work. Repeating under the same ids
/// (or what the error says) stores and deletes nothing twice.
pub fn an_ambiguous_result_is_never_reported_as_nothing_done<F: Face>() {
    let table = TempTable::new("crdb_40003");
    let proxy = Proxy::cockroach(Mode::new(16 << 20));
    let options = table.options().retry(quick());
    let history = F::open("s", &proxy.test_url(), options).unwrap();
    history.add_user_message("first").unwrap();
    let mode = proxy.mode();

    // Two new rows stored by the try whose answer was 40003: the retry
    // finds them there. Whether this call or an earlier one stored them no
    // answer tells: ambiguous, with the ids, repeatable.
    let turn = [
        (Uuid::new_v4(), Message::human("q")),
        (Uuid::new_v4(), Message::ai("a")),
    ];
    mode.inject(Fault::Ambiguous, "INSERT INTO", 1);
    match history.add_messages_with_ids(&turn) {
        Err(Error::Ambiguous {
            ids, repeatable, ..
        }) => {
            assert_eq!(ids, [turn[0].0, turn[1].0]);
            assert!(repeatable);
        }
        other => panic!("expected an ambiguous outcome with the ids, got {other:?}"),
    }
    assert_eq!(mode.injected(Fault::Ambiguous), 1, "no 40003 was sent");
    assert_eq!(table.count_rows("s"), 3);
    assert_eq!(history.add_messages_with_ids(&turn).unwrap(), 0);

    // A call that draws its own ids: settled by its retry, stored once.
    mode.inject(Fault::Ambiguous, "INSERT INTO", 1);
    history.add_messages(&[Message::human("once")]).unwrap();
    assert_eq!(table.count_rows("s"), 4);

    // A delete by id that went through: not `Ok(false)`.
    let id = history.entries().unwrap()[0].id;
    mode.inject(Fault::Ambiguous, "DELETE FROM", 1);
    match history.delete_message(id) {
        Err(err) => assert!(err.is_ambiguous() && err.is_retryable(), "{err:?}"),
        Ok(found) => panic!("expected an ambiguous outcome, got Ok({found})"),
    }
    assert_eq!(table.count_rows("s"), 3);
    assert!(!history.delete_message(id).unwrap(), "deleted twice");

    // The newest two: found first, so the count is known.
    mode.inject(Fault::Ambiguous, "DELETE FROM", 1);
    assert_eq!(history.delete_last(2).unwrap(), 2);
    assert_eq!(table.count_rows("s"), 1);

    // A cleanup whose batch went uncounted ran to its end, and says that
    // its total is unknown; again, it finds nothing left.
    let other = F::open("t", &proxy.test_url(), table.options()).unwrap();
    other.add_messages(&[Message::human("x"), Message::ai("y")]).unwrap();
    mode.inject(Fault::Ambiguous, "DELETE FROM", 1);
    let options = table.options().retry(quick());
    match history.delete_messages_older_than(&options, Duration::ZERO) {
        Err(err) => assert!(err.is_ambiguous() && err.is_retryable(), "{err:?}"),
        Ok(n) => panic!("expected an ambiguous total, got Ok({n})"),
    }
    assert_eq!(table.count_rows("s") + table.count_rows("t"), 0);
    let again = history.delete_messages_older_than(&options, Duration::ZERO);
    assert_eq!(again.unwrap(), 0);
}

/// `40003` on every try: the write is ambiguous, with its ids, and a caller
/// that repeats the call while `is_retryable()` (as the docs advise) stops
/// at once: nothing is stored twice.
pub fn an_ambiguous_result_on_every_try_is_never_a_plain_retryable_error<F: Face>() {
    let table = TempTable::new("crdb_40003_all");
    let proxy = Proxy::cockroach(Mode::new(16 << 20));
    let history = F::open("s", &proxy.test_url(), table.options().retry(quick())).unwrap();
    history.add_user_message("first").unwrap();
    proxy.mode().inject(Fault::Ambiguous, "INSERT INTO", 1000);

    let turn = [Message::human("question"), Message::ai("answer")];
    let mut calls = 0;
    let err = loop {
        calls += 1;
        match history.add_messages(&turn) {
            Err(err) if err.is_retryable() && calls < 5 => continue,
            other => break other.unwrap_err(),
        }
    };
    assert_eq!(calls, 1, "a retryable error for a write that was stored: {err:?}");
    let Error::Ambiguous {
        ids, repeatable, ..
    } = &err
    else {
        panic!("expected an ambiguous error, got {err:?}");
    };
    assert!(!repeatable && !err.is_retryable());
    assert_eq!(err.code(), Some(&SqlState::from_code("40003")));
    assert!(proxy.mode().injected(Fault::Ambiguous) >= 3, "each try met 40003");
    proxy.mode().clear();
    assert_eq!(table.count_rows("s"), 3, "stored twice");

    // The recipe of `Error::Ambiguous`: the same ids, exactly once.
    let again: Vec<_> = ids.iter().copied().zip(turn.iter().cloned()).collect();
    assert_eq!(history.add_messages_with_ids(&again).unwrap(), 0);
    assert_eq!(table.count_rows("s"), 3);
}

/// `40001` before a statement runs, with CockroachDB's text: retried, and
/// stored once; out of tries, the error keeps the server's SQLSTATE and
/// text and is safe to repeat.
pub fn a_retry_error_before_the_statement_is_retried<F: Face>() {
    let table = TempTable::new("crdb_40001");
    let proxy = Proxy::cockroach(Mode::new(16 << 20));
    let history = F::open("s", &proxy.test_url(), table.options().retry(quick())).unwrap();
    history.add_user_message("first").unwrap();
    proxy.mode().inject(Fault::Retry, "INSERT INTO", 2);
    history.add_user_message("second").unwrap();
    assert_eq!(proxy.mode().injected(Fault::Retry), 2);
    assert_eq!(table.count_rows("s"), 2);

    let once = F::open("s", &proxy.test_url(), table.options().retry(RetryPolicy::none())).unwrap();
    proxy.mode().inject(Fault::Retry, "INSERT INTO", 1);
    let err = once.add_user_message("third").unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::T_R_SERIALIZATION_FAILURE), "{err:?}");
    assert!(err.to_string().contains("restart transaction"), "{err}");
    assert!(err.is_retryable() && !err.is_ambiguous(), "{err:?}");
    assert_eq!(table.count_rows("s"), 2, "a statement refused before it ran was stored");
}

/// A proxy that answers `SELECT version()` as CockroachDB, with its
/// default message limit of 16 MiB.
fn as_cockroachdb() -> Proxy {
    let mut mode = Mode::new(16 << 20);
    mode.pretend_version = true;
    Proxy::cockroach(mode)
}

/// Nothing is sent that CockroachDB must refuse for its size: with the
/// default options, a single call that cannot fit is refused before it is
/// sent, with the limit and the setting named; merged writes and import
/// batches are cut to fit.
pub fn nothing_is_sent_over_the_servers_message_limit<F: Face>() {
    let table = TempTable::new("crdb_size");
    let proxy = as_cockroachdb();
    // A batch limit as large as older defaults: only the protocol limit
    // stands in the way.
    let options = table.options().max_batch_bytes(64 << 20);
    let history = F::open("s", &proxy.test_url(), options.clone()).unwrap();
    history.add_user_message("first").unwrap();
    let big = [
        Message::human("x".repeat(9 << 20)),
        Message::ai("y".repeat(9 << 20)),
    ];
    match history.add_messages(&big) {
        Err(err @ Error::TooLarge { .. }) => {
            assert!(!err.is_retryable(), "{err:?}");
            let text = err.to_string();
            assert!(text.contains("max_read_buffer_message_size"), "{text}");
            assert!(text.contains(&(16usize << 20).to_string()), "{text}");
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert_eq!(proxy.mode().oversized(), 0, "a message over the limit was sent");
    assert_eq!(table.count_rows("s"), 1);

    // Writers into one session of one engine, merged: 6 x 3 MiB would be
    // one statement of 18 MiB.
    let writers: Vec<_> = (0..6)
        .map(|w| {
            let history = history.clone();
            std::thread::spawn(move || history.add_user_message(&format!("{w}{}", "z".repeat(3 << 20))))
        })
        .collect();
    for writer in writers {
        writer.join().unwrap().unwrap();
    }
    assert_eq!(table.count_rows("s"), 7);

    // An import of 20 MiB, read from the server directly.
    let source: F = F::open("s", &database_url(), options.clone()).unwrap();
    let lines = source.export_session().unwrap();
    assert!(lines.len() > 18 << 20);
    let copy = TempTable::new("crdb_size_copy");
    let import = copy.options().max_batch_bytes(64 << 20);
    assert_eq!(history.import_table(&import, &lines).unwrap(), 7);
    assert_eq!(proxy.mode().oversized(), 0, "a message over the limit was sent");
    assert!(proxy.mode().largest() <= 16 << 20);
}

/// A cluster whose limit was changed: the engine option says so, and it is
/// the one the engine keeps to.
pub fn the_message_limit_follows_the_engine_option<F: Face>() {
    let table = TempTable::new("crdb_limit");
    let proxy = Proxy::cockroach(Mode::new(1 << 20));
    let engine = EngineOptions::default().max_protocol_message_bytes(1 << 20);
    let history = F::open_pooled("s", &proxy.test_url(), table.options(), engine).unwrap();
    let batch: Vec<Message> = (0..3).map(|_| Message::human("x".repeat(400 << 10))).collect();
    match history.add_messages(&batch) {
        Err(Error::TooLarge { limit, .. }) => assert_eq!(limit, 1 << 20),
        other => panic!("expected TooLarge, got {other:?}"),
    }
    for message in &batch {
        history.add_message(message).unwrap();
    }
    assert_eq!(table.count_rows("s"), 3);
    assert_eq!(proxy.mode().oversized(), 0);
}

/// CockroachDB only: the row-level TTL is set when the table is created,
/// and a later creation (another process starting) changes nothing where
/// nothing differs, so that CockroachDB's TTL job is not made to skip its
/// run by a schema change at every start; a different TTL is set.
pub fn row_level_ttl_is_set_once<F: Face>() {
    if skip_unless_cockroachdb("row-level TTL") {
        return;
    }
    let table = TempTable::new("crdb_ttl");
    let proxy = Proxy::cockroach(Mode::new(16 << 20));
    let thirty_days = Duration::from_secs(30 * 24 * 3600);
    let options = table.options().ttl(thirty_days);
    let history = F::open("s", &proxy.test_url(), options.clone()).unwrap();
    history.add_user_message("hi").unwrap();
    assert_eq!(proxy.mode().executed("ttl_expiration_expression"), 1);
    let create = format!("SELECT create_statement FROM [SHOW CREATE TABLE {}]", table.qualified());
    let shown: String = raw_query(&create, &[])[0].get(0);
    assert!(shown.contains("ttl_expiration_expression"), "{shown}");

    // As every process does at its first use: nothing to change.
    history.engine_create_tables(&options).unwrap();
    assert_eq!(proxy.mode().executed("ALTER TABLE"), 1, "set again: {shown}");
    // An operator's schedule stays.
    raw_execute(&format!("ALTER TABLE {} SET (ttl_job_cron = '@weekly')", table.qualified()));
    history.engine_create_tables(&options).unwrap();
    assert_eq!(proxy.mode().executed("ALTER TABLE"), 1);
    // Another lifetime is a change.
    let week = table.options().ttl(thirty_days / 4);
    history.engine_create_tables(&week).unwrap();
    assert_eq!(proxy.mode().executed("ALTER TABLE"), 2);
    let shown: String = raw_query(&create, &[])[0].get(0);
    assert!(shown.contains("@weekly") && shown.contains("648000"), "{shown}");
    let diagnosis = history.diagnose(&week).unwrap();
    assert!(diagnosis.ttl_expiration.is_some(), "{diagnosis:?}");
}

/// CockroachDB only: the activity index is hash-sharded, and a diagnosis
/// reads `SHOW CREATE TABLE` and the newest full statistics.
pub fn cockroachdb_catalogs_and_the_sharded_index<F: Face>() {
    if skip_unless_cockroachdb("USING HASH, SHOW STATISTICS, SHOW CREATE TABLE") {
        return;
    }
    let table = TempTable::new("crdb_catalogs");
    let options = table.options().activity_index(true);
    let history = F::open("s", &database_url(), options.clone()).unwrap();
    history.add_messages(&[Message::human("a"), Message::ai("b")]).unwrap();
    let create = format!("SELECT create_statement FROM [SHOW CREATE TABLE {}]", table.qualified());
    let shown: String = raw_query(&create, &[])[0].get(0);
    assert!(shown.contains("USING HASH"), "{shown}");
    raw_execute(&format!("CREATE STATISTICS full_stats FROM {}", table.qualified()));
    let diagnosis = history.diagnose(&options).unwrap();
    assert!(diagnosis.activity_index && diagnosis.session_index, "{diagnosis:?}");
    assert_eq!(diagnosis.estimated_rows, Some(2), "{diagnosis:?}");
    // Ours, or a newer automatic one; never a partial one.
    let used = diagnosis.statistics.unwrap_or_default();
    assert!(!used.is_empty() && used != "__auto_partial__", "{used}");
}
