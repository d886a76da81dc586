//! Appending messages to a session.

use uuid::Uuid;

use crate::catalog::Session;
use crate::error::{Error, Result};
use crate::message::Message;

use super::Request;

/// The base time of a write: never earlier than just after the session's
/// newest row. `now()` alone could go backwards between two quick calls (a
/// big batch reaches further ahead than the next call's `now()`, or another
/// CockroachDB gateway's clock lags). The max() reads one entry of the
/// `(session_id, created_at)` index.
macro_rules! after_newest {
    () => {
        "GREATEST(now(), COALESCE((SELECT max(created_at) FROM {t} WHERE session_id = $1::TEXT)
                       + INTERVAL '1 microsecond', now()))"
    };
}

/// One statement for one message or many, so a batch is atomic.
/// - Ids are chosen by the client before the first try, and a retry after
///   an ambiguous commit hits ON CONFLICT and writes nothing twice.
/// - Each row gets its position in microseconds on top of the base time,
///   like the Python library.
/// - Messages travel as TEXT and are cast: arrays of JSONB are not accepted
///   by every CockroachDB version this crate supports.
const INSERT: &str = concat!(
    "INSERT INTO {t} (id, session_id, message, created_at)
SELECT m.id, $1, m.message::JSONB, ",
    after_newest!(),
    " + (m.ord - 1) * INTERVAL '1 microsecond'
FROM unnest($2::UUID[], $3::TEXT[]) WITH ORDINALITY AS m (id, message, ord)
ON CONFLICT (id) DO NOTHING"
);

/// The same for the most common call, one message, without the arrays:
/// measurably cheaper for the server to run.
const INSERT_ONE: &str = concat!(
    "INSERT INTO {t} (id, session_id, message, created_at)
VALUES ($2::UUID, $1, $3::TEXT::JSONB, ",
    after_newest!(),
    ")
ON CONFLICT (id) DO NOTHING"
);

/// Messages ready to insert: checked, serialized, and given their row ids.
pub(crate) struct InsertBatch {
    ids: Vec<Uuid>,
    json: Vec<String>,
}

impl InsertBatch {
    pub(crate) fn new(messages: &[Message], max_message_bytes: usize) -> Result<InsertBatch> {
        let json = messages
            .iter()
            .enumerate()
            .map(|(i, message)| {
                storable_json(message, max_message_bytes)
                    .map_err(|reason| Error::InvalidMessage(format!("message {i}: {reason}")))
            })
            .collect::<Result<_>>()?;
        let ids = messages.iter().map(|_| Uuid::new_v4()).collect();
        Ok(InsertBatch { ids, json })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// The JSON text of `message`, or why the table cannot store it.
pub(crate) fn storable_json(message: &Message, max_bytes: usize) -> Result<String, String> {
    if message.has_nul() {
        return Err("it contains U+0000, which JSONB cannot store".into());
    }
    let json = message.to_json();
    if json.len() > max_bytes {
        return Err(format!(
            "it is {} bytes as JSON, over the limit of {max_bytes}",
            json.len()
        ));
    }
    Ok(json)
}

pub(crate) fn insert<'a>(session: &'a Session, batch: &'a InsertBatch) -> Request<'a> {
    match (batch.ids.as_slice(), batch.json.as_slice()) {
        ([id], [json]) => Request::Statement(INSERT_ONE, vec![&session.id, id, json]),
        _ => Request::Statement(INSERT, vec![&session.id, &batch.ids, &batch.json]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_refuse_nul_and_oversized_messages() {
        let err = InsertBatch::new(&[Message::human("ok"), Message::human("a\0b")], 1000);
        assert!(matches!(err, Err(Error::InvalidMessage(m)) if m.starts_with("message 1: ")));
        assert!(InsertBatch::new(&[Message::human("x".repeat(2000))], 1000).is_err());
        let batch = InsertBatch::new(&[Message::human("a"), Message::ai("b")], 1000).unwrap();
        assert_eq!(batch.ids.len(), 2);
        assert_ne!(batch.ids[0], batch.ids[1]);
    }
}
