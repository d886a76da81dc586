//! Rows as stored: messages with their row id and time, sessions, pages,
//! and the JSON Lines form used for export and import.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::ident::check_session_id;
use crate::message::{Message, json_text, parse_json};

/// A message with the row that stores it: for audit screens, paging and export.
///
/// It serializes (with serde) as one JSON Lines record:
/// `{"id", "session_id", "created_at" (RFC 3339), "message" (the LangChain
/// dict)}`.
///
/// ```
/// # use langchain_cockroachdb::{Message, StoredMessage};
/// # let entry = StoredMessage::new(uuid::Uuid::nil(), "s", time::OffsetDateTime::UNIX_EPOCH, Message::human("hi"));
/// let line = entry.to_json_line();
/// assert_eq!(StoredMessage::from_json_line(&line)?, entry);
/// let json = serde_json::to_value(&entry).unwrap();
/// assert_eq!(json, serde_json::from_str::<serde_json::Value>(&line).unwrap());
/// assert_eq!(serde_json::from_value::<StoredMessage>(json).unwrap(), entry);
/// # Ok::<(), langchain_cockroachdb::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StoredMessage {
    /// The row's `id`.
    pub id: Uuid,
    /// The session it belongs to.
    pub session_id: String,
    /// When it was stored (`created_at`, microsecond precision).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The message.
    pub message: Message,
}

impl StoredMessage {
    /// A message with its row, as an import would store it.
    ///
    /// ```
    /// # use langchain_cockroachdb::{Message, StoredMessage};
    /// let entry = StoredMessage::new(uuid::Uuid::nil(), "user-1", time::OffsetDateTime::UNIX_EPOCH, Message::human("hi"));
    /// assert_eq!(entry.session_id, "user-1");
    /// ```
    pub fn new(
        id: Uuid,
        session_id: impl Into<String>,
        created_at: OffsetDateTime,
        message: Message,
    ) -> StoredMessage {
        StoredMessage {
            id,
            session_id: session_id.into(),
            created_at,
            message,
        }
    }

    /// One line of JSON (no newline): `{"id", "session_id", "created_at"
    /// (RFC 3339), "message" (the LangChain dict)}`.
    ///
    /// ```
    /// # use langchain_cockroachdb::{Message, StoredMessage};
    /// let entry = StoredMessage::new(uuid::Uuid::nil(), "s", time::OffsetDateTime::UNIX_EPOCH, Message::human("hi"));
    /// assert!(entry.to_json_line().contains(r#""id":"00000000-0000-0000-0000-000000000000""#));
    /// ```
    pub fn to_json_line(&self) -> String {
        let mut record = Map::new();
        record.insert("id".into(), Value::String(self.id.to_string()));
        record.insert("session_id".into(), Value::String(self.session_id.clone()));
        // Formatting a timestamp read from the database cannot fail.
        let created_at = self.created_at.format(&Rfc3339).unwrap_or_default();
        record.insert("created_at".into(), Value::String(created_at));
        record.insert("message".into(), self.message.to_dict());
        json_text(&Value::Object(record))
    }

    /// Reads a line written by [`StoredMessage::to_json_line`].
    ///
    /// ```
    /// # use langchain_cockroachdb::{Error, StoredMessage};
    /// assert!(matches!(StoredMessage::from_json_line("[]"), Err(Error::InvalidMessage(_))));
    /// ```
    pub fn from_json_line(line: &str) -> Result<StoredMessage> {
        let Ok(Value::Object(mut record)) = parse_json(line.as_bytes()) else {
            return Err(Error::InvalidMessage(
                "an export line must be a JSON object".into(),
            ));
        };
        let mut text = |key: &str| match record.remove(key) {
            Some(Value::String(s)) => Ok(s),
            _ => Err(Error::InvalidMessage(format!(
                "an export line needs \"{key}\" as a string"
            ))),
        };
        let id = text("id")?;
        let id =
            Uuid::parse_str(&id).map_err(|e| Error::InvalidMessage(format!("id {id:?}: {e}")))?;
        let session_id = text("session_id")?;
        check_session_id(&session_id)?;
        let created_at = text("created_at")?;
        let created_at = OffsetDateTime::parse(&created_at, &Rfc3339)
            .map_err(|e| Error::InvalidMessage(format!("created_at {created_at:?}: {e}")))?;
        let message = Message::from_dict(record.remove("message").unwrap_or(Value::Null))?;
        Ok(StoredMessage {
            id,
            session_id,
            created_at,
            message,
        })
    }
}

