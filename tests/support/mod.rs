//! What the test files share: the database, throwaway tables, the fixture
//! cases, and one `Face` trait over the blocking and the async history, so
//! that each behaviour is written once and checked on both faces.
#![allow(dead_code)] // each test binary uses its own part of this module

pub mod cases;
pub mod corpus;
pub mod network;
pub mod proxy;

use std::io::Write as _;
use std::sync::OnceLock;

use std::time::Duration;

use langchain_cockroachdb::time::OffsetDateTime;
use langchain_cockroachdb::uuid::Uuid;
use langchain_cockroachdb::{
    EngineOptions, HistoryOptions, Message, Page, PageCursor, PoolState, Result, SessionFilter,
    SessionInfo, StoredMessage, TrimOptions,
};
use serde_json::Value;

/// The test server: `DATABASE_URL`, or the local PostgreSQL of this kind of
/// machine. When it cannot be reached, the test binary stops at once with
/// one line saying what to start, rather than every test failing.
///
/// Statements on it time out after a minute, so that no test hangs on a
/// lock it waits for.
pub fn database_url() -> String {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgresql://root@127.0.0.1:5432/test?sslmode=disable".into());
    let url = with_server_options(&url, "-c statement_timeout=60s");
    static REACHED: OnceLock<()> = OnceLock::new();
    REACHED.get_or_init(|| {
        // On a thread of its own: the blocking driver cannot run inside the
        // runtime of a tokio test.
        let probe = url.clone();
        let reached = std::thread::spawn(move || -> Result<(), String> {
            let mut config: postgres::Config = probe.parse().map_err(|e| format!("{e}"))?;
            config.connect_timeout(Duration::from_secs(5));
            config
                .connect(postgres::NoTls)
                .map(drop)
                .map_err(|e| match std::error::Error::source(&e) {
                    Some(source) => format!("{e}: {source}"),
                    None => e.to_string(),
                })
        })
        .join();
        let reached = reached.unwrap_or_else(|_| Err("the probe panicked".into()));
        if let Err(cause) = reached {
            // Straight to the process's stderr: the test harness captures
            // `eprintln!`, and exiting would lose it.
            let _ = writeln!(
                std::io::stderr(),
                "\nno test database at {url} ({cause}): start one (README, \"Getting a database\") or set DATABASE_URL\n"
            );
            std::process::exit(2);
        }
    });
    url
}

/// `url` with server options added (`-c name=value ...`), kept apart from
/// any it already has.
pub fn with_server_options(url: &str, options: &str) -> String {
    let encoded = options.replace(' ', "%20").replace('=', "%3D");
    match url.find("options=") {
        Some(at) => {
            let start = at + "options=".len();
            format!("{}{encoded}%20{}", &url[..start], &url[start..])
        }
        None => {
            let sep = if url.contains('?') { '&' } else { '?' };
            format!("{url}{sep}options={encoded}")
        }
    }
}

/// One runtime for every async call of a test binary, as in a server.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime for the tests")
    })
}

/// A connection of its own to the test server, outside the crate, to set
/// up or check what the crate cannot be trusted to report about itself.
pub async fn raw_client() -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&database_url(), tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "the test database at {} is not reachable: {e}",
                database_url()
            )
        });
    tokio::spawn(connection);
    client
}

