//! Deleting what is old: idle sessions, old messages.

use time::OffsetDateTime;
use uuid::Uuid;

use super::statement::{ByPrefix, Request, Sql};
use crate::ident::prefix_range;
use crate::table::{IdOrder, Table};

/// The server's clock decides what is old, once per cleanup.
const CUTOFF: Sql = Sql::read("SELECT now() - $1::FLOAT8 * INTERVAL '1 second'");
pub(crate) fn cutoff(seconds: &f64) -> Request<'_> {
    Request::Statement(CUTOFF, vec![seconds])
}

/// The parameters of a statement that deletes (or finds) by age.
pub(crate) struct Cutoff {
    pub(crate) at: OffsetDateTime,
    pub(crate) batch: i64,
}

/// The next idle sessions after `$3` in the index's order: each call walks
/// on from where the last one stopped, so a cleanup reads the index once,
/// however many rounds it takes.
pub(crate) const IDLE_SESSIONS: Sql = Sql::read(
    "SELECT session_id FROM {t} WHERE session_id > $3
GROUP BY session_id HAVING max(created_at) < $1 ORDER BY session_id LIMIT $2",
);
pub(crate) fn idle_sessions<'a>(cutoff: &'a Cutoff, after: &'a String) -> Request<'a> {
    Request::Statement(IDLE_SESSIONS, vec![&cutoff.at, &cutoff.batch, after])
}

/// The text of `IDLE_BY_AGE`, its old rows bounded by `$after` too.
macro_rules! idle_by_age {
    ($after:literal) => {
        concat!(
            "WITH old AS (
    SELECT session_id, created_at, id FROM {t} WHERE created_at < $1",
            $after,
            "
    ORDER BY created_at, id LIMIT $2)
SELECT last.created_at, last.id, (SELECT count(*) FROM old),
    ARRAY(SELECT DISTINCT o.session_id FROM old AS o WHERE NOT EXISTS (
        SELECT 1 FROM {t} AS newer WHERE newer.session_id = o.session_id
        AND newer.created_at >= $1))
FROM (SELECT created_at, id FROM old ORDER BY created_at DESC, id DESC LIMIT 1) AS last"
        )
    };
}

/// With the activity index: a batch of old rows in the index's order, and
/// which of their sessions have nothing newer. One row (none when nothing
/// is old): where the batch ended, how many rows it held, the idle
/// sessions. A cleanup walks the old rows once, so its cost follows what is
/// old, and nothing being old costs one index probe. (On CockroachDB the
/// hash-sharded index yields this order by merging its buckets.)
const IDLE_BY_AGE: Sql = Sql::read(idle_by_age!(""));
/// As `IDLE_BY_AGE`, after the row at `($3, $4)`: the bare `created_at >=
/// $3` is what bounds the index scan.
pub(crate) const IDLE_BY_AGE_NEXT: Sql = Sql::read(idle_by_age!(
    " AND created_at >= $3 AND (created_at, id) > ($3, $4)"
));
/// Where a walk over old rows stands: the last row it read.
pub(crate) type Position = (OffsetDateTime, Uuid);

pub(crate) fn idle_by_age<'a>(cutoff: &'a Cutoff, after: Option<&'a Position>) -> Request<'a> {
    match after {
        None => Request::Statement(IDLE_BY_AGE, vec![&cutoff.at, &cutoff.batch]),
        Some((at, id)) => {
            Request::Statement(IDLE_BY_AGE_NEXT, vec![&cutoff.at, &cutoff.batch, at, id])
        }
    }
}

/// Which of the sessions `$1` are still idle, the longest idle first, and
/// how many rows each has: the order and the sizes of the deletes.
const STILL_IDLE: Sql = Sql::read(
    "SELECT session_id, count(*) FROM {t} WHERE session_id = ANY($1)
GROUP BY session_id HAVING max(created_at) < $2 ORDER BY max(created_at), session_id",
);
pub(crate) fn still_idle<'a>(sessions: &'a Vec<String>, cutoff: &'a Cutoff) -> Request<'a> {
    Request::Statement(STILL_IDLE, vec![sessions, &cutoff.at])
}

/// Every row of the sessions `$1` that are still idle, in one statement: a
/// session goes whole or not at all, and one that got a message meanwhile
/// keeps all of its history. Returns how many rows went.
const DELETE_IDLE: Sql = Sql::write(
    "WITH gone AS (
    DELETE FROM {t} WHERE session_id = ANY($1) AND session_id IN (
        SELECT session_id FROM {t} WHERE session_id = ANY($1)
        GROUP BY session_id HAVING max(created_at) < $2)
    RETURNING 1)
