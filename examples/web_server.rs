//! A multi-tenant chat-history service on the async face (axum): one engine
//! for the whole server, every request authenticated, each user's
//! conversations in a namespace of their own, LangChain or OpenAI format in
//! and out, paginated reads, JSON errors, and the deadlines and limits a
//! server on a network needs.
//!
//! ```text
//! printf 'alice %s\nbob %s\n' "$(openssl rand -hex 24)" "$(openssl rand -hex 24)" > tokens
//! chmod 600 tokens
//! cargo run --example web_server -- --port 8080 --tokens tokens
//! T=$(awk '$1 == "alice" {print $2}' tokens)
//! curl -X POST localhost:8080/sessions/trip/messages -H "authorization: Bearer $T" \
//!      -H 'content-type: application/json' -H 'idempotency-key: 6f1c2a' \
//!      -d '[{"role": "user", "content": "My name is Alice"}, {"role": "assistant", "content": "Hi!"}]'
//! curl -H "authorization: Bearer $T" 'localhost:8080/sessions/trip/messages?limit=50&format=openai'
//! curl -H "authorization: Bearer $T" 'localhost:8080/sessions/trip/messages?last=10'
//! curl -H "authorization: Bearer $T" 'localhost:8080/sessions?limit=20'
//! curl -X DELETE -H "authorization: Bearer $T" localhost:8080/sessions/trip
//! curl localhost:8080/health
//! ```
//!
//! **Who sees what.** The server is closed by default: it does not start
//! without tokens, and every route but `/health` needs `Authorization:
//! Bearer TOKEN` (401 otherwise). Tokens come from a file (`--tokens FILE`
//! or `CHAT_TOKENS_FILE`: one `USER TOKEN` per line, `#` for comments) or
//! from `CHAT_TOKENS` (`USER=TOKEN,USER=TOKEN`), never from the code; a
//! token is at least 24 characters, a user name is letters, digits, `-`
//! and `_`. The client names a conversation (`trip`); the server stores it
//! as `USER:trip`, so no request can name another user's session: it is
//! simply not there (404), and `/sessions` lists the caller's own.
//!
//! **Reads** are pages: `?limit=N` (at most 100, default 50) and the
//! `next` cursor of the page before as `?cursor=`; or `?last=N` (at most
//! 100), the newest N. **Errors** are `{"error": ...}`: 400 for bad input
//! (naming the problem), 401, 404, 413 for a body or batch too large, 503
//! with `Retry-After` when the database cannot be reached and the request
//! is safe to repeat, 408 after the request timeout; a 5xx says only what
//! kind of failure it was, its detail goes to the server's log. A client
//! that sends its headers too slowly is cut after `--header-timeout`
//! seconds (default 10). SIGTERM or Ctrl-C stop it gracefully.
//!
//! A POST with an `Idempotency-Key` header stores its messages exactly once
//! however often the client sends it: the row ids are derived from the
//! session, the key and each message's position. Without the header, a POST
//! whose outcome is unknown (the database's reply was lost) is a 500 that
//! says so, not a 503 inviting a retry that could store the turn twice.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use langchain_cockroachdb::nonblocking::{
    AsyncCockroachDBChatMessageHistory, AsyncCockroachDBEngine,
};
use langchain_cockroachdb::uuid::Uuid;
use langchain_cockroachdb::{
    Error, HistoryOptions, Message, PageCursor, SessionFilter, from_openai_messages,
    to_openai_messages,
};
use serde_json::{Value, json};
use tower_http::timeout::TimeoutLayer;

/// The most messages or sessions one read returns.
const MAX_PAGE: usize = 100;
/// A read's page size when the client names none.
const DEFAULT_PAGE: usize = 50;

