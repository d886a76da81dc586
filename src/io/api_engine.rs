//! An engine: made, checked, closed; its tables, and the histories it
//! hands out.
//!
//! The public operations of both faces are written once, in the four
//! `api_*.rs` files (this one, `api_upkeep.rs`, `api_history.rs`,
//! `api_reads.rs`): their names, signatures, docs and bodies. Each face
//! compiles them as its own modules (as it does every file of `src/io/`),
//! with its own types as `Engine` and `History`, and its own `example!`,
//! which picks that face's form of each runnable example;
//! `tests/surface.rs` checks that the two forms of every example say the
//! same, call for call. What differs between the faces (constructors, the
//! streams of export and import, the Python names of the async table
//! helpers) stays in the face's file.

use std::sync::Arc;
use std::time::Duration;

use crate::config::ConnectionConfig;
use crate::error::Result;
use crate::options::{EngineOptions, HistoryOptions};
use crate::pool::{PoolState, Registry};

use super::engine::Shared;
use super::mode::face;
use super::{Engine, History, Store};

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
