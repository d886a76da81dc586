//! Watching a session, on every face: each message exactly once whatever
//! the writers and their commit order, resumed from a cursor anywhere,
//! deletions told, one connection and no query per idle watch, and a
//! catch-up after the hub's connection is lost.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use langchain_cockroachdb::uuid::Uuid;
use langchain_cockroachdb::{
    EngineOptions, Error, Message, WatchCursor, WatchEvent, WatchFrom, WatchOptions,
};

use crate::support::cockroach::Mode;
use crate::support::proxy::Proxy;
use crate::support::{
    Face, TempTable, Watcher, database_url, on_cockroachdb, raw_client, raw_execute, raw_query,
    runtime, skip_unless_cockroachdb, skip_unless_postgresql, with_server_options,
};

/// How long a test waits for an event that must come.
pub const COMES: Duration = Duration::from_secs(15);

/// The events of `watch` until none comes for `quiet`.
pub fn until_quiet(watch: &mut Watcher, quiet: Duration) -> Vec<WatchEvent> {
    let mut events = Vec::new();
    while let Some(event) = watch.next_timeout(quiet).expect("the watch reads") {
        events.push(event);
    }
    events
}

/// The next `n` events of `watch`, each within `COMES`.
pub fn next_events(watch: &mut Watcher, n: usize) -> Vec<WatchEvent> {
    (0..n)
        .map(|i| {
            watch
                .next_timeout(COMES)
                .expect("the watch reads")
                .unwrap_or_else(|| panic!("event {i} of {n} did not come"))
        })
        .collect()
}

/// Waits until the session of `history` holds `n` final messages: a watch
/// from the beginning delivers a row only once it is final, and other
/// tests' open transactions may hold a row written just now back a while
/// (on PostgreSQL a row is final once every older writing transaction of
/// the server ended), which a watch from now then delivers.
pub fn wait_final<F: Face>(history: &F, n: usize) {
    let mut probe = history.watch(WatchFrom::Beginning).unwrap();
    next_events(&mut probe, n);
}

/// The events each of `watches` yields while `during` runs, all of them
/// waiting at once (a thread each) until none came for `quiet`.
pub fn all_wait(watches: &mut [Watcher], quiet: Duration, during: impl FnOnce()) -> Vec<Vec<WatchEvent>> {
    std::thread::scope(|scope| {
        let waiting: Vec<_> = watches
            .iter_mut()
            .map(|watch| scope.spawn(move || until_quiet(watch, quiet)))
            .collect();
        during();
        waiting.into_iter().map(|w| w.join().expect("a waiter")).collect()
    })
}

/// The texts of the messages among `events`; deletions as `-<count>`.
pub fn texts(events: &[WatchEvent]) -> Vec<String> {
    events
        .iter()
        .map(|event| match event {
            WatchEvent::Message { entry, .. } => entry.message.text().into_owned(),
            WatchEvent::Deleted { count, .. } => format!("-{count}"),
            other => panic!("an event this test does not know: {other:?}"),
        })
        .collect()
}

/// A history of `session` on an engine of its own, looking every
/// `interval`, whose connections say `application_name`.
pub fn engine_history<F: Face>(
    table: &TempTable,
    session: &str,
    url: &str,
    interval: Duration,
) -> F {
    let engine = EngineOptions::default()
        .pool_size(2)
        .watch_poll_interval(interval);
    F::open_pooled(session, url, table.options(), engine).expect("history opens")
}

/// The test server's URL, its connections named `name`.
fn named_url(name: &str) -> String {
    let url = database_url();
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}application_name={name}")
}

/// `INSERT` as Python's langchain-cockroachdb does it: the column
/// defaults, no ordering guard, no notification.
pub fn python_insert(table: &TempTable, session: &str, text: &str) -> String {
    format!(
        r#"INSERT INTO {} (session_id, message) VALUES ('{session}', '{{"type": "human", "data": {{"content": "{text}"}}}}')"#,
        table.qualified()
    )
}