/// An error as the client sees it, and the detail only the log sees.
struct ApiError {
    status: StatusCode,
    message: String,
    detail: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            detail: None,
        }
    }

    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "no such session")
    }
}

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        let (status, message) = match &err {
            // The client's own input: what is wrong with it is theirs to know.
            Error::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, err.to_string()),
            Error::InvalidMessage(_)
            | Error::InvalidIdentifier { .. }
            | Error::InvalidArgument(_) => (StatusCode::BAD_REQUEST, err.to_string()),
            // Repeating it could store the turn twice: say so, never 503.
            e if e.is_ambiguous() && !e.is_retryable() => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the messages may or may not be stored; send the request with an \
                 Idempotency-Key header to retry it safely"
                    .into(),
            ),
            e if e.is_connection() || e.is_timeout() => (
                StatusCode::SERVICE_UNAVAILABLE,
                "the database is unavailable; retry later".into(),
            ),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal error".into()),
        };
        ApiError {
            status,
            message,
            detail: status.is_server_error().then(|| err.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(detail) = &self.detail {
            eprintln!("error {}: {detail}", self.status.as_u16());
        }
        let mut response = (self.status, Json(json!({"error": self.message}))).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

type Reply = Result<Response, ApiError>;

/// Which user each bearer token stands for.
#[derive(Clone, Default)]
pub struct Tokens(Arc<Vec<(String, String)>>);

impl Tokens {
    /// `USER TOKEN` lines (blank lines and `#` comments skipped).
    pub fn from_lines(text: &str) -> Result<Tokens, String> {
        let pairs = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(
                |line| match line.split_whitespace().collect::<Vec<_>>()[..] {
                    [user, token] => Ok((user, token)),
                    _ => Err("each line is `USER TOKEN`".to_owned()),
                },
            );
        Tokens::of(pairs)
    }

    /// `USER=TOKEN,USER=TOKEN`.
    pub fn from_list(text: &str) -> Result<Tokens, String> {
        let pairs = text.split(',').map(str::trim).map(|pair| {
            pair.split_once('=')
                .ok_or_else(|| "CHAT_TOKENS is `USER=TOKEN,USER=TOKEN`".to_owned())
        });
        Tokens::of(pairs)
    }

    fn of<'a>(
        pairs: impl Iterator<Item = Result<(&'a str, &'a str), String>>,
    ) -> Result<Tokens, String> {
        let mut all: Vec<(String, String)> = Vec::new();
        for pair in pairs {
            let (user, token) = pair?;
            let valid_user = !user.is_empty()
                && user.len() <= 64
                && user
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !valid_user {
                return Err(format!("user {user:?}: letters, digits, - and _ only"));
            }
            if token.len() < 24 || !token.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(format!(
                    "the token of {user}: 24 visible ASCII characters at least"
                ));
            }
            if all.iter().any(|(_, t)| t == token) {
                return Err(format!("the token of {user} is also another user's"));
            }
            all.push((user.to_owned(), token.to_owned()));
        }
        if all.is_empty() {
            return Err("no tokens: the server serves nobody without them".into());
        }
        Ok(Tokens(Arc::new(all)))
    }

    /// The user of `token`, comparing with every token in full so that the
    /// time taken tells nothing about how much of a token was right.
    fn user(&self, token: &str) -> Option<&str> {
        let mut found = None;
        for (user, known) in self.0.iter() {
            let same = known.len() == token.len()
                && known
                    .bytes()
                    .zip(token.bytes())
                    .fold(0, |d, (a, b)| d | (a ^ b))
                    == 0;
            if same {
                found = Some(user.as_str());
            }
        }
        found
    }
}

/// The authenticated caller.
struct User(String);

impl FromRequestParts<App> for User {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<User, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .and_then(|(scheme, token)| scheme.eq_ignore_ascii_case("bearer").then_some(token));
        match token.and_then(|t| app.tokens.user(t.trim())) {
            Some(user) => Ok(User(user.to_owned())),
            None => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "send Authorization: Bearer TOKEN with a valid token",
            )),
        }
    }
}

impl User {
    /// The stored session id of the caller's conversation `name`: the
    /// user's namespace, then the name (1 to 128 letters, digits, `.`, `_`,
    /// `-`). The separator belongs to the namespace, so that `bob:` is not
    /// a prefix of `bobby:`'s sessions.
    fn session(&self, name: &str) -> Result<String, ApiError> {
        let valid = !name.is_empty()
            && name.len() <= 128
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        match valid {
            true => Ok(format!("{}{name}", self.namespace())),
            false => Err(ApiError::bad_request(
                "a session name is 1 to 128 letters, digits, '.', '_' or '-'",
            )),
        }
    }

    fn namespace(&self) -> String {
        format!("{}:", self.0)
    }
}

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
            None => from_openai_messages(std::slice::from_ref(&item))?
                .into_iter()
                .next()
                .ok_or_else(|| Error::InvalidMessage("an empty OpenAI message".into())),
        })
        .collect()
}

