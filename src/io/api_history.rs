//! A history: made, what it is, its writes and deletes, and its watch.
//!
//! Each face compiles this file as its own module (as it does every file
//! of `src/io/`), with its own types as `Engine` and `History` and its own
//! `example!`; `api_engine.rs` says how the public operations are written
//! once.

use std::sync::Arc;

use crate::error::Result;
use crate::message::Message;
use crate::options::HistoryOptions;
use crate::watch::{WatchFrom, WatchOptions};

use super::mode::face;
use super::{Engine, History, Watch};

#[face(AFIT)]
impl History {
    /// The history of `session_id` in the default table `message_store`.
    /// Checks its arguments but opens no connection: the first operation
    /// does, and creates the table if needed.
    ///
    #[doc = example!(
        r#"
# use langchain_cockroachdb::{blocking::CockroachDBChatMessageHistory, Error};
let err = CockroachDBChatMessageHistory::new("", "postgresql://root@localhost/db").unwrap_err();
assert!(matches!(err, Error::InvalidIdentifier { what: "session id", .. }));
"#,
        r#"
# use langchain_cockroachdb::{nonblocking::AsyncCockroachDBChatMessageHistory, Error};
let err = AsyncCockroachDBChatMessageHistory::new("", "postgresql://root@localhost/db").unwrap_err();
assert!(matches!(err, Error::InvalidIdentifier { what: "session id", .. }));
"#
    )]
    pub fn new(session_id: impl Into<String>, connection_string: &str) -> Result<Self> {
        Self::with_options(session_id, connection_string, HistoryOptions::default())
    }

    /// The history of `session_id` in the table `options` names.
    ///
    #[doc = example!(
        r#"
# use langchain_cockroachdb::{blocking::CockroachDBChatMessageHistory, HistoryOptions};
let history = CockroachDBChatMessageHistory::with_options(
    "user-123",
    &url,
    HistoryOptions::default().table_name("my_chat_history"),
)?;
"#,
        r#"
# use langchain_cockroachdb::{nonblocking::AsyncCockroachDBChatMessageHistory, HistoryOptions};
let history = AsyncCockroachDBChatMessageHistory::with_options(
    "user-123",
    &url,
    HistoryOptions::default().table_name("my_chat_history"),
)?;
"#
    )]
    pub fn with_options(
        session_id: impl Into<String>,
        connection_string: &str,
        options: HistoryOptions,
    ) -> Result<Self> {
        Self::with_engine(session_id, &Engine::shared(connection_string)?, options)
    }

    /// The history of `session_id` over an engine you manage.
    ///
    #[doc = example!(
        r#"
use langchain_cockroachdb::HistoryOptions;
let engine = CockroachDBEngine::from_connection_string(&url)?;
let history = CockroachDBChatMessageHistory::with_engine("user-123", &engine, HistoryOptions::default())?;
assert_eq!(history.session_id(), "user-123");
"#,
        r#"
use langchain_cockroachdb::HistoryOptions;
let engine = AsyncCockroachDBEngine::from_connection_string(&url)?;
let history = AsyncCockroachDBChatMessageHistory::with_engine("user-123", &engine, HistoryOptions::default())?;
assert_eq!(history.session_id(), "user-123");
"#
    )]
    pub fn with_engine(
        session_id: impl Into<String>,
        engine: &Engine,
        options: HistoryOptions,
    ) -> Result<Self> {
        let session = engine.0.session(session_id.into(), &options)?;
        Ok(History {
            engine: engine.clone(),
            session: Arc::new(session),
        })
    }

    /// The session id.
    ///
    #[doc = example!(
        r#"
let history = CockroachDBChatMessageHistory::new("user-123:support", "postgresql://root@localhost/db")?;
assert_eq!(history.session_id(), "user-123:support");
"#,
        r#"
let history = AsyncCockroachDBChatMessageHistory::new("user-123:support", "postgresql://root@localhost/db")?;
assert_eq!(history.session_id(), "user-123:support");
"#
    )]
    pub fn session_id(&self) -> &str {
        &self.session.id
    }

    /// The engine (connection pool) this history runs on.
    ///
    #[doc = example!(
        r#"
let history = CockroachDBChatMessageHistory::new("s", "postgresql://root@localhost/db")?;
println!("{:?}", history.engine().pool_state());
"#,
        r#"
let history = AsyncCockroachDBChatMessageHistory::new("s", "postgresql://root@localhost/db")?;
println!("{:?}", history.engine().pool_state());
"#
    )]
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Appends a `human` message.
    ///
    #[doc = example!(
        r#"
