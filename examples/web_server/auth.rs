//! Who is calling: bearer tokens, the caller, and the namespace of their
//! sessions.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};

use super::App;
use super::errors::ApiError;

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
pub(crate) struct User(String);

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
    pub(crate) fn session(&self, name: &str) -> Result<String, ApiError> {
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

    pub(crate) fn namespace(&self) -> String {
        format!("{}:", self.0)
    }
}

/// The tokens: `--tokens FILE`, else `CHAT_TOKENS_FILE`, else `CHAT_TOKENS`.
pub(crate) fn tokens(file: Option<String>) -> Result<Tokens, String> {
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
