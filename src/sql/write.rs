//! Appending messages to a session.

use uuid::Uuid;

use crate::error::{Error, Result};
use crate::message::Message;
use crate::table::Session;

use super::statement::{Request, Sql};
use super::wire;

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
macro_rules! insert_batch {
    () => {
        concat!(
            "INSERT INTO {t} (id, session_id, message, created_at)
SELECT m.id, $1, m.message::JSONB, ",
            after_newest!(),
            " + (m.ord - 1) * INTERVAL '1 microsecond'
FROM unnest($2::UUID[], $3::TEXT[]) WITH ORDINALITY AS m (id, message, ord)
ON CONFLICT (id) DO NOTHING"
        )
    };
}

/// On PostgreSQL, `$insert` (whose `$1` is the session id) wrapped so that
/// the same statement wakes the session's watches: the new rows' ids, and
/// `pg_notify` on the table's channel with the session id as payload, once
/// per new row (PostgreSQL delivers one per transaction, channel and
/// payload, and only if the transaction commits). A try that stores nothing
/// notifies nothing. No round trip is added.
macro_rules! notifying {
    ($insert:expr) => {
        concat!(
            "WITH new AS (",
            $insert,
            " RETURNING id)
SELECT id FROM new WHERE pg_notify('{channel}', $1) IS NOT NULL"
        )
    };
}

const INSERT: Sql = Sql::write(insert_batch!()).on_postgresql(notifying!(insert_batch!()));
/// With ids the caller chose: the rows that were new, so that a caller's
/// retry learns what an ambiguous try stored.
const INSERT_RETURNING: Sql = Sql::write(concat!(insert_batch!(), " RETURNING id"))
    .on_postgresql(notifying!(insert_batch!()));
/// One message, without the arrays: measurably cheaper for the server to
/// run than `INSERT` for the most common call.
macro_rules! insert_one {
    () => {
        concat!(
            "INSERT INTO {t} (id, session_id, message, created_at)
VALUES ($2::UUID, $1, $3::TEXT::JSONB, ",
            after_newest!(),
            ")
ON CONFLICT (id) DO NOTHING"
        )
    };
}
const INSERT_ONE: Sql = Sql::write(insert_one!()).on_postgresql(notifying!(insert_one!()));
/// Messages ready to insert: checked, serialized, and given their row ids.
pub(crate) struct InsertBatch {
    ids: Vec<Uuid>,
    json: Vec<String>,
}

impl InsertBatch {
    /// The row ids, in the order of the messages.
    pub(crate) fn ids(&self) -> &[Uuid] {
        &self.ids
    }

    /// Checks, serializes and numbers `messages` for `session`, or says
    /// why they cannot be stored; nothing is sent either way.
    pub(crate) fn new(session: &Session, messages: &[Message]) -> Result<InsertBatch> {
        let ids = messages.iter().map(|_| Uuid::new_v4()).collect();
        InsertBatch::with_ids(session, ids, messages.iter())
    }

    /// As `new`, with row ids the caller chose.
    pub(crate) fn with_ids<'a>(
        session: &Session,
        ids: Vec<Uuid>,
        messages: impl Iterator<Item = &'a Message>,
    ) -> Result<InsertBatch> {
        let json = messages
            .enumerate()
            .map(|(i, message)| {
                storable_json(message, session.max_message_bytes, || {
                    format!("message {i}")
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let size = json.iter().map(String::len).sum();
        if size > session.max_batch_bytes {
            return Err(Error::TooLarge {
                what: format!("the batch of {} messages", json.len()),
                size,
                limit: session.max_batch_bytes,
                setting: "HistoryOptions::max_batch_bytes, of its JSON",
            });
        }
        Ok(InsertBatch { ids, json })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Bytes of JSON it sends.
    pub(crate) fn bytes(&self) -> usize {
        self.json.iter().map(String::len).sum()
    }

    /// The protocol message that carries it to the server for `session`,
    /// at most (see `wire`): what a merged statement must fit in.
    pub(crate) fn wire_bytes(&self, session: &Session) -> usize {
        wire::bind([
            wire::value(session.id.len()),
            wire::array(self.ids.iter().map(|_| 16)),
            wire::array(self.json.iter().map(String::len)),
        ])
    }

    /// Several batches as one, in their order: one statement for the writes
    /// of several callers.
    pub(crate) fn concat<'a>(batches: impl Iterator<Item = &'a InsertBatch>) -> InsertBatch {
        let mut all = InsertBatch {
            ids: Vec::new(),
            json: Vec::new(),
        };
        for batch in batches {
            all.ids.extend_from_slice(&batch.ids);
            all.json.extend(batch.json.iter().cloned());
        }
        all
    }
}

/// The JSON text of `message`, or why the table cannot store it (`what`
/// names the message in the error).
pub(crate) fn storable_json(
    message: &Message,
    max_bytes: usize,
    what: impl Fn() -> String,
) -> Result<String> {
    if let Some(reason) = message
        .refusal()
        .map(str::to_owned)
        .or_else(|| message.storage_problem())
    {
        return Err(Error::InvalidMessage(format!("{}: {reason}", what())));
    }
    let json = message.to_json();
    if json.len() > max_bytes {
        return Err(Error::TooLarge {
            what: what(),
            size: json.len(),
            limit: max_bytes,
            setting: "HistoryOptions::max_message_bytes, of its JSON",
        });
    }
    Ok(json)
}

/// The statement that stores `batch` and returns the ids it stored.
pub(crate) fn insert_returning<'a>(session: &'a Session, batch: &'a InsertBatch) -> Request<'a> {
    Request::Statement(INSERT_RETURNING, vec![&session.id, &batch.ids, &batch.json])
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
    use crate::options::{EngineOptions, HistoryOptions};
    use crate::table::Table;

    fn session() -> Session {
        let options = HistoryOptions::default()
            .max_message_bytes(1000)
            .max_batch_bytes(1500);
        let table = Table::new("db", &options).unwrap();
        Session::new("s".into(), table, &options, &EngineOptions::default()).unwrap()
    }

    #[test]
    fn batches_refuse_what_cannot_be_stored() {
        let s = session();
        let err = InsertBatch::new(&s, &[Message::human("ok"), Message::human("a\0b")]);
        assert!(matches!(err, Err(Error::InvalidMessage(m)) if m.starts_with("message 1: ")));
        let err = InsertBatch::new(&s, &[Message::human("x".repeat(2000))]);
        assert!(matches!(err, Err(Error::TooLarge { limit: 1000, .. })));
        let two = [
            Message::human("x".repeat(800)),
            Message::ai("y".repeat(800)),
        ];
        let err = InsertBatch::new(&s, &two);
        assert!(
            matches!(err, Err(Error::TooLarge { limit: 1500, .. })),
            "{:?}",
            err.err()
        );
        let batch = InsertBatch::new(&s, &[Message::human("a"), Message::ai("b")]).unwrap();
        assert_eq!(batch.ids.len(), 2);
        assert_ne!(batch.ids[0], batch.ids[1]);
    }
}
