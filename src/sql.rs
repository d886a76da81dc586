//! Every SQL statement of the crate, the names it puts in them, and the
//! conversions between rows and messages. Nothing here does I/O.
//!
//! The SQL runs on CockroachDB v23.2+ and PostgreSQL 13+: `gen_random_uuid()`,
//! JSONB, TIMESTAMPTZ, `ON CONFLICT`, `unnest(...) WITH ORDINALITY`; no
//! sequences, no advisory locks.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use tokio_postgres::types::{FromSql, ToSql, Type};
use tokio_postgres::{Row, Statement};
use uuid::Uuid;

use crate::config::HistoryOptions;
use crate::error::{Error, Result, SqlState};
use crate::message::Message;
use crate::retry::RetryPolicy;
use crate::stored::{PageCursor, StoredMessage};
use time::OffsetDateTime;

/// PostgreSQL's identifier limit (NAMEDATALEN - 1); longer names would be
/// silently cut there and rejected or kept whole elsewhere.
const MAX_IDENT_BYTES: usize = 63;

/// A checked table or schema name, always sent double-quoted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Ident(String);

impl Ident {
    pub(crate) fn new(what: &'static str, value: &str) -> Result<Ident> {
        let reason = if value.is_empty() {
            Some("it is empty")
        } else if value.len() > MAX_IDENT_BYTES {
            Some("it is longer than 63 bytes")
        } else if value.starts_with(|c: char| c.is_ascii_digit()) {
            Some("it starts with a digit")
        } else if !value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            Some("only ASCII letters, digits and underscores are allowed")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(Error::InvalidIdentifier {
                what,
                value: value.into(),
                reason,
            }),
            None => Ok(Ident(value.into())),
        }
    }

    /// Quoted, so that reserved words work and case is kept: `"Chat"` and
    /// `chat` are two tables, as in any SQL client that quotes.
    fn quoted(&self) -> String {
        format!("\"{}\"", self.0)
    }
}

/// Checks a session id: any non-empty text without U+0000, which neither
/// server stores in TEXT.
pub(crate) fn check_session_id(session_id: &str) -> Result<()> {
    let reason = if session_id.is_empty() {
        "it is empty"
    } else if session_id.contains('\0') {
        "it contains U+0000"
    } else {
        return Ok(());
    };
    Err(Error::InvalidIdentifier {
        what: "session id",
        value: session_id.into(),
        reason,
    })
}

/// Tables this process has created (or found), by database and name, so
/// that `CREATE TABLE IF NOT EXISTS` runs once per process and table rather
/// than on every call.
fn created_tables() -> std::sync::MutexGuard<'static, HashSet<String>> {
    static CREATED: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    // The set stays consistent even if a holder panicked: inserts and
    // removals are single calls.
    CREATED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// One chat table: its statements, written once here for both faces.
#[derive(Debug)]
pub(crate) struct Table {
    key: String,
    auto_create: bool,
    /// A fast path in front of the process-wide set.
    created: AtomicBool,
    pub(crate) sql: Statements,
}

/// The SQL text of every statement on one table.
#[derive(Debug)]
pub(crate) struct Statements {
    pub(crate) create: String,
    pub(crate) drop: String,
    pub(crate) insert: String,
    pub(crate) insert_one: String,
    pub(crate) select: String,
    pub(crate) entries: String,
    pub(crate) last: String,
    pub(crate) count: String,
    pub(crate) since: String,
    pub(crate) page_first: String,
    pub(crate) page_next: String,
    pub(crate) clear: String,
    pub(crate) newest_ids: String,
    pub(crate) delete_ids: String,
    /// By a range of session ids: unbounded above, then bounded (see `Table::new`).
    pub(crate) sessions: [String; 2],
    pub(crate) cutoff: String,
    pub(crate) idle_sessions: String,
    pub(crate) delete_idle: String,
    pub(crate) delete_old: String,
    pub(crate) export_first: [String; 2],
    pub(crate) export_next: [String; 2],
    pub(crate) import: String,
}

