//! The blocking face against a server that never answers, and its watches'
//! thread: a test binary of its own, since it counts the threads of the
//! process.
#![cfg(feature = "blocking")]

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use langchain_cockroachdb::blocking::{CockroachDBChatMessageHistory, CockroachDBEngine};
use langchain_cockroachdb::{EngineOptions, HistoryOptions, WatchEvent, WatchFrom};

/// One test at a time: each counts the threads of the whole process.
fn alone() -> MutexGuard<'static, ()> {
    static ONE: Mutex<()> = Mutex::new(());
    ONE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Threads of this process whose name starts with `prefix`.
fn threads(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .flatten()
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|name| name.starts_with(prefix))
        })
        .count()
}

/// Threads of this process waiting in a blocking connection attempt.
fn connect_threads() -> usize {
    threads("langchain-cock")
}

/// Sockets of this process connected to `port` on the loopback.
fn sockets_to(port: u16) -> usize {
    let ours: std::collections::HashSet<String> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy().into_owned();
            let inode = target.strip_prefix("socket:[")?.strip_suffix(']')?;
            Some(inode.to_owned())
        })
        .collect();
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let remote_port = fields
                .get(2)
                .and_then(|remote| remote.split(':').nth(1))
                .and_then(|hex| u16::from_str_radix(hex, 16).ok());
            remote_port == Some(port) && fields.get(9).is_some_and(|inode| ours.contains(*inode))
        })
        .count()
}

