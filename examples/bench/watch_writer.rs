//! The watch workload's writer: this program again, in a process of its
//! own (`WRITER` in its environment). It connects, says `ready`, waits for
//! `go`, then adds one message every `GAP`, printing for each the
//! wall-clock time its call returned (the commit acknowledged). Meanwhile a
//! thread samples the server's transaction horizon
//! (`pg_snapshot_xmin(pg_current_snapshot())`) every `SAMPLE`, until the
//! bench closes its stdin; the samples tell when each message became final
//! (every transaction that began writing before it had ended), which is
//! when a watch may deliver it on PostgreSQL.

use std::io::{BufRead, BufReader, Lines, Write};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use langchain_cockroachdb::HistoryOptions;
use langchain_cockroachdb::blocking::CockroachDBChatMessageHistory;
use postgres::{Client, NoTls};

use crate::Result;

/// Set in the writer's environment: `<crate|foreign> <table> <session>`.
pub(crate) const WRITER: &str = "BENCH_WATCH_WRITER";
/// Messages per round, and the pause between two.
pub(crate) const MESSAGES: usize = 100;
const GAP: Duration = Duration::from_millis(50);
/// How often the horizon is sampled.
const SAMPLE: Duration = Duration::from_millis(2);

/// Who writes: the crate (its insert notifies the watches on PostgreSQL),
/// or a program that does not (Python's langchain-cockroachdb: a plain
/// INSERT), found by the engine's look every `watch_poll_interval`.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Writer {
    Crate,
    Foreign,
}

/// A writer process, ready to write.
pub(crate) struct WriterProcess {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

/// What the writer saw: each message's commit time, by number, and the
/// horizon over time.
pub(crate) struct Written {
    pub(crate) committed: Vec<SystemTime>,
    pub(crate) horizon: Vec<(SystemTime, i64)>,
}

impl WriterProcess {
    pub(crate) fn spawn(url: &str, table: &str, session: &str, writer: Writer) -> Result<Self> {
        let kind = match writer {
            Writer::Crate => "crate",
            Writer::Foreign => "foreign",
        };
        let mut child = Command::new(std::env::current_exe()?)
            .env(WRITER, format!("{kind} {table} {session}"))
            .env("LANGCHAIN_COCKROACHDB_URL", url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("the writer's stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        match lines.next() {
            Some(Ok(line)) if line == "ready" => Ok(WriterProcess { child, lines }),
            other => Err(format!("the writer did not start: {other:?}").into()),
        }
    }

    /// Lets it write; returns each message's commit time, by number, once
    /// it has written them all.
    pub(crate) fn write(&mut self) -> Result<Vec<SystemTime>> {
        let stdin = self.child.stdin.as_mut().ok_or("the writer's stdin")?;
        stdin.write_all(b"go\n")?;
        stdin.flush()?;
        let mut committed = Vec::new();
        for line in &mut self.lines {
            let line = line?;
            if line == "written" {
                return Ok(committed);
            }
            committed.push(time(line.strip_prefix("m ").unwrap_or(&line))?);
        }
        Err(format!("the writer stopped after {} messages", committed.len()).into())
    }

    /// Stops its sampling; returns the horizon over time.
    pub(crate) fn finish(mut self, committed: Vec<SystemTime>) -> Result<Written> {
        drop(self.child.stdin.take());
        let mut horizon = Vec::new();
        for line in &mut self.lines {
            let line = line?;
            let Some((at, xid)) = line.strip_prefix("h ").and_then(|l| l.split_once(' ')) else {
                return Err(format!("the writer said {line:?}").into());
            };
            horizon.push((time(at)?, xid.parse()?));
        }
        let status = self.child.wait()?;
        if !status.success() || committed.len() != MESSAGES {
            return Err(format!("the writer failed ({status})").into());
        }
        Ok(Written { committed, horizon })
    }
}

/// A time written as nanoseconds since the epoch.
fn time(nanos: &str) -> Result<SystemTime> {
    Ok(UNIX_EPOCH + Duration::from_nanos(nanos.trim().parse()?))
}

fn now_nanos() -> Result<u128> {
    Ok(SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos())
}

/// When each message became final, by number: the first sample whose
/// horizon is above its transaction id (`xids`, 32-bit as the rows'
/// `xmin`, widened against the samples). `None` if no sample saw it.
pub(crate) fn finality(
    horizon: &[(SystemTime, i64)],
    xids: &[(usize, i64)],
) -> Vec<Option<SystemTime>> {
    let mut final_at = vec![None; MESSAGES];
    let Some(&(_, reference)) = horizon.last() else {
        return final_at;
    };
    for &(n, xid) in xids {
        let mut full = (reference & !0xFFFF_FFFF) | xid;
        if full > reference + (1 << 31) {
            full -= 1 << 32;
        } else if full + (1 << 31) < reference {
            full += 1 << 32;
        }
        if let Some(slot) = final_at.get_mut(n) {
            *slot = horizon.iter().find(|(_, h)| *h > full).map(|(at, _)| *at);
        }
    }
    final_at
}

/// The writer process: see the module's doc.
pub(crate) fn write(spec: &str) -> Result<()> {
    let mut parts = spec.split(' ');
    let (Some(kind), Some(table), Some(session)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(format!("{WRITER}={spec:?}").into());
    };
    let url = std::env::var("LANGCHAIN_COCKROACHDB_URL")?;
    let options = HistoryOptions::default().table_name(table);
    let history = CockroachDBChatMessageHistory::with_options(session, &url, options)?;
    history.message_count()?;
    let mut raw = Client::connect(&url, NoTls)?;
    let insert = raw.prepare(&format!(
        "INSERT INTO {table} (session_id, message) VALUES ($1, jsonb_build_object('type', 'human',
         'data', jsonb_build_object('content', $2::TEXT)))"
    ))?;
    let mut sampler = Client::connect(&url, NoTls)?;
    println!("ready");
    let mut go = String::new();
    std::io::stdin().read_line(&mut go)?;

    let stop = Arc::new(AtomicBool::new(false));
    let sampling = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || -> Result<Vec<(u128, i64)>> {
            let mut samples = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let at = now_nanos()?;
                // PostgreSQL's (13+): elsewhere, no samples.
                let Ok(row) = sampler.query_one(
                    "SELECT pg_snapshot_xmin(pg_current_snapshot())::TEXT::BIGINT",
                    &[],
                ) else {
                    break;
                };
                samples.push((at, row.get(0)));
                std::thread::sleep(SAMPLE);
            }
            Ok(samples)
        })
    };
    let mut out = std::io::stdout().lock();
    for n in 0..MESSAGES {
        match kind {
            "crate" => history.add_user_message(n.to_string())?,
            _ => drop(raw.execute(&insert, &[&session, &n.to_string()])?),
        }
        writeln!(out, "m {}", now_nanos()?)?;
        out.flush()?;
        std::thread::sleep(GAP);
    }
    writeln!(out, "written")?;
    out.flush()?;
    // Until the bench has its deliveries: it closes stdin.
    std::io::stdin().read_line(&mut go)?;
    stop.store(true, Ordering::SeqCst);
    let samples = sampling.join().map_err(|_| "the sampler panicked")??;
    for (at, xid) in samples {
        writeln!(out, "h {at} {xid}")?;
    }
    Ok(())
}
