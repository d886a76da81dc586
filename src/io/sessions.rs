//! Listing a table's sessions, and how its session ids compare (what a
//! prefix of them is).

use crate::error::Result;
use crate::options::{HistoryOptions, SessionFilter};
use crate::retry::{Call, Policy};
use crate::rows;
use crate::sql::Request;
use crate::sql::sessions::{self, Listing};
use crate::stored::SessionInfo;
use crate::table::{IdOrder, Table};

use super::mode::face;
use super::engine::Shared;

#[face(AFIT)]
impl Shared {
    pub(crate) async fn list_sessions(
        &self,
        options: &HistoryOptions,
        filter: &SessionFilter,
    ) -> Result<Vec<SessionInfo>> {
        let (table, policy) = (self.table(options)?, self.policy(options));
        let order = self
            .id_order(&table, policy, filter.prefix.as_deref())
            .await?;
        let listing = Listing::new(filter, order);
        if table.activity_index && listing.newest_overall() {
            return self.newest_sessions(&table, policy, listing.limit()).await;
        }
        let rows = self
            .run(&table, Call::new(policy), &listing.request())
            .await?;
        rows::decode_sessions(&rows)
    }

    /// The `limit` most recently active sessions, found by walking the
    /// newest rows back through the activity index until that many sessions
    /// turned up: the first row met of a session is its newest, so they
    /// turn up newest first. The cost follows recent activity, not the table.
    async fn newest_sessions(
        &self,
        table: &Table,
        policy: Policy,
        limit: usize,
    ) -> Result<Vec<SessionInfo>> {
        let (mut found, mut seen) = (Vec::new(), std::collections::HashSet::new());
        let mut walk = sessions::Recent {
            page: 1000,
            after: None,
        };
        while found.len() < limit {
            let rows = self.run(table, Call::new(policy), &walk.request()).await?;
            for row in &rows {
                let session: String = row.try_get(0)?;
                if found.len() < limit && seen.insert(session.clone()) {
                    found.push(session);
                }
            }
            match rows.last() {
                Some(last) if rows.len() as i64 == walk.page => {
                    walk.after = Some((last.try_get(1)?, last.try_get(2)?));
                }
                _ => break,
            }
        }
        if found.is_empty() {
            return Ok(Vec::new());
        }
        rows::decode_sessions(
            &self
                .run(table, Call::new(policy), &sessions::of_sessions(&found))
                .await?,
        )
    }

    /// How the ids of `table` compare, where `prefix` needs to know: asked
    /// once per table and process (on PostgreSQL; CockroachDB compares
    /// bytes). No prefix is the same range in every order.
    pub(crate) async fn id_order(
        &self,
        table: &Table,
        policy: Policy,
        prefix: Option<&str>,
    ) -> Result<IdOrder> {
        if prefix.is_none_or(str::is_empty) {
            return Ok(IdOrder::Bytes);
        }
        if let Some(order) = table.id_order() {
            return Ok(order);
        }
        let rows = self
            .run(table, Call::new(policy), &Request::IdOrder)
            .await?;
        let order = id_order_of(&rows)?;
        table.set_id_order(order);
        Ok(order)
    }
}

/// The answer to `Request::IdOrder`: no row on CockroachDB (bytes).
pub(crate) fn id_order_of(rows: &[tokio_postgres::Row]) -> Result<IdOrder> {
    Ok(match rows.first() {
        None => IdOrder::Bytes,
        Some(row) => match row.try_get::<_, Option<bool>>(0)? {
            Some(true) => IdOrder::Bytes,
            Some(false) | None => IdOrder::Collated,
        },
    })
}
