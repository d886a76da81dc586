//! The blocking face on the real database.
#![cfg(feature = "blocking")]

mod support;

use langchain_cockroachdb::blocking::{CockroachDBChatMessageHistory, CockroachDBEngine};
use langchain_cockroachdb::{EngineOptions, Error, HistoryOptions};
use support::{TempTable, database_url};

face_tests!(CockroachDBChatMessageHistory);

#[test]
fn one_engine_serves_many_histories_and_tables() {
    let (a, b) = (TempTable::new("engine_a"), TempTable::new("engine_b"));
    let engine =
        CockroachDBEngine::with_options(&database_url(), EngineOptions::default().pool_size(2))
            .unwrap();
    engine.ping().unwrap();
    let histories: Vec<_> = (0..20)
        .map(|i| {
            let table = if i % 2 == 0 { &a } else { &b };
            CockroachDBChatMessageHistory::with_engine(format!("s{i}"), &engine, table.options())
                .unwrap()
        })
        .collect();
    for h in &histories {
        h.add_user_message(h.session_id()).unwrap();
    }
    for h in &histories {
        assert_eq!(h.messages().unwrap()[0].text(), h.session_id());
    }
    let state = engine.pool_state();
    assert!(
        state.connections >= 1 && state.connections <= 2,
        "{state:?}"
    );
    engine
        .create_tables(&HistoryOptions::default().table_name(&a.name))
        .unwrap();
}

/// Code written against `ChatMessageHistory` runs the same on a database
/// history made by the engine's factory and on the in-memory one.
#[test]
fn the_history_trait_serves_database_and_memory_alike() {
    use langchain_cockroachdb::{ChatMessageHistory, InMemoryChatMessageHistory, Message};
    fn conversation(history: &impl ChatMessageHistory) -> Vec<String> {
        history.clear().unwrap();
        history.add_user_message("My name is Alice").unwrap();
        history.add_ai_message("Nice to meet you, Alice!").unwrap();
        history.add_message(&Message::system("Be brief.")).unwrap();
        let texts = history
            .messages()
            .unwrap()
            .iter()
            .map(|m| m.text().into_owned())
            .collect();
        history.clear().unwrap();
        assert!(history.messages().unwrap().is_empty());
        texts
    }
    let engine = CockroachDBEngine::from_connection_string(&database_url()).unwrap();
    let session = format!("trait-{}", langchain_cockroachdb::uuid::Uuid::new_v4());
    let stored = engine.history(session.as_str()).unwrap();
    assert_eq!(stored.session_id(), session);
    assert_eq!(
        conversation(&stored),
        conversation(&InMemoryChatMessageHistory::new())
    );
}

/// Called from async code, the blocking face returns a typed error instead
/// of tokio's panic; from `spawn_blocking`, where blocking belongs, it runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inside_async_code_it_is_a_typed_error_and_in_spawn_blocking_it_runs() {
    let table = TempTable::new("in_async");
    let history =
        CockroachDBChatMessageHistory::with_options("s", &database_url(), table.options()).unwrap();
    match history.add_user_message("from async code") {
        Err(Error::Runtime(reason)) => assert!(reason.contains("spawn_blocking"), "{reason}"),
        other => panic!("expected a runtime error, got {other:?}"),
    }
    let blocking = history.clone();
    let stored = tokio::task::spawn_blocking(move || {
        blocking.add_user_message("from spawn_blocking")?;
        blocking.messages()
    })
    .await
    .unwrap()
    .unwrap();
    let texts: Vec<_> = stored.iter().map(|m| m.text().into_owned()).collect();
    assert_eq!(texts, ["from spawn_blocking"]);
}
