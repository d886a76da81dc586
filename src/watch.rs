//! Live conversations, as users see them: where a watch of a session
//! starts ([`WatchFrom`]), the position it resumes from ([`WatchCursor`]),
//! what it yields ([`WatchEvent`]) and its options ([`WatchOptions`]).
//! Why a watch never misses nor repeats a message is in
//! `docs/COCKROACHDB.md`, "Watching a session"; the statements and the
//! reading of their rows are in `sql/watch.rs`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::report::ServerKind;
use crate::stored::StoredMessage;

/// Where a watch starts.
///
/// ```
/// use langchain_cockroachdb::{WatchCursor, WatchFrom};
///
/// // An SSE endpoint: resume after the client's `Last-Event-ID`, if it sent one.
/// fn from_header(last_event_id: Option<&str>) -> langchain_cockroachdb::Result<WatchFrom> {
///     Ok(match last_event_id {
///         Some(id) => WatchFrom::After(id.parse()?),
///         None => WatchFrom::Now,
///     })
/// }
/// assert!(matches!(from_header(None)?, WatchFrom::Now));
/// assert!(from_header(Some("not a cursor")).is_err());
/// # Ok::<(), langchain_cockroachdb::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WatchFrom {
    /// The messages that were not final when the watch began. On
    /// PostgreSQL that includes a message committed just before while an
    /// older transaction was still running on the server: to show a
    /// history and then what comes, watch from the `Beginning`, which
    /// delivers the history too, or drop the ids already shown.
    Now,
    /// Every message of the session, then what comes.
    Beginning,
    /// The messages after this position: an event's cursor, from this
    /// process or any other.
    After(WatchCursor),
}

impl From<WatchCursor> for WatchFrom {
    /// `WatchFrom::After(cursor)`.
    ///
    /// ```
    /// # use langchain_cockroachdb::{WatchCursor, WatchFrom};
    /// let cursor: WatchCursor = "p1_41".parse()?;
    /// assert_eq!(WatchFrom::from(cursor.clone()), WatchFrom::After(cursor));
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    fn from(cursor: WatchCursor) -> WatchFrom {
        WatchFrom::After(cursor)
    }
}

/// A position in a watched session: a watch started
/// [after](WatchFrom::After) it gets exactly the messages the watch that
/// made it had not yet delivered, in any process, on any engine of the same
/// database.
///
/// Its string form is short ASCII, to hand to a client and take back (an
/// SSE `id:` line, `Last-Event-ID`); it serializes as that string. It is
/// opaque: `p1_...` on PostgreSQL (a transaction id horizon), `c1_...` on
/// CockroachDB (a commit timestamp); one of the other server, or one that
/// was not made here, is an [`Error::InvalidArgument`].
///
/// ```
/// use langchain_cockroachdb::WatchCursor;
///
/// let cursor: WatchCursor = "c1_1700000000000000000.0000000001".parse()?;
/// assert_eq!(cursor.to_string().parse::<WatchCursor>()?, cursor);
/// assert!("p1_12_x".parse::<WatchCursor>().is_err());
/// # Ok::<(), langchain_cockroachdb::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchCursor {
    /// The server whose order the key is in.
    pub(crate) server: ServerKind,
    /// On PostgreSQL a 64-bit transaction id, on CockroachDB an MVCC
    /// timestamp (a decimal): every message keyed below was delivered.
    pub(crate) key: String,
    /// Of the messages keyed `key` (one transaction's), those up to this
    /// `(created_at, id)` were delivered; `None`: all of them.
    pub(crate) at: Option<(OffsetDateTime, Uuid)>,
}

impl WatchCursor {
    /// Before every message of a session on `server`: keys are positive
    /// (a PostgreSQL row older than its table's `xact_id` column keys 0).
    pub(crate) fn beginning(server: ServerKind) -> WatchCursor {
        let key = match server {
            ServerKind::PostgreSQL => "-1",
            ServerKind::CockroachDB => "0",
        };
        WatchCursor {
            server,
            key: key.into(),
            at: None,
        }
    }

