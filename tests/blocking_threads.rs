//! The blocking face against a server that never answers: a test binary of
//! its own, since it counts the threads of the process.
#![cfg(feature = "blocking")]

use langchain_cockroachdb::EngineOptions;
use langchain_cockroachdb::blocking::CockroachDBEngine;

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
    use std::time::{Duration, Instant};
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
                most = most.max(connect_threads() - before);
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
            connect_threads() - before,
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