# let history = CockroachDBChatMessageHistory::new("doc-add-user", &url)?;
history.add_user_message("What's the weather?")?;
# history.clear()?;
"#,
        r#"
# let history = AsyncCockroachDBChatMessageHistory::new("doc-async-add-user", &url)?;
history.add_user_message("What's the weather?").await?;
# history.clear().await?;
"#
    )]
    pub async fn add_user_message(&self, text: impl Into<String>) -> Result<()> {
        self.add_messages(&[Message::human(text.into())]).await
    }

    /// Appends an `ai` message.
    ///
    #[doc = example!(
        r#"
# let history = CockroachDBChatMessageHistory::new("doc-add-ai", &url)?;
history.add_ai_message("It is sunny.")?;
# history.clear()?;
"#,
        r#"
# let history = AsyncCockroachDBChatMessageHistory::new("doc-async-add-ai", &url)?;
history.add_ai_message("It is sunny.").await?;
# history.clear().await?;
"#
    )]
    pub async fn add_ai_message(&self, text: impl Into<String>) -> Result<()> {
        self.add_messages(&[Message::ai(text.into())]).await
    }

    /// Appends one message of any type, metadata included.
    ///
    #[doc = example!(
        r#"
use langchain_cockroachdb::Message;
# let history = CockroachDBChatMessageHistory::new("doc-add-message", &url)?;
history.add_message(&Message::ai("Paris.").with_additional_kwarg("model", "gpt-4"))?;
# history.clear()?;
"#,
        r#"
use langchain_cockroachdb::Message;
# let history = AsyncCockroachDBChatMessageHistory::new("doc-async-add-message", &url)?;
history.add_message(&Message::ai("Paris.").with_additional_kwarg("model", "gpt-4")).await?;
# history.clear().await?;
"#
    )]
    pub async fn add_message(&self, message: &Message) -> Result<()> {
        self.add_messages(std::slice::from_ref(message)).await
    }

    /// Appends messages in one statement: all or none are stored, in this
    /// order. A retry after a lost connection never stores one twice.
    ///
    #[doc = example!(
        r#"
use langchain_cockroachdb::Message;
# let history = CockroachDBChatMessageHistory::new("doc-add-messages", &url)?;
history.add_messages(&[
    Message::system("You are a helpful assistant"),
    Message::human("Hello"),
    Message::ai("Hi there!"),
])?;
# assert_eq!(history.messages()?.len(), 3); history.clear()?;
"#,
        r#"
use langchain_cockroachdb::Message;
# let history = AsyncCockroachDBChatMessageHistory::new("doc-async-add-messages", &url)?;
history.add_messages(&[
    Message::system("You are a helpful assistant"),
    Message::human("Hello"),
    Message::ai("Hi there!"),
]).await?;
# assert_eq!(history.messages().await?.len(), 3); history.clear().await?;
"#
    )]
    pub async fn add_messages(&self, messages: &[Message]) -> Result<()> {
        self.engine.0.add_messages(&self.session, messages).await
    }

    /// Appends messages under row ids you chose, in one statement, in this
    /// order. Returns how many were new: ids already in the table are
    /// skipped, so calling again after an [ambiguous](crate::Error::is_ambiguous)
    /// error stores each message exactly once. (Choose fresh ids, such as
    /// `Uuid::new_v4()`, before the first call; an id used elsewhere in the
    /// table is skipped too.)
    ///
    #[doc = example!(
        r#"
use langchain_cockroachdb::{Message, uuid::Uuid};
# let history = CockroachDBChatMessageHistory::new("doc-add-with-ids", &url)?;
# history.clear()?;
let turn = [(Uuid::new_v4(), Message::human("Hi")), (Uuid::new_v4(), Message::ai("Hello!"))];
let stored = loop {
    match history.add_messages_with_ids(&turn) {
        Err(err) if err.is_ambiguous() => continue, // safe: same ids
        other => break other?,
    }
};
assert_eq!(stored, 2);
assert_eq!(history.add_messages_with_ids(&turn)?, 0); // already there
# assert_eq!(history.message_count()?, 2); history.clear()?;
"#,
        r#"
