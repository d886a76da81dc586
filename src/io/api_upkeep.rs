//! An engine's work on many sessions at once: listing them, retention,
//! erasing a prefix, and the diagnosis of a table.
//!
//! Each face compiles this file as its own module (as it does every file
//! of `src/io/`), with its own types as `Engine` and `History` and its own
//! `example!`; `api_engine.rs` says how the public operations are written
//! once.

use std::time::Duration;

use crate::error::Result;
use crate::options::{HistoryOptions, SessionFilter};
use crate::report::Diagnosis;
use crate::stored::SessionInfo;

use super::mode::face;
use super::Engine;

#[face(AFIT)]
impl Engine {
    /// The sessions of the table `options` names, newest activity first:
    /// each with its message count and first and last activity.
    ///
    #[doc = example!(
        r#"
use langchain_cockroachdb::{HistoryOptions, SessionFilter};
let engine = CockroachDBEngine::from_connection_string(&url)?;
let options = HistoryOptions::default().table_name("doc_list_sessions");
# engine.drop_tables(&options)?;
for id in ["user-123:main", "user-123:support", "user-456:main"] {
    CockroachDBChatMessageHistory::with_engine(id, &engine, options.clone())?.add_user_message("hi")?;
}
let mine = engine.list_sessions(&options, &SessionFilter::default().prefix("user-123:"))?;
assert_eq!(mine.len(), 2);
assert_eq!(mine[0].session_id, "user-123:support"); // newest first
# engine.drop_tables(&options)?;
"#,
        r#"
use langchain_cockroachdb::{HistoryOptions, SessionFilter};
let engine = AsyncCockroachDBEngine::from_connection_string(&url)?;
let options = HistoryOptions::default().table_name("doc_async_list_sessions");
# engine.drop_tables(&options).await?;
for id in ["user-123:main", "user-123:support", "user-456:main"] {
    AsyncCockroachDBChatMessageHistory::with_engine(id, &engine, options.clone())?.add_user_message("hi").await?;
}
let mine = engine.list_sessions(&options, &SessionFilter::default().prefix("user-123:")).await?;
assert_eq!(mine.len(), 2);
assert_eq!(mine[0].session_id, "user-123:support"); // newest first
# engine.drop_tables(&options).await?;
"#
    )]
    pub async fn list_sessions(
        &self,
        options: &HistoryOptions,
        filter: &SessionFilter,
    ) -> Result<Vec<SessionInfo>> {
        self.0.list_sessions(options, filter).await
    }

    /// Deletes whole sessions whose newest message is older than `idle`
    /// (the guide's `cleanup_old_sessions(days)`). Returns how many messages
    /// went.
    ///
    /// Each session goes in one statement, whole, so that a cut, a deadline
    /// or a crash between statements never leaves part of a conversation (a
    /// tool call without its result), and a session that gets a message
    /// before its statement runs keeps all of it. The sessions of each round
    /// go the longest idle first, as many per statement as fit in
    /// `options.delete_batch_size` rows (a larger session alone).
    ///
    /// Cost: without the activity index, one walk over the `(session_id,
    /// created_at)` index (each round goes on from where the last stopped),
    /// plus the rows deleted. With it
    /// ([`HistoryOptions::activity_index`]), one walk over the rows older
    /// than `idle`, each session found checked through the session index:
    /// when nothing is old, one index probe.
    ///
    #[doc = example!(
        r#"
use std::time::Duration;
use langchain_cockroachdb::HistoryOptions;
let engine = CockroachDBEngine::from_connection_string(&url)?;
let chats = HistoryOptions::default().table_name("doc_cleanup_idle");
let thirty_days = Duration::from_secs(30 * 24 * 3600);
let deleted = engine.delete_sessions_idle_since(&chats, thirty_days)?;
println!("removed {deleted} messages of idle sessions");
# engine.drop_tables(&chats)?;
"#,
        r#"
