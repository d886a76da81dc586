//! The async face: [`AsyncAsyncCockroachDBChatMessageHistory`] over
//! `tokio-postgres` and a `bb8` pool, for web servers and other tokio code.
//! Engines and histories must be made inside a tokio runtime: their pool
//! runs its connections as tasks of that runtime.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bb8::ManageConnection;
use tokio_postgres::Client;

use crate::config::{ConnectionConfig, EngineOptions, HistoryOptions, PoolState};
use crate::error::{Error, Result};
use crate::message::Message;
use crate::shell::{io_template, ConnectFailure, Registry};
use crate::sql::{decode_messages, Request, Session};

type PgManager = bb8_postgres::PostgresConnectionManager<crate::tls::Tls>;
type Pool = bb8::Pool<Manager>;

async fn pause(wait: Duration) {
    tokio::time::sleep(wait).await;
}

io_template!(maybe_async::must_be_async(AFIT));

/// Opens a connection, the whole handshake within `limit`: the driver's own
/// `connect_timeout` covers only the TCP connect, and a server (or load
/// balancer) that accepts but never answers would hang it.
async fn open(manager: &PgManager, limit: Duration) -> Result<Client, ConnectFailure> {
    match tokio::time::timeout(limit, manager.connect()).await {
        Ok(connected) => connected.map_err(|e| ConnectFailure::from(&e)),
        Err(_) => Err(ConnectFailure(format!(
            "timed out after {limit:?}: the server did not complete the handshake"
        ))),
    }
}

type Pooled<'a> = bb8::PooledConnection<'a, Manager>;

async fn checkout(pool: &Pool, wait: Duration) -> Option<Pooled<'_>> {
    tokio::time::timeout(wait, pool.get()).await.ok()?.ok()
}

/// The tokio runtime the caller runs on: pools are per runtime, since their
/// connections are tasks of the runtime that opened them.
fn current_runtime() -> Result<tokio::runtime::Id> {
    tokio::runtime::Handle::try_current()
        .map(|handle| handle.id())
        .map_err(|_| Error::Config("the async API must be used inside a tokio runtime".into()))
}

/// A connection pool to one database, shared by any number of histories and
/// tables (the guide's "Use Connection Pooling"). Cheap to clone.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
/// use langchain_cockroachdb::nonblocking::{AsyncCockroachDBChatMessageHistory, AsyncCockroachDBEngine};
/// use langchain_cockroachdb::{EngineOptions, HistoryOptions};
///
/// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
/// let engine = AsyncCockroachDBEngine::with_options(&url, EngineOptions { pool_size: 10, ..Default::default() })?;
/// engine.ping().await?;
/// let alice = AsyncCockroachDBChatMessageHistory::with_engine("async-user-alice", &engine, HistoryOptions::default())?;
/// let bob = AsyncCockroachDBChatMessageHistory::with_engine("async-user-bob", &engine, HistoryOptions::default())?;
/// # alice.clear().await?; bob.clear().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct AsyncCockroachDBEngine(Arc<Shared>);

impl fmt::Debug for AsyncCockroachDBEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncCockroachDBEngine")
            .field("config", &self.0.config)
            .field("pool", &self.pool_state())
            .finish_non_exhaustive()
    }
}

impl AsyncCockroachDBEngine {
    /// An engine with default [`EngineOptions`]. Opens no connection yet.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
    /// # use langchain_cockroachdb::nonblocking::AsyncCockroachDBEngine;
    /// let engine = AsyncCockroachDBEngine::from_connection_string("postgresql://root@localhost:26257/defaultdb?sslmode=disable").unwrap();
    /// assert!(AsyncCockroachDBEngine::from_connection_string("not a url").is_err());
    /// # Ok(()) }
    /// ```
    pub fn from_connection_string(connection_string: &str) -> Result<Self> {
        Self::with_options(connection_string, EngineOptions::default())
    }

    /// An engine with the given pool options. Opens no connection yet.
    pub fn with_options(connection_string: &str, options: EngineOptions) -> Result<Self> {
        current_runtime()?;
        Ok(AsyncCockroachDBEngine(Arc::new(Shared::new(
            connection_string.parse()?,
            options,
        )?)))
    }

    /// Checks the database answers (`SELECT 1`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
    /// # use langchain_cockroachdb::nonblocking::AsyncCockroachDBEngine;
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// AsyncCockroachDBEngine::from_connection_string(&url)?.ping().await?;
    /// # Ok(()) }
    /// ```
    pub async fn ping(&self) -> Result<()> {
        self.0.ping().await
    }