impl Table {
    pub(crate) fn new(database: &str, options: &HistoryOptions) -> Result<Table> {
        let schema = Ident::new("schema name", &options.schema)?;
        let table = Ident::new("table name", &options.table_name)?;
        let name = format!("{}.{}", schema.quoted(), table.quoted());
        let index = Ident(index_name(&table.0));

        // CockroachDB has `public` built in and may refuse to "create" it, so
        // only other schemas are created.
        let create_schema = if schema.0 == "public" {
            String::new()
        } else {
            format!("CREATE SCHEMA IF NOT EXISTS {};\n", schema.quoted())
        };
        // The guide's schema, column for column, so that the Python library
        // can share the table. The index serves every read of a session in
        // order; CockroachDB adds the primary key (`id`) to it implicitly,
        // PostgreSQL breaks the rare `created_at` ties with an incremental sort.
        let create = format!(
            "{create_schema}CREATE TABLE IF NOT EXISTS {name} (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    session_id TEXT NOT NULL,
    message JSONB NOT NULL,
    created_at TIMESTAMPTZ DEFAULT now()
);
CREATE INDEX IF NOT EXISTS {index} ON {name} (session_id, created_at);",
            index = index.quoted()
        );
        // One statement for one message or many, so a batch is atomic.
        // - Ids are chosen by the client before the first try, and a retry
        //   after an ambiguous commit hits ON CONFLICT and writes nothing twice.
        // - Order: each row gets its position in microseconds on top of a base
        //   time, like the Python library. The base is never earlier than just
        //   after the session's newest row: `now()` alone could go backwards
        //   between two quick calls (a big batch reaches further ahead than
        //   the next call's `now()`, or another CockroachDB gateway's clock
        //   lags). The max() reads one entry of the (session_id, created_at)
        //   index.
        // - Messages travel as TEXT and are cast: arrays of JSONB are not
        //   accepted by every CockroachDB version this crate supports.
        let base = format!(
            "GREATEST(now(), COALESCE((SELECT max(created_at) FROM {name} WHERE session_id = $1::TEXT)
                       + INTERVAL '1 microsecond', now()))"
        );
        let insert = format!(
            "INSERT INTO {name} (id, session_id, message, created_at)
SELECT m.id, $1, m.message::JSONB, {base} + (m.ord - 1) * INTERVAL '1 microsecond'
FROM unnest($2::UUID[], $3::TEXT[]) WITH ORDINALITY AS m (id, message, ord)
ON CONFLICT (id) DO NOTHING"
        );
        // The same for the most common call, one message, without the
        // arrays: measurably cheaper for the server to run.
        let insert_one = format!(
            "INSERT INTO {name} (id, session_id, message, created_at)
VALUES ($2::UUID, $1, $3::TEXT::JSONB, {base})
ON CONFLICT (id) DO NOTHING"
        );
        let q = |sql: String| sql.replace("{t}", &name);
        // A range of session ids, `[$1, $2)`, or `[$1, ...)` when `$2` is
        // NULL: two texts, so that a cached generic plan bounds its index
        // scan on both ends (`$2 IS NULL OR ...` would scan to the end).
        let ranged = |sql: &str| {
            [
                q(sql.replace("{range}", "session_id >= $1 AND $2::TEXT IS NULL")),
                q(sql.replace("{range}", "session_id >= $1 AND session_id < $2::TEXT")),
            ]
        };
        // `id` breaks ties of `created_at` (rows another client wrote in one
        // microsecond) the same way on every read. Every read of a session
        // walks the (session_id, created_at) index.
        let order = "ORDER BY created_at, id";
        let sql = Statements {
            select: q(format!("SELECT id, message FROM {{t}} WHERE session_id = $1 {order}")),
            entries: q(format!("SELECT id, message, created_at FROM {{t}} WHERE session_id = $1 {order}")),
            // The newest n through the index backwards, then put in order.
            last: q(format!(
                "SELECT id, message, created_at FROM (
    SELECT id, message, created_at FROM {{t}} WHERE session_id = $1
    ORDER BY created_at DESC, id DESC LIMIT $2) AS newest {order}"
            )),
            count: q("SELECT count(*) FROM {t} WHERE session_id = $1".into()),
            since: q(format!(
                "SELECT id, message, created_at FROM {{t}} WHERE session_id = $1 AND created_at > $2 {order}"
            )),
            page_first: q(format!(
                "SELECT id, message, created_at FROM {{t}} WHERE session_id = $1 {order} LIMIT $2"
            )),
            // A keyset, not OFFSET: each page starts in the index where the
            // last one ended.
            page_next: q(format!(
                "SELECT id, message, created_at FROM {{t}}
WHERE session_id = $1 AND (created_at, id) > ($2, $3) {order} LIMIT $4"
            )),
            clear: q("DELETE FROM {t} WHERE session_id = $1".into()),
            newest_ids: q("SELECT id FROM {t} WHERE session_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2".into()),
            delete_ids: q("DELETE FROM {t} WHERE session_id = $1 AND id = ANY($2) RETURNING id".into()),
            // Sessions by prefix: a range of the index (byte order, as
            // CockroachDB's and a C-collation PostgreSQL's), aggregated as
            // it is read; only the groups are sorted, for the top `limit`.
            sessions: ranged("SELECT session_id, count(*), min(created_at), max(created_at) FROM {t}
WHERE {range}
GROUP BY session_id ORDER BY max(created_at) DESC, session_id LIMIT $3"),
            // The server's clock decides what is old, once per cleanup.
            cutoff: "SELECT now() - $1::FLOAT8 * INTERVAL '1 second'".into(),
            idle_sessions: q("SELECT session_id FROM {t} GROUP BY session_id HAVING max(created_at) < $1
ORDER BY session_id LIMIT $2"
                .into()),
            // Bounded batches (CockroachDB's advice for bulk deletes), and a
            // session that got a message meanwhile is no longer idle.
            delete_idle: q("DELETE FROM {t} WHERE id IN (
    SELECT id FROM {t} WHERE session_id = ANY($1) AND session_id IN (
        SELECT session_id FROM {t} WHERE session_id = ANY($1)
        GROUP BY session_id HAVING max(created_at) < $2)
    LIMIT $3) RETURNING id"
                .into()),
            delete_old: q("DELETE FROM {t} WHERE id IN (SELECT id FROM {t} WHERE created_at < $1 LIMIT $2) RETURNING id".into()),
            export_first: ranged("SELECT id, message, created_at, session_id FROM {t}
WHERE {range}
ORDER BY session_id, created_at, id LIMIT $3"),
            export_next: ranged("SELECT id, message, created_at, session_id FROM {t}
WHERE {range} AND (session_id, created_at, id) > ($4, $5, $6)
ORDER BY session_id, created_at, id LIMIT $3"),
            // Rows keep their ids and times, so a re-import writes nothing twice.
            import: q("INSERT INTO {t} (id, session_id, message, created_at)
SELECT u.id, u.session_id, u.message::JSONB, u.created_at
FROM unnest($1::UUID[], $2::TEXT[], $3::TEXT[], $4::TIMESTAMPTZ[]) AS u (id, session_id, message, created_at)
ON CONFLICT (id) DO NOTHING RETURNING id"
                .into()),
            create,
            drop: q("DROP TABLE IF EXISTS {t}".into()),
            insert,
            insert_one,
        };
        Ok(Table {
            key: format!("{database}/{name}"),
            auto_create: options.create_table,
            created: AtomicBool::new(false),
            sql,
        })
    }

    /// Whether the table must be created before the next statement.
    pub(crate) fn needs_create(&self) -> bool {
        if !self.auto_create || self.created.load(Ordering::Relaxed) {
            return false;
        }
        if created_tables().contains(&self.key) {
            self.created.store(true, Ordering::Relaxed);
            return false;
        }
        true
    }

    pub(crate) fn mark_created(&self) {
        created_tables().insert(self.key.clone());
        self.created.store(true, Ordering::Relaxed);
    }

    /// Forgets that the table exists (it was dropped), so that the next use
    /// creates it again.
    pub(crate) fn forget(&self) {
        created_tables().remove(&self.key);
        self.created.store(false, Ordering::Relaxed);
    }

    /// Whether `err` says the table is gone although this process created
    /// it: somebody dropped it, and it should be created again.
    pub(crate) fn was_dropped(&self, err: &Error) -> bool {
        self.auto_create
            && err.code().is_some_and(|c| {
                *c == SqlState::UNDEFINED_TABLE || *c == SqlState::INVALID_SCHEMA_NAME
            })
    }
}

