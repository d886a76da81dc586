//! Listing the sessions of a table.

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

/// The parameters of one listing.
pub(crate) struct Listing {
    range: (String, Option<String>),
    limit: i64,
}

impl Listing {
    pub(crate) fn new(filter: &SessionFilter) -> Listing {
        Listing {
            range: prefix_range(filter.prefix.as_deref().unwrap_or_default()),
            limit: super::limit(filter.limit),
        }
    }

    pub(crate) fn request(&self) -> Request<'_> {
        let (low, high) = &self.range;
        Request::Statement(
            LIST[usize::from(high.is_some())],
            vec![low, high, &self.limit],
        )
    }
}
