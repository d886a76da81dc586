//! The `tracing` feature: spans with OpenTelemetry's database attributes,
//! events for retries and failed connection attempts, and never a message's
//! contents or a password, on both faces.
#![cfg(all(feature = "tracing", feature = "blocking", feature = "async"))]

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use langchain_cockroachdb::EngineOptions;
use langchain_cockroachdb::blocking::CockroachDBChatMessageHistory;
use langchain_cockroachdb::nonblocking::AsyncCockroachDBChatMessageHistory;
use support::proxy::Proxy;
use support::{Face, TempTable};

/// What the subscriber wrote, shared with the test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn take(&self) -> String {
        String::from_utf8(std::mem::take(&mut *self.0.lock().unwrap())).unwrap()
    }
}

fn check_face<F: Face>(captured: &Captured) {
    const CONTENT: &str = "TOP-SECRET-CONTENT";
    const PASSWORD: &str = "hunter2-secret";
    let table = TempTable::new("traced");
    let proxy = Proxy::start();
    // Trust authentication: the password is sent nowhere, but it is in the
    // string the engine keeps.
    let url = proxy
        .test_url()
        .replace("root@", &format!("root:{PASSWORD}@"));
    let history = F::open("s", &url, table.options()).unwrap();
    history.add_user_message("warm-up").unwrap();
    captured.take();

    proxy.cut_after_next_request();
    history.add_user_message(CONTENT).unwrap();
    let failed = EngineOptions::default().checkout_timeout(std::time::Duration::from_secs(2));
    let url_down = format!("postgresql://root:{PASSWORD}@127.0.0.1:1/test");
    assert!(F::ping(&url_down, failed).is_err());
    let text = captured.take();

    for wanted in [
        "db.system=\"postgresql\"", // the server the tests run on
        "db.operation.name=\"INSERT\"",
        &format!("db.collection.name=\"{}\"", table.name),
        &format!("server.address=\"127.0.0.1:{}\"", proxy.port()),
        "retrying after",
        "attempt=",
        "wait_ms=",
        "connection attempt failed",
        "server.address=\"127.0.0.1:1\"",
    ] {
        assert!(text.contains(wanted), "no {wanted:?} in:\n{text}");
    }
    assert!(
        !text.contains(CONTENT),
        "a message reached the trace:\n{text}"
    );
    assert!(
        !text.contains(PASSWORD),
        "a password reached the trace:\n{text}"
    );
}

#[test]
fn operations_are_traced_without_contents_or_passwords_on_both_faces() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing_subscriber::filter::LevelFilter::TRACE)
        .finish();
    // Global: the async face's connections are opened on runtime threads.
    tracing::subscriber::set_global_default(subscriber).unwrap();
    check_face::<CockroachDBChatMessageHistory>(&captured);
    check_face::<AsyncCockroachDBChatMessageHistory>(&captured);
}