/// What one history works on: a session of a table, and how to treat it.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) id: String,
    pub(crate) table: Table,
    pub(crate) retry: RetryPolicy,
    max_message_bytes: usize,
}

impl Session {
    pub(crate) fn new(
        id: String,
        table: Table,
        options: &HistoryOptions,
        engine_retry: RetryPolicy,
    ) -> Result<Session> {
        check_session_id(&id)?;
        Ok(Session {
            id,
            table,
            retry: options.retry.unwrap_or(engine_retry),
            max_message_bytes: options.max_message_bytes,
        })
    }

    pub(crate) fn batch(&self, messages: &[Message]) -> Result<InsertBatch> {
        InsertBatch::new(messages, self.max_message_bytes)
    }

    pub(crate) fn insert_request<'a>(&'a self, batch: &'a InsertBatch) -> Request<'a> {
        match (batch.ids.as_slice(), batch.json.as_slice()) {
            ([id], [json]) => {
                Request::Statement(&self.table.sql.insert_one, vec![&self.id, id, json])
            }
            _ => Request::Statement(
                &self.table.sql.insert,
                vec![&self.id, &batch.ids, &batch.json],
            ),
        }
    }

    pub(crate) fn select_request(&self) -> Request<'_> {
        Request::Statement(&self.table.sql.select, vec![&self.id])
    }

    pub(crate) fn entries_request(&self) -> Request<'_> {
        Request::Statement(&self.table.sql.entries, vec![&self.id])
    }

    pub(crate) fn last_request<'a>(&'a self, n: &'a i64) -> Request<'a> {
        Request::Statement(&self.table.sql.last, vec![&self.id, n])
    }

    pub(crate) fn count_request(&self) -> Request<'_> {
        Request::Statement(&self.table.sql.count, vec![&self.id])
    }

    pub(crate) fn since_request<'a>(&'a self, since: &'a OffsetDateTime) -> Request<'a> {
        Request::Statement(&self.table.sql.since, vec![&self.id, since])
    }

    pub(crate) fn page_request<'a>(
        &'a self,
        cursor: Option<&'a PageCursor>,
        limit: &'a i64,
    ) -> Request<'a> {
        match cursor {
            None => Request::Statement(&self.table.sql.page_first, vec![&self.id, limit]),
            Some(c) => Request::Statement(
                &self.table.sql.page_next,
                vec![&self.id, &c.created_at, &c.id, limit],
            ),
        }
    }

    pub(crate) fn newest_ids_request<'a>(&'a self, n: &'a i64) -> Request<'a> {
        Request::Statement(&self.table.sql.newest_ids, vec![&self.id, n])
    }

    pub(crate) fn delete_ids_request<'a>(&'a self, ids: &'a Vec<Uuid>) -> Request<'a> {
        Request::Statement(&self.table.sql.delete_ids, vec![&self.id, ids])
    }

    pub(crate) fn clear_request(&self) -> Request<'_> {
        Request::Statement(&self.table.sql.clear, vec![&self.id])
    }
}

