//! Creating and dropping a chat table.
//!
//! The guide's schema, column for column (on PostgreSQL with one more, the
//! column watches key rows by), and the index under the name the
//! Python library gives it (`<table>_session_idx`), so that whichever of
//! the two creates a table first, it has one index on
//! `(session_id, created_at)`. A table whose index is already there under
//! the name of this crate's development builds, `<table>_session_created_idx`,
//! gets no second one.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::options::HistoryOptions;
use crate::report::ServerKind;
use crate::table::Table;

use super::statement::{Param, Request, Sql};

/// The schema (unless `public`, which CockroachDB has built in and may
/// refuse to "create") and the table: the guide's four columns, and on
/// PostgreSQL the column a watch keys rows by (`XACT_ID_COLUMN`).
pub(crate) fn create_table(table: &Table, server: ServerKind) -> String {
    let create_schema = if table.schema.as_str() == "public" {
        String::new()
    } else {
        format!("CREATE SCHEMA IF NOT EXISTS {};\n", table.schema.quoted())
    };
    let xact_id = match server {
        ServerKind::PostgreSQL => format!(",\n    {XACT_ID_COLUMN} DEFAULT pg_current_xact_id()"),
        ServerKind::CockroachDB => String::new(),
    };
    format!(
        "{create_schema}CREATE TABLE IF NOT EXISTS {} (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    session_id TEXT NOT NULL,
    message JSONB NOT NULL,
    created_at TIMESTAMPTZ DEFAULT now(){xact_id}
)",
        table.qualified()
    )
}

/// PostgreSQL: the column a watch keys rows by, as `CREATE TABLE` and
/// `ALTER TABLE` declare it (see `docs/COCKROACHDB.md`, "Watching a
/// session"): the id of the top-level transaction that inserted the row,
/// 64 bits, filled by the server for every insert that does not name it
/// (Python's name their four columns). CockroachDB keys rows by their
/// commit timestamp and has no such column.
const XACT_ID_COLUMN: &str = "xact_id xid8";

/// PostgreSQL: whether the table `$1` (quoted and qualified) has the
/// column `xact_id` as this crate declares it: `xid8`, filled by
/// `pg_current_xact_id()`. Never sent to CockroachDB.
pub(crate) const XACT_ID: Sql = Sql::read(
    "SELECT count(*) FROM pg_attribute AS a
JOIN pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = to_regclass($1) AND a.attname = 'xact_id' AND NOT a.attisdropped
    AND a.atttypid = 'xid8'::REGTYPE AND pg_get_expr(d.adbin, d.adrelid) = 'pg_current_xact_id()'",
);

/// PostgreSQL: the column `xact_id` added to a table made without it (by
/// Python, or by an earlier version of this crate), in one statement: the
/// column without a default (no rewrite of the table: its rows read NULL),
/// then the default, so that no insert after it commits gets NULL. It
/// waits for every transaction that holds a lock on the table, so every
/// row with NULL is final when it commits. Operators may run it
/// themselves, at deploy time (`docs/operations.md`).
pub(crate) fn add_xact_id(table: &Table) -> String {
    format!(
        "ALTER TABLE {} ADD COLUMN IF NOT EXISTS {XACT_ID_COLUMN}, \
         ALTER COLUMN xact_id SET DEFAULT pg_current_xact_id()",
        table.qualified()
    )
}

/// Whether the table has the index under the name earlier versions of
/// this crate gave it. (`pg_indexes` is in both servers' catalogs.)
pub(crate) const OLDER_INDEX: Sql = Sql::read(
    "SELECT count(*) FROM pg_indexes
WHERE schemaname = $1 AND tablename = $2 AND indexname = $3",
);
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

/// Asked once per engine, by its first statement.
pub(crate) const VERSION: Sql = Sql::read("SELECT version()");

