//! `/`: a page that shows a conversation live and posts to it. Plain HTML,
//! CSS and JavaScript kept beside this file (`page/`) and served from the
//! binary: no build step, nothing loaded from elsewhere, and a
//! Content-Security-Policy that allows nothing else (no inline script, no
//! other origin). The page needs no token to load; it asks for one, and
//! sends it with each request as the API wants it.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// What the page may load and where it may connect: its own script and
/// style, and this server.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                      connect-src 'self'; base-uri 'none'; form-action 'none'; \
                      frame-ancestors 'none'";

/// A file of the page, with the headers that keep it what it is.
fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    let fixed = [
        (header::CONTENT_TYPE, content_type),
        (header::CONTENT_SECURITY_POLICY, POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        // The session's name is in no URL, but say it anyway: nothing of
        // this page goes to another site.
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-cache"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

pub(crate) async fn index() -> Response {
    asset("text/html; charset=utf-8", include_str!("page/index.html"))
}

pub(crate) async fn script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("page/page.js"),
    )
}

pub(crate) async fn style() -> Response {
    asset("text/css; charset=utf-8", include_str!("page/page.css"))
}
