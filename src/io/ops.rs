//! The operations of histories and engines, each written once as `async`
//! Rust over the shared engine; each face compiles this file as its own
//! module (see `engine.rs`) and its public methods call these in one line.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use uuid::Uuid;

use crate::catalog::{IdOrder, Policy, Session, Table};
use crate::error::{Error, Result};
use crate::message::{Message, MessageType, TrimOptions, trim_messages};
use crate::options::{HistoryOptions, SessionFilter};
use crate::report::{Diagnosis, ServerKind};
use crate::rows;
use crate::sql::retention::{Cutoff, Prefixed};
use crate::sql::sessions::{self, Listing};
use crate::sql::transfer::{ExportScan, ImportBatch, ImportRow};
use crate::sql::write::InsertBatch;
use crate::sql::{self, Request, ddl, delete, doctor, read, retention, write};
use crate::stored::{Page, PageCursor, SessionInfo, StoredMessage};

use super::driver::{Input, Output, face, write_all};
use super::engine::{Call, Shared};
use super::lanes::{Job, Work, mergeable};

#[face(AFIT)]
impl Shared {
    /// Runs `request` on a session's table with the session's retry policy.
    async fn on(
        &self,
        session: &Session,
        request: &Request<'_>,
    ) -> Result<Vec<tokio_postgres::Row>> {
        let call = Call::new(session.policy);
        self.run(&session.table, call, request).await
    }

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

    pub(crate) async fn add_messages(&self, session: &Session, messages: &[Message]) -> Result<()> {
        let batch = InsertBatch::new(session, messages)?;
        if batch.is_empty() {
            return Ok(());
        }
        let work = Work::Insert {
            batch,
            returning: false,
        };
        let call = Call::new(session.policy);
        self.in_lane(session, work, call).await.map(drop)
    }

    pub(crate) async fn add_messages_with_ids(
        &self,
        session: &Session,
        messages: &[(Uuid, Message)],
    ) -> Result<u64> {
        let ids = messages.iter().map(|(id, _)| *id).collect();
        let batch = InsertBatch::with_ids(session, ids, messages.iter().map(|(_, m)| m))?;
        if batch.is_empty() {
            return Ok(0);
        }
        let work = Work::Insert {
            batch,
            returning: true,
        };
        self.in_lane(session, work, Call::new(session.policy)).await
    }

    /// Runs the writes of one turn of a lane, in order: consecutive inserts
    /// as one statement, the rest one by one; each job gets its outcome.
    pub(crate) async fn run_jobs(&self, session: &Session, jobs: &[Arc<Job>]) {
        let mut rest = jobs;
        while let Some(first) = rest.first() {
            let limit = self.message_limit();
            let n = mergeable(rest, session, session.max_batch_bytes, limit);
            if n > 1 {
                self.insert_merged(session, &rest[..n]).await;
            } else {
                first.finish(self.run_job(session, first).await);
            }
            rest = &rest[n..];
        }
    }

    /// Several callers' inserts in one statement, with the earliest of
    /// their deadlines. If it fails, each runs again alone: under the same
    /// row ids, so that nothing is stored twice, and each caller gets an
    /// outcome of its own (an ambiguous merged try is settled then). At
    /// most one of them counts its new rows (`mergeable`): a try that may
    /// have been applied leaves that count unknown, and only one caller can
    /// be given the error that says so.
    async fn insert_merged(&self, session: &Session, jobs: &[Arc<Job>]) {
        let batches: Vec<&InsertBatch> = jobs
            .iter()
            .filter_map(|job| match &job.work {
                Work::Insert { batch, .. } => Some(batch),
                _ => None,
            })
            .collect();
        let all = InsertBatch::concat(batches.iter().copied());
        let call = jobs
            .iter()
            .map(|job| job.call)
            .min_by_key(|call| call.deadline)
            .unwrap_or_else(|| Call::new(session.policy));
        let request = write::insert_returning(session, &all);
        let stored = self
            .run_tracked(&session.table, call, &request)
            .await
            .and_then(|(rows, maybe)| Ok((rows::decode_column::<Uuid>(&rows)?, maybe)));
        match stored {
            Ok((stored, mut maybe_applied)) => {
                let stored: HashSet<Uuid> = stored.into_iter().collect();
                for (job, batch) in jobs.iter().zip(&batches) {
                    let new = batch.ids().iter().filter(|id| stored.contains(id)).count();
                    job.finish(match job.work {
                        Work::Insert {
                            returning: true, ..
                        } => new_rows(new, batch.ids(), maybe_applied.take()),
                        _ => Ok(batch.ids().len() as u64),
                    });
                }
            }
            Err(_) => {
                for job in jobs {
                    job.finish(self.run_job(session, job).await);
                }
            }
        }
    }

