//! Histories kept in memory, by session id, that behave as a table does:
//! the same checks of session ids and messages, row ids and times that
//! follow the same ordering guard, pages with the same cursors, deletes
//! with the same counts. For tests of application code, and prototypes.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::error::Result;
use crate::ident::check_session_id;
use crate::message::Message;
use crate::options::HistoryOptions;
use crate::stored::{Page, PageCursor, StoredMessage, check_batch_bytes, storable_json};

use super::store::{AsyncChatHistoryStore, ChatHistoryStore};
use super::traits::{AsyncChatMessageHistory, BoxFuture, ChatMessageHistory};

/// Chat histories kept in memory, one per session id: what a table of
/// histories is to the database faces, for tests of application code and
/// for prototypes. It implements [`ChatHistoryStore`] and
/// [`AsyncChatHistoryStore`], as the database stores do, and behaves as
/// they do: session ids and messages are checked alike (with
/// [`HistoryOptions`]' default limits), each message gets a row id and a
/// `created_at` after the session's newest, and pages, windows, counts and
/// deletes give what the table would. Cheap to clone; clones share the
/// histories.
///
/// ```
/// use langchain_cockroachdb::{ChatHistoryStore, ChatMessageHistory, InMemoryChatHistoryStore};
///
/// fn remember(store: &dyn ChatHistoryStore, user: &str, fact: &str) -> langchain_cockroachdb::Result<u64> {
///     let history = store.history(&format!("user-{user}"))?;
///     history.add_user_message(fact)?;
///     history.message_count()
/// }
/// let store = InMemoryChatHistoryStore::new();
/// assert_eq!(remember(&store, "alice", "I like tea.")?, 1);
/// assert_eq!(remember(&store.clone(), "alice", "I live in Oslo.")?, 2);
/// assert_eq!(remember(&store, "bob", "I like coffee.")?, 1);
/// # Ok::<(), langchain_cockroachdb::Error>(())
/// ```
#[derive(Clone)]
pub struct InMemoryChatHistoryStore {
    shared: Arc<Shared>,
}

/// What the clones of a store share.
struct Shared {
    rows: Mutex<Rows>,
    /// `HistoryOptions`' defaults, as a table's histories check them.
    max_message_bytes: usize,
    max_batch_bytes: usize,
}

/// The rows of a store: each session's, oldest first, and every row id,
/// which is unique across sessions as the table's primary key is.
#[derive(Default)]
struct Rows {
    sessions: HashMap<String, Vec<Row>>,
    ids: HashSet<Uuid>,
}

struct Row {
    id: Uuid,
    created_at: OffsetDateTime,
    message: Message,
}

impl Row {
    /// Where a row sorts, as the table's reads order rows.
    fn key(&self) -> (OffsetDateTime, Uuid) {
        (self.created_at, self.id)
    }
}

/// How much it holds, not what: a store's messages can be many.
///
/// ```
/// # use langchain_cockroachdb::{ChatMessageHistory, InMemoryChatHistoryStore};
/// let store = InMemoryChatHistoryStore::new();
/// store.history("user-1")?.add_user_message("hi")?;
/// assert_eq!(format!("{store:?}"), "InMemoryChatHistoryStore { sessions: 1, messages: 1 }");
/// # Ok::<(), langchain_cockroachdb::Error>(())
/// ```
impl fmt::Debug for InMemoryChatHistoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows = self
            .shared
            .rows
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("InMemoryChatHistoryStore")
            .field("sessions", &rows.sessions.len())
            .field("messages", &rows.ids.len())
            .finish()
    }
}

impl Default for InMemoryChatHistoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl InMemoryChatHistoryStore {
    /// An empty store.
    ///
    /// ```
    /// # use langchain_cockroachdb::{ChatMessageHistory, InMemoryChatHistoryStore};
    /// let store = InMemoryChatHistoryStore::new();
    /// assert_eq!(store.history("user-1")?.message_count()?, 0);
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    #[must_use]
    pub fn new() -> Self {
        let defaults = HistoryOptions::default();
        InMemoryChatHistoryStore {
            shared: Arc::new(Shared {
                rows: Mutex::default(),
                max_message_bytes: defaults.max_message_bytes,
                max_batch_bytes: defaults.max_batch_bytes,
            }),
        }
    }

