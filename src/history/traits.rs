//! The history traits, LangChain's `BaseChatMessageHistory` for blocking
//! and for async code, with what both faces' histories offer besides.

use std::future::Future;
use std::pin::Pin;

use uuid::Uuid;

use crate::error::Result;
use crate::message::{Message, TrimOptions, count_tokens_approximately, trim_messages};
use crate::stored::{Page, PageCursor};

/// A chat history for blocking code, as LangChain's
/// `BaseChatMessageHistory`, with what both faces' histories offer an
/// application besides: windows, counts, pages, undo, writes a caller can
/// repeat. Write application code against it, run it on
/// [`CockroachDBChatMessageHistory`](crate::blocking::CockroachDBChatMessageHistory)
/// in production and on
/// [`InMemoryChatMessageHistory`](crate::InMemoryChatMessageHistory) in
/// tests (which keeps ids, times, pages and deletes as the table does). It
/// is dyn-compatible: `Box<dyn ChatMessageHistory>` works. For a history
/// per session id, see [`ChatHistoryStore`](crate::ChatHistoryStore).
///
/// The provided reads (`last_messages`, `buffer_window`, `trim`,
/// `message_count`) are correct for any history, reading every message;
/// the database histories replace them with reads of only the rows they
/// need.
///
/// ```
/// use langchain_cockroachdb::{ChatMessageHistory, InMemoryChatMessageHistory};
///
/// fn greet(history: &dyn ChatMessageHistory) -> langchain_cockroachdb::Result<usize> {
///     history.add_user_message("Hello!")?;
///     history.add_ai_message("Hi there!")?;
///     Ok(history.last_messages(10)?.len())
/// }
/// assert_eq!(greet(&InMemoryChatMessageHistory::new())?, 2);
/// # Ok::<(), langchain_cockroachdb::Error>(())
/// ```
pub trait ChatMessageHistory {
    /// Every message, oldest first.
    fn messages(&self) -> Result<Vec<Message>>;

    /// Appends messages, all or none, in this order.
    fn add_messages(&self, messages: &[Message]) -> Result<()>;

    /// Appends messages under row ids the caller chose, all checked before
    /// any is stored, in this order. Returns how many were new: an id
    /// already stored (in any session) is skipped, so that repeating a call
    /// whose outcome was [ambiguous](crate::Error::is_ambiguous) stores
    /// each message once.
    ///
    /// ```
    /// use langchain_cockroachdb::{ChatMessageHistory, InMemoryChatMessageHistory, Message, uuid::Uuid};
    ///
    /// let history = InMemoryChatMessageHistory::new();
    /// let turn = [(Uuid::new_v4(), Message::human("Hi")), (Uuid::new_v4(), Message::ai("Hello!"))];
    /// assert_eq!(history.add_messages_with_ids(&turn)?, 2);
    /// assert_eq!(history.add_messages_with_ids(&turn)?, 0); // already there
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    fn add_messages_with_ids(&self, messages: &[(Uuid, Message)]) -> Result<u64>;

    /// One page of at most `size` messages with their rows, oldest first,
    /// after `cursor` (`None`: from the oldest). The page's `next` is set
    /// when the page is full; a `size` of 0 is an
    /// [`InvalidArgument`](crate::Error::InvalidArgument).
    ///
    /// ```
    /// use langchain_cockroachdb::{ChatMessageHistory, InMemoryChatMessageHistory};
    ///
    /// let history = InMemoryChatMessageHistory::new();
    /// for text in ["a", "b", "c"] { history.add_user_message(text)?; }
    /// let first = history.messages_page(None, 2)?;
    /// let rest = history.messages_page(first.next.as_ref(), 2)?;
    /// assert_eq!(rest.entries[0].message.text(), "c");
    /// assert!(rest.next.is_none());
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    fn messages_page(&self, cursor: Option<&PageCursor>, size: usize) -> Result<Page>;

    /// One page of at most `size` messages with their rows, newest first,
    /// before `cursor` (`None`: from the newest): how a chat screen scrolls
    /// back. As [`messages_page`](Self::messages_page) otherwise.
    ///
    /// ```
    /// use langchain_cockroachdb::{ChatMessageHistory, InMemoryChatMessageHistory};
    ///
    /// let history = InMemoryChatMessageHistory::new();
    /// for text in ["a", "b", "c"] { history.add_user_message(text)?; }
    /// let newest = history.messages_page_back(None, 2)?;
    /// assert_eq!(newest.entries[0].message.text(), "c");
    /// let older = history.messages_page_back(newest.next.as_ref(), 2)?;
    /// assert_eq!(older.entries[0].message.text(), "a");
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    fn messages_page_back(&self, cursor: Option<&PageCursor>, size: usize) -> Result<Page>;

    /// Deletes the newest `n` messages (undo a turn). Returns how many went.
    ///
    /// ```
    /// use langchain_cockroachdb::{ChatMessageHistory, InMemoryChatMessageHistory};
    ///
    /// let history = InMemoryChatMessageHistory::new();
    /// history.add_user_message("question")?;
    /// history.add_ai_message("bad answer")?;
    /// assert_eq!(history.delete_last(1)?, 1);
    /// assert_eq!(history.delete_last(5)?, 1);
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    fn delete_last(&self, n: usize) -> Result<u64>;

