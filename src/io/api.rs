//! The public operations of both faces, written once: their names,
//! signatures, docs and bodies. Each face compiles this file as its own
//! module (as it does every file of `src/io/`), with its own types as
//! `Engine` and `History`, and its own `example!`, which picks that face's
//! form of each runnable example; `tests/surface.rs` checks that the two
//! forms of every example say the same, call for call. What differs
//! between the faces (constructors, the streams of export and import, the
//! Python names of the async table helpers) stays in the face's file.

use std::sync::Arc;
use std::time::Duration;

use crate::config::ConnectionConfig;
use crate::error::Result;
use crate::message::{Message, TrimOptions};
use crate::options::{EngineOptions, HistoryOptions, SessionFilter};
use crate::pool::{PoolState, Registry};
use crate::report::Diagnosis;
use crate::stored::{Page, PageCursor, SessionInfo, StoredMessage};
use crate::watch::{WatchFrom, WatchOptions};

use super::engine::Shared;
use super::mode::face;
use super::{Engine, History, Store, Watch};

#[face(AFIT)]
impl Engine {
    /// An engine with default [`EngineOptions`]. Opens no connection and
    /// starts nothing: the pool is made on first use (on the async face, in
    /// the tokio runtime of that use), so an engine can be built anywhere,
    /// before `#[tokio::main]` too.
    ///
    #[doc = example!(
        r#"
let engine = CockroachDBEngine::from_connection_string("postgresql://root@localhost:26257/defaultdb?sslmode=disable")?;
assert_eq!(engine.pool_state().connections, 0);
assert!(CockroachDBEngine::from_connection_string("not a url").is_err());
"#,
        r#"
let engine = AsyncCockroachDBEngine::from_connection_string("postgresql://root@localhost:26257/defaultdb?sslmode=disable")?;
assert_eq!(engine.pool_state().connections, 0);
assert!(AsyncCockroachDBEngine::from_connection_string("not a url").is_err());
"#
    )]
    pub fn from_connection_string(connection_string: &str) -> Result<Self> {
        Self::with_options(connection_string, EngineOptions::default())
    }

    /// An engine with the given pool options. Opens no connection yet (see
    /// [`from_connection_string`](Self::from_connection_string)).
    ///
    #[doc = example!(
        r#"
use langchain_cockroachdb::{EngineOptions, Error};
let options = EngineOptions::default().pool_size(0);
assert!(matches!(CockroachDBEngine::with_options("postgresql://root@localhost/db", options), Err(Error::Config(_))));
"#,
        r#"
use langchain_cockroachdb::{EngineOptions, Error};
let options = EngineOptions::default().pool_size(0);
assert!(matches!(AsyncCockroachDBEngine::with_options("postgresql://root@localhost/db", options), Err(Error::Config(_))));
"#
    )]
    pub fn with_options(connection_string: &str, options: EngineOptions) -> Result<Self> {
        Self::from_config(connection_string.parse()?, options)
    }

    /// An engine from a [`ConnectionConfig`] built in code
    /// ([`ConnectionConfig::builder`]) or taken from the driver's
    /// `tokio_postgres::Config` (`try_into()`), with the given pool options:
    /// no connection string to format, and so no password written into
    /// one. Opens no connection yet (see
    /// [`from_connection_string`](Self::from_connection_string)); the
    /// certificate files are read now, so a missing one is an
    /// [`Error::Config`](crate::Error::Config).
    ///
    /// The engine is a new one, with a pool of its own, as with
    /// [`with_options`](Self::with_options): histories made from a bare
    /// connection string share the process's engine for that string, not
    /// this one. Give it to histories with
    /// [`with_engine`](History::with_engine).
    ///
    #[doc = example!(
        r#"
use langchain_cockroachdb::{ConnectionConfig, EngineOptions, tokio_postgres};
# let secret = "s3cret";
let config = ConnectionConfig::builder()
    .host("db.example.com")
    .port(26257)
    .user("app")
    .password(secret)
    .dbname("chat")
    .build()?;
let engine = CockroachDBEngine::from_config(config, EngineOptions::default())?;
assert_eq!(engine.config().target(), "db.example.com:26257");
assert!(!format!("{engine:?}").contains(secret));

// The driver's config, as a service may already hold it:
let driver: tokio_postgres::Config = url.parse().expect("a valid URL");
let engine = CockroachDBEngine::from_config(driver.try_into()?, EngineOptions::default())?;
engine.ping()?;
"#,
        r#"
use langchain_cockroachdb::{ConnectionConfig, EngineOptions, tokio_postgres};
# let secret = "s3cret";
let config = ConnectionConfig::builder()
    .host("db.example.com")
    .port(26257)
    .user("app")
    .password(secret)
    .dbname("chat")
    .build()?;
let engine = AsyncCockroachDBEngine::from_config(config, EngineOptions::default())?;
assert_eq!(engine.config().target(), "db.example.com:26257");
assert!(!format!("{engine:?}").contains(secret));

// The driver's config, as a service may already hold it:
let driver: tokio_postgres::Config = url.parse().expect("a valid URL");
let engine = AsyncCockroachDBEngine::from_config(driver.try_into()?, EngineOptions::default())?;
engine.ping().await?;
"#
    )]
    pub fn from_config(config: ConnectionConfig, options: EngineOptions) -> Result<Self> {
        Ok(Engine(Arc::new(Shared::new(config, options)?)))
    }

    /// Stops the engine for a graceful shutdown: new operations fail at
    /// once with [`Error::Closed`](crate::Error::Closed), the statements in
    /// flight get up to `wait` to finish, and then the pool's connections
    /// close (any still in use as soon as it is done). A
    /// [`Timeout`](crate::Error::Timeout) if some were still running at
    /// `wait`. Every clone and history of the engine is closed with it.
    ///
    #[doc = example!(
        r#"
use std::time::Duration;
let engine = CockroachDBEngine::from_connection_string(&url)?;
engine.ping()?;
engine.close(Duration::from_secs(5))?;
assert!(matches!(engine.ping(), Err(langchain_cockroachdb::Error::Closed)));
"#,
        r#"
use std::time::Duration;
let engine = AsyncCockroachDBEngine::from_connection_string(&url)?;
engine.ping().await?;
engine.close(Duration::from_secs(5)).await?;
assert!(matches!(engine.ping().await, Err(langchain_cockroachdb::Error::Closed)));
"#
    )]
    pub async fn close(&self, wait: Duration) -> Result<()> {
        self.0.close(wait).await
    }

    /// The engine this process keeps for `connection_string`, made on first
    /// request: histories built from a bare connection string share it, one
    /// per string for the life of the process, whatever the runtime (a
    /// connection opened in a runtime that has since ended is found closed
    /// and replaced). For an engine of your own, use
    /// [`with_options`](Self::with_options) or
    /// [`from_config`](Self::from_config) and [`History::with_engine`].
    pub(super) fn shared(connection_string: &str) -> Result<Self> {
        static ENGINES: Registry<String, Engine> = Registry::new();
        ENGINES.get_or_try_insert(connection_string.to_owned(), || {
            Self::from_connection_string(connection_string)
        })
    }

    /// Checks the database answers (`SELECT 1`).
    ///
    #[doc = example!(
        r#"
CockroachDBEngine::from_connection_string(&url)?.ping()?;
"#,
        r#"
AsyncCockroachDBEngine::from_connection_string(&url)?.ping().await?;
"#
    )]
    pub async fn ping(&self) -> Result<()> {
        self.0.ping().await
    }

    /// How many connections are open and idle.
    ///
    #[doc = example!(
        r#"
