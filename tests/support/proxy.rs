//! A TCP proxy on loopback in front of the test server that can cut a
//! connection at a chosen moment: after a request reached the server, before
//! its reply reaches the client. Runs on plain threads, so either face can
//! go through it.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

#[derive(Default)]
struct State {
    armed: AtomicBool,
    cuts: AtomicUsize,
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
        while let Ok(n @ 1..) = s_read.read(&mut buf) {
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
        while let Ok(n @ 1..) = c_read.read(&mut buf) {
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
