//! Export and import: walking stored rows in order, a page at a time, as
//! JSON Lines, and writing exported rows back with their ids and times.

use std::time::Duration;

use time::OffsetDateTime;
use tokio_postgres::Row;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::ident::prefix_range;
use crate::rows::decode_entries;
use crate::stored::{StoredMessage, storable_json};
use crate::table::IdOrder;

use super::read::{PAGE_FIRST, PAGE_NEXT};
use super::statement::{ByPrefix, Request, Sql};
use super::wire;

/// A page of an export over a prefix's range (`$c`, `$hi`: see
/// `by_prefix!`), with more conditions after it, if any.
macro_rules! export {
    ($c:tt, $hi:tt $(, $after:tt)*) => {
        concat!(
            "SELECT id, message, created_at, session_id FROM {t}
WHERE {live} AND ", $c, " >= $1 AND ", $hi, $($after,)* "
ORDER BY ", $c, ", created_at, id LIMIT $3"
        )
    };
}
const EXPORT_FIRST: ByPrefix = by_prefix!(export);

/// After the row at `($4, $5, $6)`, in the same order as the first page.
macro_rules! export_next {
    ($c:tt, $hi:tt) => {
        export!($c, $hi, " AND (", $c, ", created_at, id) > ($4, $5, $6)")
    };
}
pub(crate) const EXPORT_NEXT: ByPrefix = by_prefix!(export_next);

/// A walk through stored rows in order, one page at a time: one session by
/// its pages, or every session with a prefix by (session_id, created_at, id).
pub(crate) struct ExportScan {
    scope: Scope,
    limit: i64,
    after: Option<(String, OffsetDateTime, Uuid)>,
    done: bool,
}

enum Scope {
    Session(String),
    Prefix(String, Option<String>, IdOrder),
}

impl ExportScan {
    const PAGE: i64 = 500;

    pub(crate) fn session(session_id: &str) -> ExportScan {
        ExportScan::new(Scope::Session(session_id.to_owned()))
    }

    /// The sessions with `prefix`, their ids compared in `order`.
    pub(crate) fn prefix(prefix: Option<&str>, order: IdOrder) -> ExportScan {
        let (low, high) = prefix_range(prefix.unwrap_or_default());
        ExportScan::new(Scope::Prefix(low, high, order))
    }

    fn new(scope: Scope) -> ExportScan {
        ExportScan {
            scope,
            limit: Self::PAGE,
            after: None,
            done: false,
        }
    }

