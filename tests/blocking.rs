//! The blocking face on the real database.
#![cfg(feature = "blocking")]

mod support;

use langchain_cockroachdb::blocking::{CockroachDBChatMessageHistory, CockroachDBEngine};
use langchain_cockroachdb::{EngineOptions, HistoryOptions};
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