/// `<table>_session_created_idx`, or for long table names a cut name with a
/// hash of the whole one, so that two long names never share an index name
/// (which `IF NOT EXISTS` would silently accept).
fn index_name(table: &str) -> String {
    const SUFFIX: &str = "_session_created_idx";
    if table.len() + SUFFIX.len() <= MAX_IDENT_BYTES {
        return format!("{table}{SUFFIX}");
    }
    // FNV-1a: stable across Rust versions and processes, unlike `DefaultHasher`.
    let hash = table.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let tail = format!("_{:08x}{SUFFIX}", hash as u32);
    format!("{}{tail}", &table[..MAX_IDENT_BYTES - tail.len()])
}

/// One statement for a connection to run.
pub(crate) enum Request<'a> {
    /// A statement with bind parameters, prepared once per connection.
    Statement(&'a str, Vec<&'a (dyn ToSql + Sync)>),
    /// Statements without parameters (schema changes, the ping), sent
    /// together as one simple query.
    Batch(&'a str),
}

impl Request<'_> {
    pub(crate) fn is_batch(&self) -> bool {
        matches!(self, Request::Batch(_))
    }
}

/// Prepared statements of one connection, by SQL text: after its first use a
/// statement costs one round trip (Bind/Execute/Sync), not two.
#[derive(Default)]
pub(crate) struct StatementCache(HashMap<String, Statement>);

