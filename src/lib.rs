// The README is the crate documentation, and its examples run as doctests;
// they use both faces, so other feature sets get a one-line summary.
#![cfg_attr(all(feature = "blocking", feature = "async"), doc = include_str!("../README.md"))]
#![cfg_attr(
    not(all(feature = "blocking", feature = "async")),
    doc = "LangChain chat message history for CockroachDB: see README.md."
)]
#![deny(missing_docs, unreachable_pub, missing_debug_implementations)]
#![warn(rust_2018_idioms)]
// With neither face enabled only the message model, options and connection
// strings are of use; the statement and I/O plumbing still compiles, so that
// the core is checked in every feature combination.
#![cfg_attr(
    not(any(feature = "blocking", feature = "async")),
    allow(dead_code, unused_imports, unused_macros)
)]

// The core, bottom layer first: each module uses only those above it.
mod catalog;
mod config;
mod error;
mod ident;
mod message;
mod options;
mod pool;
mod retry;
mod rows;
mod sql;
mod stored;
mod tls;
// The faces: each compiles the shared I/O of `src/io/` as its own module.

#[cfg(feature = "blocking")]
#[cfg_attr(docsrs, doc(cfg(feature = "blocking")))]
pub mod blocking;
#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub mod nonblocking;

pub use config::{ConnectionConfig, SslMode};
pub use error::{Error, Result, SqlState};
pub use message::{Content, Message, MessageType};
pub use options::{EngineOptions, HistoryOptions, RetryPolicy, SessionFilter};
pub use pool::PoolState;
pub use stored::{Page, PageCursor, SessionInfo, StoredMessage};

/// Timestamps (`created_at`) are `time` values.
pub use time;
/// Row ids are `uuid` values.
pub use uuid;

/// The driver this crate is built on, so that you can name its types
/// (rows, SQLSTATEs, configs) in matching versions.
pub use tokio_postgres;
