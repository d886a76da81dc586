//! `GET /sessions/{id}/events`: a conversation live, as server-sent events
//! from a watch of the session; the streams open, and their end at
//! shutdown.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_core::Stream;
use langchain_cockroachdb::nonblocking::Watch;
use langchain_cockroachdb::time::UtcOffset;
use langchain_cockroachdb::time::format_description::well_known::Rfc3339;
use langchain_cockroachdb::to_openai_messages;
use langchain_cockroachdb::{Error, StoredMessage, WatchCursor, WatchEvent, WatchFrom};
use serde_json::{Value, json};
use tokio::sync::watch;

use super::App;
use super::auth::User;
use super::errors::{ApiError, Reply};
use super::reads::params;

/// The event streams: how often an idle one says it is alive, how many are
/// open, and the server's stop, which ends them all.
#[derive(Clone)]
pub struct Live {
    heartbeat: Duration,
    /// `true` once the server stops.
    stopping: Arc<watch::Sender<bool>>,
    open: Arc<AtomicUsize>,
}

impl Live {
    /// Streams with a heartbeat (an SSE comment, `: heartbeat`) after
    /// `heartbeat` without an event.
    pub fn new(heartbeat: Duration) -> Live {
        Live {
            heartbeat,
            stopping: Arc::new(watch::channel(false).0),
            open: Arc::default(),
        }
    }

    /// Ends every stream now (the client resumes elsewhere from its last
    /// event's id); new ones are refused (503).
    pub fn stop(&self) {
        self.stopping.send_replace(true);
    }

    /// How many streams are open, each holding a watch of its session.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }
}

/// How a message goes out: LangChain's dict, or OpenAI's message.
#[derive(Clone, Copy)]
enum Format {
    LangChain,
    OpenAi,
}

impl Format {
    fn of(params: &HashMap<String, String>) -> Result<Format, ApiError> {
        match params.get("format").map_or("langchain", String::as_str) {
            "langchain" => Ok(Format::LangChain),
            "openai" => Ok(Format::OpenAi),
            other => Err(ApiError::bad_request(format!(
                "format={other:?}: use langchain or openai"
            ))),
        }
    }

    /// The data of a `message` event: the row's id (the same message seen
    /// twice has the same), when it was stored (RFC 3339, UTC), and the
    /// message.
    fn data(self, entry: &StoredMessage) -> Result<Value, Error> {
        let message = match self {
            Format::LangChain => entry.message.to_dict(),
            Format::OpenAi => to_openai_messages(std::slice::from_ref(&entry.message))?
                .into_iter()
                .next()
                .unwrap_or(Value::Null),
        };
        let created_at = entry.created_at.to_offset(UtcOffset::UTC).format(&Rfc3339);
        let created_at = created_at.map_err(|e| Error::InvalidArgument(e.to_string()))?;
        Ok(json!({"id": entry.id, "created_at": created_at, "message": message}))
    }
}

/// Where the stream starts: after `Last-Event-ID` (what an `EventSource`
/// sends when it reconnects), else after `?cursor=` (for a first connect
/// that resumes), else at the beginning: a page shows the whole
/// conversation, then what comes. An empty `Last-Event-ID` is none, as in
/// the SSE standard (an empty `id:` resets it).
fn start(headers: &HeaderMap, params: &HashMap<String, String>) -> Result<WatchFrom, ApiError> {
    let header = match headers.get("last-event-id").map(HeaderValue::to_str) {
        Some(Ok(id)) => Some(id.trim()).filter(|id| !id.is_empty()),
        Some(Err(_)) => return Err(ApiError::bad_request("Last-Event-ID: not a watch cursor")),
        None => None,
    };
    let (name, cursor) = match (header, params.get("cursor")) {
        (Some(id), _) => ("Last-Event-ID", id),
        (None, Some(cursor)) => ("cursor", cursor.as_str()),
        (None, None) => return Ok(WatchFrom::Beginning),
    };
    match cursor.parse::<WatchCursor>() {
        Ok(cursor) => Ok(WatchFrom::After(cursor)),
        Err(err) => Err(ApiError::bad_request(format!("{name}: {err}"))),
    }
}

