//! Listing the sessions of a table.

use time::OffsetDateTime;

use crate::ident::prefix_range;
use crate::options::SessionFilter;

use super::{Request, Sql};

/// Sessions by prefix: a range of the index (byte order, as CockroachDB's
/// and a C-collation PostgreSQL's), aggregated as it is read; only the
/// groups are sorted, for the top `limit`.
pub(crate) const LIST: [Sql; 2] = ranged!(
    "SELECT session_id, count(*), min(created_at), max(created_at) FROM {t}
WHERE ",
    "
GROUP BY session_id ORDER BY max(created_at) DESC, session_id LIMIT $3"
);

/// Sessions with activity since `$4`: the candidates come from the rows
/// written since then (through the activity index, when the table has it),
/// and only those sessions are aggregated.
pub(crate) const LIST_SINCE: [Sql; 2] = ranged!(
    "SELECT session_id, count(*), min(created_at), max(created_at) FROM {t}
WHERE session_id IN (SELECT DISTINCT session_id FROM {t} WHERE created_at >= $4) AND ",
    "
GROUP BY session_id ORDER BY max(created_at) DESC, session_id LIMIT $3"
);

/// The parameters of one listing.
pub(crate) struct Listing {
    range: (String, Option<String>),
    limit: i64,
    since: Option<OffsetDateTime>,
}

impl Listing {
    pub(crate) fn new(filter: &SessionFilter) -> Listing {
        Listing {
            range: prefix_range(filter.prefix.as_deref().unwrap_or_default()),
            limit: super::limit(filter.limit),
            since: filter.since,
        }
    }

    pub(crate) fn request(&self) -> Request<'_> {
        let (low, high) = &self.range;
        let bounded = usize::from(high.is_some());
        match &self.since {
            None => Request::Statement(LIST[bounded], vec![low, high, &self.limit]),
            Some(since) => {
                Request::Statement(LIST_SINCE[bounded], vec![low, high, &self.limit, since])
            }
        }
    }
}

/// The newest rows, newest first, through the activity index: where
/// `list_sessions` without a prefix finds the most recently active sessions
/// without aggregating the table.
pub(crate) const RECENT_FIRST: Sql = Sql::read(
    "SELECT session_id, created_at, id FROM {t} ORDER BY created_at DESC, id DESC LIMIT $1",
);
pub(crate) const RECENT_NEXT: Sql = Sql::read(
    "SELECT session_id, created_at, id FROM {t}
WHERE (created_at, id) < ($2, $3) ORDER BY created_at DESC, id DESC LIMIT $1",
);
/// The given sessions, aggregated through the session index.
pub(crate) const OF_SESSIONS: Sql = Sql::read(
    "SELECT session_id, count(*), min(created_at), max(created_at) FROM {t}
WHERE session_id = ANY($1) GROUP BY session_id ORDER BY max(created_at) DESC, session_id",
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
