//! What the test files share: the database, throwaway tables, the fixture
//! cases, and one `Face` trait over the blocking and the async history, so
//! that each behaviour is written once and checked on both faces.
#![allow(dead_code)] // each test binary uses its own part of this module
// The face cases (`cases.rs`, `network.rs`) and the store cases
// (`store_cases.rs`) are not modules of it: see `face_tests!` and
// `store_tests!`.

pub mod cockroach;
pub mod corpus;
pub mod frozen;
pub mod proxy;
pub mod stores;
pub mod writers;

use std::io::Write as _;
use std::sync::OnceLock;

use std::time::Duration;

use langchain_cockroachdb::time::OffsetDateTime;
use langchain_cockroachdb::uuid::Uuid;
use langchain_cockroachdb::{
    Diagnosis, EngineOptions, HistoryOptions, Message, Page, PageCursor, PoolState, Result,
    SessionFilter, SessionInfo, StoredMessage, TrimOptions, WatchCursor, WatchEvent, WatchFrom,
    WatchOptions,
};
use serde_json::Value;

/// The test server: `LANGCHAIN_COCKROACHDB_URL`, or the local PostgreSQL of this kind of
/// machine. When it cannot be reached, the test binary stops at once with
/// one line saying what to start, rather than every test failing.
///
/// Statements on it time out after a minute, so that no test hangs on a
/// lock it waits for.
pub fn database_url() -> String {
    let url = std::env::var("LANGCHAIN_COCKROACHDB_URL")
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
                "\nno test database at {url} ({cause}): start one (README, \"A database for development\") or set LANGCHAIN_COCKROACHDB_URL\n"
            );
            std::process::exit(2);
        }
    });
    url
}

/// The test server's port and database, as `database_url` names them: the
/// proxy forwards to that port, and its URLs name that database.
pub fn server_port() -> u16 {
    let config: tokio_postgres::Config = database_url().parse().expect("a valid test URL");
    config.get_ports().first().copied().unwrap_or(5432)
}

/// See `server_port`.
pub fn database_name() -> String {
    let config: tokio_postgres::Config = database_url().parse().expect("a valid test URL");
    config.get_dbname().unwrap_or("test").to_owned()
}

/// Whether the suite runs against CockroachDB (`LANGCHAIN_COCKROACHDB_URL`
/// names a node), asked once.
pub fn on_cockroachdb() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| {
        let version: String = raw_query("SELECT version()", &[])[0].get(0);
        version.starts_with("CockroachDB")
    })
}

/// True, with a line saying why, when the calling test must be skipped
/// because it needs PostgreSQL (plans, ICU collations, `pg_stat_*`,
/// `pg_terminate_backend`): `if skip_unless_postgresql("...") { return; }`.
pub fn skip_unless_postgresql(needs: &str) -> bool {
    let skip = on_cockroachdb();
    if skip {
        eprintln!("skipped on CockroachDB: this test needs PostgreSQL ({needs})");
    }
    skip
}