    /// How many connections are open and idle.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
    /// # use langchain_cockroachdb::nonblocking::AsyncCockroachDBEngine;
    /// let engine = AsyncCockroachDBEngine::from_connection_string("postgresql://root@localhost/db").unwrap();
    /// assert_eq!(engine.pool_state().connections, 0); // connections open on first use
    /// # Ok(()) }
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
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
    /// # use langchain_cockroachdb::{nonblocking::AsyncCockroachDBEngine, HistoryOptions};
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// let engine = AsyncCockroachDBEngine::from_connection_string(&url)?;
    /// let options = HistoryOptions::default().schema("doc_chat").table_name("doc_async_engine_tables");
    /// engine.create_tables(&options).await?;
    /// engine.drop_tables(&options).await?;
    /// # Ok(()) }
    /// ```
    pub async fn create_tables(&self, options: &HistoryOptions) -> Result<()> {
        self.0.create_table(options).await
    }

    /// Drops the table named in `options`, if it exists. Its schema stays.
    pub async fn drop_tables(&self, options: &HistoryOptions) -> Result<()> {
        self.0.drop_table(options).await
    }

    /// The engine this process keeps for `connection_string` on the current
    /// runtime, made on first request: histories built from a bare
    /// connection string share it.
    fn shared(connection_string: &str) -> Result<Self> {
        static ENGINES: Registry<(tokio::runtime::Id, String), AsyncCockroachDBEngine> =
            Registry::new();
        let key = (current_runtime()?, connection_string.to_owned());
        ENGINES.get_or_try_insert(key, || Self::from_connection_string(connection_string))
    }
}

/// The chat history of one session, stored in a CockroachDB table.
///
/// Cheap to clone, `Send + Sync`. Histories built from the same connection
/// string share one connection pool, so building one per request is fine.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
/// use langchain_cockroachdb::nonblocking::AsyncCockroachDBChatMessageHistory;
///
/// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
/// let history = AsyncCockroachDBChatMessageHistory::new("doc-async-user-123", &url)?;
/// # history.clear().await?;
/// history.add_user_message("Hello! How are you?").await?;
/// history.add_ai_message("I'm doing well, thank you!").await?;
/// for msg in history.messages().await? {
///     println!("{}: {}", msg.message_type(), msg.text());
/// }
/// # assert_eq!(history.messages().await?.len(), 2);
/// history.clear().await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct AsyncCockroachDBChatMessageHistory {
    engine: AsyncCockroachDBEngine,
    session: Arc<Session>,
}

impl AsyncCockroachDBChatMessageHistory {
    /// The history of `session_id` in the default table `message_store`.
    /// Checks its arguments but opens no connection: the first operation
    /// does, and creates the table if needed.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
    /// # use langchain_cockroachdb::{nonblocking::AsyncCockroachDBChatMessageHistory, Error};
    /// let err = AsyncCockroachDBChatMessageHistory::new("", "postgresql://root@localhost/db").unwrap_err();
    /// assert!(matches!(err, Error::InvalidIdentifier { what: "session id", .. }));
    /// # Ok(()) }
    /// ```
    pub fn new(session_id: impl Into<String>, connection_string: &str) -> Result<Self> {
        Self::with_options(session_id, connection_string, HistoryOptions::default())
    }

    /// The history of `session_id` in the table `options` names.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
    /// # use langchain_cockroachdb::{nonblocking::AsyncCockroachDBChatMessageHistory, HistoryOptions};
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// let history = AsyncCockroachDBChatMessageHistory::with_options(
    ///     "user-123",
    ///     &url,
    ///     HistoryOptions::default().table_name("my_chat_history"),
    /// )?;
    /// # Ok(()) }
    /// ```
    pub fn with_options(
        session_id: impl Into<String>,
        connection_string: &str,
        options: HistoryOptions,
    ) -> Result<Self> {
        Self::with_engine(
            session_id,
            &AsyncCockroachDBEngine::shared(connection_string)?,
            options,
        )
    }

    /// The history of `session_id` over an engine you manage.
    pub fn with_engine(
        session_id: impl Into<String>,
        engine: &AsyncCockroachDBEngine,
        options: HistoryOptions,
    ) -> Result<Self> {
        let session = engine.0.session(session_id.into(), &options)?;
        Ok(AsyncCockroachDBChatMessageHistory {
            engine: engine.clone(),
            session: Arc::new(session),
        })
    }

    /// Creates the table `table_name` in schema `public` if it does not exist.
    /// Histories also do this on first use.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
    /// # use langchain_cockroachdb::nonblocking::AsyncCockroachDBChatMessageHistory;
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// AsyncCockroachDBChatMessageHistory::acreate_tables(&url, "doc_async_create").await?;
    /// AsyncCockroachDBChatMessageHistory::adrop_tables(&url, "doc_async_create").await?;
    /// # Ok(()) }
    /// ```
    pub async fn acreate_tables(connection_string: &str, table_name: &str) -> Result<()> {
        AsyncCockroachDBEngine::shared(connection_string)?
            .create_tables(&HistoryOptions::default().table_name(table_name))
            .await
    }

