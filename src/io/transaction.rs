//! A history's operations on the caller's own connection or transaction,
//! to write a turn together with rows of the application's (token usage, a
//! bill, an audit line) in one transaction. The same statements and checks
//! as the engine's operations, each run once on the caller's client: no
//! pool, no lanes, no retries, no table creation, no deadline of the
//! history's; the caller's transaction decides. Made by each face's
//! `History::on`, which borrows the client as its driver lends it (see
//! `Borrowed` in `face.rs`).

use std::fmt;

use tokio_postgres::Row;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::message::Message;
use crate::rows;
use crate::sql::write::InsertBatch;
use crate::sql::{self, Request, delete, read, write};
use crate::stored::{Page, PageCursor, StoredMessage};
use crate::table::Session;

use super::driver::{Borrowed, GenericClient};
use super::engine::{Prepared, Shared};
use super::mode::face;

/// A history's operations in your own transaction (or on your own
/// connection), made by the history's `on`: to store a turn and rows of
/// your own (token usage, a bill, an audit line) atomically.
///
/// What runs is what the history runs: the same statements, the same
/// checks before anything is sent ([`InvalidMessage`](Error::InvalidMessage),
/// [`TooLarge`](Error::TooLarge), against the engine's message limit), and
/// the same ordering guard: a message goes after the newest row of its
/// session that the statement sees, so rows written here follow those
/// written before, by the engine or by earlier calls in this transaction
/// (whose `now()` does not move). Under `REPEATABLE READ` or `SERIALIZABLE`
/// the statement sees the transaction's snapshot: then order among
/// concurrent writers of one session is the order the server serializes
/// them in.
///
/// What stays yours:
///
/// - The table must exist: create it with the engine's `create_tables`
///   first. Nothing here changes the schema.
/// - Isolation, commit, rollback, and retries: every error is returned as
///   it comes, never retried, and a database error keeps its SQLSTATE
///   ([`Error::code`], [`Error::as_db_error`]). A serialization failure
///   (`40001`, which CockroachDB sends for any conflict) asks for your
///   whole transaction again; on PostgreSQL any failed statement aborts
///   the transaction.
/// - The deadline: no timeout of the history's applies. Bound statements
///   with your connection's `statement_timeout`.
/// - On CockroachDB, a read of the same session from outside the
///   transaction at `SERIALIZABLE` (the history's own methods among them)
///   waits for the transaction to end: do not make one in the middle of it
///   from the same task.
///
/// Each statement is prepared on your connection the first time this view
/// runs it (one round trip more); keep one view for several calls. The
/// engine's pool, its lanes and retries, and its report of ambiguous
/// writes are not used: the outcome of a write is your commit's.
///
#[doc = example_tx!(
    r#"
view.add_user_message("What is CockroachDB?")?;
view.add_ai_message("A distributed SQL database.")?;
assert_eq!(view.messages()?.len(), 2); // seen inside the transaction
"#,
    r#"
view.add_user_message("What is CockroachDB?").await?;
view.add_ai_message("A distributed SQL database.").await?;
assert_eq!(view.messages().await?.len(), 2); // seen inside the transaction
"#
)]
pub struct InTransaction<'a, C> {
    client: Borrowed<'a, C>,
    session: &'a Session,
    engine: &'a Shared,
    statements: Prepared,
}

impl<'a, C> InTransaction<'a, C> {
    /// The view of `session` of `engine` on `client`.
    pub(super) fn new(
        client: Borrowed<'a, C>,
        session: &'a Session,
        engine: &'a Shared,
    ) -> InTransaction<'a, C> {
        InTransaction {
            client,
            session,
            engine,
            statements: Prepared::default(),
        }
    }
}

impl<C> fmt::Debug for InTransaction<'_, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InTransaction")
            .field("session_id", &self.session.id)
            .field("table", self.session.table.qualified())
            .finish_non_exhaustive()
    }
}

