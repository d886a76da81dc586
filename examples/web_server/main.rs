//! A multi-tenant chat-history service on the async face (axum): one engine
//! for the whole server, every request authenticated, each user's
//! conversations in a namespace of their own, LangChain or OpenAI format in
//! and out, paginated reads, JSON errors, and the deadlines and limits a
//! server on a network needs; and a chat route that streams the model's
//! reply and stores the exchange once.
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
//! curl -N -X POST localhost:8080/sessions/trip/chat -H "authorization: Bearer $T" \
//!      -H 'content-type: application/json' -H 'idempotency-key: 9b3e77' \
//!      -d '{"role": "user", "content": "What is my name?"}'
//! curl -N -H "authorization: Bearer $T" localhost:8080/sessions/trip/events
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
//!
//! **Chat** (`POST /sessions/{id}/chat`, see docs/streaming.md): the body
//! is one user message, in LangChain's form or OpenAI's, and an
//! `Idempotency-Key` is required (400 without one: a client cut off
//! mid-stream cannot know what was stored, so every exchange must be safe to
//! send again). The answer is `text/event-stream`: a `token` event
//! (`{"text"}`) for each token the model makes (`--token-delay` ms apart,
//! default 40), then `end` (`{"finish_reason", "replayed", "new"}`) once
//! the exchange is stored, or `error` if it could not be. The ids of both
//! rows come from the session and the key before the stream starts, and
//! the exchange is stored in one write at its end; a client that goes
//! away mid-stream leaves the user's message and the reply so far stored,
//! the reply's `response_metadata` saying `"finish_reason": "cancelled"`
//! (`"stop"` when complete). So does a reply cut at the 60 s deadline or by
//! a shutdown, which waits for those writes. The same key again replays the
//! stored reply without asking the model (`"replayed": true`, `"new": 0`),
//! cut short or not; with another message it is a 422. A retry is
//! recognised among the session's newest 100 messages; an older one is
//! answered anew, and still stores nothing (`"new": 0`).
//!
//! **Live** (`GET /sessions/{id}/events`): the conversation as server-sent
//! events, from a watch of the session. Each message is an event `message`
//! (`{"id", "created_at", "message"}`, the message in LangChain's form, or
//! OpenAI's with `?format=openai`) whose `id:` is the watch's cursor after
//! it; `deleted` (`{"count"}`) says that messages were deleted, how many
//! but not which. A stream starts after its `Last-Event-ID` header (what an
//! `EventSource` sends when it reconnects), else after `?cursor=` (for a
//! client that resumes on its first connect), else at the beginning: the
//! whole conversation, then what comes. A cursor works on any server of
//! the same database, so a client cut off resumes on another replica with
//! exactly what it had not had; one that is not a cursor is a 400. While
//! nothing happens, a comment (`: heartbeat`) goes out every `--heartbeat`
//! seconds (default 15), which keeps proxies from closing the connection
//! and tells the server, when it cannot be written, that the client is
//! gone: its watch is then released. A watch that fails ends its stream
//! with an `error` event (the client resumes from its last id); a shutdown
//! ends every stream. The route authenticates as the others do, with the
//! `Authorization` header: the page reads it with `fetch()` rather than
//! `EventSource`, which cannot send one (see page/page.js for why not a
//! token in the URL or a cookie).
//!
//! **The page** (`/`, no token needed to load it): plain HTML, CSS and
//! JavaScript from this binary, under a Content-Security-Policy that lets
//! nothing else run or load. It asks for a session and a token, shows the
//! conversation live (each message once, by its row id, in the order the
//! messages were stored), and posts to it: "Send" through the messages
//! route, "Ask the model" through the chat route, whose reply it shows as
//! it streams. Tested in headless Chromium by `tests/web_page.rs`.

// This file: the router, serving and shutdown. Beside it: who calls
// (auth.rs), errors as JSON (errors.rs), the routes that read (reads.rs),
// those that write (writes.rs), the chat route (chat.rs), its streams
// (stream.rs) and its model (model.rs, over ../common/responder.rs), a
// conversation live (events.rs), and the page (page.rs, over page/).
mod auth;
mod chat;
mod errors;
mod events;
mod model;
mod page;
mod reads;
#[path = "../common/responder.rs"]
mod responder;
mod stream;
mod writes;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};
use langchain_cockroachdb::nonblocking::{
    AsyncCockroachDBChatMessageHistory, AsyncCockroachDBEngine,
};
use langchain_cockroachdb::{Error, HistoryOptions};
use tower_http::timeout::TimeoutLayer;