    /// The history of `session_id` in this store, as its own type (the
    /// store traits give it boxed). A session id the table would refuse
    /// (empty, with U+0000, over 2048 bytes) is an
    /// [`InvalidIdentifier`](crate::Error::InvalidIdentifier), as there.
    ///
    /// ```
    /// use langchain_cockroachdb::{ChatMessageHistory, Error, InMemoryChatHistoryStore};
    ///
    /// let store = InMemoryChatHistoryStore::new();
    /// store.history("user-1")?.add_user_message("hi")?;
    /// assert_eq!(store.history("user-1")?.messages()?[0].text(), "hi");
    /// assert!(matches!(store.history(""), Err(Error::InvalidIdentifier { what: "session id", .. })));
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn history(&self, session_id: impl Into<String>) -> Result<InMemoryChatMessageHistory> {
        let session_id = session_id.into();
        check_session_id(&session_id)?;
        Ok(InMemoryChatMessageHistory {
            store: self.clone(),
            session_id: session_id.into(),
        })
    }
}

/// The history of one session kept in memory, as LangChain's
/// `InMemoryChatMessageHistory`, behaving as a table's does (see
/// [`InMemoryChatHistoryStore`], whose histories these are). Cheap to
/// clone; clones share the messages.
///
/// ```
/// use langchain_cockroachdb::{ChatMessageHistory, InMemoryChatMessageHistory, Message};
///
/// let history = InMemoryChatMessageHistory::new();
/// history.add_message(&Message::system("Be brief."))?;
/// let shared = history.clone();
/// shared.add_user_message("hi")?;
/// assert_eq!(history.messages()?.len(), 2);
/// history.clear()?;
/// assert!(shared.messages()?.is_empty());
/// # Ok::<(), langchain_cockroachdb::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct InMemoryChatMessageHistory {
    store: InMemoryChatHistoryStore,
    session_id: Arc<str>,
}

impl Default for InMemoryChatMessageHistory {
    fn default() -> Self {
        Self::new()
    }
}

impl InMemoryChatMessageHistory {
    /// An empty history: the session `"default"` of a store of its own.
    ///
    /// ```
    /// # use langchain_cockroachdb::{ChatMessageHistory, InMemoryChatMessageHistory};
    /// let history = InMemoryChatMessageHistory::new();
    /// assert!(history.messages()?.is_empty());
    /// assert_eq!(history.session_id(), "default");
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    #[must_use]
    pub fn new() -> Self {
        InMemoryChatMessageHistory {
            store: InMemoryChatHistoryStore::new(),
            session_id: "default".into(),
        }
    }

    /// The session id.
    ///
    /// ```
    /// # use langchain_cockroachdb::InMemoryChatHistoryStore;
    /// let history = InMemoryChatHistoryStore::new().history("user-123:support")?;
    /// assert_eq!(history.session_id(), "user-123:support");
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// Runs `f` on the store's rows, under its lock: each call is atomic,
    /// as each statement is. The rows stay consistent if a holder panicked
    /// (every change is made after its checks, in one step).
    fn with_rows<R>(&self, f: impl FnOnce(&mut Rows) -> R) -> R {
        f(&mut self
            .store
            .shared
            .rows
            .lock()
            .unwrap_or_else(PoisonError::into_inner))
    }

    /// Runs `f` on this session's rows, oldest first.
    fn read<R>(&self, f: impl FnOnce(&[Row]) -> R) -> R {
        self.with_rows(|rows| {
            f(rows
                .sessions
                .get(&*self.session_id)
                .map_or(&[], Vec::as_slice))
        })
    }

