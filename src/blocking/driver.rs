//! The blocking face's driver and pool, as the shared I/O of `src/io/`
//! asks for them: `postgres` over an `r2d2` pool, a connector that opens
//! each connection on a thread of its own within its deadline, a sleep,
//! and the streams of export and import.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::Duration;

pub(super) use maybe_async::must_be_sync as face;
use postgres::types::ToSql;
use postgres::{Row, SimpleQueryMessage, Statement};
pub(super) use r2d2::ManageConnection;

use crate::connect::{self, Deadline, Tls};
use crate::error::{Error, Result};
use crate::options::EngineOptions;
use crate::pool::ConnectFailure;

use super::engine::Manager;

pub(super) type Pool = r2d2::Pool<Manager>;

/// A pool builder whose worker threads stop as soon as the pool goes:
/// r2d2's own would wait for their next scheduled job (the reaper's, up to
/// 30 s later), keeping the engine's threads after it was dropped.
pub(super) fn pool_builder() -> r2d2::Builder<Manager> {
    let workers = scheduled_thread_pool::ScheduledThreadPool::builder()
        .num_threads(3)
        .thread_name_pattern("r2d2-worker-{}")
        .on_drop_behavior(scheduled_thread_pool::OnPoolDropBehavior::DiscardPendingScheduled)
        .build();
    r2d2::Pool::builder().thread_pool(Arc::new(workers))
}
pub(super) use std::io::BufRead as Input;
pub(super) use std::io::Write as Output;

/// The driver's client. Its statements run on a runtime of its own, which
/// tokio refuses to start inside async code (it panics): there they are
/// [`Error::Runtime`] instead. (Tokio's panic message is still printed by the
/// panic hook.) Where no runtime is entered, they run as they are.
pub(super) struct Client(postgres::Client);

impl Client {
    pub(super) fn prepare(&mut self, query: &str) -> Result<Statement> {
        outside_async(|| self.0.prepare(query))
    }

    pub(super) fn query(
        &mut self,
        statement: &Statement,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>> {
        outside_async(|| self.0.query(statement, params))
    }

    pub(super) fn batch_execute(&mut self, sql: &str) -> Result<()> {
        outside_async(|| self.0.batch_execute(sql))
    }

    /// On the pool's own threads only (its validity check), where no
    /// runtime is entered.
    pub(super) fn simple_query(
        &mut self,
        sql: &str,
    ) -> std::result::Result<Vec<SimpleQueryMessage>, postgres::Error> {
        self.0.simple_query(sql)
    }

    pub(super) fn is_closed(&self) -> bool {
        self.0.is_closed()
    }
}

/// `call`, or `Error::Runtime` where tokio refused to run it. Only a thread
/// with a runtime entered can be refused, and only such a thread pays for
/// the check; `spawn_blocking` threads have one entered and are not refused.
fn outside_async<T>(call: impl FnOnce() -> std::result::Result<T, postgres::Error>) -> Result<T> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Ok(call()?);
    }
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)) {
        Ok(done) => Ok(done?),
        Err(panic) => {
            let text = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or_default();
            if !text.contains("Cannot start a runtime from within a runtime") {
                std::panic::resume_unwind(panic);
            }
            Err(Error::Runtime(
                "the blocking API was called from async code: use the async face \
                 (langchain_cockroachdb::nonblocking), or call it in tokio::task::spawn_blocking"
                    .into(),
            ))
        }
    }
}

/// One writer of a session at a time, taken within a deadline.
#[derive(Default)]
pub(super) struct Turn {
    taken: std::sync::Mutex<bool>,
    freed: std::sync::Condvar,
}

/// What a waiter for a turn gets: the turn, or word that an earlier turn
/// did its work.
pub(super) enum Taken<'a> {
    Turn(TurnHeld<'a>),
    Done,
}

/// A turn held; the waiters look again when this goes.
pub(super) struct TurnHeld<'a>(&'a Turn);

