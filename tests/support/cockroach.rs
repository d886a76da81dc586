//! The proxy's CockroachDB mode: the real PostgreSQL behind it runs every
//! statement, and the proxy makes it fail where and as CockroachDB does,
//! at the level of protocol messages (plain-text connections only):
//!
//! - `Fault::Retry`: `40001` before a statement runs, with CockroachDB's
//!   `restart transaction: ...` text. The statement never reaches the
//!   server (its messages are dropped; the `Sync` goes on, so replies stay
//!   in step).
//! - `Fault::Ambiguous`: `40003` "result is ambiguous" after the statement
//!   ran and committed: the server's reply is replaced.
//! - A message from the client over the size limit
//!   (`sql.conn.max_read_buffer_message_size`, 16 MiB by default) is never
//!   delivered: CockroachDB reads it and drops it, answers `08P01`
//!   "message size ... bigger than maximum allowed message size ...", and
//!   skips to the next `Sync` (`pkg/sql/pgwire/conn.go`); the connection
//!   stays open.
//! - Optionally the answer to `SELECT version()` names CockroachDB, so that
//!   an engine takes the server for one and uses its defaults (statements
//!   that differ between the two servers then fail on the PostgreSQL
//!   behind: only for tests of the default options that every server
//!   shares).
//!
//! A statement is matched by a part of its text: the text of the prepared
//! statement a `Bind` names, or of a simple `Query`. Each request cycle (up
//! to a `Sync`, or one `Query`) gets one decision, queued in order; the
//! server's replies are grouped by `ReadyForQuery`, one group a cycle, and
//! each group is forwarded or replaced as its cycle's decision says.

use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Mutex;

/// How CockroachDB fails a statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// `40001` before it runs: nothing was done.
    Retry,
    /// `40003` after it ran and committed.
    Ambiguous,
}

/// What the mode does, shared by every connection of the proxy.
pub struct Mode {
    /// The largest message a client may send.
    pub limit: usize,
    /// Whether `SELECT version()` names CockroachDB.
    pub pretend_version: bool,
    rules: Mutex<Vec<Rule>>,
    /// Messages over `limit` that clients sent (and the proxy refused).
    oversized: Mutex<usize>,
    /// The largest message a client sent after its startup.
    largest: Mutex<usize>,
    /// Faults injected so far, by kind.
    injected: Mutex<HashMap<&'static str, usize>>,
    /// The text of every statement run so far (prepared or simple).
    executed: Mutex<Vec<String>>,
}

struct Rule {
    fault: Fault,
    text: String,
    times: usize,
}

/// A decision for one request cycle, applied to its reply group.
#[derive(Debug)]
enum Reply {
    Forward,
    /// The group replaced by this error and `ReadyForQuery`.
    Error(&'static str, String),
    /// The group forwarded with the server's version replaced.
    Version,
}

const RETRY_TEXT: &str = "restart transaction: TransactionRetryWithProtoRefreshError: \
TransactionRetryError: retry txn (RETRY_SERIALIZABLE - failed preemptive refresh due to \
conflicting locks on /Table/106/1/\"s\"/0)";
const AMBIGUOUS_TEXT: &str = "result is ambiguous: error=ba: Put [/Table/106/1/0] RPC error: \
grpc: error reading from server: EOF [code 14/Unavailable]";
const VERSION: &str = "CockroachDB CCL v25.4.0 (x86_64-pc-linux-gnu, built 2025/11/01 00:00:00, go1.23.7 X:nocoverageredesign)";

impl Mode {
    pub fn new(limit: usize) -> Mode {
        Mode {
            limit,
            pretend_version: false,
            rules: Mutex::new(Vec::new()),
            oversized: Mutex::new(0),
            largest: Mutex::new(0),
            injected: Mutex::new(HashMap::new()),
            executed: Mutex::new(Vec::new()),
        }
    }

    /// How many statements run so far hold `text`.
    pub fn executed(&self, text: &str) -> usize {
        let executed = self.executed.lock().unwrap();
        executed.iter().filter(|s| s.contains(text)).count()
    }

    /// The next `times` statements whose text contains `text` fail with
    /// `fault`.
    pub fn inject(&self, fault: Fault, text: &str, times: usize) {
        self.rules.lock().unwrap().push(Rule {
            fault,
            text: text.into(),
            times,
        });
    }

