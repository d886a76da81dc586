//! Throughput of the crate against the raw driver doing the same work on the
//! same server, in one run, and the process's memory.
//!
//! ```text
//! cargo run --release --example bench               # a table
//! cargo run --release --example bench -- --json     # one JSON object per workload
//! cargo run --release --example bench -- --plot docs/bench-concurrency.svg
//! cargo run --release --example bench -- --scale      # the scale curve, 10^4 to 10^6 rows
//! cargo run --release --example bench -- --scale 7 --plot docs/bench-scale.svg
//!
//! cargo run --release --example bench -- --hot        # many writers, one session, only
//! cargo run --release --example bench -- --help       # the options; nothing is run
//! ```
//!
//! An argument it does not know is refused (exit status 2), before anything
//! runs.
//!
//! Each workload is cut in `SLICES` slices run by crate and baseline in
//! turns (so drift of this noisy machine hits both alike), the whole
//! repeated `REPS` times; the median rate of each side is reported, and
//! every ratio is the median of the rounds' ratios with their min–max
//! beside it, so that one noisy round can neither make nor miss a target.

mod chart;
mod hot;
mod scale;

use chart::Series;
use std::time::{Duration, Instant};
use tokio_postgres::types::Type;

use langchain_cockroachdb::blocking::{CockroachDBChatMessageHistory, CockroachDBEngine};
use langchain_cockroachdb::nonblocking::{
    AsyncCockroachDBChatMessageHistory, AsyncCockroachDBEngine,
};
use langchain_cockroachdb::{EngineOptions, HistoryOptions, Message};
use postgres::{Client, NoTls};
use serde_json::Value;
use uuid::Uuid;

const REPS: usize = 5;
const SLICES: usize = 10;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Result<T> = std::result::Result<T, BoxError>;

struct Outcome {
    name: &'static str,
    ops: usize,
    crate_ops_per_s: f64,
    raw_ops_per_s: f64,
    /// The same statements through pgbench, where it is installed.
    floor_ops_per_s: Option<f64>,
    target: f64,
    /// Crate over raw, round by round.
    ratios: Vec<f64>,
}

impl Outcome {
    /// The median of the rounds' ratios.
    fn ratio(&self) -> f64 {
        median(self.ratios.clone())
    }
}

/// `median (min–max)` of `xs`.
fn spread(xs: &[f64]) -> String {
    let (min, max) = xs
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(*x), hi.max(*x)));
    format!("{:.3} ({min:.3}–{max:.3})", median(xs.to_vec()))
}

/// Ratio by ratio, `a[i] / b[i]`.
fn ratios(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(a, b)| a / b).collect()
}

