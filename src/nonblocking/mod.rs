//! The async face: [`AsyncCockroachDBChatMessageHistory`] over
//! `tokio-postgres` and a `bb8` pool. It belongs in every async program:
//! web servers (keep one [`AsyncCockroachDBEngine`] in the router's state),
//! agents, tokio workers. Code without an async runtime uses
//! [`crate::blocking`] instead; that face called inside async code returns
//! [`Error::Runtime`](crate::Error::Runtime) (see its docs).
//!
//! Engines and histories can be made anywhere, inside a tokio runtime or
//! not (before `#[tokio::main]`, in a `static`): making one opens no
//! connection and starts nothing. The pool is made on the engine's first
//! operation, in the tokio runtime that awaits it, and runs its connections
//! as tasks of that runtime; so operations are awaited in a tokio runtime
//! with IO and time enabled (`#[tokio::main]` and `#[tokio::test]` have
//! both).
//!
//! ```
//! use langchain_cockroachdb::nonblocking::{AsyncCockroachDBChatMessageHistory, AsyncCockroachDBEngine};
//! # let url = std::env::var("LANGCHAIN_COCKROACHDB_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
//! // No runtime yet.
//! let engine = AsyncCockroachDBEngine::from_connection_string(&url)?;
//! let history = AsyncCockroachDBChatMessageHistory::new("doc-made-outside-a-runtime", &url)?;
//!
//! let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
//! runtime.block_on(async {
//!     engine.ping().await?;
//!     history.clear().await
//! })?;
//! # Ok::<(), langchain_cockroachdb::Error>(())
//! ```
//!
//! This file is the public surface; `driver.rs` is what the shared I/O
//! asks of the face.

use std::fmt;
use std::sync::Arc;

use uuid::Uuid;

use crate::error::Result;
use crate::history::{AsyncChatMessageHistory, BoxFuture};
use crate::message::{Message, TrimOptions};
use crate::options::HistoryOptions;
use crate::stored::{Page, PageCursor};
use crate::table::Session;

/// A runnable example of the `api_*.rs` files of `io/`, as this face shows it: its nonblocking form,
/// in a `main` that has this face's types and the test database's `url`.
macro_rules! example {
    ($blocking:literal, $nonblocking:literal) => {
        concat!(
            "```\n",
            "# use langchain_cockroachdb::nonblocking::{AsyncCockroachDBChatMessageHistory, AsyncCockroachDBEngine};\n",
            "# #[tokio::main(flavor = \"current_thread\")] async fn main() -> langchain_cockroachdb::Result<()> {\n",
            "# let url = std::env::var(\"LANGCHAIN_COCKROACHDB_URL\").unwrap_or(\"postgresql://root@127.0.0.1:5432/test\".into());",
            $nonblocking,
            "# Ok(()) }\n",
            "```"
        )
    };
}

/// A runnable example of `transaction.rs`, as this face shows it: its
/// nonblocking form, run on `view`, this face's `history.on(&tx)` in a
/// transaction on a connection of its own, rolled back at the end.
macro_rules! example_tx {
    ($blocking:literal, $nonblocking:literal) => {
        concat!(
            "```\n",
            "# use langchain_cockroachdb::{nonblocking::AsyncCockroachDBEngine, tokio_postgres};\n",
            "# #[tokio::main(flavor = \"current_thread\")] async fn main() -> langchain_cockroachdb::Result<()> {\n",
            "# let url = std::env::var(\"LANGCHAIN_COCKROACHDB_URL\").unwrap_or(\"postgresql://root@127.0.0.1:5432/test\".into());\n",
            "# let engine = AsyncCockroachDBEngine::from_connection_string(&url)?;\n",
            "# engine.create_tables(&langchain_cockroachdb::HistoryOptions::default()).await?;\n",
            "# let history = engine.history(format!(\"doc-async-tx-{}\", langchain_cockroachdb::uuid::Uuid::new_v4()))?;\n",
            "# let (mut client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;\n",
            "# tokio::spawn(connection);\n",
            "# let tx = client.transaction().await?;\n",
            "# let mut view = history.on(&tx);",
            $nonblocking,
            "# drop(view);\n",
            "# tx.rollback().await?;\n",
            "# Ok(()) }\n",
            "```"
        )
    };
}

