//! Listing the sessions of a table.

use time::OffsetDateTime;

use crate::ident::prefix_range;
use crate::options::SessionFilter;
use crate::table::IdOrder;

use super::statement::{ByPrefix, Request, Sql};

/// A listing over a prefix's range (`$c`, `$hi`: see `by_prefix!`), with
/// more conditions before it, if any.
macro_rules! list {
    ($c:tt, $hi:tt $(, $before:tt)*) => {
        concat!(
            "SELECT session_id, count(*), min(created_at), max(created_at) FROM {t}
WHERE ", $($before,)* "{live} AND ", $c, " >= $1 AND ", $hi, "
GROUP BY session_id ORDER BY max(created_at) DESC, ", $c, " LIMIT $3"
        )
    };
}
/// Sessions by prefix: a range of the index, aggregated as it is read;
/// only the groups are sorted, for the top `limit`.
pub(crate) const LIST: ByPrefix = by_prefix!(list);

macro_rules! list_since {
    ($c:tt, $hi:tt) => {
        list!(
            $c,
            $hi,
            "session_id IN (SELECT DISTINCT session_id FROM {t} WHERE created_at >= $4)
AND "
        )
    };
}
/// Sessions with activity since `$4`: the candidates come from the rows
/// written since then (through the activity index, when the table has it),
/// and only those sessions are aggregated.
pub(crate) const LIST_SINCE: ByPrefix = by_prefix!(list_since);

/// The parameters of one listing.
pub(crate) struct Listing {
    range: (String, Option<String>),
    order: IdOrder,
    limit: i64,
    since: Option<OffsetDateTime>,
}

impl Listing {
    /// A listing of the sessions `filter` asks for, their ids compared in
    /// `order` (see `IdOrder`).
    pub(crate) fn new(filter: &SessionFilter, order: IdOrder) -> Listing {
        Listing {
            range: prefix_range(filter.prefix.as_deref().unwrap_or_default()),
            order,
            limit: super::limit(filter.limit),
            since: filter.since,
        }
    }

    pub(crate) fn request(&self) -> Request<'_> {
        let (low, high) = &self.range;
        match &self.since {
            None => Request::Statement(LIST.pick(self.order, high), vec![low, high, &self.limit]),
            Some(since) => Request::Statement(
                LIST_SINCE.pick(self.order, high),
                vec![low, high, &self.limit, since],
            ),
        }
    }
}

/// The newest rows, newest first, through the activity index: where
/// `list_sessions` without a prefix finds the most recently active sessions
/// without aggregating the table.
pub(crate) const RECENT_FIRST: Sql = Sql::read(
    "SELECT session_id, created_at, id FROM {t} WHERE {live}
ORDER BY created_at DESC, id DESC LIMIT $1",
);
pub(crate) const RECENT_NEXT: Sql = Sql::read(
    "SELECT session_id, created_at, id FROM {t}
WHERE {live} AND (created_at, id) < ($2, $3) ORDER BY created_at DESC, id DESC LIMIT $1",
);
/// The given sessions, aggregated through the session index.
pub(crate) const OF_SESSIONS: Sql = Sql::read(
    "SELECT session_id, count(*), min(created_at), max(created_at) FROM {t}
WHERE {live} AND session_id = ANY($1) GROUP BY session_id ORDER BY max(created_at) DESC, session_id",
);
/// A walk back through the newest rows, a page at a time.
pub(crate) struct Recent {
    pub(crate) page: i64,
    pub(crate) after: Option<(OffsetDateTime, uuid::Uuid)>,
}

impl Recent {
    pub(crate) fn request(&self) -> Request<'_> {
        match &self.after {
            None => Request::Statement(RECENT_FIRST, vec![&self.page]),
            Some((at, id)) => Request::Statement(RECENT_NEXT, vec![&self.page, at, id]),
        }
    }
}

pub(crate) fn of_sessions(sessions: &Vec<String>) -> Request<'_> {
    Request::Statement(OF_SESSIONS, vec![sessions])
}

impl Listing {
    /// Whether the newest sessions of the whole table are asked for, which
    /// the activity index answers from the recent rows.
    pub(crate) fn newest_overall(&self) -> bool {
        self.range.0.is_empty() && self.since.is_none()
    }

    pub(crate) fn limit(&self) -> usize {
        usize::try_from(self.limit).unwrap_or(usize::MAX)
    }
}