/// Slice number `slice` of `SLICES` of `items`.
fn slice_of<T>(items: &[T], slice: usize) -> &[T] {
    let size = items.len() / SLICES;
    &items[slice * size..(slice + 1) * size]
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Runs `raw` and `ours` on slice after slice, in turns, `REPS` times,
/// and returns their median rates for `ops` operations per run. Each call
/// gets `(rep, slice)` and does `ops / SLICES` operations.
fn compare(
    name: &'static str,
    ops: usize,
    target: f64,
    mut raw: impl FnMut(usize, usize) -> Result<()>,
    mut ours: impl FnMut(usize, usize) -> Result<()>,
) -> Result<Outcome> {
    let (mut raw_rates, mut our_rates) = (Vec::new(), Vec::new());
    for rep in 0..REPS {
        let (mut raw_time, mut our_time) = (Duration::ZERO, Duration::ZERO);
        for slice in 0..SLICES {
            // Whichever side runs second after a switch runs faster on
            // this machine (see docs/BENCHMARKS.md), so they take turns.
            let raw_first = (rep + slice) % 2 == 0;
            if raw_first {
                raw_time += timed(|| raw(rep, slice))?;
            }
            our_time += timed(|| ours(rep, slice))?;
            if !raw_first {
                raw_time += timed(|| raw(rep, slice))?;
            }
        }
        raw_rates.push(ops as f64 / raw_time.as_secs_f64());
        our_rates.push(ops as f64 / our_time.as_secs_f64());
    }
    Ok(Outcome {
        name,
        ops,
        ratios: ratios(&our_rates, &raw_rates),
        crate_ops_per_s: median(our_rates),
        raw_ops_per_s: median(raw_rates),
        floor_ops_per_s: None,
        target,
    })
}

/// How long `run` took.
fn timed(run: impl FnOnce() -> Result<()>) -> Result<Duration> {
    let started = Instant::now();
    run()?;
    Ok(started.elapsed())
}

/// The rate of `script` (one SQL statement) through `pgbench -M prepared`
/// with `clients` connections, `transactions` in all: the floor, what the
/// server and libpq do with the same statements. `None` where pgbench is
/// not installed.
fn pgbench(url: &str, script: &str, clients: usize, transactions: usize) -> Result<Option<f64>> {
    let path = std::env::temp_dir().join(format!("bench-{}.sql", Uuid::new_v4().simple()));
    std::fs::write(&path, format!("{script};\n"))?;
    let run = std::process::Command::new("pgbench")
        .args(["-n", "-M", "prepared", "-c", &clients.to_string()])
        .args(["-j", &clients.min(2).to_string()])
        .args(["-t", &(transactions / clients).to_string(), "-f"])
        .arg(&path)
        .arg(url)
        .output();
    std::fs::remove_file(&path)?;
    let output = match run {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        other => other?,
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let tps = stdout
        .lines()
        .find_map(|line| line.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok());
    match tps {
        Some(tps) => Ok(Some(tps)),
        None => Err(format!(
            "pgbench failed: {}{}",
            stdout,
            String::from_utf8_lossy(&output.stderr)
        )
        .into()),
    }
}

/// `sql` with its parameters written in as SQL text, for pgbench.
fn inline(sql: &str, table: &str, params: &[&str]) -> String {
    let mut out = sql.replace("{t}", table);
    for (i, param) in params.iter().enumerate().rev() {
        out = out.replace(&format!("${}", i + 1), param);
    }
    out
}

/// A message as a SQL string literal, its colons escaped: pgbench would
/// take `:false` for a variable.
fn literal(message: &Message) -> Result<String> {
    let json = serde_json::to_string(message)?
        .replace('\\', "\\\\")
        .replace('\'', "\\'")
        .replace(':', "\\x3a");
    Ok(format!("E'{json}'"))
}

/// About 200 characters, human and ai alternating.
fn message(i: usize) -> Message {
    let text = format!(
        "Message {i:05}: {}",
        "the quick brown fox jumps over the lazy dog; ".repeat(4)
    );
    let text: String = text.chars().take(200).collect();
    if i.is_multiple_of(2) {
        Message::human(text)
    } else {
        Message::ai(text)
    }
}

/// What `/proc/self/status` says of the process's memory, in MiB.
fn memory_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// A JSONB column's bytes, so the baseline parses with `serde_json::from_slice`
/// as the crate does (the driver's own `serde_json::Value` reads through
/// `io::Read`, which is slower and would flatter the crate).
struct JsonbBytes<'a>(&'a [u8]);

impl<'a> postgres::types::FromSql<'a> for JsonbBytes<'a> {
    fn from_sql(
        _: &Type,
        raw: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(JsonbBytes(raw.get(1..).unwrap_or_default()))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB
    }
}