#[face(AFIT)]
impl<C: GenericClient> InTransaction<'_, C> {
    /// Runs one of the session's statements on the caller's client.
    async fn run(&mut self, request: &Request<'_>) -> Result<Vec<Row>> {
        match request {
            Request::Statement(sql, params) => {
                let (table, limit) = (&self.session.table, self.engine.message_limit());
                self.statements
                    .query(&mut self.client, table, sql.text, params, limit)
                    .await
            }
            // Schema changes and catalog reads stay with the engine.
            other => Err(Error::InvalidArgument(format!(
                "{} requests run through an engine, not in the caller's transaction",
                other.verb()
            ))),
        }
    }

    /// Appends a `human` message.
    ///
    #[doc = example_tx!(
        r#"
view.add_user_message("What's the weather?")?;
assert_eq!(view.message_count()?, 1);
"#,
        r#"
view.add_user_message("What's the weather?").await?;
assert_eq!(view.message_count().await?, 1);
"#
    )]
    pub async fn add_user_message(&mut self, text: impl Into<String>) -> Result<()> {
        self.add_messages(&[Message::human(text.into())]).await
    }

    /// Appends an `ai` message.
    ///
    #[doc = example_tx!(
        r#"
view.add_ai_message("It is sunny.")?;
"#,
        r#"
view.add_ai_message("It is sunny.").await?;
"#
    )]
    pub async fn add_ai_message(&mut self, text: impl Into<String>) -> Result<()> {
        self.add_messages(&[Message::ai(text.into())]).await
    }

    /// Appends one message of any type, metadata included.
    ///
    #[doc = example_tx!(
        r#"
use langchain_cockroachdb::Message;
view.add_message(&Message::ai("Paris.").with_additional_kwarg("model", "gpt-4"))?;
"#,
        r#"
use langchain_cockroachdb::Message;
view.add_message(&Message::ai("Paris.").with_additional_kwarg("model", "gpt-4")).await?;
"#
    )]
    pub async fn add_message(&mut self, message: &Message) -> Result<()> {
        self.add_messages(std::slice::from_ref(message)).await
    }

    /// Appends messages in one statement, in this order. Messages that
    /// cannot be stored are refused before anything is sent, so the
    /// transaction goes on unharmed.
    ///
    #[doc = example_tx!(
        r#"
use langchain_cockroachdb::{Error, Message};
view.add_messages(&[Message::human("Hello"), Message::ai("Hi there!")])?;
let refused = view.add_messages(&[Message::human("a\0b")]);
assert!(matches!(refused, Err(Error::InvalidMessage(_))));
assert_eq!(view.message_count()?, 2);
"#,
        r#"
use langchain_cockroachdb::{Error, Message};
view.add_messages(&[Message::human("Hello"), Message::ai("Hi there!")]).await?;
let refused = view.add_messages(&[Message::human("a\0b")]).await;
assert!(matches!(refused, Err(Error::InvalidMessage(_))));
assert_eq!(view.message_count().await?, 2);
"#
    )]
    pub async fn add_messages(&mut self, messages: &[Message]) -> Result<()> {
        let batch = InsertBatch::new(self.session, messages)?;
        if batch.is_empty() {
            return Ok(());
        }
        let session = self.session;
        self.run(&write::insert(session, &batch)).await.map(drop)
    }

    /// Appends messages under row ids you chose, in one statement, in this
    /// order. Returns how many were new: ids already in the table are
    /// skipped.
    ///
    #[doc = example_tx!(
        r#"
use langchain_cockroachdb::{Message, uuid::Uuid};
let turn = [(Uuid::new_v4(), Message::human("Hi")), (Uuid::new_v4(), Message::ai("Hello!"))];
assert_eq!(view.add_messages_with_ids(&turn)?, 2);
assert_eq!(view.add_messages_with_ids(&turn)?, 0); // already there
"#,
        r#"
