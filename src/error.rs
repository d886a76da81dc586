//! The crate's one error type.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use tokio_postgres::error::{DbError, SqlState};

/// Shorthand for `Result<T, langchain_cockroachdb::Error>`.
///
/// ```
/// fn check(table: &str) -> langchain_cockroachdb::Result<()> {
///     langchain_cockroachdb::HistoryOptions::default().table_name(table).validate()
/// }
/// assert!(check("chat").is_ok());
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong, as variants a caller can branch on, and
/// predicates ([`is_connection`](Error::is_connection),
/// [`is_timeout`](Error::is_timeout), [`is_auth`](Error::is_auth),
/// [`is_retryable`](Error::is_retryable), [`is_ambiguous`](Error::is_ambiguous))
/// for the questions a caller asks of any of them.
///
/// Errors are grouped by what went wrong, so that a service can answer by
/// variant: the caller's input (`InvalidArgument`, `InvalidIdentifier`,
/// `InvalidMessage`, `TooLarge`: a client error), the program's setup
/// (`Config`, `Runtime`), the server or the network (`Connection`,
/// `Database`, `Timeout`, `PoolTimeout`, `Ambiguous`), and data or answers
/// that are not what they should be (`MalformedRow`, `Protocol`). Input and
/// setup problems are found before anything is sent, so they never change
/// the database. Server errors keep their SQLSTATE, reachable through
/// [`Error::code`], also when they refused a connection.
///
/// ```
/// use langchain_cockroachdb::{Error, HistoryOptions};
///
/// let err = HistoryOptions::default().table_name("drop table;").validate().unwrap_err();
/// assert!(matches!(err, Error::InvalidIdentifier { .. }));
/// assert!(err.to_string().contains("drop table;"));
/// assert!(!err.is_retryable());
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A connection string or option is malformed, or names something the
    /// server or this build cannot do (a TLS mode without the `tls`
    /// feature, row-level TTL on PostgreSQL). The text never contains the
    /// password.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// An argument of a call is out of its range (a page of no messages).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// The call was made where it cannot run: the async face outside a
    /// tokio runtime.
    #[error("{0}")]
    Runtime(String),

    /// A table or schema name is not a plain SQL identifier, or a session
    /// id cannot be stored.
    #[error("invalid {what} {value:?}: {reason}")]
    #[non_exhaustive]
    InvalidIdentifier {
        /// What the name was for: `"table name"`, `"schema name"`, `"session id"`.
        what: &'static str,
        /// The rejected value (cut to 200 characters).
        value: String,
        /// Why it was rejected.
        reason: &'static str,
    },

    /// A message cannot be stored or read as a LangChain message.
    #[error("invalid message: {0}")]
    InvalidMessage(String),

    /// A message, a batch or a statement is larger than the limit set for
    /// it: a message's or a batch's JSON (see
    /// [`HistoryOptions`](crate::HistoryOptions)), or the protocol message
    /// that would carry a statement to the server (see
    /// [`EngineOptions::max_protocol_message_bytes`](crate::EngineOptions::max_protocol_message_bytes):
    /// CockroachDB refuses any over 16 MiB by default). Nothing was sent,
    /// and sending it again cannot succeed.
    #[error("{what} is {size} bytes, over the limit of {limit} ({setting})")]
    #[non_exhaustive]
    TooLarge {
        /// What is too large, e.g. `"message 3"` or `"the batch"`.
        what: String,
        /// Its size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
        /// The setting that holds the limit, e.g.
        /// `"HistoryOptions::max_message_bytes, of its JSON"`.
        setting: &'static str,
    },

    /// A row in the table holds JSON that is not a LangChain message.
    #[error("stored message {id} is malformed: {reason}")]
    #[non_exhaustive]
    MalformedRow {
        /// The row's `id` column.
        id: uuid::Uuid,
        /// What is wrong with it.
        reason: String,
    },

    /// No connection could be opened to the server: it refused, could not
    /// be reached, did not finish the handshake in time, or rejected the
    /// login. [`Error::code`] gives the server's SQLSTATE when it sent one
    /// (`28P01` bad password, `28000` no such role, `3D000` no such database).
    #[error("could not connect to {target}: {cause}")]
    #[non_exhaustive]
    Connection {
        /// The host(s) and port(s) that were tried, e.g. `127.0.0.1:26257`.
        target: String,
        /// What went wrong, in words.
        cause: String,
        /// The driver's error, when there is one.
        #[source]
        source: Option<Arc<tokio_postgres::Error>>,
    },

    /// Every pooled connection stayed busy for the whole checkout timeout.
    #[error("no pooled connection became free within {0:?} (pool exhausted)")]
    PoolTimeout(Duration),

    /// The operation did not finish within its deadline
    /// ([`EngineOptions::operation_timeout`](crate::EngineOptions::operation_timeout)).
    /// The connection it ran on is discarded. For a write, see
    /// [`is_ambiguous`](Error::is_ambiguous).
    #[error("the operation did not finish within {0:?}")]
    Timeout(Duration),

    /// A write whose outcome is unknown: it reached the server, and the
    /// connection broke (or the deadline passed) before the reply came, and
    /// no retry settled it. The write may or may not be stored.
    ///
    /// Whether calling the same method again is safe is `repeatable` (and
    /// [`is_retryable`](Error::is_retryable)). Where it is not, because the
    /// call draws fresh row ids (`add_message`, `add_messages`,
    /// `add_user_message`, `add_ai_message`), `ids` holds the ids this call
    /// used, one per message in order: storing the same messages under
    /// them with `add_messages_with_ids` stores each exactly once.
    ///
    /// ```
    /// # #[cfg(feature = "blocking")] {
    /// use langchain_cockroachdb::blocking::CockroachDBChatMessageHistory;
    /// use langchain_cockroachdb::{Error, Message};
    ///
    /// fn add_turn(history: &CockroachDBChatMessageHistory, turn: &[Message]) -> langchain_cockroachdb::Result<()> {
    ///     match history.add_messages(turn) {
    ///         Err(Error::Ambiguous { ids, .. }) => {
    ///             // Maybe stored: once more under the same ids, never twice.
    ///             let again: Vec<_> = ids.into_iter().zip(turn.iter().cloned()).collect();
    ///             history.add_messages_with_ids(&again).map(drop)
    ///         }
    ///         other => other,
    ///     }
    /// }
    /// # let url = std::env::var("LANGCHAIN_COCKROACHDB_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// # let history = CockroachDBChatMessageHistory::new("doc-ambiguous", &url)?;
    /// # add_turn(&history, &[Message::human("hi")])?;
    /// # history.clear()?;
    /// # }
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    #[error("the write may or may not have been applied: {source}")]
    #[non_exhaustive]
    Ambiguous {
        /// What cut the write short: a lost connection, or the deadline.
        source: Box<Error>,
        /// The row ids the call wrote under, in the order of its messages
        /// (empty for the calls that write no new rows).
        ids: Vec<uuid::Uuid>,
        /// Whether the same call, made again, cannot store or delete
        /// anything twice.
        repeatable: bool,
    },

    /// An import stopped at line `line` of its input: the line is not an
    /// export line (`source` says why), or the batch of lines from `line`
    /// on could not be stored. The `committed` rows it stored before are
    /// in the table; importing the same input again stores the rest and
    /// nothing twice (rows keep their ids).
    #[error("import stopped at line {line}, after storing {committed} rows: {source}")]
    #[non_exhaustive]
    Import {
        /// The line, counted from 1.
        line: u64,
        /// How many rows this import stored before it.
        committed: u64,
        /// What stopped it.
        source: Box<Error>,
    },

    /// A schema change the crate needs was refused: on PostgreSQL a watch
    /// adds the column it keys rows by, `xact_id`, to a table made without
    /// it (by Python's library, or an earlier version of this crate), and
    /// the server refused (`source`: no privilege, the table's lock not had
    /// before the deadline). `statement` is what to run, as the table's
    /// owner, at deploy time (`docs/operations.md`, "Watches on
    /// PostgreSQL"); [`code`](Error::code) is the refusal's.
    ///
    /// ```
    /// use langchain_cockroachdb::Error;
    ///
    /// fn what_to_run(err: &Error) -> Option<&str> {
    ///     match err {
    ///         Error::SchemaChange { statement, .. } => Some(statement),
    ///         _ => None,
    ///     }
    /// }
    /// # assert!(what_to_run(&Error::Closed).is_none());
    /// ```
    #[error("a schema change was refused ({source}); run it as the table's owner: {statement}")]
    #[non_exhaustive]
    SchemaChange {
        /// The statement that was refused, to run as it is.
        statement: String,
        /// The server's refusal.
        source: Box<Error>,
    },

    /// The engine was closed (`close()`): it takes no new operations.
    #[error("the engine is closed")]
    Closed,

    /// The server answered something this crate does not expect of it (a
    /// query that must return a row returned none): a bug or an
    /// incompatible server, not a problem of the input.
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),

    /// Reading or writing a JSON Lines export failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),

    /// The server (or the connection to it) reported an error.
    #[error("{}", DatabaseText(.0))]
    Database(#[source] tokio_postgres::Error),
}

