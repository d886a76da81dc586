//! The stores the store cases (`store_cases.rs`) run on: a table of the
//! database through each face, and the in-memory store through each of its
//! two traits. The cases are written against the blocking traits; an async
//! store is seen through `OnRuntime`, which runs each of its calls on the
//! shared runtime, through the async trait's method of the same name.

use std::sync::Arc;

use langchain_cockroachdb::uuid::Uuid;
use langchain_cockroachdb::{
    AsyncChatHistoryStore, AsyncChatMessageHistory, ChatHistoryStore, ChatMessageHistory,
    InMemoryChatHistoryStore, Message, Page, PageCursor, Result, TrimOptions,
};

use super::{TempTable, runtime};

/// A store for one test, with the table it keeps its rows in, if any
/// (dropped after the store).
pub struct TestStore {
    pub store: Box<dyn ChatHistoryStore>,
    _table: Option<TempTable>,
}

pub fn memory() -> TestStore {
    TestStore {
        store: Box::new(InMemoryChatHistoryStore::new()),
        _table: None,
    }
}

pub fn memory_async() -> TestStore {
    TestStore {
        store: Box::new(OnRuntime(Arc::new(InMemoryChatHistoryStore::new()))),
        _table: None,
    }
}

/// A table of its own, through the blocking face's store.
#[cfg(feature = "blocking")]
pub fn blocking() -> TestStore {
    use langchain_cockroachdb::blocking::CockroachDBEngine;
    let table = TempTable::new("store");
    let engine = CockroachDBEngine::from_connection_string(&super::database_url()).unwrap();
    TestStore {
        store: Box::new(engine.history_store(table.options()).unwrap()),
        _table: Some(table),
    }
}

/// A table of its own, through the async face's store.
#[cfg(feature = "async")]
pub fn nonblocking() -> TestStore {
    use langchain_cockroachdb::nonblocking::AsyncCockroachDBEngine;
    let table = TempTable::new("store_async");
    let engine = AsyncCockroachDBEngine::from_connection_string(&super::database_url()).unwrap();
    let store = engine.history_store(table.options()).unwrap();
    TestStore {
        store: Box::new(OnRuntime(Arc::new(store))),
        _table: Some(table),
    }
}

/// An async store as a blocking one.
struct OnRuntime(Arc<dyn AsyncChatHistoryStore>);

impl ChatHistoryStore for OnRuntime {
    fn history(&self, session_id: &str) -> Result<Box<dyn ChatMessageHistory + Send + Sync>> {
        Ok(Box::new(HistoryOnRuntime(self.0.history(session_id)?)))
    }
}

/// Every method, provided ones included, calls the async method of its
/// name, so that the cases check the async trait's own.
struct HistoryOnRuntime(Box<dyn AsyncChatMessageHistory>);

impl ChatMessageHistory for HistoryOnRuntime {
    fn messages(&self) -> Result<Vec<Message>> {
        runtime().block_on(self.0.messages())
    }

    fn add_messages(&self, messages: &[Message]) -> Result<()> {
        runtime().block_on(self.0.add_messages(messages))
    }

    fn add_messages_with_ids(&self, messages: &[(Uuid, Message)]) -> Result<u64> {
        runtime().block_on(self.0.add_messages_with_ids(messages))
    }

    fn messages_page(&self, cursor: Option<&PageCursor>, size: usize) -> Result<Page> {
        runtime().block_on(self.0.messages_page(cursor, size))
    }

    fn messages_page_back(&self, cursor: Option<&PageCursor>, size: usize) -> Result<Page> {
        runtime().block_on(self.0.messages_page_back(cursor, size))
    }

    fn delete_last(&self, n: usize) -> Result<u64> {
        runtime().block_on(self.0.delete_last(n))
    }

    fn clear(&self) -> Result<()> {
        runtime().block_on(self.0.clear())
    }

    fn add_message(&self, message: &Message) -> Result<()> {
        runtime().block_on(self.0.add_message(message))
    }

    fn add_user_message(&self, text: &str) -> Result<()> {
        runtime().block_on(self.0.add_user_message(text))
    }

    fn add_ai_message(&self, text: &str) -> Result<()> {
        runtime().block_on(self.0.add_ai_message(text))
    }

    fn last_messages(&self, n: usize) -> Result<Vec<Message>> {
        runtime().block_on(self.0.last_messages(n))
    }

    fn buffer_window(&self, k: usize) -> Result<Vec<Message>> {
        runtime().block_on(self.0.buffer_window(k))
    }

    fn message_count(&self) -> Result<u64> {
        runtime().block_on(self.0.message_count())
    }

    fn trim(&self, options: &TrimOptions) -> Result<Vec<Message>> {
        runtime().block_on(self.0.trim(options))
    }
}

/// One `#[test]` per case of `store_cases.rs`, in a module `$module`, on
/// the stores `$make` makes. The cases file is compiled once per test
/// binary by `store_cases!`, with `dead_code` denied: a case that is
/// written but not listed here fails the build.
#[macro_export]
macro_rules! store_tests {
    ($module:ident, $make:path) => {
        mod $module {
            $crate::store_tests!(@each $make;
                order_and_times_follow_the_tables_guard,
                quick_single_adds_keep_their_order,
                every_message_type_and_metadata,
                windows_and_counts,
                pages_walk_a_session_forward_and_back,
                page_boundaries_and_cursors,
                delete_last_counts_and_clear,
                ids_chosen_by_the_caller,
                bad_input_gives_the_same_errors,
                sessions_are_isolated,
            );
        }
    };
    (@each $make:path; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                let made = $make();
                $crate::store_cases::$case(&*made.store);
            }
        )*
    };
}