use std::time::Duration;
use langchain_cockroachdb::HistoryOptions;
let engine = AsyncCockroachDBEngine::from_connection_string(&url)?;
let chats = HistoryOptions::default().table_name("doc_async_cleanup_idle");
let thirty_days = Duration::from_secs(30 * 24 * 3600);
let deleted = engine.delete_sessions_idle_since(&chats, thirty_days).await?;
println!("removed {deleted} messages of idle sessions");
# engine.drop_tables(&chats).await?;
"#
    )]
    pub async fn delete_sessions_idle_since(
        &self,
        options: &HistoryOptions,
        idle: Duration,
    ) -> Result<u64> {
        self.0
            .delete_sessions_idle_since(options, idle, &|_| true)
            .await
    }

    /// As [`delete_sessions_idle_since`](Self::delete_sessions_idle_since),
    /// calling `progress` with the messages deleted so far after each
    /// statement: it returns whether to go on, so that a caller can show
    /// progress and stop between statements (an operator's Ctrl-C). Returns
    /// how many went, also when stopped.
    ///
    #[doc = example!(
        r#"
use std::time::Duration;
use langchain_cockroachdb::HistoryOptions;
let engine = CockroachDBEngine::from_connection_string(&url)?;
let chats = HistoryOptions::default().table_name("doc_cleanup_idle_progress");
let month = Duration::from_secs(30 * 24 * 3600);
let deleted = engine.delete_sessions_idle_since_with_progress(&chats, month, &|so_far| {
    eprintln!("{so_far} messages deleted");
    true
})?;
# assert_eq!(deleted, 0);
# engine.drop_tables(&chats)?;
"#,
        r#"
use std::time::Duration;
use langchain_cockroachdb::HistoryOptions;
let engine = AsyncCockroachDBEngine::from_connection_string(&url)?;
let chats = HistoryOptions::default().table_name("doc_async_cleanup_idle_progress");
let month = Duration::from_secs(30 * 24 * 3600);
let deleted = engine.delete_sessions_idle_since_with_progress(&chats, month, &|so_far| {
    eprintln!("{so_far} messages deleted");
    true
}).await?;
# assert_eq!(deleted, 0);
# engine.drop_tables(&chats).await?;
"#
    )]
    pub async fn delete_sessions_idle_since_with_progress(
        &self,
        options: &HistoryOptions,
        idle: Duration,
        progress: &(dyn Fn(u64) -> bool + Sync),
    ) -> Result<u64> {
        self.0
            .delete_sessions_idle_since(options, idle, progress)
            .await
    }

    /// Deletes every message older than `age`, whatever its session, in
    /// batches of `options.delete_batch_size` rows. Returns how many went.
    ///
    /// Cost: with the activity index
    /// ([`HistoryOptions::activity_index`]), each batch reads only old
    /// rows, through that index: when nothing is old, one index probe.
    /// Without it (the guide's schema has no index on `created_at` alone),
    /// a cleanup walks the primary key once, batch after batch (each
    /// starting after the last row the one before deleted): one read of the
    /// table per call, not per batch. On a very large table without the
    /// index, run it rarely, or prefer
    /// [`delete_sessions_idle_since`](Self::delete_sessions_idle_since), or
    /// on CockroachDB let row-level TTL ([`HistoryOptions::ttl`]) do it.
    ///
    #[doc = example!(
        r#"
# use langchain_cockroachdb::HistoryOptions;
# let engine = CockroachDBEngine::from_connection_string(&url)?;
let chats = HistoryOptions::default().table_name("doc_cleanup_old");
let year = std::time::Duration::from_secs(365 * 24 * 3600);
engine.delete_messages_older_than(&chats, year)?;
# engine.drop_tables(&chats)?;
"#,
        r#"
# use langchain_cockroachdb::HistoryOptions;
# let engine = AsyncCockroachDBEngine::from_connection_string(&url)?;
let chats = HistoryOptions::default().table_name("doc_async_cleanup_old");
let year = std::time::Duration::from_secs(365 * 24 * 3600);
engine.delete_messages_older_than(&chats, year).await?;
# engine.drop_tables(&chats).await?;
"#
    )]
    pub async fn delete_messages_older_than(
        &self,
        options: &HistoryOptions,
        age: Duration,
    ) -> Result<u64> {
        self.0
            .delete_messages_older_than(options, age, &|_| true)
            .await
    }

    /// As [`delete_messages_older_than`](Self::delete_messages_older_than),
    /// calling `progress` with the messages deleted so far after each
    /// statement, which says whether to go on (see
    /// [`delete_sessions_idle_since_with_progress`](Self::delete_sessions_idle_since_with_progress)).
    ///
    #[doc = example!(
        r#"