/// True, with a line saying why, when the calling test must be skipped
/// because it checks what only CockroachDB has.
pub fn skip_unless_cockroachdb(needs: &str) -> bool {
    let skip = !on_cockroachdb();
    if skip {
        eprintln!(
            "skipped on PostgreSQL: this test needs CockroachDB ({needs}); set LANGCHAIN_COCKROACHDB_URL to a node to run it"
        );
    }
    skip
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
        TempDatabase::created(prefix, "")
    }

    /// One whose default collation is ICU's `en-US`, as managed services
    /// often make them (PostgreSQL 15+).
    pub fn linguistic(prefix: &str) -> TempDatabase {
        TempDatabase::created(
            prefix,
            " TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER icu ICU_LOCALE 'en-US'",
        )
    }

    fn created(prefix: &str, with: &str) -> TempDatabase {
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let name = format!("{prefix}_{}", &suffix[..10]);
        raw_execute(&format!("CREATE DATABASE {name}{with}"));
        TempDatabase { name }
    }

    /// The test server's URL with this database.
    pub fn url(&self) -> String {
        let url = database_url();
        let path = url
            .find("://")
            .and_then(|s| url[s + 3..].find('/').map(|p| s + 3 + p));
        let Some(path) = path else {
            panic!("LANGCHAIN_COCKROACHDB_URL names no database: {url}");
        };
        let query = url[path..].find('?').map_or(url.len(), |q| path + q);
        format!("{}/{}{}", &url[..path], self.name, &url[query..])
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        // As for `TempTable`: from a thread of its own, reported unless the
        // test already failed. (`WITH (FORCE)` is PostgreSQL's.)
        let sql = match on_cockroachdb() {
            true => format!("DROP DATABASE IF EXISTS {} CASCADE", self.name),
            false => format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        };
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

/// One `#[test]` per case of `cases.rs`, `network.rs`,
/// `cockroach_cases.rs`, `watch.rs`, `watch_key.rs` and `watch_proof.rs`,
/// for the face `$face`. The files are compiled here, into the test binary, with
/// `dead_code` denied: a case that is written but not listed fails the
/// build.
#[macro_export]
macro_rules! face_tests {
    ($face:ty) => {
        #[deny(dead_code)]
        #[path = "support/cases.rs"]
        mod cases;
        #[deny(dead_code)]
        #[path = "support/network.rs"]
        mod network;
        #[deny(dead_code)]
        #[path = "support/cockroach_cases.rs"]
        mod cockroach;
        #[deny(dead_code)]
        #[path = "support/watch.rs"]
        mod watch;
        #[deny(dead_code)]
        #[path = "support/watch_key.rs"]
        mod watch_key;
        #[deny(dead_code)]
        #[path = "support/watch_proof.rs"]
        mod watch_proof;

        $crate::face_tests!(@each $face, cases;
            basic_usage,
            table_is_created_on_first_use_with_the_guide_schema,
            one_index_whoever_creates_the_table,
            activity_index_and_row_ttl,
            create_and_drop_tables,
            concurrent_creates_of_one_table_all_succeed,
            prefixes_are_exact_under_a_linguistic_collation,
            expired_rows_are_never_read,
            erasing_a_prefix_takes_exactly_its_sessions,
            batched_deletes_report_progress_and_stop,
            a_diagnosis_reads_the_catalogs,
            custom_table_and_schema,
            unicode_and_a_one_megabyte_message,
            every_fixture_case_is_stored_as_langchain_writes_it,
            rows_written_by_python_are_read,
            a_malformed_row_is_an_error_naming_it,
            bad_input_is_refused_and_changes_nothing,
            every_corpus_case_through_the_database,
            trimmed_windows_read_from_the_database_are_langchains,
            deeply_nested_messages_round_trip,
            limits_are_checked_before_anything_is_sent,
            concurrent_writers_on_different_sessions,
            a_history_is_cheap_to_clone_and_share,
            an_unreachable_server_is_a_connection_error_naming_it,
            serialization_failures_are_retried_and_nothing_is_doubled,
            writers_on_one_session_of_one_engine_never_race,
            a_lost_reply_of_a_merged_statement_stores_each_message_once,
            killed_backends_are_survived,
            a_reply_lost_after_commit_does_not_duplicate_the_write,
            an_exhausted_pool_times_out_clearly_and_recovers,
            several_hosts_fail_over_to_one_that_answers,
            close_waits_for_the_call_in_flight_and_refuses_new_ones,
            last_messages_of_a_long_session_among_many,
            entries_since_and_deletes,
            sessions_are_listed_newest_first_by_prefix,
            retention_cleans_up_in_batches,
            export_then_import_gives_an_identical_history,
            a_hostile_import_file_breaks_nothing,
            each_operation_is_one_round_trip,
            without_table_creation_a_missing_table_is_an_error,
            a_server_that_accepts_but_never_answers_times_out_within_the_connect_timeout,
        );
        $crate::face_tests!(@each $face, network;
            a_cut_handshake_fails_no_waiting_operation,
            a_retried_clear_keeps_what_others_wrote_meanwhile,
            an_interrupted_idle_cleanup_leaves_whole_sessions,
            random_cuts_lose_and_duplicate_nothing_and_fail_almost_nothing,
            lost_replies_of_merged_writes_lose_and_duplicate_nothing,
            a_caller_retry_after_an_ambiguous_error_stores_once,
            deletes_count_what_they_deleted_after_a_lost_reply,
            no_retry_policy_is_exactly_one_attempt,
            engine_calls_run_with_the_callers_deadline_and_retries,
            errors_carry_sqlstate_message_and_source,
            a_frozen_peer_is_a_timeout_within_the_deadline,
            sslmode_is_negotiated_as_libpq_does,
        );
        $crate::face_tests!(@each $face, watch;
            a_watch_starts_now_at_the_beginning_or_after_a_cursor_from_another_engine,
            writers_committing_out_of_created_at_order_are_each_delivered_once,
            concurrent_writers_are_watched_exactly_once,
            other_programs_rows_come_and_only_committed_writes_notify,
            deletions_are_told_with_their_count,
            a_closed_engine_ends_its_watches,
            many_watches_share_one_connection_and_idle_ones_cost_no_query,
            after_the_hub_reconnects_each_watch_catches_up,
            a_cut_hub_connection_is_followed_by_a_catch_up,
            on_cockroachdb_watches_poll_at_the_engine_interval,
        );
        $crate::face_tests!(@each $face, watch_key;
            a_table_made_by_python_is_keyed_by_its_first_watch,
            a_refused_key_column_tells_the_watch_what_to_run,
            a_row_written_in_a_savepoint_is_watched_once_after_its_transaction,
        );
        $crate::face_tests!(@each $face, cockroach;
            an_ambiguous_result_is_never_reported_as_nothing_done,
            an_ambiguous_result_on_every_try_is_never_a_plain_retryable_error,
            a_retry_error_before_the_statement_is_retried,
            nothing_is_sent_over_the_servers_message_limit,
            the_message_limit_follows_the_engine_option,
            row_level_ttl_is_set_once,
            cockroachdb_catalogs_and_the_sharded_index,
        );
        $crate::face_tests!(@each $face, watch_proof;
            every_watcher_gets_every_message_exactly_once,
        );
    };
    (@each $face:ty, $module:ident; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $module::$case::<$face>();
            }
        )*
    };
}