mod driver;
mod live;
#[cfg(feature = "langchain-rust")]
mod memory;
mod mode;
// The shared I/O and the public operations, compiled here as async code.
// The other face compiles the same files: that is the point.
crate::io_modules!();

pub use live::Watch;
pub use transaction::InTransaction;

use self::{
    AsyncCockroachDBChatHistoryStore as Store, AsyncCockroachDBChatMessageHistory as History,
    AsyncCockroachDBEngine as Engine,
};
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
/// # let url = std::env::var("LANGCHAIN_COCKROACHDB_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
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
    /// Writes every stored message of the sessions whose id starts with
    /// `prefix` (all sessions for `None`) as JSON Lines, in order, a page at
    /// a time. Returns how many lines were written.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
    /// # use langchain_cockroachdb::nonblocking::{AsyncCockroachDBChatMessageHistory, AsyncCockroachDBEngine};
    /// use langchain_cockroachdb::HistoryOptions;
    /// # let url = std::env::var("LANGCHAIN_COCKROACHDB_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
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
    /// The input is not trusted: a line may be no longer than
    /// `options.max_message_bytes` plus 16 KiB (the id, time and session
    /// id around the message), and the rest of a longer one is read without
    /// being kept; lines go in statements of up to 500 rows and
    /// `options.max_batch_bytes` of JSON; a `created_at` before the year 1
    /// or over a day ahead of this machine's clock is refused (a session's
    /// next message goes after its newest). Messages of any depth import,
    /// as they export. A failure is [`Error::Import`](crate::Error::Import): the line, and how
    /// many rows were stored before it (none of the failing line's batch).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
    /// # use langchain_cockroachdb::{nonblocking::AsyncCockroachDBEngine, Error, HistoryOptions};
    /// # let url = std::env::var("LANGCHAIN_COCKROACHDB_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// let engine = AsyncCockroachDBEngine::from_connection_string(&url)?;
    /// let options = HistoryOptions::default().table_name("doc_async_import_bad");
    /// let mut lines: &[u8] = b"{\"id\": \"not a uuid\"}\n";
    /// let err = engine.import_jsonl(&options, &mut lines).await.unwrap_err();
    /// assert!(matches!(err, Error::Import { line: 1, committed: 0, .. }));
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
/// # let url = std::env::var("LANGCHAIN_COCKROACHDB_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
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
    /// This history's operations on your own connection or transaction (a
    /// `Client` or `Transaction` of the driver this face is built on, in the
    /// version this crate re-exports): to store a turn and rows of your own
    /// (token usage, a bill, an audit line) in one transaction. Each runs at
    /// once on `client`, with the history's statements and checks; your
    /// transaction decides the rest (see [`InTransaction`]: the table must
    /// exist, and every error, a serialization failure among them, is
    /// returned, never retried).
    ///
    /// ```
    /// use langchain_cockroachdb::nonblocking::{AsyncCockroachDBChatMessageHistory, AsyncCockroachDBEngine};
    /// use langchain_cockroachdb::{HistoryOptions, Message, SqlState, tokio_postgres};
    ///
    /// /// One turn: the exchange and what it cost, stored together or not at all.
    /// async fn store_turn(
    ///     client: &mut tokio_postgres::Client,
    ///     history: &AsyncCockroachDBChatMessageHistory,
    ///     turn: &[Message],
    ///     (prompt_tokens, completion_tokens): (i64, i64),
    /// ) -> langchain_cockroachdb::Result<()> {
    ///     let tx = client.transaction().await?;
    ///     history.on(&tx).add_messages(turn).await?;
    ///     tx.execute(
    ///         "INSERT INTO doc_async_token_usage (session_id, prompt_tokens, completion_tokens) VALUES ($1, $2, $3)",
    ///         &[&history.session_id(), &prompt_tokens, &completion_tokens],
    ///     ).await?;
    ///     tx.commit().await?;
    ///     Ok(())
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
    /// # let url = std::env::var("LANGCHAIN_COCKROACHDB_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// let engine = AsyncCockroachDBEngine::from_connection_string(&url)?;
    /// engine.create_tables(&HistoryOptions::default()).await?; // before a transaction uses it
    /// let history = engine.history("doc-async-token-usage")?;
    ///
    /// let (mut client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
    /// tokio::spawn(connection);
    /// # client.batch_execute("DROP TABLE IF EXISTS doc_async_token_usage").await?;
    /// client.batch_execute(
    ///     "CREATE TABLE IF NOT EXISTS doc_async_token_usage (
    ///         session_id TEXT NOT NULL, prompt_tokens INT8 NOT NULL, completion_tokens INT8 NOT NULL)",
    /// ).await?;
    /// # history.clear().await?;
    ///
    /// let turn = [Message::human("What is CockroachDB?"), Message::ai("A distributed SQL database.")];
    /// // Yours to retry: a serialization failure (on CockroachDB, any conflict) asks for it all again.
    /// loop {
    ///     match store_turn(&mut client, &history, &turn, (12, 7)).await {
    ///         Err(err) if err.code() == Some(&SqlState::T_R_SERIALIZATION_FAILURE) => continue,
    ///         done => break done?,
    ///     }
    /// }
    /// assert_eq!(history.message_count().await?, 2);
    /// let sql = "SELECT sum(prompt_tokens + completion_tokens)::INT8 FROM doc_async_token_usage WHERE session_id = $1";
    /// let spent: i64 = client.query_one(sql, &[&history.session_id()]).await?.get(0);
    /// assert_eq!(spent, 19);
    /// # history.clear().await?;
    /// # client.batch_execute("DROP TABLE doc_async_token_usage").await?;
    /// # Ok(()) }
    /// ```
    pub fn on<'a, C: tokio_postgres::GenericClient>(
        &'a self,
        client: &'a C,
    ) -> InTransaction<'a, C> {
        InTransaction::new(client, &self.session, &self.engine.0)
    }

    /// Creates the table `table_name` in schema `public` if it does not exist.
    /// Histories also do this on first use.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
    /// # use langchain_cockroachdb::nonblocking::AsyncCockroachDBChatMessageHistory;
    /// # let url = std::env::var("LANGCHAIN_COCKROACHDB_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// AsyncCockroachDBChatMessageHistory::acreate_tables(&url, "doc_async_blocking_create").await?;
    /// AsyncCockroachDBChatMessageHistory::adrop_tables(&url, "doc_async_blocking_create").await?;
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
    /// # let url = std::env::var("LANGCHAIN_COCKROACHDB_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// AsyncCockroachDBChatMessageHistory::adrop_tables(&url, "doc_async_blocking_static_never_made").await?; // absent: fine
    /// # Ok(()) }
    /// ```
    pub async fn adrop_tables(connection_string: &str, table_name: &str) -> Result<()> {
        AsyncCockroachDBEngine::shared(connection_string)?
            .drop_tables(&HistoryOptions::default().table_name(table_name))
            .await
    }

    /// Writes the session as JSON Lines (see [`StoredMessage::to_json_line`](crate::StoredMessage::to_json_line)),
    /// a page at a time. Returns how many lines were written.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
    /// # use langchain_cockroachdb::nonblocking::AsyncCockroachDBChatMessageHistory;
    /// # let url = std::env::var("LANGCHAIN_COCKROACHDB_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// # let history = AsyncCockroachDBChatMessageHistory::new("doc-async-export", &url)?;
    /// let mut out = Vec::new();
    /// history.export_jsonl(&mut out).await?;
    /// # Ok(()) }
    /// ```
    pub async fn export_jsonl<W: AsyncWrite + Unpin>(&self, out: &mut W) -> Result<u64> {
        self.engine.0.export_session(&self.session, out).await
    }
}

