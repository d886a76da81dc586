//! The example web server, served from this test. Its POST route, its
//! database connection through the loopback proxy: a client that retries a
//! POST after the database's reply was lost stores the turn exactly once,
//! when it sends an `Idempotency-Key`; without one, the server says the
//! outcome is unknown rather than inviting the retry. Its chat route: a
//! streamed reply stored once, a client gone mid-stream leaving the partial
//! reply stored as cancelled, a retry replaying what is stored, a shutdown
//! storing what its streams had, and its errors as JSON. Its live route
//! (`web_server/events.rs`): a conversation as server-sent events, resumed
//! on another server, its heartbeats, its checks, its end.
#![cfg(feature = "async")]

mod support;
// The live route's tests (GET /sessions/{id}/events), over this file's
// helpers.
#[path = "web_server/events.rs"]
mod events;

// The example itself, compiled into this test: its `main` goes unused here.
#[allow(dead_code)]
#[path = "../examples/web_server/main.rs"]
mod web_server;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use langchain_cockroachdb::nonblocking::AsyncCockroachDBEngine;
use langchain_cockroachdb::{EngineOptions, RetryPolicy};
use serde_json::{Value, json};
use support::proxy::Proxy;
use support::{TempTable, database_url, runtime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use web_server::{Chat, Live};

/// The one user of the server under test.
const TOKEN: &str = "alice-token-0123456789abcdef";
/// Another user, whose sessions are not alice's.
const BOB: &str = "bob-token-0123456789abcdef0";
/// The chat route, for the user's session `s` (stored as `alice:s`).
const CHAT: &str = "/sessions/s/chat";

/// The example's router over `engine` and `table`, served on a port of its
/// own until the handle is aborted.
async fn start(
    engine: AsyncCockroachDBEngine,
    table: &TempTable,
    chat: Chat,
) -> (SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>) {
    start_with(engine, table, chat, Live::new(Duration::from_secs(15))).await
}

/// `start`, with the live streams of `live`.
async fn start_with(
    engine: AsyncCockroachDBEngine,
    table: &TempTable,
    chat: Chat,
    live: Live,
) -> (SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>) {
    let users = format!("alice={TOKEN},bob={BOB}");
    let tokens = web_server::Tokens::from_list(&users).unwrap();
    let app = web_server::router(engine, table.options(), tokens, chat, live);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (
        addr,
        tokio::spawn(async move { axum::serve(listener, app).await }),
    )
}

/// A chat model that makes a token every 20 ms, on the test database.
async fn start_chat(
    table: &TempTable,
) -> (
    SocketAddr,
    Chat,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let engine = AsyncCockroachDBEngine::with_options(&database_url(), EngineOptions::default());
    let chat = Chat::new(Duration::from_millis(20));
    let (addr, server) = start(engine.unwrap(), table, chat.clone()).await;
    (addr, chat, server)
}

/// A POST of `body` as HTTP/1.1, with `token` (none: no Authorization) and
/// `key` as its Idempotency-Key, written to a new connection.
async fn open(
    addr: SocketAddr,
    path: &str,
    token: Option<&str>,
    key: Option<&str>,
    body: &str,
) -> tokio::net::TcpStream {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let auth = token.map_or(String::new(), |t| format!("authorization: Bearer {t}\r\n"));
    let key = key.map_or(String::new(), |k| format!("idempotency-key: {k}\r\n"));
    let request = format!(
        "POST {path} HTTP/1.1\r\nhost: test\r\n{auth}content-type: application/json\r\n{key}content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    stream
}

/// The answer read to its end: the status, the head (lower case) and the
/// body (its chunks put together).
async fn answer(mut stream: tokio::net::TcpStream) -> (u16, String, String) {
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).await.unwrap();
    parse(bytes)
}

/// The first bytes of an answer, up to its `tokens`-th token event at least.
async fn hear(stream: &mut tokio::net::TcpStream, tokens: usize) -> Vec<u8> {
    let mut heard = Vec::new();
    let mut buffer = [0u8; 4096];
    while String::from_utf8_lossy(&heard)
        .matches("event: token")
        .count()
        < tokens
    {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer))
            .await
            .expect("the tokens within 10 s")
            .unwrap();
        assert!(n > 0, "ended: {}", String::from_utf8_lossy(&heard));
        heard.extend_from_slice(&buffer[..n]);
    }
    heard
}

