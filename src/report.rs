//! What an engine reports about its server and a table: which server it
//! is, and a diagnosis for operators (the `doctor` of the command line).

use std::time::Duration;

use crate::error::{Error, Result};

/// The server an engine talks to, where CockroachDB and PostgreSQL differ.
///
/// ```
/// use langchain_cockroachdb::ServerKind;
/// assert_eq!("cockroachdb".parse::<ServerKind>()?, ServerKind::CockroachDB);
/// assert_eq!(ServerKind::PostgreSQL.as_str(), "postgresql");
/// # Ok::<(), langchain_cockroachdb::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ServerKind {
    /// CockroachDB.
    CockroachDB,
    /// PostgreSQL, or a server that speaks as it does.
    PostgreSQL,
}

impl ServerKind {
    /// Its name, as OpenTelemetry's `db.system` has it.
    ///
    /// ```
    /// # use langchain_cockroachdb::ServerKind;
    /// assert_eq!(ServerKind::CockroachDB.as_str(), "cockroachdb");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            ServerKind::CockroachDB => "cockroachdb",
            ServerKind::PostgreSQL => "postgresql",
        }
    }

    /// The server that `SELECT version()` answered `version`.
    pub(crate) fn of(version: &str) -> ServerKind {
        if version.contains("CockroachDB") {
            ServerKind::CockroachDB
        } else {
            ServerKind::PostgreSQL
        }
    }
}

impl std::str::FromStr for ServerKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<ServerKind> {
        match s.to_ascii_lowercase().as_str() {
            "cockroachdb" | "crdb" => Ok(ServerKind::CockroachDB),
            "postgresql" | "postgres" => Ok(ServerKind::PostgreSQL),
            _ => Err(Error::InvalidArgument(format!(
                "server {s:?}: cockroachdb or postgresql"
            ))),
        }
    }
}

/// What an engine found out about its server and a table, from catalogs
/// and statistics only (no row of the table is read): see
/// `diagnose` on either face's engine.
///
/// ```
/// # #[cfg(feature = "blocking")] {
/// use langchain_cockroachdb::blocking::CockroachDBEngine;
/// use langchain_cockroachdb::HistoryOptions;
///
/// # let url = std::env::var("LANGCHAIN_COCKROACHDB_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
/// let engine = CockroachDBEngine::from_connection_string(&url)?;
/// let report = engine.diagnose(&HistoryOptions::default().table_name("doc_diagnosis"))?;
/// if !report.table_exists() {
///     println!("no table yet on {} {}", report.server.as_str(), report.version);
/// }
/// # }
/// # Ok::<(), langchain_cockroachdb::Error>(())
/// ```
#[derive(Clone, Debug, serde::Serialize)]
#[non_exhaustive]
pub struct Diagnosis {
    /// Which server answered.
    pub server: ServerKind,
    /// What `SELECT version()` said.
    pub version: String,
    /// One statement's round trip on an open connection.
    pub round_trip: Duration,
    /// Whether the connection is encrypted, where the server says
    /// (PostgreSQL's `pg_stat_ssl`); `None` where it does not.
    pub encrypted: Option<bool>,
    /// The table's columns and their types, in order: empty when the table
    /// is missing.
    pub columns: Vec<(String, String)>,
    /// Its indexes: name and definition.
    pub indexes: Vec<(String, String)>,
    /// Whether an index on `(session_id, created_at)` is there, under the
    /// name this crate and Python's give it.
    pub session_index: bool,
    /// Whether the index under the name this crate's development builds
    /// gave it (`<table>_session_created_idx`) is there.
    pub older_index: bool,
    /// Whether the activity index (on `created_at`) is there.
    pub activity_index: bool,
    /// Whether an index on `session_id COLLATE "C"` is there (what prefix
    /// reads use when ids are not byte-ordered).
    pub collated_index: bool,
    /// Whether session ids compare by bytes (CockroachDB; PostgreSQL under a
    /// `C` collation), which makes a prefix a range of the session index.
    pub ids_byte_order: bool,
    /// CockroachDB's row-level TTL: its expiration expression, when set.
    pub ttl_expiration: Option<String>,
    /// Whether that TTL's job is paused (`ttl_pause`).
    pub ttl_paused: bool,
    /// Privileges of the connected user: read, write and delete the table,
    /// create it (or its schema).
    pub can_select: bool,
    /// See `can_select`.
    pub can_insert: bool,
    /// See `can_select`.
    pub can_delete: bool,
    /// See `can_select`.
    pub can_create: bool,
    /// Rows, as the statistics estimate them (`None`: never analyzed).
    pub estimated_rows: Option<u64>,
    /// Distinct sessions, as the statistics estimate them.
    pub estimated_sessions: Option<u64>,
    /// Which statistics the estimates come from: on CockroachDB the name
    /// of the newest *full* statistics on `session_id` (partial ones,
    /// automatic from v25.1, count only part of the table and are never
    /// used); on PostgreSQL `analyze` or `autoanalyze`, whichever ran last.
    pub statistics: Option<String>,
    /// When those statistics were collected.
    #[serde(with = "time::serde::rfc3339::option")]
    pub statistics_created: Option<time::OffsetDateTime>,
}

impl Diagnosis {
    /// Whether the table exists (it has columns).
    ///
    /// ```
    /// # #[cfg(feature = "blocking")] {
    /// # use langchain_cockroachdb::{blocking::CockroachDBEngine, HistoryOptions};
    /// # let url = std::env::var("LANGCHAIN_COCKROACHDB_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// let engine = CockroachDBEngine::from_connection_string(&url)?;
    /// let missing = HistoryOptions::default().table_name("doc_never_created");
    /// assert!(!engine.diagnose(&missing)?.table_exists());
    /// # }
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn table_exists(&self) -> bool {
        !self.columns.is_empty()
    }
}