    /// Whether `key` is one of `server`'s: an integer from -1 on
    /// PostgreSQL, digits with at most one point on CockroachDB.
    pub(crate) fn valid_key(server: ServerKind, key: &str) -> bool {
        match server {
            ServerKind::PostgreSQL => key.parse::<i64>().is_ok_and(|k| k >= -1),
            ServerKind::CockroachDB => {
                let mut parts = key.split('.');
                let digits = |part: Option<&str>| {
                    part.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                };
                key.len() <= 40
                    && digits(parts.next())
                    && parts.next().is_none_or(|p| digits(Some(p)))
                    && parts.next().is_none()
            }
        }
    }
}

/// `<p1|c1>_<key>`, then `_<created_at in µs since the epoch>_<row id in
/// hex>` for a position inside one transaction's messages.
///
/// ```
/// # use langchain_cockroachdb::WatchCursor;
/// let inside: WatchCursor = "p1_733_1700000000123456_0123456789abcdef0123456789abcdef".parse()?;
/// assert_eq!(inside.to_string(), "p1_733_1700000000123456_0123456789abcdef0123456789abcdef");
/// # Ok::<(), langchain_cockroachdb::Error>(())
/// ```
impl fmt::Display for WatchCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.server {
            ServerKind::PostgreSQL => "p1",
            ServerKind::CockroachDB => "c1",
        };
        write!(f, "{tag}_{}", self.key)?;
        if let Some((created_at, id)) = &self.at {
            let micros = created_at.unix_timestamp_nanos() / 1000;
            write!(f, "_{micros}_{}", id.simple())?;
        }
        Ok(())
    }
}

impl FromStr for WatchCursor {
    type Err = Error;

    fn from_str(text: &str) -> Result<WatchCursor> {
        let invalid = || {
            let shown: String = text.chars().take(40).collect();
            Error::InvalidArgument(format!("not a watch cursor: {shown:?}"))
        };
        let mut parts = text.split('_');
        let server = match parts.next() {
            Some("p1") => ServerKind::PostgreSQL,
            Some("c1") => ServerKind::CockroachDB,
            _ => return Err(invalid()),
        };
        let key = parts.next().ok_or_else(invalid)?;
        if !WatchCursor::valid_key(server, key) {
            return Err(invalid());
        }
        let at = match (parts.next(), parts.next(), parts.next()) {
            (None, _, _) => None,
            (Some(micros), Some(id), None) => {
                let micros: i64 = micros.parse().map_err(|_| invalid())?;
                let nanos = i128::from(micros) * 1000;
                let created_at =
                    OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|_| invalid())?;
                let id = Uuid::try_parse(id).map_err(|_| invalid())?;
                Some((created_at, id))
            }
            _ => return Err(invalid()),
        };
        Ok(WatchCursor {
            server,
            key: key.to_owned(),
            at,
        })
    }
}

