//! The blocking face: [`CockroachDBChatMessageHistory`] over `postgres` and
//! an `r2d2` pool, for CLI bots, workers and other code without an async
//! runtime. Do not call it from inside an async runtime; use
//! [`crate::nonblocking`] there.
//!
//! This file is the public surface; `driver.rs` is what the shared I/O
//! asks of the face.

use std::fmt;
use std::io::{BufRead, Write};
use std::sync::Arc;
use std::time::Duration;

use crate::catalog::Session;
use crate::config::ConnectionConfig;
use crate::error::Result;
use crate::message::{Message, TrimOptions};
use crate::options::{EngineOptions, HistoryOptions, SessionFilter};
use crate::pool::{PoolState, Registry};
use crate::stored::{Page, PageCursor, SessionInfo, StoredMessage};

mod driver;
// The shared I/O, compiled here as blocking code.
// The other face compiles the same files: that is the point.
#[allow(clippy::duplicate_mod)]
#[path = "../io/engine.rs"]
mod engine;
#[allow(clippy::duplicate_mod)]
#[path = "../io/ops.rs"]
mod ops;

use engine::Shared;

/// A connection pool to one database, shared by any number of histories and
/// tables (the guide's "Use Connection Pooling"). Cheap to clone.
///
/// ```
/// # fn main() -> langchain_cockroachdb::Result<()> {
/// use langchain_cockroachdb::blocking::{CockroachDBChatMessageHistory, CockroachDBEngine};
/// use langchain_cockroachdb::{EngineOptions, HistoryOptions};
///
/// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
/// let engine = CockroachDBEngine::with_options(&url, EngineOptions::default().pool_size(10))?;
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
    ///
    /// ```
    /// # use langchain_cockroachdb::{blocking::CockroachDBEngine, EngineOptions, Error};
    /// let options = EngineOptions::default().pool_size(0);
    /// assert!(matches!(CockroachDBEngine::with_options("postgresql://root@localhost/db", options), Err(Error::Config(_))));
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
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
    ///
    /// ```
    /// # use langchain_cockroachdb::blocking::CockroachDBEngine;
    /// let engine = CockroachDBEngine::from_connection_string("postgresql://app:secret@db1:26257/chat")?;
    /// assert_eq!(engine.config().target(), "db1:26257");
    /// assert!(!format!("{engine:?}").contains("secret"));
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
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
    /// let options = HistoryOptions::default().table_name("doc_engine_tables");
    /// engine.create_tables(&options)?;
    /// engine.drop_tables(&options)?;
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn create_tables(&self, options: &HistoryOptions) -> Result<()> {
        self.0.create_table(options)
    }

    /// Drops the table named in `options`, if it exists. Its schema stays.
    ///
    /// ```
    /// # use langchain_cockroachdb::{blocking::CockroachDBEngine, HistoryOptions};
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// let engine = CockroachDBEngine::from_connection_string(&url)?;
    /// engine.drop_tables(&HistoryOptions::default().table_name("doc_blocking_never_made"))?; // absent: fine
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn drop_tables(&self, options: &HistoryOptions) -> Result<()> {
        self.0.drop_table(options)
    }

    /// The sessions of the table `options` names, newest activity first:
    /// each with its message count and first and last activity.
    ///
    /// ```
    /// # use langchain_cockroachdb::blocking::{CockroachDBChatMessageHistory, CockroachDBEngine};
    /// use langchain_cockroachdb::{HistoryOptions, SessionFilter};
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// let engine = CockroachDBEngine::from_connection_string(&url)?;
    /// let options = HistoryOptions::default().table_name("doc_list_sessions");
    /// # engine.drop_tables(&options)?;
    /// for id in ["user-123:main", "user-123:support", "user-456:main"] {
    ///     CockroachDBChatMessageHistory::with_engine(id, &engine, options.clone())?.add_user_message("hi")?;
    /// }
    /// let mine = engine.list_sessions(&options, &SessionFilter::default().prefix("user-123:"))?;
    /// assert_eq!(mine.len(), 2);
    /// assert_eq!(mine[0].session_id, "user-123:support"); // newest first
    /// # engine.drop_tables(&options)?;
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn list_sessions(
        &self,
        options: &HistoryOptions,
        filter: &SessionFilter,
    ) -> Result<Vec<SessionInfo>> {
        self.0.list_sessions(options, filter)
    }

    /// Deletes whole sessions whose newest message is older than `idle`
    /// (the guide's `cleanup_old_sessions(days)`), in batches of
    /// `options.delete_batch_size` rows. Returns how many messages went.
    ///
    /// Cost: without the activity index, one walk over the `(session_id,
    /// created_at)` index (each round goes on from where the last stopped),
    /// plus the rows deleted. With it
    /// ([`HistoryOptions::activity_index`]), one walk over the rows older
    /// than `idle`, each session found checked through the session index:
    /// when nothing is old, one index probe.
    ///
    /// ```
    /// # use langchain_cockroachdb::blocking::CockroachDBEngine;
    /// use std::time::Duration;
    /// use langchain_cockroachdb::HistoryOptions;
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// let engine = CockroachDBEngine::from_connection_string(&url)?;
    /// let thirty_days = Duration::from_secs(30 * 24 * 3600);
    /// let deleted = engine.delete_sessions_idle_since(&HistoryOptions::default(), thirty_days)?;
    /// println!("removed {deleted} messages of idle sessions");
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn delete_sessions_idle_since(
        &self,
        options: &HistoryOptions,
        idle: Duration,
    ) -> Result<u64> {
        self.0.delete_sessions_idle_since(options, idle)
    }

    /// Deletes every message older than `age`, whatever its session, in
    /// batches of `options.delete_batch_size` rows. Returns how many went.
    ///
    /// Cost: the shared schema has no index on `created_at` alone, so a
    /// cleanup walks the primary key once, batch after batch (each starting
    /// after the last row the one before deleted): one read of the table per
    /// call, not per batch. On a very large table run it rarely, or prefer
    /// [`delete_sessions_idle_since`](Self::delete_sessions_idle_since).
    ///
    /// ```
    /// # use langchain_cockroachdb::blocking::CockroachDBEngine;
    /// # use langchain_cockroachdb::HistoryOptions;
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// # let engine = CockroachDBEngine::from_connection_string(&url)?;
    /// let year = std::time::Duration::from_secs(365 * 24 * 3600);
    /// engine.delete_messages_older_than(&HistoryOptions::default(), year)?;
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn delete_messages_older_than(
        &self,
        options: &HistoryOptions,
        age: Duration,
    ) -> Result<u64> {
        self.0.delete_messages_older_than(options, age)
    }

    /// Writes every stored message of the sessions whose id starts with
    /// `prefix` (all sessions for `None`) as JSON Lines, in order, a page at
    /// a time. Returns how many lines were written.
    ///
    /// ```
    /// # use langchain_cockroachdb::blocking::{CockroachDBChatMessageHistory, CockroachDBEngine};
    /// use langchain_cockroachdb::HistoryOptions;
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// let engine = CockroachDBEngine::from_connection_string(&url)?;
    /// let (from, to) = (HistoryOptions::default().table_name("doc_export_from"),
    ///                   HistoryOptions::default().table_name("doc_export_to"));
    /// # engine.drop_tables(&from)?; engine.drop_tables(&to)?;
    /// CockroachDBChatMessageHistory::with_engine("user-1:a", &engine, from.clone())?.add_user_message("hi")?;
    ///
    /// let mut backup = Vec::new();
    /// assert_eq!(engine.export_jsonl(&from, Some("user-1:"), &mut backup)?, 1);
    /// assert_eq!(engine.import_jsonl(&to, &mut backup.as_slice())?, 1);
    /// assert_eq!(engine.import_jsonl(&to, &mut backup.as_slice())?, 0); // already there
    /// # engine.drop_tables(&from)?; engine.drop_tables(&to)?;
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn export_jsonl<W: Write>(
        &self,
        options: &HistoryOptions,
        prefix: Option<&str>,
        out: &mut W,
    ) -> Result<u64> {
        self.0.export_prefix(options, prefix, out)
    }

    /// Reads JSON Lines written by an export into the table `options`
    /// names, keeping ids and times (and so order). Rows already there are
    /// skipped, so an interrupted import can simply be run again. Returns
    /// how many rows were inserted.
    ///
    /// ```
    /// # use langchain_cockroachdb::{blocking::CockroachDBEngine, Error, HistoryOptions};
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// let engine = CockroachDBEngine::from_connection_string(&url)?;
    /// let options = HistoryOptions::default().table_name("doc_import_bad");
    /// let mut lines: &[u8] = b"{\"id\": \"not a uuid\"}\n";
    /// let err = engine.import_jsonl(&options, &mut lines).unwrap_err();
    /// assert!(matches!(err, Error::InvalidMessage(ref m) if m.starts_with("line 1")));
    /// # engine.drop_tables(&options)?;
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn import_jsonl<R: BufRead>(&self, options: &HistoryOptions, input: &mut R) -> Result<u64> {
        self.0.import(options, input)
    }

    /// The history of `session_id` in the default table, on this engine: the
    /// per-session factory LangChain's `RunnableWithMessageHistory` takes
    /// (`get_session_history`). Cheap: no connection, no new pool. For
    /// another table, use [`CockroachDBChatMessageHistory::with_engine`].
    ///
    /// ```
    /// # use langchain_cockroachdb::blocking::CockroachDBEngine;
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// let engine = CockroachDBEngine::from_connection_string(&url)?;
    /// let get_session_history = |user: &str| engine.history(format!("user-{user}:main"));
    /// let alice = get_session_history("alice")?;
    /// assert_eq!(alice.session_id(), "user-alice:main");
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn history(&self, session_id: impl Into<String>) -> Result<CockroachDBChatMessageHistory> {
        CockroachDBChatMessageHistory::with_engine(session_id, self, HistoryOptions::default())
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
    ///
    /// ```
    /// # use langchain_cockroachdb::blocking::{CockroachDBChatMessageHistory, CockroachDBEngine};
    /// use langchain_cockroachdb::HistoryOptions;
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// let engine = CockroachDBEngine::from_connection_string(&url)?;
    /// let history = CockroachDBChatMessageHistory::with_engine("user-123", &engine, HistoryOptions::default())?;
    /// assert_eq!(history.session_id(), "user-123");
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
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
    ///
    /// ```
    /// # use langchain_cockroachdb::blocking::CockroachDBChatMessageHistory;
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// CockroachDBChatMessageHistory::drop_tables(&url, "doc_blocking_static_never_made")?; // absent: fine
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn drop_tables(connection_string: &str, table_name: &str) -> Result<()> {
        CockroachDBEngine::shared(connection_string)?
            .drop_tables(&HistoryOptions::default().table_name(table_name))
    }

    /// The session id.
    ///
    /// ```
    /// # use langchain_cockroachdb::blocking::CockroachDBChatMessageHistory;
    /// let history = CockroachDBChatMessageHistory::new("user-123:support", "postgresql://root@localhost/db")?;
    /// assert_eq!(history.session_id(), "user-123:support");
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn session_id(&self) -> &str {
        &self.session.id
    }

    /// The engine (connection pool) this history runs on.
    ///
    /// ```
    /// # use langchain_cockroachdb::blocking::CockroachDBChatMessageHistory;
    /// let history = CockroachDBChatMessageHistory::new("s", "postgresql://root@localhost/db")?;
    /// println!("{:?}", history.engine().pool_state());
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
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
        self.engine.0.add_messages(&self.session, messages)
    }

    /// Appends messages under row ids you chose, in one statement, in this
    /// order. Returns how many were new: ids already in the table are
    /// skipped, so calling again after an [ambiguous](crate::Error::is_ambiguous)
    /// error stores each message exactly once. (Choose fresh ids, such as
    /// `Uuid::new_v4()`, before the first call; an id used elsewhere in the
    /// table is skipped too.)
    ///
    /// ```
    /// # use langchain_cockroachdb::blocking::CockroachDBChatMessageHistory;
    /// use langchain_cockroachdb::{Message, uuid::Uuid};
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// # let history = CockroachDBChatMessageHistory::new("doc-add-with-ids", &url)?;
    /// # history.clear()?;
    /// let turn = [(Uuid::new_v4(), Message::human("Hi")), (Uuid::new_v4(), Message::ai("Hello!"))];
    /// let stored = loop {
    ///     match history.add_messages_with_ids(&turn) {
    ///         Err(err) if err.is_ambiguous() => continue, // safe: same ids
    ///         other => break other?,
    ///     }
    /// };
    /// assert_eq!(stored, 2);
    /// assert_eq!(history.add_messages_with_ids(&turn)?, 0); // already there
    /// # assert_eq!(history.message_count()?, 2); history.clear()?;
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn add_messages_with_ids(&self, messages: &[(uuid::Uuid, Message)]) -> Result<u64> {
        self.engine.0.add_messages_with_ids(&self.session, messages)
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
        self.engine.0.messages(&self.session)
    }

    /// The newest `n` messages, oldest first, read through the index: the
    /// cost does not grow with the session's length.
    ///
    /// ```
    /// # use langchain_cockroachdb::blocking::CockroachDBChatMessageHistory;
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// # let history = CockroachDBChatMessageHistory::new("doc-last", &url)?;
    /// # history.clear()?;
    /// for i in 0..5 { history.add_user_message(format!("m{i}"))?; }
    /// let last: Vec<_> = history.last_messages(2)?.iter().map(|m| m.text().into_owned()).collect();
    /// assert_eq!(last, ["m3", "m4"]);
    /// # history.clear()?;
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn last_messages(&self, n: usize) -> Result<Vec<Message>> {
        self.engine.0.last_messages(&self.session, n)
    }

    /// What LangChain's `ConversationBufferWindowMemory(k=k)` keeps: the
    /// last `k` exchanges, that is the newest `2 * k` messages, oldest first.
    ///
    /// ```
    /// # use langchain_cockroachdb::blocking::CockroachDBChatMessageHistory;
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// # let history = CockroachDBChatMessageHistory::new("doc-window", &url)?;
    /// # history.clear()?;
    /// for i in 0..3 { history.add_user_message(format!("q{i}"))?; history.add_ai_message(format!("a{i}"))?; }
    /// assert_eq!(history.buffer_window(2)?.len(), 4); // q1 a1 q2 a2
    /// # history.clear()?;
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn buffer_window(&self, k: usize) -> Result<Vec<Message>> {
        self.last_messages(k.saturating_mul(2))
    }

    /// The context window for a model, as LangChain's `trim_messages(...,
    /// strategy="last", token_counter=count_tokens_approximately)` makes it
    /// of the whole session, read from the newest rows back page by page,
    /// so that its cost follows the window, not the session.
    ///
    /// ```
    /// # use langchain_cockroachdb::blocking::CockroachDBChatMessageHistory;
    /// use langchain_cockroachdb::{Message, MessageType, TrimOptions};
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// # let history = CockroachDBChatMessageHistory::new("doc-trim", &url)?;
    /// # history.clear()?;
    /// history.add_message(&Message::system("Be brief."))?;
    /// for i in 0..100 {
    ///     history.add_messages(&[Message::human(format!("question {i}")), Message::ai(format!("answer {i}"))])?;
    /// }
    /// let window = history.trim(&TrimOptions::new(40).include_system(true).start_on(MessageType::Human))?;
    /// assert_eq!(window[0].text(), "Be brief.");
    /// assert_eq!(window.last().unwrap().text(), "answer 99");
    /// # history.clear()?;
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn trim(&self, options: &TrimOptions) -> Result<Vec<Message>> {
        self.trim_with_counter(options, crate::count_tokens_approximately)
    }

    /// As [`trim`](Self::trim), with your token counter (a model's
    /// tokenizer): it counts a list of messages, and never fewer tokens for
    /// more messages.
    ///
    /// ```
    /// # use langchain_cockroachdb::blocking::CockroachDBChatMessageHistory;
    /// use langchain_cockroachdb::TrimOptions;
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// # let history = CockroachDBChatMessageHistory::new("doc-trim-counter", &url)?;
    /// # history.clear()?;
    /// for i in 0..10 { history.add_user_message(format!("m{i}"))?; }
    /// // One "token" a message: the newest three.
    /// let window = history.trim_with_counter(&TrimOptions::new(3), |messages| messages.len())?;
    /// assert_eq!(window.len(), 3);
    /// # history.clear()?;
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn trim_with_counter(
        &self,
        options: &TrimOptions,
        counter: impl Fn(&[Message]) -> usize + Sync,
    ) -> Result<Vec<Message>> {
        self.engine.0.trim(&self.session, options, counter)
    }

    /// How many messages the session holds.
    ///
    /// ```
    /// # use langchain_cockroachdb::blocking::CockroachDBChatMessageHistory;
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// # let history = CockroachDBChatMessageHistory::new("doc-count", &url)?;
    /// # history.clear()?;
    /// history.add_user_message("hi")?;
    /// assert_eq!(history.message_count()?, 1);
    /// # history.clear()?;
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn message_count(&self) -> Result<u64> {
        self.engine.0.message_count(&self.session)
    }

    /// The messages stored after `since`, oldest first.
    ///
    /// ```
    /// # use langchain_cockroachdb::blocking::CockroachDBChatMessageHistory;
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// # let history = CockroachDBChatMessageHistory::new("doc-since", &url)?;
    /// let an_hour_ago = langchain_cockroachdb::time::OffsetDateTime::now_utc() - std::time::Duration::from_secs(3600);
    /// let recent = history.messages_since(an_hour_ago)?;
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn messages_since(&self, since: time::OffsetDateTime) -> Result<Vec<Message>> {
        self.engine.0.messages_since(&self.session, since)
    }

    /// One page of at most `size` messages with their rows, oldest first,
    /// starting after `cursor` (`None`: at the beginning). Walks a long
    /// session in order with flat memory, by keyset rather than OFFSET.
    ///
    /// ```
    /// # use langchain_cockroachdb::blocking::CockroachDBChatMessageHistory;
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// # let history = CockroachDBChatMessageHistory::new("doc-pages", &url)?;
    /// # history.clear()?;
    /// # for i in 0..5 { history.add_user_message(format!("m{i}"))?; }
    /// let mut cursor = None;
    /// let mut seen = 0;
    /// loop {
    ///     let page = history.messages_page(cursor.as_ref(), 2)?;
    ///     seen += page.entries.len();
    ///     match page.next {
    ///         Some(next) => cursor = Some(next),
    ///         None => break,
    ///     }
    /// }
    /// # assert_eq!(seen, 5); history.clear()?;
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn messages_page(&self, cursor: Option<&PageCursor>, size: usize) -> Result<Page> {
        self.engine.0.messages_page(&self.session, cursor, size)
    }

    /// Every message with its row id and time, oldest first (the guide's
    /// "Query History").
    ///
    /// ```
    /// # use langchain_cockroachdb::blocking::CockroachDBChatMessageHistory;
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// # let history = CockroachDBChatMessageHistory::new("doc-entries", &url)?;
    /// for entry in history.entries()? {
    ///     println!("{} {}: {}", entry.created_at, entry.id, entry.message.text());
    /// }
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn entries(&self) -> Result<Vec<StoredMessage>> {
        self.engine.0.entries(&self.session)
    }

    /// Deletes the message in row `id` of this session. Returns whether it
    /// was there; deleting it again is harmless.
    ///
    /// ```
    /// # use langchain_cockroachdb::blocking::CockroachDBChatMessageHistory;
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// # let history = CockroachDBChatMessageHistory::new("doc-delete-one", &url)?;
    /// # history.clear()?;
    /// history.add_user_message("oops")?;
    /// let id = history.entries()?[0].id;
    /// assert!(history.delete_message(id)?);
    /// assert!(!history.delete_message(id)?);
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn delete_message(&self, id: uuid::Uuid) -> Result<bool> {
        self.engine.0.delete_message(&self.session, id)
    }

    /// Deletes the newest `n` messages (undo a turn). Returns how many went;
    /// a retry never deletes more than the `n` it first found.
    ///
    /// ```
    /// # use langchain_cockroachdb::blocking::CockroachDBChatMessageHistory;
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// # let history = CockroachDBChatMessageHistory::new("doc-undo", &url)?;
    /// # history.clear()?;
    /// history.add_user_message("question")?;
    /// history.add_ai_message("bad answer")?;
    /// assert_eq!(history.delete_last(1)?, 1);
    /// assert_eq!(history.message_count()?, 1);
    /// # history.clear()?;
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn delete_last(&self, n: usize) -> Result<u64> {
        self.engine.0.delete_last(&self.session, n)
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
        self.engine.0.clear(&self.session)
    }

    /// Writes the session as JSON Lines (see [`StoredMessage::to_json_line`]),
    /// a page at a time. Returns how many lines were written.
    ///
    /// ```
    /// # use langchain_cockroachdb::blocking::CockroachDBChatMessageHistory;
    /// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// # let history = CockroachDBChatMessageHistory::new("doc-export", &url)?;
    /// let mut out = Vec::new();
    /// history.export_jsonl(&mut out)?;
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn export_jsonl<W: Write>(&self, out: &mut W) -> Result<u64> {
        self.engine.0.export_session(&self.session, out)
    }
}

/// The history as a [`ChatMessageHistory`](crate::ChatMessageHistory), for
/// code written against the trait.
///
/// ```
/// # use langchain_cockroachdb::blocking::CockroachDBEngine;
/// use langchain_cockroachdb::ChatMessageHistory;
///
/// fn remember(history: &impl ChatMessageHistory, fact: &str) -> langchain_cockroachdb::Result<()> {
///     history.add_user_message(fact)
/// }
/// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
/// let history = CockroachDBEngine::from_connection_string(&url)?.history("doc-trait")?;
/// remember(&history, "My name is Alice.")?;
/// # history.clear()?;
/// # Ok::<(), langchain_cockroachdb::Error>(())
/// ```
impl crate::ChatMessageHistory for CockroachDBChatMessageHistory {
    fn messages(&self) -> Result<Vec<Message>> {
        CockroachDBChatMessageHistory::messages(self)
    }

    fn add_messages(&self, messages: &[Message]) -> Result<()> {
        CockroachDBChatMessageHistory::add_messages(self, messages)
    }

    fn clear(&self) -> Result<()> {
        CockroachDBChatMessageHistory::clear(self)
    }
}