/// A database error as `database error 23505: message (detail: ...; hint: ...)`.
struct DatabaseText<'a>(&'a tokio_postgres::Error);

impl fmt::Display for DatabaseText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_db_error() {
            Some(db) => {
                write!(f, "database error {}: {}", db.code().code(), db.message())?;
                let extra: Vec<String> = [("detail", db.detail()), ("hint", db.hint())]
                    .into_iter()
                    .filter_map(|(name, text)| text.map(|t| format!("{name}: {t}")))
                    .collect();
                if !extra.is_empty() {
                    write!(f, " ({})", extra.join("; "))?;
                }
                Ok(())
            }
            None => match std::error::Error::source(self.0) {
                Some(source) => write!(f, "database error: {}: {source}", self.0),
                None => write!(f, "database error: {}", self.0),
            },
        }
    }
}

impl Error {
    /// The SQLSTATE the server sent, if it sent one: for a failed statement,
    /// and for a refused connection.
    ///
    /// ```
    /// use langchain_cockroachdb::{Error, SqlState};
    ///
    /// fn is_conflict(err: &Error) -> bool {
    ///     err.code() == Some(&SqlState::T_R_SERIALIZATION_FAILURE)
    /// }
    /// # assert!(!is_conflict(&Error::Config("x".into())));
    /// ```
    pub fn code(&self) -> Option<&SqlState> {
        self.as_db_error().map(DbError::code)
    }

