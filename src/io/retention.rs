//! Deleting by age and by prefix, in batches: the retention cleanups, their
//! dry-run counts, and erasing a prefix's sessions.

use std::time::Duration;

use uuid::Uuid;

use crate::error::{Error, Result};
use crate::options::HistoryOptions;
use crate::retry::{Call, Policy};
use crate::rows;
use crate::sql::retention::{self, Cutoff, Prefixed};
use crate::sql::{self, Request};
use crate::table::Table;

use super::mode::face;
use super::engine::Shared;

#[face(AFIT)]
impl Shared {
    /// The server's time `age` ago: one clock for the whole cleanup.
    async fn cutoff(
        &self,
        table: &Table,
        policy: Policy,
        age: Duration,
        batch: usize,
    ) -> Result<Cutoff> {
        let seconds = age.as_secs_f64();
        let rows = self
            .run(table, Call::new(policy), &retention::cutoff(&seconds))
            .await?;
        let at = match rows.first() {
            Some(row) => row.try_get(0)?,
            None => return Err(Error::Protocol("SELECT now() returned no row".into())),
        };
        Ok(Cutoff {
            at,
            batch: sql::limit(batch.max(1)),
        })
    }

    /// Deletes sessions whole: those of `found` (rows of session id and row
    /// count, in the order to delete them) that `whole` still takes, as
    /// many per statement as fit in a batch of rows (one at least, however
    /// large), so that a cut or a deadline between statements leaves every
    /// session whole. `false` when `tally` says to stop.
    async fn delete_whole(
        &self,
        table: &Table,
        policy: Policy,
        found: &[tokio_postgres::Row],
        whole: Whole<'_>,
        tally: &mut Tally<'_>,
    ) -> Result<bool> {
        let (mut chunk, mut rows) = (Vec::new(), 0);
        for (i, row) in found.iter().enumerate() {
            chunk.push(row.try_get::<_, String>(0)?);
            rows += row.try_get::<_, i64>(1)?;
            let next: i64 = match found.get(i + 1) {
                Some(next) => next.try_get(1)?,
                None => i64::MAX,
            };
            if rows.saturating_add(next) > tally.batch {
                let delete = match whole {
                    Whole::Idle(cutoff) => retention::delete_idle(&chunk, cutoff),
                    Whole::Any => retention::delete_sessions(&chunk),
                };
                let gone = self.delete_batch(table, policy, &delete, tally).await?;
                let gone = rows::decode_count(&gone)?;
                if !tally.add(gone) {
                    return Ok(false);
                }
                (chunk, rows) = (Vec::new(), 0);
            }
        }
        Ok(true)
    }

    /// One statement of a batched delete, and its rows. A try of it that
    /// may have been applied before the one that answered deleted rows
    /// that the answer does not count: `tally` keeps that it happened.
    async fn delete_batch(
        &self,
        table: &Table,
        policy: Policy,
        request: &Request<'_>,
        tally: &mut Tally<'_>,
    ) -> Result<Vec<tokio_postgres::Row>> {
        let (rows, maybe_applied) = self.run_tracked(table, Call::new(policy), request).await?;
        if let Some(err) = maybe_applied {
            tally.uncounted.get_or_insert(err);
        }
        Ok(rows)
    }

    /// Those of `sessions` that are still idle, the longest idle first.
    async fn delete_idle(
        &self,
        table: &Table,
        policy: Policy,
        cutoff: &Cutoff,
        sessions: &Vec<String>,
        tally: &mut Tally<'_>,
    ) -> Result<bool> {
        let found = self
            .run(
                table,
                Call::new(policy),
                &retention::still_idle(sessions, cutoff),
            )
            .await?;
        self.delete_whole(table, policy, &found, Whole::Idle(cutoff), tally)
            .await
    }

    pub(crate) async fn delete_messages_older_than(
        &self,
        options: &HistoryOptions,
        age: Duration,
        progress: Progress<'_>,
    ) -> Result<u64> {
        let (table, policy) = (self.table(options)?, self.policy(options));
        let cutoff = self
            .cutoff(&table, policy, age, options.delete_batch_size)
            .await?;
        let mut tally = Tally::new(cutoff.batch, progress);
        let mut after = None;
        loop {
            let request = retention::delete_old(&table, &cutoff, after.as_ref());
            let rows = self
                .delete_batch(&table, policy, &request, &mut tally)
                .await?;
            let ids: Vec<Uuid> = rows::decode_column(&rows)?;
            if !tally.add(ids.len() as u64) {
                return tally.end();
            }
            match ids.into_iter().max() {
                Some(last) if rows.len() as i64 >= cutoff.batch => after = Some(last),
                _ => return tally.end(),
            }
        }
    }

    pub(crate) async fn delete_sessions_idle_since(
        &self,
        options: &HistoryOptions,
        idle: Duration,
        progress: Progress<'_>,
    ) -> Result<u64> {
        let (table, policy) = (self.table(options)?, self.policy(options));
        let cutoff = self
            .cutoff(&table, policy, idle, options.delete_batch_size)
            .await?;
        let mut tally = Tally::new(cutoff.batch, progress);
        if table.activity_index {
            self.delete_idle_by_age(&table, policy, &cutoff, &mut tally)
                .await?;
            return tally.end();
        }
        let mut after = String::new();
        loop {
            let found = self
                .run(
                    &table,
                    Call::new(policy),
                    &retention::idle_sessions(&cutoff, &after),
                )
                .await?;
            let sessions: Vec<String> = rows::decode_column(&found)?;
            let Some(last) = sessions.last().cloned() else {
                return tally.end();
            };
            let go_on = self
                .delete_idle(&table, policy, &cutoff, &sessions, &mut tally)
                .await?;
            if !go_on || (sessions.len() as i64) < cutoff.batch {
                return tally.end();
            }
            after = last;
        }
    }

