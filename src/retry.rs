//! Which failures are safe to repeat, and how long to wait before repeating.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::Duration;

use crate::error::Error;
use crate::sql::Table;

/// How often and how patiently an operation is tried again after a failure
/// that is safe to repeat.
///
/// Safe means: nothing was committed (SQLSTATE `40001`, CockroachDB's
/// transaction retry error), or the outcome is unknown but every write of
/// this crate is idempotent (`40003`, lost connections, `08xxx`, `57P01`,
/// `53300`, CockroachDB's `58C00`/`58C01`). Authentication, permission,
/// syntax and constraint errors are never retried.
///
/// ```
/// use std::time::Duration;
/// use langchain_cockroachdb::RetryPolicy;
///
/// let patient = RetryPolicy { max_attempts: 10, ..RetryPolicy::default() };
/// assert_eq!(patient.initial_backoff, Duration::from_millis(20));
/// assert_eq!(RetryPolicy::none().max_attempts, 1);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Tries in all, the first included (default 6; 1 means no retry).
    pub max_attempts: u32,
    /// Wait before the first retry (default 20 ms).
    pub initial_backoff: Duration,
    /// Longest wait between two tries (default 2 s).
    pub max_backoff: Duration,
    /// Growth of the wait from one retry to the next (default 2.0).
    pub multiplier: f64,
    /// Share of each wait drawn at random, 0.0 to 1.0 (default 0.5), so that
    /// clients that collided do not collide again.
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_secs(2),
            multiplier: 2.0,
            jitter: 0.5,
        }
    }
}

impl RetryPolicy {
    /// One try, no retry.
    ///
    /// ```
    /// # use langchain_cockroachdb::{HistoryOptions, RetryPolicy};
    /// let fail_fast = HistoryOptions { retry: Some(RetryPolicy::none()), ..HistoryOptions::default() };
    /// assert_eq!(fail_fast.retry.map(|r| r.max_attempts), Some(1));
    /// ```
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }
}

/// SQLSTATEs after which a retry cannot write anything twice.
fn is_retryable_code(code: &str) -> bool {
    matches!(
        code,
        "40001" | "40003" | "57P01" | "57P02" | "57P03" | "53300" | "58C00" | "58C01"
    ) || code.starts_with("08")
}

/// Is `err` worth another try, given that every write is idempotent?
pub(crate) fn is_retryable(err: &Error) -> bool {
    match err {
        Error::Database(_) => {
            err.is_connection_lost() || err.code().is_some_and(|c| is_retryable_code(c.code()))
        }
        _ => false,
    }
}

/// SQLSTATEs of a `CREATE ... IF NOT EXISTS` that raced another creator:
/// PostgreSQL may answer with a unique violation on its catalog. Running the
/// DDL again finds the object there.
pub(crate) fn is_ddl_race(err: &Error) -> bool {
    err.code()
        .is_some_and(|c| matches!(c.code(), "23505" | "42P07" | "42710"))
}

/// The tries of one operation.
pub(crate) struct Attempts {
    policy: RetryPolicy,
    tried: u32,
    next_backoff: Duration,
    /// Pooled connections may all have died together (a node restarted);
    /// each is found out by one failure, so these retries are free and
    /// immediate, up to the pool's size.
    stale_left: u32,
}

impl Attempts {
    pub(crate) fn new(policy: RetryPolicy, pool_size: u32) -> Self {
        Attempts {
            policy,
            tried: 0,
            next_backoff: policy.initial_backoff,
            stale_left: pool_size,
        }
    }

    /// How long to wait before trying again after `err`, met running a
    /// statement on `table` (`ddl`: a statement that creates or drops it),
    /// or `None` to give up.
    pub(crate) fn after_error(
        &mut self,
        err: &Error,
        table: &Table,
        ddl: bool,
    ) -> Option<Duration> {
        if !ddl && table.was_dropped(err) {
            // Dropped behind this process's back: create it again, at once.
            table.forget();
            return self.backoff(true).map(|_| Duration::ZERO);
        }
        self.retry_after(err, ddl)
    }

    fn retry_after(&mut self, err: &Error, in_ddl: bool) -> Option<Duration> {
        if err.is_connection_lost() && self.stale_left > 0 {
            self.stale_left -= 1;
            return Some(Duration::ZERO);
        }
        self.backoff(is_retryable(err) || (in_ddl && is_ddl_race(err)))
    }

    fn backoff(&mut self, retryable: bool) -> Option<Duration> {
        self.tried += 1;
        if !retryable || self.tried >= self.policy.max_attempts {
            return None;
        }
        let wait = self.next_backoff;
        self.next_backoff = wait
            .mul_f64(self.policy.multiplier.max(1.0))
            .min(self.policy.max_backoff);
        let jitter = self.policy.jitter.clamp(0.0, 1.0);
        Some(wait.mul_f64(1.0 - jitter * random_fraction()))
    }
}

/// A number in [0, 1), fresh enough for jitter, without a `rand` dependency:
/// every `RandomState` is seeded differently.
fn random_fraction() -> f64 {
    (RandomState::new().hash_one(0u8) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_the_cap_and_stops_after_max_attempts() {
        let policy = RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(300),
            multiplier: 2.0,
            jitter: 0.0,
        };
        let mut attempts = Attempts::new(policy, 0);
        let err = Error::Config("not retryable".into());
        assert_eq!(attempts.retry_after(&err, true), None);

        let mut attempts = Attempts::new(policy, 0);
        let waits: Vec<_> = std::iter::from_fn(|| attempts.backoff(true)).collect();
        let ms: Vec<_> = waits.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [100, 200, 300, 300]);
    }

    #[test]
    fn jitter_stays_within_its_share() {
        let policy = RetryPolicy {
            initial_backoff: Duration::from_millis(100),
            jitter: 0.5,
            ..RetryPolicy::default()
        };
        for _ in 0..100 {
            let wait = Attempts::new(policy, 0).backoff(true).unwrap();
            assert!(
                wait >= Duration::from_millis(50) && wait <= Duration::from_millis(100),
                "{wait:?}"
            );
        }
    }

    #[test]
    fn codes() {
        for code in [
            "40001", "40003", "08006", "08001", "57P01", "53300", "58C00", "58C01",
        ] {
            assert!(is_retryable_code(code), "{code}");
        }
        for code in [
            "28P01", "28000", "42501", "42601", "23505", "23502", "42P01", "22P02",
        ] {
            assert!(!is_retryable_code(code), "{code}");
        }
    }
}