impl StatementCache {
    pub(crate) fn get(&self, sql: &str) -> Option<Statement> {
        self.0.get(sql).cloned()
    }

    pub(crate) fn insert(&mut self, sql: &str, statement: Statement) {
        self.0.insert(sql.to_owned(), statement);
    }
}

/// Messages ready to insert: checked, serialized, and given their row ids.
pub(crate) struct InsertBatch {
    ids: Vec<Uuid>,
    json: Vec<String>,
}

impl InsertBatch {
    pub(crate) fn new(messages: &[Message], max_message_bytes: usize) -> Result<InsertBatch> {
        let mut json = Vec::with_capacity(messages.len());
        for (i, message) in messages.iter().enumerate() {
            if message.has_nul() {
                return Err(Error::InvalidMessage(format!(
                    "message {i} contains U+0000, which JSONB cannot store"
                )));
            }
            let text = message.to_json();
            if text.len() > max_message_bytes {
                return Err(Error::InvalidMessage(format!(
                    "message {i} is {} bytes as JSON, over the limit of {max_message_bytes}",
                    text.len()
                )));
            }
            json.push(text);
        }
        let ids = messages.iter().map(|_| Uuid::new_v4()).collect();
        Ok(InsertBatch { ids, json })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// A JSON or JSONB column as the bytes of its JSON text, borrowed from the
/// row, so a message is parsed straight from the wire buffer.
pub(crate) struct JsonText<'a>(pub(crate) &'a [u8]);

impl<'a> FromSql<'a> for JsonText<'a> {
    fn from_sql(
        ty: &Type,
        raw: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        if *ty == Type::JSONB {
            // JSONB's binary form is a version byte, then the JSON text.
            match raw.split_first() {
                Some((1, text)) => Ok(JsonText(text)),
                _ => Err("unsupported JSONB binary format version".into()),
            }
        } else {
            Ok(JsonText(raw))
        }
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB || *ty == Type::JSON
    }
}

/// Rows of `(id, message)` as messages; a row that is not a LangChain
/// message is an error naming its id.
pub(crate) fn decode_messages(rows: &[Row]) -> Result<Vec<Message>> {
    rows.iter()
        .map(|row| crate::stored::decode_message(row, row.try_get(0)?, 1))
        .collect()
}

/// A count or size as a SQL `LIMIT`.
pub(crate) fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The session ids starting with `prefix`, as a range `[low, high)` of
/// code points (`high` is `None` when nothing is above the range).
fn prefix_range(prefix: &str) -> (String, Option<String>) {
    let mut high: Vec<char> = prefix.chars().collect();
    while let Some(last) = high.pop() {
        // The next code point, skipping the surrogate gap.
        let next = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32);
        if let Some(next) = next {
            high.push(next);
            return (prefix.to_owned(), Some(high.into_iter().collect()));
        }
    }
    (prefix.to_owned(), None)
}

