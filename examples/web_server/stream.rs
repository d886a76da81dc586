//! One exchange, streamed: the reply's tokens go to the client as the model
//! makes them, then the exchange (the user's message and the reply) is
//! stored in one write under the ids chosen before the stream began,
//! whatever became of the client. The exchange runs in a task of its own,
//! not in the response: when a client goes away, hyper drops the response
//! body, and with it anything the body was running.

use std::sync::Arc;
use std::time::Duration;

use axum::response::sse::Event;
use langchain_cockroachdb::nonblocking::AsyncCockroachDBChatMessageHistory;
use langchain_cockroachdb::uuid::Uuid;
use langchain_cockroachdb::{Error, Message};
use serde_json::{Map, Value, json};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::model::{MODEL_NAME, Tokens};

/// The longest a reply may stream: a model that is still talking then is
/// cut, and what it said is stored as cut short.
const STREAM_DEADLINE: Duration = Duration::from_secs(60);
/// How often the server writes an exchange whose outcome stays unknown.
const STORE_ATTEMPTS: u32 = 3;

/// The chat route's model, and the exchanges in flight, so that a shutdown
/// can end them and wait for their writes.
#[derive(Clone)]
pub struct Chat {
    /// The local model's pace: the time it takes to make a token.
    pub(crate) token_delay: Duration,
    /// `true` once the server stops. Each exchange holds a receiver until
    /// its write is done, so that `stopped` can wait for them all.
    stopping: Arc<watch::Sender<bool>>,
}

impl Chat {
    /// A chat whose model makes a token every `token_delay`.
    pub fn new(token_delay: Duration) -> Chat {
        Chat {
            token_delay,
            stopping: Arc::new(watch::channel(false).0),
        }
    }

    /// Ends every stream now, each storing the reply so far as cut short;
    /// new exchanges are refused (503).
    pub fn stop(&self) {
        self.stopping.send_replace(true);
    }

    /// Waits up to `wait` for the exchanges in flight to be stored; whether
    /// they all were.
    pub async fn stopped(&self, wait: Duration) -> bool {
        tokio::time::timeout(wait, self.stopping.closed())
            .await
            .is_ok()
    }

    /// What a new exchange watches for the server's stop; `None` once it
    /// has stopped.
    pub(crate) fn begin(&self) -> Option<watch::Receiver<bool>> {
        let stopping = self.stopping.subscribe();
        let stopped = *stopping.borrow();
        (!stopped).then_some(stopping)
    }
}

/// Why a reply ended.
#[derive(Clone, Copy, Debug)]
enum End {
    /// The model finished.
    Complete,
    /// The client went away.
    ClientGone,
    /// `STREAM_DEADLINE` passed.
    Deadline,
    /// The server is stopping.
    Shutdown,
}

impl End {
    /// The reply's `finish_reason`, in LangChain's `response_metadata`:
    /// `stop`, as OpenAI's chat models say of a reply the model ended;
    /// `cancelled` for one cut short before the model was done, as OpenAI
    /// says of a response stopped before it completed (its Responses API's
    /// `status`, which langchain-openai keeps in `response_metadata` too).
    fn finish_reason(self) -> &'static str {
        match self {
            End::Complete => "stop",
            End::ClientGone | End::Deadline | End::Shutdown => "cancelled",
        }
    }
}

/// A reply's `response_metadata`, as a LangChain chat model fills it.
pub(crate) fn response_metadata(finish_reason: &str) -> Map<String, Value> {
    let mut metadata = Map::new();
    metadata.insert("finish_reason".into(), json!(finish_reason));
    metadata.insert("model_name".into(), json!(MODEL_NAME));
    metadata
}

/// A piece of the reply.
pub(crate) fn token_event(text: &str) -> Event {
    Event::default()
        .event("token")
        .data(json!({ "text": text }).to_string())
}

/// The last event of a reply that is stored: why it ended, whether it was
/// replayed from the store, and how many rows this request added (2, or 0
/// when they were there already).
pub(crate) fn end_event(finish_reason: Option<&str>, replayed: bool, new: u64) -> Event {
    let data = json!({"finish_reason": finish_reason, "replayed": replayed, "new": new});
    Event::default().event("end").data(data.to_string())
}

/// The last event of a reply that could not be stored.
fn error_event(message: &str) -> Event {
    Event::default()
        .event("error")
        .data(json!({ "error": message }).to_string())
}

/// An exchange whose row ids were chosen before its stream.
pub(crate) struct Exchange {
    pub(crate) history: AsyncCockroachDBChatMessageHistory,
    pub(crate) human: (Uuid, Message),
    pub(crate) ai_id: Uuid,
}

impl Exchange {
    /// Streams the reply from `tokens` to `events`, until the model is
    /// done, the client goes, the deadline passes or the server stops; then
    /// stores the user's message and the reply so far, marked with why it
    /// ended, and tells the client (if it is still there) how that went.
    /// `stopping` is held until the write is done (`Chat::stopped`).
    pub(crate) async fn run(
        self,
        mut tokens: Tokens,
        events: mpsc::UnboundedSender<Event>,
        mut stopping: watch::Receiver<bool>,
    ) {
        let deadline = Instant::now() + STREAM_DEADLINE;
        let mut reply = String::new();
        let end = loop {
            let token = tokio::select! {
                token = tokens.next() => token,
                () = events.closed() => break End::ClientGone,
                // Also when the server's router is gone.
                _ = stopping.wait_for(|stop| *stop) => break End::Shutdown,
                () = tokio::time::sleep_until(deadline) => break End::Deadline,
            };
            let Some(token) = token else {
                break End::Complete;
            };
            // The reply as far as it went out to the client.
            if events.send(token_event(&token)).is_err() {
                break End::ClientGone;
            }
            reply.push_str(&token);
        };
        let session = self.history.session_id().to_owned();
        if !matches!(end, End::Complete) {
            eprintln!("chat {session}: {end:?}; the reply so far is stored as cancelled");
        }
        let finish_reason = end.finish_reason();
        let ai = Message::ai(reply).with_response_metadata(response_metadata(finish_reason));
        let rows = [self.human, (self.ai_id, ai)];
        let last = match store(&self.history, &rows).await {
            Ok(new) => end_event(Some(finish_reason), false, new),
            Err(err) => {
                eprintln!("chat {session}: the exchange was not stored: {err}");
                error_event(
                    "the exchange could not be stored; send the request again with the \
                     same Idempotency-Key",
                )
            }
        };
        // To nobody, when the client went away: the log has said it all.
        let _ = events.send(last);
    }
}

/// Stores the exchange in one write. An outcome left unknown is settled by
/// writing again under the same ids, which stores nothing twice: here the
/// server does it, since a client that went away will not.
async fn store(
    history: &AsyncCockroachDBChatMessageHistory,
    rows: &[(Uuid, Message)],
) -> Result<u64, Error> {
    let mut attempt = 1;
    loop {
        match history.add_messages_with_ids(rows).await {
            Err(err) if (err.is_ambiguous() || err.is_retryable()) && attempt < STORE_ATTEMPTS => {
                eprintln!("chat {}: writing again: {err}", history.session_id());
                tokio::time::sleep(Duration::from_millis(500)).await;
                attempt += 1;
            }
            done => return done,
        }
    }
}