    /// The server's error, with its message, detail, hint and SQLSTATE.
    ///
    /// ```
    /// # use langchain_cockroachdb::Error;
    /// assert!(Error::Config("x".into()).as_db_error().is_none());
    /// ```
    pub fn as_db_error(&self) -> Option<&DbError> {
        match self {
            Error::Database(e) => e.as_db_error(),
            Error::Connection {
                source: Some(e), ..
            } => e.as_db_error(),
            Error::Ambiguous { source, .. }
            | Error::Import { source, .. }
            | Error::SchemaChange { source, .. } => source.as_db_error(),
            _ => None,
        }
    }

    /// Whether the server could not be reached, or a connection to it broke.
    ///
    /// ```
    /// # use langchain_cockroachdb::Error;
    /// # #[cfg(feature = "blocking")] {
    /// use langchain_cockroachdb::blocking::CockroachDBEngine;
    ///
    /// let engine = CockroachDBEngine::from_connection_string("postgresql://root@127.0.0.1:1/db")?;
    /// let err = engine.ping().unwrap_err(); // nothing listens on port 1
    /// assert!(err.is_connection() && matches!(err, Error::Connection { .. }));
    /// # }
    /// # Ok::<(), Error>(())
    /// ```
    pub fn is_connection(&self) -> bool {
        match self {
            Error::Connection { .. } => true,
            Error::Ambiguous { source, .. } | Error::Import { source, .. } => {
                source.is_connection()
            }
            _ => self.is_connection_lost(),
        }
    }