pub fn a_watch_starts_now_at_the_beginning_or_after_a_cursor_from_another_engine<F: Face>() {
    let table = TempTable::new("watch_from");
    let writer: F = engine_history(&table, "s", &database_url(), Duration::from_secs(5));
    for i in 0..5 {
        writer.add_user_message(&format!("m{i}")).unwrap();
    }
    let paged = WatchOptions::default().page_size(2);
    let mut from_start = writer
        .watch_with_options(WatchFrom::Beginning, &paged)
        .unwrap();
    let first_two = next_events(&mut from_start, 2);
    assert_eq!(texts(&first_two), ["m0", "m1"]);
    // The cursor of an event in the middle of a page, as a client would
    // send it back, on an engine of another face's process.
    let cursor: WatchCursor = first_two[1].cursor().to_string().parse().unwrap();
    let other: F = engine_history(&table, "s", &database_url(), Duration::from_secs(5));
    let mut resumed = other.watch(WatchFrom::After(cursor)).unwrap();
    let mut from_now = other.watch(WatchFrom::Now).unwrap();
    writer.add_user_message("m5").unwrap();
    let rest = next_events(&mut resumed, 4);
    assert_eq!(texts(&rest), ["m2", "m3", "m4", "m5"]);
    assert_eq!(texts(&next_events(&mut from_now, 1)), ["m5"]);
    assert_eq!(texts(&next_events(&mut from_start, 4)), ["m2", "m3", "m4", "m5"]);
    for watch in [&mut from_start, &mut resumed, &mut from_now] {
        assert!(until_quiet(watch, Duration::from_millis(500)).is_empty(), "a repeat");
    }
    // Each message carries its row; a watch's position is after what it
    // yielded.
    let WatchEvent::Message { entry, cursor } = &rest[3] else {
        panic!("a message")
    };
    assert_eq!(entry.session_id, "s");
    assert_eq!(writer.entries().unwrap()[5].id, entry.id);
    assert_eq!(
        cursor.to_string().parse::<WatchCursor>().unwrap(),
        *cursor,
        "a cursor is its string"
    );
    let last = resumed.cursor();
    let mut after_last = other.watch(WatchFrom::After(last)).unwrap();
    assert!(until_quiet(&mut after_last, Duration::from_millis(300)).is_empty());

    // One call's messages are one transaction's: a cursor between them
    // resumes inside it.
    let batch = ["b1", "b2", "b3"].map(Message::human);
    writer.add_messages(&batch).unwrap();
    let two = next_events(&mut from_start, 2);
    assert_eq!(texts(&two), ["b1", "b2"]);
    let mut inside = other.watch(WatchFrom::After(two[1].cursor().clone())).unwrap();
    assert_eq!(texts(&until_quiet(&mut inside, Duration::from_millis(500))), ["b3"]);

    // What is refused: a cursor of the other server, a page of nothing.
    let foreign = match on_cockroachdb() {
        true => "p1_5",
        false => "c1_5",
    };
    let err = writer
        .watch(WatchFrom::After(foreign.parse().unwrap()))
        .err()
        .expect("a cursor of the other server");
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
    let err = writer
        .watch_with_options(WatchFrom::Now, &WatchOptions::default().page_size(0))
        .err()
        .expect("an empty page");
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
}

/// Two writers commit in the opposite order of their `created_at`: one
/// holds its transaction open (Python's insert, `created_at` its start)
/// while this crate's write commits a later `created_at`. A watch that
/// moved past the later row by `(created_at, id)` would never see the
/// earlier one; this one gets both, each once. Under READ COMMITTED and
/// SERIALIZABLE alike (the engine's sessions and the open transaction).
pub fn writers_committing_out_of_created_at_order_are_each_delivered_once<F: Face>() {
    for isolation in ["read committed", "serializable"] {
        out_of_order_under::<F>(isolation);
    }
}