/// The activity index on `created_at`. CockroachDB's is hash-sharded (v22.1+
/// syntax): a plain index on a timestamp sends every insert to one range.
pub(crate) fn activity_index(table: &Table, server: ServerKind) -> String {
    let sharded = match server {
        ServerKind::CockroachDB => " USING HASH",
        ServerKind::PostgreSQL => "",
    };
    format!(
        "CREATE INDEX IF NOT EXISTS {} ON {} (created_at){sharded}",
        table.name.activity_index_name().quoted(),
        table.qualified()
    )
}

/// CockroachDB's row-level TTL (v22.2+): rows expire `ttl` after
/// `created_at`. Only the expiration is set: the job's schedule and batch
/// sizes are CockroachDB's defaults (`@daily` since v23.2, no more often
/// than `gc.ttlseconds` as its docs advise; batches of 500 read and 100
/// deleted, small as they advise for tables with secondary indexes), and
/// an operator's `ALTER TABLE ... SET (ttl_job_cron = ...)` stays: the
/// engine changes a table's TTL only where its expiration differs (see
/// `ttl_in_place`). PostgreSQL has none.
pub(crate) fn row_ttl(table: &Table, server: ServerKind, ttl: Duration) -> Result<String> {
    match server {
        ServerKind::CockroachDB => Ok(format!(
            "ALTER TABLE {} SET (ttl_expiration_expression = '{}')",
            table.qualified(),
            expiration(ttl).replace('\'', "''")
        )),
        ServerKind::PostgreSQL => Err(Error::Config(
            "row-level TTL is CockroachDB's; on PostgreSQL, run delete_messages_older_than \
             (or delete_sessions_idle_since) periodically instead, e.g. examples/periodic_cleanup.rs"
                .into(),
        )),
    }
}

/// How long a row lives under `ttl`, as SQL: one expression for the TTL
/// job (`created_at + ...` is when a row expires) and for the reads that
/// skip expired rows before the job has run (see `live`).
fn lifetime(ttl: Duration) -> String {
    format!("INTERVAL '{} seconds'", ttl.as_secs())
}

/// When a row expires under `ttl`: the TTL's `ttl_expiration_expression`.
fn expiration(ttl: Duration) -> String {
    format!("(created_at + {})", lifetime(ttl))
}

/// The storage parameters of the table `$1` (quoted and qualified), where
/// CockroachDB shows its row-level TTL (`ttl_expiration_expression='...'`);
/// no row when the table is missing.
pub(crate) const STORAGE_PARAMS: Sql =
    Sql::read("SELECT reloptions FROM pg_class WHERE oid = to_regclass($1)::OID");

/// Whether the storage parameters `params` (as `STORAGE_PARAMS` gives
/// them) already expire rows as `ttl` says, so that nothing needs to
/// change: an `ALTER TABLE` is a schema change, and CockroachDB's TTL job
/// gives up its run when it finds a recent one on its table, so setting it
/// again at every start of every process could keep it from ever running.
/// Values are compared as their SQL text, without quotes, casts, case or
/// spaces; a form this does not recognize counts as different (the
/// `ALTER` runs, as it would without this check).
pub(crate) fn ttl_in_place(params: &[String], ttl: Duration) -> bool {
    let wanted = plain(&expiration(ttl));
    params.iter().any(|param| {
        param.split_once('=').is_some_and(|(name, value)| {
            name.trim() == "ttl_expiration_expression" && plain(value) == wanted
        })
    })
}

/// SQL text without what formatting varies: spaces, case, quotes and
/// their escapes, the `e` of escaped strings, `:::` casts, `INTERVAL`.
fn plain(sql: &str) -> String {
    let sql = sql.trim();
    let sql = sql
        .strip_prefix(['e', 'E'])
        .filter(|s| s.starts_with('\''))
        .unwrap_or(sql);
    sql.to_lowercase()
        .replace(":::interval", "")
        .replace("interval", "")
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '\'' | '"' | '\\'))
        .collect()
}