fn parse_rows(rows: &[postgres::Row]) -> Result<Vec<Value>> {
    Ok(rows
        .iter()
        .map(|r| serde_json::from_slice(r.get::<_, JsonbBytes<'_>>(1).0))
        .collect::<std::result::Result<_, _>>()?)
}

/// The same guarantee as the crate's insert: a message lands just after the
/// session's newest one, never before it, and a retry writes nothing twice.
const INSERT: &str = "INSERT INTO {t} (id, session_id, message, created_at)
VALUES ($1, $2, $3::TEXT::JSONB, GREATEST(now(), COALESCE((SELECT max(created_at) FROM {t}
    WHERE session_id = $2::TEXT) + INTERVAL '1 microsecond', now())))
ON CONFLICT (id) DO NOTHING";
/// The same guarantee for a batch, each row one microsecond after the last.
const INSERT_BATCH: &str = "INSERT INTO {t} (id, session_id, message, created_at)
SELECT m.id, $1, m.message::JSONB, GREATEST(now(), COALESCE((SELECT max(created_at) FROM {t}
    WHERE session_id = $1::TEXT) + INTERVAL '1 microsecond', now())) + (m.ord - 1) * INTERVAL '1 microsecond'
FROM unnest($2::UUID[], $3::TEXT[]) WITH ORDINALITY AS m (id, message, ord)
ON CONFLICT (id) DO NOTHING";
/// Without the ordering guard, for information: what order costs.
const INSERT_UNGUARDED: &str =
    "INSERT INTO {t} (id, session_id, message, created_at) VALUES ($1, $2, $3::TEXT::JSONB, now())";
const SELECT_ALL: &str =
    "SELECT id, message FROM {t} WHERE session_id = $1 ORDER BY created_at, id";
const SELECT_LAST: &str = "SELECT id, message, created_at FROM (SELECT id, message, created_at FROM {t} WHERE session_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2) AS n ORDER BY created_at, id";

const USAGE: &str = "\
Throughput of langchain-cockroachdb against the raw driver doing the same work
on the same server, and the process's memory.

Usage: cargo run --release --example bench -- [OPTIONS]

Options:
      --json          one JSON object per workload instead of a table
      --plot <FILE>   also write the concurrency chart (with --scale, the
                      scale curve) to FILE, as SVG
      --scale [MAX]   only the scale curve, 10^4 rows to 10^MAX (MAX from 4
                      to 8; 6 if not given)
      --hot           only many writers on one session
  -h, --help          print this and exit

The server is LANGCHAIN_COCKROACHDB_URL's, by default the local test server
postgresql://root@127.0.0.1:5432/test?sslmode=disable. Each run makes tables of
its own (bench_...) and drops them at the end.
";

/// What the command line asks for.
#[derive(Default)]
struct Args {
    json: bool,
    plot: Option<String>,
    /// The largest power of ten of the scale curve, if that is asked for.
    scale: Option<u32>,
    hot: bool,
    help: bool,
}

impl Args {
    /// The arguments after the program's name, or what is wrong with them.
    fn parse(args: impl IntoIterator<Item = String>) -> std::result::Result<Args, String> {
        let mut parsed = Args::default();
        let mut args = args.into_iter().peekable();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "-h" | "--help" => parsed.help = true,
                "--json" => parsed.json = true,
                "--hot" => parsed.hot = true,
                "--plot" => match args.next() {
                    Some(path) if !path.starts_with('-') => parsed.plot = Some(path),
                    _ => return Err("--plot needs a file to write the chart to".into()),
                },
                // Up to 10^6 rows unless told: 10^7 takes many minutes.
                "--scale" => {
                    let max = match args.next_if(|a| !a.starts_with('-')) {
                        None => 6,
                        Some(a) => match a.parse() {
                            Ok(max @ 4..=8) => max,
                            _ => {
                                return Err(format!(
                                    "--scale takes the largest power of ten, 4 to 8, not {a:?}"
                                ));
                            }
                        },
                    };
                    parsed.scale = Some(max);
                }
                _ => return Err(format!("unknown argument {arg:?}")),
            }
        }
        if parsed.scale.is_some() && (parsed.hot || parsed.json) {
            return Err("--scale goes with --plot only, not with --hot or --json".into());
        }
        if parsed.hot && parsed.plot.is_some() {
            return Err("--hot draws no chart: it does not go with --plot".into());
        }
        Ok(parsed)
    }
}