/// An HTTP answer: its status, its head (lower case) and its body.
fn parse(bytes: Vec<u8>) -> (u16, String, String) {
    let text = String::from_utf8(bytes).expect("UTF-8");
    let (head, mut body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
    let head = head.to_lowercase();
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok());
    let mut whole = String::new();
    if head.contains("transfer-encoding: chunked") {
        while let Some((size, rest)) = body.split_once("\r\n") {
            let size = usize::from_str_radix(size, 16).expect("a chunk size");
            whole.push_str(&rest[..size]);
            body = rest[size..].strip_prefix("\r\n").unwrap_or_default();
        }
    } else {
        whole.push_str(body);
    }
    (status.expect("a status"), head, whole)
}

/// A POST as the user of `TOKEN`: the status, the head and the body as JSON.
async fn post(addr: SocketAddr, path: &str, key: Option<&str>, body: &str) -> (u16, String, Value) {
    let (status, head, body) = answer(open(addr, path, Some(TOKEN), key, body).await).await;
    (
        status,
        head,
        serde_json::from_str(&body).unwrap_or(Value::Null),
    )
}

/// A chat request as the user of `TOKEN`, read to its end: the status, the
/// tokens' texts and the last event (its name and data), or the JSON error.
async fn chat(addr: SocketAddr, key: &str, text: &str) -> (u16, Vec<String>, (String, Value)) {
    let body = json!({"role": "user", "content": text}).to_string();
    let (status, head, body) = answer(open(addr, CHAT, Some(TOKEN), Some(key), &body).await).await;
    if status != 200 {
        return (
            status,
            Vec::new(),
            ("json".into(), serde_json::from_str(&body).unwrap()),
        );
    }
    assert!(head.contains("content-type: text/event-stream"), "{head}");
    let mut events = sse_events(&body);
    let last = events.pop().expect("a last event");
    let tokens = events
        .iter()
        .map(|(name, data)| match name.as_str() {
            "token" => data["text"].as_str().expect("a token's text").to_owned(),
            other => panic!("a {other} event before the last: {body}"),
        })
        .collect();
    (status, tokens, last)
}

/// The events of a server-sent event stream, each its name and its data as
/// JSON.
fn sse_events(body: &str) -> Vec<(String, Value)> {
    let event = |text: &str| {
        let field = |name: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(": "))
                .unwrap_or_default()
                .to_owned()
        };
        let data = serde_json::from_str(&field("data")).expect("JSON data");
        (field("event"), data)
    };
    body.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(event)
        .collect()
}

/// A message of 80 words, and the model's reply to it (81 tokens, 1.6 s
/// at 20 ms each).
fn long_message() -> (String, String) {
    let words: Vec<String> = (0..80).map(|i| format!("w{i}")).collect();
    let text = words.join(" ");
    let reply = format!("You said: {text}");
    (text, reply)
}

/// The rows of the user's session `s`, counted from a thread of its own:
/// the test's runtime cannot block.
fn rows(table: &TempTable) -> i64 {
    std::thread::scope(|s| s.spawn(|| table.count_rows("alice:s")).join().unwrap())
}

/// The session's messages, as the server reads them out (LangChain dicts).
async fn messages(addr: SocketAddr) -> Vec<Value> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET /sessions/s/messages HTTP/1.1\r\nhost: test\r\nauthorization: Bearer {TOKEN}\r\nconnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let (status, _, body) = answer(stream).await;
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    body["messages"].as_array().unwrap().clone()
}

