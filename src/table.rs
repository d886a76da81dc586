//! The tables and sessions an engine works on, and which tables this
//! process has already created, so that `CREATE TABLE IF NOT EXISTS` runs
//! once per process and table rather than on every call.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use crate::error::{Error, Result, SqlState};
use crate::ident::{Ident, check_session_id, stable_hash};
use crate::options::{EngineOptions, HistoryOptions};
use crate::retry::Policy;

/// Tables this process has created (or found), by database and name.
fn created_tables() -> MutexGuard<'static, HashSet<String>> {
    static CREATED: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    // The set stays consistent even if a holder panicked: inserts and
    // removals are single calls.
    CREATED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// How session ids compare in a table, as its collation has it: what a
/// prefix's range of ids means. A range `[prefix, next)` holds exactly the
/// ids that start with `prefix` only in byte order (CockroachDB's, and
/// PostgreSQL's `C` collations); under a linguistic collation it holds
/// others (`Alice:1` for `alice`) and misses some (`user-123:` holds
/// nothing under ICU's `en-US`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IdOrder {
    /// Compare the column as it is, through the session index.
    Bytes,
    /// Compare it `COLLATE "C"`.
    Collated,
}

/// The order of each table's ids, by database and name, once known.
fn id_orders() -> MutexGuard<'static, HashMap<String, IdOrder>> {
    static ORDERS: OnceLock<Mutex<HashMap<String, IdOrder>>> = OnceLock::new();
    ORDERS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// One chat table of one database.
#[derive(Debug)]
pub(crate) struct Table {
    pub(crate) schema: Ident,
    pub(crate) name: Ident,
    /// The names as statement parameters.
    pub(crate) schema_name: String,
    pub(crate) table_name: String,
    pub(crate) older_index: String,
    /// `"schema"."table"`, as statements name it.
    qualified: Arc<str>,
    /// The channel of the table's notifications on PostgreSQL (see
    /// `channel`).
    channel: String,
    statement_key: Arc<str>,
    /// Database and name, the key of the process-wide set.
    key: String,
    auto_create: bool,
    /// What the table is created with besides the guide's schema.
    pub(crate) activity_index: bool,
    pub(crate) ttl: Option<Duration>,
    /// A fast path in front of the process-wide set.
    created: AtomicBool,
}

impl Table {
    /// The table `options` names in the database `database` (see
    /// `ConnectionConfig::identity`).
    pub(crate) fn new(database: &str, options: &HistoryOptions) -> Result<Table> {
        let (schema, name) = options.names()?;
        let qualified: Arc<str> = format!("{}.{}", schema.quoted(), name.quoted()).into();
        let statement_key = match options.ttl {
            Some(ttl) => format!("{qualified} ttl {}", ttl.as_secs()).into(),
            None => Arc::clone(&qualified),
        };
        Ok(Table {
            key: format!("{database}/{qualified}"),
            channel: format!("langchain_watch_{:016x}", stable_hash(&qualified)),
            statement_key,
            qualified,
            schema_name: schema.as_str().to_owned(),
            table_name: name.as_str().to_owned(),
            older_index: name.older_index_name().as_str().to_owned(),
            schema,
            name,
            auto_create: options.create_table,
            activity_index: options.activity_index,
            ttl: options.ttl,
            created: AtomicBool::new(false),
        })
    }

    pub(crate) fn qualified(&self) -> &Arc<str> {
        &self.qualified
    }

    /// The PostgreSQL channel that this crate's writes to the table notify
    /// and its watches listen to: `langchain_watch_` and the FNV-1a hash of
    /// `"schema"."table"` in hex, so that every process, of any version of
    /// the crate, names it alike, within the 63 bytes of an identifier.
    /// (Notifications do not leave their database.)
    pub(crate) fn channel(&self) -> &str {
        &self.channel
    }

    /// Whether the table must be created before the next statement.
    pub(crate) fn needs_create(&self) -> bool {
        if !self.auto_create || self.created.load(Ordering::Relaxed) {
            return false;
        }
        if created_tables().contains(&self.key) {
            self.created.store(true, Ordering::Relaxed);
            return false;
        }
        true
    }

    pub(crate) fn mark_created(&self) {
        created_tables().insert(self.key.clone());
        self.created.store(true, Ordering::Relaxed);
    }

    /// How the table's ids compare, if this process has asked.
    pub(crate) fn id_order(&self) -> Option<IdOrder> {
        id_orders().get(&self.key).copied()
    }

    pub(crate) fn set_id_order(&self, order: IdOrder) {
        id_orders().insert(self.key.clone(), order);
    }

    /// What the statements of this table are prepared under: their texts
    /// depend on the name and on `ttl` (see `sql::render`).
    pub(crate) fn statement_key(&self) -> &Arc<str> {
        &self.statement_key
    }

    /// Forgets that the table exists (it was dropped), so that the next use
    /// creates it again, and how its ids compared.
    pub(crate) fn forget(&self) {
        id_orders().remove(&self.key);
        created_tables().remove(&self.key);
        self.created.store(false, Ordering::Relaxed);
    }

    /// Whether `err` says the table is gone although this process created
    /// it: somebody dropped it, and it should be created again.
    pub(crate) fn was_dropped(&self, err: &Error) -> bool {
        self.auto_create
            && err.code().is_some_and(|c| {
                *c == SqlState::UNDEFINED_TABLE || *c == SqlState::INVALID_SCHEMA_NAME
            })
    }
}

/// What one history works on: a session of a table, and how to treat it.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) id: String,
    pub(crate) table: Table,
    pub(crate) policy: Policy,
    pub(crate) max_message_bytes: usize,
    pub(crate) max_batch_bytes: usize,
}

impl Session {
    pub(crate) fn new(
        id: String,
        table: Table,
        options: &HistoryOptions,
        engine: &EngineOptions,
    ) -> Result<Session> {
        check_session_id(&id)?;
        Ok(Session {
            id,
            table,
            policy: Policy::new(options, engine),
            max_message_bytes: options.max_message_bytes,
            max_batch_bytes: options.max_batch_bytes,
        })
    }
}