/// Against a server that accepts TCP and never answers, every attempt
/// times out, and no more attempts wait at once than the pool holds
/// connections, and each gives up at its deadline: threads and sockets stay
/// bounded however long it lasts.
#[test]
fn a_silent_server_leaves_a_bounded_number_of_waiting_attempts() {
    let _alone = alone();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "postgresql://root@127.0.0.1:{}/test?sslmode=disable",
        silent.local_addr().unwrap().port()
    );
    let port = silent.local_addr().unwrap().port();
    let (before, pool_threads_before) = (connect_threads(), threads("r2d2-worker"));
    let engine = CockroachDBEngine::with_options(
        &url,
        EngineOptions::default()
            .pool_size(2)
            .connect_timeout(Duration::from_millis(100))
            .checkout_timeout(Duration::from_millis(300)),
    )
    .unwrap();
    // Sampled from a thread of its own while the pings fail, each as soon
    // as its wait ends.
    let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let sampling = std::sync::Arc::clone(&sampling);
        std::thread::spawn(move || {
            let (mut most, mut most_sockets) = (0, 0);
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                most = most.max(connect_threads().saturating_sub(before));
                most_sockets = most_sockets.max(sockets_to(port));
                std::thread::sleep(Duration::from_millis(2));
            }
            (most, most_sockets)
        })
    };
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        let err = engine.ping().unwrap_err();
        assert!(err.is_connection() || err.is_timeout(), "{err:?}");
    }
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let (most, most_sockets) = sampler.join().unwrap();
    assert!(most >= 1, "no attempt was waiting: the test proves nothing");
    assert!(
        most_sockets >= 1,
        "no socket to the server: the test proves nothing"
    );
    assert!(
        threads("r2d2-worker") > pool_threads_before,
        "no pool thread"
    );
    assert!(most <= 2, "{most} attempts waited at once with a pool of 2");
    assert!(engine.pool_state().failed_connects >= 3);

    // Each attempt gives up at its deadline (100 ms), though the server is
    // still there and still silent: nothing of the engine is left, neither
    // its connection threads, nor the pool's own, nor a socket.
    drop(engine);
    let deadline = Instant::now() + Duration::from_secs(1);
    let left = || {
        (
            connect_threads().saturating_sub(before),
            threads("r2d2-worker").saturating_sub(pool_threads_before),
            sockets_to(port),
        )
    };
    while left() != (0, 0, 0) {
        assert!(
            Instant::now() < deadline,
            "1 s after the drop, left behind (connect threads, pool threads, sockets): {:?}",
            left()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(silent);
}

/// A server that accepts TCP connections and never says a word: it keeps
/// every socket it accepted, and tells which of them the client still has
/// open (a closed one reads as end of file, or fails).
struct Silent {
    port: u16,
    accepted: Arc<Mutex<Vec<TcpStream>>>,
    total: Arc<AtomicUsize>,
    running: Arc<AtomicBool>,
}

impl Silent {
    fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let running = Arc::new(AtomicBool::new(true));
        let total = Arc::new(AtomicUsize::new(0));
        let (kept, on, count) = (
            Arc::clone(&accepted),
            Arc::clone(&running),
            Arc::clone(&total),
        );
        std::thread::Builder::new()
            .name("silent-server".into())
            .spawn(move || {
                while on.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((socket, _)) => {
                            socket.set_nonblocking(true).unwrap();
                            kept.lock().unwrap().push(socket);
                            count.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
            .unwrap();
        Silent {
            port,
            accepted,
            total,
            running,
        }
    }

    fn url(&self) -> String {
        format!(
            "postgresql://root@127.0.0.1:{}/test?sslmode=disable",
            self.port
        )
    }

    /// How many sockets it accepted.
    fn accepted(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }

    /// The accepted sockets the client has not closed (what the client
    /// sent, its startup message, is read and ignored).
    fn open_sockets(&self) -> usize {
        let mut accepted = self.accepted.lock().unwrap();
        accepted.retain_mut(|socket| {
            let mut buffer = [0; 512];
            loop {
                match socket.read(&mut buffer) {
                    Ok(0) => return false,
                    Ok(_) => continue,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => return false,
                }
            }
        });
        accepted.len()
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.running.store(false, Ordering::Relaxed);
    }
}

/// What an engine can leave behind: connection threads and pool threads
/// (more than when the test began), and sockets the silent server still
/// has open.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
struct Left {
    connect_threads: usize,
    pool_threads: usize,
    sockets: usize,
}

struct Baseline {
    connect_threads: usize,
    pool_threads: usize,
}

impl Baseline {
    fn now() -> Baseline {
        Baseline {
            connect_threads: connect_threads(),
            pool_threads: threads("r2d2-worker"),
        }
    }

    fn left(&self, server: &Silent) -> Left {
        Left {
            connect_threads: connect_threads().saturating_sub(self.connect_threads),
            pool_threads: threads("r2d2-worker").saturating_sub(self.pool_threads),
            sockets: server.open_sockets(),
        }
    }

    /// Waits until nothing is left, failing if anything still is at
    /// `limit`: returns how long it took.
    fn nothing_left_within(&self, server: &Silent, limit: Duration, what: &str) -> Duration {
        let dropped = Instant::now();
        let none = Left {
            connect_threads: 0,
            pool_threads: 0,
            sockets: 0,
        };
        loop {
            let left = self.left(server);
            if left == none {
                return dropped.elapsed();
            }
            assert!(
                dropped.elapsed() < limit,
                "{what}: {:?} after the drop, left behind: {left:?}",
                dropped.elapsed()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// How long after a drop an engine with default options may still have
/// anything: its connect timeout, and a margin for a loaded machine.
fn default_limit() -> Duration {
    EngineOptions::default().connect_timeout + Duration::from_secs(1)
}

/// With the default options, against a server that accepts and never
/// answers: a ping fails at the connect timeout, and the engine, dropped at
/// once (an attempt may still be waiting) or after a while idle, leaves
/// nothing behind past that timeout: no connection attempt (its thread,
/// its socket), no pool thread. Idle, it makes no attempt: none waits for
/// a connection.
#[test]
fn a_dropped_engine_with_default_options_leaves_nothing_behind() {
    let _alone = alone();
    let connect_timeout = EngineOptions::default().connect_timeout;
    for idle in [Duration::ZERO, connect_timeout + Duration::from_secs(2)] {
        let server = Silent::start();
        let baseline = Baseline::now();
        let engine =
            CockroachDBEngine::with_options(&server.url(), EngineOptions::default()).unwrap();
        let err = engine.ping().unwrap_err();
        assert!(err.is_connection() || err.is_timeout(), "{err:?}");
        assert!(
            server.accepted() > 0 && baseline.left(&server).pool_threads > 0,
            "no connection attempt, or no pool thread: the test proves nothing"
        );
        std::thread::sleep(idle);
        let at_drop = baseline.left(&server);
        if !idle.is_zero() {
            assert_eq!(
                (at_drop.connect_threads, at_drop.sockets),
                (0, 0),
                "{idle:?} idle, nothing waiting for a connection: attempts (threads, sockets) still running"
            );
        }
        drop(engine);
        let took = baseline.nothing_left_within(
            &server,
            default_limit(),
            &format!("an engine dropped {idle:?} after its ping failed (at the drop: {at_drop:?})"),
        );
        eprintln!(
            "idle {idle:?}: {} sockets accepted; at the drop {at_drop:?}; all gone {took:?} after the drop",
            server.accepted()
        );
    }
}

/// With the default options: ten calls at once through histories made from
/// a bare connection string, sharing the engine the process keeps for that
/// string, all fail. The engine lives on, but once the calls have failed
/// nothing of their attempts outlives the connect timeout, and no attempt
/// starts while nothing waits for a connection. Closed (the registry keeps
/// the engine, so this is its drop), it leaves nothing behind either.
#[test]
fn the_registry_engine_leaves_nothing_behind() {
    let _alone = alone();
    let server = Silent::start();
    let baseline = Baseline::now();
    let url = server.url();
    let calls: Vec<_> = (0..10)
        .map(|i| {
            let url = url.clone();
            std::thread::spawn(move || {
                let history = CockroachDBChatMessageHistory::new(format!("user-{i}"), &url)?;
                history.messages()
            })
        })
        .collect();
    for call in calls {
        let err = call.join().unwrap().unwrap_err();
        assert!(err.is_connection() || err.is_timeout(), "{err:?}");
    }
    let at_end = baseline.left(&server);
    assert!(
        server.accepted() > 0,
        "no connection attempt: the test proves nothing"
    );
    let ended = Instant::now();
    let no_attempt = |left: Left| left.connect_threads == 0 && left.sockets == 0;
    while !no_attempt(baseline.left(&server)) {
        assert!(
            ended.elapsed() < default_limit(),
            "{:?} after the calls failed (then {at_end:?}), left behind: {:?}",
            ended.elapsed(),
            baseline.left(&server)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = ended.elapsed();

    // The same engine, as the registry hands it out again.
    let history = CockroachDBChatMessageHistory::new("user-0", &url).unwrap();
    let engine = history.engine().clone();
    drop(history);
    let (failed, accepted) = (engine.pool_state().failed_connects, server.accepted());
    std::thread::sleep(EngineOptions::default().connect_timeout);
    assert_eq!(
        (
            baseline.left(&server).connect_threads,
            server.accepted(),
            engine.pool_state().failed_connects
        ),
        (0, accepted, failed),
        "attempts (threads, sockets accepted, failures) went on with nothing waiting"
    );

    engine.close(Duration::from_secs(1)).unwrap();
    drop(engine);
    let closed =
        baseline.nothing_left_within(&server, default_limit(), "the registry's engine, closed");
    eprintln!(
        "registry: {accepted} sockets accepted; at the calls' end {at_end:?}; attempts gone {took:?} after; \
         all gone {closed:?} after the close"
    );
}

/// A watch runs its engine's hub on a thread of its own, with one
/// connection of its own: dropping the last watch ends both, and dropping
/// the engine then leaves nothing (against the test server).
#[test]
fn a_dropped_watch_leaves_no_thread_and_no_connection() {
    let _alone = alone();
    let url = std::env::var("LANGCHAIN_COCKROACHDB_URL")
        .unwrap_or_else(|_| "postgresql://root@127.0.0.1:5432/test?sslmode=disable".into());
    let port = url
        .parse::<tokio_postgres::Config>()
        .expect("a valid test URL")
        .get_ports()
        .first()
        .copied()
        .unwrap_or(5432);
    let hub_threads = || threads("langchain-watch");
    let (threads_before, sockets_before) = (hub_threads(), sockets_to(port));
    let engine = CockroachDBEngine::from_connection_string(&url).unwrap();
    let table = format!("t_watch_threads_{}", std::process::id());
    let options = HistoryOptions::default().table_name(&table);
    let history =
        CockroachDBChatMessageHistory::with_engine("s", &engine, options.clone()).unwrap();
    let mut watch = history.watch(WatchFrom::Now).unwrap();
    history.add_user_message("hi").unwrap();
    let event = watch.next_timeout(Duration::from_secs(15)).unwrap();
    assert!(
        matches!(event, Some(WatchEvent::Message { .. })),
        "{event:?}"
    );
    let pool = engine.pool_state().connections as usize;
    assert_eq!(hub_threads(), threads_before + 1, "one thread for the hub");
    assert_eq!(
        sockets_to(port),
        sockets_before + pool + 1,
        "the pool's and one"
    );

    let gone = |expected: (usize, usize), what: &str| {
        let until = Instant::now() + Duration::from_secs(5);
        while (hub_threads(), sockets_to(port)) != expected {
            assert!(
                Instant::now() < until,
                "{what}: (hub threads, sockets) {:?}, not {expected:?}",
                (hub_threads(), sockets_to(port))
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    drop(watch);
    gone((threads_before, sockets_before + pool), "the watch dropped");
    engine.drop_tables(&options).unwrap();
    drop(history);
    drop(engine);
    gone((threads_before, sockets_before), "the engine dropped");
}
