//! The option structs of engines, histories, retries and session listings.
//!
//! They share one style: start from `default()`, chain a setter per field
//! (each named after its field, each taking and returning the struct), and
//! read the fields directly. The structs are `#[non_exhaustive]`, so new
//! options can come in a minor release without breaking a caller.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::ident::Ident;

/// How often and how patiently an operation is tried again after a failure
/// that is safe to repeat.
///
/// Safe means: nothing was committed (SQLSTATE `40001`, CockroachDB's
/// transaction retry error; `57P01`-`57P03`, `53300`, `58C00`/`58C01`), or
/// the outcome is unknown but the write is repeated under the same row ids,
/// so nothing is stored twice (`40003`, lost connections, `08xxx` but
/// `08P01`): such a write that no retry settles is
/// [`Error::Ambiguous`]. Authentication, permission, syntax, constraint and
/// size errors are never retried (see `docs/COCKROACHDB.md` for the table).
///
/// ```
/// use std::time::Duration;
/// use langchain_cockroachdb::RetryPolicy;
///
/// let patient = RetryPolicy::default().max_attempts(10).max_backoff(Duration::from_secs(5));
/// assert_eq!(patient.initial_backoff, Duration::from_millis(20));
/// assert_eq!(RetryPolicy::none().max_attempts, 1);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
#[must_use]
pub struct RetryPolicy {
    /// Tries in all, the first included (default 6; 1 means no retry),
    /// after lost connections, servers going away and the like. A
    /// serialization conflict (`40001`, other transactions touching the
    /// same rows) is retried past this count for as long as the
    /// operation's deadline allows, with the same backoff and jitter:
    /// contention passes, and giving up with time left only turns it into
    /// an error. With 1, nothing is retried at all.
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
    /// let fail_fast = HistoryOptions::default().retry(RetryPolicy::none());
    /// assert_eq!(fail_fast.retry.map(|r| r.max_attempts), Some(1));
    /// ```
    pub fn none() -> Self {
        RetryPolicy::default().max_attempts(1)
    }

    /// Sets `max_attempts`.
    ///
    /// ```
    /// # use langchain_cockroachdb::RetryPolicy;
    /// assert_eq!(RetryPolicy::default().max_attempts(3).max_attempts, 3);
    /// ```
    pub fn max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = max_attempts;
        self
    }

    /// Sets `initial_backoff`.
    ///
    /// ```
    /// # use langchain_cockroachdb::RetryPolicy;
    /// # use std::time::Duration;
    /// let policy = RetryPolicy::default().initial_backoff(Duration::from_millis(5));
    /// assert_eq!(policy.initial_backoff, Duration::from_millis(5));
    /// ```
    pub fn initial_backoff(mut self, initial_backoff: Duration) -> Self {
        self.initial_backoff = initial_backoff;
        self
    }

    /// Sets `max_backoff`.
    ///
    /// ```
    /// # use langchain_cockroachdb::RetryPolicy;
    /// # use std::time::Duration;
    /// let policy = RetryPolicy::default().max_backoff(Duration::from_secs(1));
    /// assert_eq!(policy.max_backoff, Duration::from_secs(1));
    /// ```
    pub fn max_backoff(mut self, max_backoff: Duration) -> Self {
        self.max_backoff = max_backoff;
        self
    }

    /// Sets `multiplier`.
    ///
    /// ```
    /// # use langchain_cockroachdb::RetryPolicy;
    /// assert_eq!(RetryPolicy::default().multiplier(1.5).multiplier, 1.5);
    /// ```
    pub fn multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = multiplier;
        self
    }

    /// Sets `jitter`.
    ///
    /// ```
    /// # use langchain_cockroachdb::RetryPolicy;
    /// assert_eq!(RetryPolicy::default().jitter(0.0).jitter, 0.0);
    /// ```
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter;
        self
    }
}

