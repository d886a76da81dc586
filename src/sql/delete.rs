//! Deleting messages of one session.

use uuid::Uuid;

use crate::catalog::Session;

use super::{Request, Sql};

const CLEAR: Sql = Sql::write("DELETE FROM {t} WHERE session_id = $1");
pub(crate) fn clear(session: &Session) -> Request<'_> {
    Request::Statement(CLEAR, vec![&session.id])
}

const NEWEST_IDS: Sql = Sql::read(
    "SELECT id FROM {t} WHERE {live} AND session_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
);
pub(crate) fn newest_ids<'a>(session: &'a Session, n: &'a i64) -> Request<'a> {
    Request::Statement(NEWEST_IDS, vec![&session.id, n])
}

const DELETE_IDS: Sql =
    Sql::write("DELETE FROM {t} WHERE session_id = $1 AND id = ANY($2) RETURNING id");
pub(crate) fn delete_ids<'a>(session: &'a Session, ids: &'a Vec<Uuid>) -> Request<'a> {
    Request::Statement(DELETE_IDS, vec![&session.id, ids])
}
