//! The async history as langchain-rust's `BaseMemory` (feature
//! `langchain-rust`), its messages converted with
//! `crate::langchain_rust_messages`.

use ::langchain_rust::schemas::memory::{BaseMemory, MemoryError};
use ::langchain_rust::schemas::messages::Message as LrMessage;
use async_trait::async_trait;

use crate::error::Error;
use crate::langchain_rust_messages::{from_langchain_rust, to_langchain_rust};

use super::AsyncCockroachDBChatMessageHistory;

fn memory_error(err: Error) -> MemoryError {
    MemoryError::Storage(err.to_string())
}

/// The history as langchain-rust's conversation memory, for its chains and
/// agents: messages converted with [`to_langchain_rust`] and
/// [`from_langchain_rust`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use langchain_cockroachdb::nonblocking::AsyncCockroachDBEngine;
/// use langchain_rust::schemas::memory::BaseMemory;
///
/// # let url = std::env::var("LANGCHAIN_COCKROACHDB_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
/// let engine = AsyncCockroachDBEngine::from_connection_string(&url)?;
/// let mut memory = engine.history("doc-langchain-rust")?;
/// # BaseMemory::clear(&mut memory).await?;
/// // The history's own methods come first: call the trait's by its name.
/// BaseMemory::add_user_message(&mut memory, &"My name is Alice").await?;
/// assert_eq!(BaseMemory::messages(&memory).await?[0].content, "My name is Alice");
/// # BaseMemory::clear(&mut memory).await?;
/// # Ok(()) }
/// ```
#[async_trait]
impl BaseMemory for AsyncCockroachDBChatMessageHistory {
    async fn messages(&self) -> std::result::Result<Vec<LrMessage>, MemoryError> {
        let stored = AsyncCockroachDBChatMessageHistory::messages(self)
            .await
            .map_err(memory_error)?;
        let mut out = Vec::with_capacity(stored.len());
        for message in &stored {
            out.extend(to_langchain_rust(message).map_err(memory_error)?);
        }
        Ok(out)
    }

    async fn add_message(&mut self, message: LrMessage) -> std::result::Result<(), MemoryError> {
        let message = from_langchain_rust(&message).map_err(memory_error)?;
        AsyncCockroachDBChatMessageHistory::add_message(self, &message)
            .await
            .map_err(memory_error)
    }

    async fn clear(&mut self) -> std::result::Result<(), MemoryError> {
        AsyncCockroachDBChatMessageHistory::clear(self)
            .await
            .map_err(memory_error)
    }
}
