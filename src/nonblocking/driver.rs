//! The async face's driver and pool, as the shared I/O of `src/io/` asks
//! for them: `tokio-postgres` over a `bb8` pool, connections opened within
//! their deadline, statements abandoned at theirs, a sleep, and the streams
//! of export and import.

use std::future::Future;
use std::time::Duration;

pub(super) use bb8::ManageConnection;
pub(super) use maybe_async::must_be_async as face;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};
pub(super) use tokio_postgres::Client;

use crate::connect::{Deadline, Tls};
use crate::error::{Error, Result};
use crate::options::EngineOptions;
use crate::pool::ConnectFailure;

use super::engine::Manager;

pub(super) type PgManager = bb8_postgres::PostgresConnectionManager<Tls>;
pub(super) type Pool = bb8::Pool<Manager>;

pub(super) fn pool_builder() -> bb8::Builder<Manager> {
    bb8::Pool::builder()
}

/// An export's destination.
pub(super) trait Output: AsyncWrite + Unpin {}
impl<T: AsyncWrite + Unpin + ?Sized> Output for T {}

/// An import's source.
pub(super) trait Input: AsyncBufRead + AsyncBufReadExt + Unpin {}
impl<T: AsyncBufRead + Unpin + ?Sized> Input for T {}

pub(super) fn manager(
    config: tokio_postgres::Config,
    tls: Tls,
    _options: &EngineOptions,
) -> PgManager {
    PgManager::new(config, tls)
}

/// Opens a connection, the whole handshake within `limit`: the driver's own
/// `connect_timeout` covers only the TCP connect, and a server (or load
/// balancer) that accepts but never answers would hang it.
/// The statements are abandoned at their deadline (`within`), so the
/// connection needs no deadline of its own.
pub(super) async fn open(
    manager: &PgManager,
    limit: Duration,
) -> Result<(Client, Option<Deadline>), ConnectFailure> {
    match tokio::time::timeout(limit, manager.connect()).await {
        Ok(connected) => connected
            .map(|client| (client, None))
            .map_err(ConnectFailure::from),
        Err(_) => Err(ConnectFailure::timed_out(limit)),
    }
}

pub(super) async fn checkout(
    pool: &Pool,
    wait: Duration,
) -> Option<bb8::PooledConnection<'static, Manager>> {
    tokio::time::timeout(wait, pool.get_owned())
        .await
        .ok()?
        .ok()
}

/// `future`'s output, or `None` if `limit` passed first (the future is
/// dropped then, mid-request).
pub(super) async fn within<F: std::future::Future>(
    limit: Duration,
    future: F,
) -> Option<F::Output> {
    tokio::time::timeout(limit, future).await.ok()
}

pub(super) async fn pause(wait: Duration) {
    tokio::time::sleep(wait).await;
}

pub(super) async fn write_all<W: Output + ?Sized>(out: &mut W, bytes: &[u8]) -> Result<()> {
    Ok(out.write_all(bytes).await?)
}

/// One writer of a session at a time, taken within a deadline.
#[derive(Default)]
pub(super) struct Turn {
    lock: tokio::sync::Mutex<()>,
    freed: tokio::sync::Notify,
}

/// What a waiter for a turn gets: the turn, or word that an earlier turn
/// did its work.
pub(super) enum Taken<'a> {
    Turn(TurnHeld<'a>),
    Done,
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
    pub(super) async fn take(
        &self,
        within: Duration,
        done: impl Fn() -> bool,
    ) -> Option<Taken<'_>> {
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

/// Whether the async face can run here: its pool's connections are tasks,
/// and its deadlines timers, of a tokio runtime.
pub(super) fn usable_here() -> Result<()> {
    tokio::runtime::Handle::try_current()
        .map(drop)
        .map_err(|_| Error::Runtime("the async API must be used inside a tokio runtime".into()))
}
