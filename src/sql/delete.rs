//! Deleting messages of one session.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::table::Session;

use super::statement::{Request, Sql};

/// What `clear` deletes: the rows up to the session's newest when the call
/// began. A message written later gets a later `created_at` (see
/// `write::after_newest`), so a retry of the delete after a lost reply
/// leaves what other writers added meanwhile.
const NEWEST: Sql = Sql::read("SELECT max(created_at) FROM {t} WHERE session_id = $1");
pub(crate) fn newest(session: &Session) -> Request<'_> {
    Request::Statement(NEWEST, vec![&session.id])
}

/// On PostgreSQL the deletes of a session also notify its watches (see
/// `write::notifying`), in the same statement.
const CLEAR: Sql = Sql::write("DELETE FROM {t} WHERE session_id = $1 AND created_at <= $2")
    .on_postgresql(
        "WITH gone AS (DELETE FROM {t} WHERE session_id = $1 AND created_at <= $2 RETURNING id)
SELECT count(*) FROM gone WHERE pg_notify('{channel}', $1) IS NOT NULL",
    );
pub(crate) fn clear<'a>(session: &'a Session, newest: &'a OffsetDateTime) -> Request<'a> {
    Request::Statement(CLEAR, vec![&session.id, newest])
}

const NEWEST_IDS: Sql = Sql::read(
    "SELECT id FROM {t} WHERE {live} AND session_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
);
pub(crate) fn newest_ids<'a>(session: &'a Session, n: &'a i64) -> Request<'a> {
    Request::Statement(NEWEST_IDS, vec![&session.id, n])
}

const DELETE_IDS: Sql =
    Sql::write("DELETE FROM {t} WHERE session_id = $1 AND id = ANY($2) RETURNING id")
        .on_postgresql(
            "WITH gone AS (DELETE FROM {t} WHERE session_id = $1 AND id = ANY($2) RETURNING id)
SELECT id FROM gone WHERE pg_notify('{channel}', $1) IS NOT NULL",
        );
pub(crate) fn delete_ids<'a>(session: &'a Session, ids: &'a Vec<Uuid>) -> Request<'a> {
    Request::Statement(DELETE_IDS, vec![&session.id, ids])
}
