//! Behaviour at the edges of the network, through the fault-injecting
//! proxy: cut handshakes, random cuts under load, replies lost after a
//! commit, a frozen peer. Written once over `Face`, run on both faces.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use langchain_cockroachdb::uuid::Uuid;
use langchain_cockroachdb::{
    EngineOptions, Error, HistoryOptions, Message, RetryPolicy, SessionFilter,
};

use crate::support::proxy::Proxy;
use crate::support::{Face, TempTable, database_url};

fn texts(messages: &[Message]) -> Vec<String> {
    messages.iter().map(|m| m.text().into_owned()).collect()
}

/// A connection cut in the middle of its handshake is that attempt's
/// failure: the operations waiting for a connection keep waiting, and the
/// pool opens another.
pub fn a_cut_handshake_fails_no_waiting_operation<F: Face>() {
    let table = TempTable::new("cut_handshake");
    let proxy = Proxy::start();
    proxy.cut_handshakes(1);
    let pool = EngineOptions::default().pool_size(2);
    let history = F::open_pooled("s", &proxy.test_url(), table.options(), pool).unwrap();
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let history = history.clone();
            std::thread::spawn(move || history.add_user_message(&format!("w{w}")))
        })
        .collect();
    for writer in writers {
        writer.join().unwrap().unwrap();
    }
    assert_eq!(
        proxy.cuts(),
        1,
        "no handshake was cut: the test proves nothing"
    );
    assert_eq!(table.count_rows("s"), 8);
    assert!(history.pool_state().failed_connects >= 1);
}

/// The load test of the issue: 2 % of the chunks clients send cut their
/// connection, before or after the server got them. Counts, not timings:
/// at most 0.1 % of operations fail, nothing is stored twice, nothing that
/// succeeded is lost, and each session keeps its order.
pub fn random_cuts_lose_and_duplicate_nothing_and_fail_almost_nothing<F: Face>() {
    const WRITERS: usize = 16;
    const EACH: usize = 125;
    let table = TempTable::new("random_cuts");
    let proxy = Proxy::start();
    let pool = EngineOptions::default().pool_size(8);
    let first: F = F::open_pooled("w0", &proxy.test_url(), table.options(), pool.clone()).unwrap();
    first.add_user_message("warm-up").unwrap();
    proxy.cut_at_random(0.02);
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let history = F::open_pooled(
                &format!("w{w}"),
                &proxy.test_url(),
                table.options(),
                pool.clone(),
            )
            .unwrap();
            std::thread::spawn(move || {
                let mut failed = Vec::new();
                for i in 0..EACH {
                    if let Err(err) = history.add_user_message(&format!("{w}-{i}")) {
                        failed.push((i, err.is_ambiguous(), err.to_string()));
                    }
                }
                failed
            })
        })
        .collect();
    let failures: Vec<(usize, usize, bool, String)> = writers
        .into_iter()
        .enumerate()
        .flat_map(|(w, t)| {
            t.join()
                .unwrap()
                .into_iter()
                .map(move |(i, ambiguous, text)| (w, i, ambiguous, text))
        })
        .collect();
    proxy.cut_at_random(0.0);
    assert!(
        proxy.cuts() >= 20,
        "only {} cuts: the test proves little",
        proxy.cuts()
    );
    let total = WRITERS * EACH;
    assert!(
        failures.len() * 1000 <= total,
        "{} of {total} operations failed: {failures:?}",
        failures.len()
    );
    let reader: F = F::open("w0", &database_url(), table.options()).unwrap();
    for w in 0..WRITERS {
        let session = F::open(&format!("w{w}"), &database_url(), table.options()).unwrap();
        let stored = texts(&session.messages().unwrap());
        let mut seen = HashMap::new();
        for text in &stored {
            *seen.entry(text.clone()).or_insert(0) += 1;
        }
        assert!(
            seen.values().all(|&n| n == 1),
            "w{w}: stored twice: {stored:?}"
        );
        let expected: Vec<String> = (0..EACH)
            .filter(|i| !failures.iter().any(|f| f.0 == w && f.1 == *i && !f.2))
            .map(|i| format!("{w}-{i}"))
            .collect();
        let stored: Vec<String> = stored.into_iter().filter(|t| t != "warm-up").collect();
        // Ambiguous failures may or may not be there; all else exactly.
        let kept: Vec<&String> = stored.iter().collect();
        let wanted: Vec<&String> = expected
            .iter()
            .filter(|t| {
                let i: usize = t.split('-').nth(1).unwrap().parse().unwrap();
                !failures.iter().any(|f| f.0 == w && f.1 == i) || kept.contains(t)
            })
            .collect();
        assert_eq!(kept, wanted, "w{w}: lost or out of order");
    }
    drop(reader);
    eprintln!(
        "random cuts: {} cuts, {} of {total} operations failed",
        proxy.cuts(),
        failures.len()
    );
}

