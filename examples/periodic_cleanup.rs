//! The guide's periodic cleanup: delete sessions idle for a number of days,
//! once, or every `--every` seconds until stopped.
//!
//! ```text
//! cargo run --example periodic_cleanup -- --days 30
//! cargo run --example periodic_cleanup -- --days 30 --every 86400 --table message_store
//! ```

use std::time::Duration;

use langchain_cockroachdb::HistoryOptions;
use langchain_cockroachdb::nonblocking::AsyncCockroachDBEngine;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (mut days, mut every, mut table) = (30u64, None, HistoryOptions::default());
    while let Some(arg) = args.next() {
        let value = args.next().ok_or(format!("{arg} needs a value"))?;
        match arg.as_str() {
            "--days" => days = value.parse()?,
            "--every" => every = Some(Duration::from_secs(value.parse()?)),
            "--table" => table = table.table_name(value),
            other => {
                let usage = "use --days N [--every SECONDS] [--table NAME]";
                return Err(format!("unknown argument {other:?}; {usage}").into());
            }
        }
    }
    let url = std::env::var("LANGCHAIN_COCKROACHDB_URL")
        .unwrap_or_else(|_| "postgresql://root@127.0.0.1:5432/test".into());
    let engine = AsyncCockroachDBEngine::from_connection_string(&url)?;
    let idle = Duration::from_secs(days * 24 * 3600);
    loop {
        // In bounded batches: many small transactions, none holding the table.
        let deleted = engine.delete_sessions_idle_since(&table, idle).await?;
        println!("deleted {deleted} messages of sessions idle for {days} days");
        let Some(every) = every else { return Ok(()) };
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}
