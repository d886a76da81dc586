//! Deleting what is old: idle sessions, old messages.

use time::OffsetDateTime;

use super::Request;

/// The server's clock decides what is old, once per cleanup.
const CUTOFF: &str = "SELECT now() - $1::FLOAT8 * INTERVAL '1 second'";

pub(crate) fn cutoff(seconds: &f64) -> Request<'_> {
    Request::Statement(CUTOFF, vec![seconds])
}

/// The parameters of a statement that deletes (or finds) by age.
pub(crate) struct Cutoff {
    pub(crate) at: OffsetDateTime,
    pub(crate) batch: i64,
}

const IDLE_SESSIONS: &str = "SELECT session_id FROM {t} GROUP BY session_id
HAVING max(created_at) < $1 ORDER BY session_id LIMIT $2";

pub(crate) fn idle_sessions(cutoff: &Cutoff) -> Request<'_> {
    Request::Statement(IDLE_SESSIONS, vec![&cutoff.at, &cutoff.batch])
}

/// Bounded batches (CockroachDB's advice for bulk deletes), and a session
/// that got a message meanwhile is no longer idle.
const DELETE_IDLE: &str = "DELETE FROM {t} WHERE id IN (
    SELECT id FROM {t} WHERE session_id = ANY($1) AND session_id IN (
        SELECT session_id FROM {t} WHERE session_id = ANY($1)
        GROUP BY session_id HAVING max(created_at) < $2)
    LIMIT $3) RETURNING id";

pub(crate) fn delete_idle<'a>(sessions: &'a Vec<String>, cutoff: &'a Cutoff) -> Request<'a> {
    Request::Statement(DELETE_IDLE, vec![sessions, &cutoff.at, &cutoff.batch])
}

const DELETE_OLD: &str = "DELETE FROM {t} WHERE id IN (
    SELECT id FROM {t} WHERE created_at < $1 LIMIT $2) RETURNING id";

pub(crate) fn delete_old(cutoff: &Cutoff) -> Request<'_> {
    Request::Statement(DELETE_OLD, vec![&cutoff.at, &cutoff.batch])
}
