//! The blocking face's driver: `Face`, which implements `io/face.rs`'s
//! traits over `postgres` and an `r2d2` pool, with a connector that opens
//! each connection on a thread of its own within its deadline (and only
//! when its `Gate` lets it), a sleep, and the streams of export and import.

use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use postgres::types::ToSql;
use postgres::{Row, Statement};

use crate::connect::{self, Deadline, Tls};
use crate::error::{Error, Result};
use crate::hub::Wakeup;
use crate::options::EngineOptions;
use crate::pool::ConnectFailure;

use super::face::{Bounded, Connect, Driver, PoolSettings, Sink, Source, Taken};
use super::gate::Gate;
use r2d2::ManageConnection as _;

/// The blocking face, as `io/` knows it.
pub(super) struct Face;

impl Driver for Face {
    type Client = Client;
    type Connector = Arc<Connector>;
    type Pool<M: Connect> = Pool<M>;
    type Pooled<M: Connect> = r2d2::PooledConnection<Pooling<M>>;
    type Turn = Turn;
    type Held<'a> = TurnHeld<'a>;

    /// Nothing to check before an operation: see `Client` for async code.
    fn usable_here() -> Result<()> {
        Ok(())
    }

    fn connector(
        config: tokio_postgres::Config,
        tls: Tls,
        options: &EngineOptions,
    ) -> Arc<Connector> {
        // Streams carry each connection's deadline: this driver cannot
        // abandon a statement, its stream can.
        let (config, tls) = connect::with_deadlines(config, tls);
        Arc::new(Connector {
            manager: r2d2_postgres::PostgresConnectionManager::new(config.into(), tls),
            hanging: AtomicUsize::new(0),
            max_hanging: options.pool_size as usize,
            gate: Arc::new(Gate::default()),
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
    fn open(
        connector: &Arc<Connector>,
        limit: Duration,
    ) -> std::result::Result<(Client, Option<Deadline>), ConnectFailure> {
        if !connector.gate.admit() {
            return Err(ConnectFailure::local(
                "the engine was dropped or closed: it opens no more connections".into(),
            ));
        }
        let opened = attempt(connector, limit);
        connector.gate.attempted(opened.is_err());
        opened
    }

    /// r2d2's pool, with worker threads that stop as soon as the pool goes
    /// (r2d2's own would wait for their next scheduled job, the reaper's,
    /// up to 30 s later), holding the gate of its connector.
    fn pool<M: Connect>(manager: M, connector: &Arc<Connector>, settings: PoolSettings) -> Pool<M> {
        let workers = scheduled_thread_pool::ScheduledThreadPool::builder()
            .num_threads(3)
            .thread_name_pattern("r2d2-worker-{}")
            .on_drop_behavior(scheduled_thread_pool::OnPoolDropBehavior::DiscardPendingScheduled)
            .build();
        // No check on checkout: it would cost a round trip per operation. A
        // connection that died in the pool fails its statement, which is
        // then retried on a fresh one.
        let pool = r2d2::Pool::builder()
            .thread_pool(Arc::new(workers))
            .max_size(settings.max_size)
            .min_idle(Some(0))
            .test_on_check_out(false)
            .connection_timeout(settings.checkout_timeout)
            .idle_timeout(settings.idle_timeout)
            .max_lifetime(settings.max_lifetime)
            .build_unchecked(Pooling(manager));
        Pool {
            pool,
            held: Arc::new(Held(Arc::clone(&connector.gate))),
        }
    }

    /// A connection within `wait`; meanwhile, the pool's connector may start
    /// attempts (see `Gate`).
    fn checkout<M: Connect>(pool: &Pool<M>, wait: Duration) -> Option<Self::Pooled<M>> {
        let _waiting = pool.held.0.wait();
        pool.pool.get_timeout(wait).ok()
    }

    fn pool_size<M: Connect>(pool: &Pool<M>) -> (u32, u32) {
        let state = pool.pool.state();
        (state.connections, state.idle_connections)
    }

    fn take_turn<'a>(
        turn: &'a Turn,
        within: Duration,
        done: impl Fn() -> bool + Send + Sync,
    ) -> Option<Taken<TurnHeld<'a>>>
    where
        Self: 'a,
    {
        turn.take(within, done)
    }

    fn pause(wait: Duration) {
        std::thread::sleep(wait);
    }

    fn woken(wakeup: &Wakeup, within: Duration) {
        wakeup.wait_until(crate::retry::deadline_after(within));
        wakeup.take();
    }

    /// A runtime that cannot be built drops `task` unrun, which its owner
    /// sees (the hub's task hands its claim back when dropped).
    fn background(
        name: &str,
        task: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                if let Ok(runtime) = runtime {
                    runtime.block_on(task);
                }
            })
            .map(drop)
            .map_err(|e| Error::Runtime(format!("cannot start a thread: {e}")))
    }
}

