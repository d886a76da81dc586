// The README is the crate documentation, and its examples run as doctests;
// they use both faces, so other feature sets get a one-line summary.
#![cfg_attr(all(feature = "blocking", feature = "async"), doc = include_str!("../README.md"))]
#![cfg_attr(
    not(all(feature = "blocking", feature = "async")),
    doc = "LangChain chat message history for CockroachDB: see README.md."
)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![deny(missing_docs, unreachable_pub, missing_debug_implementations)]
#![warn(rust_2018_idioms)]
// With neither face enabled only the message model, options and connection
// strings are of use; the statement and I/O plumbing still compiles, so that
// the core is checked in every feature combination.
#![cfg_attr(
    not(any(feature = "blocking", feature = "async")),
    allow(dead_code, unused_imports, unused_macros)
)]

// The runtime-free core, in layers (groups of lines): a module uses only
// modules of the layers above its own. `tests/layers.rs` reads this list
// and checks it.
mod error; // the error type

mod ident; // table, schema and index names, session ids
mod message; // LangChain's message model

#[cfg(feature = "langchain-rust")]
mod langchain_rust_messages; // langchain-rust's messages, both ways
mod options; // option structs
mod report; // server kinds, diagnoses
mod stored; // stored rows as users see them, JSON Lines

mod history; // the history and store traits, and histories in memory
mod watch; // live conversations: where a watch starts, what it yields

mod retry; // what to retry, and when: policies, calls and their deadlines

mod config; // connection strings
#[cfg(any(feature = "blocking", feature = "async"))]
mod hub; // who watches what, and whom to wake
mod pool; // pool state, connection failures, the engine registry
mod rows;
mod table; // a table, the sessions of a history, which tables exist // decoding rows

#[cfg(any(feature = "blocking", feature = "async"))]
mod connect; // how both drivers connect: settings, sslmode, rustls, deadlines
mod sql; // every statement, beside its parameters
mod trace; // spans and events (feature `tracing`)

/// The files of `src/io/`, as modules of the face that invokes this: each
/// face compiles the shared I/O and the public operations as its own, with
/// its own driver and pool (see `io/face.rs`).
#[cfg(any(feature = "blocking", feature = "async"))]
macro_rules! io_modules {
    () => {
        $crate::io_modules!(
            api_engine = "../io/api_engine.rs",
            api_history = "../io/api_history.rs",
            api_reads = "../io/api_reads.rs",
            api_upkeep = "../io/api_upkeep.rs",
            ddl = "../io/ddl.rs",
            diagnose = "../io/diagnose.rs",
            engine = "../io/engine.rs",
            face = "../io/face.rs",
            hub = "../io/hub.rs",
            lanes = "../io/lanes.rs",
            read = "../io/read.rs",
            retention = "../io/retention.rs",
            sessions = "../io/sessions.rs",
            transaction = "../io/transaction.rs",
            transfer = "../io/transfer.rs",
            watch = "../io/watch.rs",
            write = "../io/write.rs",
        );
    };
    ($($module:ident = $path:literal),* $(,)?) => {
        $(
            #[allow(clippy::duplicate_mod)]
            #[path = $path] mod $module;
        )*
    };
}
#[cfg(any(feature = "blocking", feature = "async"))]
pub(crate) use io_modules;

// The faces: each compiles the shared I/O and the public operations of
// `src/io/` as its own modules, with its own driver and pool.
#[cfg(feature = "blocking")]
#[cfg_attr(docsrs, doc(cfg(feature = "blocking")))]
pub mod blocking;
#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub mod nonblocking;

#[cfg(feature = "langchain-rust")]
#[cfg_attr(docsrs, doc(cfg(feature = "langchain-rust")))]
pub use langchain_rust_messages::{from_langchain_rust, to_langchain_rust};
// rig's conversation memory, over the async face.
#[cfg(feature = "rig")]
#[cfg_attr(docsrs, doc(cfg(feature = "rig")))]
pub mod rig;

// The guides of docs/, as modules whose examples run as doctests; like the
// README they use both faces.
#[cfg(all(feature = "blocking", feature = "async"))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "blocking", feature = "async"))))]
pub mod guide;

pub use config::{ConnectionConfig, ConnectionConfigBuilder, SslMode};
pub use error::{DbError, Error, Result, SqlState};
pub use history::{
    AsyncChatHistoryStore, AsyncChatMessageHistory, BoxFuture, ChatHistoryStore,
    ChatMessageHistory, InMemoryChatHistoryStore, InMemoryChatMessageHistory,
};
pub use message::{
    Content, Message, MessageType, TrimOptions, count_tokens_approximately, from_openai_messages,
    to_openai_messages, trim_messages,
};
pub use options::{EngineOptions, HistoryOptions, RetryPolicy, SessionFilter};
pub use pool::PoolState;
pub use report::{Diagnosis, ServerKind};
pub use sql::ddl::schema_sql;
pub use stored::{Page, PageCursor, SessionInfo, StoredMessage};
pub use watch::{WatchCursor, WatchEvent, WatchFrom, WatchOptions};

/// Timestamps (`created_at`) are `time` values.
pub use time;
/// Row ids are `uuid` values.
pub use uuid;

/// The driver this crate is built on, so that you can name its types
/// (rows, SQLSTATEs, configs) in matching versions.
pub use tokio_postgres;
