//! A history's reads: all of it, its newest messages, windows, pages.
//!
//! Each face compiles this file as its own module (as it does every file
//! of `src/io/`), with its own types as `Engine` and `History` and its own
//! `example!`; `api_engine.rs` says how the public operations are written
//! once.

use crate::error::Result;
use crate::message::{Message, TrimOptions};
use crate::stored::{Page, PageCursor, StoredMessage};

use super::mode::face;
use super::History;

#[face(AFIT)]
impl History {
    /// Every message of the session, oldest first.
    ///
    #[doc = example!(
        r#"
# let history = CockroachDBChatMessageHistory::new("doc-messages", &url)?;
for msg in history.messages()? {
    println!("{}: {}", msg.message_type(), msg.text());
}
"#,
        r#"
# let history = AsyncCockroachDBChatMessageHistory::new("doc-async-messages", &url)?;
for msg in history.messages().await? {
    println!("{}: {}", msg.message_type(), msg.text());
}
"#
    )]
    pub async fn messages(&self) -> Result<Vec<Message>> {
        self.engine.0.messages(&self.session).await
    }

    /// The newest `n` messages, oldest first, read through the index: the
    /// cost does not grow with the session's length.
    ///
    #[doc = example!(
        r#"
# let history = CockroachDBChatMessageHistory::new("doc-last", &url)?;
# history.clear()?;
for i in 0..5 { history.add_user_message(format!("m{i}"))?; }
let last: Vec<_> = history.last_messages(2)?.iter().map(|m| m.text().into_owned()).collect();
assert_eq!(last, ["m3", "m4"]);
# history.clear()?;
"#,
        r#"
# let history = AsyncCockroachDBChatMessageHistory::new("doc-async-last", &url)?;
# history.clear().await?;
for i in 0..5 { history.add_user_message(format!("m{i}")).await?; }
let last: Vec<_> = history.last_messages(2).await?.iter().map(|m| m.text().into_owned()).collect();
assert_eq!(last, ["m3", "m4"]);
# history.clear().await?;
"#
    )]
    pub async fn last_messages(&self, n: usize) -> Result<Vec<Message>> {
        self.engine.0.last_messages(&self.session, n).await
    }

    /// What LangChain's `ConversationBufferWindowMemory(k=k)` keeps: the
    /// last `k` exchanges, that is the newest `2 * k` messages, oldest first.
    ///
    #[doc = example!(
        r#"
# let history = CockroachDBChatMessageHistory::new("doc-window", &url)?;
# history.clear()?;
for i in 0..3 { history.add_user_message(format!("q{i}"))?; history.add_ai_message(format!("a{i}"))?; }
assert_eq!(history.buffer_window(2)?.len(), 4); // q1 a1 q2 a2
# history.clear()?;
"#,
        r#"
# let history = AsyncCockroachDBChatMessageHistory::new("doc-async-window", &url)?;
# history.clear().await?;
for i in 0..3 { history.add_user_message(format!("q{i}")).await?; history.add_ai_message(format!("a{i}")).await?; }
assert_eq!(history.buffer_window(2).await?.len(), 4); // q1 a1 q2 a2
# history.clear().await?;
"#
    )]
    pub async fn buffer_window(&self, k: usize) -> Result<Vec<Message>> {
        self.last_messages(k.saturating_mul(2)).await
    }

    /// The context window for a model, as LangChain's `trim_messages(...,
    /// strategy="last", token_counter=count_tokens_approximately)` makes it
    /// of the whole session, read from the newest rows back page by page,
    /// so that its cost follows the window, not the session.
    ///
    #[doc = example!(
        r#"
use langchain_cockroachdb::{Message, MessageType, TrimOptions};
# let history = CockroachDBChatMessageHistory::new("doc-trim", &url)?;
# history.clear()?;
history.add_message(&Message::system("Be brief."))?;
for i in 0..100 {
    history.add_messages(&[Message::human(format!("question {i}")), Message::ai(format!("answer {i}"))])?;
}
let window = history.trim(&TrimOptions::new(40).include_system(true).start_on(MessageType::Human))?;
assert_eq!(window[0].text(), "Be brief.");
assert_eq!(window.last().unwrap().text(), "answer 99");
# history.clear()?;
"#,
        r#"
