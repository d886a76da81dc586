//! Many writers, one session: `WRITERS` tasks adding messages to one
//! session, against the same tasks each on a session of its own, in the
//! same run, on both faces, under READ COMMITTED and SERIALIZABLE; then 64
//! writers into 4 sessions with `clear` and `delete_last` workers among
//! them. Each case counts failed calls and checks that every writer's
//! messages are stored once, in its order.

use std::sync::Arc;
use std::time::Instant;

use langchain_cockroachdb::blocking::{CockroachDBChatMessageHistory, CockroachDBEngine};
use langchain_cockroachdb::nonblocking::{
    AsyncCockroachDBChatMessageHistory, AsyncCockroachDBEngine,
};
use langchain_cockroachdb::{EngineOptions, HistoryOptions, Message};

use super::Result;

const WRITERS: usize = 16;
const EACH: usize = 200;
/// Rounds of each comparison, hot and spread taking turns.
pub(crate) const ROUNDS: usize = 5;

/// One face and isolation: msgs/s per round, hot and spread.
pub(crate) struct Hot {
    pub(crate) face: &'static str,
    pub(crate) isolation: &'static str,
    pub(crate) hot: Vec<f64>,
    pub(crate) spread: Vec<f64>,
    pub(crate) failed_hot: usize,
    pub(crate) failed_spread: usize,
    pub(crate) order_kept: bool,
}

/// The mixed case: writes, failures, and whether order and counts held.
pub(crate) struct Mixed {
    pub(crate) face: &'static str,
    pub(crate) calls: usize,
    pub(crate) failed: usize,
    pub(crate) order_kept: bool,
}

/// `url` running every transaction at `isolation`.
fn at(url: &str, isolation: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-c%20default_transaction_isolation%3D{isolation}")
}

/// Whether the messages of `texts` hold each writer's `w-i` exactly once, in
/// order, leaving out the calls that failed.
fn in_order(texts: &[String], writers: usize, expected: &[Vec<usize>]) -> bool {
    (0..writers).all(|w| {
        let mine: Vec<String> = texts
            .iter()
            .filter(|t| t.split('-').next() == Some(&w.to_string()))
            .cloned()
            .collect();
        let want: Vec<String> = expected[w].iter().map(|i| format!("{w}-{i}")).collect();
        mine == want
    })
}

/// The session of writer `w`: one for all when `hot`.
fn session_of(tag: &str, hot: bool, w: usize) -> String {
    match hot {
        true => format!("{tag}-hot"),
        false => format!("{tag}-{w}"),
    }
}

/// Messages per second since `started`, and the calls that failed, from
/// what each writer stored.
fn tally(started: Instant, stored: &[Vec<usize>]) -> (f64, usize) {
    let rate = (WRITERS * EACH) as f64 / started.elapsed().as_secs_f64();
    (
        rate,
        WRITERS * EACH - stored.iter().map(Vec::len).sum::<usize>(),
    )
}

/// Writes `EACH` messages from each of `WRITERS` threads; `hot`: all into
/// one session. Returns msgs/s, failed calls, order kept.
fn blocking_round(
    engine: &CockroachDBEngine,
    options: &HistoryOptions,
    tag: &str,
    hot: bool,
) -> Result<(f64, usize, bool)> {
    let session = |w: usize| session_of(tag, hot, w);
    let started = Instant::now();
    let threads: Vec<_> = (0..WRITERS)
        .map(|w| {
            let history =
                CockroachDBChatMessageHistory::with_engine(session(w), engine, options.clone());
            std::thread::spawn(move || -> Result<Vec<usize>> {
                let history = history?;
                Ok((0..EACH)
                    .filter(|i| history.add_user_message(format!("{w}-{i}")).is_ok())
                    .collect())
            })
        })
        .collect();
    let mut stored = Vec::new();
    for thread in threads {
        stored.push(thread.join().map_err(|_| "a writer panicked")??);
    }
    let (rate, failed) = tally(started, &stored);
    let mut texts = Vec::new();
    for w in 0..if hot { 1 } else { WRITERS } {
        let history =
            CockroachDBChatMessageHistory::with_engine(session(w), engine, options.clone())?;
        texts.extend(history.messages()?.iter().map(|m| m.text().into_owned()));
        history.clear()?;
    }
    Ok((rate, failed, in_order(&texts, WRITERS, &stored)))
}

async fn async_round(
    engine: &AsyncCockroachDBEngine,
    options: &HistoryOptions,
    tag: &str,
    hot: bool,
) -> Result<(f64, usize, bool)> {
    let session = |w: usize| session_of(tag, hot, w);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let history =
            AsyncCockroachDBChatMessageHistory::with_engine(session(w), engine, options.clone())?;
        tasks.push(tokio::spawn(async move {
            let mut stored = Vec::new();
            for i in 0..EACH {
                if history.add_user_message(format!("{w}-{i}")).await.is_ok() {
                    stored.push(i);
                }
            }
            stored
        }));
    }
    let mut stored = Vec::new();
    for task in tasks {
        stored.push(task.await?);
    }
    let (rate, failed) = tally(started, &stored);
    let mut texts = Vec::new();
    for w in 0..if hot { 1 } else { WRITERS } {
        let history =
            AsyncCockroachDBChatMessageHistory::with_engine(session(w), engine, options.clone())?;
        texts.extend(
            history
                .messages()
                .await?
                .iter()
                .map(|m| m.text().into_owned()),
        );
        history.clear().await?;
    }
    Ok((rate, failed, in_order(&texts, WRITERS, &stored)))
}