/// A session of a table, as [`list_sessions`](crate::blocking::CockroachDBEngine::list_sessions) reports it.
///
/// ```
/// # #[cfg(feature = "blocking")] {
/// use langchain_cockroachdb::blocking::CockroachDBEngine;
/// use langchain_cockroachdb::{HistoryOptions, SessionFilter};
/// # let url = std::env::var("LANGCHAIN_COCKROACHDB_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
/// let engine = CockroachDBEngine::from_connection_string(&url)?;
/// for info in engine.list_sessions(&HistoryOptions::default(), &SessionFilter::default().limit(5))? {
///     println!("{}: {} messages, last {}", info.session_id, info.message_count, info.last_activity);
/// }
/// # }
/// # Ok::<(), langchain_cockroachdb::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SessionInfo {
    /// The session id.
    pub session_id: String,
    /// How many messages it holds.
    pub message_count: u64,
    /// When its oldest message was stored (RFC 3339 in JSON).
    #[serde(with = "time::serde::rfc3339")]
    pub first_activity: OffsetDateTime,
    /// When its newest message was stored (RFC 3339 in JSON).
    #[serde(with = "time::serde::rfc3339")]
    pub last_activity: OffsetDateTime,
}

/// Where the next page of a session starts: after this row (before it,
/// when paging newest first).
///
/// To hand it to a client, use its string form (`to_string()`, and
/// `parse()` for what the client sends back); it serializes as that string
/// too. The string is opaque to clients: a cursor that was not made here is
/// an [`Error::InvalidArgument`], and a cursor only ever selects rows of
/// the session it is used with.
///
/// ```
/// # #[cfg(feature = "blocking")] {
/// use langchain_cockroachdb::blocking::CockroachDBChatMessageHistory;
/// # let url = std::env::var("LANGCHAIN_COCKROACHDB_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
/// let history = CockroachDBChatMessageHistory::new("doc-cursor", &url)?;
/// # history.clear()?; history.add_user_message("a")?; history.add_user_message("b")?;
/// let first = history.messages_page(None, 1)?;
/// let cursor = first.next.expect("a second page");
/// let second = history.messages_page(Some(&cursor), 1)?;
/// assert_eq!(second.entries[0].message.text(), "b");
/// # history.clear()?;
/// # }
/// # Ok::<(), langchain_cockroachdb::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageCursor {
    pub(crate) created_at: OffsetDateTime,
    pub(crate) id: Uuid,
}

/// `<nanoseconds since the Unix epoch>_<row id in hex>`.
///
/// ```
/// # use langchain_cockroachdb::PageCursor;
/// assert!("not a cursor".parse::<PageCursor>().is_err());
/// let cursor: PageCursor = "1700000000000000000_0123456789abcdef0123456789abcdef".parse()?;
/// assert_eq!(cursor.to_string().parse::<PageCursor>()?, cursor);
/// # Ok::<(), langchain_cockroachdb::Error>(())
/// ```
impl fmt::Display for PageCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = self.created_at.unix_timestamp_nanos();
        write!(f, "{at}_{}", self.id.simple())
    }
}

impl FromStr for PageCursor {
    type Err = Error;

    fn from_str(text: &str) -> Result<PageCursor> {
        let invalid =
            || Error::InvalidArgument(format!("not a page cursor: {:?}", abbreviated(text)));
        let (at, id) = text.split_once('_').ok_or_else(invalid)?;
        let at: i128 = at.parse().map_err(|_| invalid())?;
        let created_at = OffsetDateTime::from_unix_timestamp_nanos(at).map_err(|_| invalid())?;
        let id = Uuid::try_parse(id).map_err(|_| invalid())?;
        Ok(PageCursor { created_at, id })
    }
}

/// At most 40 characters of `text`, for an error message.
fn abbreviated(text: &str) -> String {
    text.chars().take(40).collect()
}

