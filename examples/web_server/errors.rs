//! Errors as JSON: what the client may know, and what only the log sees.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use langchain_cockroachdb::Error;
use serde_json::json;

/// An error as the client sees it, and the detail only the log sees.
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
    detail: Option<String>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            detail: None,
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub(crate) fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "no such session")
    }

    /// Its status and what the client may know; the detail goes to the log.
    pub(crate) fn logged(self) -> (StatusCode, String) {
        if let Some(detail) = &self.detail {
            eprintln!("error {}: {detail}", self.status.as_u16());
        }
        (self.status, self.message)
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

/// A body that is not JSON, or too large: axum's own status and words.
impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        ApiError::new(rejection.status(), rejection.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = self.logged();
        let mut response = (status, Json(json!({ "error": message }))).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// What a handler answers: its response, or an error as JSON.
pub(crate) type Reply = Result<Response, ApiError>;