impl Turn {
    /// The turn, or `Done` as soon as `done()` says the work is done, or
    /// `None` at `within`.
    pub(super) fn take(&self, within: Duration, done: impl Fn() -> bool) -> Option<Taken<'_>> {
        let until = crate::retry::deadline_after(within);
        let mut taken = self.taken.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if done() {
                return Some(Taken::Done);
            }
            if !*taken {
                *taken = true;
                return Some(Taken::Turn(TurnHeld(self)));
            }
            let left = until.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return None;
            }
            taken = self
                .freed
                .wait_timeout(taken, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

impl Drop for TurnHeld<'_> {
    fn drop(&mut self) {
        *self.0.taken.lock().unwrap_or_else(PoisonError::into_inner) = false;
        // Every waiter looks: most find their work done by this turn.
        self.0.freed.notify_all();
    }
}

/// Nothing to check before an operation: see `Client` for async code.
pub(super) fn usable_here() -> Result<()> {
    Ok(())
}

/// Opens connections; shared with the threads that open them (see `open`).
pub(super) type PgManager = Arc<Connector>;

pub(super) struct Connector {
    manager: r2d2_postgres::PostgresConnectionManager<Tls>,
    /// Handshakes still waiting for a server that stopped answering, and
    /// how many of them may wait at once.
    hanging: AtomicUsize,
    max_hanging: usize,
}

pub(super) fn manager(
    config: tokio_postgres::Config,
    tls: Tls,
    options: &EngineOptions,
) -> PgManager {
    // Streams carry each connection's deadline: this driver cannot abandon
    // a statement, its stream can.
    let (config, tls) = connect::with_deadlines(config, tls);
    Arc::new(Connector {
        manager: r2d2_postgres::PostgresConnectionManager::new(config.into(), tls),
        hanging: AtomicUsize::new(0),
        max_hanging: options.pool_size as usize,
    })
}

/// Opens a connection, the whole handshake within `limit`. The blocking
/// driver bounds only the TCP connect, so a server (or load balancer) that
/// accepts but never answers would hang it: the attempt runs on a thread of
/// its own, which ends when the server answers or closes the socket, or
/// at the same `limit`, when its stream gives up (TCP hosts; see
/// `connect::with_deadlines`). At most `pool_size` such threads wait at once;
/// past that, attempts fail at once instead of adding threads.
pub(super) fn open(
    connector: &PgManager,
    limit: Duration,
) -> Result<(Client, Option<Deadline>), ConnectFailure> {
    if connector.hanging.fetch_add(1, Ordering::SeqCst) >= connector.max_hanging {
        connector.hanging.fetch_sub(1, Ordering::SeqCst);
        return Err(ConnectFailure::local(format!(
            "{} earlier connection attempts are still waiting for the server to answer",
            connector.max_hanging
        )));
    }
    let (sender, receiver) = std::sync::mpsc::sync_channel(1);
    let thread_connector = Arc::clone(connector);
    let until = crate::retry::deadline_after(limit);
    let spawned = std::thread::Builder::new()
        .name("langchain-cockroachdb-connect".into())
        .spawn(move || {
            connect::begin_attempt(until);
            let connected = thread_connector.manager.connect().map(Client);
            thread_connector.hanging.fetch_sub(1, Ordering::SeqCst);
            let deadline = connect::end_attempt();
            deadline.iter().for_each(Deadline::clear);
            let _ = sender.send(connected.map(|client| (client, deadline)));
        });
    if let Err(e) = spawned {
        connector.hanging.fetch_sub(1, Ordering::SeqCst);
        return Err(ConnectFailure::local(format!(
            "cannot start a connection thread: {e}"
        )));
    }
    match receiver.recv_timeout(limit) {
        Ok(connected) => connected.map_err(ConnectFailure::from),
        Err(_) => Err(ConnectFailure::timed_out(limit)),
    }
}

/// The blocking driver cannot abandon a statement: the connection's stream
/// gives up at the deadline instead (see `manager`).
pub(super) fn within<T>(_limit: Duration, done: T) -> Option<T> {
    Some(done)
}

pub(super) fn checkout(pool: &Pool, wait: Duration) -> Option<r2d2::PooledConnection<Manager>> {
    pool.get_timeout(wait).ok()
}

pub(super) fn pause(wait: Duration) {
    std::thread::sleep(wait);
}

pub(super) fn write_all<W: Write>(out: &mut W, bytes: &[u8]) -> Result<()> {
    Ok(out.write_all(bytes)?)
}