use langchain_cockroachdb::{Message, uuid::Uuid};
let turn = [(Uuid::new_v4(), Message::human("Hi")), (Uuid::new_v4(), Message::ai("Hello!"))];
assert_eq!(view.add_messages_with_ids(&turn).await?, 2);
assert_eq!(view.add_messages_with_ids(&turn).await?, 0); // already there
"#
    )]
    pub async fn add_messages_with_ids(&mut self, messages: &[(Uuid, Message)]) -> Result<u64> {
        let ids = messages.iter().map(|(id, _)| *id).collect();
        let batch = InsertBatch::with_ids(self.session, ids, messages.iter().map(|(_, m)| m))?;
        if batch.is_empty() {
            return Ok(0);
        }
        let session = self.session;
        let stored = self.run(&write::insert_returning(session, &batch)).await?;
        Ok(stored.len() as u64)
    }

    /// Every message of the session, oldest first, as this transaction
    /// sees them.
    ///
    #[doc = example_tx!(
        r#"
view.add_user_message("hi")?;
for msg in view.messages()? {
    println!("{}: {}", msg.message_type(), msg.text());
}
"#,
        r#"
view.add_user_message("hi").await?;
for msg in view.messages().await? {
    println!("{}: {}", msg.message_type(), msg.text());
}
"#
    )]
    pub async fn messages(&mut self) -> Result<Vec<Message>> {
        let session = self.session;
        rows::decode_messages(&self.run(&read::messages(session)).await?)
    }

    /// Every message with its row id and time, oldest first.
    ///
    #[doc = example_tx!(
        r#"
view.add_user_message("hi")?;
let entry = &view.entries()?[0];
assert_eq!(entry.session_id, history.session_id());
"#,
        r#"
view.add_user_message("hi").await?;
let entry = &view.entries().await?[0];
assert_eq!(entry.session_id, history.session_id());
"#
    )]
    pub async fn entries(&mut self) -> Result<Vec<StoredMessage>> {
        let session = self.session;
        let found = self.run(&read::entries(session)).await?;
        rows::decode_entries(&found, Some(&session.id))
    }

    /// The newest `n` messages, oldest first, read through the index.
    ///
    #[doc = example_tx!(
        r#"
for i in 0..5 { view.add_user_message(format!("m{i}"))?; }
let last: Vec<_> = view.last_messages(2)?.iter().map(|m| m.text().into_owned()).collect();
assert_eq!(last, ["m3", "m4"]);
"#,
        r#"
for i in 0..5 { view.add_user_message(format!("m{i}")).await?; }
let last: Vec<_> = view.last_messages(2).await?.iter().map(|m| m.text().into_owned()).collect();
assert_eq!(last, ["m3", "m4"]);
"#
    )]
    pub async fn last_messages(&mut self, n: usize) -> Result<Vec<Message>> {
        let (session, n) = (self.session, sql::limit(n));
        rows::decode_messages(&self.run(&read::last(session, &n)).await?)
    }

    /// The last `k` exchanges (the newest `2 * k` messages), oldest first,
    /// as LangChain's `ConversationBufferWindowMemory(k=k)` keeps them.
    ///
    #[doc = example_tx!(
        r#"
for i in 0..3 { view.add_user_message(format!("q{i}"))?; view.add_ai_message(format!("a{i}"))?; }
assert_eq!(view.buffer_window(2)?.len(), 4); // q1 a1 q2 a2
"#,
        r#"
for i in 0..3 { view.add_user_message(format!("q{i}")).await?; view.add_ai_message(format!("a{i}")).await?; }
assert_eq!(view.buffer_window(2).await?.len(), 4); // q1 a1 q2 a2
"#
    )]
    pub async fn buffer_window(&mut self, k: usize) -> Result<Vec<Message>> {
        self.last_messages(k.saturating_mul(2)).await
    }

    /// How many messages the session holds, as this transaction sees it.
    ///
    #[doc = example_tx!(
        r#"
view.add_user_message("hi")?;
assert_eq!(view.message_count()?, 1);
"#,
        r#"
