//! The stores: the history of a session id, for code that serves many
//! sessions, as a trait for blocking code and one for async code.

use crate::error::Result;

use super::traits::{AsyncChatMessageHistory, ChatMessageHistory};

/// The chat histories of many sessions, by session id, for blocking code:
/// what LangChain's `RunnableWithMessageHistory` calls
/// `get_session_history`. Write a server or a worker against it, run it on
/// a table of the database
/// ([`CockroachDBChatHistoryStore`](crate::blocking::CockroachDBChatHistoryStore),
/// from [`CockroachDBEngine::history_store`](crate::blocking::CockroachDBEngine::history_store))
/// in production and on [`InMemoryChatHistoryStore`](crate::InMemoryChatHistoryStore)
/// in tests. It is dyn-compatible and `Send + Sync`: an
/// `Arc<dyn ChatHistoryStore>` can be shared by a program's threads.
///
/// ```
/// use std::sync::Arc;
/// use langchain_cockroachdb::{ChatHistoryStore, ChatMessageHistory, InMemoryChatHistoryStore, Result};
///
/// /// One turn of a user's conversation: the context the model sees, and
/// /// the exchange stored.
/// fn turn(store: &dyn ChatHistoryStore, user: &str, question: &str) -> Result<String> {
///     let history = store.history(&format!("user-{user}:main"))?;
///     let context = history.buffer_window(5)?;
///     let answer = format!("({} messages of context) You said: {question}", context.len());
///     history.add_user_message(question)?;
///     history.add_ai_message(&answer)?;
///     Ok(answer)
/// }
///
/// let store: Arc<dyn ChatHistoryStore> = Arc::new(InMemoryChatHistoryStore::new());
/// turn(&*store, "alice", "Hi!")?;
/// assert_eq!(turn(&*store, "alice", "Again")?, "(2 messages of context) You said: Again");
/// assert_eq!(turn(&*store, "bob", "Hi!")?, "(0 messages of context) You said: Hi!");
/// # Ok::<(), langchain_cockroachdb::Error>(())
/// ```
pub trait ChatHistoryStore: Send + Sync {
    /// The history of `session_id`. Cheap: it opens nothing. A session id
    /// the table would refuse (empty, with U+0000, over 2048 bytes) is an
    /// [`InvalidIdentifier`](crate::Error::InvalidIdentifier).
    ///
    /// ```
    /// use langchain_cockroachdb::{ChatHistoryStore, Error, InMemoryChatHistoryStore};
    ///
    /// let store: &dyn ChatHistoryStore = &InMemoryChatHistoryStore::new();
    /// assert!(store.history("user-1")?.messages()?.is_empty());
    /// assert!(matches!(store.history("").err(), Some(Error::InvalidIdentifier { .. })));
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    fn history(&self, session_id: &str) -> Result<Box<dyn ChatMessageHistory + Send + Sync>>;
}

/// The chat histories of many sessions, by session id, for async code: what
/// a web server holds in its state, an `Arc<dyn AsyncChatHistoryStore>`,
/// asking it for each request's history. In production it is a table of
/// the database
/// ([`AsyncCockroachDBChatHistoryStore`](crate::nonblocking::AsyncCockroachDBChatHistoryStore),
/// from [`AsyncCockroachDBEngine::history_store`](crate::nonblocking::AsyncCockroachDBEngine::history_store));
/// in the server's tests, an
/// [`InMemoryChatHistoryStore`](crate::InMemoryChatHistoryStore), which
/// keeps order, pages and deletes as the table does.
///
/// An axum handler, and its test without a database:
///
/// ```
/// use std::sync::Arc;
///
/// use axum::extract::{Path, State};
/// use axum::http::StatusCode;
/// use axum::{Router, routing::post};
/// use langchain_cockroachdb::{AsyncChatHistoryStore, Message};
///
/// /// The server's state: every session's history.
/// type Histories = Arc<dyn AsyncChatHistoryStore>;
///
/// /// `POST /chat/{session}`: stores the question and its answer, and
/// /// returns the answer.
/// async fn chat(
///     State(histories): State<Histories>,
///     Path(session): Path<String>,
///     question: String,
/// ) -> Result<String, StatusCode> {
///     let history = histories.history(&session).map_err(|_| StatusCode::BAD_REQUEST)?;
///     let unavailable = |_| StatusCode::SERVICE_UNAVAILABLE;
///     let earlier = history.message_count().await.map_err(unavailable)?;
///     let answer = format!("Message {} received: {question}", earlier + 1);
///     let turn = [Message::human(question), Message::ai(answer.as_str())];
///     history.add_messages(&turn).await.map_err(unavailable)?;
///     Ok(answer)
/// }
///
/// fn app(histories: Histories) -> Router {
///     Router::new().route("/chat/{session}", post(chat)).with_state(histories)
/// }
///
/// /// In production: the histories of the database's default table.
/// # #[cfg(feature = "async")]
/// fn production(url: &str) -> langchain_cockroachdb::Result<Router> {
///     use langchain_cockroachdb::{HistoryOptions, nonblocking::AsyncCockroachDBEngine};
///     let engine = AsyncCockroachDBEngine::from_connection_string(url)?;
///     Ok(app(Arc::new(engine.history_store(HistoryOptions::default())?)))
/// }
///
/// // The handler's test, on histories in memory.
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> langchain_cockroachdb::Result<()> {
/// use langchain_cockroachdb::{AsyncChatMessageHistory, InMemoryChatHistoryStore};
///
/// let store = InMemoryChatHistoryStore::new();
/// let state = State(Arc::new(store.clone()) as Histories);
/// let answer = chat(state.clone(), Path("user-1".into()), "Hello!".into()).await;
/// assert_eq!(answer, Ok("Message 1 received: Hello!".into()));
/// let answer = chat(state.clone(), Path("user-1".into()), "Again".into()).await;
/// assert_eq!(answer, Ok("Message 3 received: Again".into()));
/// assert_eq!(store.history("user-1")?.message_count().await?, 4);
/// let refused = chat(state, Path("".into()), "Hello?".into()).await;
/// assert_eq!(refused, Err(StatusCode::BAD_REQUEST));
/// # Ok(()) }
/// ```
pub trait AsyncChatHistoryStore: Send + Sync {
    /// The history of `session_id`. Cheap, and not async: it opens
    /// nothing. A session id the table would refuse (empty, with U+0000,
    /// over 2048 bytes) is an
    /// [`InvalidIdentifier`](crate::Error::InvalidIdentifier).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
    /// use std::sync::Arc;
    /// use langchain_cockroachdb::{AsyncChatHistoryStore, InMemoryChatHistoryStore};
    ///
    /// let store: Arc<dyn AsyncChatHistoryStore> = Arc::new(InMemoryChatHistoryStore::new());
    /// let history = store.history("user-1")?;
    /// history.add_user_message("hi").await?;
    /// assert_eq!(store.history("user-1")?.message_count().await?, 1);
    /// assert!(store.history("\0").is_err());
    /// # Ok(()) }
    /// ```
    fn history(&self, session_id: &str) -> Result<Box<dyn AsyncChatMessageHistory>>;
}
