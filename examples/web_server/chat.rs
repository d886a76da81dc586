//! `POST /sessions/{id}/chat`: the user's message in, the model's reply out
//! as server-sent events, the exchange stored once.

use std::convert::Infallible;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::Sse;
use axum::response::{IntoResponse, Response};
use langchain_cockroachdb::uuid::Uuid;
use langchain_cockroachdb::{Message, MessageType};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::UnboundedReceiverStream;

use super::App;
use super::auth::User;
use super::errors::{ApiError, Reply};
use super::model::Tokens;
use super::stream::{Exchange, end_event, token_event};
use super::writes::{idempotency_key, idempotent_id, messages_of};

/// How many of the newest messages the model sees, and how far back a
/// retried exchange is looked for (one read does both).
const CONTEXT: usize = 100;

/// The row ids of an exchange: the user's message's, then the reply's. As
/// a POST's are (`idempotent_id`), but in a space of their own (a header
/// never holds a NUL), so that a key sent on both routes names two
/// requests.
fn exchange_ids(session: &str, key: &str) -> (Uuid, Uuid) {
    let key = format!("chat\0{key}");
    (
        idempotent_id(session, &key, 0),
        idempotent_id(session, &key, 1),
    )
}

/// The body's one user message, in LangChain's form or OpenAI's.
fn user_message(body: Value) -> Result<Message, ApiError> {
    let messages = messages_of(body)?;
    match <[Message; 1]>::try_from(messages) {
        Ok([message]) if message.message_type() == MessageType::Human => Ok(message),
        _ => Err(ApiError::bad_request(
            "the body is one user message: {\"role\": \"user\", \"content\": ...} or a \
             LangChain human message",
        )),
    }
}

/// The stored reply of an exchange sent before, as the stream it was: the
/// model is not asked again, and a reply that was cut short stays so (its
/// `finish_reason` says it); to go on, send a new message with a new key.
fn replay(reply: &Message) -> Response {
    let text = reply.text();
    let finish_reason = reply
        .response_metadata()
        .get("finish_reason")
        .and_then(Value::as_str);
    let tokens = (!text.is_empty()).then(|| token_event(&text));
    let events = tokens
        .into_iter()
        .chain([end_event(finish_reason, true, 0)]);
    let events = events.map(Ok::<_, Infallible>);
    Sse::new(tokio_stream::iter(events)).into_response()
}

pub(crate) async fn chat(
    State(app): State<App>,
    user: User,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Reply {
    let session = user.session(&name)?;
    let Json(body) = body?;
    let human = user_message(body)?;
    // Without a key a retry could not be known for one: a client cut off
    // mid-stream cannot tell what was stored, and retrying is what it
    // should do.
    let Some(key) = idempotency_key(&headers)? else {
        return Err(ApiError::bad_request(
            "this route needs an Idempotency-Key header: a new one for each message, \
             the same one to retry it",
        ));
    };
    let history = app.history(session)?;
    let (human_id, ai_id) = exchange_ids(history.session_id(), &key);
    let recent = history.messages_page_back(None, CONTEXT).await?;
    let stored = |id| {
        recent
            .entries
            .iter()
            .find(|e| e.id == id)
            .map(|e| &e.message)
    };
    if let Some(reply) = stored(ai_id) {
        if stored(human_id).is_some_and(|asked| *asked != human) {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "this Idempotency-Key was sent with another message",
            ));
        }
        return Ok(replay(reply));
    }
    let Some(stopping) = app.chat.begin() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is stopping; retry later",
        ));
    };
    // The model reads the conversation oldest first.
    let context: Vec<Message> = recent
        .entries
        .into_iter()
        .rev()
        .map(|e| e.message)
        .collect();
    let tokens = Tokens::new(&context, &human.text(), app.chat.token_delay);
    let (events, received) = mpsc::unbounded_channel();
    let exchange = Exchange {
        history,
        human: (human_id, human),
        ai_id,
    };
    tokio::spawn(exchange.run(tokens, events, stopping));
    let stream = UnboundedReceiverStream::new(received).map(Ok::<_, Infallible>);
    Ok(Sse::new(stream).into_response())
}
