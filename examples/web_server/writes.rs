//! The routes that change a session: a POST of messages, a DELETE.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use langchain_cockroachdb::uuid::Uuid;
use langchain_cockroachdb::{Error, Message, from_openai_messages};
use serde_json::{Value, json};

use super::App;
use super::auth::User;
use super::errors::{ApiError, Reply};

/// A LangChain dict (`{"type", "data"}`), an OpenAI one (`{"role",
/// "content"}`), or a list of them.
pub(crate) fn messages_of(body: Value) -> Result<Vec<Message>, Error> {
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

/// The row id of the message at `position` in a request with an
/// idempotency key: the same for the same session, key and position,
/// whenever the client sends it again.
pub(crate) fn idempotent_id(session: &str, key: &str, position: usize) -> Uuid {
    Uuid::new_v5(
        &Uuid::NAMESPACE_OID,
        format!("{session}\0{key}\0{position}").as_bytes(),
    )
}

/// The `Idempotency-Key` header, if the request has one: 1 to 200 visible
/// ASCII characters.
pub(crate) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    match headers.get("idempotency-key").map(HeaderValue::to_str) {
        Some(Ok(key)) if !key.is_empty() && key.len() <= 200 => Ok(Some(key.to_owned())),
        Some(_) => Err(ApiError::bad_request(
            "Idempotency-Key must be 1 to 200 visible ASCII characters",
        )),
        None => Ok(None),
    }
}

pub(crate) async fn add(
    State(app): State<App>,
    user: User,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Reply {
    let session = user.session(&name)?;
    let Json(body) = body?;
    let messages = messages_of(body)?;
    let key = idempotency_key(&headers)?;
    let history = app.history(session)?;
    let new = match key {
        Some(key) => {
            let rows: Vec<(Uuid, Message)> = (messages.iter().cloned().enumerate())
                .map(|(i, m)| (idempotent_id(history.session_id(), &key, i), m))
                .collect();
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

pub(crate) async fn delete(State(app): State<App>, user: User, Path(name): Path<String>) -> Reply {
    let history = app.history(user.session(&name)?)?;
    if history.message_count().await? == 0 {
        return Err(ApiError::not_found());
    }
    history.clear().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