/// The history API, the same on both faces, declared once: `faces!` makes
/// the `Face` trait and both impls from this list; the async face runs each
/// call to completion on the shared runtime. `tests/surface.rs` checks that
/// every I/O operation of the public API is here.
macro_rules! faces {
    (
        setup { $($setup:tt)* }
        history { $(fn $h:ident($($ha:ident: $ht:ty),*) -> $hr:ty;)* }
        engine { $(fn $e:ident => $em:ident($($ea:ident: $et:ty),*) -> $er:ty;)* }
        blocking { $($b:tt)* }
        nonblocking { $($n:tt)* }
    ) => {
        pub trait Face: Sized + Clone + Send + Sync + 'static {
            $($setup)*
            $(fn $h(&self, $($ha: $ht),*) -> Result<$hr>;)*
            $(fn $e(&self, $($ea: $et),*) -> Result<$er>;)*
        }

        #[cfg(feature = "blocking")]
        impl Face for langchain_cockroachdb::blocking::CockroachDBChatMessageHistory {
            $($b)*
            $(fn $h(&self, $($ha: $ht),*) -> Result<$hr> {
                self.$h($($ha),*)
            })*
            $(fn $e(&self, $($ea: $et),*) -> Result<$er> {
                self.engine().$em($($ea),*)
            })*
        }

        #[cfg(feature = "async")]
        impl Face for langchain_cockroachdb::nonblocking::AsyncCockroachDBChatMessageHistory {
            $($n)*
            $(fn $h(&self, $($ha: $ht),*) -> Result<$hr> {
                runtime().block_on(self.$h($($ha),*))
            })*
            $(fn $e(&self, $($ea: $et),*) -> Result<$er> {
                runtime().block_on(self.engine().$em($($ea),*))
            })*
        }
    };
}

/// A watch, whatever its face.
pub trait Watching: Send {
    /// The next event within `timeout`, or `None`.
    fn next_timeout(&mut self, timeout: Duration) -> Result<Option<WatchEvent>>;
    fn cursor(&self) -> WatchCursor;
}

/// A watch as the `Face` trait returns it.
pub type Watcher = Box<dyn Watching>;