fn main() -> Result<()> {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(args) if args.help => {
            print!("{USAGE}");
            return Ok(());
        }
        Ok(args) => args,
        Err(problem) => {
            eprintln!("bench: {problem}\nTry `cargo run --example bench -- --help`.");
            std::process::exit(2);
        }
    };
    let (json, plot) = (args.json, args.plot);
    let url = std::env::var("LANGCHAIN_COCKROACHDB_URL")
        .unwrap_or_else(|_| "postgresql://root@127.0.0.1:5432/test?sslmode=disable".into());
    if let Some(max) = args.scale {
        return scale::run(&url, max, plot.as_deref());
    }

    let table = format!("bench_{}", &Uuid::new_v4().simple().to_string()[..8]);
    let options = HistoryOptions::default().table_name(&table);
    if args.hot {
        let engine = CockroachDBEngine::from_connection_string(&url)?;
        engine.create_tables(&options)?;
        let measured = hot::run(&url, &table);
        engine.drop_tables(&options)?;
        let (hot, mixed) = measured?;
        print_hot(&hot, &mixed, json);
        return Ok(());
    }
    let sql = |s: &str| s.replace("{t}", &table);
    let mut raw = Client::connect(&url, NoTls)?;
    let engine = CockroachDBEngine::with_options(&url, EngineOptions::default().pool_size(1))?;
    engine.create_tables(&options)?;

    let mut outcomes = Vec::new();

    // seq_add: one message per call, against the same guarantee; then the
    // same against an INSERT without the ordering guard, for information:
    // what keeping order costs (no target).
    let insert = raw.prepare(&sql(INSERT))?;
    let unguarded = raw.prepare(&sql(INSERT_UNGUARDED))?;
    let messages: Vec<Message> = (0..2000).map(message).collect();
    let one = literal(&messages[0])?;
    for (name, target, statement, text) in [
        ("seq_add", 0.95, &insert, INSERT),
        ("seq_add_vs_guard_free", 0.0, &unguarded, INSERT_UNGUARDED),
    ] {
        let floor = inline(text, &table, &["gen_random_uuid()", "'pgbench-seq'", &one]);
        let mut outcome = compare(
            name,
            2000,
            target,
            |rep, slice| {
                let s = format!("raw-{name}-{rep}");
                for m in slice_of(&messages, slice) {
                    raw.execute(
                        statement,
                        &[&Uuid::new_v4(), &s, &serde_json::to_string(m)?],
                    )?;
                }
                Ok(())
            },
            |rep, slice| {
                let history = CockroachDBChatMessageHistory::with_engine(
                    format!("{name}-{rep}"),
                    &engine,
                    options.clone(),
                )?;
                for m in slice_of(&messages, slice) {
                    history.add_message(m)?;
                }
                Ok(())
            },
        )?;
        outcome.floor_ops_per_s = pgbench(&url, &floor, 1, 2000)?;
        outcomes.push(outcome);
    }

    // batch_add: ten messages per call.
    let insert10 = raw.prepare(&sql(INSERT_BATCH))?;
    let batches: Vec<Vec<Message>> = (0..200)
        .map(|b| (0..10).map(|i| message(b * 10 + i)).collect())
        .collect();
    let ten = batches[0].iter().map(literal).collect::<Result<Vec<_>>>()?;
    let floor = inline(
        INSERT_BATCH,
        &table,
        &[
            "'pgbench-batch'",
            &format!("ARRAY[{}]", ["gen_random_uuid()"; 10].join(", ")),
            &format!("ARRAY[{}]", ten.join(", ")),
        ],
    );
    let mut outcome = compare(
        "batch_add",
        200,
        0.95,
        |rep, slice| {
            let s = format!("raw-batch-{rep}");
            for batch in slice_of(&batches, slice) {
                let ids: Vec<Uuid> = batch.iter().map(|_| Uuid::new_v4()).collect();
                let texts: Vec<String> = batch
                    .iter()
                    .map(serde_json::to_string)
                    .collect::<std::result::Result<_, _>>()?;
                raw.execute(&insert10, &[&s, &ids, &texts])?;
            }
            Ok(())
        },
        |rep, slice| {
            let history = CockroachDBChatMessageHistory::with_engine(
                format!("batch-{rep}"),
                &engine,
                options.clone(),
            )?;
            for batch in slice_of(&batches, slice) {
                history.add_messages(batch)?;
            }
            Ok(())
        },
    )?;
    outcome.floor_ops_per_s = pgbench(&url, &floor, 1, 200)?;
    outcomes.push(outcome);

    // read_all: a 1,000-message session, read whole.
    let reader = CockroachDBChatMessageHistory::with_engine("read-all", &engine, options.clone())?;
    for chunk in messages[..1000].chunks(100) {
        reader.add_messages(chunk)?;
    }
    let select_all = raw.prepare(&sql(SELECT_ALL))?;
    let mut outcome = compare(
        "read_all",
        50,
        0.95,
        |_, _| {
            for _ in 0..50 / SLICES {
                let rows = raw.query(&select_all, &[&"read-all"])?;
                assert_eq!(parse_rows(&rows)?.len(), 1000);
            }
            Ok(())
        },
        |_, _| {
            for _ in 0..50 / SLICES {
                assert_eq!(reader.messages()?.len(), 1000);
            }
            Ok(())
        },
    )?;
    let floor = inline(SELECT_ALL, &table, &["'read-all'"]);
    outcome.floor_ops_per_s = pgbench(&url, &floor, 1, 50)?;
    outcomes.push(outcome);

    // read_last_10: 100,000 rows over 1,000 sessions.
    raw.batch_execute(&sql(
        "INSERT INTO {t} (session_id, message, created_at)
         SELECT 'many-' || (g % 1000), jsonb_build_object('type', 'human', 'data', jsonb_build_object('content', repeat('x', 180) || g)),
                now() - interval '1 hour' + g * interval '1 millisecond'
         FROM generate_series(1, 100000) AS g;
         ANALYZE {t};",
    ))?;
    let last_reader =
        CockroachDBChatMessageHistory::with_engine("many-417", &engine, options.clone())?;
    let select_last = raw.prepare(&sql(SELECT_LAST))?;
    let mut outcome = compare(
        "read_last_10",
        500,
        0.95,
        |_, _| {
            for _ in 0..500 / SLICES {
                let rows = raw.query(&select_last, &[&"many-417", &10i64])?;
                assert_eq!(parse_rows(&rows)?.len(), 10);
            }
            Ok(())
        },
        |_, _| {
            for _ in 0..500 / SLICES {
                assert_eq!(last_reader.last_messages(10)?.len(), 10);
            }
            Ok(())
        },
    )?;
    let floor = inline(SELECT_LAST, &table, &["'many-417'", "10"]);
    outcome.floor_ops_per_s = pgbench(&url, &floor, 1, 500)?;
    outcomes.push(outcome);

    // async_concurrent, and the same at 1, 4, 16, 64 tasks for the plot.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut curve = Vec::new();
    for tasks in [1usize, 4, 16, 64] {
        let per_task = if tasks == 64 { 50 } else { 3200 / tasks };
        let mut outcome = runtime.block_on(concurrent(&url, &options, &table, tasks, per_task))?;
        curve.push((tasks, outcome.crate_ops_per_s, outcome.raw_ops_per_s));
        if tasks == 64 {
            let session = "('pgbench-async-' || :client_id)";
            let floor = inline(INSERT, &table, &["gen_random_uuid()", session, &one]);
            // As many connections as the pool has: 64 backends on this
            // machine's two cores would measure their contention instead.
            outcome.floor_ops_per_s = pgbench(&url, &floor, 16, 3200)?;
            outcomes.push(outcome);
        }
    }
    drop(runtime);

    // Paging memory: walk a 100,000-message session page by page.
    raw.batch_execute(&sql(
        "INSERT INTO {t} (session_id, message, created_at)
         SELECT 'long', jsonb_build_object('type', 'human', 'data', jsonb_build_object('content', repeat('y', 180) || g)),
                now() - interval '1 hour' + g * interval '1 millisecond'
         FROM generate_series(1, 100000) AS g",
    ))?;
    let long = CockroachDBChatMessageHistory::with_engine("long", &engine, options.clone())?;
    let page = long.messages_page(None, 500)?;
    let rss_first_page = memory_mib("VmRSS:");
    let (mut walked, mut rss_max, mut cursor) = (page.entries.len(), rss_first_page, page.next);
    while let Some(next) = cursor {
        let page = long.messages_page(Some(&next), 500)?;
        walked += page.entries.len();
        rss_max = rss_max.max(memory_mib("VmRSS:"));
        cursor = page.next;
    }
    assert_eq!(walked, 100_000);
    let peak = memory_mib("VmHWM:");

    let (hot, mixed) = hot::run(&url, &table)?;

    engine.drop_tables(&options)?;

    if json {
        for o in &outcomes {
            println!(
                "{}",
                serde_json::json!({"workload": o.name, "ops": o.ops, "crate_ops_per_s": o.crate_ops_per_s,
                    "raw_ops_per_s": o.raw_ops_per_s, "floor_ops_per_s": o.floor_ops_per_s, "ratio": o.ratio(),
                    "ratios": o.ratios, "target": o.target, "met": o.ratio() >= o.target})
            );
        }
        println!(
            "{}",
            serde_json::json!({"workload": "memory", "peak_rss_mib": peak,
            "paging_100k_rss_growth_mib": rss_max - rss_first_page})
        );
        for (tasks, ours, raw) in &curve {
            println!(
                "{}",
                serde_json::json!({"workload": "async_curve", "tasks": tasks, "crate_ops_per_s": ours, "raw_ops_per_s": raw})
            );
        }
    } else {
        println!(
            "| workload | ops per run | crate ops/s | raw ops/s | ratio | target | pgbench floor ops/s | crate / floor |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|---:|");
        for o in &outcomes {
            let mark = if o.target == 0.0 {
                "for information"
            } else if o.ratio() >= o.target {
                "met"
            } else {
                "MISSED"
            };
            let (floor, of_floor) = match o.floor_ops_per_s {
                Some(floor) => (
                    format!("{floor:.0}"),
                    format!("{:.3}", o.crate_ops_per_s / floor),
                ),
                None => ("no pgbench".into(), "-".into()),
            };
            println!(
                "| {} | {} | {:.0} | {:.0} | {} | {:.2} ({mark}) | {floor} | {of_floor} |",
                o.name,
                o.ops,
                o.crate_ops_per_s,
                o.raw_ops_per_s,
                spread(&o.ratios),
                o.target
            );
        }
        println!("\nasync face, inserts/s by concurrent tasks (pool of 16):");
        println!("| tasks | crate | raw bb8 | ratio |\n|---:|---:|---:|---:|");
        for (tasks, ours, raw) in &curve {
            println!("| {tasks} | {ours:.0} | {raw:.0} | {:.3} |", ours / raw);
        }
        println!("\npeak RSS of this process: {peak:.1} MiB (target < 30)");
        println!(
            "paging a 100,000-message session in pages of 500: RSS grew {:.1} MiB after the first page",
            rss_max - rss_first_page
        );
    }
    print_hot(&hot, &mixed, json);
    if let Some(path) = plot {
        let series = |name: &str, color, dashed, pick: fn(&(usize, f64, f64)) -> f64| Series {
            name: name.into(),
            color,
            dashed,
            values: curve.iter().map(|c| Some(pick(c))).collect(),
        };
        let chart = chart::svg(
            "Async face: inserts per second by concurrent tasks (pool of 16)",
            &curve.iter().map(|c| c.0.to_string()).collect::<Vec<_>>(),
            "concurrent tasks",
            "inserts per second",
            &[
                series(
                    "crate (AsyncCockroachDBChatMessageHistory)",
                    "#1565c0",
                    false,
                    |c| c.1,
                ),
                series("raw tokio-postgres over bb8", "#888", true, |c| c.2),
            ],
            false,
        );
        std::fs::write(&path, chart)?;
        eprintln!("plot written to {path}");
    }
    Ok(())
}