    /// One job alone.
    async fn run_job(&self, session: &Session, job: &Job) -> Result<u64> {
        let table = &session.table;
        let done = match &job.work {
            Work::Insert {
                batch,
                returning: false,
            } => self
                .run(table, job.call, &write::insert(session, batch))
                .await
                .map(|_| batch.ids().len() as u64),
            Work::Insert {
                batch,
                returning: true,
            } => self
                .run_tracked(table, job.call, &write::insert_returning(session, batch))
                .await
                .and_then(|(rows, maybe)| new_rows(rows.len(), batch.ids(), maybe)),
            Work::Clear => self.clear_now(session, job.call).await,
            Work::DeleteLast(n) => self.delete_last_now(session, job.call, *n).await,
            Work::DeleteOne(id) => self.delete_ids(session, job.call, &vec![*id], false).await,
        };
        // An ambiguous outcome, as the caller's call reports it.
        done.map_err(|err| match err.is_ambiguous() {
            true => job.work.ambiguous(err),
            false => err,
        })
    }

    pub(crate) async fn messages(&self, session: &Session) -> Result<Vec<Message>> {
        rows::decode_messages(&self.on(session, &read::messages(session)).await?)
    }

    pub(crate) async fn entries(&self, session: &Session) -> Result<Vec<StoredMessage>> {
        let rows = self.on(session, &read::entries(session)).await?;
        rows::decode_entries(&rows, Some(&session.id))
    }

    pub(crate) async fn last_messages(&self, session: &Session, n: usize) -> Result<Vec<Message>> {
        let n = sql::limit(n);
        rows::decode_messages(&self.on(session, &read::last(session, &n)).await?)
    }

    /// The context window of `options`, read from the newest rows back in
    /// growing pages until a page holds more than the window: the cost
    /// follows the window, not the session.
    pub(crate) async fn trim<C: Fn(&[Message]) -> usize + Sync>(
        &self,
        session: &Session,
        options: &TrimOptions,
        counter: C,
    ) -> Result<Vec<Message>> {
        let call = Call::new(session.policy);
        let first = if options.include_system {
            let one = sql::limit(1);
            let rows = self
                .run(
                    &session.table,
                    call,
                    &read::page(session, None, &one, false),
                )
                .await?;
            rows::decode_entries(&rows, Some(&session.id))?.pop()
        } else {
            None
        };
        let mut size = 32;
        loop {
            let n = sql::limit(size);
            let rows = self
                .run(&session.table, call, &read::last(session, &n))
                .await?;
            let window = rows::decode_entries(&rows, Some(&session.id))?;
            let seen = window.len();
            let starts_at_first = match (&first, window.first()) {
                (Some(first), Some(oldest)) => first.id == oldest.id,
                _ => false,
            };
            let whole = seen < size || starts_at_first;
            let mut candidate: Vec<Message> = window.into_iter().map(|e| e.message).collect();
            // A leading system message joins the page, as the session's
            // head; any other first row is just an old message.
            let system = first
                .as_ref()
                .filter(|f| f.message.message_type().base() == MessageType::System);
            if let Some(first) = system.filter(|_| !whole) {
                candidate.insert(0, first.message.clone());
            }
            let with_first = candidate.len() - seen;
            let trimmed = trim_messages(&candidate, options, &counter);
            // Kept messages are the newest ones, together: once the oldest
            // of the page is left out, no older row would be kept either.
            let system_kept = usize::from(
                with_first > 0
                    && trimmed
                        .first()
                        .is_some_and(|m| Some(m) == candidate.first()),
            );
            if whole || trimmed.len() - system_kept < seen {
                return Ok(trimmed);
            }
            size = size.saturating_mul(4);
        }
    }

