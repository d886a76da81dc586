//! Live conversations (`--watch`): how long a message takes from its
//! commit in another process (`watch_writer.rs`) to a watcher here, and
//! what watches cost while nothing happens (this process's CPU, the
//! engine's connections), with 1, 100 and 1,000 watchers on one engine, on
//! both faces.
//!
//! A watcher notes the time each message comes; the latency is from the
//! writer's commit (one machine, one clock). On PostgreSQL a message can
//! only be delivered once final (every transaction that began writing
//! before it has ended, on the whole server): the writer's samples of the
//! server's horizon say when that was, so that the time a message was
//! held back by other programs' transactions is told apart from the
//! crate's own. The other watchers watch sessions nobody writes, or, in
//! the fan-out rows, the written session too. Each configuration runs
//! `rounds` times, the configurations in turns (forward, then backward),
//! and each figure is the median of its rounds with their min–max.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::time::{Duration, Instant, SystemTime};

use langchain_cockroachdb::blocking::{CockroachDBChatMessageHistory, CockroachDBEngine};
use langchain_cockroachdb::nonblocking::{
    AsyncCockroachDBChatMessageHistory, AsyncCockroachDBEngine,
};
use langchain_cockroachdb::{EngineOptions, Error, HistoryOptions, WatchEvent, WatchFrom};
use postgres::{Client, NoTls};
use uuid::Uuid;

use crate::Result;
use crate::measure::median;
use crate::watch_writer::{MESSAGES, Writer, WriterProcess, finality};

/// How long this process's CPU is measured with nothing written: two of
/// PostgreSQL's 5 s looks.
const IDLE: Duration = Duration::from_secs(10);
/// Final later than this after its commit: held back by another
/// transaction (the horizon is sampled every 2 ms).
const HELD: Duration = Duration::from_millis(10);

#[derive(Clone, Copy, PartialEq)]
enum Face {
    Blocking,
    Async,
}

#[derive(Clone, Copy)]
struct Config {
    face: Face,
    watchers: usize,
    /// Every watcher watches the written session (otherwise one does).
    fan_out: bool,
    writer: Writer,
}

impl Config {
    fn live(&self, watcher: usize) -> bool {
        self.fan_out || watcher == 0
    }

    fn face(&self) -> &'static str {
        match self.face {
            Face::Blocking => "blocking",
            Face::Async => "async",
        }
    }

    fn writer(&self) -> &'static str {
        match self.writer {
            Writer::Crate => "crate (notifies)",
            Writer::Foreign => "plain INSERT (as Python's)",
        }
    }

    fn watching(&self) -> &'static str {
        if self.fan_out { "all" } else { "one" }
    }

    fn label(&self) -> String {
        format!(
            "{} face, {} watchers ({} on the written session), writer {}",
            self.face(),
            self.watchers,
            self.watching(),
            self.writer()
        )
    }
}

/// One round of one configuration.
struct Round {
    /// Milliseconds from commit to watcher, sorted.
    latencies: Vec<f64>,
    /// Milliseconds from the moment the message became final (or its
    /// commit, if later) to the watcher, sorted.
    after_final: Vec<f64>,
    /// Messages that became final more than `HELD` after their commit:
    /// held back by another transaction of the server (PostgreSQL only).
    held: Option<usize>,
    expected: usize,
    /// Percent of one core this process used with nothing written, and
    /// while the writer wrote.
    idle_cpu: f64,
    busy_cpu: f64,
    /// The engine's connections before its first watch, and with all of
    /// them watching.
    connections: (i64, i64),
    errors: usize,
}

/// One configuration's rounds.
pub(crate) struct Measured {
    config: Config,
    rounds: Vec<Round>,
}

/// The configurations: each face with 1, 100 and 1,000 watchers (one on the
/// written session), 100 all on it, and one watcher of a writer that does
/// not notify.
fn configs() -> Vec<Config> {
    let mut configs = Vec::new();
    for face in [Face::Async, Face::Blocking] {
        for (watchers, fan_out) in [(1, false), (100, false), (1000, false), (100, true)] {
            configs.push(Config {
                face,
                watchers,
                fan_out,
                writer: Writer::Crate,
            });
        }
    }
    configs.push(Config {
        face: Face::Async,
        watchers: 1,
        fan_out: false,
        writer: Writer::Foreign,
    });
    configs
}

