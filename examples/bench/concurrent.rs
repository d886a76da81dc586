//! `async_concurrent`: tokio tasks, each its own session, inserting over a
//! pool of 16, the crate's async face against raw tokio-postgres over bb8.

use std::time::{Duration, Instant};

use langchain_cockroachdb::nonblocking::{
    AsyncCockroachDBChatMessageHistory, AsyncCockroachDBEngine,
};
use langchain_cockroachdb::{EngineOptions, HistoryOptions};
use uuid::Uuid;

use crate::Result;
use crate::measure::{Outcome, REPS, median, ratios};
use crate::throughput::{INSERT, message};

/// `tasks` tasks, each its own session, adding `per_task` messages one at a
/// time, over a pool of 16: the crate's async face, then raw bb8.
pub(crate) async fn concurrent(
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
