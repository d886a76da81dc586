//! The routes that read: a session's messages, the caller's sessions, the
//! health check.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use langchain_cockroachdb::{Message, PageCursor, SessionFilter, to_openai_messages};
use serde_json::{Value, json};

use super::App;
use super::auth::User;
use super::errors::{ApiError, Reply};

/// The most messages or sessions one read returns.
const MAX_PAGE: usize = 100;
/// A read's page size when the client names none.
const DEFAULT_PAGE: usize = 50;

/// A query's parameters, each at most once and each one known.
pub(crate) fn params(
    query: Vec<(String, String)>,
    known: &[&str],
) -> Result<HashMap<String, String>, ApiError> {
    let mut found = HashMap::new();
    for (key, value) in query {
        if !known.contains(&key.as_str()) {
            return Err(ApiError::bad_request(format!("unknown parameter {key:?}")));
        }
        if found.insert(key.clone(), value).is_some() {
            return Err(ApiError::bad_request(format!("{key} given twice")));
        }
    }
    Ok(found)
}

/// A page size from 1 to `MAX_PAGE`.
fn page_size(params: &HashMap<String, String>, name: &str) -> Result<Option<usize>, ApiError> {
    match params.get(name) {
        None => Ok(None),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => Ok(Some(n)),
            _ => Err(ApiError::bad_request(format!(
                "{name}={text:?}: a count from 1 to {MAX_PAGE}"
            ))),
        },
    }
}

pub(crate) async fn list(
    State(app): State<App>,
    user: User,
    Path(name): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Reply {
    let params = params(query, &["last", "limit", "cursor", "format"])?;
    let history = app.history(user.session(&name)?)?;
    let cursor = match params.get("cursor") {
        Some(text) => Some(text.parse::<PageCursor>()?),
        None => None,
    };
    let (messages, next) = match page_size(&params, "last")? {
        Some(_) if cursor.is_some() || params.contains_key("limit") => {
            return Err(ApiError::bad_request("last goes without limit and cursor"));
        }
        Some(last) => (history.last_messages(last).await?, None),
        None => {
            let size = page_size(&params, "limit")?.unwrap_or(DEFAULT_PAGE);
            let page = history.messages_page(cursor.as_ref(), size).await?;
            let messages = page.entries.into_iter().map(|e| e.message).collect();
            (messages, page.next.map(|c| c.to_string()))
        }
    };
    // Nothing there, from the start: not the caller's, or gone.
    if messages.is_empty() && cursor.is_none() {
        return Err(ApiError::not_found());
    }
    let messages = match params.get("format").map_or("langchain", String::as_str) {
        "langchain" => Value::Array(messages.iter().map(Message::to_dict).collect()),
        "openai" => Value::Array(to_openai_messages(&messages)?),
        other => {
            return Err(ApiError::bad_request(format!(
                "format={other:?}: use langchain or openai"
            )));
        }
    };
    Ok(Json(json!({"messages": messages, "next": next})).into_response())
}

/// The caller's conversations, the most recently active first.
pub(crate) async fn sessions(
    State(app): State<App>,
    user: User,
    Query(query): Query<Vec<(String, String)>>,
) -> Reply {
    let params = params(query, &["limit"])?;
    let limit = page_size(&params, "limit")?.unwrap_or(DEFAULT_PAGE);
    let namespace = user.namespace();
    let filter = SessionFilter::default().prefix(&namespace).limit(limit);
    let found = app.engine.list_sessions(&app.table, &filter).await?;
    let found: Vec<Value> = found
        .iter()
        .filter_map(|s| {
            let name = s.session_id.strip_prefix(&namespace)?;
            Some(json!({
                "session": name,
                "message_count": s.message_count,
                "last_activity": s.last_activity.unix_timestamp(),
            }))
        })
        .collect();
    Ok(Json(found).into_response())
}

/// For a load balancer: whether the database answers, and nothing else.
pub(crate) async fn health(State(app): State<App>) -> Reply {
    app.engine.ping().await?;
    Ok(Json(json!({"status": "ok"})).into_response())
}
