//! One session's writes from one engine, in arrival order and never racing
//! each other: every write of a session (inserts, deletes, `clear`) joins
//! its lane's queue, and whoever holds the lane's turn runs everything
//! queued, consecutive inserts merged into one statement. Without this,
//! concurrent inserts into one session conflict with each other (each
//! reads the session's newest `created_at`, the ordering guard) and retry
//! against each other. Each caller keeps its own result, its own row ids
//! and its own deadline. Written once as `async` Rust, compiled by each
//! face (see `engine.rs`).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use uuid::Uuid;

use crate::error::{Error, Result};
use crate::sql::write::InsertBatch;
use crate::table::Session;

use crate::retry::Call;

use super::driver::Face;
use super::mode::face;
use super::face::{Driver, Taken};

/// At most this many messages go in one merged statement.
const MERGED_MESSAGES: usize = 1000;

/// What a write does.
pub(crate) enum Work {
    /// Stores `batch`; `returning`: count the rows that were new.
    Insert { batch: InsertBatch, returning: bool },
    /// Deletes the session's messages.
    Clear,
    /// Deletes the newest `n` messages.
    DeleteLast(usize),
    /// Deletes the row `id`.
    DeleteOne(Uuid),
}

impl Work {
    /// An ambiguous error as this work's caller reports it: with the row ids
    /// it chose, and whether repeating the call is safe (see
    /// [`Error::for_call`]).
    pub(crate) fn ambiguous(&self, err: Error) -> Error {
        let err = Error::ambiguous(err);
        match self {
            // A repeat of a call that drew its ids would draw new ones.
            Work::Insert { batch, returning } => err.for_call(batch.ids(), *returning),
            // A repeat would pick its rows anew.
            Work::Clear | Work::DeleteLast(_) => err.for_call(&[], false),
            Work::DeleteOne(_) => err,
        }
    }
}

/// One caller's write, waiting in its lane.
pub(crate) struct Job {
    pub(crate) work: Work,
    pub(crate) call: Call,
    state: Mutex<State>,
}

enum State {
    Queued,
    /// A turn took it; it may have been sent.
    Taken,
    Done(Result<u64>),
    /// Its caller gave up waiting before any turn took it.
    Abandoned,
}

impl Job {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records the outcome for the job's caller.
    pub(crate) fn finish(&self, result: Result<u64>) {
        *self.state() = State::Done(result);
    }

    fn is_done(&self) -> bool {
        matches!(*self.state(), State::Done(_))
    }

    /// The outcome, once a turn has recorded it.
    fn outcome(&self) -> Option<Result<u64>> {
        let mut state = self.state();
        match std::mem::replace(&mut *state, State::Taken) {
            State::Done(result) => Some(result),
            other => {
                *state = other;
                None
            }
        }
    }

    /// What the caller reports when it could not get a turn in time: a
    /// timeout if nothing was sent, ambiguity if a turn took the job.
    fn give_up(&self) -> Result<u64> {
        let mut state = self.state();
        match std::mem::replace(&mut *state, State::Abandoned) {
            State::Done(result) => result,
            State::Queued | State::Abandoned => Err(Error::Timeout(self.call.timeout)),
            State::Taken => {
                *state = State::Taken;
                Err(self.work.ambiguous(Error::Timeout(self.call.timeout)))
            }
        }
    }
}

/// One session's queue and turn.
#[derive(Default)]
pub(crate) struct Lane {
    turn: <Face as Driver>::Turn,
    queue: Mutex<VecDeque<Arc<Job>>>,
}

impl Lane {
    fn queue(&self) -> std::sync::MutexGuard<'_, VecDeque<Arc<Job>>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Everything queued, in order, taken for this turn.
    fn take_all(&self) -> Vec<Arc<Job>> {
        let mut taken = Vec::new();
        for job in self.queue().drain(..) {
            let mut state = job.state();
            if let State::Queued = *state {
                *state = State::Taken;
                drop(state);
                taken.push(job);
            }
        }
        taken
    }
}

/// A lane's name: the table's qualified name and the session id.
type LaneKey = (Arc<str>, String);

/// The lanes of an engine, by table and session.
#[derive(Default)]
pub(crate) struct Lanes(Mutex<HashMap<LaneKey, Arc<Lane>>>);

