//! The frozen-peer scenario, shared by the network cases and the TLS tests:
//! a peer that stops answering while the socket stays open.

use std::time::{Duration, Instant};

use langchain_cockroachdb::uuid::Uuid;
use langchain_cockroachdb::{EngineOptions, HistoryOptions, Message};

use super::Face;
use super::proxy::Proxy;

fn texts(messages: &[Message]) -> Vec<String> {
    messages.iter().map(|m| m.text().into_owned()).collect()
}

/// The frozen-peer case through `proxy`, which `url` goes through.
pub fn frozen_peer_through<F: Face>(proxy: &Proxy, url: &str, options: HistoryOptions) {
    let engine = EngineOptions::default()
        .pool_size(1)
        .operation_timeout(Duration::from_secs(2))
        .checkout_timeout(Duration::from_secs(2));
    let history = F::open_pooled("s", url, options, engine).unwrap();
    history.add_user_message("before").unwrap();

    let turn = [(Uuid::new_v4(), Message::human("during"))];
    history
        .add_messages_with_ids(&[(Uuid::new_v4(), Message::human("prepared"))])
        .unwrap();

    proxy.freeze();
    let started = Instant::now();
    // Sent on the open connection, and never answered: maybe applied.
    let err = history.add_messages_with_ids(&turn).unwrap_err();
    assert!(err.is_timeout() && err.is_ambiguous(), "{err:?}");
    // That connection is gone; a new one cannot finish its handshake.
    let err = history.messages().unwrap_err();
    assert!(err.is_timeout() && !err.is_ambiguous(), "{err:?}");
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_millis(5500),
        "two operations with a 2 s deadline took {elapsed:?}"
    );

    proxy.thaw();
    // The write may have been held by the frozen peer and applied later:
    // the caller's retry with the same id stores it exactly once.
    history.add_messages_with_ids(&turn).unwrap();
    history.add_user_message("after").unwrap();
    assert_eq!(
        texts(&history.messages().unwrap()),
        ["before", "prepared", "during", "after"]
    );
    let state = history.pool_state();
    assert!(
        state.closed >= 1 && state.timeouts >= 2,
        "the frozen connections were reused: {state:?}"
    );
}
