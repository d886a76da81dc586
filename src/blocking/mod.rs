//! The blocking face: [`CockroachDBChatMessageHistory`] over `postgres` and
//! an `r2d2` pool. It belongs in code that runs on no async runtime: a
//! command-line bot, a script, a worker thread, a synchronous framework.
//! An async program (tokio, axum, a rig agent) uses [`crate::nonblocking`].
//!
//! Inside async code (a `#[tokio::main]` function, an axum handler) this
//! face's calls cannot block the runtime's thread: tokio's panic hook
//! prints tokio's own message ("Cannot start a runtime from within a
//! runtime"), and the call returns [`Error::Runtime`](crate::Error::Runtime)
//! instead of panicking. There, use [`crate::nonblocking`], or call this
//! face inside `tokio::task::spawn_blocking`, whose threads may block.
//!
//! This file is the public surface; `driver.rs` is what the shared I/O
//! asks of the face.

use std::fmt;
use std::io::{BufRead, Write};
use std::sync::Arc;

use uuid::Uuid;

use crate::error::Result;
use crate::history::ChatMessageHistory;
use crate::message::{Message, TrimOptions};
use crate::options::HistoryOptions;
use crate::stored::{Page, PageCursor};
use crate::table::Session;

/// A runnable example of the `api_*.rs` files of `io/`, as this face shows it: its blocking form,
/// in a `main` that has this face's types and the test database's `url`.
macro_rules! example {
    ($blocking:literal, $nonblocking:literal) => {
        concat!(
            "```\n",
            "# use langchain_cockroachdb::blocking::{CockroachDBChatMessageHistory, CockroachDBEngine};\n",
            "# fn main() -> langchain_cockroachdb::Result<()> {\n",
            "# let url = std::env::var(\"LANGCHAIN_COCKROACHDB_URL\").unwrap_or(\"postgresql://root@127.0.0.1:5432/test\".into());",
            $blocking,
            "# Ok(()) }\n",
            "```"
        )
    };
}

/// A runnable example of `transaction.rs`, as this face shows it: its
/// blocking form, run on `view`, this face's `history.on(&mut tx)` in a
/// transaction on a connection of its own, rolled back at the end.
macro_rules! example_tx {
    ($blocking:literal, $nonblocking:literal) => {
        concat!(
            "```\n",
            "# use langchain_cockroachdb::blocking::{CockroachDBEngine, postgres};\n",
            "# fn main() -> langchain_cockroachdb::Result<()> {\n",
            "# let url = std::env::var(\"LANGCHAIN_COCKROACHDB_URL\").unwrap_or(\"postgresql://root@127.0.0.1:5432/test\".into());\n",
            "# let engine = CockroachDBEngine::from_connection_string(&url)?;\n",
            "# engine.create_tables(&langchain_cockroachdb::HistoryOptions::default())?;\n",
            "# let history = engine.history(format!(\"doc-tx-{}\", langchain_cockroachdb::uuid::Uuid::new_v4()))?;\n",
            "# let mut client = postgres::Client::connect(&url, postgres::NoTls)?;\n",
            "# let mut tx = client.transaction()?;\n",
            "# let mut view = history.on(&mut tx);",
            $blocking,
            "# drop(view);\n",
            "# tx.rollback()?;\n",
            "# Ok(()) }\n",
            "```"
        )
    };
}

mod driver;
mod gate;
mod live;
mod mode;
// The shared I/O and the public operations, compiled here as blocking code.
// The other face compiles the same files: that is the point.
crate::io_modules!();

pub use live::Watch;
pub use transaction::InTransaction;

/// The driver this face is built on, so that you can make the connections
/// and transactions a history's
/// [`on`](CockroachDBChatMessageHistory::on) takes, in a matching version.
pub use postgres;

use self::{
    CockroachDBChatHistoryStore as Store, CockroachDBChatMessageHistory as History,
    CockroachDBEngine as Engine,
};
use engine::Shared;

