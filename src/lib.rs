#![doc = include_str!("../README.md")]
#![deny(missing_docs, unreachable_pub, missing_debug_implementations)]
#![warn(rust_2018_idioms)]

mod config;
mod error;
mod message;
mod retry;
mod shell;
mod sql;

#[cfg(feature = "blocking")]
#[cfg_attr(docsrs, doc(cfg(feature = "blocking")))]
pub mod blocking;
#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub mod nonblocking;

pub use config::{ConnectionConfig, EngineOptions, HistoryOptions, PoolState, SslMode};
pub use error::{Error, Result, SqlState};
pub use message::{Content, Message, MessageType};
pub use retry::RetryPolicy;

/// The driver this crate is built on, so that you can name its types
/// (rows, SQLSTATEs, configs) in matching versions.
pub use tokio_postgres;
