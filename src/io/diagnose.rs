//! A diagnosis of a table: its server, catalogs, privileges and
//! statistics, never its rows.

use std::time::Instant;

use crate::error::Result;
use crate::options::HistoryOptions;
use crate::report::{Diagnosis, ServerKind};
use crate::retry::{Call, Policy};
use crate::rows;
use crate::sql::{self, Request, ddl, doctor};
use crate::table::IdOrder;
use crate::table::Table;

use super::mode::face;
use super::engine::Shared;
use super::sessions::id_order_of;

#[face(AFIT)]
impl Shared {
    /// A diagnosis of the table `options` names (see `Diagnosis`): reads of
    /// the catalogs and statistics, never of the table's rows, and never
    /// creating it.
    pub(crate) async fn diagnose(&self, options: &HistoryOptions) -> Result<Diagnosis> {
        let options = options.clone().create_table(false);
        let (table, policy) = (self.table(&options)?, self.policy(&options));
        let (schema, name) = (&table.schema_name, &table.table_name);
        let qualified = table.qualified().to_string();
        // The first statement may open a connection: the second is timed.
        self.read_catalog(&table, policy, ddl::VERSION, vec![])
            .await?;
        let started = Instant::now();
        let version = self
            .read_catalog(&table, policy, ddl::VERSION, vec![])
            .await?;
        let round_trip = started.elapsed();
        let version = rows::decode_column::<String>(&version)?.concat();
        let server = ServerKind::of(&version);
        let columns: Vec<(String, String)> = pairs(
            &self
                .read_catalog(&table, policy, doctor::COLUMNS, vec![schema, name])
                .await?,
        )?;
        let indexes: Vec<(String, String)> = pairs(
            &self
                .read_catalog(&table, policy, doctor::INDEXES, vec![schema, name])
                .await?,
        )?;
        let asked = vec!["SELECT", "INSERT", "DELETE"];
        let privileges: Vec<(String, bool)> = pairs(
            &self
                .read_catalog(&table, policy, doctor::PRIVILEGES, vec![&qualified, &asked])
                .await?,
        )?;
        let granted = |p: &str| privileges.iter().any(|(name, yes)| name == p && *yes);
        let can_create = rows::decode_first(
            &self
                .read_catalog(&table, policy, doctor::CAN_CREATE, vec![schema])
                .await?,
        )?
        .unwrap_or(false);
        let order = self
            .run(&table, Call::new(policy), &Request::IdOrder)
            .await?;
        let exists = !columns.is_empty();
        let (encrypted, create, estimates) = match server {
            ServerKind::PostgreSQL => {
                let tls = rows::decode_first(
                    &self
                        .read_catalog(&table, policy, doctor::PG_TLS, vec![])
                        .await?,
                )?;
                let params = vec![&qualified as sql::Param<'_>, schema, name];
                let estimates = self
                    .read_catalog(&table, policy, doctor::PG_ESTIMATES, params)
                    .await?;
                (tls, String::new(), estimates)
            }
            ServerKind::CockroachDB if exists => {
                let create = self
                    .read_catalog(&table, policy, doctor::CRDB_CREATE, vec![])
                    .await?;
                let create = rows::decode_column::<String>(&create)?.concat();
                let estimates = self
                    .read_catalog(&table, policy, doctor::CRDB_ESTIMATES, vec![])
                    .await?;
                (None, create, estimates)
            }
            ServerKind::CockroachDB => (None, String::new(), Vec::new()),
        };
        let estimate = |column: usize| -> Result<Option<f64>> {
            match estimates.first() {
                Some(row) => Ok(row.try_get::<_, Option<f64>>(column)?),
                None => Ok(None),
            }
        };
        let (statistics, statistics_created) = match estimates.first() {
            Some(row) => (row.try_get(2)?, row.try_get(3)?),
            None => (None, None),
        };
        let estimated_rows = estimate(0)?.filter(|rows| *rows >= 0.0);
        // PostgreSQL's `n_distinct` below zero is a fraction of the rows.
        let estimated_sessions = match (estimate(1)?, estimated_rows) {
            (Some(n), Some(rows)) if n < 0.0 => Some(-n * rows),
            (n, _) => n.filter(|n| *n >= 0.0),
        };
        let named = |index: crate::ident::Ident| indexes.iter().any(|(n, _)| n == index.as_str());
        Ok(Diagnosis {
            server,
            version,
            round_trip,
            encrypted,
            session_index: named(table.name.python_index_name()),
            older_index: named(table.name.older_index_name()),
            activity_index: named(table.name.activity_index_name()),
            collated_index: indexes
                .iter()
                .any(|(_, def)| def.contains("session_id COLLATE \"C\"")),
            ids_byte_order: id_order_of(&order)? == IdOrder::Bytes,
            ttl_expiration: create
                .split_once("ttl_expiration_expression = ")
                .map(|(_, rest)| {
                    rest.split(", ttl_")
                        .next()
                        .unwrap_or(rest)
                        .trim_end_matches(')')
                        .to_owned()
                }),
            ttl_paused: create.contains("ttl_pause = true"),
            can_select: granted("SELECT"),
            can_insert: granted("INSERT"),
            can_delete: granted("DELETE"),
            can_create,
            estimated_rows: estimated_rows.map(|n| n.round() as u64),
            estimated_sessions: estimated_sessions.map(|n| n.round() as u64),
            statistics,
            statistics_created,
            columns,
            indexes,
        })
    }

    /// One read of a diagnosis.
    async fn read_catalog(
        &self,
        table: &Table,
        policy: Policy,
        sql: sql::Sql,
        params: Vec<sql::Param<'_>>,
    ) -> Result<Vec<tokio_postgres::Row>> {
        let request = Request::Statement(sql, params);
        self.run(table, Call::new(policy), &request).await
    }
}

/// The first two columns of each row.
fn pairs<A, B>(rows: &[tokio_postgres::Row]) -> Result<Vec<(A, B)>>
where
    A: for<'a> tokio_postgres::types::FromSql<'a>,
    B: for<'a> tokio_postgres::types::FromSql<'a>,
{
    rows.iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect()
}