SELECT count(*) FROM gone",
);
pub(crate) fn delete_idle<'a>(sessions: &'a Vec<String>, cutoff: &'a Cutoff) -> Request<'a> {
    Request::Statement(DELETE_IDLE, vec![sessions, &cutoff.at])
}

/// Old rows in the primary key's order, a batch at a time, each batch
/// starting after the last id the one before deleted: without an index on
/// `created_at`, a cleanup reads the table once, not once per batch.
const DELETE_OLD_FIRST: Sql = Sql::write(
    "DELETE FROM {t} WHERE id IN (
    SELECT id FROM {t} WHERE created_at < $1 ORDER BY id LIMIT $2) RETURNING id",
);
pub(crate) const DELETE_OLD_NEXT: Sql = Sql::write(
    "DELETE FROM {t} WHERE id IN (
    SELECT id FROM {t} WHERE created_at < $1 AND id > $3 ORDER BY id LIMIT $2) RETURNING id",
);
/// With the activity index: the oldest rows through it, so that a cleanup
/// reads only what it deletes (and nothing when nothing is old).
const DELETE_OLD_BY_AGE: Sql = Sql::write(
    "DELETE FROM {t} WHERE id IN (
    SELECT id FROM {t} WHERE created_at < $1 ORDER BY created_at LIMIT $2) RETURNING id",
);
pub(crate) fn delete_old<'a>(
    table: &Table,
    cutoff: &'a Cutoff,
    after: Option<&'a Uuid>,
) -> Request<'a> {
    match after {
        _ if table.activity_index => {
            Request::Statement(DELETE_OLD_BY_AGE, vec![&cutoff.at, &cutoff.batch])
        }
        None => Request::Statement(DELETE_OLD_FIRST, vec![&cutoff.at, &cutoff.batch]),
        Some(id) => Request::Statement(DELETE_OLD_NEXT, vec![&cutoff.at, &cutoff.batch, id]),
    }
}

/// The next sessions with a prefix after `$3`, in byte order, and how many
/// rows each has: what an erase deletes next.
macro_rules! prefixed_after {
    ($c:tt, $hi:tt) => {
        concat!(
            "SELECT session_id, count(*) FROM {t}
WHERE ",
            $c,
            " >= $1 AND ",
            $hi,
            " AND ",
            $c,
            " > $3
GROUP BY session_id ORDER BY ",
            $c,
            " LIMIT $4"
        )
    };
}
pub(crate) const PREFIXED_AFTER: ByPrefix = by_prefix!(prefixed_after);

/// A walk over the sessions with a prefix, a batch at a time.
pub(crate) struct Prefixed {
    range: (String, Option<String>),
    order: IdOrder,
    pub(crate) after: String,
    batch: i64,
}

impl Prefixed {
    pub(crate) fn new(prefix: &str, order: IdOrder, batch: usize) -> Prefixed {
        Prefixed {
            range: prefix_range(prefix),
            order,
            after: String::new(),
            batch: super::limit(batch.max(1)),
        }
    }

    pub(crate) fn request(&self) -> Request<'_> {
        let (low, high) = &self.range;
        Request::Statement(
            PREFIXED_AFTER.pick(self.order, high),
            vec![low, high, &self.after, &self.batch],
        )
    }

    pub(crate) fn batch(&self) -> i64 {
        self.batch
    }
}

/// Every row of the sessions `$1`, in one statement. Returns how many went.
const DELETE_SESSIONS: Sql = Sql::write(
    "WITH gone AS (DELETE FROM {t} WHERE session_id = ANY($1) RETURNING 1)
SELECT count(*) FROM gone",
);
pub(crate) fn delete_sessions(sessions: &Vec<String>) -> Request<'_> {
    Request::Statement(DELETE_SESSIONS, vec![sessions])
}

/// How many rows are older than the cutoff: what `delete_messages_older_than`
/// would delete.
const COUNT_OLD: Sql = Sql::read("SELECT count(*) FROM {t} WHERE created_at < $1");
pub(crate) fn count_old(cutoff: &Cutoff) -> Request<'_> {
    Request::Statement(COUNT_OLD, vec![&cutoff.at])
}

/// How many sessions are idle since the cutoff, and their rows: what
/// `delete_sessions_idle_since` would delete (one aggregate of the table).
const COUNT_IDLE: Sql = Sql::read(
    "SELECT count(*), coalesce(sum(n), 0)::INT8 FROM (
    SELECT count(*) AS n FROM {t} GROUP BY session_id HAVING max(created_at) < $1) AS idle",
);
pub(crate) fn count_idle(cutoff: &Cutoff) -> Request<'_> {
    Request::Statement(COUNT_IDLE, vec![&cutoff.at])
}