/// What every request shares: one engine, the table it keeps histories
/// in, and who may call.
#[derive(Clone)]
pub struct App {
    engine: AsyncCockroachDBEngine,
    table: HistoryOptions,
    tokens: Tokens,
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

/// A query's parameters, each at most once and each one known.
fn params(
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

async fn add(
    State(app): State<App>,
    user: User,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Reply {
    let session = user.session(&name)?;
    let Json(body) = body.map_err(|e| ApiError::new(e.status(), e.body_text()))?;
    let messages = messages_of(body)?;
    let key = match headers.get("idempotency-key").map(HeaderValue::to_str) {
        Some(Ok(key)) if !key.is_empty() && key.len() <= 200 => Some(key.to_owned()),
        Some(_) => {
            return Err(ApiError::bad_request(
                "Idempotency-Key must be 1 to 200 visible ASCII characters",
            ));
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

async fn delete(State(app): State<App>, user: User, Path(name): Path<String>) -> Reply {
    let history = app.history(user.session(&name)?)?;
    if history.message_count().await? == 0 {
        return Err(ApiError::not_found());
    }
    history.clear().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The caller's conversations, the most recently active first.
async fn sessions(
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
async fn health(State(app): State<App>) -> Reply {
    app.engine.ping().await?;
    Ok(Json(json!({"status": "ok"})).into_response())
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
/// table `table` names, for the users `tokens` names.
pub fn router(engine: AsyncCockroachDBEngine, table: HistoryOptions, tokens: Tokens) -> Router {
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
        .with_state(App {
            engine,
            table,
            tokens,
        })
}

/// Serves `app` on `listener` until `shutdown`, cutting a connection whose
/// request headers take longer than `header_timeout` (`axum::serve` has no
/// such limit: a client could hold connections open by sending nothing),
/// then waits up to 10 s for the requests in flight.
async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    header_timeout: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    eprintln!("accept: {err}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A cut or slow client is that connection's end, nothing more.
            let _ = connection.await;
        });
    }
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_secs(10)) => {}
    }
}

/// The tokens: `--tokens FILE`, else `CHAT_TOKENS_FILE`, else `CHAT_TOKENS`.
fn tokens(file: Option<String>) -> Result<Tokens, String> {
    let file = file.or_else(|| std::env::var("CHAT_TOKENS_FILE").ok());
    match (file, std::env::var("CHAT_TOKENS")) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
            Tokens::from_lines(&text).map_err(|e| format!("{path}: {e}"))
        }
        (None, Ok(list)) => Tokens::from_list(&list),
        (None, Err(_)) => Err(
            "no tokens: give --tokens FILE (or CHAT_TOKENS_FILE, or CHAT_TOKENS); see the \
             example's documentation"
                .into(),
        ),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (mut port, mut file, mut header_timeout) = (8080u16, None, 10u64);
    let mut table = HistoryOptions::default();
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--port" => port = value()?.parse()?,
            "--tokens" => file = Some(value()?),
            "--header-timeout" => header_timeout = value()?.parse()?,
            "--table" => table = table.table_name(value()?),
            other => {
                return Err(format!(
                    "unknown argument {other:?}; use --port N, --tokens FILE, \
                     --header-timeout SECONDS, --table NAME"
                )
                .into());
            }
        }
    }
    let tokens = tokens(file)?;
    table.validate()?;
    let url = std::env::var("LANGCHAIN_COCKROACHDB_URL")
        .unwrap_or_else(|_| "postgresql://root@127.0.0.1:5432/test".into());
    let options = langchain_cockroachdb::EngineOptions::default()
        .connect_timeout(Duration::from_secs(2))
        .checkout_timeout(Duration::from_secs(3))
        .operation_timeout(Duration::from_secs(5));
    let engine = AsyncCockroachDBEngine::with_options(&url, options)?;
    let app = router(engine.clone(), table, tokens);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on http://127.0.0.1:{port}");
    serve(
        listener,
        app,
        Duration::from_secs(header_timeout.max(1)),
        shutdown_signal(),
    )
    .await;
    // In-flight requests are done: let their statements finish, then close.
    engine.close(Duration::from_secs(5)).await?;
    Ok(())
}