/// With ids chosen before the first try, a caller may retry an add that
/// ended ambiguously: the message is stored exactly once.
pub fn a_caller_retry_after_an_ambiguous_error_stores_once<F: Face>() {
    let table = TempTable::new("caller_retry");
    let proxy = Proxy::start();
    let options = table.options().retry(RetryPolicy::none());
    let history = F::open("s", &proxy.test_url(), options).unwrap();
    history.add_user_message("first").unwrap();

    let warm_up = [(Uuid::new_v4(), Message::human("second"))];
    assert_eq!(history.add_messages_with_ids(&warm_up).unwrap(), 1); // prepared

    let turn = [(Uuid::new_v4(), Message::human("exactly once"))];
    proxy.cut_after_next_request();
    let err = history.add_messages_with_ids(&turn).unwrap_err();
    assert!(err.is_ambiguous() && err.is_connection(), "{err:?}");
    assert_eq!(proxy.cuts(), 1);
    // It was committed: the retry finds it there and stores nothing.
    assert_eq!(history.add_messages_with_ids(&turn).unwrap(), 0);
    assert_eq!(
        texts(&history.messages().unwrap()),
        ["first", "second", "exactly once"]
    );

    // A call that draws its own row ids is not repeatable as it is: its
    // error carries the ids, and the caller stores under them (the recipe
    // of `Error::Ambiguous`), exactly once.
    let turn = [Message::human("question"), Message::ai("answer")];
    history.add_messages(&turn[..]).unwrap(); // the statement prepared
    proxy.cut_after_next_request();
    let err = history.add_messages(&turn).unwrap_err();
    assert_eq!(proxy.cuts(), 2);
    let Error::Ambiguous { ids, repeatable, .. } = &err else {
        panic!("expected an ambiguous error, got {err:?}");
    };
    assert!(!repeatable && !err.is_retryable(), "{err:?}");
    assert_eq!(ids.len(), 2);
    let again: Vec<_> = ids.iter().copied().zip(turn.iter().cloned()).collect();
    assert_eq!(history.add_messages_with_ids(&again).unwrap(), 0); // it was stored
    assert_eq!(
        texts(&history.messages().unwrap()),
        [
            "first",
            "second",
            "exactly once",
            "question",
            "answer",
            "question",
            "answer"
        ]
    );

    // The same for a single message (its statement prepared first, on the
    // connection that replaced the cut one).
    history.add_user_message("one more").unwrap();
    proxy.cut_after_next_request();
    let err = history.add_user_message("once more").unwrap_err();
    let Error::Ambiguous { ids, .. } = err else {
        panic!("expected an ambiguous error, got {err:?}");
    };
    let again = [(ids[0], Message::human("once more"))];
    assert_eq!(history.add_messages_with_ids(&again).unwrap(), 0); // it was stored
    assert_eq!(table.count_rows("s"), 9);

    // A clear first reads the session's newest row: a cut there is a
    // connection error, and nothing is deleted.
    proxy.cut_after_next_request();
    let err = history.clear().unwrap_err();
    assert!(err.is_connection() && !err.is_ambiguous(), "{err:?}");
    assert_eq!(table.count_rows("s"), 9);
    // Its delete, cut after it was sent, may have been applied; a second
    // call would also clear what came meanwhile, so it is not repeatable.
    history.clear().unwrap(); // both statements prepared
    history.add_user_message("again").unwrap();
    proxy.cut_after_requests(2);
    let err = history.clear().unwrap_err();
    assert!(err.is_ambiguous() && !err.is_retryable(), "{err:?}");
}

