//! The tables and sessions an engine works on, and which tables this
//! process has already created, so that `CREATE TABLE IF NOT EXISTS` runs
//! once per process and table rather than on every call.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use crate::error::{Error, Result, SqlState};
use crate::ident::{Ident, check_session_id};
use crate::options::{EngineOptions, HistoryOptions, RetryPolicy};

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
        Ok(Table {
            key: format!("{database}/{qualified}"),
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

    /// Forgets that the table exists (it was dropped), so that the next use
    /// creates it again.
    pub(crate) fn forget(&self) {
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
