//! Every SQL statement of the crate, one file per family of operations,
//! each statement's text next to the function that binds its parameters.
//! Nothing here does I/O.
//!
//! Texts name their table `{t}`; a connection renders a text for a table
//! and prepares it once (see `Request`). The SQL runs on CockroachDB v23.2+
//! and PostgreSQL 13+: `gen_random_uuid()`, JSONB, TIMESTAMPTZ,
//! `ON CONFLICT`, `unnest(...) WITH ORDINALITY`; no sequences, no advisory
//! locks.
//!
//! Reads of a session order by `created_at, id`: `id` breaks ties of
//! `created_at` (rows another client wrote in one microsecond) the same way
//! on every read, and every such read walks the `(session_id, created_at)`
//! index.

use tokio_postgres::types::ToSql;

use crate::catalog::Table;

/// A statement over a range of session ids, `[$1, $2)`, or `[$1, ...)` when
/// `$2` is NULL: two texts, so that a cached generic plan bounds its index
/// scan on both ends (`$2 IS NULL OR ...` would scan to the end).
macro_rules! ranged {
    ($head:literal, $tail:literal) => {
        [
            concat!($head, "session_id >= $1 AND $2::TEXT IS NULL", $tail),
            concat!($head, "session_id >= $1 AND session_id < $2::TEXT", $tail),
        ]
    };
}

pub(crate) mod ddl;
pub(crate) mod delete;
pub(crate) mod read;
pub(crate) mod retention;
pub(crate) mod sessions;
pub(crate) mod transfer;
pub(crate) mod write;

/// One bind parameter.
pub(crate) type Param<'a> = &'a (dyn ToSql + Sync);

/// What a connection is asked to run.
pub(crate) enum Request<'a> {
    /// A statement with bind parameters: its text (naming its table `{t}`),
    /// prepared once per connection and table.
    Statement(&'static str, Vec<Param<'a>>),
    /// Statements without parameters (schema changes, the ping), sent
    /// together as one simple query.
    Batch(String),
    /// Create the table and its index if missing (several statements, see
    /// `ddl`).
    CreateTable,
}

impl Request<'_> {
    /// Whether it changes the schema (so it never needs the table first).
    pub(crate) fn is_ddl(&self) -> bool {
        matches!(self, Request::Batch(_) | Request::CreateTable)
    }

    /// Whether it changes rows, so that a try whose reply was lost may
    /// have been applied.
    pub(crate) fn is_write(&self) -> bool {
        matches!(self, Request::Statement(sql, _) if sql.starts_with("INSERT") || sql.starts_with("DELETE"))
    }

    /// The SQL verb, for traces.
    pub(crate) fn verb(&self) -> &'static str {
        match self {
            Request::Statement(sql, _) => sql.split_whitespace().next().unwrap_or("SQL"),
            Request::Batch(_) | Request::CreateTable => "DDL",
        }
    }
}

/// `text` for `table`.
pub(crate) fn render(text: &str, table: &Table) -> String {
    text.replace("{t}", table.qualified())
}

/// A count or size as a SQL `LIMIT`.
pub(crate) fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod plans;
