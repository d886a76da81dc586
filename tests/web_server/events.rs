//! `GET /sessions/{id}/events`: a conversation as server-sent events. Two
//! servers on two engines, as two processes of the example would be, over
//! one table: a stream cut on one resumes on the other from its
//! `Last-Event-ID` with exactly the rest; heartbeats while nothing happens;
//! tokens, namespaces and cursors checked; a stream's watch released when
//! its client goes, and at shutdown.

use super::*;

/// The heartbeat of the servers under test.
const HEARTBEAT: Duration = Duration::from_millis(200);
/// The longest wait for an event that should come.
const PATIENCE: Duration = Duration::from_secs(10);

/// A server of the example on an engine of its own, its heartbeat
/// `HEARTBEAT`.
async fn start_live(
    table: &TempTable,
) -> (
    SocketAddr,
    Live,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let engine = AsyncCockroachDBEngine::with_options(&database_url(), EngineOptions::default());
    let live = Live::new(HEARTBEAT);
    let chat = Chat::new(Duration::ZERO);
    let (addr, server) = start_with(engine.unwrap(), table, chat, live.clone()).await;
    (addr, live, server)
}

/// A GET of `path` as the user of `token` (none: no Authorization), with
/// the `headers` given.
async fn get(
    addr: SocketAddr,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> tokio::net::TcpStream {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n");
    if let Some(token) = token {
        request.push_str(&format!("authorization: Bearer {token}\r\n"));
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    stream
}

/// What a stream says, one block at a time.
#[derive(Debug, PartialEq)]
enum Said {
    /// An event: its name, its `id:` and its data.
    Event(String, String, Value),
    /// A comment line: a heartbeat.
    Comment(String),
    /// The response ended.
    End,
}

/// A stream of server-sent events, read as it comes: its chunks undone,
/// its blocks taken one at a time.
struct Events {
    stream: tokio::net::TcpStream,
    /// Bytes of the body not yet a whole chunk.
    raw: Vec<u8>,
    /// The body's text not yet a whole block.
    text: String,
    ended: bool,
}

impl Events {
    /// The stream of `path` for `token`, after `last_event_id` if given;
    /// fails unless its answer is a 200 event stream.
    async fn open(
        addr: SocketAddr,
        path: &str,
        token: &str,
        last_event_id: Option<&str>,
    ) -> Events {
        let headers: Vec<(&str, &str)> = last_event_id
            .map(|id| ("last-event-id", id))
            .into_iter()
            .collect();
        let mut events = Events {
            stream: get(addr, path, Some(token), &headers).await,
            raw: Vec::new(),
            text: String::new(),
            ended: false,
        };
        while !events.raw.windows(4).any(|w| w == b"\r\n\r\n") {
            assert!(events.read(PATIENCE).await, "no answer's head");
        }
        let end = events
            .raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap();
        let head = String::from_utf8(events.raw.drain(..end + 4).collect()).unwrap();
        let head = head.to_lowercase();
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert!(head.contains("content-type: text/event-stream"), "{head}");
        assert!(head.contains("transfer-encoding: chunked"), "{head}");
        events
    }

    /// Reads what comes within `wait`; whether anything came.
    async fn read(&mut self, wait: Duration) -> bool {
        let mut buffer = [0u8; 8192];
        match tokio::time::timeout(wait, self.stream.read(&mut buffer)).await {
            Err(_) => false,
            Ok(Ok(0)) | Ok(Err(_)) => {
                self.ended = true;
                true
            }
            Ok(Ok(n)) => {
                self.raw.extend_from_slice(&buffer[..n]);
                true
            }
        }
    }

    /// Whole chunks moved from `raw` to `text`.
    fn unchunk(&mut self) {
        while let Some(line) = self.raw.windows(2).position(|w| w == b"\r\n") {
            let size = std::str::from_utf8(&self.raw[..line]).unwrap();
            let size = usize::from_str_radix(size, 16).expect("a chunk size");
            if size == 0 {
                self.ended = true;
                self.raw.clear();
                return;
            }
            if self.raw.len() < line + 2 + size + 2 {
                return;
            }
            let chunk = &self.raw[line + 2..line + 2 + size];
            self.text.push_str(std::str::from_utf8(chunk).unwrap());
            self.raw.drain(..line + 2 + size + 2);
        }
    }

    /// The next block within `wait`, if one came.
    async fn next(&mut self, wait: Duration) -> Option<Said> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            self.unchunk();
            if let Some(end) = self.text.find("\n\n") {
                let block: String = self.text.drain(..end + 2).collect();
                return Some(said(block.trim_end()));
            }
            if self.ended {
                return Some(Said::End);
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() || !self.read(left).await {
                return None;
            }
        }
    }

    /// The next event, skipping heartbeats; fails after `PATIENCE`.
    async fn event(&mut self) -> (String, String, Value) {
        loop {
            match self.next(PATIENCE).await {
                Some(Said::Event(name, id, data)) => return (name, id, data),
                Some(Said::Comment(_)) => continue,
                other => panic!("no event within {PATIENCE:?}: {other:?}"),
            }
        }
    }

    /// The next `message` event: its id and the message's text.
    async fn message(&mut self) -> (String, String) {
        let (name, id, data) = self.event().await;
        assert_eq!(name, "message", "{data}");
        let text = data["message"]["data"]["content"]
            .as_str()
            .unwrap()
            .to_owned();
        (id, text)
    }

    /// Nothing but heartbeats for `beats` of them: no event is due.
    async fn only_heartbeats(&mut self, beats: usize) {
        for _ in 0..beats {
            let next = self.next(HEARTBEAT * 5).await;
            assert_eq!(next, Some(Said::Comment("heartbeat".into())));
        }
    }
}

/// A block of a stream as what it says.
fn said(block: &str) -> Said {
    if let Some(comment) = block.strip_prefix(':') {
        return Said::Comment(comment.trim().to_owned());
    }
    let field = |name: &str| {
        block
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(": "))
            .unwrap_or_default()
            .to_owned()
    };
    let data = serde_json::from_str(&field("data")).expect("JSON data");
    Said::Event(field("event"), field("id"), data)
}