impl Serialize for WatchCursor {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for WatchCursor {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// What a watch yields, each with the cursor to resume after it.
///
/// Messages come in the order they became final: on PostgreSQL the order
/// of their transactions, on CockroachDB of their commits; one
/// transaction's (one `add_messages` call's) in their own order. When
/// writers race, that can differ from `created_at` order, which each
/// message carries, so that a screen can put it in place.
///
/// ```
/// use langchain_cockroachdb::{Message, StoredMessage, WatchEvent};
///
/// fn show(event: &WatchEvent) -> String {
///     match event {
///         WatchEvent::Message { entry, .. } => format!("{}: {}", entry.message.message_type(), entry.message.text()),
///         WatchEvent::Deleted { count, .. } => format!("{count} earlier messages were deleted"),
///         _ => String::new(),
///     }
/// }
/// let cursor = "p1_41".parse()?;
/// let entry = StoredMessage::new(uuid::Uuid::nil(), "s", time::OffsetDateTime::UNIX_EPOCH, Message::human("hi"));
/// assert_eq!(show(&WatchEvent::Message { entry, cursor }), "human: hi");
/// # Ok::<(), langchain_cockroachdb::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum WatchEvent {
    /// A message new to this watch, with its row (id, `created_at`).
    Message {
        /// The message and its row.
        entry: StoredMessage,
        /// Resumes after this message.
        cursor: WatchCursor,
    },
    /// `count` messages at or before the watch's position were deleted
    /// since it last looked: by `clear`, `delete_last`, `delete_message`,
    /// a cleanup, an erase or row-level TTL, from any process. It says how
    /// many, not which. The messages the session held when the watch began
    /// count too; a watch resumed from a cursor counts from its first read.
    Deleted {
        /// How many.
        count: u64,
        /// Where the watch is: it resumes at the same place as the cursor of
        /// the last message delivered, though its string may differ (it
        /// can name the read's position rather than that message).
        cursor: WatchCursor,
    },
}

impl WatchEvent {
    /// The cursor to resume after this event.
    ///
    /// ```
    /// # use langchain_cockroachdb::WatchEvent;
    /// let event = WatchEvent::Deleted { count: 2, cursor: "c1_17.5".parse()? };
    /// assert_eq!(event.cursor().to_string(), "c1_17.5");
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn cursor(&self) -> &WatchCursor {
        match self {
            WatchEvent::Message { cursor, .. } | WatchEvent::Deleted { cursor, .. } => cursor,
        }
    }
}

/// How a watch reads.
///
/// ```
/// use langchain_cockroachdb::WatchOptions;
///
/// let options = WatchOptions::default().page_size(20);
/// assert!(options.validate().is_ok());
/// assert!(WatchOptions::default().page_size(0).validate().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[must_use]
pub struct WatchOptions {
    /// The most messages one read fetches (default 100, at most 10,000).
    /// A watch reads only when its events are consumed, a page at a time:
    /// one that is not consumed holds at most a page.
    pub page_size: usize,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions { page_size: 100 }
    }
}

impl WatchOptions {
    /// Sets `page_size`.
    ///
    /// ```
    /// # use langchain_cockroachdb::WatchOptions;
    /// assert_eq!(WatchOptions::default().page_size(10).page_size, 10);
    /// ```
    pub fn page_size(mut self, page_size: usize) -> Self {
        self.page_size = page_size;
        self
    }

    /// Refuses a page of no message, or of more than 10,000.
    ///
    /// ```
    /// # use langchain_cockroachdb::{Error, WatchOptions};
    /// assert!(matches!(WatchOptions::default().page_size(20_000).validate(), Err(Error::InvalidArgument(_))));
    /// ```
    pub fn validate(&self) -> Result<()> {
        if !(1..=10_000).contains(&self.page_size) {
            return Err(Error::InvalidArgument(format!(
                "a watch's page_size is 1 to 10,000 messages, not {}",
                self.page_size
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_what_was_not_made_here() {
        for good in [
            "p1_-1",
            "p1_0",
            "p1_9223372036854775807",
            "p1_733_-5_00000000000000000000000000000000",
            "c1_0",
            "c1_1700000000000000000.0000000001",
            "c1_1700000000000000000_1700000000123456_0123456789abcdef0123456789abcdef",
        ] {
            let cursor: WatchCursor = good.parse().unwrap();
            assert_eq!(cursor.to_string(), good);
            let json = serde_json::to_value(&cursor).unwrap();
            assert_eq!(serde_json::from_value::<WatchCursor>(json).unwrap(), cursor);
        }
        for bad in [
            "",
            "p1",
            "p1_",
            "p1_-2",
            "p1_1.5",
            "p2_1",
            "c1_-1",
            "c1_1.",
            "c1_.1",
            "c1_1.2.3",
            "c1_12345678901234567890123456789012345678901",
            "p1_1_2",
            "p1_1_2_notauuid",
            "p1_1_x_00000000000000000000000000000000",
            "p1_1_99999999999999999999_00000000000000000000000000000000",
            "p1_1_1_00000000000000000000000000000000_extra",
            "p1_1\n",
        ] {
            assert!(
                matches!(bad.parse::<WatchCursor>(), Err(Error::InvalidArgument(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_cursor_string_fits_an_sse_id_line() {
        let cursor: WatchCursor =
            "c1_1700000000000000000.0000000001_1700000000123456_0123456789abcdef0123456789abcdef"
                .parse()
                .unwrap();
        let text = cursor.to_string();
        assert!(text.is_ascii() && !text.contains(['\n', '\r', '\0', ':', ' ']));
        assert!(text.len() < 100);
    }
}