/// The engine's pool: r2d2's, with the `Gate` of its connector. When the
/// engine lets go of it (dropped, or closed) and the operations using it
/// are done, the gate closes: r2d2's own jobs, which outlive it, open
/// nothing more, and its threads end with the last of them.
pub(super) struct Pool<M: Connect> {
    pool: r2d2::Pool<Pooling<M>>,
    held: Arc<Held>,
}

impl<M: Connect> Clone for Pool<M> {
    fn clone(&self) -> Self {
        Pool {
            pool: self.pool.clone(),
            held: Arc::clone(&self.held),
        }
    }
}

/// Closes the gate when the last handle of the engine's pool goes.
struct Held(Arc<Gate>);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// The engine's way of opening connections, as r2d2 takes it.
pub(super) struct Pooling<M>(M);

impl<M: Connect> r2d2::ManageConnection for Pooling<M> {
    type Connection = M::Connection;
    type Error = ConnectFailure;

    fn connect(&self) -> std::result::Result<M::Connection, ConnectFailure> {
        self.0.connect()
    }

    fn is_valid(&self, conn: &mut M::Connection) -> std::result::Result<(), ConnectFailure> {
        self.0.is_valid(conn)
    }

    fn has_broken(&self, conn: &mut M::Connection) -> bool {
        self.0.has_broken(conn)
    }
}

/// Opens connections; shared with the threads that open them (see `open`).
pub(super) struct Connector {
    manager: r2d2_postgres::PostgresConnectionManager<Tls>,
    /// Handshakes still waiting for a server that stopped answering, and
    /// how many of them may wait at once.
    hanging: AtomicUsize,
    max_hanging: usize,
    /// When attempts may start.
    gate: Arc<Gate>,
}

/// One attempt of `open`.
fn attempt(
    connector: &Arc<Connector>,
    limit: Duration,
) -> std::result::Result<(Client, Option<Deadline>), ConnectFailure> {
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
        // The stream gave up at the same deadline: a timeout too, whichever
        // of the two came first.
        Ok(Err(err)) if gave_up(&err) => Err(ConnectFailure::timed_out(limit)),
        Ok(connected) => connected.map_err(ConnectFailure::from),
        Err(_) => Err(ConnectFailure::timed_out(limit)),
    }
}

/// Whether `err` is the connection's stream giving up at its deadline
/// (`connect::with_deadlines`).
fn gave_up(err: &postgres::Error) -> bool {
    std::error::Error::source(err)
        .and_then(|source| source.downcast_ref::<std::io::Error>())
        .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
}

/// The driver's client. Its statements run on a runtime of its own, which
/// tokio refuses to start inside async code (it panics): there they are
/// [`Error::Runtime`] instead. (Tokio's panic message is still printed by the
/// panic hook.) Where no runtime is entered, they run as they are.
pub(super) struct Client(postgres::Client);

impl super::face::Client for Client {
    fn prepare(&mut self, query: &str) -> Result<Statement> {
        outside_async(|| self.0.prepare(query))
    }

