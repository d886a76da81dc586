//! A chat-history service on the async face (axum): one engine for the
//! whole server, LangChain or OpenAI format in and out, JSON errors, and
//! the deadlines and limits a server needs.
//!
//! ```text
//! cargo run --example web_server -- --port 8080
//! curl -X POST localhost:8080/sessions/alice/messages -H 'content-type: application/json' \
//!      -H 'idempotency-key: 6f1c2a' \
//!      -d '[{"role": "user", "content": "My name is Alice"}, {"role": "assistant", "content": "Hi!"}]'
//! curl 'localhost:8080/sessions/alice/messages?last=10&format=openai'
//! curl 'localhost:8080/sessions?prefix=ali&limit=20'
//! curl -X DELETE localhost:8080/sessions/alice
//! curl localhost:8080/health
//! ```
//!
//! Errors are `{"error": ...}`: 400 for bad input (naming the problem), 413
//! for a body or batch too large, 503 with `Retry-After` when the database
//! cannot be reached and the request is safe to repeat, 408 after the
//! request timeout. SIGTERM or Ctrl-C stop it gracefully.
//!
//! A POST with an `Idempotency-Key` header stores its messages exactly once
//! however often the client sends it: the row ids are derived from the
//! session, the key and each message's position. Without the header, a POST
//! whose outcome is unknown (the database's reply was lost) is a 500 that
//! says so, not a 503 inviting a retry that could store the turn twice.

use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::HeaderMap;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use langchain_cockroachdb::nonblocking::{
    AsyncCockroachDBChatMessageHistory, AsyncCockroachDBEngine,
};
use langchain_cockroachdb::uuid::Uuid;
use langchain_cockroachdb::{
    Error, HistoryOptions, Message, SessionFilter, from_openai_messages, to_openai_messages,
};
use serde_json::{Value, json};
use tower_http::timeout::TimeoutLayer;

/// An error as the client sees it.
struct ApiError(StatusCode, String);

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        let status = match &err {
            Error::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::InvalidMessage(_)
            | Error::InvalidIdentifier { .. }
            | Error::InvalidArgument(_) => StatusCode::BAD_REQUEST,
            // Repeating it could store the turn twice: say so, never 503.
            e if e.is_ambiguous() && !e.is_retryable() => {
                let text = "the messages may or may not be stored; send the request with an \
                            Idempotency-Key header to retry it safely";
                return ApiError(StatusCode::INTERNAL_SERVER_ERROR, text.into());
            }
            e if e.is_connection() || e.is_timeout() => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, err.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.0, Json(json!({"error": self.1}))).into_response();
        if self.0 == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

type Reply = Result<Response, ApiError>;

/// A LangChain dict (`{"type", "data"}`), an OpenAI one (`{"role",
/// "content"}`), or a list of them.
fn messages_of(body: Value) -> Result<Vec<Message>, Error> {
    let items = match body {
        Value::Array(items) => items,
        one => vec![one],
    };
    items
        .into_iter()
        .map(|item| match item.get("data") {
            Some(_) => Message::from_dict(item),
            None => from_openai_messages(std::slice::from_ref(&item)).map(|mut one| one.remove(0)),
        })
        .collect()
}

/// What every request shares: one engine, and the table it keeps
/// histories in.
#[derive(Clone)]
pub struct App {
    engine: AsyncCockroachDBEngine,
    table: HistoryOptions,
}

impl App {
    fn history(&self, session: String) -> Result<AsyncCockroachDBChatMessageHistory, Error> {
        AsyncCockroachDBChatMessageHistory::with_engine(session, &self.engine, self.table.clone())
    }
}

/// The row ids of a POST with an idempotency key: the same for the same
/// session, key and position, whenever the client sends it again.
fn idempotent_ids(session: &str, key: &str, count: usize) -> Vec<Uuid> {
    (0..count)
        .map(|i| {
            Uuid::new_v5(
                &Uuid::NAMESPACE_OID,
                format!("{session}\0{key}\0{i}").as_bytes(),
            )
        })
        .collect()
}

