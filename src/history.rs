//! The counterparts of LangChain's `BaseChatMessageHistory`: one trait for
//! blocking code and one for async code, implemented by both CockroachDB
//! histories and by an in-memory history for testing application code.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use crate::error::{Error, Result};
use crate::message::{Message, TrimOptions, count_tokens_approximately, trim_messages};

/// A chat history for blocking code, as LangChain's
/// `BaseChatMessageHistory`: `messages`, `add_messages` and `clear`, and
/// the rest provided. Write application code against it, run it on
/// [`CockroachDBChatMessageHistory`](crate::blocking::CockroachDBChatMessageHistory)
/// in production and on [`InMemoryChatMessageHistory`] in tests. It is
/// dyn-compatible: `Box<dyn ChatMessageHistory>` works.
///
/// The provided reads (`last_messages`, `trim`) are correct for any
/// history, reading every message; the database histories replace them
/// with reads of only the newest rows.
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
/// tokio code. It is dyn-compatible (its futures are boxed and `Send`), so
/// an `Arc<dyn AsyncChatMessageHistory>` can sit in a server's state, with
/// the database history in production and the in-memory one in tests.
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

/// A history kept in memory, as LangChain's `InMemoryChatMessageHistory`:
/// for tests of application code and for prototypes. Cheap to clone; clones
/// share the messages. It refuses what the database histories refuse (a
/// message LangChain would not take).
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
#[derive(Clone, Debug, Default)]
pub struct InMemoryChatMessageHistory {
    messages: Arc<Mutex<Vec<Message>>>,
}

impl InMemoryChatMessageHistory {
    /// An empty history.
    ///
    /// ```
    /// # use langchain_cockroachdb::{ChatMessageHistory, InMemoryChatMessageHistory};
    /// assert!(InMemoryChatMessageHistory::new().messages()?.is_empty());
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn with<R>(&self, f: impl FnOnce(&mut Vec<Message>) -> R) -> R {
        f(&mut self.messages.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl ChatMessageHistory for InMemoryChatMessageHistory {
    fn messages(&self) -> Result<Vec<Message>> {
        Ok(self.with(|messages| messages.clone()))
    }

    fn add_messages(&self, messages: &[Message]) -> Result<()> {
        if let Some((i, reason)) = messages
            .iter()
            .enumerate()
            .find_map(|(i, m)| m.refusal().map(|r| (i, r)))
        {
            return Err(Error::InvalidMessage(format!("message {i}: {reason}")));
        }
        self.with(|stored| stored.extend_from_slice(messages));
        Ok(())
    }

    fn clear(&self) -> Result<()> {
        self.with(Vec::clear);
        Ok(())
    }
}

impl AsyncChatMessageHistory for InMemoryChatMessageHistory {
    fn messages(&self) -> BoxFuture<'_, Result<Vec<Message>>> {
        Box::pin(std::future::ready(ChatMessageHistory::messages(self)))
    }

    fn add_messages<'a>(&'a self, messages: &'a [Message]) -> BoxFuture<'a, Result<()>> {
        Box::pin(std::future::ready(ChatMessageHistory::add_messages(
            self, messages,
        )))
    }

    fn clear(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(std::future::ready(ChatMessageHistory::clear(self)))
    }
}
