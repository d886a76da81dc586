//! The crate's one error type.

use std::time::Duration;

pub use tokio_postgres::error::SqlState;

/// Shorthand for `Result<T, langchain_cockroachdb::Error>`.
///
/// ```
/// fn check(table: &str) -> langchain_cockroachdb::Result<()> {
///     langchain_cockroachdb::HistoryOptions::default().table_name(table).validate()
/// }
/// assert!(check("chat").is_ok());
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong, as variants a caller can branch on.
///
/// Input problems (`Config`, `InvalidIdentifier`, `InvalidMessage`) are found
/// before anything is sent, so they never change the database. Database
/// errors keep their SQLSTATE, reachable through [`Error::code`].
///
/// ```
/// use langchain_cockroachdb::{Error, HistoryOptions};
///
/// let err = HistoryOptions::default().table_name("drop table;").validate().unwrap_err();
/// assert!(matches!(err, Error::InvalidIdentifier { .. }));
/// assert!(err.to_string().contains("drop table;"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A connection string or option is malformed. The text never contains
    /// the password.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// A table or schema name is not a plain SQL identifier.
    #[error("invalid {what} {value:?}: {reason}")]
    InvalidIdentifier {
        /// What the name was for: `"table name"`, `"schema name"`, `"session id"`.
        what: &'static str,
        /// The rejected value.
        value: String,
        /// Why it was rejected.
        reason: &'static str,
    },

    /// A message cannot be stored or read as a LangChain message.
    #[error("invalid message: {0}")]
    InvalidMessage(String),

    /// A row in the table holds JSON that is not a LangChain message.
    #[error("stored message {id} is malformed: {reason}")]
    MalformedRow {
        /// The row's `id` column.
        id: uuid::Uuid,
        /// What is wrong with it.
        reason: String,
    },

    /// No connection could be opened to the server.
    #[error("could not connect to {target}: {cause}")]
    Connection {
        /// The host(s) and port(s) that were tried, e.g. `127.0.0.1:26257`.
        target: String,
        /// What went wrong: refused, timed out, name resolution, authentication...
        cause: String,
    },

    /// Every pooled connection stayed busy for the whole checkout timeout.
    #[error("no pooled connection became free within {0:?} (pool exhausted)")]
    PoolTimeout(Duration),

    /// Reading or writing a JSON Lines export failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),

    /// The server (or the connection to it) reported an error.
    #[error("database error: {0}")]
    Database(#[source] tokio_postgres::Error),
}

impl Error {
    /// The SQLSTATE of a database error, if there is one.
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
        match self {
            Error::Database(e) => e.code(),
            _ => None,
        }
    }

    /// Whether an established connection broke under this error (closed by
    /// the server, cut by the network). Failing to open one is not that:
    /// it is reported at once as [`Error::Connection`].
    pub(crate) fn is_connection_lost(&self) -> bool {
        match self {
            Error::Database(e) => {
                e.is_closed() || (e.code().is_none() && e.as_db_error().is_none() && is_io(e))
            }
            _ => false,
        }
    }
}

fn is_io(e: &tokio_postgres::Error) -> bool {
    std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>())
}

impl From<tokio_postgres::Error> for Error {
    fn from(e: tokio_postgres::Error) -> Self {
        Error::Database(e)
    }
}