/// Every configuration, `rounds` times in turns, on `table` (which exists).
pub(crate) fn run(url: &str, table: &str, rounds: usize) -> Result<Vec<Measured>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut measured: Vec<Measured> = configs()
        .into_iter()
        .map(|config| Measured {
            config,
            rounds: Vec::new(),
        })
        .collect();
    for round in 0..rounds {
        let count = measured.len();
        for i in 0..count {
            let at = if round % 2 == 0 { i } else { count - 1 - i };
            let config = measured[at].config;
            let started = Instant::now();
            let result = one_round(&runtime, url, table, config, round)?;
            eprintln!(
                "round {} of {rounds}: {} in {:.0?}",
                round + 1,
                config.label(),
                started.elapsed()
            );
            measured[at].rounds.push(result);
        }
    }
    Ok(measured)
}

fn one_round(
    runtime: &tokio::runtime::Runtime,
    url: &str,
    table: &str,
    config: Config,
    round: usize,
) -> Result<Round> {
    let name = format!("bench-watch-{}", &Uuid::new_v4().simple().to_string()[..8]);
    let named = with_param(url, "application_name", &name);
    let live = format!("live-{name}-{round}");
    let mut monitor = Client::connect(url, NoTls)?;
    let connections = |monitor: &mut Client| -> Result<i64> {
        let row = monitor.query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
            &[&name],
        )?;
        Ok(row.get(0))
    };
    let options = HistoryOptions::default().table_name(table);
    let session = |w: usize| match config.live(w) {
        true => live.clone(),
        false => format!("idle-{w}"),
    };
    // Each message a watcher gets: `(watcher, its number, when it came)`.
    let (sender, came) = channel();
    let errors = Arc::new(AtomicUsize::new(0));
    // `close` closes the engine, which ends its watches, and waits for them.
    let (before, close) = match config.face {
        Face::Async => {
            let _inside = runtime.enter();
            let engine = AsyncCockroachDBEngine::with_options(&named, EngineOptions::default())?;
            let first = AsyncCockroachDBChatMessageHistory::with_engine(
                session(0),
                &engine,
                options.clone(),
            )?;
            runtime.block_on(first.message_count())?;
            let before = connections(&mut monitor)?;
            let mut tasks = Vec::new();
            for w in 0..config.watchers {
                let history = AsyncCockroachDBChatMessageHistory::with_engine(
                    session(w),
                    &engine,
                    options.clone(),
                )?;
                let mut watch = runtime.block_on(history.watch(WatchFrom::Now))?;
                let (sender, errors) = (sender.clone(), Arc::clone(&errors));
                tasks.push(runtime.spawn(async move {
                    loop {
                        let next = watch.next_timeout(Duration::from_secs(3600)).await;
                        if !note(w, next, &sender, &errors) {
                            break;
                        }
                    }
                }));
            }
            let close = move || -> Result<()> {
                runtime.block_on(async {
                    engine.close(Duration::from_secs(5)).await?;
                    for task in tasks {
                        task.await?;
                    }
                    Ok(())
                })
            };
            (before, into_close(close))
        }
        Face::Blocking => {
            let engine = CockroachDBEngine::with_options(&named, EngineOptions::default())?;
            let first =
                CockroachDBChatMessageHistory::with_engine(session(0), &engine, options.clone())?;
            first.message_count()?;
            let before = connections(&mut monitor)?;
            let mut threads = Vec::new();
            for w in 0..config.watchers {
                let history = CockroachDBChatMessageHistory::with_engine(
                    session(w),
                    &engine,
                    options.clone(),
                )?;
                let mut watch = history.watch(WatchFrom::Now)?;
                let (sender, errors) = (sender.clone(), Arc::clone(&errors));
                // A watch blocks its thread: small stacks for a thousand.
                threads.push(std::thread::Builder::new().stack_size(256 << 10).spawn(
                    move || {
                        while note(
                            w,
                            watch.next_timeout(Duration::from_secs(3600)),
                            &sender,
                            &errors,
                        ) {}
                    },
                )?);
            }
            let close = move || -> Result<()> {
                // Every watch ends, each waiting up to an hour: a watch
                // left waiting by `close` hangs the bench here.
                engine.close(Duration::from_secs(5))?;
                for thread in threads {
                    thread.join().map_err(|_| "a watcher panicked")?;
                }
                Ok(())
            };
            (before, into_close(close))
        }
    };
    drop(sender);

    // Idle: every watch waiting.
    std::thread::sleep(Duration::from_secs(1));
    let with_watchers = connections(&mut monitor)?;
    let idle_cpu = cpu_percent(|| std::thread::sleep(IDLE));

    // Written from another process.
    let mut writer = WriterProcess::spawn(url, table, &live, config.writer)?;
    let mut busy = Ok(Vec::new());
    let busy_cpu = cpu_percent(|| busy = writer.write());
    let committed = busy?;
    let expected = committed.len() * (if config.fan_out { config.watchers } else { 1 });
    // The foreign writer's last messages wait for the engine's next look.
    let grace = match config.writer {
        Writer::Crate => Duration::from_secs(5),
        Writer::Foreign => Duration::from_secs(12),
    };
    let until = Instant::now() + grace;
    let mut came_at = Vec::with_capacity(expected);
    while came_at.len() < expected {
        let left = until.saturating_duration_since(Instant::now());
        let Ok((_, n, at)) = came.recv_timeout(left) else {
            break;
        };
        if n < MESSAGES {
            came_at.push((n, at));
        }
    }
    close()?;
    let written = writer.finish(committed)?;
    let on_postgresql = !written.horizon.is_empty();
    let xids: Vec<(usize, i64)> = match on_postgresql {
        false => Vec::new(),
        true => monitor.query(
            &format!(
                "SELECT message->'data'->>'content', xmin::TEXT::BIGINT FROM {table} WHERE session_id = $1"
            ),
            &[&live],
        )?
        .iter()
        .filter_map(|row| Some((row.get::<_, String>(0).parse().ok()?, row.get(1))))
        .collect(),
    };
    let final_at = finality(&written.horizon, &xids);
    let ms = |from: SystemTime, to: SystemTime| {
        to.duration_since(from).unwrap_or_default().as_secs_f64() * 1e3
    };
    let mut latencies: Vec<f64> = came_at
        .iter()
        .map(|&(n, at)| ms(written.committed[n], at))
        .collect();
    let mut after_final: Vec<f64> = came_at
        .iter()
        .filter_map(|&(n, at)| Some(ms(final_at[n]?.max(written.committed[n]), at)))
        .collect();
    let held = on_postgresql.then(|| {
        (0..MESSAGES)
            .filter(|&n| {
                final_at[n].is_none_or(|f| {
                    f.duration_since(written.committed[n]).unwrap_or_default() > HELD
                })
            })
            .count()
    });
    latencies.sort_by(f64::total_cmp);
    after_final.sort_by(f64::total_cmp);
    Ok(Round {
        latencies,
        after_final,
        held,
        expected,
        idle_cpu,
        busy_cpu,
        connections: (before, with_watchers),
        errors: errors.load(Ordering::SeqCst),
    })
}

