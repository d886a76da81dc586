//! The blocking face against a server that never answers: a test binary of
//! its own, since it counts the threads of the process.
#![cfg(feature = "blocking")]

use langchain_cockroachdb::EngineOptions;
use langchain_cockroachdb::blocking::CockroachDBEngine;

/// Threads of this process waiting in a blocking connection attempt.
fn connect_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .flatten()
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|name| name.starts_with("langchain-cock"))
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
    let before = connect_threads();
    let engine = CockroachDBEngine::with_options(
        &url,
        EngineOptions::default()
            .pool_size(2)
            .connect_timeout(Duration::from_millis(100))
            .checkout_timeout(Duration::from_millis(300)),
    )
    .unwrap();
    let started = Instant::now();
    let mut most = 0;
    while started.elapsed() < Duration::from_secs(3) {
        let err = engine.ping().unwrap_err();
        assert!(err.is_connection() || err.is_timeout(), "{err:?}");
        most = most.max(connect_threads() - before);
    }
    assert!(most >= 1, "no attempt was waiting: the test proves nothing");
    assert!(most <= 2, "{most} attempts waited at once with a pool of 2");
    assert!(engine.pool_state().failed_connects >= 3);

    // Each attempt gives up at its deadline (100 ms), though the server is
    // still there and still silent: nothing of the engine is left.
    drop(engine);
    let deadline = Instant::now() + Duration::from_secs(1);
    while connect_threads() > before {
        assert!(
            Instant::now() < deadline,
            "connection threads outlived their deadline"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(silent);
}
