//! The async face: [`AsyncCockroachDBChatMessageHistory`] over
//! `tokio-postgres` and a `bb8` pool, for web servers and other tokio code.
//! Engines and histories must be made inside a tokio runtime: their pool
//! runs its connections as tasks of that runtime.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bb8::ManageConnection;
use tokio_postgres::Client;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};

use crate::config::{ConnectionConfig, EngineOptions, HistoryOptions, PoolState};
use crate::error::{Error, Result};
use crate::message::Message;
use crate::shell::{io_template, ConnectFailure, Registry};
use crate::sql::Session;
use crate::stored::{Page, PageCursor, SessionFilter, SessionInfo, StoredMessage};

type PgManager = bb8_postgres::PostgresConnectionManager<crate::tls::Tls>;
type Pool = bb8::Pool<Manager>;

async fn pause(wait: Duration) {
    tokio::time::sleep(wait).await;
}

async fn read_line<R: AsyncBufRead + Unpin>(input: &mut R, line: &mut String) -> Result<usize> {
    Ok(input.read_line(line).await?)
}

async fn write_all<W: AsyncWrite + Unpin>(out: &mut W, bytes: &[u8]) -> Result<()> {
    Ok(out.write_all(bytes).await?)
}

io_template!(
    maybe_async::must_be_async(AFIT),
    reader: [AsyncBufRead + Unpin],
    writer: [AsyncWrite + Unpin]
);

fn manager(config: tokio_postgres::Config, tls: crate::tls::Tls) -> PgManager {
    PgManager::new(config, tls)
}