pub fn raw_query(
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Vec<tokio_postgres::Row> {
    runtime().block_on(async {
        raw_client()
            .await
            .query(sql, params)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    })
}

pub fn raw_execute(sql: &str) {
    runtime().block_on(async {
        raw_client()
            .await
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    })
}

/// A table name of its own for one test, so tests run in parallel; the
/// table is dropped when the guard goes.
pub struct TempTable {
    pub name: String,
    pub schema: String,
}

impl TempTable {
    pub fn new(test: &str) -> TempTable {
        TempTable::in_schema("public", test)
    }

    /// A table in a schema of its own, named `<schema>_<suffix>`, dropped
    /// with the table.
    pub fn in_new_schema(schema: &str, test: &str) -> TempTable {
        let suffix = &uuid::Uuid::new_v4().simple().to_string()[..10];
        TempTable::in_schema(&format!("{schema}_{suffix}"), test)
    }

    fn in_schema(schema: &str, test: &str) -> TempTable {
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        TempTable {
            name: format!("t_{test}_{}", &suffix[..10]),
            schema: schema.into(),
        }
    }

    pub fn options(&self) -> HistoryOptions {
        HistoryOptions::default()
            .schema(&self.schema)
            .table_name(&self.name)
    }

    pub fn qualified(&self) -> String {
        format!("\"{}\".\"{}\"", self.schema, self.name)
    }

    /// The table exported through `history`'s engine, as JSON Lines.
    pub fn export_table_lines<F: Face>(&self, history: &F) -> Vec<u8> {
        history
            .export_table(&self.options(), None)
            .expect("the table exports")
    }

    pub fn count_rows(&self, session: &str) -> i64 {
        let sql = format!(
            "SELECT count(*) FROM {} WHERE session_id = $1",
            self.qualified()
        );
        raw_query(&sql, &[&session])[0].get(0)
    }
}

impl Drop for TempTable {
    fn drop(&mut self) {
        // Also runs while a failed test unwinds, and inside the runtime of a
        // tokio test, where the shared runtime cannot be blocked on: the
        // table is dropped from a thread of its own. A failure to drop it is
        // reported, not hidden, unless the test already failed.
        let sql = match self.schema.as_str() {
            "public" => format!("DROP TABLE IF EXISTS {}", self.qualified()),
            schema => format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"),
        };
        let dropped = std::thread::spawn(move || raw_execute(&sql)).join();
        if dropped.is_err() && !std::thread::panicking() {
            panic!("could not drop the test table {}", self.qualified());
        }
    }
}

/// A database of its own for one test, dropped when the guard goes.
pub struct TempDatabase {
    pub name: String,
}

impl TempDatabase {
    pub fn new(prefix: &str) -> TempDatabase {
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let name = format!("{prefix}_{}", &suffix[..10]);
        raw_execute(&format!("CREATE DATABASE {name}"));
        TempDatabase { name }
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        // As for `TempTable`: from a thread of its own, reported unless the
        // test already failed.
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let dropped = std::thread::spawn(move || raw_execute(&sql)).join();
        if dropped.is_err() && !std::thread::panicking() {
            panic!("could not drop the test database {}", self.name);
        }
    }
}

/// The cases of `langchain_messages.json`: `(name, dict)` as langchain_core
/// wrote them.
pub fn fixture_cases() -> Vec<(String, Value)> {
    let text = include_str!("../fixtures/langchain_messages.json");
    let cases: Vec<Value> = serde_json::from_str(text).expect("fixture file parses");
    cases
        .into_iter()
        .map(|case| {
            (
                case["name"].as_str().expect("case name").to_owned(),
                case["dict"].clone(),
            )
        })
        .collect()
}

/// The history API, the same on both faces; the async face runs each call
/// to completion on the shared runtime.
pub trait Face: Sized + Clone + Send + Sync + 'static {
    fn open(session: &str, url: &str, options: HistoryOptions) -> Result<Self>;
    fn add_user_message(&self, text: &str) -> Result<()>;
    fn add_ai_message(&self, text: &str) -> Result<()>;
    fn add_message(&self, message: &Message) -> Result<()>;
    fn add_messages(&self, messages: &[Message]) -> Result<()>;
    fn messages(&self) -> Result<Vec<Message>>;
    fn clear(&self) -> Result<()>;
    fn create_tables(url: &str, table: &str) -> Result<()>;
    fn drop_tables(url: &str, table: &str) -> Result<()>;
    /// Pings through an engine of this face built with `options`.
    fn ping(url: &str, options: EngineOptions) -> Result<()>;
    /// A history on an engine of its own, built with `engine`.
    fn open_pooled(
        session: &str,
        url: &str,
        options: HistoryOptions,
        engine: EngineOptions,
    ) -> Result<Self>;
    /// What its engine's pool counted so far.
    fn pool_state(&self) -> PoolState;
    fn add_messages_with_ids(&self, messages: &[(Uuid, Message)]) -> Result<u64>;
    fn trim(&self, options: &TrimOptions) -> Result<Vec<Message>>;
    fn last_messages(&self, n: usize) -> Result<Vec<Message>>;
    fn buffer_window(&self, k: usize) -> Result<Vec<Message>>;
    fn message_count(&self) -> Result<u64>;
    fn messages_since(&self, since: OffsetDateTime) -> Result<Vec<Message>>;
    fn messages_page(&self, cursor: Option<&PageCursor>, size: usize) -> Result<Page>;
    fn entries(&self) -> Result<Vec<StoredMessage>>;
    fn delete_message(&self, id: Uuid) -> Result<bool>;
    fn delete_last(&self, n: usize) -> Result<u64>;
    fn export_session(&self) -> Result<Vec<u8>>;
    fn list_sessions(
        &self,
        options: &HistoryOptions,
        filter: &SessionFilter,
    ) -> Result<Vec<SessionInfo>>;
    fn delete_sessions_idle_since(&self, options: &HistoryOptions, idle: Duration) -> Result<u64>;
    fn delete_messages_older_than(&self, options: &HistoryOptions, age: Duration) -> Result<u64>;
    fn export_table(&self, options: &HistoryOptions, prefix: Option<&str>) -> Result<Vec<u8>>;
    fn import_table(&self, options: &HistoryOptions, lines: &[u8]) -> Result<u64>;
}