    /// Removes every message.
    fn clear(&self) -> Result<()>;

    /// Appends one message.
    fn add_message(&self, message: &Message) -> Result<()> {
        self.add_messages(std::slice::from_ref(message))
    }

    /// Appends a `human` message.
    fn add_user_message(&self, text: &str) -> Result<()> {
        self.add_message(&Message::human(text))
    }

    /// Appends an `ai` message.
    fn add_ai_message(&self, text: &str) -> Result<()> {
        self.add_message(&Message::ai(text))
    }

    /// The newest `n` messages, oldest first.
    fn last_messages(&self, n: usize) -> Result<Vec<Message>> {
        let mut all = self.messages()?;
        Ok(all.split_off(all.len().saturating_sub(n)))
    }

    /// What LangChain's `ConversationBufferWindowMemory(k=k)` keeps: the
    /// last `k` exchanges, that is the newest `2 * k` messages, oldest
    /// first.
    ///
    /// ```
    /// use langchain_cockroachdb::{ChatMessageHistory, InMemoryChatMessageHistory};
    ///
    /// let history = InMemoryChatMessageHistory::new();
    /// for i in 0..3 { history.add_user_message(&format!("q{i}"))?; history.add_ai_message(&format!("a{i}"))?; }
    /// let window = history.buffer_window(1)?;
    /// assert_eq!((window[0].text(), window[1].text()), ("q2".into(), "a2".into()));
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    fn buffer_window(&self, k: usize) -> Result<Vec<Message>> {
        self.last_messages(k.saturating_mul(2))
    }

    /// How many messages the history holds.
    ///
    /// ```
    /// use langchain_cockroachdb::{ChatMessageHistory, InMemoryChatMessageHistory};
    ///
    /// let history = InMemoryChatMessageHistory::new();
    /// history.add_user_message("hi")?;
    /// assert_eq!(history.message_count()?, 1);
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    fn message_count(&self) -> Result<u64> {
        Ok(self.messages()?.len() as u64)
    }

    /// The context window LangChain's `trim_messages(...,
    /// strategy="last", token_counter=count_tokens_approximately)` makes of
    /// the messages.
    fn trim(&self, options: &TrimOptions) -> Result<Vec<Message>> {
        Ok(trim_messages(
            &self.messages()?,
            options,
            count_tokens_approximately,
        ))
    }
}