    fn entry(&self, row: &Row) -> StoredMessage {
        StoredMessage::new(
            row.id,
            &*self.session_id,
            row.created_at,
            row.message.clone(),
        )
    }

    /// Stores `batch` as the table's insert does: every message checked
    /// first (all or none), the rows timed from just after the session's
    /// newest, one microsecond apart by position, and those whose id is
    /// already stored skipped. Returns how many were stored.
    fn insert(&self, batch: &[(Uuid, &Message)]) -> Result<u64> {
        let shared = &self.store.shared;
        let json = batch
            .iter()
            .enumerate()
            .map(|(i, (_, message))| {
                storable_json(message, shared.max_message_bytes, || format!("message {i}"))
            })
            .collect::<Result<Vec<_>>>()?;
        check_batch_bytes(&json, shared.max_batch_bytes)?;
        // Read back as the table's rows are, so that a message is what a
        // read from the database would give.
        let messages = json
            .iter()
            .map(|json| Message::from_json(json.as_bytes()))
            .collect::<Result<Vec<_>>>()?;
        if messages.is_empty() {
            return Ok(0);
        }
        Ok(self.with_rows(|rows| {
            let session = rows
                .sessions
                .entry(self.session_id.to_string())
                .or_default();
            let base = after_newest(session.last());
            let mut stored = 0;
            for (position, ((id, _), message)) in batch.iter().zip(messages).enumerate() {
                if rows.ids.insert(*id) {
                    let created_at = base.saturating_add(Duration::microseconds(position as i64));
                    session.push(Row {
                        id: *id,
                        created_at,
                        message,
                    });
                    stored += 1;
                }
            }
            stored
        }))
    }

    /// A page of at most `size` rows after `cursor`, oldest first, or
    /// before it, newest first, when `back`: by `(created_at, id)`, as the
    /// table's keyset reads.
    fn page(&self, cursor: Option<&PageCursor>, size: usize, back: bool) -> Result<Page> {
        Page::check_size(size)?;
        let at = cursor.map(|c| (c.created_at, c.id));
        let entries = self.read(|rows| {
            let picked: Vec<&Row> = if back {
                let to = at.map_or(rows.len(), |at| rows.partition_point(|r| r.key() < at));
                rows[..to].iter().rev().take(size).collect()
            } else {
                let from = at.map_or(0, |at| rows.partition_point(|r| r.key() <= at));
                rows[from..].iter().take(size).collect()
            };
            picked.into_iter().map(|r| self.entry(r)).collect()
        });
        Ok(Page::new(entries, size))
    }

    /// Deletes the newest `n` rows of the session (all of them for
    /// `usize::MAX`); returns how many went.
    fn delete_newest(&self, n: usize) -> u64 {
        self.with_rows(|rows| {
            let Some(session) = rows.sessions.get_mut(&*self.session_id) else {
                return 0;
            };
            let gone = session.split_off(session.len().saturating_sub(n));
            for row in &gone {
                rows.ids.remove(&row.id);
            }
            if session.is_empty() {
                rows.sessions.remove(&*self.session_id);
            }
            gone.len() as u64
        })
    }
}

/// The time of a write's first row, as the table's insert takes it: now,
/// to the microsecond the table keeps, but never before just after the
/// session's newest row, so that a quick write still sorts after a batch
/// that reached ahead of the clock.
fn after_newest(newest: Option<&Row>) -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    let now = now
        .replace_nanosecond(now.nanosecond() / 1000 * 1000)
        .unwrap_or(now);
    match newest {
        Some(row) => now.max(row.created_at.saturating_add(Duration::microseconds(1))),
        None => now,
    }
}

impl ChatMessageHistory for InMemoryChatMessageHistory {
    fn messages(&self) -> Result<Vec<Message>> {
        Ok(self.read(|rows| rows.iter().map(|r| r.message.clone()).collect()))
    }