let engine = CockroachDBEngine::from_connection_string("postgresql://root@localhost/db").unwrap();
assert_eq!(engine.pool_state().connections, 0); // connections open on first use
"#,
        r#"
let engine = AsyncCockroachDBEngine::from_connection_string("postgresql://root@localhost/db").unwrap();
assert_eq!(engine.pool_state().connections, 0); // connections open on first use
"#
    )]
    pub fn pool_state(&self) -> PoolState {
        self.0.pool_state()
    }

    /// The connection config: the parsed connection string, or the one
    /// given to [`from_config`](Self::from_config).
    ///
    #[doc = example!(
        r#"
let engine = CockroachDBEngine::from_connection_string("postgresql://app:secret@db1:26257/chat")?;
assert_eq!(engine.config().target(), "db1:26257");
assert!(!format!("{engine:?}").contains("secret"));
"#,
        r#"
let engine = AsyncCockroachDBEngine::from_connection_string("postgresql://app:secret@db1:26257/chat")?;
assert_eq!(engine.config().target(), "db1:26257");
assert!(!format!("{engine:?}").contains("secret"));
"#
    )]
    pub fn config(&self) -> &ConnectionConfig {
        &self.0.config
    }

    /// Creates the table named in `options` (and its schema and index) if it
    /// does not exist.
    ///
    #[doc = example!(
        r#"
# use langchain_cockroachdb::{blocking::CockroachDBEngine, HistoryOptions};
let engine = CockroachDBEngine::from_connection_string(&url)?;
let options = HistoryOptions::default().table_name("doc_engine_tables");
engine.create_tables(&options)?;
engine.drop_tables(&options)?;
"#,
        r#"
# use langchain_cockroachdb::{nonblocking::AsyncCockroachDBEngine, HistoryOptions};
let engine = AsyncCockroachDBEngine::from_connection_string(&url)?;
let options = HistoryOptions::default().table_name("doc_async_engine_tables");
engine.create_tables(&options).await?;
engine.drop_tables(&options).await?;
"#
    )]
    pub async fn create_tables(&self, options: &HistoryOptions) -> Result<()> {
        self.0.create_table(options).await
    }

    /// Drops the table named in `options`, if it exists. Its schema stays.
    ///
    #[doc = example!(
        r#"
# use langchain_cockroachdb::{blocking::CockroachDBEngine, HistoryOptions};
let engine = CockroachDBEngine::from_connection_string(&url)?;
engine.drop_tables(&HistoryOptions::default().table_name("doc_blocking_never_made"))?; // absent: fine
"#,
        r#"
# use langchain_cockroachdb::{nonblocking::AsyncCockroachDBEngine, HistoryOptions};
let engine = AsyncCockroachDBEngine::from_connection_string(&url)?;
engine.drop_tables(&HistoryOptions::default().table_name("doc_async_blocking_never_made")).await?; // absent: fine
"#
    )]
    pub async fn drop_tables(&self, options: &HistoryOptions) -> Result<()> {
        self.0.drop_table(options).await
    }

    /// The sessions of the table `options` names, newest activity first:
    /// each with its message count and first and last activity.
    ///
    #[doc = example!(
        r#"
use langchain_cockroachdb::{HistoryOptions, SessionFilter};
let engine = CockroachDBEngine::from_connection_string(&url)?;
let options = HistoryOptions::default().table_name("doc_list_sessions");
# engine.drop_tables(&options)?;
for id in ["user-123:main", "user-123:support", "user-456:main"] {
    CockroachDBChatMessageHistory::with_engine(id, &engine, options.clone())?.add_user_message("hi")?;
}
let mine = engine.list_sessions(&options, &SessionFilter::default().prefix("user-123:"))?;
assert_eq!(mine.len(), 2);
assert_eq!(mine[0].session_id, "user-123:support"); // newest first
# engine.drop_tables(&options)?;
"#,
        r#"
use langchain_cockroachdb::{HistoryOptions, SessionFilter};
let engine = AsyncCockroachDBEngine::from_connection_string(&url)?;
let options = HistoryOptions::default().table_name("doc_async_list_sessions");
# engine.drop_tables(&options).await?;
for id in ["user-123:main", "user-123:support", "user-456:main"] {
    AsyncCockroachDBChatMessageHistory::with_engine(id, &engine, options.clone())?.add_user_message("hi").await?;
}
let mine = engine.list_sessions(&options, &SessionFilter::default().prefix("user-123:")).await?;
assert_eq!(mine.len(), 2);
assert_eq!(mine[0].session_id, "user-123:support"); // newest first
# engine.drop_tables(&options).await?;
"#
    )]
    pub async fn list_sessions(
        &self,
        options: &HistoryOptions,
        filter: &SessionFilter,
    ) -> Result<Vec<SessionInfo>> {
        self.0.list_sessions(options, filter).await
    }

    /// Deletes whole sessions whose newest message is older than `idle`
    /// (the guide's `cleanup_old_sessions(days)`). Returns how many messages
    /// went.
    ///
    /// Each session goes in one statement, whole, so that a cut, a deadline
    /// or a crash between statements never leaves part of a conversation (a
    /// tool call without its result), and a session that gets a message
    /// before its statement runs keeps all of it. The sessions of each round
    /// go the longest idle first, as many per statement as fit in
    /// `options.delete_batch_size` rows (a larger session alone).
    ///
    /// Cost: without the activity index, one walk over the `(session_id,
    /// created_at)` index (each round goes on from where the last stopped),
    /// plus the rows deleted. With it
    /// ([`HistoryOptions::activity_index`]), one walk over the rows older
    /// than `idle`, each session found checked through the session index:
    /// when nothing is old, one index probe.
    ///
    #[doc = example!(
        r#"
use std::time::Duration;
use langchain_cockroachdb::HistoryOptions;
let engine = CockroachDBEngine::from_connection_string(&url)?;
let chats = HistoryOptions::default().table_name("doc_cleanup_idle");
let thirty_days = Duration::from_secs(30 * 24 * 3600);
let deleted = engine.delete_sessions_idle_since(&chats, thirty_days)?;
println!("removed {deleted} messages of idle sessions");
# engine.drop_tables(&chats)?;
"#,
        r#"
use std::time::Duration;
use langchain_cockroachdb::HistoryOptions;
let engine = AsyncCockroachDBEngine::from_connection_string(&url)?;
let chats = HistoryOptions::default().table_name("doc_async_cleanup_idle");
let thirty_days = Duration::from_secs(30 * 24 * 3600);
let deleted = engine.delete_sessions_idle_since(&chats, thirty_days).await?;
println!("removed {deleted} messages of idle sessions");
# engine.drop_tables(&chats).await?;
"#
    )]
    pub async fn delete_sessions_idle_since(
        &self,
        options: &HistoryOptions,
        idle: Duration,
    ) -> Result<u64> {
        self.0
            .delete_sessions_idle_since(options, idle, &|_| true)
            .await
    }

    /// As [`delete_sessions_idle_since`](Self::delete_sessions_idle_since),
    /// calling `progress` with the messages deleted so far after each
    /// statement: it returns whether to go on, so that a caller can show
    /// progress and stop between statements (an operator's Ctrl-C). Returns
    /// how many went, also when stopped.
    ///
    #[doc = example!(
        r#"
