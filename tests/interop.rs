//! Both faces in one program, on one table: each reads what the other wrote.
#![cfg(all(feature = "blocking", feature = "async"))]

mod support;

use langchain_cockroachdb::Message;
use langchain_cockroachdb::blocking::CockroachDBChatMessageHistory;
use langchain_cockroachdb::nonblocking::AsyncCockroachDBChatMessageHistory;
use support::{TempTable, database_url, runtime};

#[test]
fn both_faces_share_a_table() {
    let table = TempTable::new("interop");
    let sync =
        CockroachDBChatMessageHistory::with_options("shared", &database_url(), table.options())
            .unwrap();
    let async_history = {
        let _inside = runtime().enter();
        AsyncCockroachDBChatMessageHistory::with_options("shared", &database_url(), table.options())
            .unwrap()
    };

    sync.add_user_message("from blocking").unwrap();
    runtime()
        .block_on(async_history.add_ai_message("from async"))
        .unwrap();
    sync.add_messages(&[Message::system("blocking batch")])
        .unwrap();

    let from_async = runtime().block_on(async_history.messages()).unwrap();
    let from_sync = sync.messages().unwrap();
    assert_eq!(from_async, from_sync);
    let texts: Vec<_> = from_sync.iter().map(|m| m.text().into_owned()).collect();
    assert_eq!(texts, ["from blocking", "from async", "blocking batch"]);

    runtime().block_on(async_history.clear()).unwrap();
    assert!(sync.messages().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_blocking_face_works_beside_a_runtime_on_its_own_threads() {
    let table = TempTable::new("interop_rt");
    let options = table.options();
    let writer = tokio::task::spawn_blocking(move || {
        let history =
            CockroachDBChatMessageHistory::with_options("s", &database_url(), options).unwrap();
        history
            .add_user_message("written by a blocking worker")
            .unwrap();
    });
    writer.await.unwrap();
    let history =
        AsyncCockroachDBChatMessageHistory::with_options("s", &database_url(), table.options())
            .unwrap();
    assert_eq!(
        history.messages().await.unwrap()[0].text(),
        "written by a blocking worker"
    );
}