fn out_of_order_under<F: Face>(isolation: &str) {
    let table = TempTable::new("watch_order");
    let setting = format!("-c default_transaction_isolation={}", isolation.replace(' ', "\\ "));
    let url = with_server_options(&database_url(), &setting);
    let effective: String = runtime().block_on(async {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("the URL connects");
        tokio::spawn(connection);
        let row = client.query_one("SHOW default_transaction_isolation", &[]).await;
        row.expect("the setting").get(0)
    });
    assert_eq!(effective, isolation, "the engine's sessions run {isolation}");
    let history: F = engine_history(&table, "s", &url, Duration::from_secs(5));
    history.add_user_message("before").unwrap();
    wait_final(&history, 1);
    let mut watch = history.watch(WatchFrom::Now).unwrap();
    let held = runtime().block_on(async {
        let client = raw_client().await;
        let insert = python_insert(&table, "s", "early");
        let begin = format!("BEGIN ISOLATION LEVEL {}", isolation.to_uppercase());
        client.batch_execute(&format!("{begin}; {insert}")).await.unwrap();
        client
    });
    std::thread::sleep(Duration::from_millis(50));
    if on_cockroachdb() {
        // This crate's write reads the session (its ordering guard), which
        // waits for the open transaction there: another Python write.
        raw_execute(&python_insert(&table, "s", "late"));
    } else {
        history.add_user_message("late").unwrap();
    }
    let before_commit = until_quiet(&mut watch, Duration::from_millis(1500));
    runtime().block_on(held.batch_execute("COMMIT")).unwrap();
    let order: Vec<String> = raw_query(
        &format!(
            "SELECT message->'data'->>'content' FROM {} WHERE session_id = 's' ORDER BY created_at",
            table.qualified()
        ),
        &[],
    )
    .iter()
    .map(|row| row.get(0))
    .collect();
    assert_eq!(order, ["before", "early", "late"], "not out of order");
    let mut seen = before_commit.clone();
    while seen.len() < 2 {
        seen.extend(next_events(&mut watch, 1));
    }
    seen.extend(until_quiet(&mut watch, Duration::from_millis(800)));
    let mut got = texts(&seen);
    match on_cockroachdb() {
        // Committed first, delivered first.
        true => assert_eq!(texts(&before_commit), ["late"]),
        // Not final while the older transaction runs.
        false => assert!(before_commit.is_empty(), "{:?}", texts(&before_commit)),
    }
    got.sort();
    assert_eq!(got, ["early", "late"], "each exactly once");
    let mut again = history.watch(WatchFrom::Beginning).unwrap();
    let mut all = texts(&until_quiet(&mut again, Duration::from_millis(800)));
    all.sort();
    assert_eq!(all, ["before", "early", "late"]);
}

