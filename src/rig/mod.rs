//! The `rig` feature: rig's conversation memory (`rig-core` 0.44's
//! [`ConversationMemory`]) on a CockroachDB table, through the async face,
//! and rig's messages as LangChain's, both ways.
//!
//! A conversation is a session: its rows are LangChain's own message dicts,
//! so a Python LangChain app reads (and writes) the same table.
//!
//! # How rig's messages are stored
//!
//! | rig | LangChain row |
//! |-----|---------------|
//! | `Message::System` | `system`, its text |
//! | `Message::User`: text, image, audio, video, document | one `human` message, with one block each (a single text is a string) |
//! | `Message::User`: each `ToolResult` | a `tool` message: `tool_call_id`, `name`, `status` (`error` for `is_error`); text, image blocks, JSON as text marked `json` |
//! | `Message::Assistant` | one `ai` message: content blocks in order, calls in `tool_calls` (a text reply, then calls, is a string) |
//! | `Text` | `{"type": "text", "text"}`; citations and provider item in `extras.rig` |
//! | `Image`, `Audio`, `Video` | `{"type": "image" \| "audio" \| "video"}` with `url`, `base64` or `file_id` and `mime_type`; raw bytes as `base64` (marked `raw`); detail, provider item, parameters in `extras.rig` |
//! | `Document` | text as `{"type": "text-plain", "text"}`, anything else as `{"type": "file", ...}`, `mime_type` |
//! | `ToolCall` | a `tool_calls` entry (`id`, `name`, `args`) and a `tool_call` block in place; a rig-issued id, arguments that were no object and the provider item in `extras.rig` |
//! | `Reasoning` | `{"type": "reasoning", "reasoning"}`; `redacted` and the provider item (signatures, encrypted content) in `extras.rig` |
//! | `Opaque` | `{"type": "non_standard", "value": {"rig": {"opaque", "replay"}}}` |
//! | `Origin` | `response_metadata.model_provider`, `.model_name`, the message `id` (the response id); api and the rest in `additional_kwargs.rig.origin` |
//! | `StopReason` | `additional_kwargs.rig.stop` |
//!
//! A row whose type does not say which rig message it belongs to (the tool
//! result that opens a user message, text after a tool result) carries
//! `additional_kwargs.rig.part`. Python keeps `additional_kwargs`,
//! `response_metadata` and every block as they are, so rig reads back
//! exactly what it wrote. Rows Python wrote read too: OpenAI-style
//! `image_url` and `input_audio` parts, Anthropic-style `thinking` and
//! `tool_use` blocks, consecutive tool messages as one user message.
//!
//! # Windows
//!
//! A long conversation need not load whole before every turn:
//! [`Window::Newest`] loads the newest messages, [`Window::Trimmed`] what
//! [`TrimOptions`] keep of a token budget (LangChain's `trim_messages`),
//! both read from the newest rows back through the session index. A window
//! never opens on a tool result whose call it left out.

mod convert;

use std::fmt;

use rig_core::id::ConversationId;
use rig_core::memory::{ConversationMemory, MemoryError};
use rig_core::message::{Message as RigMessage, UserContent};
use rig_core::wasm_compat::WasmBoxedFuture;

pub use convert::{from_rig_messages, to_rig_messages};
/// The rig-core this feature is built against, `=0.44.0` exactly, so that
/// you can name its types in the matching version without a dependency
/// line of your own. An agent runtime (rig-agent) must be 0.44.0 too:
/// this memory implements 0.44's `ConversationMemory`, and an agent of
/// another rig version refuses it with a trait-bound error.
///
/// ```
/// use langchain_cockroachdb::rig::rig_core::message::Message;
///
/// let greeting = Message::user("Hello!");
/// assert!(matches!(greeting, Message::User { .. }));
/// ```
pub use rig_core;

use crate::error::Result;
use crate::message::{Message, TrimOptions};
use crate::nonblocking::{AsyncCockroachDBChatMessageHistory, AsyncCockroachDBEngine};
use crate::options::HistoryOptions;