use std::time::Duration;
use langchain_cockroachdb::HistoryOptions;
let engine = CockroachDBEngine::from_connection_string(&url)?;
let chats = HistoryOptions::default().table_name("doc_cleanup_idle_progress");
let month = Duration::from_secs(30 * 24 * 3600);
let deleted = engine.delete_sessions_idle_since_with_progress(&chats, month, &|so_far| {
    eprintln!("{so_far} messages deleted");
    true
})?;
# assert_eq!(deleted, 0);
# engine.drop_tables(&chats)?;
"#,
        r#"
use std::time::Duration;
use langchain_cockroachdb::HistoryOptions;
let engine = AsyncCockroachDBEngine::from_connection_string(&url)?;
let chats = HistoryOptions::default().table_name("doc_async_cleanup_idle_progress");
let month = Duration::from_secs(30 * 24 * 3600);
let deleted = engine.delete_sessions_idle_since_with_progress(&chats, month, &|so_far| {
    eprintln!("{so_far} messages deleted");
    true
}).await?;
# assert_eq!(deleted, 0);
# engine.drop_tables(&chats).await?;
"#
    )]
    pub async fn delete_sessions_idle_since_with_progress(
        &self,
        options: &HistoryOptions,
        idle: Duration,
        progress: &(dyn Fn(u64) -> bool + Sync),
    ) -> Result<u64> {
        self.0
            .delete_sessions_idle_since(options, idle, progress)
            .await
    }

    /// Deletes every message older than `age`, whatever its session, in
    /// batches of `options.delete_batch_size` rows. Returns how many went.
    ///
    /// Cost: with the activity index
    /// ([`HistoryOptions::activity_index`]), each batch reads only old
    /// rows, through that index: when nothing is old, one index probe.
    /// Without it (the guide's schema has no index on `created_at` alone),
    /// a cleanup walks the primary key once, batch after batch (each
    /// starting after the last row the one before deleted): one read of the
    /// table per call, not per batch. On a very large table without the
    /// index, run it rarely, or prefer
    /// [`delete_sessions_idle_since`](Self::delete_sessions_idle_since), or
    /// on CockroachDB let row-level TTL ([`HistoryOptions::ttl`]) do it.
    ///
    #[doc = example!(
        r#"
# use langchain_cockroachdb::HistoryOptions;
# let engine = CockroachDBEngine::from_connection_string(&url)?;
let chats = HistoryOptions::default().table_name("doc_cleanup_old");
let year = std::time::Duration::from_secs(365 * 24 * 3600);
engine.delete_messages_older_than(&chats, year)?;
# engine.drop_tables(&chats)?;
"#,
        r#"
# use langchain_cockroachdb::HistoryOptions;
# let engine = AsyncCockroachDBEngine::from_connection_string(&url)?;
let chats = HistoryOptions::default().table_name("doc_async_cleanup_old");
let year = std::time::Duration::from_secs(365 * 24 * 3600);
engine.delete_messages_older_than(&chats, year).await?;
# engine.drop_tables(&chats).await?;
"#
    )]
    pub async fn delete_messages_older_than(
        &self,
        options: &HistoryOptions,
        age: Duration,
    ) -> Result<u64> {
        self.0
            .delete_messages_older_than(options, age, &|_| true)
            .await
    }

    /// As [`delete_messages_older_than`](Self::delete_messages_older_than),
    /// calling `progress` with the messages deleted so far after each
    /// statement, which says whether to go on (see
    /// [`delete_sessions_idle_since_with_progress`](Self::delete_sessions_idle_since_with_progress)).
    ///
    #[doc = example!(
        r#"
# use langchain_cockroachdb::HistoryOptions;
# let engine = CockroachDBEngine::from_connection_string(&url)?;
let chats = HistoryOptions::default().table_name("doc_cleanup_old_progress");
let year = std::time::Duration::from_secs(365 * 24 * 3600);
let stop = std::sync::atomic::AtomicBool::new(false); // set by a signal handler
engine.delete_messages_older_than_with_progress(&chats, year, &|_| !stop.load(std::sync::atomic::Ordering::Relaxed))?;
# engine.drop_tables(&chats)?;
"#,
        r#"
# use langchain_cockroachdb::HistoryOptions;
# let engine = AsyncCockroachDBEngine::from_connection_string(&url)?;
let chats = HistoryOptions::default().table_name("doc_async_cleanup_old_progress");
let year = std::time::Duration::from_secs(365 * 24 * 3600);
let stop = std::sync::atomic::AtomicBool::new(false); // set by a signal handler
engine.delete_messages_older_than_with_progress(&chats, year, &|_| !stop.load(std::sync::atomic::Ordering::Relaxed)).await?;
# engine.drop_tables(&chats).await?;
"#
    )]
    pub async fn delete_messages_older_than_with_progress(
        &self,
        options: &HistoryOptions,
        age: Duration,
        progress: &(dyn Fn(u64) -> bool + Sync),
    ) -> Result<u64> {
        self.0
            .delete_messages_older_than(options, age, progress)
            .await
    }

    /// How many messages [`delete_messages_older_than`](Self::delete_messages_older_than)
    /// would delete now: a dry run (one count; through the activity index
    /// when the table has it, else a scan).
    ///
    #[doc = example!(
        r#"
# use langchain_cockroachdb::HistoryOptions;
let engine = CockroachDBEngine::from_connection_string(&url)?;
let chats = HistoryOptions::default().table_name("doc_count_old");
let year = std::time::Duration::from_secs(365 * 24 * 3600);
assert_eq!(engine.count_messages_older_than(&chats, year)?, 0);
# engine.drop_tables(&chats)?;
"#,
        r#"
# use langchain_cockroachdb::HistoryOptions;
let engine = AsyncCockroachDBEngine::from_connection_string(&url)?;
let chats = HistoryOptions::default().table_name("doc_async_count_old");
let year = std::time::Duration::from_secs(365 * 24 * 3600);
assert_eq!(engine.count_messages_older_than(&chats, year).await?, 0);
# engine.drop_tables(&chats).await?;
"#
    )]
    pub async fn count_messages_older_than(
        &self,
        options: &HistoryOptions,
        age: Duration,
    ) -> Result<u64> {
        self.0.count_messages_older_than(options, age).await
    }

    /// How many sessions, and how many messages of theirs,
    /// [`delete_sessions_idle_since`](Self::delete_sessions_idle_since)
    /// would delete now: a dry run (one aggregate of the table).
    ///
    #[doc = example!(
        r#"
# use langchain_cockroachdb::HistoryOptions;
let engine = CockroachDBEngine::from_connection_string(&url)?;
let chats = HistoryOptions::default().table_name("doc_count_idle");
let month = std::time::Duration::from_secs(30 * 24 * 3600);
let (sessions, messages) = engine.count_sessions_idle_since(&chats, month)?;
assert_eq!((sessions, messages), (0, 0));
# engine.drop_tables(&chats)?;
"#,
        r#"
