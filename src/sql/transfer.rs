//! Export and import: walking stored rows in order, a page at a time, as
//! JSON Lines, and writing exported rows back with their ids and times.

use time::OffsetDateTime;
use tokio_postgres::Row;
use uuid::Uuid;

use crate::catalog::IdOrder;
use crate::error::{Error, Result};
use crate::ident::prefix_range;
use crate::rows::decode_entries;
use crate::stored::StoredMessage;

use super::read::{PAGE_FIRST, PAGE_NEXT};
use super::write::storable_json;
use super::{ByPrefix, Request, Sql};

macro_rules! export_first {
    ($c:tt, $hi:tt) => {
        concat!(
            "SELECT id, message, created_at, session_id FROM {t}
WHERE {live} AND ",
            $c,
            " >= $1 AND ",
            $hi,
            "
ORDER BY ",
            $c,
            ", created_at, id LIMIT $3"
        )
    };
}
const EXPORT_FIRST: ByPrefix = by_prefix!(export_first);

/// After the row at `($4, $5, $6)`, in the same order as the first page.
macro_rules! export_next {
    ($c:tt, $hi:tt) => {
        concat!(
            "SELECT id, message, created_at, session_id FROM {t}
WHERE {live} AND ",
            $c,
            " >= $1 AND ",
            $hi,
            " AND (",
            $c,
            ", created_at, id) > ($4, $5, $6)
ORDER BY ",
            $c,
            ", created_at, id LIMIT $3"
        )
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
        let at_line = |reason: String| Error::InvalidMessage(format!("line {number}: {reason}"));
        let entry = StoredMessage::from_json_line(line).map_err(|e| match e {
            Error::InvalidMessage(reason) => at_line(reason),
            other => other,
        })?;
        let json = storable_json(&entry.message, max_message_bytes, || {
            format!("line {number}")
        })?;
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

    pub(crate) fn request(&self) -> Request<'_> {
        Request::Statement(
            IMPORT,
            vec![&self.ids, &self.sessions, &self.json, &self.times],
        )
    }
}