/// How much of a conversation [`CockroachDBConversationMemory::load`]
/// gives the agent.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Window {
    /// Every message.
    Whole,
    /// The newest `n` rig messages (fewer when the oldest of them would be
    /// a tool result whose call is older).
    Newest(usize),
    /// What LangChain's `trim_messages(strategy="last")` keeps with these
    /// options, counted with `count_tokens_approximately`, from a message
    /// that starts a rig message.
    Trimmed(TrimOptions),
}

/// rig's [`ConversationMemory`] on a table: the conversation id is the
/// session id.
///
/// - `append` stores the turn in one statement: all of it or nothing, in
///   order, and never twice when a reply was lost and the engine retried.
///   Turns appended at once through one engine never interleave.
/// - `clear` deletes the session's messages, as
///   [`clear`](AsyncCockroachDBChatMessageHistory::clear) does.
/// - Errors are [`MemoryError::Backend`] with this crate's [`Error`](crate::Error)
///   as the source, so `is_retryable()` and the rest stay reachable.
///
/// Cheap to clone: clones share the engine's pool.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use langchain_cockroachdb::HistoryOptions;
/// use langchain_cockroachdb::nonblocking::AsyncCockroachDBEngine;
/// use langchain_cockroachdb::rig::{CockroachDBConversationMemory, Window};
/// use rig_core::memory::ConversationMemory;
/// use rig_core::message::Message;
///
/// # let url = std::env::var("LANGCHAIN_COCKROACHDB_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
/// let engine = AsyncCockroachDBEngine::from_connection_string(&url)?;
/// let memory = CockroachDBConversationMemory::new(&engine, HistoryOptions::default())
///     .window(Window::Newest(40));
/// let thread = "user-123:doc-rig".into();
/// # memory.clear(&thread).await?;
/// memory.append(&thread, vec![Message::user("My name is Alice."), Message::assistant("Hi, Alice!")]).await?;
/// assert_eq!(memory.load(&thread).await?.len(), 2);
/// # memory.clear(&thread).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
#[must_use]
pub struct CockroachDBConversationMemory {
    engine: AsyncCockroachDBEngine,
    options: HistoryOptions,
    window: Window,
}

impl fmt::Debug for CockroachDBConversationMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CockroachDBConversationMemory")
            .field("table", &self.options)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl CockroachDBConversationMemory {
    /// Conversations in the table `options` names, over `engine`'s pool,
    /// loaded whole.
    ///
    /// ```
    /// use langchain_cockroachdb::HistoryOptions;
    /// use langchain_cockroachdb::nonblocking::AsyncCockroachDBEngine;
    /// use langchain_cockroachdb::rig::CockroachDBConversationMemory;
    ///
    /// let engine = AsyncCockroachDBEngine::from_connection_string("postgresql://root@localhost:26257/defaultdb")?;
    /// let memory = CockroachDBConversationMemory::new(&engine, HistoryOptions::default().table_name("agent_memory"));
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn new(engine: &AsyncCockroachDBEngine, options: HistoryOptions) -> Self {
        CockroachDBConversationMemory {
            engine: engine.clone(),
            options,
            window: Window::Whole,
        }
    }

    /// This memory loading `window` of each conversation.
    ///
    /// ```
    /// use langchain_cockroachdb::{HistoryOptions, MessageType, TrimOptions};
    /// use langchain_cockroachdb::nonblocking::AsyncCockroachDBEngine;
    /// use langchain_cockroachdb::rig::{CockroachDBConversationMemory, Window};
    ///
    /// let engine = AsyncCockroachDBEngine::from_connection_string("postgresql://root@localhost:26257/defaultdb")?;
    /// let budget = TrimOptions::new(4000).start_on(MessageType::Human);
    /// let memory = CockroachDBConversationMemory::new(&engine, HistoryOptions::default())
    ///     .window(Window::Trimmed(budget));
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn window(mut self, window: Window) -> Self {
        self.window = window;
        self
    }

    /// The history of a conversation, for what rig's trait does not offer
    /// (pages, counts, export, deleting the last turn).
    ///
    /// ```
    /// use langchain_cockroachdb::HistoryOptions;
    /// use langchain_cockroachdb::nonblocking::AsyncCockroachDBEngine;
    /// use langchain_cockroachdb::rig::CockroachDBConversationMemory;
    ///
    /// let engine = AsyncCockroachDBEngine::from_connection_string("postgresql://root@localhost:26257/defaultdb")?;
    /// let memory = CockroachDBConversationMemory::new(&engine, HistoryOptions::default());
    /// let history = memory.history(&"user-123:main".into())?;
    /// assert_eq!(history.session_id(), "user-123:main");
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn history(
        &self,
        conversation: &ConversationId,
    ) -> Result<AsyncCockroachDBChatMessageHistory> {
        AsyncCockroachDBChatMessageHistory::with_engine(
            conversation.as_str(),
            &self.engine,
            self.options.clone(),
        )
    }

    async fn load_window(&self, conversation: &ConversationId) -> Result<Vec<RigMessage>> {
        let history = self.history(conversation)?;
        let mut messages = match &self.window {
            Window::Whole => return to_rig_messages(&history.messages().await?),
            Window::Newest(n) => newest(&history, *n).await?,
            Window::Trimmed(options) => {
                let rows = history.trim(options).await?;
                let start = rows
                    .iter()
                    .position(convert::starts_a_message)
                    .unwrap_or(rows.len());
                to_rig_messages(rows.get(start..).unwrap_or_default())?
            }
        };
        let orphans = messages.iter().take_while(|m| opens_on_a_result(m)).count();
        messages.drain(..orphans);
        Ok(messages)
    }
}

