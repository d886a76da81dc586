//! A TCP proxy on loopback in front of the test server that can cut a
//! connection at a chosen moment (after a request reached the server, before
//! its reply reaches the client), and that counts the PostgreSQL protocol
//! messages going each way (plain-text connections). Runs on plain threads,
//! so either face can go through it.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

#[derive(Default)]
struct State {
    armed: AtomicBool,
    cuts: AtomicUsize,
    /// Protocol messages by type byte: from clients, and from the server.
    sent: Mutex<HashMap<u8, usize>>,
    received: Mutex<HashMap<u8, usize>>,
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
    /// Forwards 127.0.0.1:<port> to the local server at 127.0.0.1:5432.
    pub fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let port = listener.local_addr().expect("its address").port();
        let state = Arc::new(State::default());
        let shared = Arc::clone(&state);
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect("127.0.0.1:5432") else {
                    continue;
                };
                pipe(client, server, Arc::clone(&shared));
            }
        });
        Proxy { port, state }
    }

    pub fn url(&self, dbname: &str) -> String {
        format!(
            "postgresql://root@127.0.0.1:{}/{dbname}?sslmode=disable",
            self.port
        )
    }

    /// The next request a started connection sends (not a startup packet)
    /// is delivered, and then that connection is cut without its reply.
    pub fn cut_after_next_request(&self) {
        self.state.armed.store(true, Ordering::SeqCst);
    }

    /// How many connections were cut so far.
    pub fn cuts(&self) -> usize {
        self.state.cuts.load(Ordering::SeqCst)
    }

    /// Protocol messages of type `kind` that clients sent so far
    /// (`b'P'` Parse, `b'B'` Bind, `b'E'` Execute, `b'S'` Sync, `b'Q'` Query).
    pub fn sent(&self, kind: u8) -> usize {
        self.state
            .sent
            .lock()
            .unwrap()
            .get(&kind)
            .copied()
            .unwrap_or(0)
    }

    /// Protocol messages of type `kind` the server sent so far
    /// (`b'Z'` ReadyForQuery ends each round trip).
    pub fn received(&self, kind: u8) -> usize {
        self.state
            .received
            .lock()
            .unwrap()
            .get(&kind)
            .copied()
            .unwrap_or(0)
    }
}

fn pipe(client: TcpStream, server: TcpStream, state: Arc<State>) {
    let swallow = Arc::new(AtomicBool::new(false));
    let (mut c_read, mut s_write) = (
        client.try_clone().expect("clone"),
        server.try_clone().expect("clone"),
    );
    let (mut s_read, mut c_write) = (server, client);
    let (to_client, counter) = (Arc::clone(&swallow), Arc::clone(&state));
    thread::spawn(move || {
        let mut buf = [0u8; 65536];
        let mut replies = Messages {
            pending: Vec::new(),
            untyped_first: false,
        };
        while let Ok(n @ 1..) = s_read.read(&mut buf) {
            replies.feed(&buf[..n], &counter.received);
            if to_client.load(Ordering::SeqCst) {
                // The server answered the request, so it ran it: cut here,
                // before the client hears of it.
                counter.cuts.fetch_add(1, Ordering::SeqCst);
                let _ = s_read.shutdown(Shutdown::Both);
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
        while let Ok(n @ 1..) = c_read.read(&mut buf) {
            requests.feed(&buf[..n], &state.sent);
            if started && state.armed.swap(false, Ordering::SeqCst) {
                swallow.store(true, Ordering::SeqCst);
            }
            started = true;
            if s_write.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = s_write.shutdown(Shutdown::Both);
    });
}
