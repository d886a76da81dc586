//! How large the protocol messages that carry a statement are, so that
//! nothing is sent that the server must refuse for its size.
//!
//! CockroachDB refuses a message from a client larger than
//! `sql.conn.max_read_buffer_message_size` (16 MiB by default) with `08P01`
//! and closes the connection; PostgreSQL accepts up to 1 GiB. Sending such
//! a message is a wasted round trip at best, and a retried one at worst, so
//! the engine measures each statement's messages before sending it, and
//! merged writes and import batches are cut to fit.

use bytes::BytesMut;
use tokio_postgres::types::Type;

use crate::error::Error;

use super::statement::Param;
use crate::report::ServerKind;

/// CockroachDB's default `sql.conn.max_read_buffer_message_size`.
pub(crate) const COCKROACHDB_DEFAULT: usize = 16 << 20;

/// PostgreSQL's limit on a message from a client (`PQ_LARGE_MESSAGE_LIMIT`).
pub(crate) const POSTGRESQL: usize = (1 << 30) - 1;

/// The setting an error names when a statement does not fit.
pub(crate) const SETTING: &str = "EngineOptions::max_protocol_message_bytes; CockroachDB's sql.conn.max_read_buffer_message_size";

/// A Bind message without its parameter values: its type byte and length,
/// the portal and statement names (tokio-postgres names statements `s<n>`),
/// the counts and format codes of the parameters and of the results, with
/// room to spare.
const BIND_FRAME: usize = 64;

/// The binary header of a one-dimensional array: dimensions, flags, element
/// type, length and lower bound.
const ARRAY_HEADER: usize = 20;

/// The most a message from this client may hold: the limit set, else the
/// server's (CockroachDB's default while the server is not known yet).
pub(crate) fn limit(set: Option<usize>, server: Option<ServerKind>) -> usize {
    set.unwrap_or(match server {
        Some(ServerKind::PostgreSQL) => POSTGRESQL,
        Some(ServerKind::CockroachDB) | None => COCKROACHDB_DEFAULT,
    })
}

/// The Bind message of a statement whose parameters are the sizes
/// `params` gives (each value's bytes, as `value` and `array` count them).
pub(crate) fn bind(params: impl IntoIterator<Item = usize>) -> usize {
    params.into_iter().fold(BIND_FRAME, |size, value| {
        size.saturating_add(2).saturating_add(value)
    })
}

/// A scalar parameter of `bytes` bytes, with its length word.
pub(crate) fn value(bytes: usize) -> usize {
    bytes.saturating_add(4)
}

/// A one-dimensional array parameter of elements of these sizes, with its
/// length word.
pub(crate) fn array(elements: impl IntoIterator<Item = usize>) -> usize {
    elements
        .into_iter()
        .fold(value(ARRAY_HEADER), |size, element| {
            size.saturating_add(value(element))
        })
}

/// The Bind message tokio-postgres sends for `params` of the prepared
/// statement's `types`, measured by encoding each value as the driver
/// will. A value the driver cannot encode counts as nothing: the driver
/// reports that error itself.
pub(crate) fn bind_of(types: &[Type], params: &[Param<'_>]) -> usize {
    let mut buf = BytesMut::new();
    bind(params.iter().zip(types).map(|(param, ty)| {
        buf.clear();
        match param.to_sql_checked(ty, &mut buf) {
            Ok(_) => value(buf.len()),
            Err(_) => 0,
        }
    }))
}

/// The Parse message of `text`, or the Query message of a batch.
pub(crate) fn text(text: &str, params: usize) -> usize {
    BIND_FRAME
        .saturating_add(text.len())
        .saturating_add(params.saturating_mul(4))
}

/// `size` bytes of `what` against `limit`: the typed refusal, before
/// anything is sent.
pub(crate) fn check(what: impl FnOnce() -> String, size: usize, limit: usize) -> Result<(), Error> {
    match size > limit {
        true => Err(Error::TooLarge {
            what: what(),
            size,
            limit,
            setting: SETTING,
        }),
        false => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The estimate of an insert's Bind message is never below what the
    /// driver encodes, and close to it.
    #[test]
    fn estimates_cover_the_encoded_message() {
        let ids: Vec<uuid::Uuid> = (0..50).map(|_| uuid::Uuid::new_v4()).collect();
        let json: Vec<String> = (0..50).map(|i| "x".repeat(i * 37)).collect();
        let session = "a session".to_owned();
        let params: [Param<'_>; 3] = [&session, &ids, &json];
        let types = [Type::TEXT, Type::UUID_ARRAY, Type::TEXT_ARRAY];
        let encoded = bind_of(&types, &params);
        let estimated = bind([
            value(session.len()),
            array(ids.iter().map(|_| 16)),
            array(json.iter().map(String::len)),
        ]);
        assert!(estimated >= encoded, "{estimated} < {encoded}");
        assert!(estimated - encoded < BIND_FRAME, "{estimated} vs {encoded}");
    }

    #[test]
    fn the_limit_is_the_servers_unless_set() {
        assert_eq!(limit(None, None), 16 << 20);
        assert_eq!(limit(None, Some(ServerKind::CockroachDB)), 16 << 20);
        assert_eq!(limit(None, Some(ServerKind::PostgreSQL)), (1 << 30) - 1);
        assert_eq!(limit(Some(1000), Some(ServerKind::PostgreSQL)), 1000);
        let err = check(|| "it".into(), 1001, 1000).unwrap_err();
        assert!(!err.is_retryable(), "{err}");
        assert!(
            err.to_string().contains("max_read_buffer_message_size"),
            "{err}"
        );
        assert!(check(|| "it".into(), 1000, 1000).is_ok());
    }
}