/// The newest `n` rig messages: rows from the newest back, more of them
/// until `n` whole messages are in (a message is one row or more).
async fn newest(history: &AsyncCockroachDBChatMessageHistory, n: usize) -> Result<Vec<RigMessage>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let mut limit = n.saturating_add(1);
    loop {
        let rows = history.last_messages(limit).await?;
        let all = rows.len() < limit;
        // Rows before the first that surely starts a message may belong to
        // one that began before the rows read.
        let start = if all {
            0
        } else {
            rows.iter()
                .position(convert::starts_a_message)
                .unwrap_or(rows.len())
        };
        let mut messages = to_rig_messages(rows.get(start..).unwrap_or_default())?;
        if all || messages.len() >= n || limit == usize::MAX {
            let extra = messages.len().saturating_sub(n);
            messages.drain(..extra);
            return Ok(messages);
        }
        limit = limit.saturating_mul(2);
    }
}

/// Whether a window that opens on `message` would send tool results whose
/// calls it left out.
fn opens_on_a_result(message: &RigMessage) -> bool {
    matches!(message, RigMessage::User { content }
        if content.iter().any(|c| matches!(c, UserContent::ToolResult(_))))
}

fn backend(err: crate::Error) -> MemoryError {
    MemoryError::backend(err)
}

impl ConversationMemory for CockroachDBConversationMemory {
    fn load<'a>(
        &'a self,
        conversation_id: &'a ConversationId,
    ) -> WasmBoxedFuture<'a, std::result::Result<Vec<RigMessage>, MemoryError>> {
        Box::pin(async move { self.load_window(conversation_id).await.map_err(backend) })
    }

    fn append<'a>(
        &'a self,
        conversation_id: &'a ConversationId,
        messages: Vec<RigMessage>,
    ) -> WasmBoxedFuture<'a, std::result::Result<(), MemoryError>> {
        Box::pin(async move {
            let rows: Vec<Message> = from_rig_messages(&messages).map_err(backend)?;
            let history = self.history(conversation_id).map_err(backend)?;
            history.add_messages(&rows).await.map_err(backend)
        })
    }

    fn clear<'a>(
        &'a self,
        conversation_id: &'a ConversationId,
    ) -> WasmBoxedFuture<'a, std::result::Result<(), MemoryError>> {
        Box::pin(async move {
            let history = self.history(conversation_id).map_err(backend)?;
            history.clear().await.map_err(backend)
        })
    }
}