use langchain_cockroachdb::{Message, uuid::Uuid};
# let history = AsyncCockroachDBChatMessageHistory::new("doc-async-add-with-ids", &url)?;
# history.clear().await?;
let turn = [(Uuid::new_v4(), Message::human("Hi")), (Uuid::new_v4(), Message::ai("Hello!"))];
let stored = loop {
    match history.add_messages_with_ids(&turn).await {
        Err(err) if err.is_ambiguous() => continue, // safe: same ids
        other => break other?,
    }
};
assert_eq!(stored, 2);
assert_eq!(history.add_messages_with_ids(&turn).await?, 0); // already there
# assert_eq!(history.message_count().await?, 2); history.clear().await?;
"#
    )]
    pub async fn add_messages_with_ids(&self, messages: &[(uuid::Uuid, Message)]) -> Result<u64> {
        self.engine
            .0
            .add_messages_with_ids(&self.session, messages)
            .await
    }

    /// Deletes the message in row `id` of this session. Returns whether it
    /// was there; deleting it again is harmless.
    ///
    #[doc = example!(
        r#"
# let history = CockroachDBChatMessageHistory::new("doc-delete-one", &url)?;
# history.clear()?;
history.add_user_message("oops")?;
let id = history.entries()?[0].id;
assert!(history.delete_message(id)?);
assert!(!history.delete_message(id)?);
"#,
        r#"
# let history = AsyncCockroachDBChatMessageHistory::new("doc-async-delete-one", &url)?;
# history.clear().await?;
history.add_user_message("oops").await?;
let id = history.entries().await?[0].id;
assert!(history.delete_message(id).await?);
assert!(!history.delete_message(id).await?);
"#
    )]
    pub async fn delete_message(&self, id: uuid::Uuid) -> Result<bool> {
        self.engine.0.delete_message(&self.session, id).await
    }

    /// Deletes the newest `n` messages (undo a turn). Returns how many went;
    /// a retry never deletes more than the `n` it first found.
    ///
    #[doc = example!(
        r#"
# let history = CockroachDBChatMessageHistory::new("doc-undo", &url)?;
# history.clear()?;
history.add_user_message("question")?;
history.add_ai_message("bad answer")?;
assert_eq!(history.delete_last(1)?, 1);
assert_eq!(history.message_count()?, 1);
# history.clear()?;
"#,
        r#"
# let history = AsyncCockroachDBChatMessageHistory::new("doc-async-undo", &url)?;
# history.clear().await?;
history.add_user_message("question").await?;
history.add_ai_message("bad answer").await?;
assert_eq!(history.delete_last(1).await?, 1);
assert_eq!(history.message_count().await?, 1);
# history.clear().await?;
"#
    )]
    pub async fn delete_last(&self, n: usize) -> Result<u64> {
        self.engine.0.delete_last(&self.session, n).await
    }

    /// Deletes every message of this session (and no other) written before
    /// the call: it finds the session's newest message, then deletes up to
    /// it (two round trips; one when the session is empty). A message
    /// another writer adds meanwhile stays, also when the delete is retried
    /// after a lost reply.
    ///
    #[doc = example!(
        r#"
# let history = CockroachDBChatMessageHistory::new("doc-clear", &url)?;
history.clear()?;
assert!(history.messages()?.is_empty());
"#,
        r#"
# let history = AsyncCockroachDBChatMessageHistory::new("doc-async-clear", &url)?;
history.clear().await?;
assert!(history.messages().await?.is_empty());
"#
    )]
    pub async fn clear(&self) -> Result<()> {
        self.engine.0.clear(&self.session).await
    }

    /// Watches the session: each message stored from `from` on, by this
    /// process or any other (Python's langchain-cockroachdb included), once
    /// it is final, exactly once, whatever the order in which writers
    /// commit; and a [`Deleted`](crate::WatchEvent::Deleted) event when
    /// messages it passed are deleted. Each event carries the cursor to
    /// resume after it, from any process ([`WatchFrom::After`]). The first
    /// read is done when this returns.
    ///
    /// On PostgreSQL this crate's writes wake the watch at once (a
    /// notification in the same statement); other writers' messages come
    /// within [`EngineOptions::watch_poll_interval`](crate::EngineOptions::watch_poll_interval)
    /// (5 s by default). A message is final once every transaction that
    /// began writing before it has ended, on the whole server: a long
    /// transaction elsewhere delays the messages after it, and loses none.
    /// On CockroachDB, which has no notifications, the engine looks every
    /// second by default. All watches of an engine share one connection and
    /// one statement per table and interval: a watch that nothing wakes
    /// costs no query. `docs/COCKROACHDB.md` says why nothing is missed or
    /// repeated, and what it costs.
    ///
    /// On PostgreSQL rows are keyed by the table's `xact_id` column, which
    /// this crate's tables have; the first watch of a table made without
    /// it (by Python, or an earlier version) adds it, once per engine, and
    /// an [`Error::SchemaChange`](crate::Error::SchemaChange) names the
    /// statement to run where the server refuses (`guide::operations`,
    /// "Watches on PostgreSQL").
    ///
    #[doc = example!(
        r#"