    /// Drops the table `table_name` in schema `public`, with every session in it.
    pub async fn adrop_tables(connection_string: &str, table_name: &str) -> Result<()> {
        AsyncCockroachDBEngine::shared(connection_string)?
            .drop_tables(&HistoryOptions::default().table_name(table_name))
            .await
    }

    /// The session id.
    pub fn session_id(&self) -> &str {
        &self.session.id
    }

    /// The engine (connection pool) this history runs on.
    pub fn engine(&self) -> &AsyncCockroachDBEngine {
        &self.engine
    }

    /// Appends a `human` message.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
    /// # use langchain_cockroachdb::nonblocking::AsyncCockroachDBChatMessageHistory;
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// # let history = AsyncCockroachDBChatMessageHistory::new("doc-async-add-user", &url)?;
    /// history.add_user_message("What's the weather?").await?;
    /// # history.clear().await?;
    /// # Ok(()) }
    /// ```
    pub async fn add_user_message(&self, text: impl Into<String>) -> Result<()> {
        self.add_messages(&[Message::human(text.into())]).await
    }

    /// Appends an `ai` message.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
    /// # use langchain_cockroachdb::nonblocking::AsyncCockroachDBChatMessageHistory;
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// # let history = AsyncCockroachDBChatMessageHistory::new("doc-async-add-ai", &url)?;
    /// history.add_ai_message("It is sunny.").await?;
    /// # history.clear().await?;
    /// # Ok(()) }
    /// ```
    pub async fn add_ai_message(&self, text: impl Into<String>) -> Result<()> {
        self.add_messages(&[Message::ai(text.into())]).await
    }

    /// Appends one message of any type, metadata included.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
    /// # use langchain_cockroachdb::nonblocking::AsyncCockroachDBChatMessageHistory;
    /// use langchain_cockroachdb::Message;
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// # let history = AsyncCockroachDBChatMessageHistory::new("doc-async-add-message", &url)?;
    /// history.add_message(&Message::ai("Paris.").with_additional_kwarg("model", "gpt-4")).await?;
    /// # history.clear().await?;
    /// # Ok(()) }
    /// ```
    pub async fn add_message(&self, message: &Message) -> Result<()> {
        self.add_messages(std::slice::from_ref(message)).await
    }

    /// Appends messages in one statement: all or none are stored, in this
    /// order. A retry after a lost connection never stores one twice.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
    /// # use langchain_cockroachdb::nonblocking::AsyncCockroachDBChatMessageHistory;
    /// use langchain_cockroachdb::Message;
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// # let history = AsyncCockroachDBChatMessageHistory::new("doc-async-add-messages", &url)?;
    /// history.add_messages(&[
    ///     Message::system("You are a helpful assistant"),
    ///     Message::human("Hello"),
    ///     Message::ai("Hi there!"),
    /// ]).await?;
    /// # assert_eq!(history.messages().await?.len(), 3); history.clear().await?;
    /// # Ok(()) }
    /// ```
    pub async fn add_messages(&self, messages: &[Message]) -> Result<()> {
        let batch = self.session.batch(messages)?;
        if !batch.is_empty() {
            self.run(&self.session.insert_request(&batch)).await?;
        }
        Ok(())
    }

    /// Every message of the session, oldest first.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
    /// # use langchain_cockroachdb::nonblocking::AsyncCockroachDBChatMessageHistory;
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// # let history = AsyncCockroachDBChatMessageHistory::new("doc-async-messages", &url)?;
    /// for msg in history.messages().await? {
    ///     println!("{}: {}", msg.message_type(), msg.text());
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn messages(&self) -> Result<Vec<Message>> {
        decode_messages(&self.run(&self.session.select_request()).await?)
    }

    /// Deletes every message of this session (and no other).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
    /// # use langchain_cockroachdb::nonblocking::AsyncCockroachDBChatMessageHistory;
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// # let history = AsyncCockroachDBChatMessageHistory::new("doc-async-clear", &url)?;
    /// history.clear().await?;
    /// assert!(history.messages().await?.is_empty());
    /// # Ok(()) }
    /// ```
    pub async fn clear(&self) -> Result<()> {
        self.run(&self.session.clear_request()).await.map(drop)
    }

    async fn run(&self, request: &Request<'_>) -> Result<Vec<tokio_postgres::Row>> {
        self.engine
            .0
            .run(&self.session.table, self.session.retry, request)
            .await
    }
}
