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
/// database history made by the engine's factory and on the in-memory one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_async_history_trait_serves_database_and_memory_alike() {
    use langchain_cockroachdb::{AsyncChatMessageHistory, InMemoryChatMessageHistory, Message};
    async fn conversation(history: &impl AsyncChatMessageHistory) -> Vec<String> {
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
        let messages = history.messages().await.unwrap();
        history.clear().await.unwrap();
        messages.iter().map(|m| m.text().into_owned()).collect()
    }
    let engine = AsyncCockroachDBEngine::from_connection_string(&database_url()).unwrap();
    let session = format!("trait-{}", langchain_cockroachdb::uuid::Uuid::new_v4());
    let stored = engine.history(session.as_str()).unwrap();
    // The trait's futures are Send: they run as spawned tasks.
    let from_db = tokio::spawn(async move { conversation(&stored).await })
        .await
        .unwrap();
    assert_eq!(
        from_db,
        conversation(&InMemoryChatMessageHistory::new()).await
    );
}