/// Writers into one session of one engine, their inserts merged, through a
/// connection that is cut now and then: every message is stored once, each
/// writer's in its order; the cuts did fall on merged statements.
pub fn lost_replies_of_merged_writes_lose_and_duplicate_nothing<F: Face>() {
    const WRITERS: usize = 12;
    const EACH: usize = 40;
    let table = TempTable::new("merged_cuts");
    let proxy = Proxy::start();
    let pool = EngineOptions::default().pool_size(4);
    let history: F = F::open_pooled("s", &proxy.test_url(), table.options(), pool).unwrap();
    history.add_user_message("warm-up").unwrap();
    let binds_before = proxy.sent(b'B');
    proxy.cut_at_random(0.05);
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let history = history.clone();
            std::thread::spawn(move || {
                for i in 0..EACH {
                    let message = Message::human(format!("{w}-{i}"));
                    // The documented way to settle an ambiguity: the same
                    // ids, again while that is safe.
                    let mut stored = history.add_message(&message).map(drop);
                    while let Err(Error::Ambiguous { ids, .. }) = &stored {
                        let again = [(ids[0], message.clone())];
                        stored = loop {
                            match history.add_messages_with_ids(&again) {
                                Err(err) if err.is_retryable() => continue,
                                other => break other.map(drop),
                            }
                        };
                    }
                    stored.unwrap_or_else(|e| panic!("{w}-{i}: {e:?}"));
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    proxy.cut_at_random(0.0);
    assert!(proxy.cuts() > 0, "no connection was cut: the test proves nothing");
    let statements = proxy.sent(b'B') - binds_before;
    assert!(
        statements < WRITERS * EACH,
        "{statements} statements for {} writes: nothing was merged",
        WRITERS * EACH
    );
    let got = texts(&history.messages().unwrap());
    assert_eq!(got.len(), 1 + WRITERS * EACH, "lost or doubled");
    for w in 0..WRITERS {
        let mine: Vec<&String> = got.iter().filter(|t| t.starts_with(&format!("{w}-"))).collect();
        let expected: Vec<String> = (0..EACH).map(|i| format!("{w}-{i}")).collect();
        assert_eq!(mine, expected.iter().collect::<Vec<_>>(), "writer {w}");
    }
}

/// A delete whose reply was lost after the commit is retried, finds
/// nothing more, and still reports what went.
pub fn deletes_count_what_they_deleted_after_a_lost_reply<F: Face>() {
    let table = TempTable::new("lost_delete");
    let proxy = Proxy::start();
    let history = F::open("s", &proxy.test_url(), table.options()).unwrap();
    for i in 0..5 {
        history.add_user_message(&format!("m{i}")).unwrap();
    }
    // Both statements prepared on the connection first.
    history.delete_last(1).unwrap();
    history.delete_message(Uuid::new_v4()).unwrap();

    // delete_last finds the newest rows, then deletes them by id; the
    // delete's reply is lost after its commit, and its retry finds nothing.
    let before = proxy.cuts();
    proxy.cut_after_requests(2);
    assert_eq!(history.delete_last(2).unwrap(), 2);
    assert_eq!(proxy.cuts(), before + 1, "the delete was not cut");
    assert_eq!(texts(&history.messages().unwrap()), ["m0", "m1"]);

    // A delete by id, its reply lost after the commit.
    let id = history.entries().unwrap()[1].id;
    proxy.cut_after_next_request();
    match history.delete_message(id) {
        // Gone, but this call cannot know whether it or its lost try did it.
        Err(err) => assert!(err.is_ambiguous(), "{err:?}"),
        Ok(found) => panic!("expected an ambiguous outcome, got Ok({found})"),
    }
    assert_eq!(texts(&history.messages().unwrap()), ["m0"]);
}

/// `RetryPolicy::none()` is one attempt, also after a lost connection.
pub fn no_retry_policy_is_exactly_one_attempt<F: Face>() {
    let table = TempTable::new("one_try");
    let proxy = Proxy::start();
    let options = table.options().retry(RetryPolicy::none());
    let history = F::open("s", &proxy.test_url(), options).unwrap();
    history.add_user_message("first").unwrap();
    let connections = proxy.connections();
    proxy.cut_after_next_request();
    let err = history.messages().unwrap_err();
    assert!(err.is_connection() && !err.is_ambiguous(), "{err:?}");
    assert_eq!(
        proxy.connections(),
        connections,
        "a second attempt opened a connection"
    );
    assert_eq!(history.pool_state().retries, 0);
}

/// An engine-level call (listing, export, import, cleanup) runs with the
/// retries and the deadline of the `HistoryOptions` it is given, not the
/// engine's: a cut is retried under the engine's policy and is one attempt
/// under `RetryPolicy::none()`; a frozen peer fails at the options'
/// deadline, long before the engine's.
pub fn engine_calls_run_with_the_callers_deadline_and_retries<F: Face>() {
    let table = TempTable::new("engine_policy");
    let proxy = Proxy::start();
    let engine = EngineOptions::default()
        .pool_size(1)
        .operation_timeout(Duration::from_secs(30));
    let history = F::open_pooled("s", &proxy.test_url(), table.options(), engine).unwrap();
    history.add_user_message("m").unwrap();
    let export = table.export_table_lines(&history);

    let default = table.options();
    let once = table.options().retry(RetryPolicy::none());
    let filter = SessionFilter::default();
    let week = Duration::from_secs(7 * 24 * 3600);
    type Call<'a, F> = Box<dyn Fn(&F, &HistoryOptions) -> langchain_cockroachdb::Result<()> + 'a>;
    let calls: [(&str, Call<'_, F>); 5] = [
        (
            "list_sessions",
            Box::new(|h, o| h.list_sessions(o, &filter).map(drop)),
        ),
        (
            "export_jsonl",
            Box::new(|h, o| h.export_table(o, None).map(drop)),
        ),
        (
            "import_jsonl",
            Box::new(|h, o| h.import_table(o, &export).map(drop)),
        ),
        (
            "delete_messages_older_than",
            Box::new(|h, o| h.delete_messages_older_than(o, week).map(drop)),
        ),
        (
            "delete_sessions_idle_since",
            Box::new(|h, o| h.delete_sessions_idle_since(o, week).map(drop)),
        ),
    ];
    for (name, call) in &calls {
        call(&history, &default).unwrap(); // its statements prepared
        let before = history.pool_state().retries;
        proxy.cut_after_next_request();
        match call(&history, &default) {
            Ok(()) => {}
            // A write whose lost try may have been applied ran to its end,
            // but how many rows it stored or deleted is unknown: it says
            // so, and repeating it is safe.
            Err(e) if e.is_ambiguous() && e.is_retryable() => call(&history, &default).unwrap(),
            Err(e) => panic!("{name}: not retried: {e:?}"),
        }
        let retries = history.pool_state().retries;
        assert!(retries > before, "{name}: not retried");
        proxy.cut_after_next_request();
        let err = call(&history, &once).unwrap_err();
        assert!(err.is_connection(), "{name}: {err:?}");
        assert_eq!(history.pool_state().retries, retries, "{name} retried");
    }

    let quick = Duration::from_millis(300);
    let within = table.options().operation_timeout(quick);
    for (name, call) in &calls {
        call(&history, &default).unwrap(); // a connection open
        proxy.freeze();
        let started = Instant::now();
        // A write (import, the deletes) whose statement was sent is also
        // ambiguous: it may have been applied.
        match call(&history, &within) {
            Err(Error::Timeout(limit)) => assert_eq!(limit, quick, "{name}"),
            Err(Error::Ambiguous { source, .. }) if matches!(*source, Error::Timeout(_)) => {
                assert!(
                    matches!(*source, Error::Timeout(limit) if limit == quick),
                    "{name}"
                )
            }
            // An import says at which line it stopped.
            Err(Error::Import { line: 1, source, .. })
                if matches!(&*source, Error::Ambiguous { source, .. }
                    if matches!(**source, Error::Timeout(limit) if limit == quick)) => {}
            other => panic!("{name}: expected a timeout, got {other:?}"),
        }
        let elapsed = started.elapsed();
        assert!(
            elapsed < Duration::from_secs(5),
            "{name}: a 300 ms deadline took {elapsed:?}"
        );
        proxy.thaw();
    }
    assert_eq!(texts(&history.messages().unwrap()), ["m"]);
}

/// A peer that stops answering (the socket stays open) gives a typed
/// timeout within the operation's deadline, and the connection it froze on
/// is never handed out again.
pub fn a_frozen_peer_is_a_timeout_within_the_deadline<F: Face>() {
    let table = TempTable::new("frozen");
    let proxy = Proxy::start();
    crate::support::frozen::frozen_peer_through::<F>(&proxy, &proxy.test_url(), table.options());
}

/// Errors show the server's SQLSTATE and message, and keep the driver's
/// error as their source, for statements and for refused logins alike.
pub fn errors_carry_sqlstate_message_and_source<F: Face>() {
    let table = TempTable::new("errors");
    let options = table.options().create_table(false);
    let history = F::open("s", &database_url(), options).unwrap();
    let err = history.add_user_message("nowhere").unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("42P01") && text.contains("does not exist"),
        "{text}"
    );
    assert!(std::error::Error::source(&err).is_some());
    assert!(err.as_db_error().is_some() && !err.is_retryable() && !err.is_connection());

    let engine = EngineOptions::default().checkout_timeout(Duration::from_secs(2));
    let err = F::ping("postgresql://no_such_role@127.0.0.1:5432/test", engine).unwrap_err();
    assert!(matches!(err, Error::Connection { .. }), "{err:?}");
    assert!(err.is_auth() && err.is_connection(), "{err:?}");
    assert_eq!(err.code().map(|c| c.code()), Some("28000"), "{err:?}");
    assert!(std::error::Error::source(&err).is_some());
}

/// Each `sslmode` does what libpq's does: `disable` never asks for TLS;
/// `prefer` asks and goes on in plain text when the server has none;
/// `require` asks and fails, with a connection error, when it has none.
pub fn sslmode_is_negotiated_as_libpq_does<F: Face>() {
    let table = TempTable::new("sslmode");
    let engine = || {
        EngineOptions::default()
            .pool_size(1)
            .connect_timeout(Duration::from_secs(2))
            .operation_timeout(Duration::from_secs(5))
    };
    let round_trip = |url: &str| {
        let history = F::open_pooled("s", url, table.options(), engine())?;
        history.add_user_message("hello")?;
        let read = history.messages()?;
        history.clear()?;
        Ok::<_, Error>(read.len())
    };

    let proxy = Proxy::start();
    assert_eq!(round_trip(&proxy.url_with(&crate::support::database_name(), "disable")).unwrap(), 1);
    assert_eq!(proxy.tls_requests(), 0, "sslmode=disable asked for TLS");
    if !cfg!(feature = "tls") {
        // Without TLS, `prefer` cannot ask, and `require` is refused early.
        assert_eq!(round_trip(&proxy.url_with(&crate::support::database_name(), "prefer")).unwrap(), 1);
        assert_eq!(proxy.tls_requests(), 0, "asked for TLS without TLS");
        let err = round_trip(&proxy.url_with(&crate::support::database_name(), "require")).unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{err:?}");
        return;
    }

    // The test server speaks TLS.
    for mode in ["prefer", "require"] {
        let asked = proxy.tls_requests();
        assert_eq!(round_trip(&proxy.url_with(&crate::support::database_name(), mode)).unwrap(), 1);
        assert!(proxy.tls_requests() > asked, "sslmode={mode} never asked");
    }

    // A server without TLS.
    let proxy = Proxy::start();
    proxy.refuse_tls();
    assert_eq!(round_trip(&proxy.url_with(&crate::support::database_name(), "prefer")).unwrap(), 1);
    assert!(proxy.tls_requests() > 0);
    let started = Instant::now();
    let err = round_trip(&proxy.url_with(&crate::support::database_name(), "require")).unwrap_err();
    assert!(err.is_connection(), "{err:?}");
    assert!(err.to_string().contains("TLS"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a refused sslmode=require took {:?}",
        started.elapsed()
    );
}

/// `clear` deletes what the session held when the call began: its delete's
/// reply is lost after the commit, another writer adds a message while the
/// engine waits to retry, and the retry leaves that message.
pub fn a_retried_clear_keeps_what_others_wrote_meanwhile<F: Face>() {
    let table = TempTable::new("clear_retry");
    let proxy = std::sync::Arc::new(Proxy::start());
    let backoff = RetryPolicy::default().initial_backoff(Duration::from_millis(400));
    let options = table.options().retry(backoff);
    let pool = EngineOptions::default().pool_size(1);
    let history = F::open_pooled("s", &proxy.test_url(), options, pool).unwrap();
    // Both statements of a clear prepared, so that each is one request.
    history.add_user_message("warm").unwrap();
    history.clear().unwrap();
    history.add_user_message("before").unwrap();
    let other = F::open("s", &database_url(), table.options()).unwrap();
    let cuts = proxy.cuts();
    let writer = std::thread::spawn({
        let proxy = std::sync::Arc::clone(&proxy);
        move || {
            let until = Instant::now() + Duration::from_secs(5);
            while proxy.cuts() == cuts && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(1));
            }
            other.add_user_message("meanwhile").unwrap();
        }
    });
    // The lookup of the newest row, then the delete, whose reply is lost.
    proxy.cut_after_requests(2);
    history.clear().unwrap();
    writer.join().unwrap();
    assert_eq!(proxy.cuts(), cuts + 1, "the delete was not cut");
    assert_eq!(texts(&history.messages().unwrap()), ["meanwhile"]);
}

/// The idle-session cleanup deletes sessions whole, the longest idle first:
/// cut after any number of its statements, every session is all there or
/// all gone, and those gone are the oldest.
pub fn an_interrupted_idle_cleanup_leaves_whole_sessions<F: Face>() {
    for activity_index in [false, true] {
        let table = TempTable::new("idle_whole");
        let proxy = Proxy::start();
        let options = table
            .options()
            .activity_index(activity_index)
            .delete_batch_size(10)
            .retry(RetryPolicy::none());
        let history = F::open("fresh", &proxy.test_url(), options.clone()).unwrap();
        history.add_user_message("keep").unwrap();
        // Seven rows each, `s0` idle longest; `active` has old rows and a
        // new one, and stays whole.
        let fill = || {
            crate::support::raw_execute(&format!(
                "DELETE FROM {t} WHERE session_id <> 'fresh';
                 INSERT INTO {t} (session_id, message, created_at)
                 SELECT s, '{{\"type\": \"human\", \"data\": {{\"content\": \"x\"}}}}',
                        now() - (90 - i) * interval '1 day' + r * interval '1 second'
                 FROM generate_series(0, 5) AS i, LATERAL (SELECT 's' || i AS s) AS n,
                      generate_series(1, 7) AS r;
                 INSERT INTO {t} (session_id, message, created_at)
                 SELECT 'active', '{{\"type\": \"human\", \"data\": {{\"content\": \"x\"}}}}',
                        now() - interval '100 days' + r * interval '1 second'
                 FROM generate_series(1, 7) AS r;
                 INSERT INTO {t} (session_id, message) VALUES
                 ('active', '{{\"type\": \"human\", \"data\": {{\"content\": \"new\"}}}}')",
                t = table.qualified()
            ))
        };
        let counts = || -> HashMap<String, i64> {
            crate::support::raw_query(
                &format!("SELECT session_id, count(*) FROM {} GROUP BY 1", table.qualified()),
                &[],
            )
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect()
        };
        let month = Duration::from_secs(30 * 24 * 3600);
        let mut partial = 0;
        for n in 1..20 {
            fill();
            proxy.cut_after_requests(n);
            let done = history.delete_sessions_idle_since(&options, month);
            proxy.cut_after_requests(0);
            let left = counts();
            assert_eq!((left["fresh"], left["active"]), (1, 8), "after {n} requests");
            let gone: Vec<usize> = (0..6).filter(|i| !left.contains_key(&format!("s{i}"))).collect();
            for i in 0..6 {
                let rows = left.get(&format!("s{i}")).copied().unwrap_or(0);
                assert!(rows == 0 || rows == 7, "s{i} has {rows} rows after {n} requests");
            }
            assert_eq!(gone, (0..gone.len()).collect::<Vec<_>>(), "not the oldest first");
            match done {
                Ok(deleted) => {
                    assert_eq!((deleted, gone.len()), (42, 6), "after {n} requests");
                    break;
                }
                Err(_) if (1..6).contains(&gone.len()) => partial += 1,
                Err(_) => {}
            }
        }
        assert!(partial > 0, "no cut fell between the deletes");
    }
}
