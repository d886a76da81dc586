//! The engine both faces share: pooled connections with their prepared
//! statements, and the loop that runs one request with table creation and
//! retries. Written once as `async` Rust; each face compiles this file as
//! its own module (see `src/blocking/mod.rs` and `src/nonblocking/mod.rs`),
//! with `#[face]` turning it into blocking or async code, and the face's
//! `Face` providing the driver, the pool, the sleep and the deadline
//! through the traits of `face.rs`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use tokio_postgres::{Row, Statement};

use crate::config::ConnectionConfig;
use crate::connect::{Deadline, Tls};
use crate::error::{Error, Result};
use crate::hub::Hub;
use crate::options::{EngineOptions, HistoryOptions};
use crate::pool::{ConnectErrors, ConnectFailure, Counters, PoolState};
use crate::report::ServerKind;
use crate::retry::{Call, Failure, Policy, Tries};
use crate::rows;
use crate::sql::{self, Kind, Request, ddl, wire};
use crate::table::{Session, Table};
use crate::trace;

use super::driver::Face;
use super::mode::face;
use super::face::{Bounded, Client, Connect, Driver, PoolSettings, Statements};

/// The engine's pool, as the face makes it.
type Pool = <Face as Driver>::Pool<Manager>;

/// Statements prepared on one connection, by text and table: after its
/// first use a statement costs one round trip, not two.
#[derive(Default)]
pub(crate) struct Prepared(HashMap<(&'static str, Arc<str>), Statement>);

#[face(AFIT)]
impl Prepared {
    /// Runs the statement `text` for `table` on `client`, which must be
    /// the connection every statement of this cache was prepared on. Each
    /// message is measured first: one over `limit`, which the server must
    /// refuse for its size, is never sent.
    pub(crate) async fn query<C: Statements>(
        &mut self,
        client: &mut C,
        table: &Table,
        text: &'static str,
        params: &[sql::Param<'_>],
        limit: usize,
    ) -> Result<Vec<Row>> {
        let key = (text, Arc::clone(table.statement_key()));
        let statement = match self.0.get(&key) {
            Some(statement) => statement.clone(),
            None => {
                let text = sql::render(text, table);
                let size = wire::text(&text, params.len());
                wire::check(|| "the statement's text".to_owned(), size, limit)?;
                let statement = client.prepare(&text).await?;
                self.0.insert(key, statement.clone());
                statement
            }
        };
        let verb = text.split_whitespace().next().unwrap_or("SQL");
        let what = || format!("the {verb} statement's parameters");
        wire::check(what, wire::bind_of(statement.params(), params), limit)?;
        client.query(&statement, params).await
    }
}

/// A pooled connection with its prepared statements.
pub(crate) struct Connection {
    client: <Face as Driver>::Client,
    statements: Prepared,
    /// Set while a request runs: a request abandoned at its deadline leaves
    /// it set, and the pool then discards the connection, whose reply may
    /// still be on its way.
    busy: bool,
    /// The deadline its stream enforces, where the face needs one.
    deadline: Option<Deadline>,
    /// The server the engine talks to, once a statement has asked.
    server: Arc<OnceLock<ServerKind>>,
    /// `EngineOptions::max_protocol_message_bytes`.
    max_message: Option<usize>,
    counters: Arc<Counters>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.counters.closed();
    }
}

#[face(AFIT)]
impl Connection {
    async fn run(
        &mut self,
        table: &Table,
        request: &Request<'_>,
        until: Instant,
    ) -> Result<Vec<Row>> {
        self.begin(until);
        let rows = match self.server(table).await {
            Err(err) => Err(err),
            Ok(_) => self.step(table, request).await,
        };
        self.end();
        rows
    }

    /// Which server the engine talks to: asked once per engine, by its
    /// first statement, within that statement's deadline (a peer that
    /// freezes right after the handshake cannot hang it).
    async fn server(&mut self, table: &Table) -> Result<ServerKind> {
        if let Some(server) = self.server.get() {
            return Ok(*server);
        }
        let version = self.query(table, ddl::VERSION.text, &[]).await?;
        let version = rows::decode_column::<String>(&version)?.concat();
        Ok(*self.server.get_or_init(|| ServerKind::of(&version)))
    }

    async fn step(&mut self, table: &Table, request: &Request<'_>) -> Result<Vec<Row>> {
        match request {
            Request::Batch(sql) => self.batch(sql).await.map(|()| Vec::new()),
            Request::Statement(sql, params) => {
                let text = sql.text_for(self.server(table).await?);
                self.query(table, text, params).await
            }
            Request::CreateTable => self.create_table(table).await.map(|()| Vec::new()),
            Request::IdOrder => match self.server(table).await? {
                ServerKind::CockroachDB => Ok(Vec::new()),
                ServerKind::PostgreSQL => {
                    let name = table.qualified().to_string();
                    self.query(table, ddl::ID_ORDER.text, &[&name]).await
                }
            },
            Request::Server => Ok(Vec::new()),
        }
    }

    /// The table, and its index unless it has the one older versions made;
    /// then what the options add, for the server it is (checked first, so
    /// that an option the server refuses changes nothing).
    async fn create_table(&mut self, table: &Table) -> Result<()> {
        let server = self.server(table).await?;
        let mut extra = Vec::new();
        if table.activity_index {
            extra.push(ddl::activity_index(table, server));
        }
        let ttl = match table.ttl {
            Some(ttl) => Some((ttl, ddl::row_ttl(table, server, ttl)?)),
            None => None,
        };
        self.batch(&ddl::create_table(table, server)).await?;
        let params = ddl::older_index_params(table);
        let found = self.query(table, ddl::OLDER_INDEX.text, &params).await?;
        if rows::decode_count(&found)? == 0 {
            self.batch(&ddl::create_index(table)).await?;
        }
        for statement in extra {
            self.batch(&statement).await?;
        }
        if let Some((ttl, alter)) = ttl {
            let name = table.qualified().to_string();
            let found = self
                .query(table, ddl::STORAGE_PARAMS.text, &[&name])
                .await?;
            let params: Vec<String> = match found.first() {
                Some(row) => row
                    .try_get::<_, Option<Vec<String>>>(0)?
                    .unwrap_or_default(),
                None => Vec::new(),
            };
            let in_place = ddl::ttl_in_place(&params, ttl);
            trace::ttl_setup(table.name.as_str(), in_place);
            if !in_place {
                self.batch(&alter).await?;
            }
        }
        Ok(())
    }

    /// `SELECT 1`, as a request.
    async fn ping(&mut self, until: Instant) -> Result<()> {
        self.begin(until);
        let done = self.batch("SELECT 1").await;
        self.end();
        done
    }

    fn begin(&mut self, until: Instant) {
        self.busy = true;
        if let Some(deadline) = &self.deadline {
            deadline.set(until);
        }
    }

    fn end(&mut self) {
        if let Some(deadline) = &self.deadline {
            deadline.clear();
        }
        self.busy = false;
    }

    /// Runs a statement, prepared once per connection and table.
    async fn query(
        &mut self,
        table: &Table,
        text: &'static str,
        params: &[sql::Param<'_>],
    ) -> Result<Vec<Row>> {
        let limit = self.limit();
        self.statements
            .query(&mut self.client, table, text, params, limit)
            .await
    }

    /// Statements without parameters, as one simple query.
    async fn batch(&mut self, sql: &str) -> Result<()> {
        let size = wire::text(sql, 0);
        wire::check(|| "the batch of statements".to_owned(), size, self.limit())?;
        Client::batch_execute(&mut self.client, sql).await
    }

    /// The most one message to the server may hold.
    fn limit(&self) -> usize {
        wire::limit(self.max_message, self.server.get().copied())
    }
}

/// Opens pooled connections, keeping the cause of the last failure so that
/// a waiting operation can fail fast, with it, when the server refuses.
pub(crate) struct Manager {
    /// The face's connector.
    connector: <Face as Driver>::Connector,
    /// The host(s) and port(s), for traces.
    target: String,
    connect_timeout: Duration,
    errors: Arc<ConnectErrors>,
    counters: Arc<Counters>,
    /// Which server this engine talks to, shared with its connections.
    server: Arc<OnceLock<ServerKind>>,
    max_message: Option<usize>,
}

#[face]
impl Connect for Manager {
    type Connection = Connection;

    async fn connect(&self) -> std::result::Result<Connection, ConnectFailure> {
        match Face::open(&self.connector, self.connect_timeout).await {
            Ok((client, deadline)) => {
                self.counters.opened();
                Ok(Connection {
                    client,
                    statements: Prepared::default(),
                    busy: false,
                    deadline,
                    server: Arc::clone(&self.server),
                    max_message: self.max_message,
                    counters: Arc::clone(&self.counters),
                })
            }
            Err(failure) => {
                trace::connect_failed(&self.target, &failure);
                self.counters.failed_connect();
                self.errors.record(&failure);
                Err(failure)
            }
        }
    }

    async fn is_valid(&self, conn: &mut Connection) -> std::result::Result<(), ConnectFailure> {
        Client::answers(&mut conn.client).await
    }

    fn has_broken(&self, conn: &mut Connection) -> bool {
        conn.busy || Client::is_closed(&conn.client)
    }
}

/// An engine's state, shared by its clones and histories.
pub(crate) struct Shared {
    /// Made on first use, so that an engine can be built anywhere (an async
    /// one outside a runtime); `Closed` once `close` has run.
    pool: Mutex<PoolSlot>,
    /// What the pool is made of.
    driver: (tokio_postgres::Config, Tls),
    pub(crate) config: ConnectionConfig,
    options: EngineOptions,
    errors: Arc<ConnectErrors>,
    counters: Arc<Counters>,
    server: Arc<OnceLock<ServerKind>>,
    /// Statements running now, for `close` to wait on.
    in_flight: AtomicUsize,
    /// Each session's writes, one turn at a time.
    pub(crate) lanes: super::lanes::Lanes,
    /// The engine's watches, and their task's claim.
    pub(crate) hub: Arc<Hub>,
}

enum PoolSlot {
    Unmade,
    Made(Pool),
    Closed,
}

/// Counts one statement in flight while it lives.
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn new(count: &'a AtomicUsize) -> InFlight<'a> {
        count.fetch_add(1, Ordering::SeqCst);
        InFlight(count)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[face(AFIT)]
impl Shared {
    pub(crate) fn new(config: ConnectionConfig, options: EngineOptions) -> Result<Shared> {
        options.check()?;
        let driver =
            crate::connect::driver(&config, options.connect_timeout, options.operation_timeout)?;
        Ok(Shared {
            pool: Mutex::new(PoolSlot::Unmade),
            driver,
            config,
            options,
            errors: Arc::default(),
            counters: Arc::default(),
            server: Arc::default(),
            in_flight: AtomicUsize::new(0),
            lanes: Default::default(),
            hub: Arc::default(),
        })
    }

    /// Whether the engine was closed: no request starts any more.
    pub(crate) fn is_closed(&self) -> bool {
        let slot = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        matches!(*slot, PoolSlot::Closed)
    }

    /// The pool, made now if this is the first use.
    fn pool(&self) -> Result<Pool> {
        let mut slot = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        if let PoolSlot::Unmade = *slot {
            *slot = PoolSlot::Made(self.make_pool());
        }
        match &*slot {
            PoolSlot::Made(pool) => Ok(pool.clone()),
            PoolSlot::Unmade | PoolSlot::Closed => Err(Error::Closed),
        }
    }

    fn make_pool(&self) -> Pool {
        let (driver_config, tls) = self.driver.clone();
        let connector = Face::connector(driver_config, tls, &self.options);
        let settings = PoolSettings {
            max_size: self.options.pool_size,
            checkout_timeout: self.options.checkout_timeout,
            idle_timeout: self.options.idle_timeout,
            max_lifetime: self.options.max_lifetime,
        };
        let manager = Manager {
            target: self.config.target(),
            connect_timeout: self.options.connect_timeout,
            connector: connector.clone(),
            errors: Arc::clone(&self.errors),
            counters: Arc::clone(&self.counters),
            server: Arc::clone(&self.server),
            max_message: self.options.max_protocol_message_bytes,
        };
        Face::pool(manager, &connector, settings)
    }

    /// Refuses new statements ([`Error::Closed`]), waits up to `wait` for
    /// those in flight, then closes the pool's connections (those still in
    /// use when they come back). A timeout if some were still running.
    pub(crate) async fn close(&self, wait: Duration) -> Result<()> {
        let made = {
            let mut slot = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
            std::mem::replace(&mut *slot, PoolSlot::Closed)
        };
        // Watches are woken once no read can start any more: a watch woken
        // before would read, succeed, and wait for a wake that never comes.
        self.hub.close();
        let until = crate::retry::deadline_after(wait);
        while self.in_flight.load(Ordering::SeqCst) > 0 && Instant::now() < until {
            Face::pause(Duration::from_millis(5)).await;
        }
        drop(made);
        match self.in_flight.load(Ordering::SeqCst) {
            0 => Ok(()),
            _ => Err(Error::Timeout(wait)),
        }
    }

    /// The server, once a request has asked (see `Request::Server`).
    pub(crate) fn server_kind(&self) -> Option<ServerKind> {
        self.server.get().copied()
    }

    /// How often the hub looks at the watched sessions on `server`.
    pub(crate) fn watch_interval(&self, server: ServerKind) -> Duration {
        let default = match server {
            ServerKind::PostgreSQL => Duration::from_secs(5),
            ServerKind::CockroachDB => Duration::from_secs(1),
        };
        self.options.watch_poll_interval.unwrap_or(default)
    }

    pub(crate) fn connect_timeout(&self) -> Duration {
        self.options.connect_timeout
    }

    /// What the hub's task connects with: the pool's server and settings.
    pub(crate) fn hub_setup(&self, server: ServerKind, interval: Duration) -> super::hub::Setup {
        let (config, tls) = self.driver.clone();
        super::hub::Setup {
            config,
            tls,
            server,
            interval,
            connect_timeout: self.options.connect_timeout,
            statement_timeout: self.options.operation_timeout,
        }
    }

    /// The most one message to the server may hold (CockroachDB's default
    /// until the server is known).
    pub(crate) fn message_limit(&self) -> usize {
        let set = self.options.max_protocol_message_bytes;
        wire::limit(set, self.server.get().copied())
    }

    /// The retries and deadline of a call made with `options`.
    pub(crate) fn policy(&self, options: &HistoryOptions) -> Policy {
        Policy::new(options, &self.options)
    }

    /// Runs `request` on `table`: creates the table first when this process
    /// has not yet, and retries what is safe to retry, until `call`'s
    /// deadline.
    pub(crate) async fn run(
        &self,
        table: &Table,
        call: Call,
        request: &Request<'_>,
    ) -> Result<Vec<Row>> {
        self.run_tracked(table, call, request)
            .await
            .map(|(rows, _)| rows)
    }

    /// As `run`, and the error of an earlier try of this write that may have
    /// been applied (its connection broke after the request was sent): then
    /// the rows a `RETURNING` gave do not tell the whole story.
    pub(crate) async fn run_tracked(
        &self,
        table: &Table,
        call: Call,
        request: &Request<'_>,
    ) -> Result<(Vec<Row>, Option<Error>)> {
        Face::usable_here()?;
        let _in_flight = InFlight::new(&self.in_flight);
        let span = trace::operation(request.verb(), table.name.as_str(), &self.config);
        let result = self.attempt(table, call, request, &span).await;
        if let Err(err) = &result {
            span.failed(err);
        }
        result
    }

    /// The tries of `run_tracked`: each on a pooled connection, within the
    /// call's deadline, creating the table first where this process has
    /// not; what to do after a failure is `Tries`'s decision.
    async fn attempt(
        &self,
        table: &Table,
        call: Call,
        request: &Request<'_>,
        span: &trace::Operation,
    ) -> Result<(Vec<Row>, Option<Error>)> {
        let mut tries = Tries::new(call.retry, self.options.pool_size);
        loop {
            let creating = request.kind() != Kind::Ddl && table.needs_create();
            let step = if creating {
                &Request::CreateTable
            } else {
                request
            };
            let write = request.kind() == Kind::Write && !creating;
            let err = match self.connection(call).await {
                Ok(mut conn) => {
                    let done = conn
                        .run(table, step, call.deadline)
                        .within(call.left())
                        .await;
                    if let Some(server) = self.server.get() {
                        span.server(server.as_str());
                    }
                    match done {
                        Some(Ok(_)) if creating => {
                            table.mark_created();
                            continue;
                        }
                        Some(Ok(rows)) => return Ok((rows, tries.settled())),
                        Some(Err(err)) => err,
                        None => {
                            // Abandoned mid-request: the connection stays marked
                            // busy and the pool discards it. A write may have
                            // been applied.
                            self.counters.timed_out();
                            let sent = Failure {
                                maybe_applied: write,
                                ..Failure::default()
                            };
                            return Err(tries.give_up(Error::Timeout(call.timeout), sent));
                        }
                    }
                }
                Err(err) => err,
            };
            let ddl = creating || request.kind() == Kind::Ddl;
            let failure = Failure::of(&err, write, ddl, table.was_dropped(&err));
            if failure.table_dropped {
                table.forget();
            }
            match tries.after(failure) {
                Some(wait) => {
                    span.retry(tries.failed(), &err, wait);
                    tries.keep(err, failure);
                    self.pause_before_retry(call, wait, &tries).await?
                }
                None => return Err(tries.give_up(err, failure)),
            }
        }
    }

    /// Waits `wait` before a retry, or fails with a timeout if the deadline
    /// comes first (an ambiguous one after a write that may have been applied).
    async fn pause_before_retry(&self, call: Call, wait: Duration, tries: &Tries) -> Result<()> {
        if wait >= call.left() {
            self.counters.timed_out();
            return Err(tries.give_up(Error::Timeout(call.timeout), Failure::default()));
        }
        self.counters.retried();
        Face::pause(wait).await;
        Ok(())
    }

    /// The table `options` names, in this engine's database.
    pub(crate) fn table(&self, options: &HistoryOptions) -> Result<Table> {
        Table::new(&self.config.identity(), options)
    }

    /// A history's state: its session in the table `options` names.
    pub(crate) fn session(&self, session_id: String, options: &HistoryOptions) -> Result<Session> {
        Session::new(session_id, self.table(options)?, options, &self.options)
    }

    /// A pooled connection, within the checkout timeout and `call`'s
    /// deadline. Pools keep trying to open connections until their own
    /// timeout; waiting in growing slices lets an attempt that failed in a
    /// lasting way (refused, unreachable, login rejected) be reported soon,
    /// with its cause. An attempt cut on the way fails nobody: the pool
    /// tries again while the operation waits.
    async fn connection(
        &self,
        call: Call,
    ) -> Result<impl std::ops::DerefMut<Target = Connection> + use<>> {
        let pool = self.pool()?;
        let started = Instant::now();
        let checkout_timeout = self.options.checkout_timeout;
        let mut slice = Duration::from_millis(20);
        loop {
            if let Some(conn) = Face::checkout(&pool, slice.min(call.left())).await {
                return Ok(conn);
            }
            self.counters.waited();
            let target = self.config.target();
            if let Some(err) = self.errors.lasting_since(started, &target) {
                return Err(err);
            }
            let left = checkout_timeout
                .saturating_sub(started.elapsed())
                .min(call.left());
            if left.is_zero() {
                self.counters.timed_out();
                return Err(match self.errors.latest_since(started, &target) {
                    Some(err) => err,
                    None if call.left().is_zero() => Error::Timeout(call.timeout),
                    None => Error::PoolTimeout(checkout_timeout),
                });
            }
            slice = (slice * 2).min(self.options.connect_timeout).min(left);
        }
    }

    /// The guide's troubleshooting check: `SELECT 1` on a pooled connection.
    pub(crate) async fn ping(&self) -> Result<()> {
        Face::usable_here()?;
        let _in_flight = InFlight::new(&self.in_flight);
        let call = Call::new(self.policy(&HistoryOptions::default()));
        let ping = async { self.connection(call).await?.ping(call.deadline).await };
        match ping.within(call.left()).await {
            Some(done) => done,
            None => Err(Error::Timeout(call.timeout)),
        }
    }

    pub(crate) fn pool_state(&self) -> PoolState {
        let slot = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        match &*slot {
            PoolSlot::Made(pool) => {
                let (connections, idle) = Face::pool_size(pool);
                self.counters.state(connections, idle)
            }
            PoolSlot::Unmade | PoolSlot::Closed => self.counters.state(0, 0),
        }
    }
}
