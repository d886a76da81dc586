//! A chat-history service on the async face (axum): one engine for the
//! whole server, LangChain or OpenAI format in and out, JSON errors, and
//! the deadlines and limits a server needs.
//!
//! ```text
//! cargo run --example web_server -- --port 8080
//! curl -X POST localhost:8080/sessions/alice/messages -H 'content-type: application/json' \
//!      -d '[{"role": "user", "content": "My name is Alice"}, {"role": "assistant", "content": "Hi!"}]'
//! curl 'localhost:8080/sessions/alice/messages?last=10&format=openai'
//! curl 'localhost:8080/sessions?prefix=ali&limit=20'
//! curl -X DELETE localhost:8080/sessions/alice
//! curl localhost:8080/health
//! ```
//!
//! Errors are `{"error": ...}`: 400 for bad input (naming the problem), 413
//! for a body or batch too large, 503 with `Retry-After` when the database
//! cannot be reached, 408 after the request timeout. SIGTERM or Ctrl-C
//! stop it gracefully.

use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use langchain_cockroachdb::nonblocking::AsyncCockroachDBEngine;
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

async fn add(
    State(engine): State<AsyncCockroachDBEngine>,
    Path(session): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Reply {
    let Json(body) = body.map_err(|e| ApiError(e.status(), e.body_text()))?;
    let messages = messages_of(body)?;
    engine.history(session)?.add_messages(&messages).await?;
    Ok((StatusCode::CREATED, Json(json!({"stored": messages.len()}))).into_response())
}

async fn list(
    State(engine): State<AsyncCockroachDBEngine>,
    Path(session): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Reply {
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let history = engine.history(session)?;
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

async fn delete(
    State(engine): State<AsyncCockroachDBEngine>,
    Path(session): Path<String>,
) -> Reply {
    engine.history(session)?.clear().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn sessions(
    State(engine): State<AsyncCockroachDBEngine>,
    Query(query): Query<Vec<(String, String)>>,
) -> Reply {
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
    let found = engine
        .list_sessions(&HistoryOptions::default(), &filter)
        .await?;
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

async fn health(State(engine): State<AsyncCockroachDBEngine>) -> Reply {
    engine.ping().await?;
    let state = engine.pool_state();
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
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgresql://root@127.0.0.1:5432/test".into());
    let options = langchain_cockroachdb::EngineOptions::default()
        .connect_timeout(Duration::from_secs(2))
        .checkout_timeout(Duration::from_secs(3))
        .operation_timeout(Duration::from_secs(5));
    let engine = AsyncCockroachDBEngine::with_options(&url, options)?;
    let app = Router::new()
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
        .with_state(engine);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on http://127.0.0.1:{port}");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(())
}