/// Writers at once, on two engines of this face and as Python writes
/// (some in transactions held open a while), on one session: a watch
/// reading small pages as they come gets every message exactly once.
pub fn concurrent_writers_are_watched_exactly_once<F: Face>() {
    let table = TempTable::new("watch_many_writers");
    let interval = Duration::from_millis(200);
    let engines: Vec<F> = (0..2)
        .map(|_| engine_history(&table, "s", &database_url(), interval))
        .collect();
    engines[0].add_user_message("first").unwrap();
    let options = WatchOptions::default().page_size(7);
    let mut watch = engines[0]
        .watch_with_options(WatchFrom::Beginning, &options)
        .unwrap();
    let (writers, each) = (4, 20);
    let threads: Vec<_> = (0..writers)
        .map(|w| {
            let history = engines[w % 2].clone();
            std::thread::spawn(move || {
                for i in 0..each {
                    history.add_user_message(&format!("w{w}-{i}")).unwrap();
                }
            })
        })
        .collect();
    let python = {
        let insert = |i: usize| python_insert(&table, "s", &format!("py-{i}"));
        let statements: Vec<String> = (0..each).map(insert).collect();
        std::thread::spawn(move || {
            runtime().block_on(async {
                let client = raw_client().await;
                for (i, insert) in statements.iter().enumerate() {
                    client.batch_execute(&format!("BEGIN; {insert}")).await.unwrap();
                    let held = Duration::from_millis(if i % 5 == 0 { 150 } else { 5 });
                    tokio::time::sleep(held).await;
                    client.batch_execute("COMMIT").await.unwrap();
                }
            })
        })
    };
    let expected = 1 + (writers + 1) * each;
    let mut seen: HashMap<String, usize> = HashMap::new();
    let until = Instant::now() + Duration::from_secs(60);
    while seen.values().sum::<usize>() < expected && Instant::now() < until {
        for text in texts(&watch.next_timeout(COMES).unwrap().into_iter().collect::<Vec<_>>()) {
            *seen.entry(text).or_default() += 1;
        }
    }
    threads.into_iter().for_each(|t| t.join().unwrap());
    python.join().unwrap();
    for text in texts(&until_quiet(&mut watch, Duration::from_millis(800))) {
        *seen.entry(text).or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered twice: {twice:?}");
    assert_eq!(seen.len(), expected, "delivered once each");
}

/// Python's rows are seen too, within the look interval; this crate's
/// writes notify (PostgreSQL) in the same statement, only when they
/// commit and store something.
pub fn other_programs_rows_come_and_only_committed_writes_notify<F: Face>() {
    let table = TempTable::in_new_schema("wpy", "watch_python");
    let history: F = engine_history(&table, "s", &database_url(), Duration::from_millis(300));
    let mut watch = history.watch(WatchFrom::Now).unwrap();
    raw_execute(&python_insert(&table, "s", "from python"));
    raw_execute(&python_insert(&table, "other", "not ours"));
    assert_eq!(texts(&next_events(&mut watch, 1)), ["from python"]);
    if skip_unless_postgresql("LISTEN/NOTIFY") {
        return;
    }
    // The channel, as any process derives it: FNV-1a of the quoted name.
    let hash = table
        .qualified()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
    let channel = format!("langchain_watch_{hash:016x}");
    let (listener, notes) = listen(&channel);
    let note = |within: Duration| notes.recv_timeout(within).ok();
    history.add_user_message("pushed").unwrap();
    assert_eq!(note(COMES).as_deref(), Some("s"));
    // One statement storing nothing notifies nothing.
    let id = Uuid::new_v4();
    history
        .add_messages_with_ids(&[(id, Message::human("once"))])
        .unwrap();
    assert_eq!(note(COMES).as_deref(), Some("s"));
    history
        .add_messages_with_ids(&[(id, Message::human("once"))])
        .unwrap();
    assert_eq!(note(Duration::from_millis(500)), None, "a write that stored nothing");
    // A statement that fails after its pg_notify ran rolls it back.
    // (The function goes with the test's schema.)
    raw_execute(&format!(
        "CREATE FUNCTION \"{schema}\".refuse() RETURNS trigger LANGUAGE plpgsql AS
         $$ BEGIN IF NEW.message->'data'->>'content' = 'boom' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$;
         CREATE TRIGGER refuse AFTER INSERT ON {t} FOR EACH ROW EXECUTE FUNCTION \"{schema}\".refuse()",
        schema = table.schema,
        t = table.qualified()
    ));
    let refused = history.add_messages(&[Message::human("ok"), Message::human("boom")]);
    assert!(refused.is_err(), "the trigger refuses the batch");
    assert_eq!(note(Duration::from_millis(500)), None, "a rolled-back write notified");
    history.add_user_message("after").unwrap();
    assert_eq!(note(COMES).as_deref(), Some("s"));
    drop(listener);
    let got = texts(&until_quiet(&mut watch, Duration::from_millis(800)));
    assert_eq!(got, ["pushed", "once", "after"]);
}

/// A raw client listening to `channel`, and the payloads it receives.
fn listen(channel: &str) -> (tokio_postgres::Client, std::sync::mpsc::Receiver<String>) {
    use tokio_postgres::AsyncMessage;
    let (sender, receiver) = std::sync::mpsc::channel();
    let client = runtime().block_on(async {
        let (client, mut connection) =
            tokio_postgres::connect(&database_url(), tokio_postgres::NoTls)
                .await
                .expect("a listening connection");
        tokio::spawn(async move {
            while let Some(Ok(message)) =
                std::future::poll_fn(|cx| connection.poll_message(cx)).await
            {
                if let AsyncMessage::Notification(note) = message {
                    let _ = sender.send(note.payload().to_owned());
                }
            }
        });
        client
            .batch_execute(&format!("LISTEN \"{channel}\""))
            .await
            .unwrap();
        client
    });
    (client, receiver)
}

pub fn deletions_are_told_with_their_count<F: Face>() {
    let table = TempTable::new("watch_deletes");
    let history: F = engine_history(&table, "s", &database_url(), Duration::from_millis(300));
    for text in ["a", "b", "c", "d"] {
        history.add_user_message(text).unwrap();
    }
    let mut watch = history.watch(WatchFrom::Beginning).unwrap();
    assert_eq!(texts(&next_events(&mut watch, 4)), ["a", "b", "c", "d"]);
    assert_eq!(history.delete_last(1).unwrap(), 1);
    assert_eq!(texts(&next_events(&mut watch, 1)), ["-1"]);
    // Another program's delete, and a message: both told.
    raw_execute(&format!(
        "DELETE FROM {} WHERE message->'data'->>'content' = 'a'",
        table.qualified()
    ));
    history.add_user_message("e").unwrap();
    let mut got = texts(&next_events(&mut watch, 2));
    got.sort();
    assert_eq!(got, ["-1", "e"]);
    history.clear().unwrap();
    assert_eq!(texts(&next_events(&mut watch, 1)), ["-3"]);
    // A watch from now counts what the session held when it began: its
    // final rows (a probe from the beginning has "f" once it is final;
    // other tests' open transactions may hold it back a while).
    history.add_user_message("f").unwrap();
    wait_final(&history, 1);
    let mut from_now = history.watch(WatchFrom::Now).unwrap();
    history.clear().unwrap();
    assert_eq!(texts(&next_events(&mut from_now, 1)), ["-1"]);
    // Written and deleted before the first watch read again: never told.
    assert!(until_quiet(&mut watch, Duration::from_millis(500)).is_empty());
}

/// Closing the engine ends its watches: each tells `Closed`, and no new
/// one starts.
pub fn a_closed_engine_ends_its_watches<F: Face>() {
    let table = TempTable::new("watch_closed");
    let history: F = engine_history(&table, "s", &database_url(), Duration::from_secs(5));
    let mut watch = history.watch(WatchFrom::Now).unwrap();
    history.close(Duration::from_secs(5)).unwrap();
    for _ in 0..2 {
        let err = watch.next_timeout(COMES).expect_err("the engine closed");
        assert!(matches!(err, Error::Closed), "{err:?}");
    }
    let err = history.watch(WatchFrom::Now).err().expect("a closed engine");
    assert!(matches!(err, Error::Closed), "{err:?}");
}

/// Backends of the test server named `name`, and of those, the hub's:
/// its last statement was a `LISTEN` or a look.
fn backends(name: &str) -> (i64, i64) {
    let row = &raw_query(
        "SELECT count(*), count(*) FILTER (WHERE query LIKE 'LISTEN%' OR query LIKE '%ANY($1::TEXT[])%')
         FROM pg_stat_activity WHERE application_name = $1",
        &[&name],
    )[0];
    (row.get(0), row.get(1))
}

/// Waits up to 5 s for `backends(name)` to be `expected`.
fn backends_become(name: &str, expected: (i64, i64)) {
    let until = Instant::now() + Duration::from_secs(5);
    while backends(name) != expected {
        assert!(
            Instant::now() < until,
            "backends of {name}: {:?}, not {expected:?}",
            backends(name)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Many watches of one engine share one connection of its own, and while
/// nothing happens they cost no query each: only the engine's look, one
/// statement per interval. A write wakes the watches of its session only;
/// a watch that is not consumed reads one page; dropping the watches
/// closes the connection, and dropping the engine everything.
pub fn many_watches_share_one_connection_and_idle_ones_cost_no_query<F: Face>() {
    if skip_unless_postgresql("pg_stat_activity, application_name") {
        return;
    }
    let table = TempTable::new("watch_many");
    let name = format!("watch_many_{}", &Uuid::new_v4().simple().to_string()[..8]);
    let proxy = Proxy::cockroach(Mode::new(64 << 20));
    let url = format!("{}&application_name={name}", proxy.test_url());
    let interval = Duration::from_millis(200);
    let history: F = engine_history(&table, "s0", &url, interval);
    for i in 0..10 {
        history.add_user_message(&format!("m{i}")).unwrap();
    }
    // Sessions of their own: "now" is where every row is final, and the
    // rows of a session just written may not be yet (other tests' open
    // transactions), which a watch from now then delivers.
    let mut watches: Vec<Watcher> = (1..=40)
        .map(|i| {
            let sibling = history.sibling(&format!("s{i}"), table.options()).unwrap();
            sibling.watch(WatchFrom::Now).unwrap()
        })
        .collect();
    let read = "LEFT JOIN page";
    let look = "ANY($1::TEXT[])";
    backends_become(&name, (history.pool_state().connections as i64 + 1, 1));
    let (reads, looks) = (proxy.mode().executed(read), proxy.mode().executed(look));
    // Every watch waits for its next event at once, as 40 clients would.
    let idle = all_wait(&mut watches, interval * 8, || {});
    let idle_looks = proxy.mode().executed(look) - looks;
    assert!(idle.iter().all(Vec::is_empty), "events from nowhere");
    assert_eq!(proxy.mode().executed(read), reads, "idle watches read");
    assert!((4..=12).contains(&idle_looks), "{idle_looks} looks in 8 intervals");
    // A write to a session nobody watches wakes no watch.
    let elsewhere = all_wait(&mut watches, interval * 3, || {
        history.add_user_message("m10").unwrap();
    });
    assert!(elsewhere.iter().all(Vec::is_empty));
    assert_eq!(proxy.mode().executed(read), reads, "a write elsewhere woke a watch");
    // A write to a watched session wakes its watch only, which reads until
    // the row is final (again 10 ms after, doubling up to the interval,
    // while other tests' open transactions hold it back), then stops.
    let first = history.sibling("s1", table.options()).unwrap();
    let woken = all_wait(&mut watches, Duration::from_millis(1500), || {
        first.add_user_message("m11").unwrap();
    });
    assert_eq!(texts(&woken[0]), ["m11"]);
    assert!(woken[1..].iter().all(Vec::is_empty), "another watch was told");
    let woken_reads = proxy.mode().executed(read) - reads;
    assert!(woken_reads >= 1, "the woken watch read");
    let after = all_wait(&mut watches, interval * 3, || {});
    assert!(after.iter().all(Vec::is_empty));
    assert_eq!(
        proxy.mode().executed(read) - reads,
        woken_reads,
        "reads went on after the message was delivered"
    );

    // Not consumed: one page read, the rest waits.
    let paged = WatchOptions::default().page_size(3);
    let before = proxy.mode().executed(read);
    let mut lazy = history
        .watch_with_options(WatchFrom::Beginning, &paged)
        .unwrap();
    std::thread::sleep(interval * 3);
    assert_eq!(proxy.mode().executed(read) - before, 1, "one page until consumed");
    assert_eq!(next_events(&mut lazy, 10).len(), 10);
    assert!(proxy.mode().executed(read) - before >= 4, "a page a read");

    let pool = history.pool_state().connections as i64;
    drop(watches);
    drop(lazy);
    backends_become(&name, (pool, 0));
    drop((history, first));
    backends_become(&name, (0, 0));
}

/// The hub's connection lost: it connects again, and every watch reads
/// what it was not told of meanwhile; notifications work on the new one.
pub fn after_the_hub_reconnects_each_watch_catches_up<F: Face>() {
    if skip_unless_postgresql("pg_terminate_backend") {
        return;
    }
    let table = TempTable::new("watch_reconnect");
    let name = format!("watch_re_{}", &Uuid::new_v4().simple().to_string()[..8]);
    // No look within the test: what comes, comes from the reconnection.
    let history: F = engine_history(&table, "s", &named_url(&name), Duration::from_secs(600));
    let mut watch = history.watch(WatchFrom::Now).unwrap();
    history.add_user_message("pushed").unwrap();
    assert_eq!(texts(&next_events(&mut watch, 1)), ["pushed"]);
    raw_execute(&python_insert(&table, "s", "unannounced"));
    assert!(
        until_quiet(&mut watch, Duration::from_millis(500)).is_empty(),
        "nothing tells of a Python write but a look"
    );
    let listener = || -> Vec<i32> {
        raw_query(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%'",
            &[&name],
        )
        .iter()
        .map(|row| row.get(0))
        .collect()
    };
    let before = listener();
    assert_eq!(before.len(), 1);
    raw_query("SELECT pg_terminate_backend($1)", &[&before[0]]);
    assert_eq!(texts(&next_events(&mut watch, 1)), ["unannounced"]);
    let after = listener();
    assert!(after.len() == 1 && after != before, "{before:?} then {after:?}");
    history.add_user_message("pushed again").unwrap();
    let started = Instant::now();
    assert_eq!(texts(&next_events(&mut watch, 1)), ["pushed again"]);
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// The same, the hub's connection cut by the network: the proxy cuts it
/// right after the `LISTEN` that a watch of a new table makes it send.
pub fn a_cut_hub_connection_is_followed_by_a_catch_up<F: Face>() {
    if skip_unless_postgresql("LISTEN/NOTIFY") {
        return;
    }
    let (first, second) = (TempTable::new("watch_cut_a"), TempTable::new("watch_cut_b"));
    let proxy = Proxy::start();
    let history: F = engine_history(&first, "s", &proxy.test_url(), Duration::from_secs(600));
    let other = history.sibling("s", second.options()).unwrap();
    other.engine_create_tables(&second.options()).unwrap();
    let mut watch = history.watch(WatchFrom::Now).unwrap();
    raw_execute(&python_insert(&first, "s", "unannounced"));
    assert!(until_quiet(&mut watch, Duration::from_millis(500)).is_empty());
    let connections = proxy.connections();
    // The new table's watch first checks its key column (`xact_id`): a
    // prepare and an execute on a pooled connection, two requests. The
    // next is the hub's LISTEN to the table: the pool has nothing to send
    // until it began.
    proxy.cut_after_requests(3);
    let _second_watch = other.watch(WatchFrom::Now).unwrap();
    assert_eq!(texts(&next_events(&mut watch, 1)), ["unannounced"]);
    assert_eq!(proxy.cuts(), 1);
    assert!(proxy.connections() > connections, "the hub connected again");
    history.add_user_message("pushed").unwrap();
    let started = Instant::now();
    assert_eq!(texts(&next_events(&mut watch, 1)), ["pushed"]);
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// CockroachDB has no notifications: every message comes by the engine's
/// look, within its interval, the crate's own and others' alike.
pub fn on_cockroachdb_watches_poll_at_the_engine_interval<F: Face>() {
    if skip_unless_cockroachdb("polling: no LISTEN/NOTIFY") {
        return;
    }
    let table = TempTable::new("watch_poll");
    let interval = Duration::from_millis(500);
    let history: F = engine_history(&table, "s", &database_url(), interval);
    let mut watch = history.watch(WatchFrom::Now).unwrap();
    let mut delays = HashMap::new();
    for text in ["ours", "python"] {
        let started = Instant::now();
        match text {
            "ours" => history.add_user_message(text).unwrap(),
            _ => raw_execute(&python_insert(&table, "s", text)),
        }
        assert_eq!(texts(&next_events(&mut watch, 1)), [text]);
        delays.insert(text, started.elapsed());
    }
    for (text, delay) in delays {
        assert!(delay < interval * 4, "{text} took {delay:?}");
    }
}