    /// Drops every rule not used up yet.
    pub fn clear(&self) {
        self.rules.lock().unwrap().clear();
    }

    pub fn oversized(&self) -> usize {
        *self.oversized.lock().unwrap()
    }

    pub fn largest(&self) -> usize {
        *self.largest.lock().unwrap()
    }

    /// How many statements got `fault` so far.
    pub fn injected(&self, fault: Fault) -> usize {
        let key = format!("{fault:?}");
        self.injected
            .lock()
            .unwrap()
            .get(key.as_str())
            .copied()
            .unwrap_or(0)
    }

    fn decide(&self, executes: Option<&str>, oversized: Option<usize>) -> Reply {
        if let Some(size) = oversized {
            *self.oversized.lock().unwrap() += 1;
            return Reply::Error(
                "08P01",
                format!(
                    "message size {} bigger than maximum allowed message size {}",
                    mib(size),
                    mib(self.limit)
                ),
            );
        }
        let Some(text) = executes else {
            return Reply::Forward;
        };
        self.executed.lock().unwrap().push(text.to_owned());
        if self.pretend_version && text.trim() == "SELECT version()" {
            return Reply::Version;
        }
        let mut rules = self.rules.lock().unwrap();
        let Some(rule) = rules
            .iter_mut()
            .find(|r| r.times > 0 && text.contains(&r.text))
        else {
            return Reply::Forward;
        };
        rule.times -= 1;
        let fault = rule.fault;
        *self
            .injected
            .lock()
            .unwrap()
            .entry(match fault {
                Fault::Retry => "Retry",
                Fault::Ambiguous => "Ambiguous",
            })
            .or_default() += 1;
        match fault {
            Fault::Retry => Reply::Error("40001", RETRY_TEXT.into()),
            Fault::Ambiguous => Reply::Error("40003", AMBIGUOUS_TEXT.into()),
        }
    }
}

fn mib(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

/// Protocol messages out of a byte stream: `(type, whole message)`; the
/// first message of a client (startup) has no type byte (`0` here).
struct Frames {
    pending: Vec<u8>,
    untyped_first: bool,
}

impl Frames {
    fn next(&mut self) -> Option<(u8, Vec<u8>)> {
        let header = usize::from(!self.untyped_first);
        let len = self.pending.get(header..header + 4)?;
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        if self.pending.len() < header + len {
            return None;
        }
        let message: Vec<u8> = self.pending.drain(..header + len).collect();
        let kind = if self.untyped_first { 0 } else { message[0] };
        self.untyped_first = false;
        Some((kind, message))
    }
}

/// A C string at `at` of `body`, and where the next field starts.
fn cstr(body: &[u8], at: usize) -> (String, usize) {
    let end = body[at..]
        .iter()
        .position(|b| *b == 0)
        .map_or(body.len(), |p| at + p);
    (
        String::from_utf8_lossy(&body[at..end]).into_owned(),
        end + 1,
    )
}

fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn error_response(code: &str, text: &str) -> Vec<u8> {
    let mut body = Vec::new();
    for (field, value) in [(b'S', "ERROR"), (b'V', "ERROR"), (b'C', code), (b'M', text)] {
        body.push(field);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    if code == "08P01" {
        body.push(b'H');
        body.extend_from_slice(
            b"the maximum message size can be configured using the \
sql.conn.max_read_buffer_message_size cluster setting\0",
        );
    }
    body.push(0);
    message(b'E', &body)
}

/// A `DataRow` of one text column.
fn data_row(text: &str) -> Vec<u8> {
    let mut body = 1u16.to_be_bytes().to_vec();
    body.extend_from_slice(&(text.len() as u32).to_be_bytes());
    body.extend_from_slice(text.as_bytes());
    message(b'D', &body)
}

/// Forwards one connection in CockroachDB mode, on two threads of its own.
pub fn pipe(client: TcpStream, server: TcpStream, mode: std::sync::Arc<Mode>) {
    let decisions = std::sync::Arc::new(Mutex::new(VecDeque::<Reply>::new()));
    let (mut c_read, mut s_write) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let (mut s_read, mut c_write) = (server, client);
    let queue = std::sync::Arc::clone(&decisions);
    std::thread::spawn(move || {
        let mut frames = Frames {
            pending: Vec::new(),
            untyped_first: false,
        };
        let mut buf = vec![0u8; 65536];
        let mut group: Vec<u8> = Vec::new();
        let mut started = false;
        'read: while let Ok(n @ 1..) = s_read.read(&mut buf) {
            frames.pending.extend_from_slice(&buf[..n]);
            while let Some((kind, bytes)) = frames.next() {
                if !started {
                    // The handshake, up to the first ReadyForQuery, as it is.
                    started = kind == b'Z';
                    if c_write.write_all(&bytes).is_err() {
                        break 'read;
                    }
                    continue;
                }
                group.extend_from_slice(&bytes);
                if kind != b'Z' {
                    continue;
                }
                let reply = queue.lock().unwrap().pop_front().unwrap_or(Reply::Forward);
                let out = match reply {
                    Reply::Forward => std::mem::take(&mut group),
                    Reply::Error(code, text) => {
                        group.clear();
                        let mut out = error_response(code, &text);
                        out.extend_from_slice(&message(b'Z', b"I"));
                        out
                    }
                    Reply::Version => {
                        let mut out = Vec::new();
                        let mut replies = Frames {
                            pending: std::mem::take(&mut group),
                            untyped_first: false,
                        };
                        while let Some((kind, bytes)) = replies.next() {
                            match kind {
                                b'D' => out.extend_from_slice(&data_row(VERSION)),
                                _ => out.extend_from_slice(&bytes),
                            }
                        }
                        out
                    }
                };
                if c_write.write_all(&out).is_err() {
                    break 'read;
                }
            }
        }
        let _ = c_write.shutdown(Shutdown::Both);
    });
    std::thread::spawn(move || {
        let mut frames = Frames {
            pending: Vec::new(),
            untyped_first: true,
        };
        let mut buf = vec![0u8; 65536];
        let mut statements: HashMap<String, String> = HashMap::new();
        let mut cycle: Vec<(u8, Vec<u8>)> = Vec::new();
        let mut started = false;
        'read: while let Ok(n @ 1..) = c_read.read(&mut buf) {
            frames.pending.extend_from_slice(&buf[..n]);
            while let Some((kind, bytes)) = frames.next() {
                let login = kind == 0 || !started && !matches!(kind, b'P' | b'B' | b'Q' | b'S');
                if login || kind == b'X' {
                    // The startup message, the login, the goodbye: no decision.
                    if s_write.write_all(&bytes).is_err() {
                        break 'read;
                    }
                    continue;
                }
                started = true;
                {
                    let mut largest = mode.largest.lock().unwrap();
                    *largest = (*largest).max(bytes.len());
                }
                if kind == b'P' {
                    let (name, at) = cstr(&bytes, 5);
                    statements.insert(name, cstr(&bytes, at).0);
                }
                let ends = matches!(kind, b'S' | b'Q');
                cycle.push((kind, bytes));
                if !ends {
                    continue;
                }
                let executes = cycle.iter().find_map(|(kind, bytes)| match kind {
                    b'B' => {
                        let (_portal, at) = cstr(bytes, 5);
                        statements.get(&cstr(bytes, at).0).cloned()
                    }
                    b'Q' => Some(cstr(bytes, 5).0),
                    _ => None,
                });
                let oversized = cycle
                    .iter()
                    .map(|(_, bytes)| bytes.len())
                    .find(|size| *size > mode.limit);
                let reply = mode.decide(executes.as_deref(), oversized);
                let out: Vec<u8> = match (&reply, kind) {
                    // Nothing runs: only what makes the server answer with
                    // a ReadyForQuery alone (an empty query, or the Sync).
                    (Reply::Error(code, _), b'Q') if *code != "40003" => message(b'Q', b"\0"),
                    (Reply::Error(code, _), _) if *code != "40003" => message(b'S', b""),
                    _ => cycle.iter().flat_map(|(_, bytes)| bytes.clone()).collect(),
                };
                cycle.clear();
                decisions.lock().unwrap().push_back(reply);
                if s_write.write_all(&out).is_err() {
                    break 'read;
                }
            }
        }
        let _ = s_write.shutdown(Shutdown::Both);
    });
}