# use langchain_cockroachdb::HistoryOptions;
let engine = AsyncCockroachDBEngine::from_connection_string(&url)?;
let chats = HistoryOptions::default().table_name("doc_async_count_idle");
let month = std::time::Duration::from_secs(30 * 24 * 3600);
let (sessions, messages) = engine.count_sessions_idle_since(&chats, month).await?;
assert_eq!((sessions, messages), (0, 0));
# engine.drop_tables(&chats).await?;
"#
    )]
    pub async fn count_sessions_idle_since(
        &self,
        options: &HistoryOptions,
        idle: Duration,
    ) -> Result<(u64, u64)> {
        self.0.count_sessions_idle_since(options, idle).await
    }

    /// Deletes every session whose id starts with `prefix` (exactly, under
    /// any collation): a data-protection request, "everything of user
    /// 123", when session ids are `user-123:...`. Sessions go whole, as many
    /// per statement as fit in `options.delete_batch_size` rows. Returns how
    /// many messages went. An empty prefix is an
    /// [`InvalidArgument`](crate::Error::InvalidArgument): to delete
    /// everything, drop the table.
    ///
    /// End the prefix with its separator: `user-1` also takes `user-12:`.
    ///
    #[doc = example!(
        r#"
use langchain_cockroachdb::{HistoryOptions, SessionFilter};
let engine = CockroachDBEngine::from_connection_string(&url)?;
let chats = HistoryOptions::default().table_name("doc_erase");
for id in ["user-1:a", "user-1:b", "user-12:a"] {
    CockroachDBChatMessageHistory::with_engine(id, &engine, chats.clone())?.add_user_message("hi")?;
}
assert_eq!(engine.erase_prefix(&chats, "user-1:")?, 2);
assert_eq!(engine.list_sessions(&chats, &SessionFilter::default())?.len(), 1);
# engine.drop_tables(&chats)?;
"#,
        r#"
use langchain_cockroachdb::{HistoryOptions, SessionFilter};
let engine = AsyncCockroachDBEngine::from_connection_string(&url)?;
let chats = HistoryOptions::default().table_name("doc_async_erase");
for id in ["user-1:a", "user-1:b", "user-12:a"] {
    AsyncCockroachDBChatMessageHistory::with_engine(id, &engine, chats.clone())?.add_user_message("hi").await?;
}
assert_eq!(engine.erase_prefix(&chats, "user-1:").await?, 2);
assert_eq!(engine.list_sessions(&chats, &SessionFilter::default()).await?.len(), 1);
# engine.drop_tables(&chats).await?;
"#
    )]
    pub async fn erase_prefix(&self, options: &HistoryOptions, prefix: &str) -> Result<u64> {
        self.0
            .delete_sessions_with_prefix(options, prefix, &|_| true)
            .await
    }

    /// As [`erase_prefix`](Self::erase_prefix), calling `progress` with the
    /// messages deleted so far after each statement, which says whether to
    /// go on.
    ///
    #[doc = example!(
        r#"
# use langchain_cockroachdb::HistoryOptions;
let engine = CockroachDBEngine::from_connection_string(&url)?;
let chats = HistoryOptions::default().table_name("doc_erase_progress");
let deleted = engine.erase_prefix_with_progress(&chats, "user-9:", &|n| {
    eprintln!("{n} messages erased");
    true
})?;
assert_eq!(deleted, 0);
# engine.drop_tables(&chats)?;
"#,
        r#"
# use langchain_cockroachdb::HistoryOptions;
let engine = AsyncCockroachDBEngine::from_connection_string(&url)?;
let chats = HistoryOptions::default().table_name("doc_async_erase_progress");
let deleted = engine.erase_prefix_with_progress(&chats, "user-9:", &|n| {
    eprintln!("{n} messages erased");
    true
}).await?;
assert_eq!(deleted, 0);
# engine.drop_tables(&chats).await?;
"#
    )]
    pub async fn erase_prefix_with_progress(
        &self,
        options: &HistoryOptions,
        prefix: &str,
        progress: &(dyn Fn(u64) -> bool + Sync),
    ) -> Result<u64> {
        self.0
            .delete_sessions_with_prefix(options, prefix, progress)
            .await
    }

    /// What an operator checks, as facts: the server and its version, a
    /// round trip, encryption, the table's columns, indexes and row-level
    /// TTL, how session ids compare, the user's privileges, and the rows
    /// and sessions the statistics estimate. Reads catalogs and statistics
    /// only (never the table's rows), and never creates the table. The
    /// command line's `doctor` turns it into advice.
    ///
    #[doc = example!(
        r#"
# use langchain_cockroachdb::HistoryOptions;
let engine = CockroachDBEngine::from_connection_string(&url)?;
let chats = HistoryOptions::default().table_name("doc_diagnose");
let before = engine.diagnose(&chats)?;
assert!(!before.table_exists());
engine.create_tables(&chats)?;
let after = engine.diagnose(&chats)?;
assert!(after.table_exists() && after.session_index && after.can_insert);
# engine.drop_tables(&chats)?;
"#,
        r#"
# use langchain_cockroachdb::HistoryOptions;
let engine = AsyncCockroachDBEngine::from_connection_string(&url)?;
let chats = HistoryOptions::default().table_name("doc_async_diagnose");
let before = engine.diagnose(&chats).await?;
assert!(!before.table_exists());
engine.create_tables(&chats).await?;
let after = engine.diagnose(&chats).await?;
assert!(after.table_exists() && after.session_index && after.can_insert);
# engine.drop_tables(&chats).await?;
"#
    )]
    pub async fn diagnose(&self, options: &HistoryOptions) -> Result<Diagnosis> {
        self.0.diagnose(options).await
    }

    /// The history of `session_id` in the default table, on this engine: the
    /// per-session factory LangChain's `RunnableWithMessageHistory` takes
    /// (`get_session_history`). Cheap: no connection, no new pool. For
    /// another table, use [`with_engine`](History::with_engine).
    ///
    #[doc = example!(
        r#"
let engine = CockroachDBEngine::from_connection_string(&url)?;
let get_session_history = |user: &str| engine.history(format!("user-{user}:main"));
let alice = get_session_history("alice")?;
assert_eq!(alice.session_id(), "user-alice:main");
"#,
        r#"
let engine = AsyncCockroachDBEngine::from_connection_string(&url)?;
let get_session_history = |user: &str| engine.history(format!("user-{user}:main"));
let alice = get_session_history("alice")?;
assert_eq!(alice.session_id(), "user-alice:main");
"#
    )]
    pub fn history(&self, session_id: impl Into<String>) -> Result<History> {
        History::with_engine(session_id, self, HistoryOptions::default())
    }

    /// The histories of the table `options` names, by session id: the
    /// store that code serving many sessions holds (a web server's state),
    /// as a [`ChatHistoryStore`](crate::ChatHistoryStore) on the blocking
    /// face and an [`AsyncChatHistoryStore`](crate::AsyncChatHistoryStore)
    /// on the async one; that code's tests run it on an
    /// [`InMemoryChatHistoryStore`](crate::InMemoryChatHistoryStore).
    /// Checks the table's names now; opens no connection.
    ///
    #[doc = example!(
        r#"
use langchain_cockroachdb::{ChatHistoryStore, ChatMessageHistory, Error, HistoryOptions};
let engine = CockroachDBEngine::from_connection_string(&url)?;
let chats = HistoryOptions::default().table_name("doc_history_store");
# engine.drop_tables(&chats)?;
let store = engine.history_store(chats.clone())?;
store.history("user-1:main")?.add_user_message("hi")?;
assert_eq!(store.history("user-1:main")?.message_count()?, 1);
let bad = HistoryOptions::default().table_name("chat-history");
assert!(matches!(engine.history_store(bad), Err(Error::InvalidIdentifier { .. })));
# engine.drop_tables(&chats)?;
"#,
        r#"