    fn add_messages(&self, messages: &[Message]) -> Result<()> {
        let batch: Vec<_> = messages.iter().map(|m| (Uuid::new_v4(), m)).collect();
        self.insert(&batch).map(drop)
    }

    fn add_messages_with_ids(&self, messages: &[(Uuid, Message)]) -> Result<u64> {
        let batch: Vec<_> = messages.iter().map(|(id, m)| (*id, m)).collect();
        self.insert(&batch)
    }

    fn messages_page(&self, cursor: Option<&PageCursor>, size: usize) -> Result<Page> {
        self.page(cursor, size, false)
    }

    fn messages_page_back(&self, cursor: Option<&PageCursor>, size: usize) -> Result<Page> {
        self.page(cursor, size, true)
    }

    fn delete_last(&self, n: usize) -> Result<u64> {
        Ok(self.delete_newest(n))
    }

    fn clear(&self) -> Result<()> {
        self.delete_newest(usize::MAX);
        Ok(())
    }

    fn last_messages(&self, n: usize) -> Result<Vec<Message>> {
        Ok(self.read(|rows| {
            let newest = &rows[rows.len().saturating_sub(n)..];
            newest.iter().map(|r| r.message.clone()).collect()
        }))
    }

    fn message_count(&self) -> Result<u64> {
        Ok(self.read(<[Row]>::len) as u64)
    }
}

/// Each method is the blocking one's, which never waits but for the
/// store's lock.
impl AsyncChatMessageHistory for InMemoryChatMessageHistory {
    fn messages(&self) -> BoxFuture<'_, Result<Vec<Message>>> {
        Box::pin(std::future::ready(ChatMessageHistory::messages(self)))
    }

    fn add_messages<'a>(&'a self, messages: &'a [Message]) -> BoxFuture<'a, Result<()>> {
        Box::pin(std::future::ready(ChatMessageHistory::add_messages(
            self, messages,
        )))
    }

    fn add_messages_with_ids<'a>(
        &'a self,
        messages: &'a [(Uuid, Message)],
    ) -> BoxFuture<'a, Result<u64>> {
        Box::pin(std::future::ready(
            ChatMessageHistory::add_messages_with_ids(self, messages),
        ))
    }

    fn messages_page<'a>(
        &'a self,
        cursor: Option<&'a PageCursor>,
        size: usize,
    ) -> BoxFuture<'a, Result<Page>> {
        Box::pin(std::future::ready(self.page(cursor, size, false)))
    }

    fn messages_page_back<'a>(
        &'a self,
        cursor: Option<&'a PageCursor>,
        size: usize,
    ) -> BoxFuture<'a, Result<Page>> {
        Box::pin(std::future::ready(self.page(cursor, size, true)))
    }

    fn delete_last(&self, n: usize) -> BoxFuture<'_, Result<u64>> {
        Box::pin(std::future::ready(ChatMessageHistory::delete_last(self, n)))
    }

    fn clear(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(std::future::ready(ChatMessageHistory::clear(self)))
    }

    fn last_messages(&self, n: usize) -> BoxFuture<'_, Result<Vec<Message>>> {
        Box::pin(std::future::ready(ChatMessageHistory::last_messages(
            self, n,
        )))
    }

    fn message_count(&self) -> BoxFuture<'_, Result<u64>> {
        Box::pin(std::future::ready(ChatMessageHistory::message_count(self)))
    }
}

impl ChatHistoryStore for InMemoryChatHistoryStore {
    fn history(&self, session_id: &str) -> Result<Box<dyn ChatMessageHistory + Send + Sync>> {
        Ok(Box::new(InMemoryChatHistoryStore::history(
            self, session_id,
        )?))
    }
}

impl AsyncChatHistoryStore for InMemoryChatHistoryStore {
    fn history(&self, session_id: &str) -> Result<Box<dyn AsyncChatMessageHistory>> {
        Ok(Box::new(InMemoryChatHistoryStore::history(
            self, session_id,
        )?))
    }
}
