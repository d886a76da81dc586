//! The async face's driver: `Face`, which implements `io/face.rs`'s traits
//! over `tokio-postgres` and a `bb8` pool: connections opened within their
//! deadline, statements abandoned at theirs, a sleep, and the streams of
//! export and import.

use std::future::Future;
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, Statement};

use crate::connect::{Deadline, Tls};
use crate::error::{Error, Result};
use crate::hub::Wakeup;
use crate::options::EngineOptions;
use crate::pool::ConnectFailure;

use super::face::{Bounded, Connect, Driver, PoolSettings, Sink, Source, Taken};

/// The async face, as `io/` knows it.
pub(super) struct Face;

type Connector = bb8_postgres::PostgresConnectionManager<Tls>;

impl Driver for Face {
    type Client = tokio_postgres::Client;
    type Connector = Connector;
    type Pool<M: Connect> = bb8::Pool<Pooling<M>>;
    type Pooled<M: Connect> = bb8::PooledConnection<'static, Pooling<M>>;
    type Turn = Turn;
    type Held<'a> = TurnHeld<'a>;

    /// Whether the async face can run here: its pool's connections are
    /// tasks, and its deadlines timers, of a tokio runtime.
    fn usable_here() -> Result<()> {
        tokio::runtime::Handle::try_current()
            .map(drop)
            .map_err(|_| Error::Runtime("the async API must be used inside a tokio runtime".into()))
    }

    fn connector(config: tokio_postgres::Config, tls: Tls, _options: &EngineOptions) -> Connector {
        Connector::new(config, tls)
    }

    /// Opens a connection, the whole handshake within `limit`: the driver's
    /// own `connect_timeout` covers only the TCP connect, and a server (or
    /// load balancer) that accepts but never answers would hang it. The
    /// statements are abandoned at their deadline (`Bounded`), so the
    /// connection needs no deadline of its own.
    async fn open(
        connector: &Connector,
        limit: Duration,
    ) -> std::result::Result<(tokio_postgres::Client, Option<Deadline>), ConnectFailure> {
        match tokio::time::timeout(limit, bb8::ManageConnection::connect(connector)).await {
            Ok(connected) => connected
                .map(|client| (client, None))
                .map_err(ConnectFailure::from),
            Err(_) => Err(ConnectFailure::timed_out(limit)),
        }
    }

    /// No check on checkout: it would cost a round trip per operation. A
    /// connection that died in the pool fails its statement, which is then
    /// retried on a fresh one.
    fn pool<M: Connect>(
        manager: M,
        _connector: &Connector,
        settings: PoolSettings,
    ) -> bb8::Pool<Pooling<M>> {
        bb8::Pool::builder()
            .max_size(settings.max_size)
            .min_idle(Some(0))
            .test_on_check_out(false)
            .connection_timeout(settings.checkout_timeout)
            .idle_timeout(settings.idle_timeout)
            .max_lifetime(settings.max_lifetime)
            .build_unchecked(Pooling(manager))
    }

    async fn checkout<M: Connect>(
        pool: &bb8::Pool<Pooling<M>>,
        wait: Duration,
    ) -> Option<Self::Pooled<M>> {
        tokio::time::timeout(wait, pool.get_owned())
            .await
            .ok()?
            .ok()
    }

    fn pool_size<M: Connect>(pool: &bb8::Pool<Pooling<M>>) -> (u32, u32) {
        let state = pool.state();
        (state.connections, state.idle_connections)
    }

    async fn take_turn<'a>(
        turn: &'a Turn,
        within: Duration,
        done: impl Fn() -> bool + Send + Sync,
    ) -> Option<Taken<TurnHeld<'a>>>
    where
        Self: 'a,
    {
        turn.take(within, done).await
    }

    async fn pause(wait: Duration) {
        tokio::time::sleep(wait).await;
    }

    async fn woken(wakeup: &Wakeup, within: Duration) {
        let woken = std::future::poll_fn(|cx| match wakeup.take_or_register(cx.waker()) {
            true => std::task::Poll::Ready(()),
            false => std::task::Poll::Pending,
        });
        let _ = tokio::time::timeout(within, woken).await;
    }

    fn background(_name: &str, task: impl Future<Output = ()> + Send + 'static) -> Result<()> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::Runtime("the async API must be used inside a tokio runtime".into())
        })?;
        drop(runtime.spawn(task));
        Ok(())
    }
}

/// The engine's way of opening connections, as bb8 takes it.
pub(super) struct Pooling<M>(M);

impl<M: Connect> bb8::ManageConnection for Pooling<M> {
    type Connection = M::Connection;
    type Error = ConnectFailure;

    fn connect(
        &self,
    ) -> impl Future<Output = std::result::Result<M::Connection, ConnectFailure>> + Send {
        self.0.connect()
    }

    async fn is_valid(&self, conn: &mut M::Connection) -> std::result::Result<(), ConnectFailure> {
        self.0.is_valid(conn).await
    }

    fn has_broken(&self, conn: &mut M::Connection) -> bool {
        self.0.has_broken(conn)
    }
}

impl super::face::Client for tokio_postgres::Client {
    async fn prepare(&mut self, text: &str) -> Result<Statement> {
        Ok(tokio_postgres::Client::prepare(self, text).await?)
    }