pub use auth::Tokens;
pub use events::Live;
pub use stream::Chat;

/// What every request shares: one engine, the table it keeps histories
/// in, who may call, the chat's model and streams, and the live streams.
#[derive(Clone)]
pub struct App {
    engine: AsyncCockroachDBEngine,
    table: HistoryOptions,
    tokens: Tokens,
    chat: Chat,
    live: Live,
}

impl App {
    pub(crate) fn history(
        &self,
        session: String,
    ) -> Result<AsyncCockroachDBChatMessageHistory, Error> {
        AsyncCockroachDBChatMessageHistory::with_engine(session, &self.engine, self.table.clone())
    }
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
/// table `table` names, for the users `tokens` names, chatting with `chat`,
/// its conversations live in `live`.
pub fn router(
    engine: AsyncCockroachDBEngine,
    table: HistoryOptions,
    tokens: Tokens,
    chat: Chat,
    live: Live,
) -> Router {
    Router::new()
        .route("/", get(page::index))
        .route("/page.js", get(page::script))
        .route("/page.css", get(page::style))
        .route("/sessions/{id}/events", get(events::events))
        .route(
            "/sessions/{id}/messages",
            get(reads::list).post(writes::add),
        )
        .route("/sessions/{id}/chat", post(chat::chat))
        .route("/sessions/{id}", axum::routing::delete(writes::delete))
        .route("/sessions", get(reads::sessions))
        .route("/health", get(reads::health))
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
            chat,
            live,
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

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    run(std::env::args().skip(1).collect()).await
}

/// The server, with the command line's arguments (`args`), until SIGTERM
/// or Ctrl-C. Apart from `main` so that a test can run it in a process of
/// its own.
pub async fn run(args: Vec<String>) -> Result<(), Box<dyn std::error::Error>> {
    let mut args = args.into_iter();
    let (mut port, mut file, mut header_timeout) = (8080u16, None, 10u64);
    let (mut token_delay, mut heartbeat) = (40u64, 15u64);
    let mut table = HistoryOptions::default();
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--port" => port = value()?.parse()?,
            "--tokens" => file = Some(value()?),
            "--header-timeout" => header_timeout = value()?.parse()?,
            "--table" => table = table.table_name(value()?),
            "--token-delay" => token_delay = value()?.parse()?,
            "--heartbeat" => heartbeat = value()?.parse()?,
            other => {
                return Err(format!(
                    "unknown argument {other:?}; use --port N, --tokens FILE, \
                     --header-timeout SECONDS, --table NAME, --token-delay MS, \
                     --heartbeat SECONDS"
                )
                .into());
            }
        }
    }
    let tokens = auth::tokens(file)?;
    table.validate()?;
    let url = std::env::var("LANGCHAIN_COCKROACHDB_URL")
        .unwrap_or_else(|_| "postgresql://root@127.0.0.1:5432/test".into());
    let options = langchain_cockroachdb::EngineOptions::default()
        .connect_timeout(Duration::from_secs(2))
        .checkout_timeout(Duration::from_secs(3))
        .operation_timeout(Duration::from_secs(5));
    let engine = AsyncCockroachDBEngine::with_options(&url, options)?;
    let chat = Chat::new(Duration::from_millis(token_delay));
    let live = Live::new(Duration::from_secs(heartbeat.max(1)));
    let app = router(engine.clone(), table, tokens, chat.clone(), live.clone());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    // The port bound: the one asked for, or the system's choice for 0.
    println!("listening on http://{}", listener.local_addr()?);
    serve(
        listener,
        app,
        Duration::from_secs(header_timeout.max(1)),
        async {
            shutdown_signal().await;
            // The streams end now: each chat stream storing its reply so
            // far, each live one for its client to resume elsewhere.
            chat.stop();
            live.stop();
        },
    )
    .await;
    // Exchanges whose client went away are stored after their response
    // ended: wait for them too.
    if !chat.stopped(Duration::from_secs(10)).await {
        eprintln!("some chat exchanges were still being stored at shutdown");
    }
    // In-flight requests are done: let their statements finish, then close.
    engine.close(Duration::from_secs(5)).await?;
    Ok(())
}