/// A POST of one user message saying `text`, as the user of `token`, to
/// their session `s`.
async fn say(addr: SocketAddr, token: &str, text: &str) {
    let body = json!({"role": "user", "content": text}).to_string();
    let stream = open(addr, "/sessions/s/messages", Some(token), None, &body).await;
    let (status, _, body) = answer(stream).await;
    assert_eq!(status, 201, "{body}");
}

const EVENTS: &str = "/sessions/s/events";

#[test]
fn a_stream_cut_on_one_server_resumes_on_another_with_exactly_the_rest() {
    let table = TempTable::new("web_live");
    runtime().block_on(async {
        let (a, _, server_a) = start_live(&table).await;
        let (b, _, server_b) = start_live(&table).await;
        for text in ["m0", "m1", "m2"] {
            say(a, TOKEN, text).await;
        }
        // Without a cursor: from the beginning, then heartbeats.
        let mut first = Events::open(a, EVENTS, TOKEN, None).await;
        let mut ids = Vec::new();
        for want in ["m0", "m1", "m2"] {
            let (id, text) = first.message().await;
            assert_eq!(text, want);
            ids.push(id);
        }
        first.only_heartbeats(2).await;
        drop(first);

        // Cut after m1; m3 and m4 come through the other server meanwhile.
        say(b, TOKEN, "m3").await;
        say(b, TOKEN, "m4").await;
        let mut resumed = Events::open(b, EVENTS, TOKEN, Some(&ids[1])).await;
        for want in ["m2", "m3", "m4"] {
            let (id, text) = resumed.message().await;
            assert_eq!(text, want);
            ids.push(id);
        }
        assert_eq!(ids[2], ids[3], "m2's id is the same from either server");
        resumed.only_heartbeats(2).await;
        // Live: a message written through the first server, at once.
        let started = Instant::now();
        say(a, TOKEN, "m5").await;
        let (_, text) = resumed.message().await;
        assert_eq!(text, "m5");
        assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());

        // `?cursor=` for a first connect; Last-Event-ID over it, as an
        // EventSource's reconnect sends both.
        let path = format!("{EVENTS}?cursor={}", ids[4]);
        let mut by_query = Events::open(a, &path, TOKEN, None).await;
        assert_eq!(by_query.message().await.1, "m4");
        assert_eq!(by_query.message().await.1, "m5");
        let mut both = Events::open(b, &path, TOKEN, Some(&ids[5])).await;
        assert_eq!(both.message().await.1, "m5");
        both.only_heartbeats(1).await;

        // In OpenAI's form.
        let path = format!("{EVENTS}?format=openai&cursor={}", ids[5]);
        let mut openai = Events::open(a, &path, TOKEN, None).await;
        let (_, _, data) = openai.event().await;
        assert_eq!(data["message"], json!({"role": "user", "content": "m5"}));
        assert!(data["id"].is_string() && data["created_at"].is_string(), "{data}");

        // A deletion: how many, and a position after everything seen.
        let mut request = tokio::net::TcpStream::connect(a).await.unwrap();
        let delete = format!(
            "DELETE /sessions/s HTTP/1.1\r\nhost: test\r\nauthorization: Bearer {TOKEN}\r\nconnection: close\r\n\r\n"
        );
        request.write_all(delete.as_bytes()).await.unwrap();
        assert_eq!(answer(request).await.0, 204);
        let (name, id, data) = resumed.event().await;
        assert_eq!(name, "deleted", "{data}");
        assert!(data["count"].as_u64().is_some_and(|n| n > 0), "{data}");
        let mut after = Events::open(a, EVENTS, TOKEN, Some(&id)).await;
        after.only_heartbeats(1).await;
        say(b, TOKEN, "m6").await;
        assert_eq!(after.message().await.1, "m6");
        assert_eq!(resumed.message().await.1, "m6");
        server_a.abort();
        server_b.abort();
    });
}

