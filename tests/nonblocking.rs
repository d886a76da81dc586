//! The async face on the real database.
#![cfg(feature = "async")]

mod support;

use langchain_cockroachdb::nonblocking::{
    AsyncCockroachDBChatMessageHistory, AsyncCockroachDBEngine,
};
use std::future::Future;

use langchain_cockroachdb::{EngineOptions, Error};
use support::{TempTable, database_url};

face_tests!(AsyncCockroachDBChatMessageHistory);

/// An engine and its histories can be built before any runtime exists (a
/// server's setup before `#[tokio::main]`); an operation polled outside a
/// runtime is a typed error, not a panic; inside one, it runs.
#[test]
fn built_outside_a_runtime_used_inside_one() {
    let table = TempTable::new("outside");
    let engine = AsyncCockroachDBEngine::from_connection_string(&database_url()).unwrap();
    let history =
        AsyncCockroachDBChatMessageHistory::with_engine("s", &engine, table.options()).unwrap();
    AsyncCockroachDBChatMessageHistory::new("s", &database_url()).unwrap();

    let mut call = std::pin::pin!(history.messages());
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match call.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(Err(Error::Runtime(m))) => assert!(m.contains("tokio runtime")),
        other => panic!("expected a runtime error, got {other:?}"),
    }

    support::runtime().block_on(async {
        history.add_user_message("hi").await.unwrap();
        assert_eq!(history.messages().await.unwrap().len(), 1);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_share_one_engine() {
    let table = TempTable::new("tasks");
    let engine = AsyncCockroachDBEngine::with_options(
        &database_url(),
        EngineOptions::default().pool_size(4),
    )
    .unwrap();
    let tasks: Vec<_> = (0..32)
        .map(|t| {
            let history = AsyncCockroachDBChatMessageHistory::with_engine(
                format!("task-{t}"),
                &engine,
                table.options(),
            )
            .unwrap();
            tokio::spawn(async move {
                for i in 0..10 {
                    history.add_user_message(format!("{t}-{i}")).await.unwrap();
                }
                history.messages().await.unwrap()
            })
        })
        .collect();
    for (t, task) in tasks.into_iter().enumerate() {
        let got: Vec<String> = task
            .await
            .unwrap()
            .iter()
            .map(|m| m.text().into_owned())
            .collect();
        let expected: Vec<String> = (0..10).map(|i| format!("{t}-{i}")).collect();
        assert_eq!(got, expected);
    }
    assert!(engine.pool_state().connections <= 4);
}

/// Code written against `AsyncChatMessageHistory` runs the same on a
/// database history made by the engine's factory and on the in-memory one,
/// both held as `Arc<dyn AsyncChatMessageHistory>` (as in a server's state),
/// the cheap reads included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_async_history_trait_serves_database_and_memory_alike() {
    use std::sync::Arc;

    use langchain_cockroachdb::{
        AsyncChatMessageHistory, InMemoryChatMessageHistory, Message, TrimOptions,
    };

    struct AppState {
        history: Arc<dyn AsyncChatMessageHistory>,
    }

    async fn conversation(state: &AppState) -> (Vec<String>, Vec<String>, Vec<String>) {
        let texts = |messages: Vec<Message>| -> Vec<String> {
            messages.iter().map(|m| m.text().into_owned()).collect()
        };
        let history = &state.history;
        history.clear().await.unwrap();
        history.add_user_message("My name is Alice").await.unwrap();
        history
            .add_ai_message("Nice to meet you, Alice!")
            .await
            .unwrap();
        history
            .add_message(&Message::system("Be brief."))
            .await
            .unwrap();
        let all = texts(history.messages().await.unwrap());
        let last = texts(history.last_messages(2).await.unwrap());
        let window = texts(history.trim(&TrimOptions::new(12)).await.unwrap());
        history.clear().await.unwrap();
        (all, last, window)
    }
    let engine = AsyncCockroachDBEngine::from_connection_string(&database_url()).unwrap();
    let session = format!("trait-{}", langchain_cockroachdb::uuid::Uuid::new_v4());
    let stored = AppState {
        history: Arc::new(engine.history(session.as_str()).unwrap()),
    };
    let memory = AppState {
        history: Arc::new(InMemoryChatMessageHistory::new()),
    };
    // The trait's futures are Send: they run as spawned tasks.
    let from_db = tokio::spawn(async move { conversation(&stored).await })
        .await
        .unwrap();
    let from_memory = conversation(&memory).await;
    assert_eq!(from_db, from_memory);
    assert_eq!(from_db.1, ["Nice to meet you, Alice!", "Be brief."]);
    assert!(
        !from_db.2.is_empty() && from_db.2.len() < 3,
        "{:?}",
        from_db.2
    );
}