use langchain_cockroachdb::{AsyncChatHistoryStore, AsyncChatMessageHistory, Error, HistoryOptions};
let engine = AsyncCockroachDBEngine::from_connection_string(&url)?;
let chats = HistoryOptions::default().table_name("doc_async_history_store");
# engine.drop_tables(&chats).await?;
let store = engine.history_store(chats.clone())?;
store.history("user-1:main")?.add_user_message("hi").await?;
assert_eq!(store.history("user-1:main")?.message_count().await?, 1);
let bad = HistoryOptions::default().table_name("chat-history");
assert!(matches!(engine.history_store(bad), Err(Error::InvalidIdentifier { .. })));
# engine.drop_tables(&chats).await?;
"#
    )]
    pub fn history_store(&self, options: HistoryOptions) -> Result<Store> {
        options.validate()?;
        Ok(Store {
            engine: self.clone(),
            options: Arc::new(options),
        })
    }
}

#[face(AFIT)]
impl History {
    /// The history of `session_id` in the default table `message_store`.
    /// Checks its arguments but opens no connection: the first operation
    /// does, and creates the table if needed.
    ///
    #[doc = example!(
        r#"
# use langchain_cockroachdb::{blocking::CockroachDBChatMessageHistory, Error};
let err = CockroachDBChatMessageHistory::new("", "postgresql://root@localhost/db").unwrap_err();
assert!(matches!(err, Error::InvalidIdentifier { what: "session id", .. }));
"#,
        r#"
# use langchain_cockroachdb::{nonblocking::AsyncCockroachDBChatMessageHistory, Error};
let err = AsyncCockroachDBChatMessageHistory::new("", "postgresql://root@localhost/db").unwrap_err();
assert!(matches!(err, Error::InvalidIdentifier { what: "session id", .. }));
"#
    )]
    pub fn new(session_id: impl Into<String>, connection_string: &str) -> Result<Self> {
        Self::with_options(session_id, connection_string, HistoryOptions::default())
    }

    /// The history of `session_id` in the table `options` names.
    ///
    #[doc = example!(
        r#"
# use langchain_cockroachdb::{blocking::CockroachDBChatMessageHistory, HistoryOptions};
let history = CockroachDBChatMessageHistory::with_options(
    "user-123",
    &url,
    HistoryOptions::default().table_name("my_chat_history"),
)?;
"#,
        r#"
# use langchain_cockroachdb::{nonblocking::AsyncCockroachDBChatMessageHistory, HistoryOptions};
let history = AsyncCockroachDBChatMessageHistory::with_options(
    "user-123",
    &url,
    HistoryOptions::default().table_name("my_chat_history"),
)?;
"#
    )]
    pub fn with_options(
        session_id: impl Into<String>,
        connection_string: &str,
        options: HistoryOptions,
    ) -> Result<Self> {
        Self::with_engine(session_id, &Engine::shared(connection_string)?, options)
    }

    /// The history of `session_id` over an engine you manage.
    ///
    #[doc = example!(
        r#"
use langchain_cockroachdb::HistoryOptions;
let engine = CockroachDBEngine::from_connection_string(&url)?;
let history = CockroachDBChatMessageHistory::with_engine("user-123", &engine, HistoryOptions::default())?;
assert_eq!(history.session_id(), "user-123");
"#,
        r#"
use langchain_cockroachdb::HistoryOptions;
let engine = AsyncCockroachDBEngine::from_connection_string(&url)?;
let history = AsyncCockroachDBChatMessageHistory::with_engine("user-123", &engine, HistoryOptions::default())?;
assert_eq!(history.session_id(), "user-123");
"#
    )]
    pub fn with_engine(
        session_id: impl Into<String>,
        engine: &Engine,
        options: HistoryOptions,
    ) -> Result<Self> {
        let session = engine.0.session(session_id.into(), &options)?;
        Ok(History {
            engine: engine.clone(),
            session: Arc::new(session),
        })
    }

    /// The session id.
    ///
    #[doc = example!(
        r#"
let history = CockroachDBChatMessageHistory::new("user-123:support", "postgresql://root@localhost/db")?;
assert_eq!(history.session_id(), "user-123:support");
"#,
        r#"
let history = AsyncCockroachDBChatMessageHistory::new("user-123:support", "postgresql://root@localhost/db")?;
assert_eq!(history.session_id(), "user-123:support");
"#
    )]
    pub fn session_id(&self) -> &str {
        &self.session.id
    }

    /// The engine (connection pool) this history runs on.
    ///
    #[doc = example!(
        r#"
let history = CockroachDBChatMessageHistory::new("s", "postgresql://root@localhost/db")?;
println!("{:?}", history.engine().pool_state());
"#,
        r#"
let history = AsyncCockroachDBChatMessageHistory::new("s", "postgresql://root@localhost/db")?;
println!("{:?}", history.engine().pool_state());
"#
    )]
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Appends a `human` message.
    ///
    #[doc = example!(
        r#"
# let history = CockroachDBChatMessageHistory::new("doc-add-user", &url)?;
history.add_user_message("What's the weather?")?;
# history.clear()?;
"#,
        r#"
# let history = AsyncCockroachDBChatMessageHistory::new("doc-async-add-user", &url)?;
history.add_user_message("What's the weather?").await?;
# history.clear().await?;
"#
    )]
    pub async fn add_user_message(&self, text: impl Into<String>) -> Result<()> {
        self.add_messages(&[Message::human(text.into())]).await
    }

    /// Appends an `ai` message.
    ///
    #[doc = example!(
        r#"
# let history = CockroachDBChatMessageHistory::new("doc-add-ai", &url)?;
history.add_ai_message("It is sunny.")?;
# history.clear()?;
"#,
        r#"
# let history = AsyncCockroachDBChatMessageHistory::new("doc-async-add-ai", &url)?;
history.add_ai_message("It is sunny.").await?;
# history.clear().await?;
"#
    )]
    pub async fn add_ai_message(&self, text: impl Into<String>) -> Result<()> {
        self.add_messages(&[Message::ai(text.into())]).await
    }

    /// Appends one message of any type, metadata included.
    ///
    #[doc = example!(
        r#"
use langchain_cockroachdb::Message;
# let history = CockroachDBChatMessageHistory::new("doc-add-message", &url)?;
history.add_message(&Message::ai("Paris.").with_additional_kwarg("model", "gpt-4"))?;
# history.clear()?;
"#,
        r#"
use langchain_cockroachdb::Message;
# let history = AsyncCockroachDBChatMessageHistory::new("doc-async-add-message", &url)?;
history.add_message(&Message::ai("Paris.").with_additional_kwarg("model", "gpt-4")).await?;
# history.clear().await?;
"#
    )]
    pub async fn add_message(&self, message: &Message) -> Result<()> {
        self.add_messages(std::slice::from_ref(message)).await
    }

    /// Appends messages in one statement: all or none are stored, in this
    /// order. A retry after a lost connection never stores one twice.
    ///
    #[doc = example!(
        r#"
use langchain_cockroachdb::Message;
# let history = CockroachDBChatMessageHistory::new("doc-add-messages", &url)?;
history.add_messages(&[
    Message::system("You are a helpful assistant"),
    Message::human("Hello"),
    Message::ai("Hi there!"),
])?;
# assert_eq!(history.messages()?.len(), 3); history.clear()?;
"#,
        r#"
