//! The guides of `docs/`, one module each, so that they show with the API
//! and their examples run as doctests: what the README leaves out.
//!
//! - [`histories`]: message types, sessions, tables, windows and pages.
//! - [`production`]: connection strings and TLS, security, pools, retries,
//!   deadlines, what each error means.
//! - [`streaming`]: a streamed reply stored once, a client that goes away,
//!   retries.
//! - [`operations`]: listing sessions, retention, backups, the command
//!   line, troubleshooting.
//! - `rig` (feature `rig`): rig's conversation memory on a table.
//! - [`python`]: sharing a table with Python, numbers and key order.
//! - [`cockroachdb`]: every statement sent, every SQLSTATE handled, and what
//!   CockroachDB does differently from PostgreSQL.
//! - [`performance`]: next to the raw driver, and as tables grow.

// Each module is its markdown file and nothing else: the file is what
// GitHub shows, and what `cargo test --doc` runs.
#[doc = include_str!("../../docs/histories.md")]
pub mod histories {}

#[doc = include_str!("../../docs/production.md")]
pub mod production {}

#[doc = include_str!("../../docs/streaming.md")]
pub mod streaming {}

#[doc = include_str!("../../docs/operations.md")]
pub mod operations {}

#[cfg(feature = "rig")]
#[cfg_attr(docsrs, doc(cfg(feature = "rig")))]
#[doc = include_str!("../../docs/rig.md")]
pub mod rig {}

#[doc = include_str!("../../docs/python.md")]
pub mod python {}

#[doc = include_str!("../../docs/COCKROACHDB.md")]
pub mod cockroachdb {}

#[doc = include_str!("../../docs/BENCHMARKS.md")]
pub mod performance {}