use std::time::Duration;
use langchain_cockroachdb::{WatchEvent, WatchFrom};
# let history = CockroachDBChatMessageHistory::new("doc-watch", &url)?;
# history.clear()?;
let mut watch = history.watch(WatchFrom::Now)?;
history.add_user_message("hi")?; // here, or in any other process
let Some(WatchEvent::Message { entry, cursor }) = watch.next_timeout(Duration::from_secs(10))? else {
    panic!("no message");
};
assert_eq!(entry.message.text(), "hi");

// Elsewhere, later: what came after that message.
let cursor = cursor.to_string(); // an SSE `id:`, a client's Last-Event-ID
let mut resumed = history.watch(WatchFrom::After(cursor.parse()?))?;
history.add_ai_message("hello")?;
let next = resumed.next_timeout(Duration::from_secs(10))?.expect("the reply");
assert!(matches!(next, WatchEvent::Message { entry, .. } if entry.message.text() == "hello"));
# history.clear()?;
"#,
        r#"
use std::time::Duration;
use langchain_cockroachdb::{WatchEvent, WatchFrom};
# let history = AsyncCockroachDBChatMessageHistory::new("doc-async-watch", &url)?;
# history.clear().await?;
let mut watch = history.watch(WatchFrom::Now).await?;
history.add_user_message("hi").await?; // here, or in any other process
let Some(WatchEvent::Message { entry, cursor }) = watch.next_timeout(Duration::from_secs(10)).await? else {
    panic!("no message");
};
assert_eq!(entry.message.text(), "hi");

// Elsewhere, later: what came after that message.
let cursor = cursor.to_string(); // an SSE `id:`, a client's Last-Event-ID
let mut resumed = history.watch(WatchFrom::After(cursor.parse()?)).await?;
history.add_ai_message("hello").await?;
let next = resumed.next_timeout(Duration::from_secs(10)).await?.expect("the reply");
assert!(matches!(next, WatchEvent::Message { entry, .. } if entry.message.text() == "hello"));
# history.clear().await?;
"#
    )]
    pub async fn watch(&self, from: WatchFrom) -> Result<Watch> {
        self.watch_with_options(from, &WatchOptions::default())
            .await
    }

    /// As [`watch`](Self::watch), with [`WatchOptions`] (the page a read
    /// fetches); invalid options are an
    /// [`InvalidArgument`](crate::Error::InvalidArgument). A cursor made on
    /// the other kind of server is one too.
    ///
    #[doc = example!(
        r#"
use langchain_cockroachdb::{WatchEvent, WatchFrom, WatchOptions};
# let history = CockroachDBChatMessageHistory::new("doc-watch-pages", &url)?;
# history.clear()?;
for i in 0..5 { history.add_user_message(format!("m{i}"))?; }
let options = WatchOptions::default().page_size(2); // two messages a read
let mut watch = history.watch_with_options(WatchFrom::Beginning, &options)?;
let mut texts = Vec::new();
while texts.len() < 5 {
    match watch.next_timeout(std::time::Duration::from_secs(10))? {
        Some(WatchEvent::Message { entry, .. }) => texts.push(entry.message.text().into_owned()),
        other => panic!("{other:?}"),
    }
}
assert_eq!(texts, ["m0", "m1", "m2", "m3", "m4"]);
# history.clear()?;
"#,
        r#"
use langchain_cockroachdb::{WatchEvent, WatchFrom, WatchOptions};
# let history = AsyncCockroachDBChatMessageHistory::new("doc-async-watch-pages", &url)?;
# history.clear().await?;
for i in 0..5 { history.add_user_message(format!("m{i}")).await?; }
let options = WatchOptions::default().page_size(2); // two messages a read
let mut watch = history.watch_with_options(WatchFrom::Beginning, &options).await?;
let mut texts = Vec::new();
while texts.len() < 5 {
    match watch.next_timeout(std::time::Duration::from_secs(10)).await? {
        Some(WatchEvent::Message { entry, .. }) => texts.push(entry.message.text().into_owned()),
        other => panic!("{other:?}"),
    }
}
assert_eq!(texts, ["m0", "m1", "m2", "m3", "m4"]);
# history.clear().await?;
"#
    )]
    pub async fn watch_with_options(
        &self,
        from: WatchFrom,
        options: &WatchOptions,
    ) -> Result<Watch> {
        let follower = self.engine.0.watch(&self.session, from, options).await?;
        Ok(Watch::new(follower))
    }
}
