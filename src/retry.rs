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

/// What the decision after a failed try knows of its failure: facts of the
/// error and of the statement, so that the decision itself is plain logic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Failure {
    /// The same statement may succeed when tried again.
    pub(crate) retryable: bool,
    /// A serialization conflict (`40001`): it passes, so it is retried until
    /// the deadline rather than a number of times.
    pub(crate) contention: bool,
    /// An open connection broke: most likely a pooled one that died with
    /// its node, found out by this try.
    pub(crate) connection_lost: bool,
    /// A write that was sent, and may have been applied (see
    /// `Error::may_have_applied`).
    pub(crate) maybe_applied: bool,
    /// The table was dropped behind this process's back: it is created
    /// again at once.
    pub(crate) table_dropped: bool,
}

impl Failure {
    /// `err`, met by a try of a `write` (not a table creation), or of DDL
    /// (`ddl`); `table_dropped` when the error says the table is gone.
    pub(crate) fn of(err: &Error, write: bool, ddl: bool, table_dropped: bool) -> Failure {
        Failure {
            retryable: err.is_retryable() || (ddl && is_ddl_race(err)),
            contention: err.code() == Some(&SqlState::T_R_SERIALIZATION_FAILURE),
            connection_lost: err.is_connection_lost(),
            maybe_applied: write && err.may_have_applied(),
            table_dropped: !ddl && table_dropped,
        }
    }
}

/// The tries of one statement: when to try again, and whether a try that
/// failed may have been applied, which makes the outcome of a later try
/// incomplete and a final failure ambiguous.
pub(crate) struct Tries {
    attempts: Attempts,
    /// The error of the latest try that may have been applied.
    applied: Option<Error>,
}

impl Tries {
    pub(crate) fn new(policy: RetryPolicy, pool_size: u32) -> Tries {
        Tries {
            attempts: Attempts::new(policy, pool_size),
            applied: None,
        }
    }

    /// How many tries failed so far (stale connections aside).
    pub(crate) fn failed(&self) -> u32 {
        self.attempts.failed()
    }

    /// How long to wait before trying again after `failure`, or `None` to
    /// give up (see `give_up`).
    pub(crate) fn after(&mut self, failure: Failure) -> Option<Duration> {
        self.attempts.next(failure)
    }

    /// Keeps `err` when its try may have been applied, before a retry.
    pub(crate) fn keep(&mut self, err: Error, failure: Failure) {
        if failure.maybe_applied {
            self.applied = Some(err);
        }
    }

    /// The error to report when no try is left after `err` (or the
    /// deadline passed): ambiguous when this try, or an earlier one, may
    /// have been applied.
    pub(crate) fn give_up(&self, err: Error, failure: Failure) -> Error {
        match failure.maybe_applied || self.applied.is_some() {
            true => Error::ambiguous(err),
            false => err,
        }
    }

    /// After the try that succeeded: the error of an earlier one that may
    /// have been applied, whose rows the success does not show.
    pub(crate) fn settled(self) -> Option<Error> {
        self.applied
    }
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

    /// How long to wait before trying again after `failure`, or `None` to
    /// give up.
    pub(crate) fn next(&mut self, failure: Failure) -> Option<Duration> {
        if failure.table_dropped {
            // Repaired by creating it again: another try at once, if tries
            // are left.
            return self.backoff(true).map(|_| Duration::ZERO);
        }
        // Free retries only where the policy allows retries at all: `none()`
        // is exactly one attempt.
        if self.policy.max_attempts > 1 && failure.connection_lost && self.stale_left > 0 {
            self.stale_left -= 1;
            return Some(Duration::ZERO);
        }
        self.tried += 1;
        let tries_left = self.tried < self.policy.max_attempts;
        // Contention passes: it is retried for as long as the deadline
        // allows (the engine stops at the deadline), not a fixed count.
        let until_deadline = failure.contention && self.policy.max_attempts > 1;
        match failure.retryable && (tries_left || until_deadline) {
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
        assert_eq!(attempts.next(Failure::default()), None);

        let mut attempts = Attempts::new(policy, 0);
        let waits: Vec<_> = std::iter::from_fn(|| attempts.backoff(true)).collect();
        let ms: Vec<_> = waits.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [100, 200, 300, 300]);
    }

