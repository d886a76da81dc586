//! The blocking face: [`CockroachDBChatMessageHistory`] over `postgres` and
//! an `r2d2` pool, for CLI bots, workers and other code without an async
//! runtime. Do not call it from inside an async runtime; use
//! [`crate::nonblocking`] there.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use postgres::Client;
use r2d2::ManageConnection;

use crate::config::{ConnectionConfig, EngineOptions, HistoryOptions, PoolState};
use crate::error::Result;
use crate::message::Message;
use crate::shell::{io_template, ConnectFailure, Registry};
use crate::sql::{decode_messages, Request, Session};

type PgManager = r2d2_postgres::PostgresConnectionManager<crate::tls::Tls>;
type Pool = r2d2::Pool<Manager>;

fn pause(wait: Duration) {
    std::thread::sleep(wait);
}

io_template!(maybe_async::must_be_sync);

/// Opens a connection. The driver bounds the TCP connect by the connect
/// timeout, not the handshake after it; postgres' blocking client offers no
/// way to bound that from here.
fn open(manager: &PgManager, _limit: Duration) -> Result<Client, ConnectFailure> {
    manager.connect().map_err(|e| ConnectFailure::from(&e))
}

type Pooled<'a> = r2d2::PooledConnection<Manager>;

fn checkout(pool: &Pool, wait: Duration) -> Option<Pooled<'_>> {
    pool.get_timeout(wait).ok()
}

/// A connection pool to one database, shared by any number of histories and
/// tables (the guide's "Use Connection Pooling"). Cheap to clone.
///
/// ```
/// # fn main() -> langchain_cockroachdb::Result<()> {
/// use langchain_cockroachdb::blocking::{CockroachDBChatMessageHistory, CockroachDBEngine};
/// use langchain_cockroachdb::{EngineOptions, HistoryOptions};
///
/// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
/// let engine = CockroachDBEngine::with_options(&url, EngineOptions { pool_size: 10, ..Default::default() })?;
/// engine.ping()?;
/// let alice = CockroachDBChatMessageHistory::with_engine("user-alice", &engine, HistoryOptions::default())?;
/// let bob = CockroachDBChatMessageHistory::with_engine("user-bob", &engine, HistoryOptions::default())?;
/// # alice.clear()?; bob.clear()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct CockroachDBEngine(Arc<Shared>);

impl fmt::Debug for CockroachDBEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CockroachDBEngine")
            .field("config", &self.0.config)
            .field("pool", &self.pool_state())
            .finish_non_exhaustive()
    }
}

impl CockroachDBEngine {
    /// An engine with default [`EngineOptions`]. Opens no connection yet.
    ///
    /// ```
    /// # use langchain_cockroachdb::blocking::CockroachDBEngine;
    /// let engine = CockroachDBEngine::from_connection_string("postgresql://root@localhost:26257/defaultdb?sslmode=disable").unwrap();
    /// assert!(CockroachDBEngine::from_connection_string("not a url").is_err());
    /// ```
    pub fn from_connection_string(connection_string: &str) -> Result<Self> {
        Self::with_options(connection_string, EngineOptions::default())
    }

    /// An engine with the given pool options. Opens no connection yet.
    pub fn with_options(connection_string: &str, options: EngineOptions) -> Result<Self> {
        Ok(CockroachDBEngine(Arc::new(Shared::new(
            connection_string.parse()?,
            options,
        )?)))
    }

    /// Checks the database answers (`SELECT 1`).
    ///
    /// ```
    /// # use langchain_cockroachdb::blocking::CockroachDBEngine;
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// CockroachDBEngine::from_connection_string(&url)?.ping()?;
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn ping(&self) -> Result<()> {
        self.0.ping()
    }

    /// How many connections are open and idle.
    ///
    /// ```
    /// # use langchain_cockroachdb::blocking::CockroachDBEngine;
    /// let engine = CockroachDBEngine::from_connection_string("postgresql://root@localhost/db").unwrap();
    /// assert_eq!(engine.pool_state().connections, 0); // connections open on first use
    /// ```
    pub fn pool_state(&self) -> PoolState {
        self.0.pool_state()
    }

    /// The parsed connection string.
    pub fn config(&self) -> &ConnectionConfig {
        &self.0.config
    }