    async fn query(
        &mut self,
        statement: &Statement,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>> {
        Ok(tokio_postgres::Client::query(self, statement, params).await?)
    }

    async fn batch_execute(&mut self, sql: &str) -> Result<()> {
        Ok(tokio_postgres::Client::batch_execute(self, sql).await?)
    }

    async fn answers(&mut self) -> std::result::Result<(), ConnectFailure> {
        self.simple_query("")
            .await
            .map(drop)
            .map_err(ConnectFailure::from)
    }

    fn is_closed(&self) -> bool {
        tokio_postgres::Client::is_closed(self)
    }
}

/// A future's output, or `None` if `limit` passed first (the future is
/// dropped then, mid-request).
impl<F: Future> Bounded for F {
    type Output = F::Output;

    async fn within(self, limit: Duration) -> Option<F::Output> {
        tokio::time::timeout(limit, self).await.ok()
    }
}

impl<W: AsyncWrite + Unpin + ?Sized> Sink for W {
    async fn put(&mut self, bytes: &[u8]) -> Result<()> {
        Ok(self.write_all(bytes).await?)
    }
}

impl<R: AsyncBufRead + Unpin + ?Sized> Source for R {
    async fn fill(&mut self) -> std::io::Result<&[u8]> {
        self.fill_buf().await
    }

    fn take(&mut self, n: usize) {
        self.consume(n);
    }
}

/// One writer of a session at a time, taken within a deadline.
#[derive(Default)]
pub(super) struct Turn {
    lock: tokio::sync::Mutex<()>,
    freed: tokio::sync::Notify,
}

/// A turn held; the waiters look again when this goes.
pub(super) struct TurnHeld<'a> {
    _held: tokio::sync::MutexGuard<'a, ()>,
    turn: &'a Turn,
}

impl Drop for TurnHeld<'_> {
    fn drop(&mut self) {
        // Every waiter looks: most find their work done by this turn.
        self.turn.freed.notify_waiters();
    }
}

impl Turn {
    /// The turn, or `Done` as soon as `done()` says the work is done, or
    /// `None` at `within`.
    async fn take(&self, within: Duration, done: impl Fn() -> bool) -> Option<Taken<TurnHeld<'_>>> {
        let waiting = async {
            loop {
                let freed = self.freed.notified();
                let mut freed = std::pin::pin!(freed);
                freed.as_mut().enable();
                if done() {
                    return Taken::Done;
                }
                let mut lock = std::pin::pin!(self.lock.lock());
                let held = std::future::poll_fn(|cx| {
                    use std::task::Poll;
                    if let Poll::Ready(held) = lock.as_mut().poll(cx) {
                        return Poll::Ready(Some(held));
                    }
                    freed.as_mut().poll(cx).map(|()| None)
                })
                .await;
                if let Some(held) = held {
                    return Taken::Turn(TurnHeld {
                        _held: held,
                        turn: self,
                    });
                }
            }
        };
        tokio::time::timeout(within, waiting).await.ok()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::time::Instant;

    use super::*;

    /// One holder at a time; a waiter gives up at its deadline, and learns
    /// at once that its work was done.
    #[tokio::test]
    async fn a_turn_is_one_holder_at_a_time_within_a_deadline() {
        let turn = Turn::default();
        let held = Face::take_turn(&turn, Duration::from_secs(5), || false).await;
        assert!(matches!(held, Some(Taken::Turn(_))));
        let started = Instant::now();
        assert!(
            Face::take_turn(&turn, Duration::from_millis(50), || false)
                .await
                .is_none()
        );
        assert!(started.elapsed() >= Duration::from_millis(50));
        let done = Face::take_turn(&turn, Duration::from_secs(5), || true).await;
        assert!(matches!(done, Some(Taken::Done)));
        drop(held);
        let again = Face::take_turn(&turn, Duration::from_secs(1), || false).await;
        assert!(matches!(again, Some(Taken::Turn(_))));
    }

    /// A waiter wakes when the turn is released, not at its deadline: with
    /// word that the holder did its work, or with the turn (then it looks
    /// at its work's outcome: see `Queued::wait`); and holders never
    /// overlap.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn waiters_wake_when_the_turn_goes_and_never_overlap() {
        let turn = Arc::new(Turn::default());
        let work_done = Arc::new(AtomicBool::new(false));
        let held = Face::take_turn(&turn, Duration::from_secs(5), || false).await;
        let waiter = {
            let (turn, work_done) = (Arc::clone(&turn), Arc::clone(&work_done));
            tokio::spawn(async move {
                let got = Face::take_turn(&turn, Duration::from_secs(5), || {
                    work_done.load(Ordering::SeqCst)
                })
                .await;
                got.is_some()
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        work_done.store(true, Ordering::SeqCst);
        drop(held);
        assert!(
            waiter.await.unwrap(),
            "the waiter did not learn its work was done"
        );

        let inside = Arc::new(AtomicUsize::new(0));
        let holders: Vec<_> = (0..8)
            .map(|_| {
                let (turn, inside) = (Arc::clone(&turn), Arc::clone(&inside));
                tokio::spawn(async move {
                    for _ in 0..200 {
                        let held = Face::take_turn(&turn, Duration::from_secs(5), || false).await;
                        assert!(matches!(held, Some(Taken::Turn(_))));
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                        tokio::task::yield_now().await;
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for holder in holders {
            holder.await.unwrap();
        }
    }
}