/// A face's way to close its watches, as one type.
fn into_close<'a>(close: impl FnOnce() -> Result<()> + 'a) -> Box<dyn FnOnce() -> Result<()> + 'a> {
    Box::new(close)
}

/// Sends a message event on to the test: `(watcher, its number, now)`.
/// False once the engine is closed.
fn note(
    w: usize,
    next: langchain_cockroachdb::Result<Option<WatchEvent>>,
    sender: &Sender<(usize, usize, SystemTime)>,
    errors: &AtomicUsize,
) -> bool {
    let now = SystemTime::now();
    match next {
        Ok(Some(WatchEvent::Message { entry, .. })) => {
            if let Ok(n) = entry.message.text().parse() {
                let _ = sender.send((w, n, now));
            }
            true
        }
        Ok(_) => true,
        Err(Error::Closed) => false,
        Err(_) => {
            errors.fetch_add(1, Ordering::SeqCst);
            true
        }
    }
}

/// `url` with `key=value` added to its query.
fn with_param(url: &str, key: &str, value: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{key}={value}")
}

/// The percent of one core this process used while `work` ran.
fn cpu_percent(work: impl FnOnce()) -> f64 {
    let (cpu, wall) = (cpu_seconds(), Instant::now());
    work();
    100.0 * (cpu_seconds() - cpu) / wall.elapsed().as_secs_f64()
}