/// The history as an [`AsyncChatMessageHistory`](crate::AsyncChatMessageHistory),
/// for code written against the trait, `Arc<dyn AsyncChatMessageHistory>`
/// included; each method is the history's own of the same name, so its
/// reads take only the rows they need.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
/// use std::sync::Arc;
/// use langchain_cockroachdb::nonblocking::AsyncCockroachDBEngine;
/// use langchain_cockroachdb::{AsyncChatMessageHistory, InMemoryChatMessageHistory};
///
/// # let url = std::env::var("LANGCHAIN_COCKROACHDB_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
/// let in_production: Arc<dyn AsyncChatMessageHistory> =
///     Arc::new(AsyncCockroachDBEngine::from_connection_string(&url)?.history("doc-async-trait")?);
/// let in_tests: Arc<dyn AsyncChatMessageHistory> = Arc::new(InMemoryChatMessageHistory::new());
/// for history in [in_production, in_tests] {
///     history.add_user_message("My name is Alice.").await?;
///     assert_eq!(history.last_messages(1).await?[0].text(), "My name is Alice.");
///     history.clear().await?;
/// }
/// # Ok(()) }
/// ```
impl AsyncChatMessageHistory for AsyncCockroachDBChatMessageHistory {
    fn messages(&self) -> BoxFuture<'_, Result<Vec<Message>>> {
        Box::pin(AsyncCockroachDBChatMessageHistory::messages(self))
    }

    fn add_messages<'a>(&'a self, messages: &'a [Message]) -> BoxFuture<'a, Result<()>> {
        Box::pin(AsyncCockroachDBChatMessageHistory::add_messages(
            self, messages,
        ))
    }

    fn add_messages_with_ids<'a>(
        &'a self,
        messages: &'a [(Uuid, Message)],
    ) -> BoxFuture<'a, Result<u64>> {
        Box::pin(AsyncCockroachDBChatMessageHistory::add_messages_with_ids(
            self, messages,
        ))
    }

    fn messages_page<'a>(
        &'a self,
        cursor: Option<&'a PageCursor>,
        size: usize,
    ) -> BoxFuture<'a, Result<Page>> {
        Box::pin(AsyncCockroachDBChatMessageHistory::messages_page(
            self, cursor, size,
        ))
    }

    fn messages_page_back<'a>(
        &'a self,
        cursor: Option<&'a PageCursor>,
        size: usize,
    ) -> BoxFuture<'a, Result<Page>> {
        Box::pin(AsyncCockroachDBChatMessageHistory::messages_page_back(
            self, cursor, size,
        ))
    }

    fn delete_last(&self, n: usize) -> BoxFuture<'_, Result<u64>> {
        Box::pin(AsyncCockroachDBChatMessageHistory::delete_last(self, n))
    }

    fn clear(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(AsyncCockroachDBChatMessageHistory::clear(self))
    }

    fn last_messages(&self, n: usize) -> BoxFuture<'_, Result<Vec<Message>>> {
        Box::pin(AsyncCockroachDBChatMessageHistory::last_messages(self, n))
    }

    fn buffer_window(&self, k: usize) -> BoxFuture<'_, Result<Vec<Message>>> {
        Box::pin(AsyncCockroachDBChatMessageHistory::buffer_window(self, k))
    }

    fn message_count(&self) -> BoxFuture<'_, Result<u64>> {
        Box::pin(AsyncCockroachDBChatMessageHistory::message_count(self))
    }

    fn trim<'a>(&'a self, options: &'a TrimOptions) -> BoxFuture<'a, Result<Vec<Message>>> {
        Box::pin(AsyncCockroachDBChatMessageHistory::trim(self, options))
    }
}

