//! The results, as Markdown tables or JSON lines, and the concurrency
//! chart.

use crate::Result;
use crate::chart::{self, Series};
use crate::hot;
use crate::measure::{Outcome, median, ratios, spread};

/// The throughput workloads, the memory and the async curve, as a table or
/// JSON lines.
pub(crate) fn outcomes(
    outcomes: &[Outcome],
    curve: &[(usize, f64, f64)],
    peak: f64,
    paging_growth: f64,
    json: bool,
) {
    if json {
        for o in outcomes {
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
            "paging_100k_rss_growth_mib": paging_growth})
        );
        for (tasks, ours, raw) in curve {
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
        for o in outcomes {
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
        for (tasks, ours, raw) in curve {
            println!("| {tasks} | {ours:.0} | {raw:.0} | {:.3} |", ours / raw);
        }
        println!("\npeak RSS of this process: {peak:.1} MiB (target < 30)");
        println!(
            "paging a 100,000-message session in pages of 500: RSS grew {:.1} MiB after the first page",
            paging_growth
        );
    }
}

/// The many-writers workloads, as a table or JSON lines.
pub(crate) fn hot(hot: &[hot::Hot], mixed: &[hot::Mixed], json: bool) {
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

/// The async curve as an SVG chart, written to `path`.
pub(crate) fn plot(curve: &[(usize, f64, f64)], path: &str) -> Result<()> {
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
    std::fs::write(path, chart)?;
    eprintln!("plot written to {path}");
    Ok(())
}