    /// The next page's statement, or `None` when the walk is over.
    pub(crate) fn request(&self) -> Option<Request<'_>> {
        if self.done {
            return None;
        }
        Some(match (&self.scope, &self.after) {
            (Scope::Session(id), None) => Request::Statement(PAGE_FIRST, vec![id, &self.limit]),
            (Scope::Session(id), Some((_, at, row))) => {
                Request::Statement(PAGE_NEXT, vec![id, at, row, &self.limit])
            }
            (Scope::Prefix(low, high, order), None) => Request::Statement(
                EXPORT_FIRST.pick(*order, high),
                vec![low, high, &self.limit],
            ),
            (Scope::Prefix(low, high, order), Some((session, at, row))) => Request::Statement(
                EXPORT_NEXT.pick(*order, high),
                vec![low, high, &self.limit, session, at, row],
            ),
        })
    }

    /// The page's rows as JSON Lines, moving the walk past them.
    pub(crate) fn advance(&mut self, rows: &[Row]) -> Result<(String, u64)> {
        let entries = match &self.scope {
            Scope::Session(id) => decode_entries(rows, Some(id))?,
            Scope::Prefix(..) => decode_entries(rows, None)?,
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

/// Rows keep their ids and times, so a re-import writes nothing twice.
const IMPORT: Sql = Sql::write(
    "INSERT INTO {t} (id, session_id, message, created_at)
SELECT u.id, u.session_id, u.message::JSONB, u.created_at
FROM unnest($1::UUID[], $2::TEXT[], $3::TEXT[], $4::TIMESTAMPTZ[])
    AS u (id, session_id, message, created_at)
ON CONFLICT (id) DO NOTHING RETURNING id",
);
/// Exported rows read back, sent in batches that keep ids and times.
#[derive(Default)]
pub(crate) struct ImportBatch {
    ids: Vec<Uuid>,
    sessions: Vec<String>,
    json: Vec<String>,
    times: Vec<OffsetDateTime>,
    bytes: usize,
    /// Its statement's protocol message, at most (see `wire`).
    wire: usize,
    /// The line of its first row.
    first_line: u64,
}

/// One line of an export, checked and ready to send.
pub(crate) struct ImportRow {
    id: Uuid,
    session_id: String,
    json: String,
    created_at: OffsetDateTime,
}

impl ImportRow {
    /// What it adds to the arrays of a batch's statement.
    fn wire_bytes(&self) -> usize {
        [16, self.session_id.len(), self.json.len(), 8]
            .into_iter()
            .map(wire::value)
            .sum()
    }
}

/// How far ahead of this machine's clock an imported `created_at` may be:
/// the next write of a session goes after its newest row, and a row dated
/// in the far future would date every later message after it (past the
/// year 9999, which reads cannot decode).
pub(crate) const MAX_FUTURE_SKEW: Duration = Duration::from_secs(24 * 3600);

impl ImportBatch {
    pub(crate) const SIZE: usize = 500;

    /// The longest line an export of messages up to `max_message_bytes`
    /// holds: the message, and its id, time and session id (2,048 bytes at
    /// most, each escaped in up to 6).
    pub(crate) fn line_limit(max_message_bytes: usize) -> usize {
        max_message_bytes.saturating_add(16 << 10)
    }

    /// Line number `number` of an export, as a row to store: `None` for a
    /// blank line.
    pub(crate) fn parse(
        line: &str,
        number: u64,
        max_message_bytes: usize,
    ) -> Result<Option<ImportRow>> {
        if line.trim().is_empty() {
            return Ok(None);
        }
        let entry = StoredMessage::from_json_line(line)?;
        let latest = OffsetDateTime::now_utc() + MAX_FUTURE_SKEW;
        if entry.created_at > latest || entry.created_at.year() < 1 {
            return Err(Error::InvalidMessage(format!(
                "created_at {} is not between year 1 and a day from now",
                entry.created_at
            )));
        }
        let json = storable_json(&entry.message, max_message_bytes, || {
            format!("line {number}")
        })?;
        Ok(Some(ImportRow {
            id: entry.id,
            session_id: entry.session_id,
            json,
            created_at: entry.created_at,
        }))
    }

    /// Whether `row` can join the batch: up to `SIZE` rows, up to
    /// `max_batch_bytes` of JSON, and a statement that fits in a protocol
    /// message of `max_wire` bytes (a row alone, whatever its size: a row
    /// too large for the server is then refused before it is sent).
    pub(crate) fn fits(&self, row: &ImportRow, max_batch_bytes: usize, max_wire: usize) -> bool {
        self.ids.is_empty()
            || (self.ids.len() < Self::SIZE
                && self.bytes.saturating_add(row.json.len()) <= max_batch_bytes
                && self.wire_bytes().saturating_add(row.wire_bytes()) <= max_wire)
    }

    /// The Bind message of its statement: four arrays of its rows' values.
    fn wire_bytes(&self) -> usize {
        wire::bind([0; 4].map(|_| wire::array([]))).saturating_add(self.wire)
    }

    /// Adds `row`, read from line `line`.
    pub(crate) fn push(&mut self, row: ImportRow, line: u64) {
        if self.ids.is_empty() {
            self.first_line = line;
        }
        self.bytes += row.json.len();
        self.wire += row.wire_bytes();
        self.ids.push(row.id);
        self.sessions.push(row.session_id);
        self.json.push(row.json);
        self.times.push(row.created_at);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    pub(crate) fn first_line(&self) -> u64 {
        self.first_line
    }

    pub(crate) fn clear(&mut self) {
        *self = ImportBatch::default();
    }

    pub(crate) fn request(&self) -> Request<'_> {
        Request::Statement(
            IMPORT,
            vec![&self.ids, &self.sessions, &self.json, &self.times],
        )
    }
}