/// Every face and isolation, `ROUNDS` rounds each, hot and spread in turns.
pub(crate) fn run(url: &str, table: &str) -> Result<(Vec<Hot>, Vec<Mixed>)> {
    let options = HistoryOptions::default().table_name(table);
    let pool = EngineOptions::default().pool_size(16);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut results = Vec::new();
    for isolation in ["read%5C%20committed", "serializable"] {
        let url = at(url, isolation);
        let name = if isolation == "serializable" {
            "SERIALIZABLE"
        } else {
            "READ COMMITTED"
        };
        let blocking = CockroachDBEngine::with_options(&url, pool.clone())?;
        let nonblocking = {
            let _inside = runtime.enter();
            AsyncCockroachDBEngine::with_options(&url, pool.clone())?
        };
        for face in ["blocking", "async"] {
            let mut hot = Hot {
                face,
                isolation: name,
                hot: Vec::new(),
                spread: Vec::new(),
                failed_hot: 0,
                failed_spread: 0,
                order_kept: true,
            };
            for round in 0..ROUNDS {
                for is_hot in [round % 2 == 0, round % 2 == 1] {
                    let tag = format!("{face}-{round}");
                    let (rate, failed, kept) = match face {
                        "blocking" => blocking_round(&blocking, &options, &tag, is_hot)?,
                        _ => runtime.block_on(async_round(&nonblocking, &options, &tag, is_hot))?,
                    };
                    hot.order_kept &= kept;
                    if is_hot {
                        hot.hot.push(rate);
                        hot.failed_hot += failed;
                    } else {
                        hot.spread.push(rate);
                        hot.failed_spread += failed;
                    }
                }
            }
            results.push(hot);
        }
    }
    let url = at(url, "serializable");
    let mixed = vec![
        mixed_blocking(
            &CockroachDBEngine::with_options(&url, pool.clone())?,
            &options,
        )?,
        runtime.block_on(mixed_async(&url, &pool, &options))?,
    ];
    Ok((results, mixed))
}

/// 64 writers into 4 sessions (50 messages each), and per session a worker
/// that clears it once and deletes its newest message now and then.
fn mixed_blocking(engine: &CockroachDBEngine, options: &HistoryOptions) -> Result<Mixed> {
    let history = |s: usize| {
        CockroachDBChatMessageHistory::with_engine(format!("mixed-b-{s}"), engine, options.clone())
    };
    let failed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut threads = Vec::new();
    for w in 0..64 {
        let (h, failed) = (history(w % 4)?, Arc::clone(&failed));
        threads.push(std::thread::spawn(move || {
            for i in 0..50 {
                if h.add_messages(&[Message::human(format!("{w}-{i}"))])
                    .is_err()
                {
                    failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }));
    }
    for s in 0..4 {
        let (h, failed) = (history(s)?, Arc::clone(&failed));
        threads.push(std::thread::spawn(move || {
            for i in 0..10 {
                let done = if i == 5 {
                    h.clear()
                } else {
                    h.delete_last(1).map(drop)
                };
                if done.is_err() {
                    failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }));
    }
    for thread in threads {
        thread.join().map_err(|_| "a worker panicked")?;
    }
    let mut order_kept = true;
    for s in 0..4 {
        let h = history(s)?;
        let texts: Vec<String> = h
            .messages()?
            .iter()
            .map(|m| m.text().into_owned())
            .collect();
        order_kept &= ordered_per_writer(&texts);
        h.clear()?;
    }
    Ok(Mixed {
        face: "blocking",
        calls: 64 * 50 + 4 * 10,
        failed: failed.load(std::sync::atomic::Ordering::Relaxed),
        order_kept,
    })
}

async fn mixed_async(url: &str, pool: &EngineOptions, options: &HistoryOptions) -> Result<Mixed> {
    let engine = AsyncCockroachDBEngine::with_options(url, pool.clone())?;
    let history = |s: usize| {
        AsyncCockroachDBChatMessageHistory::with_engine(
            format!("mixed-a-{s}"),
            &engine,
            options.clone(),
        )
    };
    let mut tasks = Vec::new();
    for w in 0..64 {
        let h = history(w % 4)?;
        tasks.push(tokio::spawn(async move {
            let mut failed = 0;
            for i in 0..50 {
                if h.add_messages(&[Message::human(format!("{w}-{i}"))])
                    .await
                    .is_err()
                {
                    failed += 1;
                }
            }
            failed
        }));
    }
    for s in 0..4 {
        let h = history(s)?;
        tasks.push(tokio::spawn(async move {
            let mut failed = 0;
            for i in 0..10 {
                let done = if i == 5 {
                    h.clear().await
                } else {
                    h.delete_last(1).await.map(drop)
                };
                failed += usize::from(done.is_err());
            }
            failed
        }));
    }
    let mut failed = 0;
    for task in tasks {
        failed += task.await?;
    }
    let mut order_kept = true;
    for s in 0..4 {
        let h = history(s)?;
        let texts: Vec<String> = h
            .messages()
            .await?
            .iter()
            .map(|m| m.text().into_owned())
            .collect();
        order_kept &= ordered_per_writer(&texts);
        h.clear().await?;
    }
    Ok(Mixed {
        face: "async",
        calls: 64 * 50 + 4 * 10,
        failed,
        order_kept,
    })
}

/// Whether each writer's surviving messages (deletes took some) are in its
/// order and unique.
fn ordered_per_writer(texts: &[String]) -> bool {
    let mut last: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    texts.iter().all(|t| {
        let Some((w, i)) = t.split_once('-') else {
            return false;
        };
        let Ok(i) = i.parse::<usize>() else {
            return false;
        };
        let ok = last.get(w).is_none_or(|&prev| i > prev);
        last.insert(w, i);
        ok
    })
}