    /// Creates the table named in `options` (and its schema and index) if it
    /// does not exist.
    ///
    /// ```
    /// # use langchain_cockroachdb::{blocking::CockroachDBEngine, HistoryOptions};
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// let engine = CockroachDBEngine::from_connection_string(&url)?;
    /// let options = HistoryOptions::default().schema("doc_chat").table_name("doc_engine_tables");
    /// engine.create_tables(&options)?;
    /// engine.drop_tables(&options)?;
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn create_tables(&self, options: &HistoryOptions) -> Result<()> {
        self.0.create_table(options)
    }

    /// Drops the table named in `options`, if it exists. Its schema stays.
    pub fn drop_tables(&self, options: &HistoryOptions) -> Result<()> {
        self.0.drop_table(options)
    }

    /// The engine this process keeps for `connection_string`, made on first
    /// request: histories built from a bare connection string share it.
    fn shared(connection_string: &str) -> Result<Self> {
        static ENGINES: Registry<String, CockroachDBEngine> = Registry::new();
        ENGINES.get_or_try_insert(connection_string.to_owned(), || {
            Self::from_connection_string(connection_string)
        })
    }
}

/// The chat history of one session, stored in a CockroachDB table.
///
/// Cheap to clone, `Send + Sync`. Histories built from the same connection
/// string share one connection pool, so building one per request is fine.
///
/// ```
/// # fn main() -> langchain_cockroachdb::Result<()> {
/// use langchain_cockroachdb::blocking::CockroachDBChatMessageHistory;
///
/// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
/// let history = CockroachDBChatMessageHistory::new("doc-user-123", &url)?;
/// # history.clear()?;
/// history.add_user_message("Hello! How are you?")?;
/// history.add_ai_message("I'm doing well, thank you!")?;
/// for msg in history.messages()? {
///     println!("{}: {}", msg.message_type(), msg.text());
/// }
/// # assert_eq!(history.messages()?.len(), 2);
/// history.clear()?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct CockroachDBChatMessageHistory {
    engine: CockroachDBEngine,
    session: Arc<Session>,
}

impl CockroachDBChatMessageHistory {
    /// The history of `session_id` in the default table `message_store`.
    /// Checks its arguments but opens no connection: the first operation
    /// does, and creates the table if needed.
    ///
    /// ```
    /// # use langchain_cockroachdb::{blocking::CockroachDBChatMessageHistory, Error};
    /// let err = CockroachDBChatMessageHistory::new("", "postgresql://root@localhost/db").unwrap_err();
    /// assert!(matches!(err, Error::InvalidIdentifier { what: "session id", .. }));
    /// ```
    pub fn new(session_id: impl Into<String>, connection_string: &str) -> Result<Self> {
        Self::with_options(session_id, connection_string, HistoryOptions::default())
    }

    /// The history of `session_id` in the table `options` names.
    ///
    /// ```
    /// # use langchain_cockroachdb::{blocking::CockroachDBChatMessageHistory, HistoryOptions};
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// let history = CockroachDBChatMessageHistory::with_options(
    ///     "user-123",
    ///     &url,
    ///     HistoryOptions::default().table_name("my_chat_history"),
    /// )?;
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn with_options(
        session_id: impl Into<String>,
        connection_string: &str,
        options: HistoryOptions,
    ) -> Result<Self> {
        Self::with_engine(
            session_id,
            &CockroachDBEngine::shared(connection_string)?,
            options,
        )
    }

    /// The history of `session_id` over an engine you manage.
    pub fn with_engine(
        session_id: impl Into<String>,
        engine: &CockroachDBEngine,
        options: HistoryOptions,
    ) -> Result<Self> {
        let session = engine.0.session(session_id.into(), &options)?;
        Ok(CockroachDBChatMessageHistory {
            engine: engine.clone(),
            session: Arc::new(session),
        })
    }

    /// Creates the table `table_name` in schema `public` if it does not exist.
    /// Histories also do this on first use.
    ///
    /// ```
    /// # use langchain_cockroachdb::blocking::CockroachDBChatMessageHistory;
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// CockroachDBChatMessageHistory::create_tables(&url, "doc_blocking_create")?;
    /// CockroachDBChatMessageHistory::drop_tables(&url, "doc_blocking_create")?;
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn create_tables(connection_string: &str, table_name: &str) -> Result<()> {
        CockroachDBEngine::shared(connection_string)?
            .create_tables(&HistoryOptions::default().table_name(table_name))
    }

