//! Traces of operations, with the `tracing` feature: one span per
//! statement run (with its retries), with OpenTelemetry's database
//! attributes, and events for each retry and each failed connection
//! attempt. Neither message contents nor passwords ever reach them. Without
//! the feature, the same calls compile to nothing.

use std::time::Duration;

use crate::config::ConnectionConfig;
use crate::error::Error;

#[cfg(feature = "tracing")]
mod imp {
    use super::{ConnectionConfig, Duration, Error};

    /// The span of one operation.
    pub(crate) struct Operation(tracing::Span);

    pub(crate) fn operation(verb: &str, table: &str, server: &ConnectionConfig) -> Operation {
        Operation(tracing::info_span!(
            "langchain_cockroachdb",
            // Known once a connection is open: `server`.
            "db.system" = tracing::field::Empty,
            "db.operation.name" = verb,
            "db.collection.name" = table,
            "server.address" = server.target(),
        ))
    }

    impl Operation {
        /// The server the operation runs on: `cockroachdb` or `postgresql`.
        pub(crate) fn server(&self, name: &'static str) {
            self.0.record("db.system", name);
        }

        pub(crate) fn retry(&self, attempt: u32, err: &Error, wait: Duration) {
            tracing::warn!(
                parent: &self.0,
                attempt,
                db.response.status_code = err.code().map(|c| c.code()),
                wait_ms = wait.as_millis() as u64,
                "retrying after: {err}"
            );
        }

        pub(crate) fn failed(&self, err: &Error) {
            tracing::warn!(
                parent: &self.0,
                db.response.status_code = err.code().map(|c| c.code()),
                ambiguous = err.is_ambiguous(),
                "failed: {err}"
            );
        }
    }

    pub(crate) fn connect_failed(server: &str, cause: &dyn std::fmt::Display) {
        tracing::warn!(
            "server.address" = server,
            "connection attempt failed: {cause}"
        );
    }

    /// Whether a table's row-level TTL was already as asked, or is changed
    /// now (a schema change, which needs ownership or `CREATE`).
    pub(crate) fn ttl_setup(table: &str, in_place: bool) {
        match in_place {
            true => tracing::debug!("db.collection.name" = table, "row-level TTL already set"),
            false => tracing::info!(
                "db.collection.name" = table,
                "setting the table's row-level TTL (ALTER TABLE ... SET ttl_expiration_expression)"
            ),
        }
    }
}

#[cfg(not(feature = "tracing"))]
mod imp {
    use super::{ConnectionConfig, Duration, Error};

    pub(crate) struct Operation;

    pub(crate) fn operation(_verb: &str, _table: &str, _server: &ConnectionConfig) -> Operation {
        Operation
    }

    impl Operation {
        pub(crate) fn server(&self, _name: &'static str) {}

        pub(crate) fn retry(&self, _attempt: u32, _err: &Error, _wait: Duration) {}

        pub(crate) fn failed(&self, _err: &Error) {}
    }

    pub(crate) fn connect_failed(_server: &str, _cause: &dyn std::fmt::Display) {}

    pub(crate) fn ttl_setup(_table: &str, _in_place: bool) {}
}

pub(crate) use imp::{Operation, connect_failed, operation, ttl_setup};