/// The parameters of a statement that deletes (or finds) by age.
pub(crate) struct Cutoff {
    pub(crate) at: OffsetDateTime,
    pub(crate) batch: i64,
}

impl Table {
    pub(crate) fn cutoff_request<'a>(&'a self, seconds: &'a f64) -> Request<'a> {
        Request::Statement(&self.sql.cutoff, vec![seconds])
    }

    pub(crate) fn sessions_request<'a>(
        &'a self,
        range: &'a (String, Option<String>),
        limit: &'a i64,
    ) -> Request<'a> {
        Request::Statement(
            &self.sql.sessions[usize::from(range.1.is_some())],
            vec![&range.0, &range.1, limit],
        )
    }

    pub(crate) fn idle_sessions_request<'a>(&'a self, cutoff: &'a Cutoff) -> Request<'a> {
        Request::Statement(&self.sql.idle_sessions, vec![&cutoff.at, &cutoff.batch])
    }

    pub(crate) fn delete_idle_request<'a>(
        &'a self,
        sessions: &'a Vec<String>,
        cutoff: &'a Cutoff,
    ) -> Request<'a> {
        Request::Statement(
            &self.sql.delete_idle,
            vec![sessions, &cutoff.at, &cutoff.batch],
        )
    }

    pub(crate) fn delete_old_request<'a>(&'a self, cutoff: &'a Cutoff) -> Request<'a> {
        Request::Statement(&self.sql.delete_old, vec![&cutoff.at, &cutoff.batch])
    }
}

pub(crate) use crate::stored::SessionFilter;

/// The prefix range and limit of a session listing.
pub(crate) fn session_range(filter: &SessionFilter) -> (String, Option<String>) {
    prefix_range(filter.prefix.as_deref().unwrap_or_default())
}

/// A walk through stored rows in order, one page at a time, for export:
/// one session by its pages, or every session with a prefix by
/// (session_id, created_at, id).
pub(crate) struct ExportScan {
    scope: Scope,
    limit: i64,
    after: Option<(String, OffsetDateTime, Uuid)>,
    done: bool,
}

enum Scope {
    Session(String),
    Prefix(String, Option<String>),
}

impl ExportScan {
    const PAGE: i64 = 500;

    pub(crate) fn session(session_id: &str) -> ExportScan {
        ExportScan {
            scope: Scope::Session(session_id.to_owned()),
            limit: Self::PAGE,
            after: None,
            done: false,
        }
    }

    pub(crate) fn prefix(prefix: Option<&str>) -> ExportScan {
        let (low, high) = prefix_range(prefix.unwrap_or_default());
        ExportScan {
            scope: Scope::Prefix(low, high),
            limit: Self::PAGE,
            after: None,
            done: false,
        }
    }

    /// The next page's statement, or `None` when the walk is over.
    pub(crate) fn request<'a>(&'a self, table: &'a Table) -> Option<Request<'a>> {
        if self.done {
            return None;
        }
        let sql = &table.sql;
        Some(match (&self.scope, &self.after) {
            (Scope::Session(id), None) => {
                Request::Statement(&sql.page_first, vec![id, &self.limit])
            }
            (Scope::Session(id), Some((_, at, row))) => {
                Request::Statement(&sql.page_next, vec![id, at, row, &self.limit])
            }
            (Scope::Prefix(low, high), None) => Request::Statement(
                &sql.export_first[usize::from(high.is_some())],
                vec![low, high, &self.limit],
            ),
            (Scope::Prefix(low, high), Some((session, at, row))) => Request::Statement(
                &sql.export_next[usize::from(high.is_some())],
                vec![low, high, &self.limit, session, at, row],
            ),
        })
    }