use langchain_cockroachdb::Message;
# let history = AsyncCockroachDBChatMessageHistory::new("doc-async-add-messages", &url)?;
history.add_messages(&[
    Message::system("You are a helpful assistant"),
    Message::human("Hello"),
    Message::ai("Hi there!"),
]).await?;
# assert_eq!(history.messages().await?.len(), 3); history.clear().await?;
"#
    )]
    pub async fn add_messages(&self, messages: &[Message]) -> Result<()> {
        self.engine.0.add_messages(&self.session, messages).await
    }

    /// Appends messages under row ids you chose, in one statement, in this
    /// order. Returns how many were new: ids already in the table are
    /// skipped, so calling again after an [ambiguous](crate::Error::is_ambiguous)
    /// error stores each message exactly once. (Choose fresh ids, such as
    /// `Uuid::new_v4()`, before the first call; an id used elsewhere in the
    /// table is skipped too.)
    ///
    #[doc = example!(
        r#"
use langchain_cockroachdb::{Message, uuid::Uuid};
# let history = CockroachDBChatMessageHistory::new("doc-add-with-ids", &url)?;
# history.clear()?;
let turn = [(Uuid::new_v4(), Message::human("Hi")), (Uuid::new_v4(), Message::ai("Hello!"))];
let stored = loop {
    match history.add_messages_with_ids(&turn) {
        Err(err) if err.is_ambiguous() => continue, // safe: same ids
        other => break other?,
    }
};
assert_eq!(stored, 2);
assert_eq!(history.add_messages_with_ids(&turn)?, 0); // already there
# assert_eq!(history.message_count()?, 2); history.clear()?;
"#,
        r#"
use langchain_cockroachdb::{Message, uuid::Uuid};
# let history = AsyncCockroachDBChatMessageHistory::new("doc-async-add-with-ids", &url)?;
# history.clear().await?;
let turn = [(Uuid::new_v4(), Message::human("Hi")), (Uuid::new_v4(), Message::ai("Hello!"))];
let stored = loop {
    match history.add_messages_with_ids(&turn).await {
        Err(err) if err.is_ambiguous() => continue, // safe: same ids
        other => break other?,
    }
};
assert_eq!(stored, 2);
assert_eq!(history.add_messages_with_ids(&turn).await?, 0); // already there
# assert_eq!(history.message_count().await?, 2); history.clear().await?;
"#
    )]
    pub async fn add_messages_with_ids(&self, messages: &[(uuid::Uuid, Message)]) -> Result<u64> {
        self.engine
            .0
            .add_messages_with_ids(&self.session, messages)
            .await
    }

    /// Every message of the session, oldest first.
    ///
    #[doc = example!(
        r#"
# let history = CockroachDBChatMessageHistory::new("doc-messages", &url)?;
for msg in history.messages()? {
    println!("{}: {}", msg.message_type(), msg.text());
}
"#,
        r#"
# let history = AsyncCockroachDBChatMessageHistory::new("doc-async-messages", &url)?;
for msg in history.messages().await? {
    println!("{}: {}", msg.message_type(), msg.text());
}
"#
    )]
    pub async fn messages(&self) -> Result<Vec<Message>> {
        self.engine.0.messages(&self.session).await
    }

    /// The newest `n` messages, oldest first, read through the index: the
    /// cost does not grow with the session's length.
    ///
    #[doc = example!(
        r#"
# let history = CockroachDBChatMessageHistory::new("doc-last", &url)?;
# history.clear()?;
for i in 0..5 { history.add_user_message(format!("m{i}"))?; }
let last: Vec<_> = history.last_messages(2)?.iter().map(|m| m.text().into_owned()).collect();
assert_eq!(last, ["m3", "m4"]);
# history.clear()?;
"#,
        r#"
# let history = AsyncCockroachDBChatMessageHistory::new("doc-async-last", &url)?;
# history.clear().await?;
for i in 0..5 { history.add_user_message(format!("m{i}")).await?; }
let last: Vec<_> = history.last_messages(2).await?.iter().map(|m| m.text().into_owned()).collect();
assert_eq!(last, ["m3", "m4"]);
# history.clear().await?;
"#
    )]
    pub async fn last_messages(&self, n: usize) -> Result<Vec<Message>> {
        self.engine.0.last_messages(&self.session, n).await
    }

    /// What LangChain's `ConversationBufferWindowMemory(k=k)` keeps: the
    /// last `k` exchanges, that is the newest `2 * k` messages, oldest first.
    ///
    #[doc = example!(
        r#"
# let history = CockroachDBChatMessageHistory::new("doc-window", &url)?;
# history.clear()?;
for i in 0..3 { history.add_user_message(format!("q{i}"))?; history.add_ai_message(format!("a{i}"))?; }
assert_eq!(history.buffer_window(2)?.len(), 4); // q1 a1 q2 a2
# history.clear()?;
"#,
        r#"
# let history = AsyncCockroachDBChatMessageHistory::new("doc-async-window", &url)?;
# history.clear().await?;
for i in 0..3 { history.add_user_message(format!("q{i}")).await?; history.add_ai_message(format!("a{i}")).await?; }
assert_eq!(history.buffer_window(2).await?.len(), 4); // q1 a1 q2 a2
# history.clear().await?;
"#
    )]
    pub async fn buffer_window(&self, k: usize) -> Result<Vec<Message>> {
        self.last_messages(k.saturating_mul(2)).await
    }

    /// The context window for a model, as LangChain's `trim_messages(...,
    /// strategy="last", token_counter=count_tokens_approximately)` makes it
    /// of the whole session, read from the newest rows back page by page,
    /// so that its cost follows the window, not the session.
    ///
    #[doc = example!(
        r#"
use langchain_cockroachdb::{Message, MessageType, TrimOptions};
# let history = CockroachDBChatMessageHistory::new("doc-trim", &url)?;
# history.clear()?;
history.add_message(&Message::system("Be brief."))?;
for i in 0..100 {
    history.add_messages(&[Message::human(format!("question {i}")), Message::ai(format!("answer {i}"))])?;
}
let window = history.trim(&TrimOptions::new(40).include_system(true).start_on(MessageType::Human))?;
assert_eq!(window[0].text(), "Be brief.");
assert_eq!(window.last().unwrap().text(), "answer 99");
# history.clear()?;
"#,
        r#"
use langchain_cockroachdb::{Message, MessageType, TrimOptions};
# let history = AsyncCockroachDBChatMessageHistory::new("doc-async-trim", &url)?;
# history.clear().await?;
history.add_message(&Message::system("Be brief.")).await?;
for i in 0..100 {
    history.add_messages(&[Message::human(format!("question {i}")), Message::ai(format!("answer {i}"))]).await?;
}
let window = history.trim(&TrimOptions::new(40).include_system(true).start_on(MessageType::Human)).await?;
assert_eq!(window[0].text(), "Be brief.");
assert_eq!(window.last().unwrap().text(), "answer 99");
# history.clear().await?;
"#
    )]
    pub async fn trim(&self, options: &TrimOptions) -> Result<Vec<Message>> {
        self.trim_with_counter(options, crate::count_tokens_approximately)
            .await
    }

    /// As [`trim`](Self::trim), with your token counter (a model's
    /// tokenizer): it counts a list of messages, and never fewer tokens for
    /// more messages.
    ///
    #[doc = example!(
        r#"
use langchain_cockroachdb::TrimOptions;
# let history = CockroachDBChatMessageHistory::new("doc-trim-counter", &url)?;
# history.clear()?;
for i in 0..10 { history.add_user_message(format!("m{i}"))?; }
// One "token" a message: the newest three.
let window = history.trim_with_counter(&TrimOptions::new(3), |messages| messages.len())?;
assert_eq!(window.len(), 3);
# history.clear()?;
"#,
        r#"
