//! Looking at sessions: the table's sessions listed (`sessions`), one
//! session's messages shown (`show`).

use std::time::Duration;

use langchain_cockroachdb::blocking::{CockroachDBChatMessageHistory, CockroachDBEngine};
use langchain_cockroachdb::time::OffsetDateTime;
use langchain_cockroachdb::{HistoryOptions, SessionFilter, to_openai_messages};
use serde_json::Value;

use crate::args::{Format, Global};
use crate::outcome::{Done, Outcome};
use crate::output::report;

/// `sessions`: the most recently active first, as a table or JSON.
pub(crate) fn sessions(
    engine: &CockroachDBEngine,
    existing: &HistoryOptions,
    g: &Global,
    prefix: Option<String>,
    since: Option<Duration>,
    limit: usize,
) -> Done {
    let mut filter = SessionFilter::default().limit(limit);
    if let Some(prefix) = prefix {
        filter = filter.prefix(prefix);
    }
    if let Some(since) = since {
        let since = OffsetDateTime::now_utc()
            .checked_sub(langchain_cockroachdb::time::Duration::seconds(
                i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
            ))
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        filter = filter.since(since);
    }
    let sessions = engine.list_sessions(existing, &filter)?;
    report(
        g.json,
        serde_json::to_value(&sessions).unwrap_or_default(),
        || {
            let mut out = format!("{:<40} {:>9}  {}", "SESSION", "MESSAGES", "LAST ACTIVITY");
            for s in &sessions {
                out += &format!(
                    "\n{:<40} {:>9}  {}",
                    s.session_id,
                    s.message_count,
                    when(s.last_activity)
                );
            }
            out
        },
    );
    Ok(Outcome::Done)
}

/// `show`: a session's messages (or its newest), in `format`.
pub(crate) fn show(
    engine: &CockroachDBEngine,
    existing: HistoryOptions,
    g: &Global,
    session: String,
    last: Option<usize>,
    format: Format,
) -> Done {
    let history = CockroachDBChatMessageHistory::with_engine(session, engine, existing)?;
    let messages = match last {
        Some(n) => history.last_messages(n)?,
        None => history.messages()?,
    };
    match format {
        Format::Langchain => {
            let dicts: Vec<Value> = messages.iter().map(|m| m.to_dict()).collect();
            println!("{}", Value::Array(dicts));
        }
        Format::Openai => println!("{}", Value::Array(to_openai_messages(&messages)?)),
        Format::Text if g.json => {
            let dicts: Vec<Value> = messages.iter().map(|m| m.to_dict()).collect();
            println!("{}", Value::Array(dicts));
        }
        Format::Text => {
            for m in &messages {
                println!("{}: {}", m.message_type(), m.text());
            }
        }
    }
    Ok(Outcome::Done)
}

/// A time as RFC 3339, as the JSON output writes it too.
fn when(at: OffsetDateTime) -> String {
    let format = langchain_cockroachdb::time::format_description::well_known::Rfc3339;
    at.format(&format).unwrap_or_default()
}
