//! Reading a session: all of it, its newest messages, a count, the messages
//! after a time, or one page.

use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::stored::PageCursor;
use crate::table::Session;

use super::statement::{Request, Sql};

const MESSAGES: Sql = Sql::read(
    "SELECT id, message FROM {t} WHERE {live} AND session_id = $1 ORDER BY created_at, id",
);
pub(crate) fn messages(session: &Session) -> Request<'_> {
    Request::Statement(MESSAGES, vec![&session.id])
}

const ENTRIES: Sql = Sql::read(
    "SELECT id, message, created_at FROM {t} WHERE {live} AND session_id = $1 ORDER BY created_at, id",
);
pub(crate) fn entries(session: &Session) -> Request<'_> {
    Request::Statement(ENTRIES, vec![&session.id])
}

/// The newest n through the index backwards, then put in order.
pub(crate) const LAST: Sql = Sql::read(
    "SELECT id, message, created_at FROM (
    SELECT id, message, created_at FROM {t} WHERE {live} AND session_id = $1
    ORDER BY created_at DESC, id DESC LIMIT $2) AS newest ORDER BY created_at, id",
);
pub(crate) fn last<'a>(session: &'a Session, n: &'a i64) -> Request<'a> {
    Request::Statement(LAST, vec![&session.id, n])
}

const COUNT: Sql = Sql::read("SELECT count(*) FROM {t} WHERE {live} AND session_id = $1");
pub(crate) fn count(session: &Session) -> Request<'_> {
    Request::Statement(COUNT, vec![&session.id])
}

const SINCE: Sql = Sql::read(
    "SELECT id, message, created_at FROM {t}
WHERE {live} AND session_id = $1 AND created_at > $2 ORDER BY created_at, id",
);
pub(crate) fn since<'a>(session: &'a Session, since: &'a OffsetDateTime) -> Request<'a> {
    Request::Statement(SINCE, vec![&session.id, since])
}

pub(crate) const PAGE_FIRST: Sql = Sql::read(
    "SELECT id, message, created_at FROM {t}
WHERE {live} AND session_id = $1 ORDER BY created_at, id LIMIT $2",
);
/// A keyset, not OFFSET: each page starts in the index where the last one
/// ended.
pub(crate) const PAGE_NEXT: Sql = Sql::read(
    "SELECT id, message, created_at FROM {t}
WHERE {live} AND session_id = $1 AND (created_at, id) > ($2, $3) ORDER BY created_at, id LIMIT $4",
);
/// Newest first: the first page of a session read backwards.
pub(crate) const PAGE_BACK_FIRST: Sql = Sql::read(
    "SELECT id, message, created_at FROM {t}
WHERE {live} AND session_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
);

/// Newest first, before the row at `($2, $3)`.
pub(crate) const PAGE_BACK_NEXT: Sql = Sql::read(
    "SELECT id, message, created_at FROM {t}
WHERE {live} AND session_id = $1 AND (created_at, id) < ($2, $3) ORDER BY created_at DESC, id DESC LIMIT $4",
);

/// The `LIMIT` of a page of `size` messages, or why there is none.
pub(crate) fn page_limit(size: usize) -> Result<i64> {
    match size {
        0 => Err(Error::InvalidArgument(
            "a page holds at least one message".into(),
        )),
        size => Ok(super::limit(size)),
    }
}

/// A page after `cursor`, oldest first, or before it, newest first, when
/// `back`.
pub(crate) fn page<'a>(
    session: &'a Session,
    cursor: Option<&'a PageCursor>,
    limit: &'a i64,
    back: bool,
) -> Request<'a> {
    let (first, next) = match back {
        false => (PAGE_FIRST, PAGE_NEXT),
        true => (PAGE_BACK_FIRST, PAGE_BACK_NEXT),
    };
    match cursor {
        None => Request::Statement(first, vec![&session.id, limit]),
        Some(c) => Request::Statement(next, vec![&session.id, &c.created_at, &c.id, limit]),
    }
}