    pub(crate) async fn message_count(&self, session: &Session) -> Result<u64> {
        rows::decode_count(&self.on(session, &read::count(session)).await?)
    }

    pub(crate) async fn messages_since(
        &self,
        session: &Session,
        since: OffsetDateTime,
    ) -> Result<Vec<Message>> {
        rows::decode_messages(&self.on(session, &read::since(session, &since)).await?)
    }

    /// A page of `size` rows from `cursor` on, oldest first, or newest
    /// first when `back`.
    pub(crate) async fn messages_page(
        &self,
        session: &Session,
        cursor: Option<&PageCursor>,
        size: usize,
        back: bool,
    ) -> Result<Page> {
        if size == 0 {
            return Err(Error::InvalidArgument(
                "a page holds at least one message".into(),
            ));
        }
        let limit = sql::limit(size);
        let request = read::page(session, cursor, &limit, back);
        let rows = self.on(session, &request).await?;
        rows::decode_page(&rows, &session.id, size)
    }

    /// Deletes the rows `ids` of the session; returns how many it deleted.
    /// When a try that may have been applied preceded the one that settled
    /// it, the rows it did not return may have gone in that try or earlier:
    /// `known_present` says they were there just before (so all went now),
    /// and otherwise the count is unknown and said so.
    async fn delete_ids(
        &self,
        session: &Session,
        call: Call,
        ids: &Vec<Uuid>,
        known_present: bool,
    ) -> Result<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let request = delete::delete_ids(session, ids);
        let (rows, maybe_applied) = self.run_tracked(&session.table, call, &request).await?;
        match maybe_applied {
            Some(_) if known_present => Ok(ids.len() as u64),
            Some(err) if rows.len() < ids.len() => Err(Error::ambiguous(err)),
            _ => Ok(rows.len() as u64),
        }
    }

    pub(crate) async fn delete_message(&self, session: &Session, id: Uuid) -> Result<bool> {
        let call = Call::new(session.policy);
        let deleted = self.in_lane(session, Work::DeleteOne(id), call).await?;
        Ok(deleted > 0)
    }

    pub(crate) async fn delete_last(&self, session: &Session, n: usize) -> Result<u64> {
        let call = Call::new(session.policy);
        self.in_lane(session, Work::DeleteLast(n), call).await
    }

    /// Finds the newest `n` first and then deletes those rows by id, so that
    /// a retry cannot delete more than `n`.
    async fn delete_last_now(&self, session: &Session, call: Call, n: usize) -> Result<u64> {
        let n = sql::limit(n);
        let rows = self
            .run(&session.table, call, &delete::newest_ids(session, &n))
            .await?;
        self.delete_ids(session, call, &rows::decode_column(&rows)?, true)
            .await
    }

    /// Deletes the rows up to the session's newest, found first: a retry
    /// cannot delete what was written after the call began.
    async fn clear_now(&self, session: &Session, call: Call) -> Result<u64> {
        let rows = self
            .run(&session.table, call, &delete::newest(session))
            .await?;
        let newest: Option<OffsetDateTime> = match rows.first() {
            Some(row) => row.try_get(0)?,
            None => None,
        };
        match newest {
            None => Ok(0),
            Some(newest) => self
                .run(&session.table, call, &delete::clear(session, &newest))
                .await
                .map(|_| 0),
        }
    }

    pub(crate) async fn clear(&self, session: &Session) -> Result<()> {
        let call = Call::new(session.policy);
        self.in_lane(session, Work::Clear, call).await.map(drop)
    }

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
    async fn id_order(
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

    /// A diagnosis of the table `options` names (see `Diagnosis`): reads of
    /// the catalogs and statistics, never of the table's rows, and never
    /// creating it.
    pub(crate) async fn diagnose(&self, options: &HistoryOptions) -> Result<Diagnosis> {
        let options = options.clone().create_table(false);
        let (table, policy) = (self.table(&options)?, self.policy(&options));
        let (schema, name) = (&table.schema_name, &table.table_name);
        let qualified = table.qualified().to_string();
        // The first statement may open a connection: the second is timed.
        self.ask(&table, policy, ddl::VERSION, vec![]).await?;
        let started = Instant::now();
        let version = self.ask(&table, policy, ddl::VERSION, vec![]).await?;
        let round_trip = started.elapsed();
        let version = rows::decode_column::<String>(&version)?.concat();
        let server = ServerKind::of(&version);
        let columns: Vec<(String, String)> = pairs(
            &self
                .ask(&table, policy, doctor::COLUMNS, vec![schema, name])
                .await?,
        )?;
        let indexes: Vec<(String, String)> = pairs(
            &self
                .ask(&table, policy, doctor::INDEXES, vec![schema, name])
                .await?,
        )?;
        let asked = vec!["SELECT", "INSERT", "DELETE"];
        let privileges: Vec<(String, bool)> = pairs(
            &self
                .ask(&table, policy, doctor::PRIVILEGES, vec![&qualified, &asked])
                .await?,
        )?;
        let granted = |p: &str| privileges.iter().any(|(name, yes)| name == p && *yes);
        let can_create = first(
            &self
                .ask(&table, policy, doctor::CAN_CREATE, vec![schema])
                .await?,
        )?
        .unwrap_or(false);
        let order = self
            .run(&table, Call::new(policy), &Request::IdOrder)
            .await?;
        let exists = !columns.is_empty();
        let (encrypted, create, estimates) = match server {
            ServerKind::PostgreSQL => {
                let tls = first(&self.ask(&table, policy, doctor::PG_TLS, vec![]).await?)?;
                let params = vec![&qualified as sql::Param<'_>, schema, name];
                let estimates = self
                    .ask(&table, policy, doctor::PG_ESTIMATES, params)
                    .await?;
                (tls, String::new(), estimates)
            }
            ServerKind::CockroachDB if exists => {
                let create = self
                    .ask(&table, policy, doctor::CRDB_CREATE, vec![])
                    .await?;
                let create = rows::decode_column::<String>(&create)?.concat();
                let estimates = self
                    .ask(&table, policy, doctor::CRDB_ESTIMATES, vec![])
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
    async fn ask(
        &self,
        table: &Table,
        policy: Policy,
        sql: sql::Sql,
        params: Vec<sql::Param<'_>>,
    ) -> Result<Vec<tokio_postgres::Row>> {
        let request = Request::Statement(sql, params);
        self.run(table, Call::new(policy), &request).await
    }

    /// Each page of the walk is one call, with its own deadline.
    async fn export<W: Output>(
        &self,
        table: &Table,
        policy: Policy,
        mut scan: ExportScan,
        out: &mut W,
    ) -> Result<u64> {
        let mut total = 0;
        while let Some(request) = scan.request() {
            let rows = self.run(table, Call::new(policy), &request).await?;
            drop(request);
            let (lines, count) = scan.advance(&rows)?;
            write_all(out, lines.as_bytes()).await?;
            total += count;
        }
        Ok(total)
    }

    pub(crate) async fn export_prefix<W: Output>(
        &self,
        options: &HistoryOptions,
        prefix: Option<&str>,
        out: &mut W,
    ) -> Result<u64> {
        let (table, policy) = (self.table(options)?, self.policy(options));
        let order = self.id_order(&table, policy, prefix).await?;
        self.export(&table, policy, ExportScan::prefix(prefix, order), out)
            .await
    }

    pub(crate) async fn export_session<W: Output>(
        &self,
        session: &Session,
        out: &mut W,
    ) -> Result<u64> {
        let scan = ExportScan::session(&session.id);
        self.export(&session.table, session.policy, scan, out).await
    }

    pub(crate) async fn import<R: Input>(
        &self,
        options: &HistoryOptions,
        input: &mut R,
    ) -> Result<u64> {
        let (table, policy) = (self.table(options)?, self.policy(options));
        let limit = ImportBatch::line_limit(options.max_message_bytes);
        let mut batch = ImportBatch::default();
        let (mut line, mut number, mut inserted) = (Vec::new(), 0, 0);
        let mut uncounted = None;
        let stopped = |line: u64, committed: u64, err: Error| Error::Import {
            line,
            committed,
            source: Box::new(err),
        };
        loop {
            line.clear();
            let read = read_line(input, &mut line, limit)
                .await
                .map_err(|e| stopped(number + 1, inserted, e))?;
            let row = match read {
                None => None,
                Some(length) => {
                    number += 1;
                    parse_line(&line, length, limit, number, options.max_message_bytes)
                        .map_err(|e| stopped(number, inserted, e))?
                }
            };
            let full = match &row {
                Some(row) => !batch.fits(row, options.max_batch_bytes, self.message_limit()),
                None => read.is_none(),
            };
            if full && !batch.is_empty() {
                let (rows, maybe_applied) = self
                    .run_tracked(&table, Call::new(policy), &batch.request())
                    .await
                    .map_err(|e| stopped(batch.first_line(), inserted, e))?;
                // Rows a lost try stored are not returned by the next:
                // where some are missing, the count is unknown (see
                // `new_rows`).
                if rows.len() < batch.len() {
                    uncounted = uncounted.or(maybe_applied);
                }
                inserted += rows.len() as u64;
                batch.clear();
            }
            if let Some(row) = row {
                batch.push(row, number);
            }
            if read.is_none() {
                return match uncounted {
                    Some(err) => Err(Error::ambiguous(err)),
                    None => Ok(inserted),
                };
            }
        }
    }
}

/// What a write of rows with ids its caller chose reports: how many were
/// new. After a try that may have been applied (`maybe_applied`), the
/// rows the answering try did not return were stored either by that try
/// (this call) or before the call (an earlier one), which no answer tells
/// apart: then it is an ambiguous error with the ids, and repeating the
/// call is safe (it returns 0: every row is stored).
fn new_rows(returned: usize, ids: &[Uuid], maybe_applied: Option<Error>) -> Result<u64> {
    match maybe_applied {
        Some(err) if returned < ids.len() => Err(Error::ambiguous(err).for_call(ids, true)),
        _ => Ok(returned as u64),
    }
}

/// The answer to `Request::IdOrder`: no row on CockroachDB (bytes).
fn id_order_of(rows: &[tokio_postgres::Row]) -> Result<IdOrder> {
    Ok(match rows.first() {
        None => IdOrder::Bytes,
        Some(row) => match row.try_get::<_, Option<bool>>(0)? {
            Some(true) => IdOrder::Bytes,
            Some(false) | None => IdOrder::Collated,
        },
    })
}

/// The first column of the first row, if any.
fn first<T: for<'a> tokio_postgres::types::FromSql<'a>>(
    rows: &[tokio_postgres::Row],
) -> Result<Option<T>> {
    match rows.first() {
        Some(row) => Ok(row.try_get::<_, Option<T>>(0)?),
        None => Ok(None),
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

/// Reads a line into `line` (without its newline), keeping at most
/// `limit + 1` bytes of it: the rest of a longer line is read and dropped,
/// so that a hostile input costs no more memory than a valid one. Returns
/// the line's whole length, `None` at the end of the input.
#[face]
async fn read_line<R: Input>(
    input: &mut R,
    line: &mut Vec<u8>,
    limit: usize,
) -> Result<Option<usize>> {
    let mut length = None;
    loop {
        let buf = input.fill_buf().await?;
        if buf.is_empty() {
            return Ok(length);
        }
        let (take, ends) = match buf.iter().position(|b| *b == b'\n') {
            Some(at) => (at, true),
            None => (buf.len(), false),
        };
        if line.len().saturating_add(take) <= limit.saturating_add(1) {
            line.extend_from_slice(&buf[..take]);
        }
        let length = *length.insert(length.unwrap_or(0) + take);
        input.consume(take + usize::from(ends));
        if ends {
            return Ok(Some(length));
        }
    }
}

/// Line `number` as a row to import (see `ImportBatch::parse`), once it is
/// known to be whole and UTF-8.
fn parse_line(
    line: &[u8],
    length: usize,
    limit: usize,
    number: u64,
    max_message_bytes: usize,
) -> Result<Option<ImportRow>> {
    if length > limit {
        return Err(Error::TooLarge {
            what: format!("line {number}"),
            size: length,
            limit,
            setting: "HistoryOptions::max_message_bytes, plus 16 KiB for the line's other fields",
        });
    }
    let Ok(text) = std::str::from_utf8(line) else {
        return Err(Error::InvalidMessage("the line is not UTF-8".into()));
    };
    ImportBatch::parse(text, number, max_message_bytes)
}
