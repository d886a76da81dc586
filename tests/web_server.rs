//! The example web server, served from this test, its database connection
//! through the loopback proxy: a client that retries a POST after the
//! database's reply was lost stores the turn exactly once, when it sends an
//! `Idempotency-Key`; without one, the server says the outcome is unknown
//! rather than inviting the retry.
#![cfg(feature = "async")]

mod support;

// The example itself, compiled into this test: its `main` goes unused here.
#[allow(dead_code)]
#[path = "../examples/web_server/main.rs"]
mod web_server;

use std::net::SocketAddr;

use langchain_cockroachdb::nonblocking::AsyncCockroachDBEngine;
use langchain_cockroachdb::{EngineOptions, RetryPolicy};
use serde_json::Value;
use support::proxy::Proxy;
use support::{TempTable, runtime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The one user of the server under test.
const TOKEN: &str = "alice-token-0123456789abcdef";

/// A POST of `body` as HTTP/1.1, as the user of `TOKEN`: the status, the
/// headers (lower case) and the body of the answer.
async fn post(addr: SocketAddr, path: &str, key: Option<&str>, body: &str) -> (u16, String, Value) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let key = key.map_or(String::new(), |k| format!("idempotency-key: {k}\r\n"));
    let request = format!(
        "POST {path} HTTP/1.1\r\nhost: test\r\nauthorization: Bearer {TOKEN}\r\ncontent-type: application/json\r\n{key}content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    let json = serde_json::from_str(body).unwrap_or(Value::Null);
    (status, head.to_lowercase(), json)
}

#[test]
fn a_retried_post_with_an_idempotency_key_is_stored_once() {
    let table = TempTable::new("web");
    let proxy = Proxy::start();
    // Counted from a thread of its own: the test's runtime cannot block.
    // The server keeps the user's session `s` as `alice:s`.
    let rows = || std::thread::scope(|s| s.spawn(|| table.count_rows("alice:s")).join().unwrap());
    runtime().block_on(async {
        // No retries in the engine: the lost reply reaches the client.
        let options = EngineOptions::default().retry(RetryPolicy::none());
        let engine = AsyncCockroachDBEngine::with_options(&proxy.test_url(), options).unwrap();
        let tokens = web_server::Tokens::from_list(&format!("alice={TOKEN}")).unwrap();
        let app = web_server::router(engine, table.options(), tokens);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let turn =
            r#"[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]"#;
        let path = "/sessions/s/messages";

        // The statement prepared on the proxied connection.
        let (status, _, body) = post(addr, path, Some("warm-up"), turn).await;
        assert_eq!((status, &body["new"]), (201, &Value::from(2)), "{body}");

        proxy.cut_after_next_request();
        let (status, head, body) = post(addr, path, Some("turn-1"), turn).await;
        assert_eq!(
            proxy.cuts(),
            1,
            "the reply was not lost: the test proves nothing"
        );
        assert_eq!(status, 503, "{body}");
        assert!(head.contains("retry-after: 5"), "{head}");
        // The client retries, as told: the turn was stored, and is not again.
        let (status, _, body) = post(addr, path, Some("turn-1"), turn).await;
        assert_eq!((status, &body["new"]), (201, &Value::from(0)), "{body}");
        assert_eq!(rows(), 4);
        // And once more, for good measure.
        let (status, _, _) = post(addr, path, Some("turn-1"), turn).await;
        assert_eq!(status, 201);
        assert_eq!(rows(), 4);

        // Without a key, an unknown outcome is not a 503 to retry.
        proxy.cut_after_next_request();
        let (status, head, body) = post(addr, path, None, turn).await;
        assert_eq!(proxy.cuts(), 2);
        assert_eq!(status, 500, "{body}");
        assert!(!head.contains("retry-after"), "{head}");
        assert!(
            body["error"]
                .as_str()
                .unwrap_or_default()
                .contains("Idempotency-Key"),
            "{body}"
        );
        server.abort();
    });
}
