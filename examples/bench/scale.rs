//! The scale curve: what the operations that could grow with the table cost
//! at 10⁴ to 10⁷ rows, with and without the activity index.
//!
//! Each table holds conversations of 100 messages, one every second, the
//! sessions spread over the last 29 days, and one session in a hundred
//! idle for 40 days or more. The cleanups are timed twice: with a cutoff
//! older than every row (nothing to delete: what a daily job mostly sees),
//! then deleting the idle sessions' rows.

use std::time::{Duration, Instant};

use langchain_cockroachdb::blocking::{CockroachDBChatMessageHistory, CockroachDBEngine};
use langchain_cockroachdb::{HistoryOptions, SessionFilter};
use postgres::{Client, NoTls};
use uuid::Uuid;

use crate::Result;
use crate::chart::{self, Series};

const DAY: Duration = Duration::from_secs(24 * 3600);

/// What one table of one size measured, in milliseconds.
struct Point {
    rows: u64,
    activity_index: bool,
    list_newest_50: f64,
    idle_nothing: f64,
    old_nothing: f64,
    last_10: f64,
    /// Time and rows deleted.
    old_cleanup: (f64, u64),
    idle_cleanup: (f64, u64),
}

/// The median of `runs` timings of `op`, in milliseconds.
fn median_ms<T>(runs: usize, mut op: impl FnMut() -> Result<T>) -> Result<f64> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        op()?;
        times.push(started.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// `rows` messages in `{t}`, loaded on the server a million at a time.
fn load(raw: &mut Client, table: &str, rows: u64) -> Result<()> {
    let sessions = rows / 100;
    let mut from = 0;
    while from < rows {
        let to = (from + 1_000_000).min(rows) - 1;
        raw.batch_execute(&format!(
            "INSERT INTO {table} (session_id, message, created_at)
             SELECT 'user-' || (g / 100),
                    jsonb_build_object('type', CASE WHEN g % 2 = 0 THEN 'human' ELSE 'ai' END,
                        'data', jsonb_build_object('content', 'message ' || g || ' of a conversation about the weather')),
                    now() - interval '1 hour'
                        - ({sessions} - g / 100)::FLOAT8 / {sessions} * interval '29 days'
                        + (g % 100) * interval '1 second'
                        - CASE WHEN (g / 100) % 100 = 7 THEN interval '40 days' ELSE interval '0' END
             FROM generate_series({from}, {to}) AS g"
        ))?;
        from = to + 1;
    }
    raw.batch_execute(&format!("ANALYZE {table}"))?;
    Ok(())
}

fn measure(url: &str, raw: &mut Client, rows: u64, activity_index: bool) -> Result<Point> {
    let table = format!("bench_scale_{}", &Uuid::new_v4().simple().to_string()[..8]);
    let options = HistoryOptions::default()
        .table_name(&table)
        .activity_index(activity_index)
        .delete_batch_size(1000);
    let engine = CockroachDBEngine::from_connection_string(url)?;
    engine.create_tables(&options)?;
    let measured = (|| {
        load(raw, &table, rows)?;
        let newest = SessionFilter::default().limit(50);
        let list_newest_50 = median_ms(9, || {
            let listed = engine.list_sessions(&options, &newest)?;
            assert_eq!(listed.len(), 50);
            Ok(())
        })?;
        let nothing = |op: &dyn Fn() -> Result<u64>| {
            median_ms(3, || {
                assert_eq!(
                    op()?,
                    0,
                    "deleted something with a cutoff older than every row"
                );
                Ok(())
            })
        };
        let idle_nothing = nothing(&|| Ok(engine.delete_sessions_idle_since(&options, 90 * DAY)?))?;
        let old_nothing = nothing(&|| Ok(engine.delete_messages_older_than(&options, 90 * DAY)?))?;
        let sessions = rows / 100;
        let mut i = 0u64;
        let last_10 = median_ms(51, || {
            i += 1;
            let session = format!("user-{}", (i * 7919) % sessions);
            let history =
                CockroachDBChatMessageHistory::with_engine(session, &engine, options.clone())?;
            assert_eq!(history.last_messages(10)?.len(), 10);
            Ok(())
        })?;
        let timed = |op: &dyn Fn() -> Result<u64>| {
            let started = Instant::now();
            let deleted = op()?;
            Ok::<_, crate::BoxError>((started.elapsed().as_secs_f64() * 1e3, deleted))
        };
        // The idle sessions' rows from 50 to 69 days old, then the rest of
        // those sessions (all of their rows are over 40 days old).
        let old_cleanup = timed(&|| Ok(engine.delete_messages_older_than(&options, 50 * DAY)?))?;
        let idle_cleanup = timed(&|| Ok(engine.delete_sessions_idle_since(&options, 30 * DAY)?))?;
        assert_eq!(old_cleanup.1 + idle_cleanup.1, rows / 100);
        Ok::<_, crate::BoxError>(Point {
            rows,
            activity_index,
            list_newest_50,
            idle_nothing,
            old_nothing,
            last_10,
            old_cleanup,
            idle_cleanup,
        })
    })();
    engine.drop_tables(&options)?;
    measured
}

/// Measures 10⁴ up to 10^`max_exponent` rows, prints a table, and writes
/// the plot to `plot` if given.
pub fn run(url: &str, max_exponent: u32, plot: Option<&str>) -> Result<()> {
    let mut raw = Client::connect(url, NoTls)?;
    let mut points = Vec::new();
    for exponent in 4..=max_exponent {
        for activity_index in [false, true] {
            let started = Instant::now();
            let point = measure(url, &mut raw, 10u64.pow(exponent), activity_index)?;
            eprintln!(
                "10^{exponent} rows, activity index {activity_index}: {:.0} s",
                started.elapsed().as_secs_f64()
            );
            points.push(point);
        }
    }
    println!(
        "| rows | activity index | list newest 50 | idle cleanup, nothing idle | old cleanup, nothing old | last_messages(10) | old cleanup (rows) | idle cleanup (rows) |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|");
    for p in &points {
        println!(
            "| {} | {} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {:.1} ms ({}) | {:.1} ms ({}) |",
            p.rows,
            if p.activity_index { "yes" } else { "no" },
            p.list_newest_50,
            p.idle_nothing,
            p.old_nothing,
            p.last_10,
            p.old_cleanup.0,
            p.old_cleanup.1,
            p.idle_cleanup.0,
            p.idle_cleanup.1
        );
    }
    if let Some(path) = plot {
        let sizes: Vec<u64> = (4..=max_exponent).map(|e| 10u64.pow(e)).collect();
        let line = |name: &str, color, activity_index: bool, pick: fn(&Point) -> f64| Series {
            name: format!(
                "{name}, {}",
                if activity_index {
                    "activity index"
                } else {
                    "no activity index"
                }
            ),
            color,
            dashed: !activity_index,
            values: sizes
                .iter()
                .map(|rows| {
                    points
                        .iter()
                        .find(|p| p.rows == *rows && p.activity_index == activity_index)
                        .map(pick)
                })
                .collect(),
        };
        let mut series = Vec::new();
        for activity_index in [false, true] {
            series.push(line("list newest 50", "#1565c0", activity_index, |p| {
                p.list_newest_50
            }));
            series.push(line(
                "idle cleanup, nothing idle",
                "#c62828",
                activity_index,
                |p| p.idle_nothing,
            ));
            series.push(line(
                "old cleanup, nothing old",
                "#2e7d32",
                activity_index,
                |p| p.old_nothing,
            ));
        }
        series.push(line("last_messages(10)", "#6a1b9a", true, |p| p.last_10));
        let chart = chart::svg(
            "Cost by table size (dashed: without the activity index)",
            &sizes.iter().map(|r| format!("{r}")).collect::<Vec<_>>(),
            "rows in the table (100 per session)",
            "milliseconds (log scale)",
            &series,
            true,
        );
        std::fs::write(path, chart)?;
        eprintln!("plot written to {path}");
    }
    Ok(())
}
