//! The counterparts of LangChain's `BaseChatMessageHistory`, one trait for
//! blocking code and one for async code, and the stores that give the
//! history of a session id: implemented by both CockroachDB faces and by
//! histories kept in memory, for testing application code.

mod memory;
mod store;
mod traits;

pub use memory::{InMemoryChatHistoryStore, InMemoryChatMessageHistory};
pub use store::{AsyncChatHistoryStore, ChatHistoryStore};
pub use traits::{AsyncChatMessageHistory, BoxFuture, ChatMessageHistory};
