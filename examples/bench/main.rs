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
//! cargo run --release --example bench -- --watch      # live conversations, only
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
mod concurrent;
mod floor;
mod hot;
mod measure;
mod report;
mod scale;
mod throughput;
mod watch;
mod watch_writer;

use langchain_cockroachdb::HistoryOptions;
use langchain_cockroachdb::blocking::CockroachDBEngine;
use uuid::Uuid;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Result<T> = std::result::Result<T, BoxError>;

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
      --watch [ROUNDS]
                      only live conversations: latency from a commit in
                      another process to a watcher, CPU and connections
                      with 1, 100 and 1,000 watchers (3 rounds if not given)
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
    /// The rounds of the watch workload, if that is asked for.
    watch: Option<usize>,
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
                "--watch" => {
                    let rounds = match args.next_if(|a| !a.starts_with('-')) {
                        None => 3,
                        Some(a) => match a.parse() {
                            Ok(rounds @ 1..=100) => rounds,
                            _ => {
                                return Err(format!(
                                    "--watch takes the number of rounds, 1 to 100, not {a:?}"
                                ));
                            }
                        },
                    };
                    parsed.watch = Some(rounds);
                }
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
        if parsed.watch.is_some() && (parsed.hot || parsed.scale.is_some() || parsed.plot.is_some())
        {
            return Err("--watch goes with --json only".into());
        }
        Ok(parsed)
    }
}

fn main() -> Result<()> {
    // This program again, as the watch workload's writer.
    if let Ok(spec) = std::env::var(watch_writer::WRITER) {
        return watch_writer::write(&spec);
    }
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
    if let Some(rounds) = args.watch {
        let engine = CockroachDBEngine::from_connection_string(&url)?;
        engine.create_tables(&options)?;
        let measured = watch::run(&url, &table, rounds);
        engine.drop_tables(&options)?;
        watch::print(&measured?, json);
        return Ok(());
    }
    if args.hot {
        let engine = CockroachDBEngine::from_connection_string(&url)?;
        engine.create_tables(&options)?;
        let measured = hot::run(&url, &table);
        engine.drop_tables(&options)?;
        let (hot, mixed) = measured?;
        report::hot(&hot, &mixed, json);
        return Ok(());
    }
    throughput::run(&url, &table, &options, json, plot)
}