pub(crate) async fn events(
    State(app): State<App>,
    user: User,
    Path(name): Path<String>,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> Reply {
    let params = params(query, &["cursor", "format"])?;
    let session = user.session(&name)?;
    let format = Format::of(&params)?;
    let from = start(&headers, &params)?;
    let mut stopping = app.live.stopping.subscribe();
    if *stopping.borrow_and_update() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is stopping; reconnect to another",
        ));
    }
    // A session with no message yet is watched all the same: a page opens
    // a conversation before its first message. Another user's session is
    // another namespace's: nothing of it comes here.
    let watch = app.history(session)?.watch(from).await?;
    let stream = Events {
        watch,
        format,
        stop: Box::pin(async move {
            // Also when the sender is gone: the server is.
            let _ = stopping.wait_for(|stop| *stop).await;
        }),
        ended: false,
        _open: Open::new(&app.live.open),
    };
    let keep_alive = KeepAlive::new()
        .interval(app.live.heartbeat)
        .text("heartbeat");
    let mut response = Sse::new(stream).keep_alive(keep_alive).into_response();
    // Proxies that buffer responses (nginx) pass this one on as it comes.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// One open stream, counted while it lives.
struct Open(Arc<AtomicUsize>);

impl Open {
    fn new(count: &Arc<AtomicUsize>) -> Open {
        count.fetch_add(1, Ordering::SeqCst);
        Open(Arc::clone(count))
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A watch as server-sent events, until the server stops, the watch fails
/// or the client goes away: hyper then drops the response body, and with
/// it the watch (a write that fails tells it, at the latest the next
/// heartbeat's). It reads only as the client takes its events.
struct Events {
    watch: Watch,
    format: Format,
    stop: Pin<Box<dyn Future<Output = ()> + Send>>,
    /// After an `error` event, or the server's stop: the stream ends.
    ended: bool,
    _open: Open,
}

impl Events {
    /// `message` (its `id:` the cursor after it), `deleted` (how many),
    /// or `None` for a kind of event this server does not know.
    fn event(&self, event: WatchEvent) -> Result<Option<Event>, Error> {
        let (name, data) = match &event {
            WatchEvent::Message { entry, .. } => ("message", self.format.data(entry)?),
            WatchEvent::Deleted { count, .. } => ("deleted", json!({ "count": count })),
            _ => return Ok(None),
        };
        let event = Event::default()
            .event(name)
            .id(event.cursor().to_string())
            .data(data.to_string());
        Ok(Some(event))
    }
}

/// The last event of a stream that failed: what the client may know. It
/// resumes from its last event's id.
fn error_event(err: Error) -> Event {
    let (_, message) = ApiError::from(err).logged();
    Event::default()
        .event("error")
        .data(json!({ "error": message }).to_string())
}

impl Stream for Events {
    type Item = Result<Event, Infallible>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if this.ended || this.stop.as_mut().poll(cx).is_ready() {
                // Not polled again, once ready.
                this.ended = true;
                return Poll::Ready(None);
            }
            let next = std::task::ready!(Pin::new(&mut this.watch).poll_next(cx));
            let event = match next.map(|event| event.and_then(|event| this.event(event))) {
                // The engine closed: the server is stopping.
                None => return Poll::Ready(None),
                Some(Ok(Some(event))) => event,
                Some(Ok(None)) => continue,
                // A new stream reads again from the client's last id; this
                // one would only repeat the failure.
                Some(Err(err)) => {
                    this.ended = true;
                    error_event(err)
                }
            };
            return Poll::Ready(Some(Ok(event)));
        }
    }
}