    /// Drops the table `table_name` in schema `public`, with every session in it.
    pub fn drop_tables(connection_string: &str, table_name: &str) -> Result<()> {
        CockroachDBEngine::shared(connection_string)?
            .drop_tables(&HistoryOptions::default().table_name(table_name))
    }

    /// The session id.
    pub fn session_id(&self) -> &str {
        &self.session.id
    }

    /// The engine (connection pool) this history runs on.
    pub fn engine(&self) -> &CockroachDBEngine {
        &self.engine
    }

    /// Appends a `human` message.
    ///
    /// ```
    /// # use langchain_cockroachdb::blocking::CockroachDBChatMessageHistory;
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// # let history = CockroachDBChatMessageHistory::new("doc-add-user", &url)?;
    /// history.add_user_message("What's the weather?")?;
    /// # history.clear()?;
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn add_user_message(&self, text: impl Into<String>) -> Result<()> {
        self.add_messages(&[Message::human(text.into())])
    }

    /// Appends an `ai` message.
    ///
    /// ```
    /// # use langchain_cockroachdb::blocking::CockroachDBChatMessageHistory;
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// # let history = CockroachDBChatMessageHistory::new("doc-add-ai", &url)?;
    /// history.add_ai_message("It is sunny.")?;
    /// # history.clear()?;
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn add_ai_message(&self, text: impl Into<String>) -> Result<()> {
        self.add_messages(&[Message::ai(text.into())])
    }

    /// Appends one message of any type, metadata included.
    ///
    /// ```
    /// # use langchain_cockroachdb::blocking::CockroachDBChatMessageHistory;
    /// use langchain_cockroachdb::Message;
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// # let history = CockroachDBChatMessageHistory::new("doc-add-message", &url)?;
    /// history.add_message(&Message::ai("Paris.").with_additional_kwarg("model", "gpt-4"))?;
    /// # history.clear()?;
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn add_message(&self, message: &Message) -> Result<()> {
        self.add_messages(std::slice::from_ref(message))
    }

    /// Appends messages in one statement: all or none are stored, in this
    /// order. A retry after a lost connection never stores one twice.
    ///
    /// ```
    /// # use langchain_cockroachdb::blocking::CockroachDBChatMessageHistory;
    /// use langchain_cockroachdb::Message;
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// # let history = CockroachDBChatMessageHistory::new("doc-add-messages", &url)?;
    /// history.add_messages(&[
    ///     Message::system("You are a helpful assistant"),
    ///     Message::human("Hello"),
    ///     Message::ai("Hi there!"),
    /// ])?;
    /// # assert_eq!(history.messages()?.len(), 3); history.clear()?;
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn add_messages(&self, messages: &[Message]) -> Result<()> {
        let batch = self.session.batch(messages)?;
        if !batch.is_empty() {
            self.run(&self.session.insert_request(&batch))?;
        }
        Ok(())
    }

    /// Every message of the session, oldest first.
    ///
    /// ```
    /// # use langchain_cockroachdb::blocking::CockroachDBChatMessageHistory;
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// # let history = CockroachDBChatMessageHistory::new("doc-messages", &url)?;
    /// for msg in history.messages()? {
    ///     println!("{}: {}", msg.message_type(), msg.text());
    /// }
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn messages(&self) -> Result<Vec<Message>> {
        decode_messages(&self.run(&self.session.select_request())?)
    }

    /// Deletes every message of this session (and no other).
    ///
    /// ```
    /// # use langchain_cockroachdb::blocking::CockroachDBChatMessageHistory;
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// # let history = CockroachDBChatMessageHistory::new("doc-clear", &url)?;
    /// history.clear()?;
    /// assert!(history.messages()?.is_empty());
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn clear(&self) -> Result<()> {
        self.run(&self.session.clear_request()).map(drop)
    }

    fn run(&self, request: &Request<'_>) -> Result<Vec<postgres::Row>> {
        self.engine
            .0
            .run(&self.session.table, self.session.retry, request)
    }
}
