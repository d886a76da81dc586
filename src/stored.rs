//! Rows as stored: messages with their row id and time, sessions, pages,
//! and the JSON Lines form used for export and import.

use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio_postgres::Row;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::message::Message;
use crate::sql::JsonText;

/// A message with the row that stores it: for audit screens, paging and export.
///
/// ```
/// # use langchain_cockroachdb::{Message, StoredMessage};
/// # let entry = StoredMessage { id: uuid::Uuid::nil(), session_id: "s".into(),
/// #     created_at: time::OffsetDateTime::UNIX_EPOCH, message: Message::human("hi") };
/// let line = entry.to_json_line();
/// assert_eq!(StoredMessage::from_json_line(&line).unwrap(), entry);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct StoredMessage {
    /// The row's `id`.
    pub id: Uuid,
    /// The session it belongs to.
    pub session_id: String,
    /// When it was stored (`created_at`, microsecond precision).
    pub created_at: OffsetDateTime,
    /// The message.
    pub message: Message,
}

impl StoredMessage {
    /// One line of JSON (no newline): `{"id", "session_id", "created_at"
    /// (RFC 3339), "message" (the LangChain dict)}`.
    ///
    /// ```
    /// # use langchain_cockroachdb::{Message, StoredMessage};
    /// let entry = StoredMessage { id: uuid::Uuid::nil(), session_id: "s".into(),
    ///     created_at: time::OffsetDateTime::UNIX_EPOCH, message: Message::human("hi") };
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
        Value::Object(record).to_string()
    }

    /// Reads a line written by [`StoredMessage::to_json_line`].
    ///
    /// ```
    /// # use langchain_cockroachdb::{Error, StoredMessage};
    /// assert!(matches!(StoredMessage::from_json_line("[]"), Err(Error::InvalidMessage(_))));
    /// ```
    pub fn from_json_line(line: &str) -> Result<StoredMessage> {
        let Ok(Value::Object(mut record)) = serde_json::from_str::<Value>(line) else {
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
        crate::sql::check_session_id(&session_id)?;
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
/// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
/// let engine = CockroachDBEngine::from_connection_string(&url)?;
/// for info in engine.list_sessions(&HistoryOptions::default(), &SessionFilter::default().limit(5))? {
///     println!("{}: {} messages, last {}", info.session_id, info.message_count, info.last_activity);
/// }
/// # }
/// # Ok::<(), langchain_cockroachdb::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    /// The session id.
    pub session_id: String,
    /// How many messages it holds.
    pub message_count: i64,
    /// When its oldest message was stored.
    pub first_activity: OffsetDateTime,
    /// When its newest message was stored.
    pub last_activity: OffsetDateTime,
}

/// Which sessions to list: at most `limit`, optionally only ids starting
/// with `prefix` (`"user-123:"` finds all of one user's conversations).
///
/// ```
/// use langchain_cockroachdb::SessionFilter;
///
/// let filter = SessionFilter::default().prefix("user-123:").limit(20);
/// assert_eq!(filter.limit, 20);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionFilter {
    /// Only session ids that start with this (default: all).
    pub prefix: Option<String>,
    /// At most this many, newest activity first (default 100).
    pub limit: usize,
}

impl Default for SessionFilter {
    fn default() -> Self {
        SessionFilter {
            prefix: None,
            limit: 100,
        }
    }
}

impl SessionFilter {
    /// Sets `prefix`.
    ///
    /// ```
    /// # use langchain_cockroachdb::SessionFilter;
    /// assert_eq!(SessionFilter::default().prefix("user-1:").prefix.as_deref(), Some("user-1:"));
    /// ```
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// Sets `limit`.
    ///
    /// ```
    /// # use langchain_cockroachdb::SessionFilter;
    /// assert_eq!(SessionFilter::default().limit(10).limit, 10);
    /// ```
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }
}

/// Where the next page of a session starts: after this row.
///
/// ```
/// # #[cfg(feature = "blocking")] {
/// use langchain_cockroachdb::blocking::CockroachDBChatMessageHistory;
/// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
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

/// One page of a session, oldest first, and the cursor of the next one
/// (`None` after the last page).
///
/// ```
/// # #[cfg(feature = "blocking")] {
/// use langchain_cockroachdb::blocking::CockroachDBChatMessageHistory;
/// # let url = std::env::var("DATABASE_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
/// let history = CockroachDBChatMessageHistory::new("doc-page", &url)?;
/// # history.clear()?;
/// let page = history.messages_page(None, 100)?;
/// assert!(page.entries.is_empty() && page.next.is_none());
/// # }
/// # Ok::<(), langchain_cockroachdb::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Page {
    /// The messages of this page, with their rows.
    pub entries: Vec<StoredMessage>,
    /// Pass to the next call; `None` when the session has no more.
    pub next: Option<PageCursor>,
}

impl Page {
    /// A page of `rows` (id, message, created_at) of `session_id`, full when
    /// it holds `limit` rows.
    pub(crate) fn from_rows(rows: &[Row], session_id: &str, limit: usize) -> Result<Page> {
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
}

/// Decodes a message column, naming the row when it is not a LangChain message.
pub(crate) fn decode_message(row: &Row, id: Uuid, column: usize) -> Result<Message> {
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
                message_count: row.try_get(1)?,
                first_activity: row.try_get(2)?,
                last_activity: row.try_get(3)?,
            })
        })
        .collect()
}