view.add_user_message("hi").await?;
assert_eq!(view.message_count().await?, 1);
"#
    )]
    pub async fn message_count(&mut self) -> Result<u64> {
        let session = self.session;
        rows::decode_count(&self.run(&read::count(session)).await?)
    }

    /// One page of at most `size` messages with their rows, oldest first,
    /// starting after `cursor` (`None`: at the beginning).
    ///
    #[doc = example_tx!(
        r#"
for i in 0..5 { view.add_user_message(format!("m{i}"))?; }
let first = view.messages_page(None, 2)?;
let second = view.messages_page(first.next.as_ref(), 2)?;
assert_eq!(second.entries[0].message.text(), "m2");
"#,
        r#"
for i in 0..5 { view.add_user_message(format!("m{i}")).await?; }
let first = view.messages_page(None, 2).await?;
let second = view.messages_page(first.next.as_ref(), 2).await?;
assert_eq!(second.entries[0].message.text(), "m2");
"#
    )]
    pub async fn messages_page(&mut self, cursor: Option<&PageCursor>, size: usize) -> Result<Page> {
        self.page(cursor, size, false).await
    }

    /// One page of at most `size` messages with their rows, newest first,
    /// starting before `cursor` (`None`: at the newest).
    ///
    #[doc = example_tx!(
        r#"
for i in 0..5 { view.add_user_message(format!("m{i}"))?; }
let newest = view.messages_page_back(None, 2)?;
assert_eq!(newest.entries[0].message.text(), "m4");
"#,
        r#"
for i in 0..5 { view.add_user_message(format!("m{i}")).await?; }
let newest = view.messages_page_back(None, 2).await?;
assert_eq!(newest.entries[0].message.text(), "m4");
"#
    )]
    pub async fn messages_page_back(
        &mut self,
        cursor: Option<&PageCursor>,
        size: usize,
    ) -> Result<Page> {
        self.page(cursor, size, true).await
    }

    async fn page(&mut self, cursor: Option<&PageCursor>, size: usize, back: bool) -> Result<Page> {
        let (session, limit) = (self.session, read::page_limit(size)?);
        let found = self.run(&read::page(session, cursor, &limit, back)).await?;
        rows::decode_page(&found, &session.id, size)
    }

    /// Deletes the newest `n` messages (undo a turn), found first, then
    /// deleted by id. Returns how many went.
    ///
    #[doc = example_tx!(
        r#"
view.add_user_message("question")?;
view.add_ai_message("bad answer")?;
assert_eq!(view.delete_last(1)?, 1);
assert_eq!(view.message_count()?, 1);
"#,
        r#"
view.add_user_message("question").await?;
view.add_ai_message("bad answer").await?;
assert_eq!(view.delete_last(1).await?, 1);
assert_eq!(view.message_count().await?, 1);
"#
    )]
    pub async fn delete_last(&mut self, n: usize) -> Result<u64> {
        let (session, n) = (self.session, sql::limit(n));
        let newest = self.run(&delete::newest_ids(session, &n)).await?;
        let ids: Vec<Uuid> = rows::decode_column(&newest)?;
        if ids.is_empty() {
            return Ok(0);
        }
        let deleted = self.run(&delete::delete_ids(session, &ids)).await?;
        Ok(deleted.len() as u64)
    }

    /// Deletes every message of this session (and no other) up to its
    /// newest, found first (one round trip when the session is empty).
    ///
    #[doc = example_tx!(
        r#"
view.add_user_message("hi")?;
view.clear()?;
assert!(view.messages()?.is_empty());
"#,
        r#"
view.add_user_message("hi").await?;
view.clear().await?;
assert!(view.messages().await?.is_empty());
"#
    )]
    pub async fn clear(&mut self) -> Result<()> {
        let session = self.session;
        let found = self.run(&delete::newest(session)).await?;
        match rows::decode_first::<time::OffsetDateTime>(&found)? {
            None => Ok(()),
            Some(newest) => self.run(&delete::clear(session, &newest)).await.map(drop),
        }
    }
}