/// Opens a connection, the whole handshake within `limit`: the driver's own
/// `connect_timeout` covers only the TCP connect, and a server (or load
/// balancer) that accepts but never answers would hang it.
async fn open(manager: &PgManager, limit: Duration) -> Result<Client, ConnectFailure> {
    match tokio::time::timeout(limit, manager.connect()).await {
        Ok(connected) => connected.map_err(|e| ConnectFailure::from(&e)),
        Err(_) => Err(ConnectFailure::timed_out(limit)),
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
/// let alice = AsyncCockroachDBChatMessageHistory::with_engine("user-alice", &engine, HistoryOptions::default())?;
/// let bob = AsyncCockroachDBChatMessageHistory::with_engine("user-bob", &engine, HistoryOptions::default())?;
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
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
    /// # use langchain_cockroachdb::{nonblocking::AsyncCockroachDBEngine, EngineOptions, Error};
    /// let options = EngineOptions { pool_size: 0, ..EngineOptions::default() };
    /// assert!(matches!(AsyncCockroachDBEngine::with_options("postgresql://root@localhost/db", options), Err(Error::Config(_))));
    /// # Ok(()) }
    /// ```
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
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
    /// # use langchain_cockroachdb::nonblocking::AsyncCockroachDBEngine;
    /// let engine = AsyncCockroachDBEngine::from_connection_string("postgresql://app:secret@db1:26257/chat")?;
    /// assert_eq!(engine.config().target(), "db1:26257");
    /// assert!(!format!("{engine:?}").contains("secret"));
    /// # Ok(()) }
    /// ```
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
    /// let options = HistoryOptions::default().schema("doc_async_chat").table_name("doc_async_engine_tables");
    /// engine.create_tables(&options).await?;
    /// engine.drop_tables(&options).await?;
    /// # Ok(()) }
    /// ```
    pub async fn create_tables(&self, options: &HistoryOptions) -> Result<()> {
        self.0.create_table(options).await
    }

    /// Drops the table named in `options`, if it exists. Its schema stays.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
    /// # use langchain_cockroachdb::{nonblocking::AsyncCockroachDBEngine, HistoryOptions};
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// let engine = AsyncCockroachDBEngine::from_connection_string(&url)?;
    /// engine.drop_tables(&HistoryOptions::default().table_name("doc_nonblocking_never_made")).await?; // absent: fine
    /// # Ok(()) }
    /// ```
    pub async fn drop_tables(&self, options: &HistoryOptions) -> Result<()> {
        self.0.drop_table(options).await
    }

    /// The sessions of the table `options` names, newest activity first:
    /// each with its message count and first and last activity.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
    /// # use langchain_cockroachdb::nonblocking::{AsyncCockroachDBChatMessageHistory, AsyncCockroachDBEngine};
    /// use langchain_cockroachdb::{HistoryOptions, SessionFilter};
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// let engine = AsyncCockroachDBEngine::from_connection_string(&url)?;
    /// let options = HistoryOptions::default().table_name("doc_async_list_sessions");
    /// # engine.drop_tables(&options).await?;
    /// for id in ["user-123:main", "user-123:support", "user-456:main"] {
    ///     AsyncCockroachDBChatMessageHistory::with_engine(id, &engine, options.clone())?.add_user_message("hi").await?;
    /// }
    /// let mine = engine.list_sessions(&options, &SessionFilter::default().prefix("user-123:")).await?;
    /// assert_eq!(mine.len(), 2);
    /// assert_eq!(mine[0].session_id, "user-123:support"); // newest first
    /// # engine.drop_tables(&options).await?;
    /// # Ok(()) }
    /// ```
    pub async fn list_sessions(
        &self,
        options: &HistoryOptions,
        filter: &SessionFilter,
    ) -> Result<Vec<SessionInfo>> {
        self.0.list_sessions(options, filter).await
    }

    /// Deletes whole sessions whose newest message is older than `idle`
    /// (the guide's `cleanup_old_sessions(days)`), in batches of
    /// `options.delete_batch_size` rows. Returns how many messages went.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
    /// # use langchain_cockroachdb::nonblocking::AsyncCockroachDBEngine;
    /// use std::time::Duration;
    /// use langchain_cockroachdb::HistoryOptions;
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// let engine = AsyncCockroachDBEngine::from_connection_string(&url)?;
    /// let thirty_days = Duration::from_secs(30 * 24 * 3600);
    /// let deleted = engine.delete_sessions_idle_since(&HistoryOptions::default(), thirty_days).await?;
    /// println!("removed {deleted} messages of idle sessions");
    /// # Ok(()) }
    /// ```
    pub async fn delete_sessions_idle_since(
        &self,
        options: &HistoryOptions,
        idle: Duration,
    ) -> Result<u64> {
        self.0.delete_sessions_idle_since(options, idle).await
    }

    /// Deletes every message older than `age`, whatever its session, in
    /// batches of `options.delete_batch_size` rows. Returns how many went.
    ///
    /// The table has no index on `created_at` alone (the shared schema does
    /// not), so each batch reads the table to find old rows. On a very large
    /// table, prefer [`delete_sessions_idle_since`](Self::delete_sessions_idle_since),
    /// or add `CREATE INDEX ON message_store (created_at)`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
    /// # use langchain_cockroachdb::nonblocking::AsyncCockroachDBEngine;
    /// # use langchain_cockroachdb::HistoryOptions;
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// # let engine = AsyncCockroachDBEngine::from_connection_string(&url)?;
    /// let year = std::time::Duration::from_secs(365 * 24 * 3600);
    /// engine.delete_messages_older_than(&HistoryOptions::default(), year).await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete_messages_older_than(
        &self,
        options: &HistoryOptions,
        age: Duration,
    ) -> Result<u64> {
        self.0.delete_messages_older_than(options, age).await
    }

    /// Writes every stored message of the sessions whose id starts with
    /// `prefix` (all sessions for `None`) as JSON Lines, in order, a page at
    /// a time. Returns how many lines were written.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
    /// # use langchain_cockroachdb::nonblocking::{AsyncCockroachDBChatMessageHistory, AsyncCockroachDBEngine};
    /// use langchain_cockroachdb::HistoryOptions;
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// let engine = AsyncCockroachDBEngine::from_connection_string(&url)?;
    /// let (from, to) = (HistoryOptions::default().table_name("doc_async_export_from"),
    ///                   HistoryOptions::default().table_name("doc_async_export_to"));
    /// # engine.drop_tables(&from).await?; engine.drop_tables(&to).await?;
    /// AsyncCockroachDBChatMessageHistory::with_engine("user-1:a", &engine, from.clone())?.add_user_message("hi").await?;
    ///
    /// let mut backup = Vec::new();
    /// assert_eq!(engine.export_jsonl(&from, Some("user-1:"), &mut backup).await?, 1);
    /// assert_eq!(engine.import_jsonl(&to, &mut backup.as_slice()).await?, 1);
    /// assert_eq!(engine.import_jsonl(&to, &mut backup.as_slice()).await?, 0); // already there
    /// # engine.drop_tables(&from).await?; engine.drop_tables(&to).await?;
    /// # Ok(()) }
    /// ```
    pub async fn export_jsonl<W: AsyncWrite + Unpin>(
        &self,
        options: &HistoryOptions,
        prefix: Option<&str>,
        out: &mut W,
    ) -> Result<u64> {
        self.0.export_prefix(options, prefix, out).await
    }

    /// Reads JSON Lines written by an export into the table `options`
    /// names, keeping ids and times (and so order). Rows already there are
    /// skipped, so an interrupted import can simply be run again. Returns
    /// how many rows were inserted.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
    /// # use langchain_cockroachdb::{nonblocking::AsyncCockroachDBEngine, Error, HistoryOptions};
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// let engine = AsyncCockroachDBEngine::from_connection_string(&url)?;
    /// let options = HistoryOptions::default().table_name("doc_import_bad");
    /// let mut lines: &[u8] = b"{\"id\": \"not a uuid\"}\n";
    /// let err = engine.import_jsonl(&options, &mut lines).await.unwrap_err();
    /// assert!(matches!(err, Error::InvalidMessage(ref m) if m.starts_with("line 1")));
    /// # engine.drop_tables(&options).await?;
    /// # Ok(()) }
    /// ```
    pub async fn import_jsonl<R: AsyncBufRead + Unpin>(
        &self,
        options: &HistoryOptions,
        input: &mut R,
    ) -> Result<u64> {
        self.0.import(options, input).await
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
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
    /// # use langchain_cockroachdb::nonblocking::{AsyncCockroachDBChatMessageHistory, AsyncCockroachDBEngine};
    /// use langchain_cockroachdb::HistoryOptions;
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// let engine = AsyncCockroachDBEngine::from_connection_string(&url)?;
    /// let history = AsyncCockroachDBChatMessageHistory::with_engine("user-123", &engine, HistoryOptions::default())?;
    /// assert_eq!(history.session_id(), "user-123");
    /// # Ok(()) }
    /// ```
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
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
    /// # use langchain_cockroachdb::nonblocking::AsyncCockroachDBChatMessageHistory;
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// AsyncCockroachDBChatMessageHistory::adrop_tables(&url, "doc_nonblocking_static_never_made").await?; // absent: fine
    /// # Ok(()) }
    /// ```
    pub async fn adrop_tables(connection_string: &str, table_name: &str) -> Result<()> {
        AsyncCockroachDBEngine::shared(connection_string)?
            .drop_tables(&HistoryOptions::default().table_name(table_name))
            .await
    }

    /// The session id.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
    /// # use langchain_cockroachdb::nonblocking::AsyncCockroachDBChatMessageHistory;
    /// let history = AsyncCockroachDBChatMessageHistory::new("user-123:support", "postgresql://root@localhost/db")?;
    /// assert_eq!(history.session_id(), "user-123:support");
    /// # Ok(()) }
    /// ```
    pub fn session_id(&self) -> &str {
        &self.session.id
    }

    /// The engine (connection pool) this history runs on.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
    /// # use langchain_cockroachdb::nonblocking::AsyncCockroachDBChatMessageHistory;
    /// let history = AsyncCockroachDBChatMessageHistory::new("s", "postgresql://root@localhost/db")?;
    /// println!("{:?}", history.engine().pool_state());
    /// # Ok(()) }
    /// ```
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
        self.engine.0.add_messages(&self.session, messages).await
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
        self.engine.0.messages(&self.session).await
    }

    /// The newest `n` messages, oldest first, read through the index: the
    /// cost does not grow with the session's length.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
    /// # use langchain_cockroachdb::nonblocking::AsyncCockroachDBChatMessageHistory;
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// # let history = AsyncCockroachDBChatMessageHistory::new("doc-async-last", &url)?;
    /// # history.clear().await?;
    /// for i in 0..5 { history.add_user_message(format!("m{i}")).await?; }
    /// let last: Vec<_> = history.last_messages(2).await?.iter().map(|m| m.text().into_owned()).collect();
    /// assert_eq!(last, ["m3", "m4"]);
    /// # history.clear().await?;
    /// # Ok(()) }
    /// ```
    pub async fn last_messages(&self, n: usize) -> Result<Vec<Message>> {
        self.engine.0.last_messages(&self.session, n).await
    }

    /// What LangChain's `ConversationBufferWindowMemory(k=k)` keeps: the
    /// last `k` exchanges, that is the newest `2 * k` messages, oldest first.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
    /// # use langchain_cockroachdb::nonblocking::AsyncCockroachDBChatMessageHistory;
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// # let history = AsyncCockroachDBChatMessageHistory::new("doc-async-window", &url)?;
    /// # history.clear().await?;
    /// for i in 0..3 { history.add_user_message(format!("q{i}")).await?; history.add_ai_message(format!("a{i}")).await?; }
    /// assert_eq!(history.buffer_window(2).await?.len(), 4); // q1 a1 q2 a2
    /// # history.clear().await?;
    /// # Ok(()) }
    /// ```
    pub async fn buffer_window(&self, k: usize) -> Result<Vec<Message>> {
        self.last_messages(k.saturating_mul(2)).await
    }

    /// How many messages the session holds.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
    /// # use langchain_cockroachdb::nonblocking::AsyncCockroachDBChatMessageHistory;
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// # let history = AsyncCockroachDBChatMessageHistory::new("doc-async-count", &url)?;
    /// # history.clear().await?;
    /// history.add_user_message("hi").await?;
    /// assert_eq!(history.message_count().await?, 1);
    /// # history.clear().await?;
    /// # Ok(()) }
    /// ```
    pub async fn message_count(&self) -> Result<u64> {
        self.engine.0.message_count(&self.session).await
    }

    /// The messages stored after `since`, oldest first.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
    /// # use langchain_cockroachdb::nonblocking::AsyncCockroachDBChatMessageHistory;
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// # let history = AsyncCockroachDBChatMessageHistory::new("doc-async-since", &url)?;
    /// let an_hour_ago = langchain_cockroachdb::time::OffsetDateTime::now_utc() - std::time::Duration::from_secs(3600);
    /// let recent = history.messages_since(an_hour_ago).await?;
    /// # Ok(()) }
    /// ```
    pub async fn messages_since(&self, since: time::OffsetDateTime) -> Result<Vec<Message>> {
        self.engine.0.messages_since(&self.session, since).await
    }

    /// One page of at most `size` messages with their rows, oldest first,
    /// starting after `cursor` (`None`: at the beginning). Walks a long
    /// session in order with flat memory, by keyset rather than OFFSET.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
    /// # use langchain_cockroachdb::nonblocking::AsyncCockroachDBChatMessageHistory;
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// # let history = AsyncCockroachDBChatMessageHistory::new("doc-async-pages", &url)?;
    /// # history.clear().await?;
    /// # for i in 0..5 { history.add_user_message(format!("m{i}")).await?; }
    /// let mut cursor = None;
    /// let mut seen = 0;
    /// loop {
    ///     let page = history.messages_page(cursor.as_ref(), 2).await?;
    ///     seen += page.entries.len();
    ///     match page.next {
    ///         Some(next) => cursor = Some(next),
    ///         None => break,
    ///     }
    /// }
    /// # assert_eq!(seen, 5); history.clear().await?;
    /// # Ok(()) }
    /// ```
    pub async fn messages_page(&self, cursor: Option<&PageCursor>, size: usize) -> Result<Page> {
        self.engine
            .0
            .messages_page(&self.session, cursor, size)
            .await
    }

    /// Every message with its row id and time, oldest first (the guide's
    /// "Query History").
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
    /// # use langchain_cockroachdb::nonblocking::AsyncCockroachDBChatMessageHistory;
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// # let history = AsyncCockroachDBChatMessageHistory::new("doc-async-entries", &url)?;
    /// for entry in history.entries().await? {
    ///     println!("{} {}: {}", entry.created_at, entry.id, entry.message.text());
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn entries(&self) -> Result<Vec<StoredMessage>> {
        self.engine.0.entries(&self.session).await
    }

    /// Deletes the message in row `id` of this session. Returns whether it
    /// was there; deleting it again is harmless.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
    /// # use langchain_cockroachdb::nonblocking::AsyncCockroachDBChatMessageHistory;
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// # let history = AsyncCockroachDBChatMessageHistory::new("doc-async-delete-one", &url)?;
    /// # history.clear().await?;
    /// history.add_user_message("oops").await?;
    /// let id = history.entries().await?[0].id;
    /// assert!(history.delete_message(id).await?);
    /// assert!(!history.delete_message(id).await?);
    /// # Ok(()) }
    /// ```
    pub async fn delete_message(&self, id: uuid::Uuid) -> Result<bool> {
        self.engine
            .0
            .delete_ids(&self.session, &vec![id])
            .await
            .map(|n| n > 0)
    }

    /// Deletes the newest `n` messages (undo a turn). Returns how many went;
    /// a retry never deletes more than the `n` it first found.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
    /// # use langchain_cockroachdb::nonblocking::AsyncCockroachDBChatMessageHistory;
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// # let history = AsyncCockroachDBChatMessageHistory::new("doc-async-undo", &url)?;
    /// # history.clear().await?;
    /// history.add_user_message("question").await?;
    /// history.add_ai_message("bad answer").await?;
    /// assert_eq!(history.delete_last(1).await?, 1);
    /// assert_eq!(history.message_count().await?, 1);
    /// # history.clear().await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete_last(&self, n: usize) -> Result<u64> {
        self.engine.0.delete_last(&self.session, n).await
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
        self.engine.0.clear(&self.session).await
    }

    /// Writes the session as JSON Lines (see [`StoredMessage::to_json_line`]),
    /// a page at a time. Returns how many lines were written.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
    /// # use langchain_cockroachdb::nonblocking::AsyncCockroachDBChatMessageHistory;
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// # let history = AsyncCockroachDBChatMessageHistory::new("doc-async-export", &url)?;
    /// let mut out = Vec::new();
    /// history.export_jsonl(&mut out).await?;
    /// # Ok(()) }
    /// ```
    pub async fn export_jsonl<W: AsyncWrite + Unpin>(&self, out: &mut W) -> Result<u64> {
        self.engine.0.export_session(&self.session, out).await
    }
}
