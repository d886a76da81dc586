//! Which failures are safe to repeat, and how long to wait before
//! repeating: decisions only; the engine acts on them.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::{Duration, Instant};

use crate::error::{Error, SqlState};
use crate::options::{EngineOptions, HistoryOptions, RetryPolicy};

/// The retries and the deadline a call runs with: those its
/// [`HistoryOptions`] set, else the engine's.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Policy {
    pub(crate) retry: RetryPolicy,
    pub(crate) timeout: Duration,
}

impl Policy {
    pub(crate) fn new(options: &HistoryOptions, engine: &EngineOptions) -> Policy {
        Policy {
            retry: options.retry.unwrap_or(engine.retry),
            timeout: options
                .operation_timeout
                .unwrap_or(engine.operation_timeout),
        }
    }
}

/// One call under a policy: its retries, and the deadline it started with.
#[derive(Clone, Copy)]
pub(crate) struct Call {
    pub(crate) retry: RetryPolicy,
    pub(crate) timeout: Duration,
    pub(crate) deadline: Instant,
}

impl Call {
    /// A call under `policy`, starting now.
    pub(crate) fn new(policy: Policy) -> Call {
        Call {
            retry: policy.retry,
            timeout: policy.timeout,
            deadline: deadline_after(policy.timeout),
        }
    }

    /// What is left until the deadline.
    pub(crate) fn left(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

/// SQLSTATEs of a `CREATE ... IF NOT EXISTS` that raced another creator:
/// PostgreSQL may answer with a unique violation on its catalog. Running the
/// DDL again finds the object there.
pub(crate) fn is_ddl_race(err: &Error) -> bool {
    err.code()
        .is_some_and(|c| matches!(c.code(), "23505" | "42P07" | "42710"))
}

/// The instant `timeout` from now; a timeout too large for the clock
/// (`Duration::MAX`, "no deadline") is a century.
pub(crate) fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
        .unwrap_or(now)
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

    /// How many tries failed so far.
    pub(crate) fn failed(&self) -> u32 {
        self.tried
    }

    /// Another try at once, if tries are left: the failure was repaired
    /// (a dropped table was created again).
    pub(crate) fn again_now(&mut self) -> Option<Duration> {
        self.backoff(true).map(|_| Duration::ZERO)
    }

    /// How long to wait before trying again after `err` (`in_ddl`: met
    /// creating or dropping a table), or `None` to give up.
    pub(crate) fn after_error(&mut self, err: &Error, in_ddl: bool) -> Option<Duration> {
        // Free retries only where the policy allows retries at all: `none()`
        // is exactly one attempt.
        if self.policy.max_attempts > 1 && err.is_connection_lost() && self.stale_left > 0 {
            self.stale_left -= 1;
            return Some(Duration::ZERO);
        }
        let retryable = err.is_retryable() || (in_ddl && is_ddl_race(err));
        // Contention passes: it is retried for as long as the deadline
        // allows (the engine stops at the deadline), not a fixed count.
        let contention = err.code() == Some(&SqlState::T_R_SERIALIZATION_FAILURE);
        self.tried += 1;
        let tries_left = self.tried < self.policy.max_attempts;
        let until_deadline = contention && self.policy.max_attempts > 1;
        match retryable && (tries_left || until_deadline) {
            true => Some(self.next_wait()),
            false => None,
        }
    }

    fn backoff(&mut self, retryable: bool) -> Option<Duration> {
        self.tried += 1;
        if !retryable || self.tried >= self.policy.max_attempts {
            return None;
        }
        Some(self.next_wait())
    }

    /// The wait before the next try, growing to the cap, with jitter. Option
    /// values that are not numbers, or out of range, cannot make it panic.
    fn next_wait(&mut self) -> Duration {
        let wait = self.next_backoff.min(self.policy.max_backoff);
        let multiplier = match self.policy.multiplier {
            m if m.is_finite() => m.max(1.0),
            _ => 1.0,
        };
        self.next_backoff = Duration::try_from_secs_f64(wait.as_secs_f64() * multiplier)
            .unwrap_or(self.policy.max_backoff)
            .min(self.policy.max_backoff);
        let jitter = match self.policy.jitter {
            j if j.is_finite() => j.clamp(0.0, 1.0),
            _ => 0.0,
        };
        let share = 1.0 - jitter * random_fraction();
        Duration::try_from_secs_f64(wait.as_secs_f64() * share).unwrap_or(wait)
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
        let policy = RetryPolicy::default()
            .max_attempts(5)
            .initial_backoff(Duration::from_millis(100))
            .max_backoff(Duration::from_millis(300))
            .multiplier(2.0)
            .jitter(0.0);
        let mut attempts = Attempts::new(policy, 0);
        let err = Error::Config("not retryable".into());
        assert_eq!(attempts.after_error(&err, true), None);

        let mut attempts = Attempts::new(policy, 0);
        let waits: Vec<_> = std::iter::from_fn(|| attempts.backoff(true)).collect();
        let ms: Vec<_> = waits.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [100, 200, 300, 300]);
    }

    #[test]
    fn errors_other_than_contention_are_retried_up_to_the_count() {
        let policy = RetryPolicy::default().max_attempts(3);
        let lost = Error::Timeout(Duration::from_secs(1)); // retryable, not contention
        let mut attempts = Attempts::new(policy, 0);
        let tries = std::iter::from_fn(|| attempts.after_error(&lost, false)).count();
        assert_eq!(tries, 2);
        assert_eq!(
            Attempts::new(RetryPolicy::none(), 0).after_error(&lost, false),
            None
        );
    }

    #[test]
    fn no_option_value_makes_a_wait_panic() {
        for (multiplier, jitter) in [
            (f64::NAN, f64::NAN),
            (f64::INFINITY, f64::INFINITY),
            (f64::NEG_INFINITY, -1.0),
            (f64::MAX, 2.0),
        ] {
            let policy = RetryPolicy::default()
                .multiplier(multiplier)
                .jitter(jitter)
                .initial_backoff(Duration::MAX)
                .max_backoff(Duration::MAX);
            let mut attempts = Attempts::new(policy, 0);
            for _ in 0..4 {
                let wait = attempts.backoff(true).expect("a retry");
                assert!(wait <= Duration::MAX);
            }
        }
    }

    #[test]
    fn jitter_stays_within_its_share() {
        let policy = RetryPolicy::default()
            .initial_backoff(Duration::from_millis(100))
            .jitter(0.5);
        for _ in 0..100 {
            let wait = Attempts::new(policy, 0).backoff(true).unwrap();
            assert!(
                wait >= Duration::from_millis(50) && wait <= Duration::from_millis(100),
                "{wait:?}"
            );
        }
    }
}
