//! The example web server's page (`/`) in a real browser: headless
//! Chromium, driven through chromedriver's WebDriver API (plain HTTP and
//! JSON, over `std::net`). Two server processes of the example on one
//! table, one page on each, both on one conversation: a message posted
//! through either page, or through the API, shows in both within a second;
//! a page reloaded while messages come, and a page whose server restarts,
//! show each message once; a deleted conversation empties both.
//!
//! The servers are this test binary again, running `server_process`: the
//! example's own `run`, in a process of its own. Without `/usr/bin/chromium`
//! and `/usr/bin/chromedriver` (Debian's `chromium` and `chromium-driver`)
//! the test says so and skips, except in CI, which installs them.
#![cfg(feature = "async")]

mod support;

// The example itself, compiled into this test: its `main` goes unused here.
#[allow(dead_code)]
#[path = "../examples/web_server/main.rs"]
mod web_server;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use support::{TempTable, database_url};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How `server_process` gets its arguments.
const SERVER_ARGS: &str = "WEB_PAGE_SERVER_ARGS";
const TOKEN: &str = "alice-token-0123456789abcdef";
/// How long a message may take to show in a page.
const LIVE: Duration = Duration::from_secs(1);
/// The longest wait for what should come (a browser, a server, a reconnect).
const PATIENCE: Duration = Duration::from_secs(20);

/// One server of the example, in a process of its own: `Server::start`
/// runs this test binary again, this test alone, with the server's
/// arguments in `WEB_PAGE_SERVER_ARGS`.
#[test]
#[ignore = "a server for web_page's test, which starts it"]
fn server_process() {
    let args = std::env::var(SERVER_ARGS).expect("run by Server::start");
    let args = args.split_whitespace().map(str::to_owned).collect();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(web_server::run(args)).unwrap();
}

/// A server process of the example, stopped (SIGTERM) when dropped.
struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    base: String,
}

impl Server {
    /// A server on `port` (0: any) over `table`, for `TOKEN`'s user, its
    /// model making a token every 10 ms.
    fn start(table: &TempTable, port: u16) -> Server {
        let args = format!("--port {port} --table {} --token-delay 10", table.name);
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["server_process", "--exact", "--ignored", "--nocapture"])
            .env(SERVER_ARGS, args)
            .env("CHAT_TOKENS", format!("alice={TOKEN}"))
            .env_remove("CHAT_TOKENS_FILE")
            .env("LANGCHAIN_COCKROACHDB_URL", database_url())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        // Its address from its first words; the rest drained, or it would
        // block once the pipe is full.
        let (tell, told) = mpsc::channel();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("listening on ") {
                    let _ = tell.send(addr.to_owned());
                }
            }
        });
        let base = told.recv_timeout(PATIENCE).expect("the server listening");
        Server { child, base }
    }

    fn port(&self) -> u16 {
        self.base.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// Stops it as an operator would, and waits for it to exit.
    fn stop(mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.terminate();
        }
    }
}