use langchain_cockroachdb::TrimOptions;
# let history = AsyncCockroachDBChatMessageHistory::new("doc-async-trim-counter", &url)?;
# history.clear().await?;
for i in 0..10 { history.add_user_message(format!("m{i}")).await?; }
// One "token" a message: the newest three.
let window = history.trim_with_counter(&TrimOptions::new(3), |messages| messages.len()).await?;
assert_eq!(window.len(), 3);
# history.clear().await?;
"#
    )]
    pub async fn trim_with_counter(
        &self,
        options: &TrimOptions,
        counter: impl Fn(&[Message]) -> usize + Sync,
    ) -> Result<Vec<Message>> {
        self.engine.0.trim(&self.session, options, counter).await
    }

    /// How many messages the session holds.
    ///
    #[doc = example!(
        r#"
# let history = CockroachDBChatMessageHistory::new("doc-count", &url)?;
# history.clear()?;
history.add_user_message("hi")?;
assert_eq!(history.message_count()?, 1);
# history.clear()?;
"#,
        r#"
# let history = AsyncCockroachDBChatMessageHistory::new("doc-async-count", &url)?;
# history.clear().await?;
history.add_user_message("hi").await?;
assert_eq!(history.message_count().await?, 1);
# history.clear().await?;
"#
    )]
    pub async fn message_count(&self) -> Result<u64> {
        self.engine.0.message_count(&self.session).await
    }

    /// The messages stored after `since`, oldest first.
    ///
    #[doc = example!(
        r#"
# let history = CockroachDBChatMessageHistory::new("doc-since", &url)?;
let an_hour_ago = langchain_cockroachdb::time::OffsetDateTime::now_utc() - std::time::Duration::from_secs(3600);
let recent = history.messages_since(an_hour_ago)?;
"#,
        r#"
# let history = AsyncCockroachDBChatMessageHistory::new("doc-async-since", &url)?;
let an_hour_ago = langchain_cockroachdb::time::OffsetDateTime::now_utc() - std::time::Duration::from_secs(3600);
let recent = history.messages_since(an_hour_ago).await?;
"#
    )]
    pub async fn messages_since(&self, since: time::OffsetDateTime) -> Result<Vec<Message>> {
        self.engine.0.messages_since(&self.session, since).await
    }

    /// One page of at most `size` messages with their rows, oldest first,
    /// starting after `cursor` (`None`: at the beginning). Walks a long
    /// session in order with flat memory, by keyset rather than OFFSET.
    ///
    #[doc = example!(
        r#"
# let history = CockroachDBChatMessageHistory::new("doc-pages", &url)?;
# history.clear()?;
# for i in 0..5 { history.add_user_message(format!("m{i}"))?; }
let mut cursor = None;
let mut seen = 0;
loop {
    let page = history.messages_page(cursor.as_ref(), 2)?;
    seen += page.entries.len();
    match page.next {
        Some(next) => cursor = Some(next),
        None => break,
    }
}
# assert_eq!(seen, 5); history.clear()?;
"#,
        r#"
# let history = AsyncCockroachDBChatMessageHistory::new("doc-async-pages", &url)?;
# history.clear().await?;
# for i in 0..5 { history.add_user_message(format!("m{i}")).await?; }
let mut cursor = None;
let mut seen = 0;
loop {
    let page = history.messages_page(cursor.as_ref(), 2).await?;
    seen += page.entries.len();
    match page.next {
        Some(next) => cursor = Some(next),
        None => break,
    }
}
# assert_eq!(seen, 5); history.clear().await?;
"#
    )]
    pub async fn messages_page(&self, cursor: Option<&PageCursor>, size: usize) -> Result<Page> {
        self.engine
            .0
            .messages_page(&self.session, cursor, size, false)
            .await
    }

    /// One page of at most `size` messages with their rows, newest first,
    /// starting before `cursor` (`None`: at the newest): how a chat screen
    /// scrolls back. The cursor's string form can go to a client and back.
    ///
    #[doc = example!(
        r#"
# let history = CockroachDBChatMessageHistory::new("doc-pages-back", &url)?;
# history.clear()?;
for i in 0..5 { history.add_user_message(format!("m{i}"))?; }
let newest = history.messages_page_back(None, 2)?;
let texts: Vec<_> = newest.entries.iter().map(|e| e.message.text().into_owned()).collect();
assert_eq!(texts, ["m4", "m3"]);

let cursor = newest.next.expect("older messages").to_string(); // to the client
let older = history.messages_page_back(Some(&cursor.parse()?), 2)?; // and back
assert_eq!(older.entries[0].message.text(), "m2");
# history.clear()?;
"#,
        r#"
# let history = AsyncCockroachDBChatMessageHistory::new("doc-async-pages-back", &url)?;
# history.clear().await?;
for i in 0..5 { history.add_user_message(format!("m{i}")).await?; }
let newest = history.messages_page_back(None, 2).await?;
let texts: Vec<_> = newest.entries.iter().map(|e| e.message.text().into_owned()).collect();
assert_eq!(texts, ["m4", "m3"]);

let cursor = newest.next.expect("older messages").to_string(); // to the client
let older = history.messages_page_back(Some(&cursor.parse()?), 2).await?; // and back
assert_eq!(older.entries[0].message.text(), "m2");
# history.clear().await?;
"#
    )]
    pub async fn messages_page_back(
        &self,
        cursor: Option<&PageCursor>,
        size: usize,
    ) -> Result<Page> {
        self.engine
            .0
            .messages_page(&self.session, cursor, size, true)
            .await
    }

    /// Every message with its row id and time, oldest first (the guide's
    /// "Query History").
    ///
    #[doc = example!(
        r#"
# let history = CockroachDBChatMessageHistory::new("doc-entries", &url)?;
for entry in history.entries()? {
    println!("{} {}: {}", entry.created_at, entry.id, entry.message.text());
}
"#,
        r#"
# let history = AsyncCockroachDBChatMessageHistory::new("doc-async-entries", &url)?;
for entry in history.entries().await? {
    println!("{} {}: {}", entry.created_at, entry.id, entry.message.text());
}
"#
    )]
    pub async fn entries(&self) -> Result<Vec<StoredMessage>> {
        self.engine.0.entries(&self.session).await
    }

    /// Deletes the message in row `id` of this session. Returns whether it
    /// was there; deleting it again is harmless.
    ///
    #[doc = example!(
        r#"
# let history = CockroachDBChatMessageHistory::new("doc-delete-one", &url)?;
# history.clear()?;
history.add_user_message("oops")?;
let id = history.entries()?[0].id;
assert!(history.delete_message(id)?);
assert!(!history.delete_message(id)?);
"#,
        r#"
# let history = AsyncCockroachDBChatMessageHistory::new("doc-async-delete-one", &url)?;
# history.clear().await?;
history.add_user_message("oops").await?;
let id = history.entries().await?[0].id;
assert!(history.delete_message(id).await?);
assert!(!history.delete_message(id).await?);
"#
    )]
    pub async fn delete_message(&self, id: uuid::Uuid) -> Result<bool> {
        self.engine.0.delete_message(&self.session, id).await
    }

    /// Deletes the newest `n` messages (undo a turn). Returns how many went;
    /// a retry never deletes more than the `n` it first found.
    ///
    #[doc = example!(
        r#"