    /// Whether a deadline passed: the operation's, or the wait for a pooled
    /// connection.
    ///
    /// ```
    /// # use langchain_cockroachdb::Error;
    /// # use std::time::Duration;
    /// assert!(Error::Timeout(Duration::from_secs(30)).is_timeout());
    /// assert!(Error::PoolTimeout(Duration::from_secs(10)).is_timeout());
    /// ```
    pub fn is_timeout(&self) -> bool {
        match self {
            Error::Timeout(_) | Error::PoolTimeout(_) => true,
            Error::Ambiguous { source, .. } | Error::Import { source, .. } => source.is_timeout(),
            _ => false,
        }
    }

    /// Whether the server rejected the login (SQLSTATE class `28`: a wrong
    /// password, an unknown role, no matching `pg_hba` entry).
    ///
    /// ```
    /// # use langchain_cockroachdb::Error;
    /// assert!(!Error::Config("x".into()).is_auth());
    /// ```
    pub fn is_auth(&self) -> bool {
        self.code().is_some_and(|c| c.code().starts_with("28"))
    }

    /// Whether making the same call again may succeed and cannot store or
    /// delete anything twice: CockroachDB's transaction retry error
    /// (`40001`), lost connections and servers going away (`08xxx` but
    /// `08P01`, `57P01`-`57P03`, `53300`, `58C00`, `58C01`), timeouts,
    /// and the ambiguous writes that are `repeatable`. A write that was
    /// sent and then cut short, timed out or answered with `40003` ("result
    /// is ambiguous") is never a plain database error: it is
    /// [`Ambiguous`](Error::Ambiguous), which says whether repeating is
    /// safe. The crate retries these itself, per
    /// [`RetryPolicy`](crate::RetryPolicy), before returning one;
    /// `docs/COCKROACHDB.md` lists every SQLSTATE and what is done with it.
    ///
    /// ```
    /// # use langchain_cockroachdb::Error;
    /// assert!(!Error::InvalidMessage("bad".into()).is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Database(_) => {
                self.is_connection_lost()
                    || self.code().is_some_and(|c| is_retryable_code(c.code()))
            }
            Error::Timeout(_) | Error::PoolTimeout(_) => true,
            Error::Ambiguous { repeatable, .. } => *repeatable,
            Error::Import { source, .. } => source.is_retryable(),
            _ => false,
        }
    }

    /// Whether this is a write whose outcome is unknown
    /// ([`Error::Ambiguous`], whose doc shows how to settle it): the write
    /// may be stored.
    ///
    /// ```
    /// # use langchain_cockroachdb::Error;
    /// assert!(!Error::InvalidArgument("a page of 0".into()).is_ambiguous());
    /// ```
    pub fn is_ambiguous(&self) -> bool {
        match self {
            Error::Ambiguous { .. } => true,
            Error::Import { source, .. } => source.is_ambiguous(),
            _ => false,
        }
    }

    /// `err` as the outcome of a write that may have been applied. Repeating
    /// the statement is exactly-once (its row ids are fixed); what a call
    /// built on it makes of that is `for_call`'s.
    pub(crate) fn ambiguous(err: Error) -> Error {
        match err {
            ambiguous @ Error::Ambiguous { .. } => ambiguous,
            source => Error::Ambiguous {
                source: Box::new(source),
                ids: Vec::new(),
                repeatable: true,
            },
        }
    }

    /// An ambiguous error as the call that made the write reports it: with
    /// the row ids it chose, and whether repeating the call is safe.
    pub(crate) fn for_call(self, ids: &[uuid::Uuid], repeatable: bool) -> Error {
        match self {
            Error::Ambiguous { source, .. } => Error::Ambiguous {
                source,
                ids: ids.to_vec(),
                repeatable,
            },
            other => other,
        }
    }

    /// Whether a write that met this error may have been applied: its
    /// connection broke after the request went out, or the server said so
    /// (`40003`, CockroachDB's "result is ambiguous", which its docs say to
    /// handle as a lost connection; a connection exception sent mid-statement,
    /// `08xxx`, but never `08P01`, a request the server refused to read).
    /// Any other error from the server means its transaction rolled back.
    pub(crate) fn may_have_applied(&self) -> bool {
        self.is_connection_lost()
            || self
                .code()
                .is_some_and(|c| c.code() == "40003" || is_connection_exception(c.code()))
    }

    /// Whether an established connection broke under this error (closed by
    /// the server, cut by the network). Failing to open one is not that:
    /// it is reported as [`Error::Connection`].
    pub(crate) fn is_connection_lost(&self) -> bool {
        match self {
            Error::Database(e) => {
                e.is_closed() || (e.code().is_none() && e.as_db_error().is_none() && is_io(e))
            }
            _ => false,
        }
    }
}

