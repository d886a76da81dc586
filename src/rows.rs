//! Rows as the crate's statements return them, decoded into messages,
//! stored entries, pages and sessions. A row that is not a LangChain message
//! is an error naming its id.

use tokio_postgres::Row;
use tokio_postgres::types::{FromSql, Type};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::message::Message;
use crate::stored::{Page, PageCursor, SessionInfo, StoredMessage};

/// A JSON or JSONB column as the bytes of its JSON text, borrowed from the
/// row, so a message is parsed straight from the wire buffer.
struct JsonText<'a>(&'a [u8]);

impl<'a> FromSql<'a> for JsonText<'a> {
    fn from_sql(
        ty: &Type,
        raw: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        if *ty == Type::JSONB {
            // JSONB's binary form is a version byte, then the JSON text.
            match raw.split_first() {
                Some((1, text)) => Ok(JsonText(text)),
                _ => Err("unsupported JSONB binary format version".into()),
            }
        } else {
            Ok(JsonText(raw))
        }
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB || *ty == Type::JSON
    }
}

/// A count: the first column of the first row.
pub(crate) fn decode_count(rows: &[Row]) -> Result<u64> {
    let count: i64 = match rows.first() {
        Some(row) => row.try_get(0)?,
        None => 0,
    };
    Ok(count.unsigned_abs())
}

/// The first column of the first row, if there is one and it is not NULL.
pub(crate) fn decode_first<T: for<'a> FromSql<'a>>(rows: &[Row]) -> Result<Option<T>> {
    match rows.first() {
        Some(row) => Ok(row.try_get::<_, Option<T>>(0)?),
        None => Ok(None),
    }
}

/// The first column of every row.
pub(crate) fn decode_column<T: for<'a> FromSql<'a>>(rows: &[Row]) -> Result<Vec<T>> {
    Ok(rows
        .iter()
        .map(|row| row.try_get(0))
        .collect::<std::result::Result<_, _>>()?)
}

/// A page of `rows` (id, message, created_at) of `session_id`, full when
/// it holds `limit` rows.
pub(crate) fn decode_page(rows: &[Row], session_id: &str, limit: usize) -> Result<Page> {
    let entries = decode_entries(rows, Some(session_id))?;
    let next = match entries.last() {
        Some(last) if entries.len() >= limit => Some(PageCursor {
            created_at: last.created_at,
            id: last.id,
        }),
        _ => None,
    };
    Ok(Page { entries, next })
}

/// Rows of `(id, message)` as messages.
pub(crate) fn decode_messages(rows: &[Row]) -> Result<Vec<Message>> {
    rows.iter()
        .map(|row| decode_message(row, row.try_get(0)?, 1))
        .collect()
}

/// Decodes a message column, naming the row when it is not a LangChain message.
fn decode_message(row: &Row, id: Uuid, column: usize) -> Result<Message> {
    let JsonText(json) = row.try_get(column)?;
    Message::from_json(json).map_err(|e| Error::MalformedRow {
        id,
        reason: match e {
            Error::InvalidMessage(reason) => reason,
            other => other.to_string(),
        },
    })
}

/// Rows of `(id, message, created_at)` of the session `session_id`, or
/// with `None`, rows of `(id, message, created_at, session_id)`.
pub(crate) fn decode_entries(rows: &[Row], session_id: Option<&str>) -> Result<Vec<StoredMessage>> {
    rows.iter()
        .map(|row| {
            let id: Uuid = row.try_get(0)?;
            Ok(StoredMessage {
                id,
                session_id: match session_id {
                    Some(session_id) => session_id.to_owned(),
                    None => row.try_get(3)?,
                },
                created_at: row.try_get(2)?,
                message: decode_message(row, id, 1)?,
            })
        })
        .collect()
}

/// Rows of `(session_id, count, min, max)`.
pub(crate) fn decode_sessions(rows: &[Row]) -> Result<Vec<SessionInfo>> {
    rows.iter()
        .map(|row| {
            Ok(SessionInfo {
                session_id: row.try_get(0)?,
                message_count: u64::try_from(row.try_get::<_, i64>(1)?).unwrap_or_default(),
                first_activity: row.try_get(2)?,
                last_activity: row.try_get(3)?,
            })
        })
        .collect()
}