# use langchain_cockroachdb::HistoryOptions;
# let engine = CockroachDBEngine::from_connection_string(&url)?;
let chats = HistoryOptions::default().table_name("doc_cleanup_old_progress");
let year = std::time::Duration::from_secs(365 * 24 * 3600);
let stop = std::sync::atomic::AtomicBool::new(false); // set by a signal handler
engine.delete_messages_older_than_with_progress(&chats, year, &|_| !stop.load(std::sync::atomic::Ordering::Relaxed))?;
# engine.drop_tables(&chats)?;
"#,
        r#"
# use langchain_cockroachdb::HistoryOptions;
# let engine = AsyncCockroachDBEngine::from_connection_string(&url)?;
let chats = HistoryOptions::default().table_name("doc_async_cleanup_old_progress");
let year = std::time::Duration::from_secs(365 * 24 * 3600);
let stop = std::sync::atomic::AtomicBool::new(false); // set by a signal handler
engine.delete_messages_older_than_with_progress(&chats, year, &|_| !stop.load(std::sync::atomic::Ordering::Relaxed)).await?;
# engine.drop_tables(&chats).await?;
"#
    )]
    pub async fn delete_messages_older_than_with_progress(
        &self,
        options: &HistoryOptions,
        age: Duration,
        progress: &(dyn Fn(u64) -> bool + Sync),
    ) -> Result<u64> {
        self.0
            .delete_messages_older_than(options, age, progress)
            .await
    }

    /// How many messages [`delete_messages_older_than`](Self::delete_messages_older_than)
    /// would delete now: a dry run (one count; through the activity index
    /// when the table has it, else a scan).
    ///
    #[doc = example!(
        r#"
# use langchain_cockroachdb::HistoryOptions;
let engine = CockroachDBEngine::from_connection_string(&url)?;
let chats = HistoryOptions::default().table_name("doc_count_old");
let year = std::time::Duration::from_secs(365 * 24 * 3600);
assert_eq!(engine.count_messages_older_than(&chats, year)?, 0);
# engine.drop_tables(&chats)?;
"#,
        r#"
# use langchain_cockroachdb::HistoryOptions;
let engine = AsyncCockroachDBEngine::from_connection_string(&url)?;
let chats = HistoryOptions::default().table_name("doc_async_count_old");
let year = std::time::Duration::from_secs(365 * 24 * 3600);
assert_eq!(engine.count_messages_older_than(&chats, year).await?, 0);
# engine.drop_tables(&chats).await?;
"#
    )]
    pub async fn count_messages_older_than(
        &self,
        options: &HistoryOptions,
        age: Duration,
    ) -> Result<u64> {
        self.0.count_messages_older_than(options, age).await
    }

    /// How many sessions, and how many messages of theirs,
    /// [`delete_sessions_idle_since`](Self::delete_sessions_idle_since)
    /// would delete now: a dry run (one aggregate of the table).
    ///
    #[doc = example!(
        r#"
# use langchain_cockroachdb::HistoryOptions;
let engine = CockroachDBEngine::from_connection_string(&url)?;
let chats = HistoryOptions::default().table_name("doc_count_idle");
let month = std::time::Duration::from_secs(30 * 24 * 3600);
let (sessions, messages) = engine.count_sessions_idle_since(&chats, month)?;
assert_eq!((sessions, messages), (0, 0));
# engine.drop_tables(&chats)?;
"#,
        r#"
# use langchain_cockroachdb::HistoryOptions;
let engine = AsyncCockroachDBEngine::from_connection_string(&url)?;
let chats = HistoryOptions::default().table_name("doc_async_count_idle");
let month = std::time::Duration::from_secs(30 * 24 * 3600);
let (sessions, messages) = engine.count_sessions_idle_since(&chats, month).await?;
assert_eq!((sessions, messages), (0, 0));
# engine.drop_tables(&chats).await?;
"#
    )]
    pub async fn count_sessions_idle_since(
        &self,
        options: &HistoryOptions,
        idle: Duration,
    ) -> Result<(u64, u64)> {
        self.0.count_sessions_idle_since(options, idle).await
    }

    /// Deletes every session whose id starts with `prefix` (exactly, under
    /// any collation): a data-protection request, "everything of user
    /// 123", when session ids are `user-123:...`. Sessions go whole, as many
    /// per statement as fit in `options.delete_batch_size` rows. Returns how
    /// many messages went. An empty prefix is an
    /// [`InvalidArgument`](crate::Error::InvalidArgument): to delete
    /// everything, drop the table.
    ///
    /// End the prefix with its separator: `user-1` also takes `user-12:`.
    ///
    #[doc = example!(
        r#"
