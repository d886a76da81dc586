//! `MessageType`: the `type` of a message as `messages_to_dict` spells it,
//! with the class names LangChain also accepts.

use std::fmt;

use crate::error::{Error, Result};

use super::json::invalid;

/// The `type` of a LangChain message, as `messages_to_dict` spells it.
///
/// ```
/// use langchain_cockroachdb::MessageType;
///
/// assert_eq!(MessageType::Ai.as_str(), "ai");
/// assert_eq!("AIMessageChunk".parse::<MessageType>().unwrap(), MessageType::AiChunk);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MessageType {
    /// `human` (`HumanMessage`).
    Human,
    /// `ai` (`AIMessage`).
    Ai,
    /// `system` (`SystemMessage`).
    System,
    /// `chat` (`ChatMessage`, with a free-form `role`).
    Chat,
    /// `function` (`FunctionMessage`, with a `name`).
    Function,
    /// `tool` (`ToolMessage`, with a `tool_call_id`).
    Tool,
    /// `remove` (`RemoveMessage`, naming the `id` to remove).
    Remove,
    /// `HumanMessageChunk`.
    HumanChunk,
    /// `AIMessageChunk`.
    AiChunk,
    /// `SystemMessageChunk`.
    SystemChunk,
    /// `ChatMessageChunk`.
    ChatChunk,
    /// `FunctionMessageChunk`.
    FunctionChunk,
    /// `ToolMessageChunk`.
    ToolChunk,
}

const ALL_TYPES: [MessageType; 13] = [
    MessageType::Human,
    MessageType::Ai,
    MessageType::System,
    MessageType::Chat,
    MessageType::Function,
    MessageType::Tool,
    MessageType::Remove,
    MessageType::HumanChunk,
    MessageType::AiChunk,
    MessageType::SystemChunk,
    MessageType::ChatChunk,
    MessageType::FunctionChunk,
    MessageType::ToolChunk,
];

impl MessageType {
    /// The name stored in the `type` fields.
    ///
    /// ```
    /// use langchain_cockroachdb::MessageType;
    /// assert_eq!(MessageType::ToolChunk.as_str(), "ToolMessageChunk");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Human => "human",
            MessageType::Ai => "ai",
            MessageType::System => "system",
            MessageType::Chat => "chat",
            MessageType::Function => "function",
            MessageType::Tool => "tool",
            MessageType::Remove => "remove",
            MessageType::HumanChunk => "HumanMessageChunk",
            MessageType::AiChunk => "AIMessageChunk",
            MessageType::SystemChunk => "SystemMessageChunk",
            MessageType::ChatChunk => "ChatMessageChunk",
            MessageType::FunctionChunk => "FunctionMessageChunk",
            MessageType::ToolChunk => "ToolMessageChunk",
        }
    }

    /// The non-chunk type a chunk type streams (`AiChunk` → `Ai`); other
    /// types are returned as they are.
    ///
    /// ```
    /// use langchain_cockroachdb::MessageType;
    /// assert_eq!(MessageType::AiChunk.base(), MessageType::Ai);
    /// assert_eq!(MessageType::Tool.base(), MessageType::Tool);
    /// ```
    pub fn base(self) -> MessageType {
        match self {
            MessageType::HumanChunk => MessageType::Human,
            MessageType::AiChunk => MessageType::Ai,
            MessageType::SystemChunk => MessageType::System,
            MessageType::ChatChunk => MessageType::Chat,
            MessageType::FunctionChunk => MessageType::Function,
            MessageType::ToolChunk => MessageType::Tool,
            other => other,
        }
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for MessageType {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        ALL_TYPES
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| invalid(format!("unknown message type {s:?}")))
    }
}