/// A connection pool to one database, shared by any number of histories and
/// tables (the guide's "Use Connection Pooling"). Cheap to clone.
///
/// ```
/// # fn main() -> langchain_cockroachdb::Result<()> {
/// use langchain_cockroachdb::blocking::{CockroachDBChatMessageHistory, CockroachDBEngine};
/// use langchain_cockroachdb::{EngineOptions, HistoryOptions};
///
/// # let url = std::env::var("LANGCHAIN_COCKROACHDB_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
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
    /// Writes every stored message of the sessions whose id starts with
    /// `prefix` (all sessions for `None`) as JSON Lines, in order, a page at
    /// a time. Returns how many lines were written.
    ///
    /// ```
    /// # use langchain_cockroachdb::blocking::{CockroachDBChatMessageHistory, CockroachDBEngine};
    /// use langchain_cockroachdb::HistoryOptions;
    /// # let url = std::env::var("LANGCHAIN_COCKROACHDB_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
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
    /// # use langchain_cockroachdb::{blocking::CockroachDBEngine, Error, HistoryOptions};
    /// # let url = std::env::var("LANGCHAIN_COCKROACHDB_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// let engine = CockroachDBEngine::from_connection_string(&url)?;
    /// let options = HistoryOptions::default().table_name("doc_import_bad");
    /// let mut lines: &[u8] = b"{\"id\": \"not a uuid\"}\n";
    /// let err = engine.import_jsonl(&options, &mut lines).unwrap_err();
    /// assert!(matches!(err, Error::Import { line: 1, committed: 0, .. }));
    /// # engine.drop_tables(&options)?;
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn import_jsonl<R: BufRead>(&self, options: &HistoryOptions, input: &mut R) -> Result<u64> {
        self.0.import(options, input)
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
/// # let url = std::env::var("LANGCHAIN_COCKROACHDB_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
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
    /// use langchain_cockroachdb::blocking::{CockroachDBChatMessageHistory, CockroachDBEngine, postgres};
    /// use langchain_cockroachdb::{HistoryOptions, Message, SqlState};
    ///
    /// /// One turn: the exchange and what it cost, stored together or not at all.
    /// fn store_turn(
    ///     client: &mut postgres::Client,
    ///     history: &CockroachDBChatMessageHistory,
    ///     turn: &[Message],
    ///     (prompt_tokens, completion_tokens): (i64, i64),
    /// ) -> langchain_cockroachdb::Result<()> {
    ///     let mut tx = client.transaction()?;
    ///     history.on(&mut tx).add_messages(turn)?;
    ///     tx.execute(
    ///         "INSERT INTO doc_token_usage (session_id, prompt_tokens, completion_tokens) VALUES ($1, $2, $3)",
    ///         &[&history.session_id(), &prompt_tokens, &completion_tokens],
    ///     )?;
    ///     tx.commit()?;
    ///     Ok(())
    /// }
    ///
    /// # let url = std::env::var("LANGCHAIN_COCKROACHDB_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// let engine = CockroachDBEngine::from_connection_string(&url)?;
    /// engine.create_tables(&HistoryOptions::default())?; // before a transaction uses it
    /// let history = engine.history("doc-token-usage")?;
    ///
    /// let mut client = postgres::Client::connect(&url, postgres::NoTls)?;
    /// # client.batch_execute("DROP TABLE IF EXISTS doc_token_usage")?;
    /// client.batch_execute(
    ///     "CREATE TABLE IF NOT EXISTS doc_token_usage (
    ///         session_id TEXT NOT NULL, prompt_tokens INT8 NOT NULL, completion_tokens INT8 NOT NULL)",
    /// )?;
    /// # history.clear()?;
    ///
    /// let turn = [Message::human("What is CockroachDB?"), Message::ai("A distributed SQL database.")];
    /// // Yours to retry: a serialization failure (on CockroachDB, any conflict) asks for it all again.
    /// loop {
    ///     match store_turn(&mut client, &history, &turn, (12, 7)) {
    ///         Err(err) if err.code() == Some(&SqlState::T_R_SERIALIZATION_FAILURE) => continue,
    ///         done => break done?,
    ///     }
    /// }
    /// assert_eq!(history.message_count()?, 2);
    /// let sql = "SELECT sum(prompt_tokens + completion_tokens)::INT8 FROM doc_token_usage WHERE session_id = $1";
    /// let spent: i64 = client.query_one(sql, &[&history.session_id()])?.get(0);
    /// assert_eq!(spent, 19);
    /// # history.clear()?;
    /// # client.batch_execute("DROP TABLE doc_token_usage")?;
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn on<'a, C: postgres::GenericClient>(&'a self, client: &'a mut C) -> InTransaction<'a, C> {
        InTransaction::new(client, &self.session, &self.engine.0)
    }

    /// Creates the table `table_name` in schema `public` if it does not exist.
    /// Histories also do this on first use.
    ///
    /// ```
    /// # use langchain_cockroachdb::blocking::CockroachDBChatMessageHistory;
    /// # let url = std::env::var("LANGCHAIN_COCKROACHDB_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
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
    /// # let url = std::env::var("LANGCHAIN_COCKROACHDB_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// CockroachDBChatMessageHistory::drop_tables(&url, "doc_blocking_static_never_made")?; // absent: fine
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn drop_tables(connection_string: &str, table_name: &str) -> Result<()> {
        CockroachDBEngine::shared(connection_string)?
            .drop_tables(&HistoryOptions::default().table_name(table_name))
    }

    /// Writes the session as JSON Lines (see [`StoredMessage::to_json_line`](crate::StoredMessage::to_json_line)),
    /// a page at a time. Returns how many lines were written.
    ///
    /// ```
    /// # use langchain_cockroachdb::blocking::CockroachDBChatMessageHistory;
    /// # let url = std::env::var("LANGCHAIN_COCKROACHDB_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
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
/// code written against the trait, `dyn ChatMessageHistory` included; each
/// method is the history's own of the same name, so its reads take only
/// the rows they need.
///
/// ```
/// # use langchain_cockroachdb::blocking::CockroachDBEngine;
/// use langchain_cockroachdb::ChatMessageHistory;
///
/// fn remember(history: &dyn ChatMessageHistory, fact: &str) -> langchain_cockroachdb::Result<()> {
///     history.add_user_message(fact)
/// }
/// # let url = std::env::var("LANGCHAIN_COCKROACHDB_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
/// let history = CockroachDBEngine::from_connection_string(&url)?.history("doc-trait")?;
/// remember(&history, "My name is Alice.")?;
/// # history.clear()?;
/// # Ok::<(), langchain_cockroachdb::Error>(())
/// ```
impl ChatMessageHistory for CockroachDBChatMessageHistory {
    fn messages(&self) -> Result<Vec<Message>> {
        CockroachDBChatMessageHistory::messages(self)
    }

    fn add_messages(&self, messages: &[Message]) -> Result<()> {
        CockroachDBChatMessageHistory::add_messages(self, messages)
    }

    fn add_messages_with_ids(&self, messages: &[(Uuid, Message)]) -> Result<u64> {
        CockroachDBChatMessageHistory::add_messages_with_ids(self, messages)
    }

    fn messages_page(&self, cursor: Option<&PageCursor>, size: usize) -> Result<Page> {
        CockroachDBChatMessageHistory::messages_page(self, cursor, size)
    }

    fn messages_page_back(&self, cursor: Option<&PageCursor>, size: usize) -> Result<Page> {
        CockroachDBChatMessageHistory::messages_page_back(self, cursor, size)
    }

    fn delete_last(&self, n: usize) -> Result<u64> {
        CockroachDBChatMessageHistory::delete_last(self, n)
    }

    fn clear(&self) -> Result<()> {
        CockroachDBChatMessageHistory::clear(self)
    }

    fn last_messages(&self, n: usize) -> Result<Vec<Message>> {
        CockroachDBChatMessageHistory::last_messages(self, n)
    }

    fn buffer_window(&self, k: usize) -> Result<Vec<Message>> {
        CockroachDBChatMessageHistory::buffer_window(self, k)
    }

    fn message_count(&self) -> Result<u64> {
        CockroachDBChatMessageHistory::message_count(self)
    }

    fn trim(&self, options: &TrimOptions) -> Result<Vec<Message>> {
        CockroachDBChatMessageHistory::trim(self, options)
    }
}

/// The histories of one table, by session id, for code that serves many
/// sessions: it implements [`ChatHistoryStore`](crate::ChatHistoryStore),
/// and so does [`InMemoryChatHistoryStore`](crate::InMemoryChatHistoryStore)
/// for that code's tests. Made by [`CockroachDBEngine::history_store`];
/// cheap to clone, and its histories share the engine's pool.
///
/// ```
/// # fn main() -> langchain_cockroachdb::Result<()> {
/// use std::sync::Arc;
/// use langchain_cockroachdb::blocking::CockroachDBEngine;
/// use langchain_cockroachdb::{ChatHistoryStore, ChatMessageHistory, HistoryOptions};
///
/// # let url = std::env::var("LANGCHAIN_COCKROACHDB_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
/// let engine = CockroachDBEngine::from_connection_string(&url)?;
/// let store: Arc<dyn ChatHistoryStore> = Arc::new(engine.history_store(HistoryOptions::default())?);
/// let history = store.history("doc-store-user-1")?;
/// # history.clear()?;
/// history.add_user_message("hi")?;
/// assert_eq!(history.message_count()?, 1);
/// # history.clear()?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct CockroachDBChatHistoryStore {
    engine: CockroachDBEngine,
    options: Arc<HistoryOptions>,
}

impl crate::ChatHistoryStore for CockroachDBChatHistoryStore {
    fn history(&self, session_id: &str) -> Result<Box<dyn ChatMessageHistory + Send + Sync>> {
        let options = HistoryOptions::clone(&self.options);
        let history =
            CockroachDBChatMessageHistory::with_engine(session_id, &self.engine, options)?;
        Ok(Box::new(history))
    }
}