use langchain_cockroachdb::{HistoryOptions, SessionFilter};
let engine = CockroachDBEngine::from_connection_string(&url)?;
let chats = HistoryOptions::default().table_name("doc_erase");
for id in ["user-1:a", "user-1:b", "user-12:a"] {
    CockroachDBChatMessageHistory::with_engine(id, &engine, chats.clone())?.add_user_message("hi")?;
}
assert_eq!(engine.erase_prefix(&chats, "user-1:")?, 2);
assert_eq!(engine.list_sessions(&chats, &SessionFilter::default())?.len(), 1);
# engine.drop_tables(&chats)?;
"#,
        r#"
use langchain_cockroachdb::{HistoryOptions, SessionFilter};
let engine = AsyncCockroachDBEngine::from_connection_string(&url)?;
let chats = HistoryOptions::default().table_name("doc_async_erase");
for id in ["user-1:a", "user-1:b", "user-12:a"] {
    AsyncCockroachDBChatMessageHistory::with_engine(id, &engine, chats.clone())?.add_user_message("hi").await?;
}
assert_eq!(engine.erase_prefix(&chats, "user-1:").await?, 2);
assert_eq!(engine.list_sessions(&chats, &SessionFilter::default()).await?.len(), 1);
# engine.drop_tables(&chats).await?;
"#
    )]
    pub async fn erase_prefix(&self, options: &HistoryOptions, prefix: &str) -> Result<u64> {
        self.0
            .delete_sessions_with_prefix(options, prefix, &|_| true)
            .await
    }

    /// As [`erase_prefix`](Self::erase_prefix), calling `progress` with the
    /// messages deleted so far after each statement, which says whether to
    /// go on.
    ///
    #[doc = example!(
        r#"
# use langchain_cockroachdb::HistoryOptions;
let engine = CockroachDBEngine::from_connection_string(&url)?;
let chats = HistoryOptions::default().table_name("doc_erase_progress");
let deleted = engine.erase_prefix_with_progress(&chats, "user-9:", &|n| {
    eprintln!("{n} messages erased");
    true
})?;
assert_eq!(deleted, 0);
# engine.drop_tables(&chats)?;
"#,
        r#"
# use langchain_cockroachdb::HistoryOptions;
let engine = AsyncCockroachDBEngine::from_connection_string(&url)?;
let chats = HistoryOptions::default().table_name("doc_async_erase_progress");
let deleted = engine.erase_prefix_with_progress(&chats, "user-9:", &|n| {
    eprintln!("{n} messages erased");
    true
}).await?;
assert_eq!(deleted, 0);
# engine.drop_tables(&chats).await?;
"#
    )]
    pub async fn erase_prefix_with_progress(
        &self,
        options: &HistoryOptions,
        prefix: &str,
        progress: &(dyn Fn(u64) -> bool + Sync),
    ) -> Result<u64> {
        self.0
            .delete_sessions_with_prefix(options, prefix, progress)
            .await
    }

    /// What an operator checks, as facts: the server and its version, a
    /// round trip, encryption, the table's columns, indexes and row-level
    /// TTL, how session ids compare, the user's privileges, and the rows
    /// and sessions the statistics estimate. Reads catalogs and statistics
    /// only (never the table's rows), and never creates the table. The
    /// command line's `doctor` turns it into advice.
    ///
    #[doc = example!(
        r#"
# use langchain_cockroachdb::HistoryOptions;
let engine = CockroachDBEngine::from_connection_string(&url)?;
let chats = HistoryOptions::default().table_name("doc_diagnose");
let before = engine.diagnose(&chats)?;
assert!(!before.table_exists());
engine.create_tables(&chats)?;
let after = engine.diagnose(&chats)?;
assert!(after.table_exists() && after.session_index && after.can_insert);
# engine.drop_tables(&chats)?;
"#,
        r#"
# use langchain_cockroachdb::HistoryOptions;
let engine = AsyncCockroachDBEngine::from_connection_string(&url)?;
let chats = HistoryOptions::default().table_name("doc_async_diagnose");
let before = engine.diagnose(&chats).await?;
assert!(!before.table_exists());
engine.create_tables(&chats).await?;
let after = engine.diagnose(&chats).await?;
assert!(after.table_exists() && after.session_index && after.can_insert);
# engine.drop_tables(&chats).await?;
"#
    )]
    pub async fn diagnose(&self, options: &HistoryOptions) -> Result<Diagnosis> {
        self.0.diagnose(options).await
    }
}
