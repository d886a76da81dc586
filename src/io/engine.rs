//! The engine both faces share: pooled connections with their prepared
//! statements, and the loop that runs one request with table creation and
//! retries. Written once as `async` Rust; each face compiles this file as
//! its own module (see `src/blocking/mod.rs` and `src/nonblocking/mod.rs`),
//! with `#[face]` turning it into blocking or async code and `super`
//! providing the face's driver, pool and sleep.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio_postgres::{Row, Statement};

use crate::catalog::{Session, Table};
use crate::config::ConnectionConfig;
use crate::error::{Error, Result};
use crate::options::{EngineOptions, HistoryOptions, RetryPolicy};
use crate::pool::{ConnectErrors, ConnectFailure, PoolState};
use crate::retry::Attempts;
use crate::sql::{self, Request};

use super::{Client, ManageConnection, PgManager, Pool, checkout, face, manager, open, pause};

/// A pooled connection with its prepared statements, by text and table:
/// after its first use a statement costs one round trip, not two.
pub(crate) struct Connection {
    client: Client,
    statements: HashMap<(&'static str, Arc<str>), Statement>,
}

#[face(AFIT)]
impl Connection {
    /// Statements without parameters, as one simple query.
    async fn batch(&mut self, sql: &str) -> Result<()> {
        Ok(self.client.batch_execute(sql).await?)
    }

    async fn run(&mut self, table: &Table, request: &Request<'_>) -> Result<Vec<Row>> {
        match request {
            Request::Batch(sql) => self.batch(sql).await.map(|()| Vec::new()),
            Request::Statement(text, params) => {
                let key = (*text, Arc::clone(table.qualified()));
                let statement = match self.statements.get(&key) {
                    Some(statement) => statement.clone(),
                    None => {
                        let statement = self.client.prepare(&sql::render(text, table)).await?;
                        self.statements.insert(key, statement.clone());
                        statement
                    }
                };
                Ok(self.client.query(&statement, params).await?)
            }
        }
    }
}

/// Opens pooled connections, keeping the cause of the last failure so that
/// a checkout timeout can say why no connection came.
pub(crate) struct Manager {
    inner: PgManager,
    connect_timeout: Duration,
    errors: Arc<ConnectErrors>,
}

#[face(AFIT)]
impl ManageConnection for Manager {
    type Connection = Connection;
    type Error = ConnectFailure;

    async fn connect(&self) -> std::result::Result<Connection, ConnectFailure> {
        match open(&self.inner, self.connect_timeout).await {
            Ok(client) => Ok(Connection {
                client,
                statements: HashMap::new(),
            }),
            Err(failure) => {
                self.errors.record(&failure);
                Err(failure)
            }
        }
    }

    async fn is_valid(&self, conn: &mut Connection) -> std::result::Result<(), ConnectFailure> {
        conn.client
            .simple_query("")
            .await
            .map(drop)
            .map_err(|e| ConnectFailure::from(&e))
    }

    fn has_broken(&self, conn: &mut Connection) -> bool {
        conn.client.is_closed()
    }
}

/// An engine's state, shared by its clones and histories.
pub(crate) struct Shared {
    pool: Pool,
    pub(crate) config: ConnectionConfig,
    options: EngineOptions,
    errors: Arc<ConnectErrors>,
    retries: AtomicU64,
}

#[face(AFIT)]
impl Shared {
    pub(crate) fn new(config: ConnectionConfig, options: EngineOptions) -> Result<Shared> {
        if options.pool_size == 0 {
            return Err(Error::Config("pool_size must be at least 1".into()));
        }
        let errors = Arc::default();
        let (driver_config, tls) = crate::tls::driver(&config, options.connect_timeout)?;
        let manager = Manager {
            connect_timeout: options.connect_timeout,
            inner: manager(driver_config, tls),
            errors: Arc::clone(&errors),
        };
        // No check on checkout: it would cost a round trip per operation. A
        // connection that died in the pool fails its statement, which is
        // then retried on a fresh one.
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
            retries: AtomicU64::new(0),
        })
    }

    /// Runs `request` on `table`: creates the table first when this process
    /// has not yet, and retries what is safe to retry.
    pub(crate) async fn run(
        &self,
        table: &Table,
        retry: RetryPolicy,
        request: &Request<'_>,
    ) -> Result<Vec<Row>> {
        let mut attempts = Attempts::new(retry, self.options.pool_size);
        loop {
            let creating = !request.is_batch() && table.needs_create();
            let create;
            let step = if creating {
                create = sql::ddl::create(table);
                &create
            } else {
                request
            };
            let err = match self.connection().await {
                Ok(mut conn) => match conn.run(table, step).await {
                    Ok(_) if creating => {
                        table.mark_created();
                        continue;
                    }
                    Ok(rows) => return Ok(rows),
                    Err(err) => err,
                },
                Err(err) => err,
            };
            let ddl = creating || request.is_batch();
            let wait = if !ddl && table.was_dropped(&err) {
                // Dropped behind this process's back: create it again, at once.
                table.forget();
                attempts.again_now()
            } else {
                attempts.after_error(&err, ddl)
            };
            match wait {
                Some(wait) => {
                    self.retries.fetch_add(1, Ordering::Relaxed);
                    pause(wait).await
                }
                None => return Err(err),
            }
        }
    }

    /// The table `options` names, in this engine's database.
    pub(crate) fn table(&self, options: &HistoryOptions) -> Result<Table> {
        Table::new(&self.config.identity(), options)
    }

    /// A history's state: its session in the table `options` names.
    pub(crate) fn session(&self, session_id: String, options: &HistoryOptions) -> Result<Session> {
        Session::new(
            session_id,
            self.table(options)?,
            options,
            self.options.retry,
        )
    }

    /// The engine's default retry policy.
    pub(crate) fn retry(&self) -> RetryPolicy {
        self.options.retry
    }

    /// A pooled connection. Pools keep trying to open connections until the
    /// checkout timeout; waiting in growing slices lets a failed attempt be
    /// reported soon, with its cause, instead. (A slice may start one more
    /// connection while the pool is below its size; it stays pooled.)
    async fn connection(&self) -> Result<impl std::ops::DerefMut<Target = Connection> + '_> {
        let started = Instant::now();
        let mut slice = Duration::from_millis(20);
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
                return Err(Error::PoolTimeout(self.options.checkout_timeout));
            }
            slice = (slice * 2).min(self.options.connect_timeout).min(left);
        }
    }

    /// The guide's troubleshooting check: `SELECT 1` on a pooled connection.
    pub(crate) async fn ping(&self) -> Result<()> {
        self.connection().await?.batch("SELECT 1").await
    }

    pub(crate) fn pool_state(&self) -> PoolState {
        let state = self.pool.state();
        PoolState {
            connections: state.connections,
            idle: state.idle_connections,
            retries: self.retries.load(Ordering::Relaxed),
        }
    }
}