    fn retryable() -> Failure {
        Failure {
            retryable: true,
            ..Failure::default()
        }
    }

    /// A write that was sent and then cut short or answered `40003`.
    fn maybe_applied() -> Failure {
        Failure {
            maybe_applied: true,
            ..retryable()
        }
    }

    fn quick(max_attempts: u32) -> RetryPolicy {
        RetryPolicy::default()
            .max_attempts(max_attempts)
            .initial_backoff(Duration::from_millis(1))
    }

    #[test]
    fn errors_other_than_contention_are_retried_up_to_the_count() {
        let policy = RetryPolicy::default().max_attempts(3);
        let mut attempts = Attempts::new(policy, 0);
        let tries = std::iter::from_fn(|| attempts.next(retryable())).count();
        assert_eq!(tries, 2);
        assert_eq!(
            Attempts::new(RetryPolicy::none(), 0).next(retryable()),
            None
        );
    }

    #[test]
    fn contention_is_retried_past_the_count_and_stale_connections_at_once() {
        let contention = Failure {
            contention: true,
            ..retryable()
        };
        let mut attempts = Attempts::new(quick(2), 0);
        assert!((0..20).all(|_| attempts.next(contention).is_some()));
        // Up to the pool's size, a broken connection costs no try and no wait.
        let lost = Failure {
            connection_lost: true,
            ..retryable()
        };
        let mut attempts = Attempts::new(quick(2), 3);
        let waits: Vec<_> = std::iter::from_fn(|| attempts.next(lost)).collect();
        assert_eq!(waits.len(), 4, "{waits:?}");
        assert!(waits[..3].iter().all(Duration::is_zero));
        assert_eq!(attempts.failed(), 2);
        // With no retries at all, not even that.
        assert_eq!(Attempts::new(RetryPolicy::none(), 3).next(lost), None);
        // A table dropped meanwhile: created again at once, while tries last.
        let dropped = Failure {
            table_dropped: true,
            ..Failure::default()
        };
        let mut attempts = Attempts::new(quick(2), 0);
        assert_eq!(attempts.next(dropped), Some(Duration::ZERO));
        assert_eq!(attempts.next(dropped), None);
    }

    /// A write whose try may have been applied is tried again, and the
    /// success then says that an earlier try may have stored rows it does
    /// not show; out of tries, the failure is ambiguous, whatever ended it.
    #[test]
    fn a_try_that_may_have_been_applied_makes_the_outcome_ambiguous() {
        let timeout = || Error::Timeout(Duration::from_secs(1));
        let mut tries = Tries::new(quick(3), 0);
        assert!(tries.after(maybe_applied()).is_some());
        tries.keep(timeout(), maybe_applied());
        // The deadline then is ambiguous too.
        assert!(tries.give_up(timeout(), Failure::default()).is_ambiguous());
        assert!(tries.settled().is_some());

        // Out of tries on it: ambiguous, and repeatable (same ids).
        let mut tries = Tries::new(quick(1), 0);
        assert_eq!(tries.after(maybe_applied()), None);
        let err = tries.give_up(timeout(), maybe_applied());
        assert!(err.is_ambiguous() && err.is_retryable(), "{err:?}");

        // A later failure that is not itself ambiguous still makes it so.
        let mut tries = Tries::new(quick(3), 0);
        assert!(tries.after(maybe_applied()).is_some());
        tries.keep(timeout(), maybe_applied());
        let refused = Error::Config("refused".into());
        assert_eq!(tries.after(Failure::default()), None);
        assert!(tries.give_up(refused, Failure::default()).is_ambiguous());

        // A read, or a write refused before it ran, never is.
        let mut tries = Tries::new(quick(3), 0);
        assert!(tries.after(retryable()).is_some());
        tries.keep(timeout(), retryable());
        assert!(!tries.give_up(timeout(), retryable()).is_ambiguous());
        assert!(tries.settled().is_none());
    }

    #[test]
    fn failures_are_read_off_errors() {
        let timeout = Error::Timeout(Duration::from_secs(1));
        let failure = Failure::of(&timeout, true, false, false);
        assert!(failure.retryable && !failure.maybe_applied && !failure.contention);
        let refused = Error::InvalidArgument("no".into());
        assert_eq!(Failure::of(&refused, true, true, true), Failure::default());
        assert!(Failure::of(&refused, false, false, true).table_dropped);
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