use langchain_cockroachdb::{Message, MessageType, TrimOptions};
# let history = AsyncCockroachDBChatMessageHistory::new("doc-async-trim", &url)?;
# history.clear().await?;
history.add_message(&Message::system("Be brief.")).await?;
for i in 0..100 {
    history.add_messages(&[Message::human(format!("question {i}")), Message::ai(format!("answer {i}"))]).await?;
}
let window = history.trim(&TrimOptions::new(40).include_system(true).start_on(MessageType::Human)).await?;
assert_eq!(window[0].text(), "Be brief.");
assert_eq!(window.last().unwrap().text(), "answer 99");
# history.clear().await?;
"#
    )]
    pub async fn trim(&self, options: &TrimOptions) -> Result<Vec<Message>> {
        self.trim_with_counter(options, crate::count_tokens_approximately)
            .await
    }

    /// As [`trim`](Self::trim), with your token counter (a model's
    /// tokenizer): it counts a list of messages, and never fewer tokens for
    /// more messages.
    ///
    #[doc = example!(
        r#"
use langchain_cockroachdb::TrimOptions;
# let history = CockroachDBChatMessageHistory::new("doc-trim-counter", &url)?;
# history.clear()?;
for i in 0..10 { history.add_user_message(format!("m{i}"))?; }
// One "token" a message: the newest three.
let window = history.trim_with_counter(&TrimOptions::new(3), |messages| messages.len())?;
assert_eq!(window.len(), 3);
# history.clear()?;
"#,
        r#"
use langchain_cockroachdb::TrimOptions;
# let history = AsyncCockroachDBChatMessageHistory::new("doc-async-trim-counter", &url)?;
# history.clear().await?;
for i in 0..10 { history.add_user_message(format!("m{i}")).await?; }
// One "token" a message: the newest three.
let window = history.trim_with_counter(&TrimOptions::new(3), |messages| messages.len()).await?;
assert_eq!(window.len(), 3);
# history.clear().await?;
"#
    )]
    pub async fn trim_with_counter(
        &self,
        options: &TrimOptions,
        counter: impl Fn(&[Message]) -> usize + Sync,
    ) -> Result<Vec<Message>> {
        self.engine.0.trim(&self.session, options, counter).await
    }

    /// How many messages the session holds.
    ///
    #[doc = example!(
        r#"
# let history = CockroachDBChatMessageHistory::new("doc-count", &url)?;
# history.clear()?;
history.add_user_message("hi")?;
assert_eq!(history.message_count()?, 1);
# history.clear()?;
"#,
        r#"
# let history = AsyncCockroachDBChatMessageHistory::new("doc-async-count", &url)?;
# history.clear().await?;
history.add_user_message("hi").await?;
assert_eq!(history.message_count().await?, 1);
# history.clear().await?;
"#
    )]
    pub async fn message_count(&self) -> Result<u64> {
        self.engine.0.message_count(&self.session).await
    }

    /// The messages stored after `since`, oldest first.
    ///
    #[doc = example!(
        r#"
# let history = CockroachDBChatMessageHistory::new("doc-since", &url)?;
let an_hour_ago = langchain_cockroachdb::time::OffsetDateTime::now_utc() - std::time::Duration::from_secs(3600);
let recent = history.messages_since(an_hour_ago)?;
"#,
        r#"
# let history = AsyncCockroachDBChatMessageHistory::new("doc-async-since", &url)?;
let an_hour_ago = langchain_cockroachdb::time::OffsetDateTime::now_utc() - std::time::Duration::from_secs(3600);
let recent = history.messages_since(an_hour_ago).await?;
"#
    )]
    pub async fn messages_since(&self, since: time::OffsetDateTime) -> Result<Vec<Message>> {
        self.engine.0.messages_since(&self.session, since).await
    }

    /// One page of at most `size` messages with their rows, oldest first,
    /// starting after `cursor` (`None`: at the beginning). Walks a long
    /// session in order with flat memory, by keyset rather than OFFSET.
    ///
    #[doc = example!(
        r#"
