//! A history's operations in the application's own transaction
//! (`history.on(&tx)`), on both faces and the real server: a turn and a
//! token-usage row committed together or not at all, reads that see the
//! uncommitted turn, the ordering guard, refusals that change nothing and
//! leave the transaction usable, and serialization failures returned as
//! they come, never retried.
#![cfg(any(feature = "blocking", feature = "async"))]

mod support;

use langchain_cockroachdb::tokio_postgres::IsolationLevel;
use langchain_cockroachdb::tokio_postgres::types::ToSql;
use langchain_cockroachdb::uuid::Uuid;
use langchain_cockroachdb::{
    EngineOptions, Error, Message, Page, PageCursor, Result, SqlState, StoredMessage,
};
use support::cockroach::{Fault, Mode};
use support::proxy::Proxy;
use support::{Face, TempTable, database_url, on_cockroachdb, raw_execute, raw_query};

/// How a transaction of the test's own ends.
#[derive(Clone, Copy, Debug)]
pub enum End {
    Commit,
    Rollback,
}

/// The view's operations as blocking calls, the same on both faces (each
/// call on a view of its own), and statements of the application's own on
/// the same connection or transaction. `tests/surface.rs` checks that
/// every operation of the view is here.
macro_rules! ops {
    ($(fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        pub trait Ops {
            /// A statement of the application's, in the same transaction.
            fn execute(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64>;
            /// Two counts on one view: its statement is prepared once.
            fn count_twice(&mut self) -> Result<(u64, u64)>;
            $(fn $name(&mut self, $($arg: $ty),*) -> Result<$ret>;)*
        }

        #[cfg(feature = "blocking")]
        impl<C: postgres::GenericClient> Ops for Blocking<'_, C> {
            fn execute(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64> {
                Ok(self.client.execute(sql, params)?)
            }
            fn count_twice(&mut self) -> Result<(u64, u64)> {
                let mut view = self.history.on(&mut self.client);
                Ok((view.message_count()?, view.message_count()?))
            }
            $(fn $name(&mut self, $($arg: $ty),*) -> Result<$ret> {
                self.history.on(&mut self.client).$name($($arg),*)
            })*
        }

        #[cfg(feature = "async")]
        impl<C: tokio_postgres::GenericClient> Ops for Async<'_, C> {
            fn execute(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64> {
                Ok(support::runtime().block_on(self.client.execute(sql, params))?)
            }
            fn count_twice(&mut self) -> Result<(u64, u64)> {
                support::runtime().block_on(async {
                    let mut view = self.history.on(&self.client);
                    Ok((view.message_count().await?, view.message_count().await?))
                })
            }
            $(fn $name(&mut self, $($arg: $ty),*) -> Result<$ret> {
                support::runtime().block_on(self.history.on(&self.client).$name($($arg),*))
            })*
        }
    };
}

ops! {
    fn add_user_message(text: &str) -> ();
    fn add_ai_message(text: &str) -> ();
    fn add_message(message: &Message) -> ();
    fn add_messages(messages: &[Message]) -> ();
    fn add_messages_with_ids(messages: &[(Uuid, Message)]) -> u64;
    fn messages() -> Vec<Message>;
    fn entries() -> Vec<StoredMessage>;
    fn last_messages(n: usize) -> Vec<Message>;
    fn buffer_window(k: usize) -> Vec<Message>;
    fn message_count() -> u64;
    fn messages_page(cursor: Option<&PageCursor>, size: usize) -> Page;
    fn messages_page_back(cursor: Option<&PageCursor>, size: usize) -> Page;
    fn delete_last(n: usize) -> u64;
    fn clear() -> ();
}

/// A face's history on a connection of the test's own.
pub trait Own: Face {
    /// Runs `body` in a transaction on a new connection to `url`, begun
    /// at `isolation` (the server's default for `None`) and ended as `end`
    /// says; returns what `body` returned and what ending said.
    fn in_transaction<T>(
        &self,
        url: &str,
        isolation: Option<IsolationLevel>,
        end: End,
        body: impl FnOnce(&mut dyn Ops) -> T,
    ) -> (T, Result<()>);

    /// Runs `body` on a new connection to `url`, with no transaction of
    /// the test's: each statement commits alone.
    fn on_connection<T>(&self, url: &str, body: impl FnOnce(&mut dyn Ops) -> T) -> T;
}

#[cfg(feature = "blocking")]
pub struct Blocking<'h, C> {
    history: &'h langchain_cockroachdb::blocking::CockroachDBChatMessageHistory,
    client: C,
}

#[cfg(feature = "blocking")]
impl Own for langchain_cockroachdb::blocking::CockroachDBChatMessageHistory {
    fn in_transaction<T>(
        &self,
        url: &str,
        isolation: Option<IsolationLevel>,
        end: End,
        body: impl FnOnce(&mut dyn Ops) -> T,
    ) -> (T, Result<()>) {
        let mut client = postgres::Client::connect(url, postgres::NoTls).expect("a connection");
        let mut begin = client.build_transaction();
        if let Some(level) = isolation {
            begin = begin.isolation_level(level);
        }
        let tx = begin.start().expect("a transaction");
        let mut ops = Blocking {
            history: self,
            client: tx,
        };
        let out = body(&mut ops);
        let ended = match end {
            End::Commit => ops.client.commit(),
            End::Rollback => ops.client.rollback(),
        };
        (out, ended.map_err(Error::from))
    }

    fn on_connection<T>(&self, url: &str, body: impl FnOnce(&mut dyn Ops) -> T) -> T {
        let client = postgres::Client::connect(url, postgres::NoTls).expect("a connection");
        body(&mut Blocking {
            history: self,
            client,
        })
    }
}

#[cfg(feature = "async")]
pub struct Async<'h, C> {
    history: &'h langchain_cockroachdb::nonblocking::AsyncCockroachDBChatMessageHistory,
    client: C,
}