/// How a chat history names and uses its table.
///
/// ```
/// use langchain_cockroachdb::HistoryOptions;
///
/// let options = HistoryOptions::default().table_name("my_chat_history").schema("chat");
/// assert_eq!(options.table_name, "my_chat_history");
/// assert!(options.validate().is_ok());
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
#[must_use]
pub struct HistoryOptions {
    /// The table (default `message_store`, as the Python library).
    pub table_name: String,
    /// The schema that holds it (default `public`).
    pub schema: String,
    /// Create the table (and schema) on first use, once per process
    /// (default `true`). Turn it off for a role without DDL rights.
    pub create_table: bool,
    /// The largest serialized message accepted, in bytes (default 15 MiB,
    /// so that one message and its statement fit in the 16 MiB protocol
    /// message CockroachDB accepts by default; see
    /// [`EngineOptions::max_protocol_message_bytes`]).
    pub max_message_bytes: usize,
    /// The largest batch accepted by one `add_messages` call, in bytes of
    /// JSON (default 15 MiB, for the same reason). Larger batches are
    /// refused before anything is sent; so is a batch whose statement,
    /// with each row's id and framing, would not fit the protocol message.
    pub max_batch_bytes: usize,
    /// Retries for this history, and for an engine call given these
    /// options (listing, export, import, the cleanups); `None` uses the
    /// engine's policy.
    pub retry: Option<RetryPolicy>,
    /// The deadline of each operation of this history; `None` uses the
    /// engine's [`EngineOptions::operation_timeout`]. An engine call given
    /// these options runs each of its statements (a page of an export, a
    /// batch of a cleanup) within it.
    pub operation_timeout: Option<Duration>,
    /// Rows deleted per statement by the retention cleanups (default 1000),
    /// so that a large cleanup is many small transactions. An idle session
    /// with more rows than this is still deleted whole, in one statement.
    pub delete_batch_size: usize,
    /// Create an index on `created_at` with the table (default `false`, so
    /// that the guide's schema stays the default): `delete_messages_older_than`
    /// and `delete_sessions_idle_since` then read only the old rows, and the
    /// newest sessions are listed from recent rows. On CockroachDB it is
    /// hash-sharded, as a
    /// plain index on a timestamp is a write hot spot there.
    pub activity_index: bool,
    /// CockroachDB's row-level TTL: rows expire this long after `created_at`
    /// and CockroachDB deletes them itself, with no client job
    /// (default `None`). Set when the table is created; needs CockroachDB
    /// v22.2+. PostgreSQL has no such thing: the table creation is refused
    /// there, with an error pointing at `delete_messages_older_than`.
    pub ttl: Option<Duration>,
}

impl Default for HistoryOptions {
    fn default() -> Self {
        HistoryOptions {
            table_name: "message_store".into(),
            schema: "public".into(),
            create_table: true,
            max_message_bytes: 15 << 20,
            max_batch_bytes: 15 << 20,
            retry: None,
            operation_timeout: None,
            delete_batch_size: 1000,
            activity_index: false,
            ttl: None,
        }
    }
}

impl HistoryOptions {
    /// Sets `table_name`.
    ///
    /// ```
    /// # use langchain_cockroachdb::HistoryOptions;
    /// assert_eq!(HistoryOptions::default().table_name("chats").table_name, "chats");
    /// ```
    pub fn table_name(mut self, table_name: impl Into<String>) -> Self {
        self.table_name = table_name.into();
        self
    }

    /// Sets `schema`.
    ///
    /// ```
    /// # use langchain_cockroachdb::HistoryOptions;
    /// assert_eq!(HistoryOptions::default().schema("app").schema, "app");
    /// ```
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// Sets `create_table`.
    ///
    /// ```
    /// # use langchain_cockroachdb::HistoryOptions;
    /// assert!(!HistoryOptions::default().create_table(false).create_table);
    /// ```
    pub fn create_table(mut self, create_table: bool) -> Self {
        self.create_table = create_table;
        self
    }

    /// Sets `max_message_bytes`.
    ///
    /// ```
    /// # use langchain_cockroachdb::HistoryOptions;
    /// assert_eq!(HistoryOptions::default().max_message_bytes(1 << 20).max_message_bytes, 1 << 20);
    /// ```
    pub fn max_message_bytes(mut self, max_message_bytes: usize) -> Self {
        self.max_message_bytes = max_message_bytes;
        self
    }

    /// Sets `max_batch_bytes`.
    ///
    /// ```
    /// # use langchain_cockroachdb::HistoryOptions;
    /// assert_eq!(HistoryOptions::default().max_batch_bytes(1 << 20).max_batch_bytes, 1 << 20);
    /// ```
    pub fn max_batch_bytes(mut self, max_batch_bytes: usize) -> Self {
        self.max_batch_bytes = max_batch_bytes;
        self
    }