/// The condition that a row of `table` has not expired, for reads: with a
/// `ttl`, CockroachDB deletes expired rows by a job that runs now and then, and
/// until then returns them like any other (cockroach#80217).
pub(crate) fn live(table: &Table) -> String {
    match table.ttl {
        Some(ttl) => format!("created_at >= now() - {}", lifetime(ttl)),
        None => "TRUE".into(),
    }
}

/// How `session_id` of the table `$1` (quoted and qualified) compares on
/// PostgreSQL: byte order (true) when its collation, or the database's
/// default that it takes, is `C`/`POSIX`, `C.UTF-8` (code point order,
/// which is UTF-8's byte order) or the builtin provider's (PostgreSQL 17);
/// anything linguistic (ICU, `en_US.UTF-8`) is not. The database's row goes
/// through `to_jsonb` because `datlocprovider` is new in PostgreSQL 15
/// (before it, a database's default was always libc's). A table that does
/// not exist yet will take the database's default.
pub(crate) const ID_ORDER: Sql = Sql::read(
    "SELECT CASE WHEN c.oid IS NULL OR c.collprovider = 'd' THEN (
        SELECT coalesce(to_jsonb(d) ->> 'datlocprovider', 'c') = 'b'
            OR (coalesce(to_jsonb(d) ->> 'datlocprovider', 'c') = 'c'
                AND (d.datcollate IN ('C', 'POSIX') OR d.datcollate ILIKE 'C.UTF%8'))
        FROM pg_database AS d WHERE d.datname = current_database())
    ELSE c.collprovider = 'b'
        OR (c.collprovider = 'c' AND (c.collcollate IN ('C', 'POSIX') OR c.collcollate ILIKE 'C.UTF%8'))
    END
FROM (SELECT 1) AS one
LEFT JOIN pg_attribute AS a ON a.attrelid = to_regclass($1) AND a.attname = 'session_id'
LEFT JOIN pg_collation AS c ON c.oid = a.attcollation",
);

/// The DDL this crate runs to create the table `options` names on
/// `server`, as one script: the schema unless `public`, the table, the
/// session index, and what the options add (the activity index, row-level
/// TTL). For migration tools and DBAs who create tables themselves (then
/// set [`HistoryOptions::create_table`] to `false`).
///
/// On PostgreSQL the table has a fifth column besides the guide's four,
/// `xact_id xid8 DEFAULT pg_current_xact_id()`, which watches key rows by
/// (Python's library names its four columns, and the server fills this
/// one); on CockroachDB it has the guide's four.
///
/// ```
/// use langchain_cockroachdb::{HistoryOptions, ServerKind, schema_sql};
/// let sql = schema_sql(&HistoryOptions::default().activity_index(true), ServerKind::CockroachDB)?;
/// assert!(sql.contains("CREATE TABLE IF NOT EXISTS \"public\".\"message_store\""));
/// assert!(sql.contains("USING HASH"));
/// assert!(!sql.contains("xact_id"));
/// let sql = schema_sql(&HistoryOptions::default(), ServerKind::PostgreSQL)?;
/// assert!(sql.contains("xact_id xid8 DEFAULT pg_current_xact_id()"));
/// # Ok::<(), langchain_cockroachdb::Error>(())
/// ```
pub fn schema_sql(options: &HistoryOptions, server: ServerKind) -> Result<String> {
    let table = Table::new("", options)?;
    let mut script = vec![create_table(&table, server), create_index(&table)];
    if table.activity_index {
        script.push(activity_index(&table, server));
    }
    if let Some(ttl) = table.ttl {
        script.push(row_ttl(&table, server, ttl)?);
    }
    Ok(script.join(";\n") + ";\n")
}

