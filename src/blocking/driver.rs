//! The blocking face's driver and pool, as the shared I/O of `src/io/`
//! asks for them: `postgres` over an `r2d2` pool, a connector that opens
//! each connection on a thread of its own within its deadline, a sleep,
//! and the streams of export and import.
//!
//! r2d2 opens connections on its own threads, and tries again after a
//! failed attempt, without end, whether or not anyone still wants the
//! connection; each such job holds the pool while it runs, so against a
//! server that accepts and never answers, overlapping attempts kept a
//! dropped engine's pool (its threads, its sockets) alive for the life of
//! the process, and a live engine kept attempting while nobody waited. The
//! connector's `Gate` stops that: no attempt starts once the engine has let
//! go of its pool, and after a failure none starts until an operation waits
//! for a connection.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
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

/// The engine's pool: r2d2's, with the `Gate` of its connector. When the
/// engine lets go of it (dropped, or closed) and the operations using it
/// are done, the gate closes: r2d2's own jobs, which outlive it, open
/// nothing more, and its threads end with the last of them.
#[derive(Clone)]
pub(super) struct Pool {
    pool: r2d2::Pool<Manager>,
    held: Arc<Held>,
}

impl std::ops::Deref for Pool {
    type Target = r2d2::Pool<Manager>;

    fn deref(&self) -> &Self::Target {
        &self.pool
    }
}

/// Closes the gate when the last handle of the engine's pool goes.
struct Held(Arc<Gate>);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// r2d2's builder, making a `Pool`.
pub(super) struct Builder(r2d2::Builder<Manager>);

/// The builder's settings, passed on to r2d2's.
macro_rules! settings {
    ($($name:ident: $type:ty),* $(,)?) => {
        impl Builder {
            $(pub(super) fn $name(self, value: $type) -> Builder {
                Builder(self.0.$name(value))
            })*
        }
    };
}

settings! {
    max_size: u32,
    min_idle: Option<u32>,
    test_on_check_out: bool,
    connection_timeout: Duration,
    idle_timeout: Option<Duration>,
    max_lifetime: Option<Duration>,
}

impl Builder {
    /// The pool of `manager`, holding the gate of its connector.
    pub(super) fn build_unchecked(self, manager: Manager) -> Pool {
        let gate = Arc::clone(&manager.inner.gate);
        Pool {
            pool: self.0.build_unchecked(manager),
            held: Arc::new(Held(gate)),
        }
    }
}

/// A pool builder whose worker threads stop as soon as the pool goes:
/// r2d2's own would wait for their next scheduled job (the reaper's, up to
/// 30 s later), keeping the engine's threads after it was dropped.
pub(super) fn pool_builder() -> Builder {
    let workers = scheduled_thread_pool::ScheduledThreadPool::builder()
        .num_threads(3)
        .thread_name_pattern("r2d2-worker-{}")
        .on_drop_behavior(scheduled_thread_pool::OnPoolDropBehavior::DiscardPendingScheduled)
        .build();
    Builder(r2d2::Pool::builder().thread_pool(Arc::new(workers)))
}

/// When a connector may start an attempt. r2d2 starts one for each
/// operation that found no idle connection, and, after a failure, starts
/// it again and again, on its own threads, each job holding the pool while
/// it runs, for as long as any job holds it. So the gate lets an attempt
/// start only
/// - while the engine holds its pool (not once it was dropped or closed),
/// - and, after a failed attempt, only while an operation waits for a
///   connection: until one does, r2d2's job waits here, on its worker
///   thread, without a connection thread or a socket.
#[derive(Default)]
struct Gate {
    state: Mutex<GateState>,
    changed: Condvar,
}

#[derive(Default)]
struct GateState {
    /// The engine let go of its pool.
    closed: bool,
    /// Operations waiting for a connection now.
    waiting: usize,
    /// The latest attempt failed.
    failing: bool,
}

impl Gate {
    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }

    /// Whether an attempt may start: waits while the latest attempt failed
    /// and no operation waits for a connection; false once the engine let
    /// go of its pool.
    fn admit(&self) -> bool {
        let mut state = self.lock();
        loop {
            if state.closed {
                return false;
            }
            if !state.failing || state.waiting > 0 {
                return true;
            }
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn attempted(&self, failed: bool) {
        self.lock().failing = failed;
    }

    /// Counts an operation waiting for a connection while it lives.
    fn wait(&self) -> Waiting<'_> {
        self.lock().waiting += 1;
        self.changed.notify_all();
        Waiting(self)
    }
}

/// An operation waiting for a connection.
struct Waiting<'a>(&'a Gate);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.lock().waiting -= 1;
    }
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
    /// When attempts may start.
    gate: Arc<Gate>,
}

pub(super) fn manager(
    config: tokio_postgres::Config,
    tls: Tls,
    options: &EngineOptions,
) -> PgManager {
    // Streams carry each connection's deadline: this driver cannot abandon
    // a statement, its stream can.
    let (config, tls) = connect::with_deadlines(config, tls);
    let gate = Arc::new(Gate::default());
    Arc::new(Connector {
        manager: r2d2_postgres::PostgresConnectionManager::new(config.into(), tls),
        hanging: AtomicUsize::new(0),
        max_hanging: options.pool_size as usize,
        gate,
    })
}

/// Opens a connection, the whole handshake within `limit`. The blocking
/// driver bounds only the TCP connect, so a server (or load balancer) that
/// accepts but never answers would hang it: the attempt runs on a thread of
/// its own, which ends when the server answers or closes the socket, or
/// at the same `limit`, when its stream gives up (TCP hosts; see
/// `connect::with_deadlines`). At most `pool_size` such threads wait at once;
/// past that, attempts fail at once instead of adding threads. An attempt
/// starts only when the connector's `Gate` lets it: never once the
/// engine let go of its pool, and after a failure only while an operation
/// waits for a connection.
pub(super) fn open(
    connector: &PgManager,
    limit: Duration,
) -> Result<(Client, Option<Deadline>), ConnectFailure> {
    if !connector.gate.admit() {
        return Err(ConnectFailure::local(
            "the engine was dropped or closed: it opens no more connections".into(),
        ));
    }
    let opened = attempt(connector, limit);
    connector.gate.attempted(opened.is_err());
    opened
}

/// One attempt of `open`.
fn attempt(
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

/// A connection within `wait`; meanwhile, the pool's connector may start
/// attempts (see `Gate`).
pub(super) fn checkout(pool: &Pool, wait: Duration) -> Option<r2d2::PooledConnection<Manager>> {
    let _waiting = pool.held.0.wait();
    pool.pool.get_timeout(wait).ok()
}

pub(super) fn pause(wait: Duration) {
    std::thread::sleep(wait);
}

pub(super) fn write_all<W: Write>(out: &mut W, bytes: &[u8]) -> Result<()> {
    Ok(out.write_all(bytes)?)
}
