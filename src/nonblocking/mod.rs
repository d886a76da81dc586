//! The async face: [`AsyncCockroachDBChatMessageHistory`] over
//! `tokio-postgres` and a `bb8` pool, for web servers and other tokio code.
//! Engines and histories must be made inside a tokio runtime: their pool
//! runs its connections as tasks of that runtime.
//!
//! This file is the public surface; `driver.rs` is what the shared I/O
//! asks of the face.

use std::fmt;
use std::future::Future;
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
// The shared I/O, compiled here as async code.
// The other face compiles the same files: that is the point.
#[allow(clippy::duplicate_mod)]
#[path = "../io/engine.rs"]
mod engine;
#[allow(clippy::duplicate_mod)]
#[path = "../io/ops.rs"]
mod ops;

use driver::current_runtime;
use engine::Shared;
use tokio::io::{AsyncBufRead, AsyncWrite};

/// A connection pool to one database, shared by any number of histories and
/// tables (the guide's "Use Connection Pooling"). Cheap to clone.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
/// use langchain_cockroachdb::nonblocking::{AsyncCockroachDBChatMessageHistory, AsyncCockroachDBEngine};
/// use langchain_cockroachdb::{EngineOptions, HistoryOptions};
///
/// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
/// let engine = AsyncCockroachDBEngine::with_options(&url, EngineOptions::default().pool_size(10))?;
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
    /// As [`CockroachDBEngine::from_connection_string`](crate::blocking::CockroachDBEngine::from_connection_string) on the blocking face, whose
    /// example shows it in use (inside a tokio runtime here).
    pub fn from_connection_string(connection_string: &str) -> Result<Self> {
        Self::with_options(connection_string, EngineOptions::default())
    }

    /// An engine with the given pool options. Opens no connection yet.
    ///
    /// As [`CockroachDBEngine::with_options`](crate::blocking::CockroachDBEngine::with_options) on the blocking face, whose
    /// example shows it in use (inside a tokio runtime here).
    pub fn with_options(connection_string: &str, options: EngineOptions) -> Result<Self> {
        current_runtime()?;
        Ok(AsyncCockroachDBEngine(Arc::new(Shared::new(
            connection_string.parse()?,
            options,
        )?)))
    }

    /// Checks the database answers (`SELECT 1`).
    ///
    /// The async form of [`CockroachDBEngine::ping`](crate::blocking::CockroachDBEngine::ping),
    /// whose example shows it in use: add `.await`.
    pub async fn ping(&self) -> Result<()> {
        self.0.ping().await
    }

    /// How many connections are open and idle.
    ///
    /// As [`CockroachDBEngine::pool_state`](crate::blocking::CockroachDBEngine::pool_state) on the blocking face, whose
    /// example shows it in use (inside a tokio runtime here).
    pub fn pool_state(&self) -> PoolState {
        self.0.pool_state()
    }

    /// The parsed connection string.
    ///
    /// As [`CockroachDBEngine::config`](crate::blocking::CockroachDBEngine::config) on the blocking face, whose
    /// example shows it in use (inside a tokio runtime here).
    pub fn config(&self) -> &ConnectionConfig {
        &self.0.config
    }

    /// Creates the table named in `options` (and its schema and index) if it
    /// does not exist.
    ///
    /// The async form of [`CockroachDBEngine::create_tables`](crate::blocking::CockroachDBEngine::create_tables),
    /// whose example shows it in use: add `.await`.
    pub async fn create_tables(&self, options: &HistoryOptions) -> Result<()> {
        self.0.create_table(options).await
    }

    /// Drops the table named in `options`, if it exists. Its schema stays.
    ///
    /// The async form of [`CockroachDBEngine::drop_tables`](crate::blocking::CockroachDBEngine::drop_tables),
    /// whose example shows it in use: add `.await`.
    pub async fn drop_tables(&self, options: &HistoryOptions) -> Result<()> {
        self.0.drop_table(options).await
    }

    /// The sessions of the table `options` names, newest activity first:
    /// each with its message count and first and last activity.
    ///
    /// The async form of [`CockroachDBEngine::list_sessions`](crate::blocking::CockroachDBEngine::list_sessions),
    /// whose example shows it in use: add `.await`.
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
    /// The async form of [`CockroachDBEngine::delete_sessions_idle_since`](crate::blocking::CockroachDBEngine::delete_sessions_idle_since),
    /// whose example shows it in use: add `.await`.
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
    /// The async form of [`CockroachDBEngine::delete_messages_older_than`](crate::blocking::CockroachDBEngine::delete_messages_older_than),
    /// whose example shows it in use: add `.await`.
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
    /// The async form of [`CockroachDBEngine::export_jsonl`](crate::blocking::CockroachDBEngine::export_jsonl),
    /// whose example shows it in use: add `.await`.
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
    /// The async form of [`CockroachDBEngine::import_jsonl`](crate::blocking::CockroachDBEngine::import_jsonl),
    /// whose example shows it in use: add `.await`.
    pub async fn import_jsonl<R: AsyncBufRead + Unpin>(
        &self,
        options: &HistoryOptions,
        input: &mut R,
    ) -> Result<u64> {
        self.0.import(options, input).await
    }

    /// The history of `session_id` in the default table, on this engine: the
    /// per-session factory of LangChain's `RunnableWithMessageHistory`.
    ///
    /// As [`CockroachDBEngine::history`](crate::blocking::CockroachDBEngine::history)
    /// on the blocking face, whose example shows it in use.
    pub fn history(
        &self,
        session_id: impl Into<String>,
    ) -> Result<AsyncCockroachDBChatMessageHistory> {
        AsyncCockroachDBChatMessageHistory::with_engine(session_id, self, HistoryOptions::default())
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
    /// As [`CockroachDBChatMessageHistory::new`](crate::blocking::CockroachDBChatMessageHistory::new) on the blocking face, whose
    /// example shows it in use (inside a tokio runtime here).
    pub fn new(session_id: impl Into<String>, connection_string: &str) -> Result<Self> {
        Self::with_options(session_id, connection_string, HistoryOptions::default())
    }

    /// The history of `session_id` in the table `options` names.
    ///
    /// As [`CockroachDBChatMessageHistory::with_options`](crate::blocking::CockroachDBChatMessageHistory::with_options) on the blocking face, whose
    /// example shows it in use (inside a tokio runtime here).
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
    /// As [`CockroachDBChatMessageHistory::with_engine`](crate::blocking::CockroachDBChatMessageHistory::with_engine) on the blocking face, whose
    /// example shows it in use (inside a tokio runtime here).
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
    /// The async form of [`CockroachDBChatMessageHistory::create_tables`](crate::blocking::CockroachDBChatMessageHistory::create_tables),
    /// whose example shows it in use: add `.await`.
    pub async fn acreate_tables(connection_string: &str, table_name: &str) -> Result<()> {
        AsyncCockroachDBEngine::shared(connection_string)?
            .create_tables(&HistoryOptions::default().table_name(table_name))
            .await
    }

    /// Drops the table `table_name` in schema `public`, with every session in it.
    ///
    /// The async form of [`CockroachDBChatMessageHistory::drop_tables`](crate::blocking::CockroachDBChatMessageHistory::drop_tables),
    /// whose example shows it in use: add `.await`.
    pub async fn adrop_tables(connection_string: &str, table_name: &str) -> Result<()> {
        AsyncCockroachDBEngine::shared(connection_string)?
            .drop_tables(&HistoryOptions::default().table_name(table_name))
            .await
    }

    /// The session id.
    ///
    /// As [`CockroachDBChatMessageHistory::session_id`](crate::blocking::CockroachDBChatMessageHistory::session_id) on the blocking face, whose
    /// example shows it in use (inside a tokio runtime here).
    pub fn session_id(&self) -> &str {
        &self.session.id
    }

    /// The engine (connection pool) this history runs on.
    ///
    /// As [`CockroachDBChatMessageHistory::engine`](crate::blocking::CockroachDBChatMessageHistory::engine) on the blocking face, whose
    /// example shows it in use (inside a tokio runtime here).
    pub fn engine(&self) -> &AsyncCockroachDBEngine {
        &self.engine
    }

    /// Appends a `human` message.
    ///
    /// The async form of [`CockroachDBChatMessageHistory::add_user_message`](crate::blocking::CockroachDBChatMessageHistory::add_user_message),
    /// whose example shows it in use: add `.await`.
    pub async fn add_user_message(&self, text: impl Into<String>) -> Result<()> {
        self.add_messages(&[Message::human(text.into())]).await
    }

    /// Appends an `ai` message.
    ///
    /// The async form of [`CockroachDBChatMessageHistory::add_ai_message`](crate::blocking::CockroachDBChatMessageHistory::add_ai_message),
    /// whose example shows it in use: add `.await`.
    pub async fn add_ai_message(&self, text: impl Into<String>) -> Result<()> {
        self.add_messages(&[Message::ai(text.into())]).await
    }

    /// Appends one message of any type, metadata included.
    ///
    /// The async form of [`CockroachDBChatMessageHistory::add_message`](crate::blocking::CockroachDBChatMessageHistory::add_message),
    /// whose example shows it in use: add `.await`.
    pub async fn add_message(&self, message: &Message) -> Result<()> {
        self.add_messages(std::slice::from_ref(message)).await
    }

    /// Appends messages in one statement: all or none are stored, in this
    /// order. A retry after a lost connection never stores one twice.
    ///
    /// The async form of [`CockroachDBChatMessageHistory::add_messages`](crate::blocking::CockroachDBChatMessageHistory::add_messages),
    /// whose example shows it in use: add `.await`.
    pub async fn add_messages(&self, messages: &[Message]) -> Result<()> {
        self.engine.0.add_messages(&self.session, messages).await
    }

    /// Appends messages under row ids you chose, in one statement, in this
    /// order. Returns how many were new.
    ///
    /// The async form of [`CockroachDBChatMessageHistory::add_messages_with_ids`](crate::blocking::CockroachDBChatMessageHistory::add_messages_with_ids),
    /// whose example shows it in use: add `.await`.
    pub async fn add_messages_with_ids(&self, messages: &[(uuid::Uuid, Message)]) -> Result<u64> {
        self.engine
            .0
            .add_messages_with_ids(&self.session, messages)
            .await
    }

    /// Every message of the session, oldest first.
    ///
    /// The async form of [`CockroachDBChatMessageHistory::messages`](crate::blocking::CockroachDBChatMessageHistory::messages),
    /// whose example shows it in use: add `.await`.
    pub async fn messages(&self) -> Result<Vec<Message>> {
        self.engine.0.messages(&self.session).await
    }

    /// The newest `n` messages, oldest first, read through the index: the
    /// cost does not grow with the session's length.
    ///
    /// The async form of [`CockroachDBChatMessageHistory::last_messages`](crate::blocking::CockroachDBChatMessageHistory::last_messages),
    /// whose example shows it in use: add `.await`.
    pub async fn last_messages(&self, n: usize) -> Result<Vec<Message>> {
        self.engine.0.last_messages(&self.session, n).await
    }

    /// What LangChain's `ConversationBufferWindowMemory(k=k)` keeps: the
    /// last `k` exchanges, that is the newest `2 * k` messages, oldest first.
    ///
    /// The async form of [`CockroachDBChatMessageHistory::buffer_window`](crate::blocking::CockroachDBChatMessageHistory::buffer_window),
    /// whose example shows it in use: add `.await`.
    pub async fn buffer_window(&self, k: usize) -> Result<Vec<Message>> {
        self.last_messages(k.saturating_mul(2)).await
    }

    /// The context window for a model, as LangChain's `trim_messages` makes
    /// it, read from the newest rows back.
    ///
    /// The async form of [`CockroachDBChatMessageHistory::trim`](crate::blocking::CockroachDBChatMessageHistory::trim),
    /// whose example shows it in use: add `.await`.
    pub async fn trim(&self, options: &TrimOptions) -> Result<Vec<Message>> {
        self.trim_with_counter(options, crate::count_tokens_approximately)
            .await
    }

    /// As [`trim`](Self::trim), with your token counter.
    ///
    /// The async form of [`CockroachDBChatMessageHistory::trim_with_counter`](crate::blocking::CockroachDBChatMessageHistory::trim_with_counter),
    /// whose example shows it in use: add `.await`.
    pub async fn trim_with_counter(
        &self,
        options: &TrimOptions,
        counter: impl Fn(&[Message]) -> usize + Sync,
    ) -> Result<Vec<Message>> {
        self.engine.0.trim(&self.session, options, counter).await
    }

    /// How many messages the session holds.
    ///
    /// The async form of [`CockroachDBChatMessageHistory::message_count`](crate::blocking::CockroachDBChatMessageHistory::message_count),
    /// whose example shows it in use: add `.await`.
    pub async fn message_count(&self) -> Result<u64> {
        self.engine.0.message_count(&self.session).await
    }

    /// The messages stored after `since`, oldest first.
    ///
    /// The async form of [`CockroachDBChatMessageHistory::messages_since`](crate::blocking::CockroachDBChatMessageHistory::messages_since),
    /// whose example shows it in use: add `.await`.
    pub async fn messages_since(&self, since: time::OffsetDateTime) -> Result<Vec<Message>> {
        self.engine.0.messages_since(&self.session, since).await
    }

    /// One page of at most `size` messages with their rows, oldest first,
    /// starting after `cursor` (`None`: at the beginning). Walks a long
    /// session in order with flat memory, by keyset rather than OFFSET.
    ///
    /// The async form of [`CockroachDBChatMessageHistory::messages_page`](crate::blocking::CockroachDBChatMessageHistory::messages_page),
    /// whose example shows it in use: add `.await`.
    pub async fn messages_page(&self, cursor: Option<&PageCursor>, size: usize) -> Result<Page> {
        self.engine
            .0
            .messages_page(&self.session, cursor, size)
            .await
    }

    /// Every message with its row id and time, oldest first (the guide's
    /// "Query History").
    ///
    /// The async form of [`CockroachDBChatMessageHistory::entries`](crate::blocking::CockroachDBChatMessageHistory::entries),
    /// whose example shows it in use: add `.await`.
    pub async fn entries(&self) -> Result<Vec<StoredMessage>> {
        self.engine.0.entries(&self.session).await
    }

    /// Deletes the message in row `id` of this session. Returns whether it
    /// was there; deleting it again is harmless.
    ///
    /// The async form of [`CockroachDBChatMessageHistory::delete_message`](crate::blocking::CockroachDBChatMessageHistory::delete_message),
    /// whose example shows it in use: add `.await`.
    pub async fn delete_message(&self, id: uuid::Uuid) -> Result<bool> {
        self.engine.0.delete_message(&self.session, id).await
    }

    /// Deletes the newest `n` messages (undo a turn). Returns how many went;
    /// a retry never deletes more than the `n` it first found.
    ///
    /// The async form of [`CockroachDBChatMessageHistory::delete_last`](crate::blocking::CockroachDBChatMessageHistory::delete_last),
    /// whose example shows it in use: add `.await`.
    pub async fn delete_last(&self, n: usize) -> Result<u64> {
        self.engine.0.delete_last(&self.session, n).await
    }

    /// Deletes every message of this session (and no other).
    ///
    /// The async form of [`CockroachDBChatMessageHistory::clear`](crate::blocking::CockroachDBChatMessageHistory::clear),
    /// whose example shows it in use: add `.await`.
    pub async fn clear(&self) -> Result<()> {
        self.engine.0.clear(&self.session).await
    }

    /// Writes the session as JSON Lines (see [`StoredMessage::to_json_line`]),
    /// a page at a time. Returns how many lines were written.
    ///
    /// The async form of [`CockroachDBChatMessageHistory::export_jsonl`](crate::blocking::CockroachDBChatMessageHistory::export_jsonl),
    /// whose example shows it in use: add `.await`.
    pub async fn export_jsonl<W: AsyncWrite + Unpin>(&self, out: &mut W) -> Result<u64> {
        self.engine.0.export_session(&self.session, out).await
    }
}

/// The history as an [`AsyncChatMessageHistory`](crate::AsyncChatMessageHistory),
/// for code written against the trait (see
/// [`ChatMessageHistory`](crate::ChatMessageHistory) for the blocking form).
impl crate::AsyncChatMessageHistory for AsyncCockroachDBChatMessageHistory {
    fn messages(&self) -> impl Future<Output = Result<Vec<Message>>> + Send {
        AsyncCockroachDBChatMessageHistory::messages(self)
    }

    fn add_messages(&self, messages: &[Message]) -> impl Future<Output = Result<()>> + Send {
        AsyncCockroachDBChatMessageHistory::add_messages(self, messages)
    }

    fn clear(&self) -> impl Future<Output = Result<()>> + Send {
        AsyncCockroachDBChatMessageHistory::clear(self)
    }
}