/// A boxed future that is `Send`: what the methods of
/// [`AsyncChatMessageHistory`] return, so that the trait is dyn-compatible.
///
/// ```
/// use langchain_cockroachdb::{AsyncChatMessageHistory, BoxFuture, InMemoryChatMessageHistory, Result};
///
/// fn count(history: &dyn AsyncChatMessageHistory) -> BoxFuture<'_, Result<usize>> {
///     Box::pin(async move { Ok(history.messages().await?.len()) })
/// }
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<()> {
/// assert_eq!(count(&InMemoryChatMessageHistory::new()).await?, 0);
/// # Ok(()) }
/// ```
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The async form of [`ChatMessageHistory`], for web servers and other
/// tokio code, with the same methods. It is dyn-compatible (its futures
/// are boxed and `Send`), so an `Arc<dyn AsyncChatMessageHistory>` can be
/// held across tasks, with the database history in production and the
/// in-memory one in tests. A server of many sessions holds an
/// [`AsyncChatHistoryStore`](crate::AsyncChatHistoryStore) instead, and
/// asks it for each request's history.
///
/// ```
/// use std::sync::Arc;
/// use langchain_cockroachdb::{AsyncChatMessageHistory, InMemoryChatMessageHistory};
///
/// async fn turn(history: Arc<dyn AsyncChatMessageHistory>) -> langchain_cockroachdb::Result<usize> {
///     history.add_user_message("What's my name?").await?;
///     Ok(history.last_messages(10).await?.len())
/// }
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
/// assert_eq!(turn(Arc::new(InMemoryChatMessageHistory::new())).await?, 1);
/// # Ok(()) }
/// ```
pub trait AsyncChatMessageHistory: Send + Sync {
    /// Every message, oldest first.
    fn messages(&self) -> BoxFuture<'_, Result<Vec<Message>>>;

    /// Appends messages, all or none, in this order.
    fn add_messages<'a>(&'a self, messages: &'a [Message]) -> BoxFuture<'a, Result<()>>;

    /// Appends messages under row ids the caller chose; returns how many
    /// were new (see [`ChatMessageHistory::add_messages_with_ids`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
    /// use langchain_cockroachdb::{AsyncChatMessageHistory, InMemoryChatMessageHistory, Message, uuid::Uuid};
    ///
    /// let history = InMemoryChatMessageHistory::new();
    /// let turn = [(Uuid::new_v4(), Message::human("Hi"))];
    /// assert_eq!(history.add_messages_with_ids(&turn).await?, 1);
    /// assert_eq!(history.add_messages_with_ids(&turn).await?, 0); // already there
    /// # Ok(()) }
    /// ```
    fn add_messages_with_ids<'a>(
        &'a self,
        messages: &'a [(Uuid, Message)],
    ) -> BoxFuture<'a, Result<u64>>;

    /// One page, oldest first, after `cursor` (see
    /// [`ChatMessageHistory::messages_page`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
    /// use langchain_cockroachdb::{AsyncChatMessageHistory, InMemoryChatMessageHistory};
    ///
    /// let history = InMemoryChatMessageHistory::new();
    /// history.add_user_message("a").await?;
    /// let page = history.messages_page(None, 10).await?;
    /// assert_eq!(page.entries.len(), 1);
    /// assert!(page.next.is_none());
    /// # Ok(()) }
    /// ```
    fn messages_page<'a>(
        &'a self,
        cursor: Option<&'a PageCursor>,
        size: usize,
    ) -> BoxFuture<'a, Result<Page>>;

    /// One page, newest first, before `cursor` (see
    /// [`ChatMessageHistory::messages_page_back`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
    /// use langchain_cockroachdb::{AsyncChatMessageHistory, InMemoryChatMessageHistory};
    ///
    /// let history = InMemoryChatMessageHistory::new();
    /// history.add_user_message("a").await?;
    /// history.add_user_message("b").await?;
    /// let newest = history.messages_page_back(None, 1).await?;
    /// assert_eq!(newest.entries[0].message.text(), "b");
    /// # Ok(()) }
    /// ```
    fn messages_page_back<'a>(
        &'a self,
        cursor: Option<&'a PageCursor>,
        size: usize,
    ) -> BoxFuture<'a, Result<Page>>;

    /// Deletes the newest `n` messages; returns how many went.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
    /// use langchain_cockroachdb::{AsyncChatMessageHistory, InMemoryChatMessageHistory};
    ///
    /// let history = InMemoryChatMessageHistory::new();
    /// history.add_user_message("oops").await?;
    /// assert_eq!(history.delete_last(2).await?, 1);
    /// # Ok(()) }
    /// ```
    fn delete_last(&self, n: usize) -> BoxFuture<'_, Result<u64>>;

    /// Removes every message.
    fn clear(&self) -> BoxFuture<'_, Result<()>>;

    /// Appends one message.
    fn add_message<'a>(&'a self, message: &'a Message) -> BoxFuture<'a, Result<()>> {
        self.add_messages(std::slice::from_ref(message))
    }

    /// Appends a `human` message.
    fn add_user_message<'a>(&'a self, text: &'a str) -> BoxFuture<'a, Result<()>> {
        let message = Message::human(text);
        Box::pin(async move { self.add_messages(std::slice::from_ref(&message)).await })
    }

    /// Appends an `ai` message.
    fn add_ai_message<'a>(&'a self, text: &'a str) -> BoxFuture<'a, Result<()>> {
        let message = Message::ai(text);
        Box::pin(async move { self.add_messages(std::slice::from_ref(&message)).await })
    }

    /// The newest `n` messages, oldest first.
    fn last_messages(&self, n: usize) -> BoxFuture<'_, Result<Vec<Message>>> {
        Box::pin(async move {
            let mut all = self.messages().await?;
            Ok(all.split_off(all.len().saturating_sub(n)))
        })
    }

    /// The last `k` exchanges, the newest `2 * k` messages (see
    /// [`ChatMessageHistory::buffer_window`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
    /// use langchain_cockroachdb::{AsyncChatMessageHistory, InMemoryChatMessageHistory};
    ///
    /// let history = InMemoryChatMessageHistory::new();
    /// for text in ["q0", "a0", "q1", "a1"] { history.add_user_message(text).await?; }
    /// assert_eq!(history.buffer_window(1).await?.len(), 2);
    /// # Ok(()) }
    /// ```
    fn buffer_window(&self, k: usize) -> BoxFuture<'_, Result<Vec<Message>>> {
        self.last_messages(k.saturating_mul(2))
    }

    /// How many messages the history holds.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
    /// use langchain_cockroachdb::{AsyncChatMessageHistory, InMemoryChatMessageHistory};
    ///
    /// let history = InMemoryChatMessageHistory::new();
    /// assert_eq!(history.message_count().await?, 0);
    /// # Ok(()) }
    /// ```
    fn message_count(&self) -> BoxFuture<'_, Result<u64>> {
        Box::pin(async move { Ok(self.messages().await?.len() as u64) })
    }

    /// The context window LangChain's `trim_messages(...,
    /// strategy="last", token_counter=count_tokens_approximately)` makes of
    /// the messages.
    fn trim<'a>(&'a self, options: &'a TrimOptions) -> BoxFuture<'a, Result<Vec<Message>>> {
        Box::pin(async move {
            let messages = self.messages().await?;
            Ok(trim_messages(
                &messages,
                options,
                count_tokens_approximately,
            ))
        })
    }
}