    /// The page's rows as JSON Lines, moving the walk past them.
    pub(crate) fn advance(&mut self, rows: &[Row]) -> Result<(String, u64)> {
        let entries = match &self.scope {
            Scope::Session(id) => crate::stored::decode_entries(rows, Some(id))?,
            Scope::Prefix(..) => crate::stored::decode_entries(rows, None)?,
        };
        self.done = rows.len() < usize::try_from(self.limit).unwrap_or(usize::MAX);
        if let Some(last) = entries.last() {
            self.after = Some((last.session_id.clone(), last.created_at, last.id));
        }
        let mut lines = String::new();
        for entry in &entries {
            lines.push_str(&entry.to_json_line());
            lines.push('\n');
        }
        Ok((lines, entries.len() as u64))
    }
}

/// Exported rows read back, sent in batches that keep ids and times.
#[derive(Default)]
pub(crate) struct ImportBatch {
    ids: Vec<Uuid>,
    sessions: Vec<String>,
    json: Vec<String>,
    times: Vec<OffsetDateTime>,
}

impl ImportBatch {
    pub(crate) const SIZE: usize = 500;

    /// Adds line number `number` of an export (blank lines are skipped).
    pub(crate) fn push_line(
        &mut self,
        line: &str,
        number: u64,
        max_message_bytes: usize,
    ) -> Result<()> {
        if line.trim().is_empty() {
            return Ok(());
        }
        let entry = StoredMessage::from_json_line(line).map_err(|e| match e {
            Error::InvalidMessage(reason) => {
                Error::InvalidMessage(format!("line {number}: {reason}"))
            }
            other => other,
        })?;
        if entry.message.has_nul() {
            return Err(Error::InvalidMessage(format!(
                "line {number}: contains U+0000, which JSONB cannot store"
            )));
        }
        let json = entry.message.to_json();
        if json.len() > max_message_bytes {
            return Err(Error::InvalidMessage(format!(
                "line {number}: the message is {} bytes as JSON, over the limit of {max_message_bytes}",
                json.len()
            )));
        }
        self.ids.push(entry.id);
        self.sessions.push(entry.session_id);
        self.json.push(json);
        self.times.push(entry.created_at);
        Ok(())
    }

    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    pub(crate) fn clear(&mut self) {
        *self = ImportBatch::default();
    }

