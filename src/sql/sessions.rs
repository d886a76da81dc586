//! Listing the sessions of a table.

use time::OffsetDateTime;

use crate::ident::prefix_range;
use crate::options::SessionFilter;

use super::Request;

/// Sessions by prefix: a range of the index (byte order, as CockroachDB's
/// and a C-collation PostgreSQL's), aggregated as it is read; only the
/// groups are sorted, for the top `limit`.
pub(crate) const LIST: [&str; 2] = ranged!(
    "SELECT session_id, count(*), min(created_at), max(created_at) FROM {t}
WHERE ",
    "
GROUP BY session_id ORDER BY max(created_at) DESC, session_id LIMIT $3"
);

/// Sessions with activity since `$4`: the candidates come from the rows
/// written since then (through the activity index, when the table has it),
/// and only those sessions are aggregated.
pub(crate) const LIST_SINCE: [&str; 2] = ranged!(
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
