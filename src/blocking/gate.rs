//! When the blocking face's connector may start a connection attempt.
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

use std::sync::{Condvar, Mutex, PoisonError};

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
pub(super) struct Gate {
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

    pub(super) fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }

    /// Whether an attempt may start: waits while the latest attempt failed
    /// and no operation waits for a connection; false once the engine let
    /// go of its pool.
    pub(super) fn admit(&self) -> bool {
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

    pub(super) fn attempted(&self, failed: bool) {
        self.lock().failing = failed;
    }

    /// Counts an operation waiting for a connection while it lives.
    pub(super) fn wait(&self) -> Waiting<'_> {
        self.lock().waiting += 1;
        self.changed.notify_all();
        Waiting(self)
    }
}

/// An operation waiting for a connection.
pub(super) struct Waiting<'a>(&'a Gate);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.lock().waiting -= 1;
    }
}