#[cfg(feature = "async")]
fn async_client(url: &str) -> tokio_postgres::Client {
    let rt = support::runtime();
    let (client, connection) = rt
        .block_on(tokio_postgres::connect(url, tokio_postgres::NoTls))
        .expect("a connection");
    rt.spawn(connection);
    client
}

#[cfg(feature = "async")]
impl Own for langchain_cockroachdb::nonblocking::AsyncCockroachDBChatMessageHistory {
    fn in_transaction<T>(
        &self,
        url: &str,
        isolation: Option<IsolationLevel>,
        end: End,
        body: impl FnOnce(&mut dyn Ops) -> T,
    ) -> (T, Result<()>) {
        let rt = support::runtime();
        let mut client = async_client(url);
        let mut begin = client.build_transaction();
        if let Some(level) = isolation {
            begin = begin.isolation_level(level);
        }
        let tx = rt.block_on(begin.start()).expect("a transaction");
        let mut ops = Async {
            history: self,
            client: tx,
        };
        let out = body(&mut ops);
        let ended = match end {
            End::Commit => rt.block_on(ops.client.commit()),
            End::Rollback => rt.block_on(ops.client.rollback()),
        };
        (out, ended.map_err(Error::from))
    }

    fn on_connection<T>(&self, url: &str, body: impl FnOnce(&mut dyn Ops) -> T) -> T {
        body(&mut Async {
            history: self,
            client: async_client(url),
        })
    }
}

fn texts(messages: &[Message]) -> Vec<String> {
    messages.iter().map(|m| m.text().into_owned()).collect()
}

/// A chat table made by the engine (as the caller must, before its
/// transactions use it), a history of session `s` in it, and a token-usage
/// table of the application's.
fn setup<F: Own>(test: &str, engine: EngineOptions) -> (TempTable, TempTable, F) {
    let (chat, usage) = (TempTable::new(test), TempTable::new("usage"));
    let history = F::open_pooled("s", &database_url(), chat.options(), engine).unwrap();
    history.engine_create_tables(&chat.options()).unwrap();
    raw_execute(&format!(
        "CREATE TABLE {} (session_id TEXT NOT NULL, prompt_tokens INT8 NOT NULL CHECK (prompt_tokens >= 0), completion_tokens INT8 NOT NULL)",
        usage.qualified()
    ));
    (chat, usage, history)
}

fn usage_insert(usage: &TempTable) -> String {
    format!("INSERT INTO {} VALUES ($1, $2, $3)", usage.qualified())
}

