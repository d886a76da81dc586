//! The counterparts of LangChain's `BaseChatMessageHistory`: one trait for
//! blocking code and one for async code, implemented by both CockroachDB
//! histories and by an in-memory history for testing application code.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use crate::error::{Error, Result};
use crate::message::Message;

/// A chat history for blocking code, as LangChain's
/// `BaseChatMessageHistory`: `messages`, `add_messages` and `clear`, and
/// the rest provided. Write application code against it, run it on
/// [`CockroachDBChatMessageHistory`](crate::blocking::CockroachDBChatMessageHistory)
/// in production and on [`InMemoryChatMessageHistory`] in tests.
///
/// ```
/// use langchain_cockroachdb::{ChatMessageHistory, InMemoryChatMessageHistory};
///
/// fn greet(history: &impl ChatMessageHistory) -> langchain_cockroachdb::Result<usize> {
///     history.add_user_message("Hello!")?;
///     history.add_ai_message("Hi there!")?;
///     Ok(history.messages()?.len())
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
    fn add_user_message(&self, text: impl Into<String>) -> Result<()>
    where
        Self: Sized,
    {
        self.add_message(&Message::human(text.into()))
    }

    /// Appends an `ai` message.
    fn add_ai_message(&self, text: impl Into<String>) -> Result<()>
    where
        Self: Sized,
    {
        self.add_message(&Message::ai(text.into()))
    }
}

/// The async form of [`ChatMessageHistory`], for web servers and other
/// tokio code; its futures are `Send`.
///
/// ```
/// use langchain_cockroachdb::{AsyncChatMessageHistory, InMemoryChatMessageHistory};
///
/// async fn turn(history: &impl AsyncChatMessageHistory) -> langchain_cockroachdb::Result<usize> {
///     history.add_user_message("What's my name?").await?;
///     Ok(history.messages().await?.len())
/// }
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
/// assert_eq!(turn(&InMemoryChatMessageHistory::new()).await?, 1);
/// # Ok(()) }
/// ```
pub trait AsyncChatMessageHistory: Send + Sync {
    /// Every message, oldest first.
    fn messages(&self) -> impl Future<Output = Result<Vec<Message>>> + Send;

    /// Appends messages, all or none, in this order.
    fn add_messages(&self, messages: &[Message]) -> impl Future<Output = Result<()>> + Send;

    /// Removes every message.
    fn clear(&self) -> impl Future<Output = Result<()>> + Send;

    /// Appends one message.
    fn add_message(&self, message: &Message) -> impl Future<Output = Result<()>> + Send {
        self.add_messages(std::slice::from_ref(message))
    }

    /// Appends a `human` message.
    fn add_user_message(&self, text: impl Into<String>) -> impl Future<Output = Result<()>> + Send
    where
        Self: Sized,
    {
        let message = Message::human(text.into());
        async move { self.add_messages(std::slice::from_ref(&message)).await }
    }

    /// Appends an `ai` message.
    fn add_ai_message(&self, text: impl Into<String>) -> impl Future<Output = Result<()>> + Send
    where
        Self: Sized,
    {
        let message = Message::ai(text.into());
        async move { self.add_messages(std::slice::from_ref(&message)).await }
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
    fn messages(&self) -> impl Future<Output = Result<Vec<Message>>> + Send {
        std::future::ready(ChatMessageHistory::messages(self))
    }

    fn add_messages(&self, messages: &[Message]) -> impl Future<Output = Result<()>> + Send {
        std::future::ready(ChatMessageHistory::add_messages(self, messages))
    }

    fn clear(&self) -> impl Future<Output = Result<()>> + Send {
        std::future::ready(ChatMessageHistory::clear(self))
    }
}