    fn query(&mut self, statement: &Statement, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        outside_async(|| self.0.query(statement, params))
    }

    fn batch_execute(&mut self, sql: &str) -> Result<()> {
        outside_async(|| self.0.batch_execute(sql))
    }

    /// On the pool's own threads only (its validity check), where no
    /// runtime is entered.
    fn answers(&mut self) -> std::result::Result<(), ConnectFailure> {
        self.0
            .simple_query("")
            .map(drop)
            .map_err(ConnectFailure::from)
    }

    fn is_closed(&self) -> bool {
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

/// A turn held; the waiters look again when this goes.
pub(super) struct TurnHeld<'a>(&'a Turn);

impl Turn {
    /// The turn, or `Done` as soon as `done()` says the work is done, or
    /// `None` at `within`.
    fn take(&self, within: Duration, done: impl Fn() -> bool) -> Option<Taken<TurnHeld<'_>>> {
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

/// The blocking driver cannot abandon a statement: the connection's stream
/// gives up at the deadline instead (see `Face::connector`).
impl<T> Bounded for T {
    type Output = T;

    fn within(self, _limit: Duration) -> Option<T> {
        Some(self)
    }
}

impl<W: Write + ?Sized> Sink for W {
    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        Ok(self.write_all(bytes)?)
    }
}

impl<R: BufRead + ?Sized> Source for R {
    fn fill(&mut self) -> std::io::Result<&[u8]> {
        self.fill_buf()
    }

    fn take(&mut self, n: usize) {
        self.consume(n);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;
    use std::time::Instant;

    use super::*;

    /// One holder at a time; a waiter gives up at its deadline, and learns
    /// at once that its work was done.
    #[test]
    fn a_turn_is_one_holder_at_a_time_within_a_deadline() {
        let turn = Turn::default();
        let held = Face::take_turn(&turn, Duration::from_secs(5), || false);
        assert!(matches!(held, Some(Taken::Turn(_))));
        let started = Instant::now();
        assert!(Face::take_turn(&turn, Duration::from_millis(50), || false).is_none());
        assert!(started.elapsed() >= Duration::from_millis(50));
        let done = Face::take_turn(&turn, Duration::from_secs(5), || true);
        assert!(matches!(done, Some(Taken::Done)));
        drop(held);
        let again = Face::take_turn(&turn, Duration::ZERO, || false);
        assert!(matches!(again, Some(Taken::Turn(_))));
    }

    /// A waiter wakes when the turn is released, not at its deadline: with
    /// word that the holder did its work, or with the turn (then it looks
    /// at its work's outcome: see `Queued::wait`); and holders never
    /// overlap.
    #[test]
    fn waiters_wake_when_the_turn_goes_and_never_overlap() {
        let turn = Arc::new(Turn::default());
        let work_done = Arc::new(AtomicBool::new(false));
        let held = Face::take_turn(&turn, Duration::from_secs(5), || false);
        let waiter = {
            let (turn, work_done) = (Arc::clone(&turn), Arc::clone(&work_done));
            std::thread::spawn(move || {
                let got = Face::take_turn(&turn, Duration::from_secs(5), || {
                    work_done.load(Ordering::SeqCst)
                });
                got.is_some()
            })
        };
        std::thread::sleep(Duration::from_millis(20));
        work_done.store(true, Ordering::SeqCst);
        drop(held);
        assert!(
            waiter.join().unwrap(),
            "the waiter did not learn its work was done"
        );

        let inside = Arc::new(AtomicUsize::new(0));
        let holders: Vec<_> = (0..8)
            .map(|_| {
                let (turn, inside) = (Arc::clone(&turn), Arc::clone(&inside));
                std::thread::spawn(move || {
                    for _ in 0..200 {
                        let held = Face::take_turn(&turn, Duration::from_secs(5), || false);
                        assert!(matches!(held, Some(Taken::Turn(_))));
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        holders.into_iter().for_each(|h| h.join().unwrap());
    }
}