impl Lanes {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<LaneKey, Arc<Lane>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn of(&self, session: &Session) -> Arc<Lane> {
        let key = (Arc::clone(session.table.qualified()), session.id.clone());
        Arc::clone(self.map().entry(key).or_default())
    }

    /// Forgets `lane` when nobody else holds it and it is empty, so that the
    /// map keeps only sessions being written to.
    fn release(&self, session: &Session, lane: Arc<Lane>) {
        let mut map = self.map();
        if Arc::strong_count(&lane) == 2 && lane.queue().is_empty() {
            map.remove(&(Arc::clone(session.table.qualified()), session.id.clone()));
        }
    }
}

/// Consecutive inserts that one statement can carry, from the front of
/// `jobs`: how many. The statement holds at most `max_bytes` of JSON
/// (`max_batch_bytes`) and fits in one protocol message of `max_wire`
/// bytes; a first job that does not fit alone goes alone (its own
/// statement is then refused for its size, before it is sent).
pub(crate) fn mergeable(
    jobs: &[Arc<Job>],
    session: &Session,
    max_bytes: usize,
    max_wire: usize,
) -> usize {
    let (mut count, mut messages, mut bytes, mut wire) = (0, 0, 0, 0);
    let mut counting = false;
    for job in jobs {
        let Work::Insert { batch, returning } = &job.work else {
            break;
        };
        let (m, b, w) = (batch.ids().len(), batch.bytes(), batch.wire_bytes(session));
        let over = messages + m > MERGED_MESSAGES || bytes + b > max_bytes || wire + w > max_wire;
        // One caller that counts its new rows per statement (see
        // `insert_merged`).
        if count > 0 && (over || (*returning && counting)) {
            break;
        }
        counting |= *returning;
        (count, messages, bytes, wire) = (count + 1, messages + m, bytes + b, wire + w);
    }
    count.max(1)
}

/// One caller's write, queued in its lane until a turn runs it.
pub(crate) struct Queued {
    lane: Arc<Lane>,
    job: Arc<Job>,
}

/// What a queued write's caller gets when it stops waiting.
pub(crate) enum Turned<'a> {
    /// Its outcome: another caller's turn ran it, or it could not wait.
    Done(Result<u64>),
    /// The lane's turn, and everything queued (its own write among it):
    /// the caller runs them, in order, while it holds the turn.
    Jobs(Vec<Arc<Job>>, <Face as Driver>::Held<'a>),
}

impl Lanes {
    /// Queues `work` in `session`'s lane: after every write queued before
    /// it, before every one queued after it.
    pub(crate) fn join(&self, session: &Session, work: Work, call: Call) -> Queued {
        let lane = self.of(session);
        let job = Arc::new(Job {
            work,
            call,
            state: Mutex::new(State::Queued),
        });
        lane.queue().push_back(Arc::clone(&job));
        Queued { lane, job }
    }

    /// Forgets a lane that nobody writes to any more.
    pub(crate) fn leave(&self, session: &Session, queued: Queued) {
        let Queued { lane, job } = queued;
        drop(job);
        self.release(session, lane);
    }
}

#[face(AFIT)]
impl Queued {
    /// Waits, until its deadline, for another turn to run the write or for
    /// the lane's turn.
    pub(crate) async fn wait(&self) -> Turned<'_> {
        let job = &self.job;
        match Face::take_turn(&self.lane.turn, job.call.left(), || job.is_done()).await {
            Some(Taken::Done) => Turned::Done(self.outcome()),
            Some(Taken::Turn(held)) => match job.outcome() {
                Some(done) => Turned::Done(done),
                None => Turned::Jobs(self.lane.take_all(), held),
            },
            None => Turned::Done(job.give_up()),
        }
    }
}