#[test]
fn a_retried_post_with_an_idempotency_key_is_stored_once() {
    let table = TempTable::new("web");
    let proxy = Proxy::start();
    runtime().block_on(async {
        // No retries in the engine: the lost reply reaches the client.
        let options = EngineOptions::default().retry(RetryPolicy::none());
        let engine = AsyncCockroachDBEngine::with_options(&proxy.test_url(), options).unwrap();
        let (addr, server) = start(engine, &table, Chat::new(Duration::ZERO)).await;
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
        assert_eq!(rows(&table), 4);
        // And once more, for good measure.
        let (status, _, _) = post(addr, path, Some("turn-1"), turn).await;
        assert_eq!(status, 201);
        assert_eq!(rows(&table), 4);

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

#[test]
fn a_streamed_reply_is_stored_once_and_a_retry_replays_it() {
    let table = TempTable::new("web_chat");
    runtime().block_on(async {
        let (addr, _, server) = start_chat(&table).await;
        let (status, tokens, end) = chat(addr, "turn-1", "My name is Alice").await;
        assert_eq!(status, 200, "{end:?}");
        assert_eq!(tokens.concat(), "Nice to meet you, Alice!");
        assert_eq!(tokens.len(), 5, "a token at a time: {tokens:?}");
        let stored = json!({"finish_reason": "stop", "replayed": false, "new": 2});
        assert_eq!(end, ("end".into(), stored));
        // The end event comes once the exchange is stored.
        assert_eq!(rows(&table), 2);
        let messages = messages(addr).await;
        assert_eq!(messages[0]["type"], "human");
        assert_eq!(messages[0]["data"]["content"], "My name is Alice");
        assert_eq!(messages[1]["type"], "ai");
        assert_eq!(messages[1]["data"]["content"], "Nice to meet you, Alice!");
        let metadata = &messages[1]["data"]["response_metadata"];
        assert_eq!(metadata["finish_reason"], "stop", "{metadata}");
        assert_eq!(metadata["model_name"], "local-responder", "{metadata}");

        // The same request again: the stored reply, at once, and nothing
        // stored twice.
        for _ in 0..2 {
            let (status, tokens, end) = chat(addr, "turn-1", "My name is Alice").await;
            assert_eq!(status, 200);
            assert_eq!(tokens, ["Nice to meet you, Alice!"], "replayed whole");
            let replayed = json!({"finish_reason": "stop", "replayed": true, "new": 0});
            assert_eq!(end, ("end".into(), replayed));
            assert_eq!(rows(&table), 2);
        }

        // The next exchange: the model had the stored one as context.
        let (_, tokens, end) = chat(addr, "turn-2", "What is my name?").await;
        assert_eq!(tokens.concat(), "Your name is Alice.");
        assert_eq!(end.1["new"], 2);
        assert_eq!(rows(&table), 4);
        server.abort();
    });
}

#[test]
fn a_client_gone_mid_stream_leaves_its_partial_reply_stored_as_cancelled() {
    let table = TempTable::new("web_cut");
    let (text, full) = long_message();
    runtime().block_on(async {
        let (addr, _, server) = start_chat(&table).await;
        let body = json!({"role": "user", "content": text}).to_string();
        let mut stream = open(addr, CHAT, Some(TOKEN), Some("cut-1"), &body).await;
        hear(&mut stream, 2).await;
        drop(stream);

        // Stored after the response is gone: polled for, within a bound.
        let started = Instant::now();
        while rows(&table) < 2 {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "nothing stored"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let messages = messages(addr).await;
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0]["data"]["content"], text.as_str());
        let partial = messages[1]["data"]["content"].as_str().unwrap().to_owned();
        assert!(partial.starts_with("You said: "), "{partial:?}");
        assert!(full.starts_with(&partial), "{partial:?}");
        assert!(
            partial.len() < full.len(),
            "the whole reply was stored: the client did not go mid-stream"
        );
        let metadata = &messages[1]["data"]["response_metadata"];
        assert_eq!(metadata["finish_reason"], "cancelled", "{metadata}");

        // The retry hears what was stored, cut short as it was, and stores
        // nothing.
        let (status, tokens, end) = chat(addr, "cut-1", &text).await;
        assert_eq!(status, 200);
        assert_eq!(tokens, [partial]);
        let replayed = json!({"finish_reason": "cancelled", "replayed": true, "new": 0});
        assert_eq!(end, ("end".into(), replayed));
        assert_eq!(rows(&table), 2);
        server.abort();
    });
}

#[test]
fn a_final_write_whose_reply_is_lost_is_written_again_and_stored_once() {
    let table = TempTable::new("web_lost");
    let proxy = Proxy::start();
    runtime().block_on(async {
        // No retries in the engine: the lost reply reaches the exchange.
        let options = EngineOptions::default().retry(RetryPolicy::none());
        let engine = AsyncCockroachDBEngine::with_options(&proxy.test_url(), options).unwrap();
        let (addr, server) = start(engine, &table, Chat::new(Duration::from_millis(20))).await;
        // The statements prepared on the proxied connection.
        assert_eq!(chat(addr, "warm-up", "hi").await.2.1["new"], 2);

        let body = json!({"role": "user", "content": "My name is Bob"}).to_string();
        let mut stream = open(addr, CHAT, Some(TOKEN), Some("lost-1"), &body).await;
        // The exchange is streaming: its next statement is the write.
        let mut heard = hear(&mut stream, 1).await;
        proxy.cut_after_next_request();
        stream.read_to_end(&mut heard).await.unwrap();
        assert_eq!(
            proxy.cuts(),
            1,
            "the reply was not lost: the test proves nothing"
        );
        let (status, _, body) = parse(heard);
        assert_eq!(status, 200);
        let mut events = sse_events(&body);
        let (name, end) = events.pop().unwrap();
        assert_eq!(
            (name.as_str(), &end["finish_reason"]),
            ("end", &json!("stop")),
            "{body}"
        );
        let said: String = events
            .iter()
            .map(|(_, data)| data["text"].as_str().unwrap())
            .collect();
        assert_eq!(said, "Nice to meet you, Bob!");
        assert_eq!(rows(&table), 4);
        server.abort();
    });
}

#[test]
fn a_shutdown_ends_the_streams_and_waits_for_their_writes() {
    let table = TempTable::new("web_stop");
    let (text, full) = long_message();
    runtime().block_on(async {
        let (addr, streams, server) = start_chat(&table).await;
        let body = json!({"role": "user", "content": text}).to_string();
        let mut stream = open(addr, CHAT, Some(TOKEN), Some("stop-1"), &body).await;
        let mut heard = hear(&mut stream, 2).await;
        streams.stop();
        stream.read_to_end(&mut heard).await.unwrap();
        let (status, _, body) = parse(heard);
        assert_eq!(status, 200);
        let mut events = sse_events(&body);
        let stored = json!({"finish_reason": "cancelled", "replayed": false, "new": 2});
        assert_eq!(events.pop(), Some(("end".into(), stored)), "{body}");
        let said: String = events
            .iter()
            .map(|(_, data)| data["text"].as_str().unwrap())
            .collect();
        assert!(said.len() < full.len(), "not cut: {said:?}");
        assert!(streams.stopped(Duration::from_secs(5)).await);
        assert_eq!(rows(&table), 2);
        // What the client heard is what is stored.
        let messages = messages(addr).await;
        assert_eq!(messages[1]["data"]["content"], said.as_str());
        let metadata = &messages[1]["data"]["response_metadata"];
        assert_eq!(metadata["finish_reason"], "cancelled", "{metadata}");

        // No new exchange once stopped; a stored one still replays.
        let (status, _, (_, error)) = chat(addr, "stop-2", "hi").await;
        assert_eq!(status, 503, "{error}");
        let (status, _, end) = chat(addr, "stop-1", &text).await;
        assert_eq!((status, &end.1["replayed"]), (200, &json!(true)));
        server.abort();
    });
}

#[test]
fn chat_errors_are_json_and_store_nothing() {
    let table = TempTable::new("web_chat_err");
    runtime().block_on(async {
        let (addr, _, server) = start_chat(&table).await;
        // One exchange stored (and the table made).
        assert_eq!(chat(addr, "e1", "hi").await.0, 200);
        let hi = r#"{"role": "user", "content": "hi"}"#;
        // (token, key, body, status, words in the error)
        let cases = [
            (None, Some("e2"), hi, 401, "Bearer"),
            (
                Some("alice-token-0123456789abcdeX"),
                Some("e2"),
                hi,
                401,
                "Bearer",
            ),
            (Some(TOKEN), Some("e2"), "{oops", 400, "JSON"),
            (Some(TOKEN), None, hi, 400, "Idempotency-Key"),
            (Some(TOKEN), Some(""), hi, 400, "Idempotency-Key"),
            (
                Some(TOKEN),
                Some("e2"),
                r#"{"role": "assistant", "content": "hi"}"#,
                400,
                "user message",
            ),
            (
                Some(TOKEN),
                Some("e2"),
                &format!("[{hi}, {hi}]"),
                400,
                "user message",
            ),
            (
                Some(TOKEN),
                Some("e2"),
                r#"{"type": "human", "data": {"content": 5}}"#,
                400,
                "content",
            ),
        ];
        for (token, key, body, want, words) in cases {
            let (status, head, body) = answer(open(addr, CHAT, token, key, body).await).await;
            assert_eq!(status, want, "{body}");
            assert!(head.contains("content-type: application/json"), "{head}");
            let error: Value = serde_json::from_str(&body).unwrap();
            let error = error["error"].as_str().unwrap();
            assert!(error.contains(words), "{error:?} should name {words:?}");
        }
        let (status, _, body) =
            answer(open(addr, "/sessions/a:b/chat", Some(TOKEN), Some("e2"), hi).await).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(rows(&table), 2);

        // A key sent again with another message is not that request again.
        let (status, _, (_, error)) = chat(addr, "e1", "hello").await;
        assert_eq!(status, 422, "{error}");
        assert_eq!(rows(&table), 2);
        server.abort();
    });
}
