//! What a face provides to the shared I/O, as traits: `Driver` (a
//! connection's client, the pool, a session's write turn, the pause),
//! `Bounded` (a request bounded by its deadline), `Sink` and `Source` (the
//! streams of export and import). `blocking/driver.rs` implements them over
//! `postgres` and `r2d2`, `nonblocking/driver.rs` over `tokio-postgres` and
//! `bb8`; each calls its implementor `Face`. The rest of `io/` takes nothing
//! else from a face but `Face` itself and the `face` attribute of its
//! `mode.rs`.
//!
//! Like all of `io/`, this file is compiled by each face as its own module:
//! an `async fn` here is a plain `fn` on the blocking face, and `.await`
//! goes away.

use std::ops::DerefMut;
use std::time::Duration;

use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, Statement};

use crate::connect::{Deadline, Tls};
use crate::error::Result;
use crate::hub::Wakeup;
use crate::options::EngineOptions;
use crate::pool::ConnectFailure;

use super::mode::face;

/// How the engine opens, checks and tells broken its connections, given to
/// the face's pool (r2d2's or bb8's manager), which opens connections when
/// and as it sees fit. The engine's `Manager` implements it. (Its futures
/// are boxed and `Send` on the async face, as bb8 needs them.)
#[face]
pub(crate) trait Connect: Send + Sync + Sized + 'static {
    /// What the pool holds: a connection and its prepared statements.
    type Connection: Send + 'static;

    /// A new connection, its whole handshake within the connect timeout.
    async fn connect(&self) -> std::result::Result<Self::Connection, ConnectFailure>;

    /// Whether `conn` still answers (one round trip).
    async fn is_valid(
        &self,
        conn: &mut Self::Connection,
    ) -> std::result::Result<(), ConnectFailure>;

    /// Whether `conn` must be discarded: closed, or left mid-request.
    fn has_broken(&self, conn: &mut Self::Connection) -> bool;
}

/// How the pool is set up: the engine's options, as every pool takes them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PoolSettings {
    pub(crate) max_size: u32,
    pub(crate) checkout_timeout: Duration,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) max_lifetime: Option<Duration>,
}

/// A connection's client, as the face's driver has it.
#[face(AFIT)]
pub(crate) trait Client: Send {
    /// Prepares `text` on this connection.
    async fn prepare(&mut self, text: &str) -> Result<Statement>;

    /// Runs a prepared statement.
    async fn query(
        &mut self,
        statement: &Statement,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>>;

    /// Runs statements without parameters, as one simple query.
    async fn batch_execute(&mut self, sql: &str) -> Result<()>;

    /// An empty simple query: whether the connection answers.
    async fn answers(&mut self) -> std::result::Result<(), ConnectFailure>;

    /// Whether the connection is closed.
    fn is_closed(&self) -> bool;
}

/// What a waiter for a session's write turn gets: the turn (`H`, held
/// until dropped), or word that an earlier turn did its work.
pub(crate) enum Taken<H> {
    Turn(H),
    Done,
}

/// What a face's driver provides: connections, the pool of an engine, the
/// write turn of a session, a pause.
#[face(AFIT)]
pub(crate) trait Driver {
    /// A connection's client.
    type Client: Client;
    /// Opens connections to the server of an engine.
    type Connector: Send + Sync + 'static;
    /// An engine's pool of the connections `M` opens; cheap to clone.
    type Pool<M: Connect>: Clone + Send + Sync;
    /// A connection checked out of a pool; back in it when dropped.
    type Pooled<M: Connect>: DerefMut<Target = M::Connection> + Send;
    /// One writer of a session at a time.
    type Turn: Default + Send + Sync;
    /// A turn held; waiters look again when it is dropped.
    type Held<'a>: Send
    where
        Self: 'a;

    /// Whether operations can run here (the async face: inside a tokio
    /// runtime), else `Error::Runtime`.
    fn usable_here() -> Result<()>;

    /// The connector of an engine, from its driver settings.
    fn connector(
        config: tokio_postgres::Config,
        tls: Tls,
        options: &EngineOptions,
    ) -> Self::Connector;

    /// Opens a connection, the whole handshake within `limit`, and the
    /// deadline its stream enforces where the face needs one (the blocking
    /// face cannot abandon a request; its stream gives up instead).
    async fn open(
        connector: &Self::Connector,
        limit: Duration,
    ) -> std::result::Result<(Self::Client, Option<Deadline>), ConnectFailure>;

    /// The pool of `manager`'s connections, which `connector` opens (the
    /// blocking face's pool holds back its attempts once dropped), made
    /// now, opening none yet.
    fn pool<M: Connect>(
        manager: M,
        connector: &Self::Connector,
        settings: PoolSettings,
    ) -> Self::Pool<M>;

    /// A pooled connection within `wait`, or `None`.
    async fn checkout<M: Connect>(pool: &Self::Pool<M>, wait: Duration) -> Option<Self::Pooled<M>>;

    /// The pool's connections, and how many of them are idle.
    fn pool_size<M: Connect>(pool: &Self::Pool<M>) -> (u32, u32);

    /// The turn, or `Done` as soon as `done()` says the work is done, or
    /// `None` when `within` has passed.
    async fn take_turn<'a>(
        turn: &'a Self::Turn,
        within: Duration,
        done: impl Fn() -> bool + Send + Sync,
    ) -> Option<Taken<Self::Held<'a>>>
    where
        Self: 'a;

    /// Waits `wait`.
    async fn pause(wait: Duration);

    /// Waits until `wakeup` is woken, and takes the wake, or until `within`
    /// passes.
    async fn woken(wakeup: &Wakeup, within: Duration);

    /// Runs `task`, async code over `tokio-postgres`, in the background
    /// until it ends by itself: on the async face as a task of the caller's
    /// runtime; on the blocking face on a thread of its own, named `name`,
    /// with a runtime of its own, which the thread ends with.
    fn background(
        name: &str,
        task: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<()>;
}

/// A request bounded by its deadline: the async face abandons a future
/// when `limit` passes (`None`); the blocking face's requests are already
/// done, their streams having given up at the deadline.
#[face(AFIT)]
pub(crate) trait Bounded {
    type Output;

    async fn within(self, limit: Duration) -> Option<Self::Output>;
}

/// An export's destination.
#[face(AFIT)]
pub(crate) trait Sink {
    async fn put(&mut self, bytes: &[u8]) -> Result<()>;
}

/// An import's source, read a buffer at a time.
#[face(AFIT)]
pub(crate) trait Source {
    /// What is buffered, read first if nothing is; empty at the end.
    async fn fill(&mut self) -> std::io::Result<&[u8]>;

    /// Marks `n` bytes of the buffer read.
    fn take(&mut self, n: usize);
}