/// The many-writers workloads, as a table or JSON lines.
fn print_hot(hot: &[hot::Hot], mixed: &[hot::Mixed], json: bool) {
    if json {
        for h in hot {
            println!(
                "{}",
                serde_json::json!({"workload": "one_session_vs_spread", "face": h.face, "isolation": h.isolation,
                    "hot_msgs_per_s": h.hot, "spread_msgs_per_s": h.spread, "ratios": ratios(&h.hot, &h.spread),
                    "ratio": median(ratios(&h.hot, &h.spread)), "target": 0.8,
                    "failed_hot": h.failed_hot, "failed_spread": h.failed_spread, "order_kept": h.order_kept})
            );
        }
        for m in mixed {
            println!(
                "{}",
                serde_json::json!({"workload": "mixed_64_writers_4_sessions", "face": m.face, "calls": m.calls,
                    "failed": m.failed, "order_kept": m.order_kept})
            );
        }
        return;
    }
    println!(
        "\n{} writers into one session against the same writers over as many sessions, {} rounds each:",
        16,
        hot::ROUNDS
    );
    println!(
        "| face | isolation | one session msgs/s | spread msgs/s | one / spread (target 0.8) | failed calls (one, spread) | order per writer |"
    );
    println!("|---|---|---:|---:|---|---:|---|");
    for h in hot {
        let ratio = ratios(&h.hot, &h.spread);
        let mark = if median(ratio.clone()) >= 0.8 {
            "met"
        } else {
            "MISSED"
        };
        println!(
            "| {} | {} | {:.0} | {:.0} | {} {mark} | {} of {n}, {} of {n} | {} |",
            h.face,
            h.isolation,
            median(h.hot.clone()),
            median(h.spread.clone()),
            spread(&ratio),
            h.failed_hot,
            h.failed_spread,
            if h.order_kept { "kept" } else { "BROKEN" },
            n = hot::ROUNDS * 16 * 200
        );
    }
    println!("\n64 writers into 4 sessions with clear/delete_last workers, SERIALIZABLE:");
    println!("| face | calls | failed | order per writer |\n|---|---:|---:|---|");
    for m in mixed {
        println!(
            "| {} | {} | {} ({:.2} %) | {} |",
            m.face,
            m.calls,
            m.failed,
            100.0 * m.failed as f64 / m.calls as f64,
            if m.order_kept { "kept" } else { "BROKEN" }
        );
    }
}

