//! Creating and dropping a chat table.

use crate::catalog::Table;

use super::Request;

/// The guide's schema, column for column, so that the Python library can
/// share the table. The index serves every read of a session in order;
/// CockroachDB adds the primary key (`id`) to it implicitly, PostgreSQL
/// breaks the rare `created_at` ties with an incremental sort.
pub(crate) fn create(table: &Table) -> Request<'static> {
    // CockroachDB has `public` built in and may refuse to "create" it, so
    // only other schemas are created.
    let create_schema = if table.schema.as_str() == "public" {
        String::new()
    } else {
        format!("CREATE SCHEMA IF NOT EXISTS {};\n", table.schema.quoted())
    };
    Request::Batch(format!(
        "{create_schema}CREATE TABLE IF NOT EXISTS {t} (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    session_id TEXT NOT NULL,
    message JSONB NOT NULL,
    created_at TIMESTAMPTZ DEFAULT now()
);
CREATE INDEX IF NOT EXISTS {index} ON {t} (session_id, created_at);",
        t = table.qualified(),
        index = table.name.index_name().quoted(),
    ))
}

pub(crate) fn drop(table: &Table) -> Request<'static> {
    Request::Batch(format!("DROP TABLE IF EXISTS {}", table.qualified()))
}