    /// Idle sessions found from the old rows, through the activity index.
    async fn delete_idle_by_age(
        &self,
        table: &Table,
        policy: Policy,
        cutoff: &Cutoff,
        tally: &mut Tally<'_>,
    ) -> Result<()> {
        let mut after = None;
        loop {
            let found = self
                .run(
                    table,
                    Call::new(policy),
                    &retention::idle_by_age(cutoff, after.as_ref()),
                )
                .await?;
            let Some(batch) = found.first() else {
                return Ok(());
            };
            let (at, id, rows, sessions): (_, _, i64, Vec<String>) = (
                batch.try_get(0)?,
                batch.try_get(1)?,
                batch.try_get(2)?,
                batch.try_get(3)?,
            );
            if !sessions.is_empty()
                && !self
                    .delete_idle(table, policy, cutoff, &sessions, tally)
                    .await?
            {
                return Ok(());
            }
            if rows < cutoff.batch {
                return Ok(());
            }
            after = Some((at, id));
        }
    }

    /// What `delete_messages_older_than` would delete now.
    pub(crate) async fn count_messages_older_than(
        &self,
        options: &HistoryOptions,
        age: Duration,
    ) -> Result<u64> {
        let (table, policy) = (self.table(options)?, self.policy(options));
        let cutoff = self.cutoff(&table, policy, age, 1).await?;
        let rows = self
            .run(&table, Call::new(policy), &retention::count_old(&cutoff))
            .await?;
        rows::decode_count(&rows)
    }

    /// What `delete_sessions_idle_since` would delete now: sessions, rows.
    pub(crate) async fn count_sessions_idle_since(
        &self,
        options: &HistoryOptions,
        idle: Duration,
    ) -> Result<(u64, u64)> {
        let (table, policy) = (self.table(options)?, self.policy(options));
        let cutoff = self.cutoff(&table, policy, idle, 1).await?;
        let rows = self
            .run(&table, Call::new(policy), &retention::count_idle(&cutoff))
            .await?;
        let (sessions, messages): (Option<i64>, Option<i64>) = match rows.first() {
            Some(row) => (row.try_get(0)?, row.try_get(1)?),
            None => (None, None),
        };
        let count = |n: Option<i64>| n.unwrap_or(0).unsigned_abs();
        Ok((count(sessions), count(messages)))
    }

    /// Deletes every session whose id starts with `prefix`, whole, in byte
    /// order of their ids.
    pub(crate) async fn delete_sessions_with_prefix(
        &self,
        options: &HistoryOptions,
        prefix: &str,
        progress: Progress<'_>,
    ) -> Result<u64> {
        if prefix.is_empty() {
            return Err(Error::InvalidArgument(
                "an empty prefix would delete every session: drop the table instead".into(),
            ));
        }
        let (table, policy) = (self.table(options)?, self.policy(options));
        let order = self.id_order(&table, policy, Some(prefix)).await?;
        let mut walk = Prefixed::new(prefix, order, options.delete_batch_size);
        let mut tally = Tally::new(walk.batch(), progress);
        loop {
            let found = self.run(&table, Call::new(policy), &walk.request()).await?;
            let Some(last) = found.last() else {
                return tally.end();
            };
            walk.after = last.try_get(0)?;
            let go_on = self
                .delete_whole(&table, policy, &found, Whole::Any, &mut tally)
                .await?;
            if !go_on || (found.len() as i64) < walk.batch() {
                return tally.end();
            }
        }
    }
}

/// What a batched delete reports after each statement: the total so far,
/// to a callback that says whether to go on.
pub(crate) type Progress<'a> = &'a (dyn Fn(u64) -> bool + Sync);

/// The rows a batched delete has deleted, and whether to go on.
struct Tally<'a> {
    total: u64,
    /// Rows per statement.
    batch: i64,
    progress: Progress<'a>,
    /// Why `total` may be short: a statement's try that may have been
    /// applied, whose rows no answer counted.
    uncounted: Option<Error>,
}

impl<'a> Tally<'a> {
    fn new(batch: i64, progress: Progress<'a>) -> Tally<'a> {
        Tally {
            total: 0,
            batch,
            progress,
            uncounted: None,
        }
    }

    /// The outcome of the whole delete: its total, or, where a statement's
    /// rows went uncounted, an ambiguous error (the delete ran to its end;
    /// calling it again is safe and deletes what is left).
    fn end(self) -> Result<u64> {
        match self.uncounted {
            Some(err) => Err(Error::ambiguous(err)),
            None => Ok(self.total),
        }
    }

    /// Counts `n` more; whether to go on.
    fn add(&mut self, n: u64) -> bool {
        self.total += n;
        (self.progress)(self.total)
    }
}

/// Which sessions `delete_whole` deletes: those still idle since a cutoff,
/// or all it is given.
#[derive(Clone, Copy)]
enum Whole<'a> {
    Idle(&'a Cutoff),
    Any,
}