impl Serialize for PageCursor {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PageCursor {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// One page of a session, and the cursor of the next one (`None` after the
/// last page): oldest first from `messages_page`, newest first from
/// `messages_page_back`. It serializes as `{"entries": [...], "next":
/// "<cursor>" | null}`.
///
/// ```
/// # #[cfg(feature = "blocking")] {
/// use langchain_cockroachdb::blocking::CockroachDBChatMessageHistory;
/// # let url = std::env::var("LANGCHAIN_COCKROACHDB_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
/// let history = CockroachDBChatMessageHistory::new("doc-page", &url)?;
/// # history.clear()?;
/// let page = history.messages_page(None, 100)?;
/// assert!(page.entries.is_empty() && page.next.is_none());
/// # }
/// # Ok::<(), langchain_cockroachdb::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Page {
    /// The messages of this page, with their rows.
    pub entries: Vec<StoredMessage>,
    /// Pass to the next call; `None` when the session has no more.
    pub next: Option<PageCursor>,
}

impl Page {
    /// A page of `entries` asked for with `size`: a full one has a cursor
    /// after its last row, whether or not more follow (as a keyset read
    /// knows only what it read).
    pub(crate) fn new(entries: Vec<StoredMessage>, size: usize) -> Page {
        let next = match entries.last() {
            Some(last) if entries.len() >= size => Some(PageCursor {
                created_at: last.created_at,
                id: last.id,
            }),
            _ => None,
        };
        Page { entries, next }
    }

    /// Refuses a page of no messages, which would never get on.
    pub(crate) fn check_size(size: usize) -> Result<()> {
        match size {
            0 => Err(Error::InvalidArgument(
                "a page holds at least one message".into(),
            )),
            _ => Ok(()),
        }
    }
}

/// The JSON text of `message`, or why a table cannot store it (`what`
/// names the message in the error): what LangChain would refuse, what JSONB
/// cannot hold, or more than `max_bytes` of JSON. The in-memory store
/// checks the same, so that it refuses what the database would.
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

/// Whether the JSON texts of one write fit in `max_bytes` together.
pub(crate) fn check_batch_bytes(json: &[String], max_bytes: usize) -> Result<()> {
    let size = json.iter().map(String::len).sum();
    if size > max_bytes {
        return Err(Error::TooLarge {
            what: format!("the batch of {} messages", json.len()),
            size,
            limit: max_bytes,
            setting: "HistoryOptions::max_batch_bytes, of its JSON",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(text: &str) -> StoredMessage {
        let at = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_000).unwrap();
        StoredMessage::new(Uuid::new_v4(), "user-1:chat", at, Message::human(text))
    }

    #[test]
    fn the_row_types_round_trip_through_serde() {
        let page = Page {
            entries: vec![entry("a"), entry("b")],
            next: Some(PageCursor {
                created_at: OffsetDateTime::UNIX_EPOCH,
                id: Uuid::nil(),
            }),
        };
        let json = serde_json::to_value(&page).unwrap();
        assert_eq!(json["next"], "0_00000000000000000000000000000000");
        assert_eq!(
            json["entries"][1]["created_at"],
            "2023-11-14T22:13:20.123456Z"
        );
        assert_eq!(serde_json::from_value::<Page>(json).unwrap(), page);

        let info = SessionInfo {
            session_id: "user-1:chat".into(),
            message_count: 2,
            first_activity: OffsetDateTime::UNIX_EPOCH,
            last_activity: OffsetDateTime::UNIX_EPOCH,
        };
        let json = serde_json::to_value(&info).unwrap();
        assert_eq!(json["message_count"], 2);
        assert_eq!(json["last_activity"], "1970-01-01T00:00:00Z");
        assert_eq!(serde_json::from_value::<SessionInfo>(json).unwrap(), info);
    }

    #[test]
    fn a_cursor_that_was_not_made_here_is_an_invalid_argument() {
        for bad in [
            "",
            "_",
            "12",
            "x_00000000000000000000000000000000",
            "1_not-a-uuid",
            "99999999999999999999999999999999999_00000000000000000000000000000000",
            "1_00000000000000000000000000000000_extra",
            "é_ü",
        ] {
            assert!(
                matches!(bad.parse::<PageCursor>(), Err(Error::InvalidArgument(_))),
                "{bad}"
            );
            let json = serde_json::Value::String(bad.into());
            assert!(serde_json::from_value::<PageCursor>(json).is_err(), "{bad}");
        }
    }
}
