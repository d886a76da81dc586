//! A TCP proxy on loopback in front of a test server that breaks the
//! network on demand: it cuts a connection after a request reached the
//! server (before its reply reaches the client), cuts handshakes, cuts at
//! random, or freezes (keeps every socket open and forwards nothing, as a
//! partitioned peer would). It also counts the PostgreSQL protocol messages
//! going each way (plain-text connections). Runs on plain threads, so either
//! face can go through it; its threads end when it is dropped.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use super::cockroach::Mode;

#[derive(Default)]
struct State {
    /// Requests to let through before the one whose reply is lost (0: none armed).
    armed: AtomicUsize,
    frozen: AtomicBool,
    stopped: AtomicBool,
    /// Connections still to cut as soon as the client sends its first bytes.
    handshake_cuts: AtomicUsize,
    /// Answer a client's `SSLRequest` "N" instead of the server, as a server
    /// without TLS would.
    refuse_tls: AtomicBool,
    /// Connections that opened with an `SSLRequest`.
    tls_requests: AtomicUsize,
    /// Chance, in millionths, that a chunk a client sends cuts its connection.
    random_cut_ppm: AtomicU64,
    rng: AtomicU64,
    cuts: AtomicUsize,
    connections: AtomicUsize,
    /// Protocol messages by type byte: from clients, and from the server.
    sent: Mutex<HashMap<u8, usize>>,
    received: Mutex<HashMap<u8, usize>>,
    /// Every socket of the proxy, to close on drop.
    sockets: Mutex<Vec<TcpStream>>,
    /// Set: the connections fail as CockroachDB's do (see `cockroach.rs`).
    cockroach: Option<Arc<Mode>>,
}

impl State {
    /// Waits while frozen; false once the proxy is dropped.
    fn wait_while_frozen(&self) -> bool {
        while self.frozen.load(Ordering::SeqCst) {
            if self.stopped.load(Ordering::SeqCst) {
                return false;
            }
            thread::sleep(Duration::from_millis(5));
        }
        !self.stopped.load(Ordering::SeqCst)
    }

    /// A draw of the seeded generator (xorshift): the same cuts every run.
    fn chance(&self, ppm: u64) -> bool {
        if ppm == 0 {
            return false;
        }
        let mut x = self.rng.load(Ordering::SeqCst);
        loop {
            let mut next = x;
            next ^= next << 13;
            next ^= next >> 7;
            next ^= next << 17;
            match self
                .rng
                .compare_exchange(x, next, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return next % 1_000_000 < ppm,
                Err(current) => x = current,
            }
        }
    }
}

/// Splits one direction of a connection into protocol messages.
struct Messages {
    pending: Vec<u8>,
    /// The client's first message (startup) has no type byte.
    untyped_first: bool,
}

impl Messages {
    fn feed(&mut self, bytes: &[u8], counts: &Mutex<HashMap<u8, usize>>) {
        self.pending.extend_from_slice(bytes);
        loop {
            let header = if self.untyped_first { 0 } else { 1 };
            let Some(len) = self.pending.get(header..header + 4) else {
                return;
            };
            let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
            if self.pending.len() < header + len {
                return;
            }
            if !self.untyped_first {
                *counts.lock().unwrap().entry(self.pending[0]).or_default() += 1;
            }
            self.pending.drain(..header + len);
            self.untyped_first = false;
        }
    }
}

pub struct Proxy {
    port: u16,
    state: Arc<State>,
}

impl Proxy {
    /// Forwards 127.0.0.1:<port> to the test server's port on 127.0.0.1.
    pub fn start() -> Proxy {
        Proxy::start_to(super::server_port())
    }

    /// Forwards 127.0.0.1:<port> to 127.0.0.1:`target`.
    pub fn start_to(target: u16) -> Proxy {
        Proxy::start_with(target, None)
    }