#[cfg(feature = "blocking")]
impl Face for langchain_cockroachdb::blocking::CockroachDBChatMessageHistory {
    fn open(session: &str, url: &str, options: HistoryOptions) -> Result<Self> {
        Self::with_options(session, url, options)
    }
    fn add_user_message(&self, text: &str) -> Result<()> {
        self.add_user_message(text)
    }
    fn add_ai_message(&self, text: &str) -> Result<()> {
        self.add_ai_message(text)
    }
    fn add_message(&self, message: &Message) -> Result<()> {
        self.add_message(message)
    }
    fn add_messages(&self, messages: &[Message]) -> Result<()> {
        self.add_messages(messages)
    }
    fn messages(&self) -> Result<Vec<Message>> {
        self.messages()
    }
    fn clear(&self) -> Result<()> {
        self.clear()
    }
    fn create_tables(url: &str, table: &str) -> Result<()> {
        Self::create_tables(url, table)
    }
    fn drop_tables(url: &str, table: &str) -> Result<()> {
        Self::drop_tables(url, table)
    }
    fn ping(url: &str, options: EngineOptions) -> Result<()> {
        langchain_cockroachdb::blocking::CockroachDBEngine::with_options(url, options)?.ping()
    }
    fn open_pooled(
        session: &str,
        url: &str,
        options: HistoryOptions,
        engine: EngineOptions,
    ) -> Result<Self> {
        let engine = langchain_cockroachdb::blocking::CockroachDBEngine::with_options(url, engine)?;
        Self::with_engine(session, &engine, options)
    }
    fn pool_state(&self) -> PoolState {
        self.engine().pool_state()
    }
    fn add_messages_with_ids(&self, messages: &[(Uuid, Message)]) -> Result<u64> {
        self.add_messages_with_ids(messages)
    }
    fn trim(&self, options: &TrimOptions) -> Result<Vec<Message>> {
        self.trim(options)
    }
    fn last_messages(&self, n: usize) -> Result<Vec<Message>> {
        self.last_messages(n)
    }
    fn buffer_window(&self, k: usize) -> Result<Vec<Message>> {
        self.buffer_window(k)
    }
    fn message_count(&self) -> Result<u64> {
        self.message_count()
    }
    fn messages_since(&self, since: OffsetDateTime) -> Result<Vec<Message>> {
        self.messages_since(since)
    }
    fn messages_page(&self, cursor: Option<&PageCursor>, size: usize) -> Result<Page> {
        self.messages_page(cursor, size)
    }
    fn entries(&self) -> Result<Vec<StoredMessage>> {
        self.entries()
    }
    fn delete_message(&self, id: Uuid) -> Result<bool> {
        self.delete_message(id)
    }
    fn delete_last(&self, n: usize) -> Result<u64> {
        self.delete_last(n)
    }
    fn export_session(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.export_jsonl(&mut out)?;
        Ok(out)
    }
    fn list_sessions(
        &self,
        options: &HistoryOptions,
        filter: &SessionFilter,
    ) -> Result<Vec<SessionInfo>> {
        self.engine().list_sessions(options, filter)
    }
    fn delete_sessions_idle_since(&self, options: &HistoryOptions, idle: Duration) -> Result<u64> {
        self.engine().delete_sessions_idle_since(options, idle)
    }
    fn delete_messages_older_than(&self, options: &HistoryOptions, age: Duration) -> Result<u64> {
        self.engine().delete_messages_older_than(options, age)
    }
    fn export_table(&self, options: &HistoryOptions, prefix: Option<&str>) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.engine().export_jsonl(options, prefix, &mut out)?;
        Ok(out)
    }
    fn import_table(&self, options: &HistoryOptions, mut lines: &[u8]) -> Result<u64> {
        self.engine().import_jsonl(options, &mut lines)
    }
}