    /// Sets `operation_timeout`: this history's deadline instead of the engine's.
    ///
    /// ```
    /// # use langchain_cockroachdb::HistoryOptions;
    /// # use std::time::Duration;
    /// let options = HistoryOptions::default().operation_timeout(Duration::from_secs(5));
    /// assert_eq!(options.operation_timeout, Some(Duration::from_secs(5)));
    /// ```
    pub fn operation_timeout(mut self, operation_timeout: Duration) -> Self {
        self.operation_timeout = Some(operation_timeout);
        self
    }

    /// Sets `retry`: this history's policy instead of the engine's.
    ///
    /// ```
    /// # use langchain_cockroachdb::{HistoryOptions, RetryPolicy};
    /// assert_eq!(HistoryOptions::default().retry(RetryPolicy::none()).retry, Some(RetryPolicy::none()));
    /// ```
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = Some(retry);
        self
    }

    /// Sets `delete_batch_size`.
    ///
    /// ```
    /// # use langchain_cockroachdb::HistoryOptions;
    /// assert_eq!(HistoryOptions::default().delete_batch_size(500).delete_batch_size, 500);
    /// ```
    pub fn delete_batch_size(mut self, delete_batch_size: usize) -> Self {
        self.delete_batch_size = delete_batch_size;
        self
    }

    /// Sets `activity_index`.
    ///
    /// ```
    /// # use langchain_cockroachdb::HistoryOptions;
    /// assert!(HistoryOptions::default().activity_index(true).activity_index);
    /// ```
    pub fn activity_index(mut self, activity_index: bool) -> Self {
        self.activity_index = activity_index;
        self
    }

    /// Sets `ttl`: CockroachDB deletes rows this long after they were written.
    ///
    /// ```
    /// # use langchain_cockroachdb::HistoryOptions;
    /// # use std::time::Duration;
    /// let options = HistoryOptions::default().ttl(Duration::from_secs(30 * 24 * 3600));
    /// assert_eq!(options.ttl, Some(Duration::from_secs(2_592_000)));
    /// ```
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Checks the table and schema names without touching a database.
    ///
    /// ```
    /// # use langchain_cockroachdb::HistoryOptions;
    /// assert!(HistoryOptions::default().validate().is_ok());
    /// assert!(HistoryOptions::default().schema("my-schema").validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<()> {
        self.names().map(drop)
    }

    /// The checked schema and table names.
    pub(crate) fn names(&self) -> Result<(Ident, Ident)> {
        Ok((
            Ident::new("schema name", &self.schema)?,
            Ident::new("table name", &self.table_name)?,
        ))
    }
}

/// Pool and connection settings of an engine.
///
/// ```
/// use std::time::Duration;
/// use langchain_cockroachdb::EngineOptions;
///
/// let options = EngineOptions::default().pool_size(20);
/// assert_eq!(options.connect_timeout, Duration::from_secs(5));
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
#[must_use]
pub struct EngineOptions {
    /// Most connections the pool opens (default 10).
    pub pool_size: u32,
    /// How long opening one connection may take (default 5 s), unless the
    /// connection string sets `connect_timeout`.
    pub connect_timeout: Duration,
    /// How long an operation waits for a free pooled connection (default 10 s).
    pub checkout_timeout: Duration,
    /// Close connections idle this long (default 10 min).
    pub idle_timeout: Option<Duration>,
    /// Close connections this old (default 30 min), so that a pool spreads
    /// again over a cluster's nodes after one restarts or joins.
    pub max_lifetime: Option<Duration>,
    /// Retries of operations that failed in a way that is safe to repeat.
    pub retry: RetryPolicy,
    /// The deadline of one operation (default 30 s): waiting for a
    /// connection, the statement, and any retries together. When it passes
    /// the operation returns [`Error::Timeout`](crate::Error::Timeout) and
    /// the connection it ran on is discarded. Batch jobs (cleanups, export,
    /// import) apply it to each batch. Connections also use TCP keepalives
    /// and a TCP user timeout of the same length.
    pub operation_timeout: Duration,
    /// The largest protocol message this engine sends, in bytes (default
    /// `None`: the server's, CockroachDB's default 16 MiB or PostgreSQL's
    /// 1 GiB). CockroachDB refuses a larger one with `08P01` and closes the
    /// connection; set this to the cluster's
    /// `sql.conn.max_read_buffer_message_size` where it was changed. Each
    /// statement is measured before it is sent: one that does not fit is
    /// [`Error::TooLarge`] and nothing is sent (an `add_messages` batch is
    /// atomic, so it is refused whole), while merged writes and import
    /// batches are cut to fit.
    pub max_protocol_message_bytes: Option<usize>,
    /// How often the engine's watches look at their sessions without being
    /// told to (`None`: 5 s on PostgreSQL, where this crate's writes notify
    /// them and this catches what other programs write; 1 s on
    /// CockroachDB, which has no notifications). One statement per watched
    /// table, however many watches; at least 10 ms.
    pub watch_poll_interval: Option<Duration>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            pool_size: 10,
            connect_timeout: Duration::from_secs(5),
            checkout_timeout: Duration::from_secs(10),
            idle_timeout: Some(Duration::from_secs(600)),
            max_lifetime: Some(Duration::from_secs(1800)),
            retry: RetryPolicy::default(),
            operation_timeout: Duration::from_secs(30),
            max_protocol_message_bytes: None,
            watch_poll_interval: None,
        }
    }
}

