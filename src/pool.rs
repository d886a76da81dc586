//! What the pools of both faces share: the state an engine reports, the
//! cause of a failed connection attempt, and the process-wide registry of
//! engines made from bare connection strings.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Instant;

use crate::error::{Error, Result};

/// A snapshot of an engine's pool and retries, for health endpoints.
///
/// ```
/// # #[cfg(feature = "blocking")] {
/// use langchain_cockroachdb::blocking::CockroachDBEngine;
/// let engine = CockroachDBEngine::from_connection_string("postgresql://root@localhost/db")?;
/// let state = engine.pool_state();
/// assert_eq!((state.connections, state.idle, state.retries), (0, 0, 0));
/// # }
/// # Ok::<(), langchain_cockroachdb::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolState {
    /// Connections open, busy or idle.
    pub connections: u32,
    /// Connections open and idle.
    pub idle: u32,
    /// Operations tried again since the engine was made (after CockroachDB
    /// retry errors, lost connections...): a rising count is worth a look.
    pub retries: u64,
}

/// Why a connection could not be opened, in words.
#[derive(Debug)]
pub(crate) struct ConnectFailure(pub(crate) String);

impl From<&tokio_postgres::Error> for ConnectFailure {
    fn from(err: &tokio_postgres::Error) -> Self {
        // The driver's own text says what failed (refused, timed out, name
        // lookup, authentication) and never includes the password.
        ConnectFailure(match std::error::Error::source(err) {
            Some(source) => format!("{err}: {source}"),
            None => err.to_string(),
        })
    }
}

impl ConnectFailure {
    /// A handshake that did not finish within `limit`.
    pub(crate) fn timed_out(limit: std::time::Duration) -> Self {
        ConnectFailure(format!(
            "timed out after {limit:?}: the server did not complete the handshake"
        ))
    }
}

impl std::fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConnectFailure {}

/// The cause of the latest failed connection attempt of one pool.
#[derive(Default)]
pub(crate) struct ConnectErrors(Mutex<Option<(Instant, String)>>);

impl ConnectErrors {
    pub(crate) fn record(&self, failure: &ConnectFailure) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((Instant::now(), failure.0.clone()));
    }

    /// A connection error if opening a connection failed since `started`.
    pub(crate) fn failure_since(&self, started: Instant, target: &str) -> Option<Error> {
        match &*self.0.lock().unwrap_or_else(PoisonError::into_inner) {
            Some((at, cause)) if *at >= started => Some(Error::Connection {
                target: target.to_owned(),
                cause: cause.clone(),
            }),
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