/// `tasks` tasks, each its own session, adding `per_task` messages one at a
/// time, over a pool of 16: the crate's async face, then raw bb8.
async fn concurrent(
    url: &str,
    options: &HistoryOptions,
    table: &str,
    tasks: usize,
    per_task: usize,
) -> Result<Outcome> {
    let engine = AsyncCockroachDBEngine::with_options(url, EngineOptions::default().pool_size(16))?;
    let manager = Prepared {
        inner: bb8_postgres::PostgresConnectionManager::new_from_stringlike(
            url,
            tokio_postgres::NoTls,
        )?,
        insert: INSERT.replace("{t}", table),
    };
    let pool = bb8::Pool::builder()
        .max_size(16)
        .test_on_check_out(false)
        .build(manager)
        .await?;
    let (mut raw_rates, mut our_rates) = (Vec::new(), Vec::new());
    let ops = tasks * per_task;
    for rep in 0..REPS {
        // Raw: the same INSERT, prepared once per pooled connection.
        let raw = async {
            let started = Instant::now();
            let mut handles = Vec::new();
            for t in 0..tasks {
                let pool = pool.clone();
                handles.push(tokio::spawn(async move {
                    let session = format!("raw-async-{rep}-{t}-{tasks}");
                    for i in 0..per_task {
                        let text = serde_json::to_string(&message(i)).map_err(|e| e.to_string())?;
                        let conn = pool.get().await.map_err(|e| e.to_string())?;
                        let (client, insert) = &*conn;
                        client
                            .execute(insert, &[&Uuid::new_v4(), &session, &text])
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                    Ok::<(), String>(())
                }));
            }
            for h in handles {
                h.await?.map_err(|e| e.to_string())?;
            }
            Ok::<f64, Box<dyn std::error::Error + Send + Sync>>(
                ops as f64 / started.elapsed().as_secs_f64(),
            )
        };
        let ours = async {
            let started = Instant::now();
            let mut handles = Vec::new();
            for t in 0..tasks {
                let history = AsyncCockroachDBChatMessageHistory::with_engine(
                    format!("async-{rep}-{t}-{tasks}"),
                    &engine,
                    options.clone(),
                )?;
                handles.push(tokio::spawn(async move {
                    for i in 0..per_task {
                        history.add_message(&message(i)).await?;
                    }
                    Ok::<(), langchain_cockroachdb::Error>(())
                }));
            }
            for h in handles {
                h.await??;
            }
            Ok::<f64, Box<dyn std::error::Error + Send + Sync>>(
                ops as f64 / started.elapsed().as_secs_f64(),
            )
        };
        // Taking turns, as `compare` does.
        if rep % 2 == 0 {
            raw_rates.push(raw.await?);
            our_rates.push(ours.await?);
        } else {
            our_rates.push(ours.await?);
            raw_rates.push(raw.await?);
        }
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
    Ok(Outcome {
        name: "async_concurrent",
        ops,
        ratios: ratios(&our_rates, &raw_rates),
        crate_ops_per_s: median(our_rates),
        raw_ops_per_s: median(raw_rates),
        floor_ops_per_s: None,
        target: 0.95,
    })
}

/// bb8's manager for tokio-postgres, with the INSERT prepared once per
/// connection, as the crate does: the baseline a careful user writes.
struct Prepared {
    inner: bb8_postgres::PostgresConnectionManager<tokio_postgres::NoTls>,
    insert: String,
}

impl bb8::ManageConnection for Prepared {
    type Connection = (tokio_postgres::Client, tokio_postgres::Statement);
    type Error = tokio_postgres::Error;

    async fn connect(&self) -> std::result::Result<Self::Connection, Self::Error> {
        let client = self.inner.connect().await?;
        let insert = client.prepare(&self.insert).await?;
        Ok((client, insert))
    }

    async fn is_valid(&self, conn: &mut Self::Connection) -> std::result::Result<(), Self::Error> {
        self.inner.is_valid(&mut conn.0).await
    }

    fn has_broken(&self, conn: &mut Self::Connection) -> bool {
        conn.0.is_closed()
    }
}
