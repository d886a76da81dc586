//! No input or option value panics, and a password never shows: random
//! connection strings (multi-byte characters around every separator) and
//! random option values, on both faces.
#![cfg(all(feature = "blocking", feature = "async"))]

use std::time::Duration;

use langchain_cockroachdb::{
    ConnectionConfig, EngineOptions, HistoryOptions, RetryPolicy, SessionFilter,
};
use proptest::prelude::*;

/// The separators of both syntaxes, multi-byte characters, and the option
/// names that take other paths through the parser.
const PIECES: &[&str] = &[
    " ",
    "=",
    "'",
    "\\",
    "\"",
    ":",
    "@",
    "/",
    "?",
    "&",
    "#",
    "%",
    "%C3",
    "%ZZ",
    "[",
    "]",
    ",",
    "ä",
    "é",
    "日本",
    "🦀",
    "\u{0}",
    "\t",
    "host",
    "port",
    "user",
    "password",
    "dbname",
    "sslmode",
    "require",
    "verify-full",
    "sslrootcert",
    "system",
    "channel_binding",
    "options",
    "application_name",
    "postgresql://",
    "cockroachdb://",
    "postgres://",
    "db",
    "26257",
    "-c",
];

fn pieces() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(PIECES), 0..24).prop_map(|p| p.concat())
}

/// A password no piece spells, with multi-byte characters and the
/// characters libpq escapes.
fn secret() -> impl Strategy<Value = String> {
    "[a-zäé日🦀' \\\\]{0,6}".prop_map(|tail| format!("Sëcrét9{tail}"))
}

fn quoted(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// Everything a parse shows: the error, or the config's `Debug`.
fn shown(s: &str) -> String {
    match s.parse::<ConnectionConfig>() {
        Ok(config) => format!("{config:?}"),
        Err(err) => format!("{err} {err:?}"),
    }
}

/// `n` cases, and no files of failures left in the checkout.
fn cases(n: u32) -> ProptestConfig {
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(n)
    }
}

proptest! {
    #![proptest_config(cases(2000))]

    #[test]
    fn no_connection_string_panics(s in pieces()) {
        shown(&s);
    }

    #[test]
    fn a_keyword_password_never_shows(
        before in pieces(), after in pieces(), secret in secret(), bare in any::<bool>()
    ) {
        // Whatever stands around it, once the pair is whole.
        let value = match bare && !secret.contains([' ', '\'', '\\']) {
            true => secret.clone(),
            false => quoted(&secret),
        };
        let s = format!("host=db {before} password={value} {after}");
        prop_assert!(!shown(&s).contains("Sëcrét9"), "{}", s);
    }

    #[test]
    fn a_url_password_never_shows(tail in pieces(), secret in "[a-zäé日🦀]{0,6}") {
        let encoded: String = secret.bytes().map(|b| format!("%{b:02X}")).collect();
        for password in [format!("Sëcrét9{secret}"), format!("S%C3%ABcr%C3%A9t9{encoded}")] {
            let s = format!("postgresql://app:{password}@db:26257/chat{tail}");
            prop_assert!(!shown(&s).contains("Sëcrét9"), "{}", s);
        }
    }
}

fn any_duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        Just(Duration::MAX),
        (0u64..3_000).prop_map(Duration::from_millis),
        any::<(u64, u32)>().prop_map(|(s, n)| Duration::new(s, n % 1_000_000_000)),
    ]
}

fn any_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(f64::MAX),
        Just(-0.0),
        any::<f64>(),
    ]
}

fn any_retry() -> impl Strategy<Value = RetryPolicy> {
    (
        0u32..4,
        any_duration(),
        any_duration(),
        any_f64(),
        any_f64(),
    )
        .prop_map(|(attempts, initial, max, multiplier, jitter)| {
            RetryPolicy::default()
                .max_attempts(attempts)
                .initial_backoff(initial)
                .max_backoff(max)
                .multiplier(multiplier)
                .jitter(jitter)
        })
}

/// Engine options of any value, with a deadline that keeps a call short:
/// the call is made against a port nobody listens on.
fn any_engine() -> impl Strategy<Value = EngineOptions> {
    (
        any::<u32>(),
        any_duration(),
        any_duration(),
        proptest::option::of(any_duration()),
        proptest::option::of(any_duration()),
        any_retry(),
        0u64..300,
    )
        .prop_map(|(pool, connect, checkout, idle, life, retry, ms)| {
            EngineOptions::default()
                .pool_size(pool % 64)
                .connect_timeout(connect)
                .checkout_timeout(checkout)
                .idle_timeout(idle)
                .max_lifetime(life)
                .retry(retry)
                .operation_timeout(Duration::from_millis(ms))
        })
}

fn any_history() -> impl Strategy<Value = HistoryOptions> {
    (
        any::<usize>(),
        any::<usize>(),
        any::<usize>(),
        any_retry(),
        any_duration(),
        any_duration(),
    )
        .prop_map(|(message, batch, delete, retry, timeout, ttl)| {
            HistoryOptions::default()
                .max_message_bytes(message)
                .max_batch_bytes(batch)
                .delete_batch_size(delete)
                .retry(retry)
                .operation_timeout(timeout.min(Duration::from_millis(300)))
                .ttl(ttl)
                .create_table(false)
        })
}

/// Nobody listens there: every call fails at once, after its options were
/// used to build a pool, plan its retries and bound it.
const NOWHERE: &str = "postgresql://app:Sëcrét9@127.0.0.1:1/db?sslmode=disable";

proptest! {
    #![proptest_config(cases(48))]

    #[test]
    fn no_option_value_panics_on_the_blocking_face(engine in any_engine(), history in any_history()) {
        use langchain_cockroachdb::blocking::CockroachDBEngine;
        let shown = match CockroachDBEngine::with_options(NOWHERE, engine) {
            Err(err) => format!("{err:?}"),
            Ok(engine) => {
                let ping = engine.ping();
                let listed = engine.list_sessions(&history, &SessionFilter::default());
                let added = engine.history("s").and_then(|h| h.add_user_message("hi"));
                prop_assert!(ping.is_err() && listed.is_err() && added.is_err());
                format!("{ping:?} {listed:?} {added:?}")
            }
        };
        prop_assert!(!shown.contains("Sëcrét9"), "{}", shown);
    }

    #[test]
    fn no_option_value_panics_on_the_async_face(engine in any_engine(), history in any_history()) {
        use langchain_cockroachdb::nonblocking::AsyncCockroachDBEngine;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let shown = runtime.block_on(async {
            match AsyncCockroachDBEngine::with_options(NOWHERE, engine) {
                Err(err) => format!("{err:?}"),
                Ok(engine) => {
                    let ping = engine.ping().await;
                    let listed = engine.list_sessions(&history, &SessionFilter::default()).await;
                    assert!(ping.is_err() && listed.is_err());
                    format!("{ping:?} {listed:?}")
                }
            }
        });
        prop_assert!(!shown.contains("Sëcrét9"), "{}", shown);
    }
}
