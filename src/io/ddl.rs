//! Creating and dropping a history table, on request (a table is also
//! created by its first use: see `engine.rs`).

use crate::error::Result;
use crate::options::HistoryOptions;
use crate::retry::Call;
use crate::sql::{Request, ddl};

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
}
