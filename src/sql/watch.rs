//! Watching a session: the statements (one text per server, the same
//! parameters), their rows read into batches, and what a batch makes of a
//! watch's position and events (`Progress`).
//!
//! Every message has a key in an order where messages only ever appear
//! above every key already final (`docs/COCKROACHDB.md`, "Watching a
//! session", says why):
//!
//! - PostgreSQL: the 64-bit id of its inserting top-level transaction
//!   (the column `xact_id`, which the server fills; 0 for rows older than
//!   the column); final once below the snapshot's `xmin`, the oldest
//!   transaction still running;
//! - CockroachDB: its commit timestamp, `crdb_internal_mvcc_timestamp`;
//!   final once read (a later commit to the session's rows is above the
//!   read's timestamp).
//!
//! A watch's cursor is a position in `(key, created_at, id)`: the rows at
//! or before it were delivered. Each read returns the final rows after it,
//! a page in that order, and counts the rows at or before it (which only
//! deletions lower) and, on PostgreSQL, the rows after it not yet final.

use std::collections::VecDeque;

use time::OffsetDateTime;
use tokio_postgres::Row;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::report::ServerKind;
use crate::rows;
use crate::stored::StoredMessage;
use crate::table::Session;
use crate::watch::{WatchCursor, WatchEvent};

use super::statement::{Request, Sql};

/// PostgreSQL: the statement's snapshot's `xmin`, as `lo`: every
/// transaction below it has ended.
macro_rules! pg_snapshot {
    () => {
        "snap AS (SELECT pg_snapshot_xmin(pg_current_snapshot())::TEXT::INT8 AS lo)"
    };
}

/// PostgreSQL: a row's key, the 64-bit id of the top-level transaction
/// that inserted it (`xact_id`, filled by `pg_current_xact_id()`); 0 for
/// a row older than the column (NULL), all final before any watch began.
macro_rules! pg_key {
    () => {
        "COALESCE(r.xact_id::TEXT::INT8, 0)"
    };
}

/// Whether a row keyed `k` is after the cursor `($2, $3, $4)`: above its
/// key, or at its key and after its `(created_at, id)` (when given).
macro_rules! ahead {
    ($key:literal) => {
        concat!(
            "(k > ",
            $key,
            " OR (k = ",
            $key,
            " AND COALESCE((created_at, id) > ($3::TIMESTAMPTZ, $4::UUID), FALSE)))"
        )
    };
}

