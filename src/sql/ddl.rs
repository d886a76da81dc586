//! Creating and dropping a chat table.
//!
//! The guide's schema, column for column, and the index under the name the
//! Python library gives it (`<table>_session_idx`), so that whichever of
//! the two creates a table first, it has one index on
//! `(session_id, created_at)`. Tables made by versions of this crate before
//! 0.2 carry it as `<table>_session_created_idx`; a second one is not added
//! to them.

use crate::catalog::Table;

use super::{Param, Request};

/// The schema (unless `public`, which CockroachDB has built in and may
/// refuse to "create") and the table.
pub(crate) fn create_table(table: &Table) -> String {
    let create_schema = if table.schema.as_str() == "public" {
        String::new()
    } else {
        format!("CREATE SCHEMA IF NOT EXISTS {};\n", table.schema.quoted())
    };
    format!(
        "{create_schema}CREATE TABLE IF NOT EXISTS {} (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    session_id TEXT NOT NULL,
    message JSONB NOT NULL,
    created_at TIMESTAMPTZ DEFAULT now()
)",
        table.qualified()
    )
}

/// Whether the table has the index under the name earlier versions of
/// this crate gave it. (`pg_indexes` is in both servers' catalogs.)
pub(crate) const OLDER_INDEX: &str = "SELECT count(*) FROM pg_indexes
WHERE schemaname = $1 AND tablename = $2 AND indexname = $3";

pub(crate) fn older_index_params(table: &Table) -> Vec<Param<'_>> {
    vec![&table.schema_name, &table.table_name, &table.older_index]
}

/// The index that serves every read of a session in order. CockroachDB
/// adds the primary key (`id`) to it implicitly; PostgreSQL breaks the rare
/// `created_at` ties with an incremental sort.
pub(crate) fn create_index(table: &Table) -> String {
    format!(
        "CREATE INDEX IF NOT EXISTS {} ON {} (session_id, created_at)",
        table.name.python_index_name().quoted(),
        table.qualified()
    )
}

pub(crate) fn drop(table: &Table) -> Request<'static> {
    Request::Batch(format!("DROP TABLE IF EXISTS {}", table.qualified()))
}