#[cfg(feature = "blocking")]
impl Watching for langchain_cockroachdb::blocking::Watch {
    fn next_timeout(&mut self, timeout: Duration) -> Result<Option<WatchEvent>> {
        langchain_cockroachdb::blocking::Watch::next_timeout(self, timeout)
    }
    fn cursor(&self) -> WatchCursor {
        langchain_cockroachdb::blocking::Watch::cursor(self).clone()
    }
}

#[cfg(feature = "async")]
impl Watching for langchain_cockroachdb::nonblocking::Watch {
    fn next_timeout(&mut self, timeout: Duration) -> Result<Option<WatchEvent>> {
        runtime().block_on(langchain_cockroachdb::nonblocking::Watch::next_timeout(
            self, timeout,
        ))
    }
    fn cursor(&self) -> WatchCursor {
        langchain_cockroachdb::nonblocking::Watch::cursor(self).clone()
    }
}

/// A batched delete's progress callback, as the `Face` trait takes it.
pub type Progress<'a> = &'a (dyn Fn(u64) -> bool + Sync);

/// A token counter the `Face` trait can take.
pub type Counter<'a> = &'a (dyn Fn(&[Message]) -> usize + Sync);

faces! {
    setup {
        fn open(session: &str, url: &str, options: HistoryOptions) -> Result<Self>;
        /// A history on an engine of its own, built with `engine`.
        fn open_pooled(
            session: &str,
            url: &str,
            options: HistoryOptions,
            engine: EngineOptions,
        ) -> Result<Self>;
        /// The history's static table helpers (`acreate_tables` on the async face).
        fn create_tables(url: &str, table: &str) -> Result<()>;
        fn drop_tables(url: &str, table: &str) -> Result<()>;
        /// Pings through an engine of this face built with `options`.
        fn ping(url: &str, options: EngineOptions) -> Result<()>;
        /// What its engine's pool counted so far.
        fn pool_state(&self) -> PoolState;
        fn trim_with_counter(&self, options: &TrimOptions, counter: Counter<'_>) -> Result<Vec<Message>>;
        fn export_session(&self) -> Result<Vec<u8>>;
        fn export_table(&self, options: &HistoryOptions, prefix: Option<&str>) -> Result<Vec<u8>>;
        fn import_table(&self, options: &HistoryOptions, lines: &[u8]) -> Result<u64>;
        fn watch(&self, from: WatchFrom) -> Result<Watcher>;
        fn watch_with_options(&self, from: WatchFrom, options: &WatchOptions) -> Result<Watcher>;
        /// The history of another session on this one's engine.
        fn sibling(&self, session: &str, options: HistoryOptions) -> Result<Self>;
    }
    history {
        fn add_user_message(text: &str) -> ();
        fn add_ai_message(text: &str) -> ();
        fn add_message(message: &Message) -> ();
        fn add_messages(messages: &[Message]) -> ();
        fn add_messages_with_ids(messages: &[(Uuid, Message)]) -> u64;
        fn messages() -> Vec<Message>;
        fn last_messages(n: usize) -> Vec<Message>;
        fn buffer_window(k: usize) -> Vec<Message>;
        fn trim(options: &TrimOptions) -> Vec<Message>;
        fn message_count() -> u64;
        fn messages_since(since: OffsetDateTime) -> Vec<Message>;
        fn messages_page(cursor: Option<&PageCursor>, size: usize) -> Page;
        fn messages_page_back(cursor: Option<&PageCursor>, size: usize) -> Page;
        fn entries() -> Vec<StoredMessage>;
        fn delete_message(id: Uuid) -> bool;
        fn delete_last(n: usize) -> u64;
        fn clear() -> ();
    }
    engine {
        fn engine_create_tables => create_tables(options: &HistoryOptions) -> ();
        fn engine_drop_tables => drop_tables(options: &HistoryOptions) -> ();
        fn list_sessions => list_sessions(options: &HistoryOptions, filter: &SessionFilter) -> Vec<SessionInfo>;
        fn delete_sessions_idle_since => delete_sessions_idle_since(options: &HistoryOptions, idle: Duration) -> u64;
        fn delete_messages_older_than => delete_messages_older_than(options: &HistoryOptions, age: Duration) -> u64;
        fn delete_sessions_idle_since_with_progress => delete_sessions_idle_since_with_progress(options: &HistoryOptions, idle: Duration, progress: Progress<'_>) -> u64;
        fn delete_messages_older_than_with_progress => delete_messages_older_than_with_progress(options: &HistoryOptions, age: Duration, progress: Progress<'_>) -> u64;
        fn count_messages_older_than => count_messages_older_than(options: &HistoryOptions, age: Duration) -> u64;
        fn count_sessions_idle_since => count_sessions_idle_since(options: &HistoryOptions, idle: Duration) -> (u64, u64);
        fn erase_prefix => erase_prefix(options: &HistoryOptions, prefix: &str) -> u64;
        fn erase_prefix_with_progress => erase_prefix_with_progress(options: &HistoryOptions, prefix: &str, progress: Progress<'_>) -> u64;
        fn diagnose => diagnose(options: &HistoryOptions) -> Diagnosis;
        fn close => close(wait: Duration) -> ();
    }
    blocking {
        fn open(session: &str, url: &str, options: HistoryOptions) -> Result<Self> {
            Self::with_options(session, url, options)
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
        fn create_tables(url: &str, table: &str) -> Result<()> {
            Self::create_tables(url, table)
        }
        fn drop_tables(url: &str, table: &str) -> Result<()> {
            Self::drop_tables(url, table)
        }
        fn ping(url: &str, options: EngineOptions) -> Result<()> {
            langchain_cockroachdb::blocking::CockroachDBEngine::with_options(url, options)?.ping()
        }
        fn pool_state(&self) -> PoolState {
            self.engine().pool_state()
        }
        fn trim_with_counter(&self, options: &TrimOptions, counter: Counter<'_>) -> Result<Vec<Message>> {
            self.trim_with_counter(options, counter)
        }
        fn export_session(&self) -> Result<Vec<u8>> {
            let mut out = Vec::new();
            self.export_jsonl(&mut out)?;
            Ok(out)
        }
        fn export_table(&self, options: &HistoryOptions, prefix: Option<&str>) -> Result<Vec<u8>> {
            let mut out = Vec::new();
            self.engine().export_jsonl(options, prefix, &mut out)?;
            Ok(out)
        }
        fn import_table(&self, options: &HistoryOptions, mut lines: &[u8]) -> Result<u64> {
            self.engine().import_jsonl(options, &mut lines)
        }
        fn watch(&self, from: WatchFrom) -> Result<Watcher> {
            Ok(Box::new(self.watch(from)?))
        }
        fn watch_with_options(&self, from: WatchFrom, options: &WatchOptions) -> Result<Watcher> {
            Ok(Box::new(self.watch_with_options(from, options)?))
        }
        fn sibling(&self, session: &str, options: HistoryOptions) -> Result<Self> {
            Self::with_engine(session, self.engine(), options)
        }
    }
    nonblocking {
        fn open(session: &str, url: &str, options: HistoryOptions) -> Result<Self> {
            let _inside = runtime().enter();
            Self::with_options(session, url, options)
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
        fn pool_state(&self) -> PoolState {
            self.engine().pool_state()
        }
        fn trim_with_counter(&self, options: &TrimOptions, counter: Counter<'_>) -> Result<Vec<Message>> {
            runtime().block_on(self.trim_with_counter(options, counter))
        }
        fn export_session(&self) -> Result<Vec<u8>> {
            let mut out = Vec::new();
            runtime().block_on(self.export_jsonl(&mut out))?;
            Ok(out)
        }
        fn export_table(&self, options: &HistoryOptions, prefix: Option<&str>) -> Result<Vec<u8>> {
            let mut out = Vec::new();
            runtime().block_on(self.engine().export_jsonl(options, prefix, &mut out))?;
            Ok(out)
        }
        fn import_table(&self, options: &HistoryOptions, mut lines: &[u8]) -> Result<u64> {
            runtime().block_on(self.engine().import_jsonl(options, &mut lines))
        }
        fn watch(&self, from: WatchFrom) -> Result<Watcher> {
            Ok(Box::new(runtime().block_on(self.watch(from))?))
        }
        fn watch_with_options(&self, from: WatchFrom, options: &WatchOptions) -> Result<Watcher> {
            Ok(Box::new(runtime().block_on(self.watch_with_options(from, options))?))
        }
        fn sibling(&self, session: &str, options: HistoryOptions) -> Result<Self> {
            Self::with_engine(session, self.engine(), options)
        }
    }
}