# let history = CockroachDBChatMessageHistory::new("doc-pages", &url)?;
# history.clear()?;
# for i in 0..5 { history.add_user_message(format!("m{i}"))?; }
let mut cursor = None;
let mut seen = 0;
loop {
    let page = history.messages_page(cursor.as_ref(), 2)?;
    seen += page.entries.len();
    match page.next {
        Some(next) => cursor = Some(next),
        None => break,
    }
}
# assert_eq!(seen, 5); history.clear()?;
"#,
        r#"
# let history = AsyncCockroachDBChatMessageHistory::new("doc-async-pages", &url)?;
# history.clear().await?;
# for i in 0..5 { history.add_user_message(format!("m{i}")).await?; }
let mut cursor = None;
let mut seen = 0;
loop {
    let page = history.messages_page(cursor.as_ref(), 2).await?;
    seen += page.entries.len();
    match page.next {
        Some(next) => cursor = Some(next),
        None => break,
    }
}
# assert_eq!(seen, 5); history.clear().await?;
"#
    )]
    pub async fn messages_page(&self, cursor: Option<&PageCursor>, size: usize) -> Result<Page> {
        self.engine
            .0
            .messages_page(&self.session, cursor, size, false)
            .await
    }

    /// One page of at most `size` messages with their rows, newest first,
    /// starting before `cursor` (`None`: at the newest): how a chat screen
    /// scrolls back. The cursor's string form can go to a client and back.
    ///
    #[doc = example!(
        r#"
# let history = CockroachDBChatMessageHistory::new("doc-pages-back", &url)?;
# history.clear()?;
for i in 0..5 { history.add_user_message(format!("m{i}"))?; }
let newest = history.messages_page_back(None, 2)?;
let texts: Vec<_> = newest.entries.iter().map(|e| e.message.text().into_owned()).collect();
assert_eq!(texts, ["m4", "m3"]);

let cursor = newest.next.expect("older messages").to_string(); // to the client
let older = history.messages_page_back(Some(&cursor.parse()?), 2)?; // and back
assert_eq!(older.entries[0].message.text(), "m2");
# history.clear()?;
"#,
        r#"
# let history = AsyncCockroachDBChatMessageHistory::new("doc-async-pages-back", &url)?;
# history.clear().await?;
for i in 0..5 { history.add_user_message(format!("m{i}")).await?; }
let newest = history.messages_page_back(None, 2).await?;
let texts: Vec<_> = newest.entries.iter().map(|e| e.message.text().into_owned()).collect();
assert_eq!(texts, ["m4", "m3"]);

let cursor = newest.next.expect("older messages").to_string(); // to the client
let older = history.messages_page_back(Some(&cursor.parse()?), 2).await?; // and back
assert_eq!(older.entries[0].message.text(), "m2");
# history.clear().await?;
"#
    )]
    pub async fn messages_page_back(
        &self,
        cursor: Option<&PageCursor>,
        size: usize,
    ) -> Result<Page> {
        self.engine
            .0
            .messages_page(&self.session, cursor, size, true)
            .await
    }

    /// Every message with its row id and time, oldest first (the guide's
    /// "Query History").
    ///
    #[doc = example!(
        r#"
# let history = CockroachDBChatMessageHistory::new("doc-entries", &url)?;
for entry in history.entries()? {
    println!("{} {}: {}", entry.created_at, entry.id, entry.message.text());
}
"#,
        r#"
# let history = AsyncCockroachDBChatMessageHistory::new("doc-async-entries", &url)?;
for entry in history.entries().await? {
    println!("{} {}: {}", entry.created_at, entry.id, entry.message.text());
}
"#
    )]
    pub async fn entries(&self) -> Result<Vec<StoredMessage>> {
        self.engine.0.entries(&self.session).await
    }
}
