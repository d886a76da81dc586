//! What the blocking and the async face share beyond the core: the I/O
//! control flow, written once as a template that each face expands with
//! its own driver and pool, and the process-wide registry of engines.
//!
//! The template is plain `async` Rust. The async face expands it as it is;
//! the blocking face expands it under `maybe_async::must_be_sync`, which
//! drops `async` and `.await`. Neither reads maybe-async's `is_sync`
//! feature, so both faces can be compiled into one program.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Instant;

use crate::error::{Error, Result};

/// The I/O of one face. Expects in scope: `Client` (the driver's client),
/// `PgManager` (its pool manager) and `manager(config, tls)` making one, `Pool`, `Pooled` (a checked-out
/// connection), `checkout(&Pool, Duration)`, `open(&PgManager, Duration)`,
/// `pause(Duration)`, `read_line` and `write_all` (export and import), and
/// the pool crate's `ManageConnection` trait. `$face` is
/// `maybe_async::must_be_sync` or `maybe_async::must_be_async(AFIT)`;
/// `reader`/`writer` are the bounds of export and import streams.
macro_rules! io_template {
    ($face:meta, reader: [$($reader:tt)+], writer: [$($writer:tt)+]) => {
        /// A pooled connection with its prepared statements.
        pub(crate) struct Connection {
            client: Client,
            statements: $crate::sql::StatementCache,
        }

        /// Opens pooled connections, keeping the cause of the last failure
        /// so that a checkout timeout can say why no connection came.
        pub(crate) struct Manager {
            inner: PgManager,
            connect_timeout: ::std::time::Duration,
            errors: ::std::sync::Arc<$crate::shell::ConnectErrors>,
        }

        #[$face]
        impl ManageConnection for Manager {
            type Connection = Connection;
            type Error = $crate::shell::ConnectFailure;

            async fn connect(&self) -> ::std::result::Result<Connection, Self::Error> {
                match open(&self.inner, self.connect_timeout).await {
                    Ok(client) => Ok(Connection {
                        client,
                        statements: Default::default(),
                    }),
                    Err(failure) => {
                        self.errors.record(&failure);
                        Err(failure)
                    }
                }
            }

            async fn is_valid(
                &self,
                conn: &mut Connection,
            ) -> ::std::result::Result<(), Self::Error> {
                conn.client
                    .simple_query("")
                    .await
                    .map(drop)
                    .map_err(|e| $crate::shell::ConnectFailure::from(&e))
            }

            fn has_broken(&self, conn: &mut Connection) -> bool {
                conn.client.is_closed()
            }
        }

        #[$face]
        impl Connection {
            async fn run(
                &mut self,
                request: &$crate::sql::Request<'_>,
            ) -> $crate::Result<Vec<::tokio_postgres::Row>> {
                match request {
                    $crate::sql::Request::Batch(sql) => {
                        self.client.batch_execute(sql).await?;
                        Ok(Vec::new())
                    }
                    $crate::sql::Request::Statement(sql, params) => {
                        let statement = self.prepare(sql).await?;
                        Ok(self.client.query(&statement, params).await?)
                    }
                }
            }

            async fn prepare(&mut self, sql: &str) -> $crate::Result<::tokio_postgres::Statement> {
                if let Some(statement) = self.statements.get(sql) {
                    return Ok(statement);
                }
                let statement = self.client.prepare(sql).await?;
                self.statements.insert(sql, statement.clone());
                Ok(statement)
            }
        }

        /// An engine's state, shared by its clones and histories.
        pub(crate) struct Shared {
            pool: Pool,
            config: $crate::ConnectionConfig,
            options: $crate::EngineOptions,
            errors: ::std::sync::Arc<$crate::shell::ConnectErrors>,
            retries: ::std::sync::atomic::AtomicU64,
        }

        #[$face]
        impl Shared {
            fn new(
                config: $crate::ConnectionConfig,
                options: $crate::EngineOptions,
            ) -> $crate::Result<Shared> {
                if options.pool_size == 0 {
                    return Err($crate::Error::Config("pool_size must be at least 1".into()));
                }
                let errors = ::std::sync::Arc::default();
                let (driver_config, tls) = config.driver(options.connect_timeout)?;
                let manager = Manager {
                    connect_timeout: options.connect_timeout,
                    inner: manager(driver_config, tls),
                    errors: ::std::sync::Arc::clone(&errors),
                };
                // No check on checkout: it would cost a round trip per
                // operation. A connection that died in the pool fails its
                // statement, which is then retried on a fresh one.
                let pool = Pool::builder()
                    .max_size(options.pool_size)
                    .min_idle(Some(0))
                    .test_on_check_out(false)
                    .connection_timeout(options.checkout_timeout)
                    .idle_timeout(options.idle_timeout)
                    .max_lifetime(options.max_lifetime)
                    .build_unchecked(manager);
                Ok(Shared {
                    pool,
                    config,
                    options,
                    errors,
                    retries: Default::default(),
                })
            }

            /// Runs `request` for `table`: creates the table first when this
            /// process has not yet, and retries what is safe to retry.
            async fn run(
                &self,
                table: &$crate::sql::Table,
                retry: $crate::RetryPolicy,
                request: &$crate::sql::Request<'_>,
            ) -> $crate::Result<Vec<::tokio_postgres::Row>> {
                let mut attempts = $crate::retry::Attempts::new(retry, self.options.pool_size);
                loop {
                    let creating = !request.is_batch() && table.needs_create();
                    let step = if creating {
                        &$crate::sql::Request::Batch(&table.sql.create)
                    } else {
                        request
                    };
                    let err = match self.connection().await {
                        Ok(mut conn) => match conn.run(step).await {
                            Ok(_) if creating => {
                                table.mark_created();
                                continue;
                            }
                            Ok(rows) => return Ok(rows),
                            Err(err) => err,
                        },
                        Err(err) => err,
                    };
                    match attempts.after_error(&err, table, creating || request.is_batch()) {
                        Some(wait) => {
                            self.retries
                                .fetch_add(1, ::std::sync::atomic::Ordering::Relaxed);
                            pause(wait).await
                        }
                        None => return Err(err),
                    }
                }
            }

            /// The table `options` names, in this engine's database.
            fn table(
                &self,
                options: &$crate::HistoryOptions,
            ) -> $crate::Result<$crate::sql::Table> {
                $crate::sql::Table::new(&self.config.identity(), options)
            }

            /// A history's state: its session in the table `options` names.
            fn session(
                &self,
                session_id: String,
                options: &$crate::HistoryOptions,
            ) -> $crate::Result<$crate::sql::Session> {
                $crate::sql::Session::new(
                    session_id,
                    self.table(options)?,
                    options,
                    self.options.retry,
                )
            }

            /// A pooled connection. Pools keep trying to open connections
            /// until the checkout timeout; waiting in growing slices lets a
            /// failed attempt be reported soon, with its cause, instead.
            /// (A slice may start one more connection while the pool is
            /// below its size; it stays pooled.)
            async fn connection(&self) -> $crate::Result<Pooled<'_>> {
                let started = ::std::time::Instant::now();
                let mut slice = ::std::time::Duration::from_millis(20);
                loop {
                    if let Some(conn) = checkout(&self.pool, slice).await {
                        return Ok(conn);
                    }
                    if let Some(err) = self.errors.failure_since(started, &self.config.target()) {
                        return Err(err);
                    }
                    let left = self
                        .options
                        .checkout_timeout
                        .saturating_sub(started.elapsed());
                    if left.is_zero() {
                        return Err($crate::Error::PoolTimeout(self.options.checkout_timeout));
                    }
                    slice = (slice * 2).min(self.options.connect_timeout).min(left);
                }
            }

            /// Creates the table `options` names (and its schema and index)
            /// if missing.
            async fn create_table(&self, options: &$crate::HistoryOptions) -> $crate::Result<()> {
                let table = self.table(options)?;
                let create = $crate::sql::Request::Batch(&table.sql.create);
                self.run(&table, self.options.retry, &create).await?;
                table.mark_created();
                Ok(())
            }

            /// Drops the table `options` names, if it exists.
            async fn drop_table(&self, options: &$crate::HistoryOptions) -> $crate::Result<()> {
                let table = self.table(options)?;
                let drop = $crate::sql::Request::Batch(&table.sql.drop);
                self.run(&table, self.options.retry, &drop).await?;
                table.forget();
                Ok(())
            }

            /// The guide's troubleshooting check: `SELECT 1` on a pooled connection.
            async fn ping(&self) -> $crate::Result<()> {
                let mut conn = self.connection().await?;
                conn.run(&$crate::sql::Request::Batch("SELECT 1"))
                    .await
                    .map(drop)
            }

            fn pool_state(&self) -> $crate::PoolState {
                let state = self.pool.state();
                $crate::PoolState {
                    connections: state.connections,
                    idle: state.idle_connections,
                    retries: self.retries.load(::std::sync::atomic::Ordering::Relaxed),
                }
            }
        }

        /// The operations of histories and engines, each written once.
        #[$face]
        impl Shared {
            async fn add_messages(&self, session: &$crate::sql::Session, messages: &[$crate::Message]) -> $crate::Result<()> {
                let batch = session.batch(messages)?;
                if !batch.is_empty() {
                    self.run(&session.table, session.retry, &session.insert_request(&batch)).await?;
                }
                Ok(())
            }

            async fn messages(&self, session: &$crate::sql::Session) -> $crate::Result<Vec<$crate::Message>> {
                let rows = self.run(&session.table, session.retry, &session.select_request()).await?;
                $crate::sql::decode_messages(&rows)
            }

            async fn entries(&self, session: &$crate::sql::Session) -> $crate::Result<Vec<$crate::StoredMessage>> {
                let rows = self.run(&session.table, session.retry, &session.entries_request()).await?;
                $crate::stored::decode_entries(&rows, Some(&session.id))
            }

            async fn last_messages(&self, session: &$crate::sql::Session, n: usize) -> $crate::Result<Vec<$crate::Message>> {
                let n = $crate::sql::limit(n);
                let rows = self.run(&session.table, session.retry, &session.last_request(&n)).await?;
                $crate::sql::decode_messages(&rows)
            }

            async fn message_count(&self, session: &$crate::sql::Session) -> $crate::Result<u64> {
                let rows = self.run(&session.table, session.retry, &session.count_request()).await?;
                let count: i64 = match rows.first() {
                    Some(row) => row.try_get(0)?,
                    None => 0,
                };
                Ok(count.unsigned_abs())
            }

            async fn messages_since(
                &self,
                session: &$crate::sql::Session,
                since: ::time::OffsetDateTime,
            ) -> $crate::Result<Vec<$crate::Message>> {
                let rows = self.run(&session.table, session.retry, &session.since_request(&since)).await?;
                $crate::sql::decode_messages(&rows)
            }

            async fn messages_page(
                &self,
                session: &$crate::sql::Session,
                cursor: Option<&$crate::PageCursor>,
                size: usize,
            ) -> $crate::Result<$crate::Page> {
                if size == 0 {
                    return Err($crate::Error::Config("a page holds at least one message".into()));
                }
                let limit = $crate::sql::limit(size);
                let rows = self.run(&session.table, session.retry, &session.page_request(cursor, &limit)).await?;
                $crate::Page::from_rows(&rows, &session.id, size)
            }

            async fn delete_ids(&self, session: &$crate::sql::Session, ids: &Vec<::uuid::Uuid>) -> $crate::Result<u64> {
                if ids.is_empty() {
                    return Ok(0);
                }
                let rows = self.run(&session.table, session.retry, &session.delete_ids_request(ids)).await?;
                Ok(rows.len() as u64)
            }

            /// Finds the newest `n` first and then deletes those rows by id,
            /// so that a retry cannot delete more than `n`.
            async fn delete_last(&self, session: &$crate::sql::Session, n: usize) -> $crate::Result<u64> {
                let n = $crate::sql::limit(n);
                let rows = self.run(&session.table, session.retry, &session.newest_ids_request(&n)).await?;
                let ids = rows.iter().map(|row| row.try_get(0)).collect::<::std::result::Result<Vec<_>, _>>()?;
                self.delete_ids(session, &ids).await
            }

            async fn clear(&self, session: &$crate::sql::Session) -> $crate::Result<()> {
                self.run(&session.table, session.retry, &session.clear_request()).await.map(drop)
            }

            async fn list_sessions(
                &self,
                options: &$crate::HistoryOptions,
                filter: &$crate::SessionFilter,
            ) -> $crate::Result<Vec<$crate::SessionInfo>> {
                let table = self.table(options)?;
                let (range, limit) = ($crate::sql::session_range(filter), $crate::sql::limit(filter.limit));
                let rows = self.run(&table, self.options.retry, &table.sessions_request(&range, &limit)).await?;
                $crate::stored::decode_sessions(&rows)
            }

            /// The server's time `age` ago: one clock for the whole cleanup.
            async fn cutoff(
                &self,
                table: &$crate::sql::Table,
                age: ::std::time::Duration,
                batch: usize,
            ) -> $crate::Result<$crate::sql::Cutoff> {
                let seconds = age.as_secs_f64();
                let rows = self.run(table, self.options.retry, &table.cutoff_request(&seconds)).await?;
                let at = match rows.first() {
                    Some(row) => row.try_get(0)?,
                    None => return Err($crate::Error::Config("the server returned no time".into())),
                };
                Ok($crate::sql::Cutoff { at, batch: $crate::sql::limit(batch.max(1)) })
            }

            /// Runs a bounded `DELETE ... RETURNING id` until it deletes nothing.
            async fn delete_in_batches(
                &self,
                table: &$crate::sql::Table,
                request: &$crate::sql::Request<'_>,
            ) -> $crate::Result<u64> {
                let mut total = 0;
                loop {
                    let deleted = self.run(table, self.options.retry, request).await?.len() as u64;
                    total += deleted;
                    if deleted == 0 {
                        return Ok(total);
                    }
                }
            }

            async fn delete_messages_older_than(
                &self,
                options: &$crate::HistoryOptions,
                age: ::std::time::Duration,
            ) -> $crate::Result<u64> {
                let table = self.table(options)?;
                let cutoff = self.cutoff(&table, age, options.delete_batch_size).await?;
                self.delete_in_batches(&table, &table.delete_old_request(&cutoff)).await
            }

            async fn delete_sessions_idle_since(
                &self,
                options: &$crate::HistoryOptions,
                idle: ::std::time::Duration,
            ) -> $crate::Result<u64> {
                let table = self.table(options)?;
                let cutoff = self.cutoff(&table, idle, options.delete_batch_size).await?;
                let mut total = 0;
                loop {
                    let rows = self.run(&table, self.options.retry, &table.idle_sessions_request(&cutoff)).await?;
                    let sessions = rows.iter().map(|row| row.try_get(0)).collect::<::std::result::Result<Vec<String>, _>>()?;
                    if sessions.is_empty() {
                        return Ok(total);
                    }
                    total += self.delete_in_batches(&table, &table.delete_idle_request(&sessions, &cutoff)).await?;
                }
            }

            async fn export<W: $($writer)+>(
                &self,
                table: &$crate::sql::Table,
                retry: $crate::RetryPolicy,
                mut scan: $crate::sql::ExportScan,
                out: &mut W,
            ) -> $crate::Result<u64> {
                let mut total = 0;
                while let Some(request) = scan.request(table) {
                    let rows = self.run(table, retry, &request).await?;
                    drop(request);
                    let (lines, count) = scan.advance(&rows)?;
                    write_all(out, lines.as_bytes()).await?;
                    total += count;
                }
                Ok(total)
            }

            async fn export_prefix<W: $($writer)+>(
                &self,
                options: &$crate::HistoryOptions,
                prefix: Option<&str>,
                out: &mut W,
            ) -> $crate::Result<u64> {
                let table = self.table(options)?;
                self.export(&table, self.options.retry, $crate::sql::ExportScan::prefix(prefix), out).await
            }

            async fn export_session<W: $($writer)+>(&self, session: &$crate::sql::Session, out: &mut W) -> $crate::Result<u64> {
                let scan = $crate::sql::ExportScan::session(&session.id);
                self.export(&session.table, session.retry, scan, out).await
            }

            async fn import<R: $($reader)+>(&self, options: &$crate::HistoryOptions, input: &mut R) -> $crate::Result<u64> {
                let table = self.table(options)?;
                let mut batch = $crate::sql::ImportBatch::default();
                let (mut line, mut number, mut inserted) = (String::new(), 0, 0);
                loop {
                    line.clear();
                    let read = read_line(input, &mut line).await?;
                    if read > 0 {
                        number += 1;
                        batch.push_line(&line, number, options.max_message_bytes)?;
                    }
                    if batch.len() >= $crate::sql::ImportBatch::SIZE || (read == 0 && batch.len() > 0) {
                        inserted += self.run(&table, self.options.retry, &batch.request(&table)).await?.len() as u64;
                        batch.clear();
                    }
                    if read == 0 {
                        return Ok(inserted);
                    }
                }
            }
        }
    };
}
pub(crate) use io_template;

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