impl EngineOptions {
    /// Refuses values no pool can work with (the pools panic on them).
    pub(crate) fn check(&self) -> Result<()> {
        let zero = |what: &str| Err(Error::Config(format!("{what} must be more than zero")));
        if self.pool_size == 0 {
            return Err(Error::Config("pool_size must be at least 1".into()));
        }
        if self.connect_timeout.is_zero() {
            return zero("connect_timeout");
        }
        if self.checkout_timeout.is_zero() {
            return zero("checkout_timeout");
        }
        if self.idle_timeout.is_some_and(|t| t.is_zero()) {
            return zero("idle_timeout");
        }
        if self.max_lifetime.is_some_and(|t| t.is_zero()) {
            return zero("max_lifetime");
        }
        if self
            .watch_poll_interval
            .is_some_and(|t| t < Duration::from_millis(10))
        {
            return Err(Error::Config(
                "watch_poll_interval must be at least 10 ms".into(),
            ));
        }
        if self.max_protocol_message_bytes.is_some_and(|n| n < 1 << 10) {
            return Err(Error::Config(
                "max_protocol_message_bytes must be at least 1 KiB (CockroachDB's own minimum is higher)"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Sets `operation_timeout`.
    ///
    /// ```
    /// # use langchain_cockroachdb::EngineOptions;
    /// # use std::time::Duration;
    /// let options = EngineOptions::default().operation_timeout(Duration::from_secs(5));
    /// assert_eq!(options.operation_timeout, Duration::from_secs(5));
    /// ```
    pub fn operation_timeout(mut self, operation_timeout: Duration) -> Self {
        self.operation_timeout = operation_timeout;
        self
    }

    /// Sets `pool_size`.
    ///
    /// ```
    /// # use langchain_cockroachdb::EngineOptions;
    /// assert_eq!(EngineOptions::default().pool_size(4).pool_size, 4);
    /// ```
    pub fn pool_size(mut self, pool_size: u32) -> Self {
        self.pool_size = pool_size;
        self
    }

    /// Sets `connect_timeout`.
    ///
    /// ```
    /// # use langchain_cockroachdb::EngineOptions;
    /// # use std::time::Duration;
    /// let options = EngineOptions::default().connect_timeout(Duration::from_secs(2));
    /// assert_eq!(options.connect_timeout, Duration::from_secs(2));
    /// ```
    pub fn connect_timeout(mut self, connect_timeout: Duration) -> Self {
        self.connect_timeout = connect_timeout;
        self
    }

    /// Sets `checkout_timeout`.
    ///
    /// ```
    /// # use langchain_cockroachdb::EngineOptions;
    /// # use std::time::Duration;
    /// let options = EngineOptions::default().checkout_timeout(Duration::from_secs(1));
    /// assert_eq!(options.checkout_timeout, Duration::from_secs(1));
    /// ```
    pub fn checkout_timeout(mut self, checkout_timeout: Duration) -> Self {
        self.checkout_timeout = checkout_timeout;
        self
    }

    /// Sets `idle_timeout` (`None`: keep idle connections).
    ///
    /// ```
    /// # use langchain_cockroachdb::EngineOptions;
    /// assert_eq!(EngineOptions::default().idle_timeout(None).idle_timeout, None);
    /// ```
    pub fn idle_timeout(mut self, idle_timeout: Option<Duration>) -> Self {
        self.idle_timeout = idle_timeout;
        self
    }

    /// Sets `max_lifetime` (`None`: keep connections however old).
    ///
    /// ```
    /// # use langchain_cockroachdb::EngineOptions;
    /// assert_eq!(EngineOptions::default().max_lifetime(None).max_lifetime, None);
    /// ```
    pub fn max_lifetime(mut self, max_lifetime: Option<Duration>) -> Self {
        self.max_lifetime = max_lifetime;
        self
    }

    /// Sets `max_protocol_message_bytes`, for a CockroachDB cluster whose
    /// `sql.conn.max_read_buffer_message_size` is not the default.
    ///
    /// ```
    /// # use langchain_cockroachdb::EngineOptions;
    /// let options = EngineOptions::default().max_protocol_message_bytes(64 << 20);
    /// assert_eq!(options.max_protocol_message_bytes, Some(64 << 20));
    /// ```
    pub fn max_protocol_message_bytes(mut self, bytes: usize) -> Self {
        self.max_protocol_message_bytes = Some(bytes);
        self
    }

    /// Sets `watch_poll_interval`.
    ///
    /// ```
    /// # use langchain_cockroachdb::EngineOptions;
    /// # use std::time::Duration;
    /// let options = EngineOptions::default().watch_poll_interval(Duration::from_secs(2));
    /// assert_eq!(options.watch_poll_interval, Some(Duration::from_secs(2)));
    /// ```
    pub fn watch_poll_interval(mut self, interval: Duration) -> Self {
        self.watch_poll_interval = Some(interval);
        self
    }

    /// Sets `retry`.
    ///
    /// ```
    /// # use langchain_cockroachdb::{EngineOptions, RetryPolicy};
    /// assert_eq!(EngineOptions::default().retry(RetryPolicy::none()).retry.max_attempts, 1);
    /// ```
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }
}

/// Which sessions to list: at most `limit`, optionally only ids starting
/// with `prefix` (`"user-123:"` finds all of one user's conversations).
///
/// ```
/// use langchain_cockroachdb::SessionFilter;
///
/// let filter = SessionFilter::default().prefix("user-123:").limit(20);
/// assert_eq!(filter.limit, 20);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[must_use]
pub struct SessionFilter {
    /// Only session ids that start with this (default: all).
    pub prefix: Option<String>,
    /// At most this many, newest activity first (default 100).
    pub limit: usize,
    /// Only sessions with a message stored at or after this time ("active
    /// in the last day"). With the table's activity index, only those rows
    /// are read to find them.
    pub since: Option<time::OffsetDateTime>,
}

impl Default for SessionFilter {
    fn default() -> Self {
        SessionFilter {
            prefix: None,
            limit: 100,
            since: None,
        }
    }
}

impl SessionFilter {
    /// Sets `prefix`.
    ///
    /// ```
    /// # use langchain_cockroachdb::SessionFilter;
    /// assert_eq!(SessionFilter::default().prefix("user-1:").prefix.as_deref(), Some("user-1:"));
    /// ```
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// Sets `limit`.
    ///
    /// ```
    /// # use langchain_cockroachdb::SessionFilter;
    /// assert_eq!(SessionFilter::default().limit(10).limit, 10);
    /// ```
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// Sets `since`.
    ///
    /// ```
    /// # use langchain_cockroachdb::SessionFilter;
    /// use langchain_cockroachdb::time::{Duration, OffsetDateTime};
    /// let active_today = SessionFilter::default().since(OffsetDateTime::now_utc() - Duration::days(1));
    /// assert!(active_today.since.is_some());
    /// ```
    pub fn since(mut self, since: time::OffsetDateTime) -> Self {
        self.since = Some(since);
        self
    }
}