fn usage_rows(usage: &TempTable) -> i64 {
    raw_query(&format!("SELECT count(*) FROM {}", usage.qualified()), &[])[0].get(0)
}

/// The turn and its token usage go in one commit: inside the transaction
/// the turn is read back before it is committed; outside, nothing shows
/// until the commit (checked on PostgreSQL: on CockroachDB a read from
/// outside waits for the transaction); after it, both are there.
fn a_turn_and_its_token_usage_commit_together<F: Own>() {
    let (chat, usage, history) = setup::<F>("own_commit", EngineOptions::default());
    let turn = [
        Message::human("What is CockroachDB?"),
        Message::ai("A database."),
    ];
    let (inside, committed) = history.in_transaction(&database_url(), None, End::Commit, |tx| {
        tx.add_messages(&turn).unwrap();
        let inserted = tx.execute(&usage_insert(&usage), &[&"s", &12_i64, &7_i64]);
        assert_eq!(inserted.unwrap(), 1);
        if !on_cockroachdb() {
            assert_eq!(chat.count_rows("s"), 0, "seen outside before the commit");
            assert_eq!(usage_rows(&usage), 0);
        }
        (texts(&tx.messages().unwrap()), tx.message_count().unwrap())
    });
    committed.unwrap();
    assert_eq!(
        inside,
        (vec!["What is CockroachDB?".into(), "A database.".into()], 2)
    );
    assert_eq!(texts(&history.messages().unwrap()), inside.0);
    assert_eq!(usage_rows(&usage), 1);
}

/// Rolled back, by choice or after the application's own statement
/// failed, neither the turn nor the usage stays.
fn a_rollback_leaves_neither<F: Own>() {
    let (_chat, usage, history) = setup::<F>("own_rollback", EngineOptions::default());
    let ((), rolled_back) = history.in_transaction(&database_url(), None, End::Rollback, |tx| {
        tx.add_user_message("q").unwrap();
        tx.add_ai_message("a").unwrap();
        tx.execute(&usage_insert(&usage), &[&"s", &1_i64, &1_i64])
            .unwrap();
    });
    rolled_back.unwrap();
    assert_eq!(history.message_count().unwrap(), 0);
    assert_eq!(usage_rows(&usage), 0);

    // The usage row breaks a CHECK: the caller's statement fails, and the
    // caller rolls back the turn written before it.
    let (failed, rolled_back) =
        history.in_transaction(&database_url(), None, End::Rollback, |tx| {
            tx.add_messages(&[Message::human("q"), Message::ai("a")])
                .unwrap();
            tx.execute(&usage_insert(&usage), &[&"s", &-1_i64, &1_i64])
                .unwrap_err()
        });
    rolled_back.unwrap();
    assert_eq!(failed.code(), Some(&SqlState::CHECK_VIOLATION), "{failed}");
    assert_eq!(history.message_count().unwrap(), 0);
    assert_eq!(usage_rows(&usage), 0);
}