/// An HTTP/1.1 request to 127.0.0.1:`port`, read to its end: the status
/// and the body as JSON (`Null` if it is not).
fn http(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, Value) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!(
        "content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    ));
    stream.write_all(request.as_bytes()).unwrap();
    // Read as far as the answer says: chromedriver keeps the connection
    // open whatever the request asked.
    let mut answer = Vec::new();
    let mut buffer = [0u8; 65536];
    let (head, body) = loop {
        let text = String::from_utf8_lossy(&answer).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let head = head.to_lowercase();
            let length = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .map(|n| n.trim().parse::<usize>().unwrap());
            let complete = match length {
                Some(length) => body.len() >= length,
                None if head.contains("transfer-encoding: chunked") => body.ends_with("0\r\n\r\n"),
                None => false,
            };
            if complete {
                break (head, body.to_owned());
            }
        }
        let n = stream.read(&mut buffer).unwrap();
        if n == 0 {
            let text = String::from_utf8(answer).unwrap();
            let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
            break (head.to_lowercase(), body.to_owned());
        }
        answer.extend_from_slice(&buffer[..n]);
    };
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut rest = body.as_str();
    let mut body = String::new();
    if head.contains("transfer-encoding: chunked") {
        while let Some((size, after)) = rest.split_once("\r\n") {
            let size = usize::from_str_radix(size.trim(), 16).unwrap();
            body.push_str(&after[..size]);
            rest = after[size..].strip_prefix("\r\n").unwrap_or_default();
        }
    } else {
        body.push_str(rest);
    }
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// chromedriver, on a port of its own, stopped when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let driver = Driver { child, port };
        let started = Instant::now();
        loop {
            let ready = TcpStream::connect(("127.0.0.1", port)).is_ok()
                && http(port, "GET", "/status", &[], "").1["value"]["ready"] == true;
            if ready {
                return driver;
            }
            assert!(started.elapsed() < PATIENCE, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A WebDriver command's value; fails on a WebDriver error.
    fn command(&self, method: &str, path: &str, body: Value) -> Value {
        let (status, answer) = http(self.port, method, path, &[], &body.to_string());
        assert_eq!(status, 200, "{method} {path}: {answer}");
        answer["value"].clone()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A headless Chromium window, closed when dropped.
struct Page<'a> {
    driver: &'a Driver,
    session: String,
}

impl<'a> Page<'a> {
    fn new(driver: &'a Driver) -> Page<'a> {
        let args = [
            "--headless=new",
            // CI runs as root, where Chromium's sandbox cannot start.
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
        ];
        let options = json!({"binary": CHROMIUM, "args": args});
        let capabilities = json!({"browserName": "chrome", "goog:chromeOptions": options});
        let body = json!({"capabilities": {"alwaysMatch": capabilities}});
        let session = driver.command("POST", "/session", body)["sessionId"]
            .as_str()
            .unwrap()
            .to_owned();
        Page { driver, session }
    }

    fn command(&self, method: &str, path: &str, body: Value) -> Value {
        let path = format!("/session/{}{path}", self.session);
        self.driver.command(method, &path, body)
    }

    /// The element `css` selects.
    fn element(&self, css: &str) -> String {
        let found = self.command(
            "POST",
            "/element",
            json!({"using": "css selector", "value": css}),
        );
        let id = found["element-6066-11e4-a52e-4f735466cecf"].as_str();
        id.unwrap().to_owned()
    }

    /// Types `text` into the field `css` selects, as a user would.
    fn type_into(&self, css: &str, text: &str) {
        let path = format!("/element/{}/value", self.element(css));
        self.command("POST", &path, json!({ "text": text }));
    }

    fn click(&self, css: &str) {
        let path = format!("/element/{}/click", self.element(css));
        self.command("POST", &path, json!({}));
    }

    /// What the script `body` returns, run in the page.
    fn run(&self, body: &str) -> Value {
        self.command("POST", "/execute/sync", json!({"script": body, "args": []}))
    }

    /// Waits for the script `body` to return a true value.
    fn wait_for(&self, what: &str, body: &str) {
        let started = Instant::now();
        while self.run(body) != true {
            let state = self.run("return document.getElementById('status').textContent");
            assert!(started.elapsed() < PATIENCE, "{what}: {state}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Opens the page of `server` on the conversation `session`.
    fn open(&self, server: &Server, session: &str) {
        self.command("POST", "/url", json!({"url": format!("{}/", server.base)}));
        self.type_into("#session", session);
        self.type_into("#token", TOKEN);
        self.click("#connect");
        self.wait_until_live();
    }

    fn wait_until_live(&self) {
        self.wait_for(
            "the page live",
            "return document.getElementById('status').dataset.state === 'live'",
        );
    }

    /// The messages shown: row id, text, and when shown (ms since the
    /// epoch, the browser's clock, which is this machine's).
    fn shown(&self) -> Vec<(String, String, u64)> {
        let items = self.run(
            "return Array.from(document.querySelectorAll('#messages li'), (li) => \
             [li.dataset.id, li.querySelector('.text').textContent, Number(li.dataset.shownAt)])",
        );
        let item = |v: &Value| {
            let text = |i: usize| v[i].as_str().unwrap().to_owned();
            (text(0), text(1), v[2].as_u64().unwrap())
        };
        items.as_array().unwrap().iter().map(item).collect()
    }
}

impl Drop for Page<'_> {
    fn drop(&mut self) {
        let path = format!("/session/{}", self.session);
        let _ = http(self.driver.port, "DELETE", &path, &[], "");
    }
}

fn now_ms() -> u64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    now.as_millis() as u64
}

/// Waits for `text` in every page, and checks that it showed in each
/// within `LIVE` of `since` (ms since the epoch).
fn shows_within_a_second(pages: &[&Page], text: &str, since: u64) {
    for (i, page) in pages.iter().enumerate() {
        let started = Instant::now();
        let shown_at = loop {
            if let Some((_, _, at)) = page.shown().into_iter().find(|(_, t, _)| t == text) {
                break at;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "{text:?} never shown in page {i}"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let took = Duration::from_millis(shown_at.saturating_sub(since));
        eprintln!("{text:?} shown in page {i} after {took:?}");
        assert!(took <= LIVE, "{text:?} took {took:?} to show in page {i}");
    }
}

/// A POST of a user message through the API, to the server on `port`.
fn post(port: u16, session: &str, text: &str) {
    let body = json!({"role": "user", "content": text}).to_string();
    let path = format!("/sessions/{session}/messages");
    let auth = format!("Bearer {TOKEN}");
    let (status, answer) = http(port, "POST", &path, &[("authorization", &auth)], &body);
    assert_eq!(status, 201, "{answer}");
}

/// How many messages the conversation has, as the API reads them.
fn stored(port: u16, session: &str) -> usize {
    let path = format!("/sessions/{session}/messages?limit=100");
    let auth = format!("Bearer {TOKEN}");
    let (status, answer) = http(port, "GET", &path, &[("authorization", &auth)], "");
    assert_eq!(status, 200, "{answer}");
    answer["messages"].as_array().unwrap().len()
}

/// Waits until `page` shows `count` messages, then checks each shows once.
fn shows_each_once(page: &Page, count: usize) -> Vec<String> {
    let started = Instant::now();
    let mut shown = page.shown();
    while shown.len() < count {
        assert!(
            started.elapsed() < PATIENCE,
            "{} of {count} shown",
            shown.len()
        );
        std::thread::sleep(Duration::from_millis(20));
        shown = page.shown();
    }
    let ids: Vec<String> = shown.into_iter().map(|(id, _, _)| id).collect();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((ids.len(), unique.len()), (count, count), "{ids:?}");
    ids
}

/// Whether Chromium and chromedriver are here; in CI they must be.
fn browser_installed() -> bool {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|path| !std::path::Path::new(path).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var("CI").is_err(),
        "CI installs {missing:?} (.ci/run), yet they are missing"
    );
    eprintln!(
        "skipped: {missing:?} not installed (Debian: apt-get install chromium chromium-driver)"
    );
    false
}

#[test]
fn two_pages_on_two_servers_show_each_message_once_and_at_once() {
    if !browser_installed() {
        return;
    }
    let table = TempTable::new("web_page");
    let a = Server::start(&table, 0);
    let b = Server::start(&table, 0);
    let driver = Driver::start();
    let session = format!("page-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let (page_a, page_b) = (Page::new(&driver), Page::new(&driver));
    page_a.open(&a, &session);
    page_b.open(&b, &session);
    let pages = [&page_a, &page_b];

    // Through page A, page B, and the API.
    page_a.type_into("#text", "from page A");
    let since = now_ms();
    page_a.click("#post");
    shows_within_a_second(&pages, "from page A", since);
    page_b.type_into("#text", "My name is Alice");
    let since = now_ms();
    page_b.click("#ask");
    shows_within_a_second(&pages, "My name is Alice", since);
    shows_within_a_second(&pages, "Nice to meet you, Alice!", since);
    let since = now_ms();
    post(b.port(), &session, "from the API");
    shows_within_a_second(&pages, "from the API", since);
    // Text is shown as text.
    let html = r#"<img src=x onerror="document.title='run'"><b>bold</b>"#;
    let since = now_ms();
    post(a.port(), &session, html);
    shows_within_a_second(&pages, html, since);
    let images =
        page_a.run("return document.querySelectorAll('#messages img, #messages b').length");
    assert_eq!(images, 0, "a message's text became HTML");

    // Page A reloaded while messages come.
    let writer = {
        let (port, session) = (b.port(), session.clone());
        std::thread::spawn(move || {
            for i in 0..5 {
                post(port, &session, &format!("during the reload {i}"));
                std::thread::sleep(Duration::from_millis(40));
            }
        })
    };
    page_a.command("POST", "/refresh", json!({}));
    writer.join().unwrap();
    page_a.wait_until_live();
    let count = stored(a.port(), &session);
    assert_eq!(count, 10);
    let after_reload = shows_each_once(&page_a, count);
    assert_eq!(
        after_reload,
        shows_each_once(&page_b, count),
        "one order in both"
    );

    // Page A's server restarts on its port; meanwhile, messages through
    // B. The page resumes after its last message, showing each once.
    let port = a.port();
    a.stop();
    post(b.port(), &session, "while A was down");
    let a = Server::start(&table, port);
    shows_each_once(&page_a, 11);
    let since = now_ms();
    post(a.port(), &session, "after the restart");
    shows_within_a_second(&pages, "after the restart", since);
    assert_eq!(stored(b.port(), &session), 12);
    assert_eq!(shows_each_once(&page_a, 12), shows_each_once(&page_b, 12));
    let texts: Vec<String> = page_a.shown().into_iter().map(|(_, t, _)| t).collect();
    assert!(texts.contains(&"while A was down".to_owned()), "{texts:?}");

    // The conversation deleted: both pages show it anew, empty, then live.
    let auth = format!("Bearer {TOKEN}");
    let path = format!("/sessions/{session}");
    let (status, _) = http(a.port(), "DELETE", &path, &[("authorization", &auth)], "");
    assert_eq!(status, 204);
    for page in pages {
        page.wait_for(
            "the page emptied",
            "return document.querySelectorAll('#messages li').length === 0",
        );
    }
    let since = now_ms();
    post(b.port(), &session, "after the deletion");
    shows_within_a_second(&pages, "after the deletion", since);
    assert_eq!(shows_each_once(&page_a, 1), shows_each_once(&page_b, 1));
}