pub(crate) fn drop(table: &Table) -> Request<'static> {
    Request::Batch(format!("DROP TABLE IF EXISTS {}", table.qualified()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        let options = HistoryOptions::default().table_name("chat");
        Table::new("db", &options).unwrap()
    }

    #[test]
    fn the_servers_are_told_apart_by_their_version() {
        let crdb = "CockroachDB CCL v23.2.4 (x86_64-pc-linux-gnu, built 2024/04/15 21:10:21, go1.21.5 X:nocoverageredesign)";
        assert_eq!(ServerKind::of(crdb), ServerKind::CockroachDB);
        assert_eq!(
            ServerKind::of("PostgreSQL 15.20 (Debian 15.20-0+deb12u1) on x86_64-pc-linux-gnu"),
            ServerKind::PostgreSQL
        );
    }

    #[test]
    fn the_activity_index_is_hash_sharded_on_cockroachdb() {
        assert_eq!(
            activity_index(&table(), ServerKind::CockroachDB),
            r#"CREATE INDEX IF NOT EXISTS "chat_activity_idx" ON "public"."chat" (created_at) USING HASH"#
        );
        assert_eq!(
            activity_index(&table(), ServerKind::PostgreSQL),
            r#"CREATE INDEX IF NOT EXISTS "chat_activity_idx" ON "public"."chat" (created_at)"#
        );
    }

    #[test]
    fn reads_skip_what_the_ttl_job_deletes() {
        let thirty_days = Duration::from_secs(30 * 24 * 3600);
        let options = HistoryOptions::default()
            .table_name("chat")
            .ttl(thirty_days);
        let with_ttl = Table::new("db", &options).unwrap();
        // Expired, for the job: `created_at + INTERVAL '2592000 seconds'`
        // before now; what reads keep is the rest.
        assert_eq!(
            live(&with_ttl),
            "created_at >= now() - INTERVAL '2592000 seconds'"
        );
        let job = row_ttl(&with_ttl, ServerKind::CockroachDB, thirty_days).unwrap();
        assert!(
            job.contains("'(created_at + INTERVAL ''2592000 seconds'')'"),
            "{job}"
        );
        // As CockroachDB shows it in `pg_class.reloptions` (a docs example's
        // form: a quoted literal, doubled or backslashed quotes, casts).
        for shown in [
            "ttl_expiration_expression='(created_at + INTERVAL ''2592000 seconds'')'",
            "ttl_expiration_expression=e'(created_at + INTERVAL \\'2592000 seconds\\')'",
            "ttl_expiration_expression='(created_at + ''2592000 seconds'':::INTERVAL)'",
        ] {
            let params = ["ttl='on'".to_owned(), shown.to_owned()];
            assert!(ttl_in_place(&params, thirty_days), "{shown}");
            assert!(!ttl_in_place(&params, thirty_days / 2), "{shown}");
        }
        assert!(!ttl_in_place(&[], thirty_days));
        let other = ["ttl_expire_after='30 days':::INTERVAL".to_owned()];
        assert!(!ttl_in_place(&other, thirty_days));
        assert_eq!(live(&table()), "TRUE");
        let read = crate::sql::render(crate::sql::read::LAST.text, &with_ttl);
        assert!(
            read.contains(
                "WHERE created_at >= now() - INTERVAL '2592000 seconds' AND session_id = $1"
            ),
            "{read}"
        );
    }

    #[test]
    fn row_level_ttl_is_cockroachdbs_and_refused_on_postgresql() {
        let thirty_days = Duration::from_secs(30 * 24 * 3600);
        assert_eq!(
            row_ttl(&table(), ServerKind::CockroachDB, thirty_days).unwrap(),
            "ALTER TABLE \"public\".\"chat\" SET (ttl_expiration_expression = \
             '(created_at + INTERVAL ''2592000 seconds'')')"
        );
        let err = row_ttl(&table(), ServerKind::PostgreSQL, thirty_days).unwrap_err();
        assert!(
            err.to_string().contains("delete_messages_older_than"),
            "{err}"
        );
    }
}