/// Every read of the view sees the transaction's own writes, among the
/// rows committed before it; deletes in it are undone with it.
fn reads_and_deletes_inside_the_transaction<F: Own>() {
    let (_chat, _usage, history) = setup::<F>("own_reads", EngineOptions::default());
    history.add_user_message("before").unwrap();
    let ((), rolled_back) = history.in_transaction(&database_url(), None, End::Rollback, |tx| {
        tx.add_message(&Message::ai("m1")).unwrap();
        tx.add_messages(&[Message::human("m2"), Message::ai("m3")])
            .unwrap();
        let ids = [(Uuid::new_v4(), Message::human("m4"))];
        assert_eq!(tx.add_messages_with_ids(&ids).unwrap(), 1);
        assert_eq!(tx.add_messages_with_ids(&ids).unwrap(), 0, "stored twice");
        let all = ["before", "m1", "m2", "m3", "m4"];
        assert_eq!(texts(&tx.messages().unwrap()), all);
        let entries = tx.entries().unwrap();
        assert_eq!(entries.len(), 5);
        assert_eq!(entries[4].id, ids[0].0);
        assert!(entries.iter().all(|e| e.session_id == "s"));
        assert_eq!(texts(&tx.last_messages(2).unwrap()), ["m3", "m4"]);
        assert_eq!(texts(&tx.buffer_window(1).unwrap()), ["m3", "m4"]);
        assert_eq!(tx.message_count().unwrap(), 5);
        assert_eq!(tx.count_twice().unwrap(), (5, 5));

        let mut walked = Vec::new();
        let mut cursor = None;
        loop {
            let page = tx.messages_page(cursor.as_ref(), 2).unwrap();
            walked.extend(page.entries.iter().map(|e| e.message.text().into_owned()));
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(walked, all);
        let back = tx.messages_page_back(None, 2).unwrap();
        let back: Vec<_> = back.entries.iter().map(|e| e.message.text()).collect();
        assert_eq!(back, ["m4", "m3"]);
        let err = tx.messages_page(None, 0).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");

        assert_eq!(tx.delete_last(2).unwrap(), 2);
        assert_eq!(texts(&tx.messages().unwrap()), ["before", "m1", "m2"]);
        tx.clear().unwrap();
        assert_eq!(tx.message_count().unwrap(), 0);
        assert_eq!(tx.delete_last(1).unwrap(), 0);
        tx.clear().unwrap();
    });
    rolled_back.unwrap();
    assert_eq!(texts(&history.messages().unwrap()), ["before"]);
}

/// On the connection itself, with no transaction of the caller's, each
/// call commits alone: the engine sees it at once.
fn on_a_plain_connection_each_call_commits<F: Own>() {
    let (_chat, _usage, history) = setup::<F>("own_plain", EngineOptions::default());
    history.on_connection(&database_url(), |client| {
        client.add_user_message("one").unwrap();
        assert_eq!(history.message_count().unwrap(), 1);
        client.add_ai_message("two").unwrap();
        assert_eq!(texts(&history.messages().unwrap()), ["one", "two"]);
        client.clear().unwrap();
        assert_eq!(history.message_count().unwrap(), 0);
    });
}

/// The ordering guard is in the statement: rows written in a transaction,
/// whose `now()` does not move, keep their order after the engine's; and
/// on PostgreSQL at READ COMMITTED, a row the engine commits while the
/// transaction is open is followed, not preceded, by the transaction's
/// next row (without the guard, that row would take the transaction's
/// older `now()`).
fn the_ordering_guard_holds<F: Own>() {
    let (_chat, _usage, history) = setup::<F>("own_order", EngineOptions::default());
    history.add_user_message("e1").unwrap();
    history.add_ai_message("e2").unwrap();
    let (inside, committed) = history.in_transaction(&database_url(), None, End::Commit, |tx| {
        tx.add_user_message("t1").unwrap();
        tx.add_messages(&[Message::ai("t2"), Message::human("t3")])
            .unwrap();
        tx.add_ai_message("t4").unwrap();
        texts(&tx.messages().unwrap())
    });
    committed.unwrap();
    let order = ["e1", "e2", "t1", "t2", "t3", "t4"];
    assert_eq!(inside, order);
    assert_eq!(texts(&history.messages().unwrap()), order);

    if on_cockroachdb() {
        eprintln!("the engine's write inside an open transaction is checked on PostgreSQL only");
        return;
    }
    let read_committed = Some(IsolationLevel::ReadCommitted);
    let ((), committed) =
        history.in_transaction(&database_url(), read_committed, End::Commit, |tx| {
            tx.add_user_message("x1").unwrap();
            std::thread::sleep(std::time::Duration::from_millis(5));
            history.add_user_message("e3").unwrap();
            tx.add_ai_message("x2").unwrap();
        });
    committed.unwrap();
    let all = texts(&history.messages().unwrap());
    assert_eq!(all[order.len()..], ["x1", "e3", "x2"]);
}

/// Input the table cannot take is refused before anything is sent, with
/// the history's typed errors and limits (the message, the batch, the
/// engine's protocol message limit): nothing is stored, and the
/// transaction goes on (on PostgreSQL a failed statement would have
/// aborted it).
fn bad_input_is_refused_and_changes_nothing<F: Own>() {
    let engine = EngineOptions::default().max_protocol_message_bytes(4000);
    let (chat, _usage, history) = setup::<F>("own_bad", engine);
    let small = F::open("s", &database_url(), chat.options().max_message_bytes(1000)).unwrap();
    let ((), committed) = history.in_transaction(&database_url(), None, End::Commit, |tx| {
        let err = tx
            .add_messages(&[Message::human("fine"), Message::human("a\0b")])
            .unwrap_err();
        assert!(
            matches!(&err, Error::InvalidMessage(m) if m.starts_with("message 1")),
            "{err:?}"
        );
        let ids = [(Uuid::new_v4(), Message::human("a\0b"))];
        let err = tx.add_messages_with_ids(&ids).unwrap_err();
        assert!(matches!(err, Error::InvalidMessage(_)), "{err:?}");
        // Over the engine's protocol message limit.
        let err = tx.add_user_message(&"x".repeat(5000)).unwrap_err();
        assert!(
            matches!(err, Error::TooLarge { limit: 4000, .. }),
            "{err:?}"
        );
        assert_eq!(tx.message_count().unwrap(), 0);
        tx.add_user_message("still usable").unwrap();
    });
    committed.unwrap();
    assert_eq!(texts(&history.messages().unwrap()), ["still usable"]);

    // Over the history's own message limit.
    let ((), committed) = small.in_transaction(&database_url(), None, End::Commit, |tx| {
        let err = tx.add_ai_message(&"y".repeat(2000)).unwrap_err();
        assert!(
            matches!(err, Error::TooLarge { limit: 1000, .. }),
            "{err:?}"
        );
    });
    committed.unwrap();
    assert_eq!(history.message_count().unwrap(), 1);
}

/// The view never creates the table: a missing one is the server's
/// error, with its SQLSTATE, and stays missing.
fn a_missing_table_is_the_servers_error_and_stays_missing<F: Own>() {
    let chat = TempTable::new("own_missing");
    let history = F::open("s", &database_url(), chat.options()).unwrap();
    let (err, _) = history.in_transaction(&database_url(), None, End::Rollback, |tx| {
        tx.add_user_message("hi").unwrap_err()
    });
    assert_eq!(err.code(), Some(&SqlState::UNDEFINED_TABLE), "{err}");
    let found = raw_query(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = $1",
        &[&chat.name],
    );
    assert_eq!(found[0].get::<_, i64>(0), 0, "the view created the table");
}

/// Two SERIALIZABLE transactions read the session, the first writes and
/// commits, then the second writes: PostgreSQL fails that write with
/// `40001`, which the view returns as it came (a retry inside the aborted
/// transaction would have met `25P02` instead). Retrying is the caller's:
/// its whole transaction again, which then goes through.
fn a_serialization_failure_is_returned_not_retried<F: Own>() {
    if support::skip_unless_postgresql("PostgreSQL's serializable snapshot isolation") {
        return;
    }
    let (_chat, _usage, history) = setup::<F>("own_40001", EngineOptions::default());
    let serializable = Some(IsolationLevel::Serializable);
    let url = database_url();
    let (second, _) = history.in_transaction(&url, serializable, End::Rollback, |second| {
        assert_eq!(second.message_count().unwrap(), 0);
        let ((), first) = history.in_transaction(&url, serializable, End::Commit, |first| {
            assert_eq!(first.message_count().unwrap(), 0);
            first.add_user_message("first").unwrap();
        });
        first.unwrap();
        second.add_user_message("second")
    });
    let err = second.unwrap_err();
    assert_eq!(
        err.code(),
        Some(&SqlState::T_R_SERIALIZATION_FAILURE),
        "{err}"
    );
    assert!(err.is_retryable());
    assert_eq!(texts(&history.messages().unwrap()), ["first"]);

    let ((), again) = history.in_transaction(&url, serializable, End::Commit, |tx| {
        tx.add_user_message("second").unwrap();
    });
    again.unwrap();
    assert_eq!(texts(&history.messages().unwrap()), ["first", "second"]);
}

/// CockroachDB's `40001` before the statement runs (the proxy's
/// CockroachDB mode): returned after one attempt, where the history's own
/// call would have retried; nothing stored twice when the caller runs its
/// transaction again.
fn a_cockroachdb_retry_error_is_returned_after_one_attempt<F: Own>() {
    let (chat, _usage, history) = setup::<F>("own_crdb", EngineOptions::default());
    let proxy = Proxy::cockroach(Mode::new(16 << 20));
    let mode = proxy.mode();
    mode.inject(Fault::Retry, "INSERT INTO", 1);
    let (err, _) = history.in_transaction(&proxy.test_url(), None, End::Rollback, |tx| {
        tx.add_messages(&[Message::human("q"), Message::ai("a")])
            .unwrap_err()
    });
    assert_eq!(
        err.code(),
        Some(&SqlState::T_R_SERIALIZATION_FAILURE),
        "{err}"
    );
    assert_eq!(mode.injected(Fault::Retry), 1);
    assert_eq!(mode.executed("INSERT INTO"), 1, "the view tried again");
    assert_eq!(chat.count_rows("s"), 0);

    let ((), committed) = history.in_transaction(&proxy.test_url(), None, End::Commit, |tx| {
        tx.add_messages(&[Message::human("q"), Message::ai("a")])
            .unwrap();
    });
    committed.unwrap();
    assert_eq!(texts(&history.messages().unwrap()), ["q", "a"]);
}

/// One view prepares each statement once, on the caller's connection;
/// another view prepares it again (nothing it prepared outlives it).
fn a_view_prepares_each_statement_once<F: Own>() {
    let (_chat, _usage, history) = setup::<F>("own_prepare", EngineOptions::default());
    let proxy = Proxy::start();
    history.on_connection(&proxy.test_url(), |client| {
        let (parsed, bound) = (proxy.sent(b'P'), proxy.sent(b'B'));
        assert_eq!(client.count_twice().unwrap(), (0, 0));
        assert_eq!(proxy.sent(b'P') - parsed, 1, "prepared twice on one view");
        assert_eq!(proxy.sent(b'B') - bound, 2);
        client.count_twice().unwrap();
        assert_eq!(
            proxy.sent(b'P') - parsed,
            2,
            "a new view reused a statement"
        );
    });
}

/// On the async face the view's futures are `Send`: a server's handler
/// task (spawned, as `tokio::spawn` needs) writes its turn in its
/// transaction.
#[cfg(feature = "async")]
#[test]
fn the_async_view_runs_in_a_spawned_task() {
    use langchain_cockroachdb::nonblocking::AsyncCockroachDBChatMessageHistory as History;
    let (_chat, usage, history) = setup::<History>("own_task", EngineOptions::default());
    let (url, insert) = (database_url(), usage_insert(&usage));
    let task = support::runtime().spawn(async move {
        let (mut client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        let tx = client.transaction().await?;
        let mut view = history.on(&tx);
        view.add_user_message("from a task").await?;
        let stored = view.message_count().await?;
        tx.execute(&insert, &[&"s", &3_i64, &4_i64]).await?;
        tx.commit().await?;
        Ok::<_, Error>((stored, history.messages().await?))
    });
    let (stored, messages) = support::runtime().block_on(task).unwrap().unwrap();
    assert_eq!((stored, texts(&messages)), (1, vec!["from a task".into()]));
    assert_eq!(usage_rows(&usage), 1);
}

macro_rules! on_both_faces {
    ($($case:ident),* $(,)?) => {
        #[cfg(feature = "blocking")]
        mod blocking {
            $(
                #[test]
                fn $case() {
                    super::$case::<langchain_cockroachdb::blocking::CockroachDBChatMessageHistory>();
                }
            )*
        }

        #[cfg(feature = "async")]
        mod nonblocking {
            $(
                #[test]
                fn $case() {
                    super::$case::<
                        langchain_cockroachdb::nonblocking::AsyncCockroachDBChatMessageHistory,
                    >();
                }
            )*
        }
    };
}

on_both_faces!(
    a_turn_and_its_token_usage_commit_together,
    a_rollback_leaves_neither,
    reads_and_deletes_inside_the_transaction,
    on_a_plain_connection_each_call_commits,
    the_ordering_guard_holds,
    bad_input_is_refused_and_changes_nothing,
    a_missing_table_is_the_servers_error_and_stays_missing,
    a_serialization_failure_is_returned_not_retried,
    a_cockroachdb_retry_error_is_returned_after_one_attempt,
    a_view_prepares_each_statement_once,
);