    /// A proxy to the local server in CockroachDB mode (`cockroach.rs`):
    /// it fails statements as `mode` is told to, and refuses messages over
    /// its limit as CockroachDB does. Its cuts, freezes and TLS handling
    /// are not available.
    pub fn cockroach(mode: Mode) -> Proxy {
        Proxy::start_with(super::server_port(), Some(Arc::new(mode)))
    }

    /// The CockroachDB mode of a proxy made by `cockroach`.
    pub fn mode(&self) -> &Mode {
        self.state
            .cockroach
            .as_deref()
            .expect("a proxy in CockroachDB mode")
    }

    fn start_with(target: u16, cockroach: Option<Arc<Mode>>) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let port = listener.local_addr().expect("its address").port();
        let state = Arc::new(State {
            rng: AtomicU64::new(0x9E37_79B9_7F4A_7C15),
            cockroach,
            ..State::default()
        });
        let shared = Arc::clone(&state);
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if shared.stopped.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                shared.connections.fetch_add(1, Ordering::SeqCst);
                if let Some(mode) = &shared.cockroach {
                    let mut sockets = shared.sockets.lock().unwrap();
                    sockets.extend(client.try_clone().ok());
                    sockets.extend(server.try_clone().ok());
                    drop(sockets);
                    super::cockroach::pipe(client, server, Arc::clone(mode));
                    continue;
                }
                pipe(client, server, Arc::clone(&shared));
            }
        });
        Proxy { port, state }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self, dbname: &str) -> String {
        self.url_with(dbname, "disable")
    }

    /// The URL through the proxy to the test server's database.
    pub fn test_url(&self) -> String {
        self.url(&super::database_name())
    }

    /// The URL through the proxy with this `sslmode`.
    pub fn url_with(&self, dbname: &str, sslmode: &str) -> String {
        format!(
            "postgresql://root@127.0.0.1:{}/{dbname}?sslmode={sslmode}",
            self.port
        )
    }

    /// From now on the proxy answers each `SSLRequest` itself with "N", as a
    /// server without TLS does, and the connection goes on in plain text.
    pub fn refuse_tls(&self) {
        self.state.refuse_tls.store(true, Ordering::SeqCst);
    }

    /// The next request a started connection sends (not a startup packet)
    /// is delivered, and then that connection is cut without its reply.
    pub fn cut_after_next_request(&self) {
        self.cut_after_requests(1);
    }

    /// As `cut_after_next_request`, for the `n`-th request from now (each
    /// chunk a started connection sends counts as one).
    pub fn cut_after_requests(&self, n: usize) {
        self.state.armed.store(n, Ordering::SeqCst);
    }

    /// The next `n` connections are cut as soon as their client speaks,
    /// in the middle of the handshake.
    pub fn cut_handshakes(&self, n: usize) {
        self.state.handshake_cuts.store(n, Ordering::SeqCst);
    }

    /// From now on each chunk a client sends cuts its connection with this
    /// chance (0.02 = 2 %), before or after it reaches the server.
    pub fn cut_at_random(&self, chance: f64) {
        let ppm = (chance * 1_000_000.0) as u64;
        self.state.random_cut_ppm.store(ppm, Ordering::SeqCst);
    }

    /// Every connection, open or new, stops forwarding anything in either
    /// direction, its sockets left open: a partitioned peer.
    pub fn freeze(&self) {
        self.state.frozen.store(true, Ordering::SeqCst);
    }

    pub fn thaw(&self) {
        self.state.frozen.store(false, Ordering::SeqCst);
    }

    /// How many connections opened with an `SSLRequest` so far.
    pub fn tls_requests(&self) -> usize {
        self.state.tls_requests.load(Ordering::SeqCst)
    }

    /// How many connections were cut so far.
    pub fn cuts(&self) -> usize {
        self.state.cuts.load(Ordering::SeqCst)
    }

    /// How many connections clients opened through the proxy so far.
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Protocol messages of type `kind` that clients sent so far
    /// (`b'P'` Parse, `b'B'` Bind, `b'E'` Execute, `b'S'` Sync, `b'Q'` Query).
    pub fn sent(&self, kind: u8) -> usize {
        count(&self.state.sent, kind)
    }

    /// Protocol messages of type `kind` the server sent so far
    /// (`b'Z'` ReadyForQuery ends each round trip).
    pub fn received(&self, kind: u8) -> usize {
        count(&self.state.received, kind)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.state.stopped.store(true, Ordering::SeqCst);
        for socket in self.state.sockets.lock().unwrap().drain(..) {
            let _ = socket.shutdown(Shutdown::Both);
        }
        // Wakes the accept loop so that it sees `stopped`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// libpq's `SSLRequest` packet: length 8, code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

fn count(counts: &Mutex<HashMap<u8, usize>>, kind: u8) -> usize {
    counts.lock().unwrap().get(&kind).copied().unwrap_or(0)
}

fn cut(a: &TcpStream, b: &TcpStream, state: &State) {
    state.cuts.fetch_add(1, Ordering::SeqCst);
    let _ = a.shutdown(Shutdown::Both);
    let _ = b.shutdown(Shutdown::Both);
}

fn pipe(client: TcpStream, server: TcpStream, state: Arc<State>) {
    {
        let mut sockets = state.sockets.lock().unwrap();
        sockets.extend(client.try_clone().ok());
        sockets.extend(server.try_clone().ok());
    }
    let swallow = Arc::new(AtomicBool::new(false));
    let (mut c_read, mut s_write) = (
        client.try_clone().expect("clone"),
        server.try_clone().expect("clone"),
    );
    let mut c_answer = client.try_clone().expect("clone");
    let (mut s_read, mut c_write) = (server, client);
    let (to_client, counter) = (Arc::clone(&swallow), Arc::clone(&state));
    thread::spawn(move || {
        let mut buf = [0u8; 65536];
        let mut replies = Messages {
            pending: Vec::new(),
            untyped_first: false,
        };
        while let Ok(n @ 1..) = s_read.read(&mut buf) {
            if !counter.wait_while_frozen() {
                break;
            }
            replies.feed(&buf[..n], &counter.received);
            if to_client.load(Ordering::SeqCst) {
                // The server answered the request, so it ran it: cut here,
                // before the client hears of it.
                cut(&s_read, &c_write, &counter);
                break;
            }
            if c_write.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = c_write.shutdown(Shutdown::Both);
    });
    thread::spawn(move || {
        let mut buf = [0u8; 65536];
        let mut started = false;
        let mut requests = Messages {
            pending: Vec::new(),
            untyped_first: true,
        };
        while let Ok(mut n @ 1..) = c_read.read(&mut buf) {
            if !state.wait_while_frozen() {
                break;
            }
            let tls_request = !started && buf[..n].starts_with(&SSL_REQUEST);
            if tls_request {
                state.tls_requests.fetch_add(1, Ordering::SeqCst);
            }
            if tls_request && state.refuse_tls.load(Ordering::SeqCst) {
                if c_answer.write_all(b"N").is_err() {
                    break;
                }
                buf.copy_within(SSL_REQUEST.len()..n, 0);
                n -= SSL_REQUEST.len();
                if n == 0 {
                    continue;
                }
            }
            if !started
                && state
                    .handshake_cuts
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
            {
                cut(&c_read, &s_write, &state);
                break;
            }
            let random = state.chance(state.random_cut_ppm.load(Ordering::SeqCst));
            // Half of the random cuts let the chunk reach the server first.
            if random && state.chance(500_000) {
                cut(&c_read, &s_write, &state);
                break;
            }
            requests.feed(&buf[..n], &state.sent);
            let armed = |n: usize| n.checked_sub(1);
            if started
                && state
                    .armed
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, armed)
                    == Ok(1)
            {
                swallow.store(true, Ordering::SeqCst);
            }
            started = true;
            if s_write.write_all(&buf[..n]).is_err() {
                break;
            }
            if random {
                cut(&c_read, &s_write, &state);
                break;
            }
        }
        let _ = s_write.shutdown(Shutdown::Both);
    });
}