#[cfg(feature = "async")]
impl Face for langchain_cockroachdb::nonblocking::AsyncCockroachDBChatMessageHistory {
    fn open(session: &str, url: &str, options: HistoryOptions) -> Result<Self> {
        let _inside = runtime().enter();
        Self::with_options(session, url, options)
    }
    fn add_user_message(&self, text: &str) -> Result<()> {
        runtime().block_on(self.add_user_message(text))
    }
    fn add_ai_message(&self, text: &str) -> Result<()> {
        runtime().block_on(self.add_ai_message(text))
    }
    fn add_message(&self, message: &Message) -> Result<()> {
        runtime().block_on(self.add_message(message))
    }
    fn add_messages(&self, messages: &[Message]) -> Result<()> {
        runtime().block_on(self.add_messages(messages))
    }
    fn messages(&self) -> Result<Vec<Message>> {
        runtime().block_on(self.messages())
    }
    fn clear(&self) -> Result<()> {
        runtime().block_on(self.clear())
    }
    fn create_tables(url: &str, table: &str) -> Result<()> {
        runtime().block_on(Self::acreate_tables(url, table))
    }
    fn drop_tables(url: &str, table: &str) -> Result<()> {
        runtime().block_on(Self::adrop_tables(url, table))
    }
    fn ping(url: &str, options: EngineOptions) -> Result<()> {
        runtime().block_on(async {
            langchain_cockroachdb::nonblocking::AsyncCockroachDBEngine::with_options(url, options)?
                .ping()
                .await
        })
    }
    fn open_pooled(
        session: &str,
        url: &str,
        options: HistoryOptions,
        engine: EngineOptions,
    ) -> Result<Self> {
        let _inside = runtime().enter();
        let engine =
            langchain_cockroachdb::nonblocking::AsyncCockroachDBEngine::with_options(url, engine)?;
        Self::with_engine(session, &engine, options)
    }
    fn pool_state(&self) -> PoolState {
        self.engine().pool_state()
    }
    fn add_messages_with_ids(&self, messages: &[(Uuid, Message)]) -> Result<u64> {
        runtime().block_on(self.add_messages_with_ids(messages))
    }
    fn trim(&self, options: &TrimOptions) -> Result<Vec<Message>> {
        runtime().block_on(self.trim(options))
    }
    fn last_messages(&self, n: usize) -> Result<Vec<Message>> {
        runtime().block_on(self.last_messages(n))
    }
    fn buffer_window(&self, k: usize) -> Result<Vec<Message>> {
        runtime().block_on(self.buffer_window(k))
    }
    fn message_count(&self) -> Result<u64> {
        runtime().block_on(self.message_count())
    }
    fn messages_since(&self, since: OffsetDateTime) -> Result<Vec<Message>> {
        runtime().block_on(self.messages_since(since))
    }
    fn messages_page(&self, cursor: Option<&PageCursor>, size: usize) -> Result<Page> {
        runtime().block_on(self.messages_page(cursor, size))
    }
    fn entries(&self) -> Result<Vec<StoredMessage>> {
        runtime().block_on(self.entries())
    }
    fn delete_message(&self, id: Uuid) -> Result<bool> {
        runtime().block_on(self.delete_message(id))
    }
    fn delete_last(&self, n: usize) -> Result<u64> {
        runtime().block_on(self.delete_last(n))
    }
    fn export_session(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        runtime().block_on(self.export_jsonl(&mut out))?;
        Ok(out)
    }
    fn list_sessions(
        &self,
        options: &HistoryOptions,
        filter: &SessionFilter,
    ) -> Result<Vec<SessionInfo>> {
        runtime().block_on(self.engine().list_sessions(options, filter))
    }
    fn delete_sessions_idle_since(&self, options: &HistoryOptions, idle: Duration) -> Result<u64> {
        runtime().block_on(self.engine().delete_sessions_idle_since(options, idle))
    }
    fn delete_messages_older_than(&self, options: &HistoryOptions, age: Duration) -> Result<u64> {
        runtime().block_on(self.engine().delete_messages_older_than(options, age))
    }
    fn export_table(&self, options: &HistoryOptions, prefix: Option<&str>) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        runtime().block_on(self.engine().export_jsonl(options, prefix, &mut out))?;
        Ok(out)
    }
    fn import_table(&self, options: &HistoryOptions, mut lines: &[u8]) -> Result<u64> {
        runtime().block_on(self.engine().import_jsonl(options, &mut lines))
    }
}