/// SQLSTATEs after which the same statement may succeed when tried again.
/// For a write, those that say it may have been applied (`40003`,
/// `08xxx`) are retried under the same row ids and reported as ambiguous
/// if no retry settles them (see `Error::may_have_applied`). `08P01` is not
/// among them: the server could not read the request (CockroachDB: a
/// protocol message over `sql.conn.max_read_buffer_message_size`), and the
/// same request fails the same way.
pub(crate) fn is_retryable_code(code: &str) -> bool {
    matches!(
        code,
        "40001" | "40003" | "57P01" | "57P02" | "57P03" | "53300" | "58C00" | "58C01"
    ) || is_connection_exception(code)
}

/// Class `08`, connection exceptions, but for `08P01` (protocol violation).
fn is_connection_exception(code: &str) -> bool {
    code.starts_with("08") && code != "08P01"
}

fn is_io(e: &tokio_postgres::Error) -> bool {
    std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>())
}

impl From<tokio_postgres::Error> for Error {
    fn from(e: tokio_postgres::Error) -> Self {
        Error::Database(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each kind of problem has its own variant, so that a caller (a web
    /// service choosing 400 or 500) can tell them apart without reading
    /// the text; none of them is retryable, and each says what it is.
    #[test]
    fn input_setup_and_server_surprises_are_told_apart() {
        let page = Error::InvalidArgument("a page holds at least one message".into());
        let runtime = Error::Runtime("the async API must be used inside a tokio runtime".into());
        let protocol = Error::Protocol("SELECT now() returned no row".into());
        let config = Error::Config("the connection string names no host".into());
        assert_eq!(
            page.to_string(),
            "invalid argument: a page holds at least one message"
        );
        assert_eq!(
            runtime.to_string(),
            "the async API must be used inside a tokio runtime"
        );
        assert_eq!(
            protocol.to_string(),
            "unexpected answer from the server: SELECT now() returned no row"
        );
        assert_eq!(
            config.to_string(),
            "invalid configuration: the connection string names no host"
        );
        for err in [&page, &runtime, &protocol, &config] {
            assert!(!err.is_retryable(), "{err}");
            assert!(!err.is_connection() && !err.is_timeout() && !err.is_auth());
            assert!(err.code().is_none() && err.as_db_error().is_none());
        }
    }

    #[test]
    fn a_malformed_connection_string_is_a_configuration_error() {
        let err = "postgresql://"
            .parse::<crate::ConnectionConfig>()
            .unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{err:?}");
    }

    #[test]
    fn retryable_codes() {
        for code in [
            "40001", "40003", "08006", "08001", "57P01", "57P02", "57P03", "53300", "58C00",
            "58C01",
        ] {
            assert!(is_retryable_code(code), "{code}");
        }
        for code in [
            "28P01", "28000", "42501", "42601", "23505", "23502", "42P01", "22P02", "08P01",
        ] {
            assert!(!is_retryable_code(code), "{code}");
        }
    }
}