/// The histories of one table, by session id, for code that serves many
/// sessions: it implements [`AsyncChatHistoryStore`](crate::AsyncChatHistoryStore),
/// and so does [`InMemoryChatHistoryStore`](crate::InMemoryChatHistoryStore)
/// for that code's tests. Made by [`AsyncCockroachDBEngine::history_store`];
/// cheap to clone, and its histories share the engine's pool.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
/// use std::sync::Arc;
/// use langchain_cockroachdb::nonblocking::AsyncCockroachDBEngine;
/// use langchain_cockroachdb::{AsyncChatHistoryStore, AsyncChatMessageHistory, HistoryOptions};
///
/// # let url = std::env::var("LANGCHAIN_COCKROACHDB_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
/// let engine = AsyncCockroachDBEngine::from_connection_string(&url)?;
/// let store: Arc<dyn AsyncChatHistoryStore> = Arc::new(engine.history_store(HistoryOptions::default())?);
/// let history = store.history("doc-async-store-user-1")?;
/// # history.clear().await?;
/// history.add_user_message("hi").await?;
/// assert_eq!(history.message_count().await?, 1);
/// # history.clear().await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct AsyncCockroachDBChatHistoryStore {
    engine: AsyncCockroachDBEngine,
    options: Arc<HistoryOptions>,
}

impl crate::AsyncChatHistoryStore for AsyncCockroachDBChatHistoryStore {
    fn history(&self, session_id: &str) -> Result<Box<dyn AsyncChatMessageHistory>> {
        let options = HistoryOptions::clone(&self.options);
        let history =
            AsyncCockroachDBChatMessageHistory::with_engine(session_id, &self.engine, options)?;
        Ok(Box::new(history))
    }
}