async fn add(
    State(app): State<App>,
    Path(session): Path<String>,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Reply {
    let Json(body) = body.map_err(|e| ApiError(e.status(), e.body_text()))?;
    let messages = messages_of(body)?;
    let key = match headers.get("idempotency-key").map(HeaderValue::to_str) {
        Some(Ok(key)) if !key.is_empty() && key.len() <= 200 => Some(key.to_owned()),
        Some(_) => {
            let problem = "Idempotency-Key must be 1 to 200 visible ASCII characters";
            return Err(ApiError(StatusCode::BAD_REQUEST, problem.into()));
        }
        None => None,
    };
    let history = app.history(session)?;
    let new = match key {
        Some(key) => {
            let ids = idempotent_ids(history.session_id(), &key, messages.len());
            let rows: Vec<(Uuid, Message)> =
                ids.into_iter().zip(messages.iter().cloned()).collect();
            history.add_messages_with_ids(&rows).await?
        }
        None => {
            history.add_messages(&messages).await?;
            messages.len() as u64
        }
    };
    let body = json!({"stored": messages.len(), "new": new});
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn list(
    State(app): State<App>,
    Path(session): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Reply {
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let history = app.history(session)?;
    let messages = match param("last") {
        Some(last) => {
            let last = last.parse().map_err(|_| {
                ApiError(
                    StatusCode::BAD_REQUEST,
                    format!("last={last:?} is not a count"),
                )
            })?;
            history.last_messages(last).await?
        }
        None => history.messages().await?,
    };
    let body = match param("format").unwrap_or("langchain") {
        "langchain" => Value::Array(messages.iter().map(Message::to_dict).collect()),
        "openai" => Value::Array(to_openai_messages(&messages)?),
        other => {
            let problem = format!("format={other:?}: use langchain or openai");
            return Err(ApiError(StatusCode::BAD_REQUEST, problem));
        }
    };
    Ok(Json(body).into_response())
}

async fn delete(State(app): State<App>, Path(session): Path<String>) -> Reply {
    app.history(session)?.clear().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn sessions(State(app): State<App>, Query(query): Query<Vec<(String, String)>>) -> Reply {
    let mut filter = SessionFilter::default();
    for (key, value) in query {
        match key.as_str() {
            "prefix" => filter = filter.prefix(value),
            "limit" => {
                let limit = value.parse().map_err(|_| {
                    ApiError(
                        StatusCode::BAD_REQUEST,
                        format!("limit={value:?} is not a count"),
                    )
                })?;
                filter = filter.limit(limit);
            }
            other => {
                return Err(ApiError(
                    StatusCode::BAD_REQUEST,
                    format!("unknown parameter {other:?}"),
                ));
            }
        }
    }
    let found = app.engine.list_sessions(&app.table, &filter).await?;
    let found: Vec<Value> = found
        .iter()
        .map(|s| {
            json!({
                "session_id": s.session_id,
                "message_count": s.message_count,
                "last_activity": s.last_activity.unix_timestamp(),
            })
        })
        .collect();
    Ok(Json(found).into_response())
}

async fn health(State(app): State<App>) -> Reply {
    app.engine.ping().await?;
    let state = app.engine.pool_state();
    Ok(Json(json!({
        "status": "ok",
        "connections": state.connections,
        "idle": state.idle,
        "retries": state.retries,
        "timeouts": state.timeouts,
    }))
    .into_response())
}

async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
    println!("shutting down");
}

/// The service: its routes, limits and timeout, over `engine` and the
/// table `table` names.
pub fn router(engine: AsyncCockroachDBEngine, table: HistoryOptions) -> Router {
    Router::new()
        .route("/sessions/{id}/messages", get(list).post(add))
        .route("/sessions/{id}", axum::routing::delete(delete))
        .route("/sessions", get(sessions))
        .route("/health", get(health))
        // A body over 1 MiB is refused by the JSON extractor, as JSON (413).
        .layer(DefaultBodyLimit::max(1 << 20))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(10),
        ))
        .with_state(App { engine, table })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut port = 8080u16;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().ok_or("--port needs a value")?.parse()?,
            other => return Err(format!("unknown argument {other:?}; use --port N").into()),
        }
    }
    let url = std::env::var("LANGCHAIN_COCKROACHDB_URL")
        .unwrap_or_else(|_| "postgresql://root@127.0.0.1:5432/test".into());
    let options = langchain_cockroachdb::EngineOptions::default()
        .connect_timeout(Duration::from_secs(2))
        .checkout_timeout(Duration::from_secs(3))
        .operation_timeout(Duration::from_secs(5));
    let engine = AsyncCockroachDBEngine::with_options(&url, options)?;
    let app = router(engine.clone(), HistoryOptions::default());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on http://127.0.0.1:{port}");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    // In-flight requests are done: let their statements finish, then close.
    engine.close(Duration::from_secs(5)).await?;
    Ok(())
}
