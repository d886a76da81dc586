//! What the pools of both faces share: the state an engine reports, the
//! cause of a failed connection attempt, and the process-wide registry of
//! engines made from bare connection strings.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// A snapshot of an engine's pool and retries, for health endpoints.
///
/// ```
/// # #[cfg(feature = "blocking")] {
/// use langchain_cockroachdb::blocking::CockroachDBEngine;
/// let engine = CockroachDBEngine::from_connection_string("postgresql://root@localhost/db")?;
/// let state = engine.pool_state();
/// assert_eq!((state.connections, state.idle, state.retries, state.opened), (0, 0, 0, 0));
/// # }
/// # Ok::<(), langchain_cockroachdb::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct PoolState {
    /// Connections open, busy or idle.
    pub connections: u32,
    /// Connections open and idle.
    pub idle: u32,
    /// Operations tried again since the engine was made (after CockroachDB
    /// retry errors, lost connections...): a rising count is worth a look.
    pub retries: u64,
    /// Times an operation found no idle connection and waited for one.
    pub waits: u64,
    /// Operations that ended at a deadline: the operation's or the checkout's.
    pub timeouts: u64,
    /// Connections opened since the engine was made.
    pub opened: u64,
    /// Connections closed since the engine was made (idle, too old, broken,
    /// abandoned at a deadline).
    pub closed: u64,
    /// Attempts to open a connection that failed.
    pub failed_connects: u64,
}

/// The counts behind [`PoolState`], kept by the engine of either face.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    retries: AtomicU64,
    waits: AtomicU64,
    timeouts: AtomicU64,
    opened: AtomicU64,
    closed: AtomicU64,
    failed_connects: AtomicU64,
}

impl Counters {
    pub(crate) fn retried(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn waited(&self) {
        self.waits.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn timed_out(&self) {
        self.timeouts.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn opened(&self) {
        self.opened.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn closed(&self) {
        self.closed.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn failed_connect(&self) {
        self.failed_connects.fetch_add(1, Ordering::Relaxed);
    }

    /// The counts with the pool's own `connections` and `idle`.
    pub(crate) fn state(&self, connections: u32, idle: u32) -> PoolState {
        let get = |n: &AtomicU64| n.load(Ordering::Relaxed);
        PoolState {
            connections,
            idle,
            retries: get(&self.retries),
            waits: get(&self.waits),
            timeouts: get(&self.timeouts),
            opened: get(&self.opened),
            closed: get(&self.closed),
            failed_connects: get(&self.failed_connects),
        }
    }
}

/// Why one attempt to open a connection failed.
#[derive(Debug, Clone)]
pub(crate) struct ConnectFailure {
    cause: String,
    source: Option<Arc<tokio_postgres::Error>>,
    /// The server refused or could not be reached, or rejected the login:
    /// trying again at once would fail the same way, so operations waiting
    /// for a connection fail fast. A handshake cut or reset on the way is
    /// not that: the pool tries again, and the waiters keep waiting.
    lasting: bool,
}

impl From<tokio_postgres::Error> for ConnectFailure {
    fn from(err: tokio_postgres::Error) -> Self {
        // The driver's own text says what failed (refused, timed out, name
        // lookup, authentication) and never includes the password.
        let cause = match std::error::Error::source(&err) {
            Some(source) => format!("{err}: {source}"),
            None => err.to_string(),
        };
        ConnectFailure {
            cause,
            lasting: is_lasting(&err),
            source: Some(Arc::new(err)),
        }
    }
}

/// Whether a failed handshake would fail the same way at once again.
fn is_lasting(err: &tokio_postgres::Error) -> bool {
    use std::io::ErrorKind;
    if let Some(db) = err.as_db_error() {
        // Too many connections, or a node starting or stopping: transient.
        return !matches!(db.code().code(), "53300" | "57P01" | "57P02" | "57P03");
    }
    if err.is_closed() {
        return false;
    }
    match std::error::Error::source(err).and_then(|s| s.downcast_ref::<std::io::Error>()) {
        Some(io) => !matches!(
            io.kind(),
            ErrorKind::ConnectionReset
                | ErrorKind::ConnectionAborted
                | ErrorKind::BrokenPipe
                | ErrorKind::UnexpectedEof
                | ErrorKind::Interrupted
        ),
        // TLS and protocol errors: a certificate or a setting is wrong.
        None => true,
    }
}

impl ConnectFailure {
    /// A handshake that did not finish within `limit`: the server accepts
    /// connections but does not answer, which waiting longer rarely mends.
    pub(crate) fn timed_out(limit: Duration) -> Self {
        ConnectFailure {
            cause: format!("timed out after {limit:?}: the server did not complete the handshake"),
            source: None,
            lasting: true,
        }
    }

    /// A failure of this process rather than of the server.
    #[cfg(feature = "blocking")]
    pub(crate) fn local(cause: String) -> Self {
        ConnectFailure {
            cause,
            source: None,
            lasting: true,
        }
    }

    fn to_error(&self, target: &str) -> Error {
        Error::Connection {
            target: target.to_owned(),
            cause: self.cause.clone(),
            source: self.source.clone(),
        }
    }
}

impl std::fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.cause)
    }
}

impl std::error::Error for ConnectFailure {}

/// The failed connection attempts of one pool.
#[derive(Default)]
pub(crate) struct ConnectErrors(Mutex<Option<(Instant, ConnectFailure)>>);

impl ConnectErrors {
    pub(crate) fn record(&self, failure: &ConnectFailure) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((Instant::now(), failure.clone()));
    }

    /// The error to fail with if an attempt since `started` failed in a way
    /// that lasts.
    pub(crate) fn lasting_since(&self, started: Instant, target: &str) -> Option<Error> {
        match &*self.0.lock().unwrap_or_else(PoisonError::into_inner) {
            Some((at, failure)) if *at >= started && failure.lasting => {
                Some(failure.to_error(target))
            }
            _ => None,
        }
    }

    /// The cause of the latest failed attempt since `started`, if any, for a
    /// timeout to name.
    pub(crate) fn latest_since(&self, started: Instant, target: &str) -> Option<Error> {
        match &*self.0.lock().unwrap_or_else(PoisonError::into_inner) {
            Some((at, failure)) if *at >= started => Some(failure.to_error(target)),
            _ => None,
        }
    }
}

/// Engines made from bare connection strings, so that a history built per
/// request (the guide's `get_session_history(user_id)`) reuses one pool.
pub(crate) struct Registry<K, V>(OnceLock<Mutex<HashMap<K, V>>>);

impl<K: Hash + Eq, V: Clone> Registry<K, V> {
    pub(crate) const fn new() -> Self {
        Registry(OnceLock::new())
    }

    pub(crate) fn get_or_try_insert(&self, key: K, make: impl FnOnce() -> Result<V>) -> Result<V> {
        let mut map = self
            .0
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(value) = map.get(&key) {
            return Ok(value.clone());
        }
        let value = make()?;
        map.insert(key, value.clone());
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_state_round_trips_through_serde() {
        let counters = Counters::default();
        counters.opened();
        counters.retried();
        let state = counters.state(3, 1);
        let json = serde_json::to_value(state).unwrap();
        assert_eq!(json["connections"], 3);
        assert_eq!(json["opened"], 1);
        assert_eq!(json["retries"], 1);
        assert_eq!(serde_json::from_value::<PoolState>(json).unwrap(), state);
    }
}