/// The CPU time this process's threads have had so far, in seconds, to the
/// nanosecond (`/proc/self/stat` counts in 10 ms ticks): each thread's
/// `schedstat`. The watches' threads live through each measure, so that
/// none of its time is lost with a thread that ended.
fn cpu_seconds() -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return f64::NAN;
    };
    let nanos: u64 = tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    nanos as f64 / 1e9
}

/// `median (min–max)` of `xs`, with `digits` decimals; `-` if one is
/// unknown.
fn spread(xs: &[f64], digits: usize) -> String {
    if xs.iter().any(|x| x.is_nan()) {
        return "-".into();
    }
    let (min, max) = xs
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(*x), hi.max(*x)));
    format!(
        "{:.digits$} ({min:.digits$}–{max:.digits$})",
        median(xs.to_vec())
    )
}

/// The `q` quantile of sorted `xs`.
fn quantile(xs: &[f64], q: f64) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let at = ((xs.len() as f64 * q).ceil() as usize).clamp(1, xs.len()) - 1;
    xs[at]
}

/// The results, as a table or JSON lines.
pub(crate) fn print(measured: &[Measured], json: bool) {
    if !json {
        println!(
            "| face | watchers | watching the written session | writer | latency p50 ms | p99 ms | held back by other transactions | p99 after final, ms | delivered | idle CPU, % of a core | CPU while written to | connections: without watches → with | errors |"
        );
        println!("|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|");
    }
    for m in measured {
        let c = m.config;
        let per = |f: &dyn Fn(&Round) -> f64| m.rounds.iter().map(f).collect::<Vec<f64>>();
        let p50 = per(&|r| quantile(&r.latencies, 0.5));
        let p99 = per(&|r| quantile(&r.latencies, 0.99));
        let after_final = per(&|r| quantile(&r.after_final, 0.99));
        let held = m.rounds.iter().map(|r| r.held).sum::<Option<usize>>();
        let idle = per(&|r| r.idle_cpu);
        let busy = per(&|r| r.busy_cpu);
        let delivered: usize = m.rounds.iter().map(|r| r.latencies.len()).sum();
        let expected: usize = m.rounds.iter().map(|r| r.expected).sum();
        let errors: usize = m.rounds.iter().map(|r| r.errors).sum();
        let connections: Vec<String> = m
            .rounds
            .iter()
            .map(|r| format!("{} → {}", r.connections.0, r.connections.1))
            .collect();
        let (face, writer, watching) = (c.face(), c.writer(), c.watching());
        if json {
            println!(
                "{}",
                serde_json::json!({"workload": "watch", "face": face, "watchers": c.watchers,
                    "watching_written_session": watching, "writer": writer, "p50_ms": p50, "p99_ms": p99,
                    "held_back": held, "messages": m.rounds.len() * MESSAGES, "p99_after_final_ms": after_final,
                    "delivered": delivered, "expected": expected, "idle_cpu_percent": idle,
                    "busy_cpu_percent": busy, "connections": connections, "errors": errors})
            );
            continue;
        }
        println!(
            "| {face} | {} | {watching} | {writer} | {} | {} | {} of {} | {} | {delivered} of {expected} | {} | {} | {} | {errors} |",
            c.watchers,
            spread(&p50, 1),
            spread(&p99, 1),
            held.map_or("-".into(), |n| n.to_string()),
            m.rounds.len() * MESSAGES,
            spread(&after_final, 1),
            spread(&idle, 2),
            spread(&busy, 1),
            connections_unique(&connections).join(", "),
        );
    }
}

/// Each distinct reading once, in order.
fn connections_unique(readings: &[String]) -> Vec<String> {
    let mut unique: Vec<String> = Vec::new();
    for reading in readings {
        if !unique.contains(reading) {
            unique.push(reading.clone());
        }
    }
    unique
}