/// The final rows of session `$1` after the cursor `($2, $3, $4)`, at most
/// `$5` in `(key, created_at, id)` order, each with the read's horizon,
/// the count of rows at or before the cursor and of rows after it not yet
/// final, and the count and newest key of all final rows (what the hub's
/// look compares); one row of NULLs and the counts when there is none.
const READ: Sql = Sql::read(concat!(
    "WITH keyed AS (
    SELECT id, message, created_at, crdb_internal_mvcc_timestamp AS k
    FROM {t} WHERE {live} AND session_id = $1
),
marked AS (SELECT *, ",
    ahead!("$2::TEXT::DECIMAL"),
    " AS ahead FROM keyed),
page AS (SELECT id, message, created_at, k FROM marked WHERE ahead ORDER BY k, created_at, id LIMIT $5)
SELECT page.id, page.message, page.created_at, page.k::TEXT, NULL::TEXT,
    (SELECT count(*) FROM marked WHERE NOT ahead), 0::INT8,
    (SELECT count(*) FROM marked), (SELECT max(k) FROM marked)::TEXT
FROM (SELECT 1) AS one LEFT JOIN page ON TRUE
ORDER BY page.k, page.created_at, page.id"
))
.on_postgresql(concat!(
    "WITH ",
    pg_snapshot!(),
    ",
keyed AS (
    SELECT r.id, r.message, r.created_at, snap.lo, ",
    pg_key!(),
    " AS k
    FROM {t} AS r, snap WHERE {live} AND r.session_id = $1
),
marked AS (SELECT *, ",
    ahead!("$2::TEXT::INT8"),
    " AS ahead FROM keyed),
page AS (
    SELECT id, message, created_at, k FROM marked WHERE ahead AND k < lo
    ORDER BY k, created_at, id LIMIT $5
)
SELECT page.id, page.message, page.created_at, page.k::TEXT, ((SELECT lo FROM snap) - 1)::TEXT,
    (SELECT count(*) FROM marked WHERE NOT ahead),
    (SELECT count(*) FROM marked WHERE ahead AND k >= lo),
    (SELECT count(*) FROM marked WHERE k < lo), (SELECT max(k) FROM marked WHERE k < lo)::TEXT
FROM (SELECT 1) AS one LEFT JOIN page ON TRUE
ORDER BY page.k, page.created_at, page.id"
));

/// Where "now" is for session `$1`: the key at or before which every row
/// is final, the count of those rows and their newest key, and the count
/// of rows not yet final.
const NOW: Sql = Sql::read(
    "SELECT COALESCE(max(crdb_internal_mvcc_timestamp), 0)::TEXT, count(*),
    max(crdb_internal_mvcc_timestamp)::TEXT, 0::INT8
FROM {t} WHERE {live} AND session_id = $1",
)
.on_postgresql(concat!(
    "WITH ",
    pg_snapshot!(),
    ",
keyed AS (SELECT ",
    pg_key!(),
    " AS k, snap.lo FROM {t} AS r, snap WHERE {live} AND r.session_id = $1)
SELECT ((SELECT lo FROM snap) - 1)::TEXT, (SELECT count(*) FROM keyed WHERE k < lo),
    (SELECT max(k) FROM keyed WHERE k < lo)::TEXT, (SELECT count(*) FROM keyed WHERE k >= lo)"
));

/// The hub's periodic look: for each of the sessions `$1` that has final
/// rows, their count and newest key.
pub(crate) const LOOK: Sql = Sql::read(
    "SELECT session_id, count(*), max(crdb_internal_mvcc_timestamp)::TEXT
FROM {t} WHERE {live} AND session_id = ANY($1::TEXT[]) GROUP BY session_id",
)
.on_postgresql(concat!(
    "WITH ",
    pg_snapshot!(),
    ",
keyed AS (
    SELECT r.session_id, snap.lo, ",
    pg_key!(),
    " AS k
    FROM {t} AS r, snap WHERE {live} AND r.session_id = ANY($1::TEXT[])
)
SELECT session_id, count(*), max(k)::TEXT FROM keyed WHERE k < lo GROUP BY session_id"
));

/// `LISTEN` to a table's channel (PostgreSQL only), as a simple query.
pub(crate) fn listen(channel: &str) -> String {
    format!("LISTEN \"{channel}\"")
}

/// `UNLISTEN`, its undoing.
pub(crate) fn unlisten(channel: &str) -> String {
    format!("UNLISTEN \"{channel}\"")
}

/// The parameters of a read: what `READ` takes of a cursor.
pub(crate) struct ReadParams {
    key: String,
    created_at: Option<OffsetDateTime>,
    id: Option<Uuid>,
    limit: i64,
}

impl ReadParams {
    pub(crate) fn new(cursor: &WatchCursor, page: usize) -> ReadParams {
        ReadParams {
            key: cursor.key.clone(),
            created_at: cursor.at.map(|(at, _)| at),
            id: cursor.at.map(|(_, id)| id),
            limit: super::limit(page),
        }
    }
}

pub(crate) fn read<'a>(session: &'a Session, params: &'a ReadParams) -> Request<'a> {
    Request::Statement(
        READ,
        vec![
            &session.id,
            &params.key,
            &params.created_at,
            &params.id,
            &params.limit,
        ],
    )
}

pub(crate) fn now(session: &Session) -> Request<'_> {
    Request::Statement(NOW, vec![&session.id])
}

/// What one read found.
#[derive(Debug)]
pub(crate) struct Batch {
    /// The page, each message with its key.
    rows: Vec<(StoredMessage, String)>,
    /// PostgreSQL: the key at or below which every row is final.
    horizon: Option<String>,
    /// The rows at or before the cursor read from.
    behind: u64,
    /// The rows after it not yet final.
    pending: u64,
    /// The count and newest key of the session's final rows.
    pub(crate) seen: Seen,
}

/// What the hub compares of a session's final rows: their count and
/// newest key.
pub(crate) type Seen = (i64, Option<String>);

/// The rows of `READ` for `session_id`.
pub(crate) fn batch(rows: &[Row], session_id: &str) -> Result<Batch> {
    let Some(first) = rows.first() else {
        return Err(Error::Protocol("a watch's read returned no row".into()));
    };
    let page = match first.try_get::<_, Option<Uuid>>(0)? {
        Some(_) => rows,
        None => &rows[..0],
    };
    let entries = rows::decode_entries(page, Some(session_id))?;
    let keys = page
        .iter()
        .map(|row| row.try_get::<_, String>(3))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(Batch {
        rows: entries.into_iter().zip(keys).collect(),
        horizon: first.try_get(4)?,
        behind: count(first.try_get(5)?),
        pending: count(first.try_get(6)?),
        seen: (first.try_get(7)?, first.try_get(8)?),
    })
}

fn count(n: i64) -> u64 {
    n.unsigned_abs()
}

/// The position and count of the row of `NOW`, on `server`, and what
/// the hub compares.
pub(crate) fn started(rows: &[Row], server: ServerKind) -> Result<(Progress, Seen)> {
    let Some(row) = rows.first() else {
        return Err(Error::Protocol("a watch's start returned no row".into()));
    };
    let key: String = row.try_get(0)?;
    if !WatchCursor::valid_key(server, &key) {
        return Err(Error::Protocol(format!(
            "a watch's start read the key {key:?}"
        )));
    }
    let mut progress = Progress::new(WatchCursor {
        server,
        key,
        at: None,
    });
    let final_rows: i64 = row.try_get(1)?;
    progress.behind = Some(count(final_rows));
    progress.pending = row.try_get::<_, i64>(3)? > 0;
    Ok((progress, (final_rows, row.try_get(2)?)))
}

/// The periodic look's rows: each session's count and newest key.
pub(crate) fn looked(rows: &[Row]) -> Result<Vec<(String, Seen)>> {
    rows.iter()
        .map(|row| Ok((row.try_get(0)?, (row.try_get(1)?, row.try_get(2)?))))
        .collect()
}

/// A watch's position, and the events its reads made that it has not
/// yielded yet.
#[derive(Debug)]
pub(crate) struct Progress {
    /// Where the reads got to: the next read starts after it.
    cursor: WatchCursor,
    /// Where the events yielded got to: a watch resumed from it gets what
    /// this one has not yielded yet (the reads may be further on).
    yielded: WatchCursor,
    /// The rows at or before the cursor, as last counted and delivered
    /// since; `None` before the first read.
    behind: Option<u64>,
    events: VecDeque<WatchEvent>,
    /// The last read filled its page: there may be more at once.
    more: bool,
    /// The last read saw rows after the cursor that were not yet final.
    pending: bool,
}

impl Progress {
    pub(crate) fn new(cursor: WatchCursor) -> Progress {
        Progress {
            yielded: cursor.clone(),
            cursor,
            behind: None,
            events: VecDeque::new(),
            more: false,
            pending: false,
        }
    }

    /// Where the next read starts.
    pub(crate) fn cursor(&self) -> &WatchCursor {
        &self.cursor
    }

    /// Where a watch that resumes this one must start: after the last
    /// event yielded, or, with none waiting, where the reads got to.
    pub(crate) fn position(&self) -> &WatchCursor {
        match self.events.is_empty() {
            true => &self.cursor,
            false => &self.yielded,
        }
    }

    pub(crate) fn next_event(&mut self) -> Option<WatchEvent> {
        let event = self.events.pop_front()?;
        self.yielded = event.cursor().clone();
        Some(event)
    }

    /// Whether the last read filled its page.
    pub(crate) fn more(&self) -> bool {
        self.more
    }

    /// Whether the last read saw rows not yet final.
    pub(crate) fn pending(&self) -> bool {
        self.pending
    }

    /// What a read from the cursor found, with pages of `page_size`: a
    /// deletion first if the rows at or before the cursor are fewer than
    /// known, then each message, the cursor after it; then the cursor
    /// moves to the read's horizon, unless the page was full (the rows
    /// between are not all read yet).
    pub(crate) fn apply(&mut self, batch: Batch, page_size: usize) {
        if self.events.is_empty() {
            self.yielded = self.cursor.clone();
        }
        if let Some(known) = self.behind
            && batch.behind < known
        {
            self.events.push_back(WatchEvent::Deleted {
                count: known - batch.behind,
                cursor: self.cursor.clone(),
            });
        }
        let delivered = batch.rows.len();
        for (entry, key) in batch.rows {
            self.cursor = WatchCursor {
                server: self.cursor.server,
                key,
                at: Some((entry.created_at, entry.id)),
            };
            let cursor = self.cursor.clone();
            self.events.push_back(WatchEvent::Message { entry, cursor });
        }
        self.behind = Some(batch.behind + delivered as u64);
        self.more = delivered >= page_size;
        self.pending = batch.pending > 0;
        if let Some(horizon) = batch.horizon.filter(|_| !self.more) {
            self.advance_to(horizon);
        }
    }

    /// Moves the cursor to `(horizon, all)` if that is after it (keys of
    /// PostgreSQL, integers).
    fn advance_to(&mut self, horizon: String) {
        let (Ok(to), Ok(from)) = (horizon.parse::<i64>(), self.cursor.key.parse::<i64>()) else {
            return;
        };
        if to > from || to == from && self.cursor.at.is_some() {
            self.cursor = WatchCursor {
                server: self.cursor.server,
                key: horizon,
                at: None,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;

    fn entry(n: u8) -> StoredMessage {
        let at = OffsetDateTime::from_unix_timestamp(1_700_000_000 + i64::from(n)).unwrap();
        StoredMessage::new(
            Uuid::from_bytes([n; 16]),
            "s",
            at,
            Message::human(n.to_string()),
        )
    }

    fn batch(keys: &[(u8, &str)], horizon: Option<&str>, behind: u64, pending: u64) -> Batch {
        Batch {
            rows: keys
                .iter()
                .map(|(n, k)| (entry(*n), (*k).to_owned()))
                .collect(),
            horizon: horizon.map(str::to_owned),
            behind,
            pending,
            seen: (0, None),
        }
    }

    fn texts(progress: &mut Progress) -> Vec<String> {
        std::iter::from_fn(|| progress.next_event())
            .map(|event| match event {
                WatchEvent::Message { entry, cursor } => {
                    format!("{}@{cursor}", entry.message.text())
                }
                WatchEvent::Deleted { count, .. } => format!("-{count}"),
            })
            .collect()
    }

    #[test]
    fn each_message_carries_the_cursor_after_it_and_the_horizon_follows_a_partial_page() {
        let mut progress = Progress::new(WatchCursor::beginning(ServerKind::PostgreSQL));
        progress.apply(batch(&[(1, "700"), (2, "700")], Some("710"), 0, 0), 2);
        let events = texts(&mut progress);
        assert!(events[0].starts_with("1@p1_700_") && events[1].starts_with("2@p1_700_"));
        assert!(progress.more(), "a full page: read on at once");
        assert!(
            progress.cursor().at.is_some(),
            "not past the page's last row"
        );
        progress.apply(batch(&[(3, "705")], Some("710"), 2, 1), 2);
        assert_eq!(texts(&mut progress).len(), 1);
        assert!(!progress.more() && progress.pending());
        assert_eq!(progress.cursor().to_string(), "p1_710");
        // A horizon behind the cursor (a cursor from a later snapshot)
        // does not move it back.
        progress.apply(batch(&[], Some("705"), 3, 0), 2);
        assert_eq!(progress.cursor().to_string(), "p1_710");
    }

    #[test]
    fn fewer_rows_behind_the_cursor_than_known_is_a_deletion() {
        let mut progress = Progress::new(WatchCursor::beginning(ServerKind::CockroachDB));
        progress.apply(batch(&[(1, "10.1"), (2, "11.0")], None, 0, 0), 10);
        assert_eq!(texts(&mut progress).len(), 2);
        assert_eq!(progress.cursor().key, "11.0", "no horizon on CockroachDB");
        // One deleted, one new: both told.
        progress.apply(batch(&[(3, "12.0")], None, 1, 0), 10);
        let events = texts(&mut progress);
        assert_eq!(events[0], "-1");
        assert!(events[1].starts_with("3@c1_12.0_"));
        progress.apply(batch(&[], None, 0, 0), 10);
        assert_eq!(texts(&mut progress), ["-2"]);
    }

    #[test]
    fn a_watch_resumed_from_a_cursor_counts_from_its_first_read() {
        let cursor: WatchCursor = "p1_500".parse().unwrap();
        let mut progress = Progress::new(cursor);
        progress.apply(batch(&[], Some("520"), 7, 0), 10);
        assert!(
            texts(&mut progress).is_empty(),
            "no deletion before a count"
        );
        progress.apply(batch(&[], Some("520"), 6, 0), 10);
        assert_eq!(texts(&mut progress), ["-1"]);
    }
}