    pub(crate) fn request<'a>(&'a self, table: &'a Table) -> Request<'a> {
        Request::Statement(
            &table.sql.import,
            vec![&self.ids, &self.sessions, &self.json, &self.times],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        for good in ["message_store", "_x", "Chat2", "a".repeat(63).as_str()] {
            assert!(Ident::new("table name", good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "1abc",
            "my-table",
            "a b",
            "x;drop table y",
            "t\"",
            "é",
            "a".repeat(64).as_str(),
        ] {
            let err = Ident::new("table name", bad).unwrap_err();
            assert!(matches!(err, Error::InvalidIdentifier { .. }), "{bad}");
        }
    }

    #[test]
    fn prefix_ranges_hold_exactly_the_ids_with_the_prefix() {
        assert_eq!(
            prefix_range("user-1:"),
            ("user-1:".into(), Some("user-1;".into()))
        );
        assert_eq!(prefix_range(""), (String::new(), None));
        assert_eq!(
            prefix_range("a\u{10FFFF}"),
            ("a\u{10FFFF}".into(), Some("b".into()))
        );
        assert_eq!(
            prefix_range("\u{D7FF}"),
            ("\u{D7FF}".into(), Some("\u{E000}".into()))
        );
        let (low, high) = prefix_range("user-1:");
        let high = high.unwrap();
        for id in ["user-1:", "user-1:a", "user-1:\u{10FFFF}x"] {
            assert!(id >= low.as_str() && id < high.as_str(), "{id}");
        }
        for id in ["user-1", "user-10:a", "user-2:"] {
            assert!(!(id >= low.as_str() && id < high.as_str()), "{id}");
        }
    }

    #[test]
    fn index_names_fit_and_stay_distinct() {
        assert_eq!(
            index_name("message_store"),
            "message_store_session_created_idx"
        );
        let a = index_name(&format!("{}a", "x".repeat(62)));
        let b = index_name(&format!("{}b", "x".repeat(62)));
        assert!(a.len() <= 63 && b.len() <= 63);
        assert_ne!(a, b);
    }

    #[test]
    fn batches_refuse_nul_and_oversized_messages() {
        assert!(InsertBatch::new(&[Message::human("a\0b")], 1000).is_err());
        assert!(InsertBatch::new(&[Message::human("x".repeat(2000))], 1000).is_err());
        let batch = InsertBatch::new(&[Message::human("a"), Message::ai("b")], 1000).unwrap();
        assert_eq!(batch.ids.len(), 2);
        assert_ne!(batch.ids[0], batch.ids[1]);
    }
}

/// The plans of the crate's own statements on a large table: the reads that
/// must stay cheap go through the (session_id, created_at) index, whatever
/// plan PostgreSQL caches for the prepared statement.
#[cfg(test)]
mod plans {
    use super::*;

    fn database_url() -> String {
        std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgresql://root@127.0.0.1:5432/test?sslmode=disable".into())
    }

    async fn plan(client: &tokio_postgres::Client, sql: &str, types: &str, args: &str) -> String {
        client
            .batch_execute(&format!("PREPARE plan_probe ({types}) AS {sql}"))
            .await
            .unwrap();
        let rows = client
            .query(&format!("EXPLAIN EXECUTE plan_probe ({args})"), &[])
            .await
            .unwrap();
        client.batch_execute("DEALLOCATE plan_probe").await.unwrap();
        rows.iter()
            .map(|r| r.get::<_, String>(0))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[tokio::test]
    async fn last_messages_and_session_listing_use_the_index() {
        let (client, connection) = tokio_postgres::connect(&database_url(), tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "the test database at {} is not reachable: {e}",
                    database_url()
                )
            });
        tokio::spawn(connection);
        let name = format!("t_plans_{}", &Uuid::new_v4().simple().to_string()[..10]);
        let table = Table::new("plans", &HistoryOptions::default().table_name(&name)).unwrap();
        client.batch_execute(&table.sql.create).await.unwrap();
        client
            .batch_execute(&format!(
                "INSERT INTO {name} (session_id, message, created_at)
                 SELECT 'user-' || (g % 1000) || ':chat', '{{\"type\": \"human\", \"data\": {{\"content\": \"x\"}}}}',
                        now() + g * interval '1 millisecond'
                 FROM generate_series(1, 100000) AS g"
            ))
            .await
            .unwrap();
        client
            .batch_execute(&format!("VACUUM ANALYZE {name}"))
            .await
            .unwrap();
        let index = index_name(&name);
        for mode in ["auto", "force_custom_plan", "force_generic_plan"] {
            client
                .batch_execute(&format!("SET plan_cache_mode = {mode}"))
                .await
                .unwrap();
            let last = plan(
                &client,
                &table.sql.last,
                "text, bigint",
                "'user-42:chat', 10",
            )
            .await;
            assert!(
                last.contains(&index) && !last.contains("Seq Scan"),
                "{mode}: last_messages:\n{last}"
            );
            let sessions = plan(
                &client,
                &table.sql.sessions[1],
                "text, text, bigint",
                "'user-42', 'user-43', 10",
            )
            .await;
            // Bounded on both ends: not a scan from the prefix to the end.
            assert!(
                sessions.contains("session_id < $2") || sessions.contains("session_id < 'user-43'"),
                "{mode}:\n{sessions}"
            );
            assert!(
                sessions.contains(&index) && !sessions.contains("Seq Scan"),
                "{mode}: list_sessions:\n{sessions}"
            );
            let page = plan(
                &client,
                &table.sql.page_next,
                "text, timestamptz, uuid, bigint",
                "'user-42:chat', now(), gen_random_uuid(), 64",
            )
            .await;
            assert!(
                page.contains(&index) && !page.contains("Seq Scan"),
                "{mode}: messages_page:\n{page}"
            );
        }
        client
            .batch_execute(&format!("DROP TABLE {name}"))
            .await
            .unwrap();
    }
}