# let history = CockroachDBChatMessageHistory::new("doc-undo", &url)?;
# history.clear()?;
history.add_user_message("question")?;
history.add_ai_message("bad answer")?;
assert_eq!(history.delete_last(1)?, 1);
assert_eq!(history.message_count()?, 1);
# history.clear()?;
"#,
        r#"
# let history = AsyncCockroachDBChatMessageHistory::new("doc-async-undo", &url)?;
# history.clear().await?;
history.add_user_message("question").await?;
history.add_ai_message("bad answer").await?;
assert_eq!(history.delete_last(1).await?, 1);
assert_eq!(history.message_count().await?, 1);
# history.clear().await?;
"#
    )]
    pub async fn delete_last(&self, n: usize) -> Result<u64> {
        self.engine.0.delete_last(&self.session, n).await
    }

    /// Deletes every message of this session (and no other) written before
    /// the call: it finds the session's newest message, then deletes up to
    /// it (two round trips; one when the session is empty). A message
    /// another writer adds meanwhile stays, also when the delete is retried
    /// after a lost reply.
    ///
    #[doc = example!(
        r#"
# let history = CockroachDBChatMessageHistory::new("doc-clear", &url)?;
history.clear()?;
assert!(history.messages()?.is_empty());
"#,
        r#"
# let history = AsyncCockroachDBChatMessageHistory::new("doc-async-clear", &url)?;
history.clear().await?;
assert!(history.messages().await?.is_empty());
"#
    )]
    pub async fn clear(&self) -> Result<()> {
        self.engine.0.clear(&self.session).await
    }

    /// Watches the session: each message stored from `from` on, by this
    /// process or any other (Python's langchain-cockroachdb included), once
    /// it is final, exactly once, whatever the order in which writers
    /// commit; and a [`Deleted`](crate::WatchEvent::Deleted) event when
    /// messages it passed are deleted. Each event carries the cursor to
    /// resume after it, from any process ([`WatchFrom::After`]). The first
    /// read is done when this returns.
    ///
    /// On PostgreSQL this crate's writes wake the watch at once (a
    /// notification in the same statement); other writers' messages come
    /// within [`EngineOptions::watch_poll_interval`](crate::EngineOptions::watch_poll_interval)
    /// (5 s by default). A message is final once every transaction that
    /// began writing before it has ended, on the whole server: a long
    /// transaction elsewhere delays the messages after it, and loses none.
    /// On CockroachDB, which has no notifications, the engine looks every
    /// second by default. All watches of an engine share one connection and
    /// one statement per table and interval: a watch that nothing wakes
    /// costs no query. `docs/COCKROACHDB.md` says why nothing is missed or
    /// repeated, and what it costs.
    ///
    /// On PostgreSQL rows are keyed by the table's `xact_id` column, which
    /// this crate's tables have; the first watch of a table made without
    /// it (by Python, or an earlier version) adds it, once per engine, and
    /// an [`Error::SchemaChange`](crate::Error::SchemaChange) names the
    /// statement to run where the server refuses (`guide::operations`,
    /// "Watches on PostgreSQL").
    ///
    #[doc = example!(
        r#"
use std::time::Duration;
use langchain_cockroachdb::{WatchEvent, WatchFrom};
# let history = CockroachDBChatMessageHistory::new("doc-watch", &url)?;
# history.clear()?;
let mut watch = history.watch(WatchFrom::Now)?;
history.add_user_message("hi")?; // here, or in any other process
let Some(WatchEvent::Message { entry, cursor }) = watch.next_timeout(Duration::from_secs(10))? else {
    panic!("no message");
};
assert_eq!(entry.message.text(), "hi");

// Elsewhere, later: what came after that message.
let cursor = cursor.to_string(); // an SSE `id:`, a client's Last-Event-ID
let mut resumed = history.watch(WatchFrom::After(cursor.parse()?))?;
history.add_ai_message("hello")?;
let next = resumed.next_timeout(Duration::from_secs(10))?.expect("the reply");
assert!(matches!(next, WatchEvent::Message { entry, .. } if entry.message.text() == "hello"));
# history.clear()?;
"#,
        r#"
use std::time::Duration;
use langchain_cockroachdb::{WatchEvent, WatchFrom};
# let history = AsyncCockroachDBChatMessageHistory::new("doc-async-watch", &url)?;
# history.clear().await?;
let mut watch = history.watch(WatchFrom::Now).await?;
history.add_user_message("hi").await?; // here, or in any other process
let Some(WatchEvent::Message { entry, cursor }) = watch.next_timeout(Duration::from_secs(10)).await? else {
    panic!("no message");
};
assert_eq!(entry.message.text(), "hi");

// Elsewhere, later: what came after that message.
let cursor = cursor.to_string(); // an SSE `id:`, a client's Last-Event-ID
let mut resumed = history.watch(WatchFrom::After(cursor.parse()?)).await?;
history.add_ai_message("hello").await?;
let next = resumed.next_timeout(Duration::from_secs(10)).await?.expect("the reply");
assert!(matches!(next, WatchEvent::Message { entry, .. } if entry.message.text() == "hello"));
# history.clear().await?;
"#
    )]
    pub async fn watch(&self, from: WatchFrom) -> Result<Watch> {
        self.watch_with_options(from, &WatchOptions::default())
            .await
    }

    /// As [`watch`](Self::watch), with [`WatchOptions`] (the page a read
    /// fetches); invalid options are an
    /// [`InvalidArgument`](crate::Error::InvalidArgument). A cursor made on
    /// the other kind of server is one too.
    ///
    #[doc = example!(
        r#"
use langchain_cockroachdb::{WatchEvent, WatchFrom, WatchOptions};
# let history = CockroachDBChatMessageHistory::new("doc-watch-pages", &url)?;
# history.clear()?;
for i in 0..5 { history.add_user_message(format!("m{i}"))?; }
let options = WatchOptions::default().page_size(2); // two messages a read
let mut watch = history.watch_with_options(WatchFrom::Beginning, &options)?;
let mut texts = Vec::new();
while texts.len() < 5 {
    match watch.next_timeout(std::time::Duration::from_secs(10))? {
        Some(WatchEvent::Message { entry, .. }) => texts.push(entry.message.text().into_owned()),
        other => panic!("{other:?}"),
    }
}
assert_eq!(texts, ["m0", "m1", "m2", "m3", "m4"]);
# history.clear()?;
"#,
        r#"
use langchain_cockroachdb::{WatchEvent, WatchFrom, WatchOptions};
# let history = AsyncCockroachDBChatMessageHistory::new("doc-async-watch-pages", &url)?;
# history.clear().await?;
for i in 0..5 { history.add_user_message(format!("m{i}")).await?; }
let options = WatchOptions::default().page_size(2); // two messages a read
let mut watch = history.watch_with_options(WatchFrom::Beginning, &options).await?;
let mut texts = Vec::new();
while texts.len() < 5 {
    match watch.next_timeout(std::time::Duration::from_secs(10)).await? {
        Some(WatchEvent::Message { entry, .. }) => texts.push(entry.message.text().into_owned()),
        other => panic!("{other:?}"),
    }
}
assert_eq!(texts, ["m0", "m1", "m2", "m3", "m4"]);
# history.clear().await?;
"#
    )]
    pub async fn watch_with_options(
        &self,
        from: WatchFrom,
        options: &WatchOptions,
    ) -> Result<Watch> {
        let follower = self.engine.0.watch(&self.session, from, options).await?;
        Ok(Watch::new(follower))
    }
}
