//! Writing to one session, in its lane (see `lanes.rs`): inserts, merged
//! when callers' writes queue together, deletes and `clear`; and what each
//! call reports when a try of its statement may have been applied.

use std::collections::HashSet;
use std::sync::Arc;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::message::Message;
use crate::retry::Call;
use crate::rows;
use crate::sql::write::InsertBatch;
use crate::sql::{self, delete, write};
use crate::table::Session;

use super::mode::face;
use super::engine::Shared;
use super::lanes::{Job, Turned, Work, mergeable};

#[face(AFIT)]
impl Shared {
    /// Runs `work` in `session`'s lane: after every write queued before it,
    /// before every one queued after it, merged with its neighbours where
    /// they are inserts.
    pub(crate) async fn in_lane(&self, session: &Session, work: Work, call: Call) -> Result<u64> {
        let queued = self.lanes.join(session, work, call);
        let result = match queued.wait().await {
            Turned::Done(result) => result,
            Turned::Jobs(jobs, _turn) => {
                self.run_jobs(session, &jobs).await;
                queued.outcome()
            }
        };
        self.lanes.leave(session, queued);
        result
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
        match rows::decode_first::<OffsetDateTime>(&rows)? {
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
