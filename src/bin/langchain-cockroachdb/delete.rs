//! Deleting, in batches with progress: old messages or idle sessions
//! (`cleanup`), every session under a prefix (`erase`).

use std::time::Duration;

use langchain_cockroachdb::blocking::CockroachDBEngine;
use langchain_cockroachdb::{HistoryOptions, SessionFilter};
use serde_json::json;

use crate::args::Global;
use crate::outcome::{Done, Failure, Outcome};
use crate::output::{confirmed, report};
use crate::progress::{Meter, Stop};

/// `cleanup`: messages older than `older_than`, or the sessions idle for
/// `idle`, deleted (or counted, with `dry_run`).
pub(crate) fn cleanup(
    engine: &CockroachDBEngine,
    existing: &HistoryOptions,
    g: &Global,
    older_than: Option<Duration>,
    idle: Option<Duration>,
    dry_run: bool,
    stop: &Stop,
) -> Done {
    let (what, count, sessions) = match (older_than, idle, dry_run) {
        (Some(age), _, true) => (
            "messages older",
            engine.count_messages_older_than(existing, age)?,
            None,
        ),
        (_, Some(idle), true) => {
            let (sessions, messages) = engine.count_sessions_idle_since(existing, idle)?;
            ("messages of idle sessions", messages, Some(sessions))
        }
        (Some(age), _, false) => {
            let total = engine.count_messages_older_than(existing, age)?;
            let meter = Meter::new("deleted", "messages", Some(total));
            let deleted = engine.delete_messages_older_than_with_progress(
                existing,
                age,
                &meter.progress(stop),
            )?;
            meter.finish();
            ("messages older", deleted, None)
        }
        (_, Some(idle), false) => {
            let (_, total) = engine.count_sessions_idle_since(existing, idle)?;
            let meter = Meter::new("deleted", "messages", Some(total));
            let deleted = engine.delete_sessions_idle_since_with_progress(
                existing,
                idle,
                &meter.progress(stop),
            )?;
            meter.finish();
            ("messages of idle sessions", deleted, None)
        }
        (None, None, _) => {
            return Err(Failure::Refused("give --older-than or --idle".into()));
        }
    };
    let stopped = stop.requested();
    let verb = if dry_run { "would delete" } else { "deleted" };
    report(
        g.json,
        json!({"dry_run": dry_run, "messages": count, "sessions": sessions, "stopped": stopped}),
        || match sessions {
            Some(s) => format!("{verb} {count} {what} ({s} sessions)"),
            None => format!("{verb} {count} {what}"),
        },
    );
    Ok(Outcome::of(stopped))
}

/// `erase`: every session whose id starts with `prefix`, once the operator
/// confirms (or counted, with `dry_run`).
pub(crate) fn erase(
    engine: &CockroachDBEngine,
    existing: &HistoryOptions,
    g: &Global,
    prefix: &str,
    dry_run: bool,
    yes: bool,
    stop: &Stop,
) -> Done {
    let filter = SessionFilter::default().prefix(prefix).limit(usize::MAX);
    let sessions = engine.list_sessions(existing, &filter)?;
    let messages: u64 = sessions.iter().map(|s| s.message_count).sum();
    if dry_run {
        report(
            g.json,
            json!({"dry_run": true, "sessions": sessions.len(), "messages": messages}),
            || {
                format!(
                    "would erase {} sessions, {messages} messages, under {prefix:?}",
                    sessions.len()
                )
            },
        );
        return Ok(Outcome::Done);
    }
    confirmed(
        &format!(
            "This erases {} sessions ({messages} messages) under {prefix:?}.",
            sessions.len()
        ),
        prefix,
        yes,
    )?;
    let meter = Meter::new("erased", "messages", Some(messages));
    let erased = engine.erase_prefix_with_progress(existing, prefix, &meter.progress(stop))?;
    meter.finish();
    let stopped = stop.requested();
    report(
        g.json,
        json!({"erased": erased, "stopped": stopped}),
        || format!("erased {erased} messages under {prefix:?}"),
    );
    Ok(Outcome::of(stopped))
}
