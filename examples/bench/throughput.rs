//! The throughput workloads: single writes, batches, whole and windowed
//! reads, concurrent async writes and paging memory, each against the raw
//! driver doing the same work; then the many-writers workloads.

use langchain_cockroachdb::blocking::{CockroachDBChatMessageHistory, CockroachDBEngine};
use langchain_cockroachdb::{EngineOptions, HistoryOptions, Message};
use postgres::{Client, NoTls};
use serde_json::Value;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::concurrent::concurrent;
use crate::floor::{inline, literal, pgbench};
use crate::measure::{SLICES, compare, memory_mib, slice_of};
use crate::{Result, hot, report};

/// About 200 characters, human and ai alternating.
pub(crate) fn message(i: usize) -> Message {
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
pub(crate) const INSERT: &str = "INSERT INTO {t} (id, session_id, message, created_at)
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

/// Every throughput workload on `table` (made here, dropped at the end),
/// then the many-writers ones; the results printed, the chart drawn.
pub(crate) fn run(
    url: &str,
    table: &str,
    options: &HistoryOptions,
    json: bool,
    plot: Option<String>,
) -> Result<()> {
    let sql = |s: &str| s.replace("{t}", table);
    let mut raw = Client::connect(url, NoTls)?;
    let engine = CockroachDBEngine::with_options(url, EngineOptions::default().pool_size(1))?;
    engine.create_tables(options)?;

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
        let floor = inline(text, table, &["gen_random_uuid()", "'pgbench-seq'", &one]);
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
        outcome.floor_ops_per_s = pgbench(url, &floor, 1, 2000)?;
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
        table,
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
    outcome.floor_ops_per_s = pgbench(url, &floor, 1, 200)?;
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
    let floor = inline(SELECT_ALL, table, &["'read-all'"]);
    outcome.floor_ops_per_s = pgbench(url, &floor, 1, 50)?;
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
    let floor = inline(SELECT_LAST, table, &["'many-417'", "10"]);
    outcome.floor_ops_per_s = pgbench(url, &floor, 1, 500)?;
    outcomes.push(outcome);

    // async_concurrent, and the same at 1, 4, 16, 64 tasks for the plot.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut curve = Vec::new();
    for tasks in [1usize, 4, 16, 64] {
        let per_task = if tasks == 64 { 50 } else { 3200 / tasks };
        let mut outcome = runtime.block_on(concurrent(url, options, table, tasks, per_task))?;
        curve.push((tasks, outcome.crate_ops_per_s, outcome.raw_ops_per_s));
        if tasks == 64 {
            let session = "('pgbench-async-' || :client_id)";
            let floor = inline(INSERT, table, &["gen_random_uuid()", session, &one]);
            // As many connections as the pool has: 64 backends on this
            // machine's two cores would measure their contention instead.
            outcome.floor_ops_per_s = pgbench(url, &floor, 16, 3200)?;
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

    let (hot, mixed) = hot::run(url, table)?;

    engine.drop_tables(options)?;

    report::outcomes(&outcomes, &curve, peak, rss_max - rss_first_page, json);
    report::hot(&hot, &mixed, json);
    if let Some(path) = plot {
        report::plot(&curve, &path)?;
    }
    Ok(())
}