impl Queued {
    /// The write's outcome, once a turn has run it. A turn that took it and
    /// was cut short (an abandoned async call) may have sent it.
    pub(crate) fn outcome(&self) -> Result<u64> {
        let job = &self.job;
        job.outcome()
            .unwrap_or_else(|| Err(job.work.ambiguous(Error::Timeout(job.call.timeout))))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::message::Message;
    use crate::options::{EngineOptions, HistoryOptions};
    use crate::retry::Policy;
    use crate::table::Table;

    fn session() -> Session {
        let options = HistoryOptions::default();
        let table = Table::new("db", &options).unwrap();
        Session::new("s".into(), table, &options, &EngineOptions::default()).unwrap()
    }

    fn call() -> Call {
        let engine = EngineOptions::default().operation_timeout(Duration::from_secs(5));
        Call::new(Policy::new(&HistoryOptions::default(), &engine))
    }

    fn insert(session: &Session, texts: &[&str], returning: bool) -> Work {
        let messages: Vec<Message> = texts.iter().map(|t| Message::human(*t)).collect();
        let batch = InsertBatch::new(session, &messages).unwrap();
        Work::Insert { batch, returning }
    }

    fn job(work: Work) -> Arc<Job> {
        Arc::new(Job {
            work,
            call: call(),
            state: Mutex::new(State::Queued),
        })
    }

    /// A turn takes every write queued, in the order they were queued,
    /// but one whose caller gave up first: that one reports a timeout and
    /// is never sent.
    #[test]
    fn a_turn_takes_the_queue_in_order_but_abandoned_writes() {
        let (lanes, session) = (Lanes::default(), session());
        let ids: Vec<Uuid> = (0..4).map(|_| Uuid::new_v4()).collect();
        let queued: Vec<Queued> = ids
            .iter()
            .map(|id| lanes.join(&session, Work::DeleteOne(*id), call()))
            .collect();
        let gave_up = queued[2].job.give_up();
        assert!(matches!(gave_up, Err(Error::Timeout(_))), "{gave_up:?}");
        let taken: Vec<Uuid> = queued[0]
            .lane
            .take_all()
            .iter()
            .map(|job| match job.work {
                Work::DeleteOne(id) => id,
                _ => unreachable!("only deletes were queued"),
            })
            .collect();
        assert_eq!(taken, [ids[0], ids[1], ids[3]]);
        // Taken, not done: a caller that gives up now reports ambiguity.
        assert!(queued[1].job.give_up().unwrap_err().is_ambiguous());
        queued[0].job.finish(Ok(1));
        assert_eq!(queued[0].outcome().unwrap(), 1);
        for q in queued {
            lanes.leave(&session, q);
        }
        assert!(lanes.map().is_empty(), "a lane nobody writes to was kept");
    }

    /// Consecutive inserts merge up to the limits: messages, JSON bytes,
    /// the protocol message, one caller that counts its new rows; a delete
    /// ends the run; a first write goes alone whatever its size.
    #[test]
    fn merging_stops_at_each_limit() {
        let s = session();
        let jobs: Vec<Arc<Job>> = (0..5)
            .map(|i| job(insert(&s, &["a"; 3][..=i % 3], false)))
            .collect();
        assert_eq!(mergeable(&jobs, &s, usize::MAX, usize::MAX), 5);
        let Work::Insert { batch, .. } = &jobs[0].work else {
            unreachable!("an insert")
        };
        let (bytes, wire) = (batch.bytes(), batch.wire_bytes(&s));
        assert_eq!(mergeable(&jobs, &s, bytes * 2, usize::MAX), 1, "JSON bytes");
        assert_eq!(
            mergeable(&jobs, &s, usize::MAX, wire),
            1,
            "the protocol message"
        );
        assert_eq!(mergeable(&jobs, &s, 0, 0), 1, "a first write goes alone");

        let counting = [
            job(insert(&s, &["a"], true)),
            job(insert(&s, &["b"], false)),
            job(insert(&s, &["c"], true)),
        ];
        assert_eq!(
            mergeable(&counting, &s, usize::MAX, usize::MAX),
            2,
            "one counting caller"
        );
        let delete = [
            job(insert(&s, &["a"], false)),
            job(Work::Clear),
            job(insert(&s, &["b"], false)),
        ];
        assert_eq!(
            mergeable(&delete, &s, usize::MAX, usize::MAX),
            1,
            "a delete ends the run"
        );
        let many: Vec<Arc<Job>> = (0..3)
            .map(|_| job(insert(&s, &["m"; 600], false)))
            .collect();
        assert_eq!(
            mergeable(&many, &s, usize::MAX, usize::MAX),
            1,
            "at most 1000 messages"
        );
    }
}
