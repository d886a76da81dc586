//! Creating and dropping a history table, on request (a table is also
//! created by its first use: see `engine.rs`), and on PostgreSQL the
//! column a watch keys rows by, added where a table lacks it.

use crate::error::{Error, Result};
use crate::options::HistoryOptions;
use crate::retry::Call;
use crate::rows;
use crate::sql::{Request, ddl};
use crate::table::Table;

use super::mode::face;
use super::engine::Shared;

#[face(AFIT)]
impl Shared {
    /// Creates the table `options` names (and its schema and index) if missing.
    pub(crate) async fn create_table(&self, options: &HistoryOptions) -> Result<()> {
        let table = self.table(options)?;
        let call = Call::new(self.policy(options));
        self.run(&table, call, &Request::CreateTable).await?;
        table.mark_created();
        Ok(())
    }

    /// Drops the table `options` names, if it exists.
    pub(crate) async fn drop_table(&self, options: &HistoryOptions) -> Result<()> {
        let table = self.table(options)?;
        let call = Call::new(self.policy(options));
        self.run(&table, call, &ddl::drop(&table)).await?;
        table.forget();
        Ok(())
    }

    /// PostgreSQL: makes sure `table` has the column watches key rows by
    /// (`ddl::XACT_ID`), adding it to a table made without it (by Python,
    /// or an earlier version) once per engine. The `ALTER TABLE` waits for
    /// the transactions holding locks on the table, and queues every
    /// statement on it behind itself meanwhile: its `lock_timeout` is what
    /// is left of the call, so that it never outlives the caller. A refusal
    /// (no privilege, the lock not had in time) is [`Error::SchemaChange`],
    /// with the statement to run instead.
    pub(crate) async fn key_for_watches(&self, table: &Table, call: Call) -> Result<()> {
        if self.hub.keyed(table.channel()) {
            return Ok(());
        }
        let name = table.qualified().to_string();
        let check = Request::Statement(ddl::XACT_ID, vec![&name]);
        if rows::decode_count(&self.run(table, call, &check).await?)? == 0 {
            let alter = ddl::add_xact_id(table);
            // PostgreSQL takes at most `INT_MAX` ms (a call without a
            // deadline has a century left).
            let limit = call.left().as_millis().clamp(1, i32::MAX as u128);
            let bounded = format!("SET LOCAL lock_timeout = '{limit}ms'; {alter}");
            match self.run(table, call, &Request::Batch(bounded)).await {
                Err(err) if err.as_db_error().is_some() => {
                    return Err(Error::SchemaChange {
                        statement: alter,
                        source: Box::new(err),
                    });
                }
                done => done?,
            };
        }
        self.hub.mark_keyed(table.channel());
        Ok(())
    }
}
