//! What a diagnosis asks of the server about a table: all reads of the
//! catalogs and statistics, none of the table's rows.

use super::statement::Sql;

/// The table's columns and their types, in order (empty when it is missing).
pub(crate) const COLUMNS: Sql = Sql::read(
    "SELECT column_name::TEXT, data_type::TEXT FROM information_schema.columns
WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
);

/// The names of the table's indexes and what they index.
pub(crate) const INDEXES: Sql = Sql::read(
    "SELECT indexname::TEXT, indexdef::TEXT FROM pg_indexes
WHERE schemaname = $1 AND tablename = $2 ORDER BY indexname",
);

/// What the connected user may do with the table (`$1`, quoted and
/// qualified): a row for each privilege in `$2`, false where the table is
/// missing. (The privileges are parameters: their names are the verbs the
/// build-time check of a read refuses.)
pub(crate) const PRIVILEGES: Sql = Sql::read(
    "SELECT p, coalesce(has_table_privilege(to_regclass($1), p), false) FROM unnest($2::TEXT[]) AS p",
);

/// Whether the user may create tables in the schema `$1`, or create the
/// schema when it is missing.
pub(crate) const CAN_CREATE: Sql = Sql::read(
    "SELECT coalesce((SELECT has_schema_privilege(n.oid, 'CREATE') FROM pg_namespace AS n
    WHERE n.nspname = $1), has_database_privilege(current_database(), 'CREATE'))",
);

/// PostgreSQL: whether this connection is encrypted.
pub(crate) const PG_TLS: Sql =
    Sql::read("SELECT coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false)");

/// PostgreSQL: rows and distinct sessions as the statistics estimate them
/// (`n_distinct` below zero is a fraction of the rows), never counted; and
/// which ANALYZE made them, when.
pub(crate) const PG_ESTIMATES: Sql = Sql::read(
    "SELECT c.reltuples::FLOAT8, (SELECT s.n_distinct::FLOAT8 FROM pg_stats AS s
    WHERE s.schemaname = $2 AND s.tablename = $3 AND s.attname = 'session_id'),
    CASE WHEN t.last_autoanalyze IS NOT NULL
        AND (t.last_analyze IS NULL OR t.last_autoanalyze > t.last_analyze) THEN 'autoanalyze'
        WHEN t.last_analyze IS NOT NULL THEN 'analyze' END,
    greatest(t.last_analyze, t.last_autoanalyze)
FROM pg_class AS c LEFT JOIN pg_stat_user_tables AS t ON t.relid = c.oid
WHERE c.oid = to_regclass($1)",
);

/// CockroachDB: the table's definition, where its row-level TTL shows
/// (`ttl_expiration_expression`, and `ttl_pause` when its job is paused).
/// CockroachDB syntax, never sent to PostgreSQL; PostgreSQL stands in for
/// CockroachDB in this crate's tests, so these two are not run there.
pub(crate) const CRDB_CREATE: Sql =
    Sql::read("SELECT create_statement FROM [SHOW CREATE TABLE {t}]");

/// CockroachDB: rows and distinct sessions from the newest full statistics
/// on `session_id`, their name and when they were made. Partial statistics
/// (`partial_predicate` set; automatic ones are on from v25.1) count only
/// the rows their predicate covers, and are left out.
pub(crate) const CRDB_ESTIMATES: Sql = Sql::read(
    "SELECT row_count::FLOAT8, distinct_count::FLOAT8, statistics_name, created::TIMESTAMPTZ
FROM [SHOW STATISTICS FOR TABLE {t}]
WHERE column_names = ARRAY['session_id'] AND partial_predicate IS NULL
ORDER BY created DESC LIMIT 1",
);