#[test]
fn the_events_route_checks_tokens_namespaces_and_cursors() {
    let table = TempTable::new("web_live_checks");
    runtime().block_on(async {
        let (addr, _, server) = start_live(&table).await;
        say(addr, TOKEN, "alice's").await;
        // (token, Last-Event-ID, path, status, words in the error)
        let cases = [
            (None, None, EVENTS, 401, "Bearer"),
            (
                Some("alice-token-0123456789abcdeX"),
                None,
                EVENTS,
                401,
                "Bearer",
            ),
            (Some(TOKEN), Some("bad"), EVENTS, 400, "Last-Event-ID"),
            (
                Some(TOKEN),
                None,
                "/sessions/s/events?cursor=p1_x",
                400,
                "cursor",
            ),
            // A cursor of CockroachDB, on PostgreSQL.
            (Some(TOKEN), Some("c1_5"), EVENTS, 400, "cursor"),
            (
                Some(TOKEN),
                None,
                "/sessions/s/events?format=xml",
                400,
                "format",
            ),
            (
                Some(TOKEN),
                None,
                "/sessions/s/events?since=1",
                400,
                "since",
            ),
            (
                Some(TOKEN),
                None,
                "/sessions/a:s/events",
                400,
                "session name",
            ),
        ];
        for (token, last_event_id, path, want, words) in cases {
            let headers: Vec<(&str, &str)> = last_event_id
                .map(|id| ("last-event-id", id))
                .into_iter()
                .collect();
            let (status, head, body) = answer(get(addr, path, token, &headers).await).await;
            assert_eq!(status, want, "{path}: {body}");
            assert!(head.contains("content-type: application/json"), "{head}");
            let error: Value = serde_json::from_str(&body).unwrap();
            let error = error["error"].as_str().unwrap();
            assert!(error.contains(words), "{error:?} should name {words:?}");
        }

        // Bob's session `s` is not alice's: none of her messages, then his.
        let mut bobs = Events::open(addr, EVENTS, BOB, None).await;
        bobs.only_heartbeats(1).await;
        say(addr, TOKEN, "alice again").await;
        bobs.only_heartbeats(2).await;
        say(addr, BOB, "bob's").await;
        assert_eq!(bobs.message().await.1, "bob's");
        let mut alices = Events::open(addr, EVENTS, TOKEN, None).await;
        assert_eq!(alices.message().await.1, "alice's");
        assert_eq!(alices.message().await.1, "alice again");
        alices.only_heartbeats(2).await;
        server.abort();
    });
}

#[test]
fn a_stream_releases_its_watch_when_its_client_goes_and_at_shutdown() {
    let table = TempTable::new("web_live_end");
    runtime().block_on(async {
        let (addr, live, server) = start_live(&table).await;
        let open_within = |want: usize| {
            let live = live.clone();
            async move {
                let started = Instant::now();
                while live.open() != want {
                    assert!(
                        started.elapsed() < PATIENCE,
                        "{} open, not {want}",
                        live.open()
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        };
        let mut gone = Events::open(addr, EVENTS, TOKEN, None).await;
        gone.only_heartbeats(1).await;
        open_within(1).await;
        // The client goes without a word: the next heartbeat finds it gone.
        drop(gone);
        open_within(0).await;

        let mut stays = Events::open(addr, EVENTS, TOKEN, None).await;
        stays.only_heartbeats(1).await;
        open_within(1).await;
        live.stop();
        assert_eq!(stays.next(PATIENCE).await, Some(Said::End));
        open_within(0).await;
        let (status, _, body) = answer(get(addr, EVENTS, Some(TOKEN), &[]).await).await;
        assert_eq!(status, 503, "{body}");
        server.abort();
    });
}
