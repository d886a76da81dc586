//! URL connection strings: the scheme, the credentials made safe to parse,
//! CockroachDB's default port, and the `ssl*` query options taken out.

use std::fmt::Write as _;

use crate::error::{Error, Result};

use super::ssl::SslParams;

/// The scheme and the rest of `s` when it is a URL: it starts with a
/// scheme (a letter, then letters, digits, `+`, `-` or `.`) and `://`. A
/// keyword string whose value holds `://` is not one.
pub(super) fn url_parts(s: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = s.split_once("://")?;
    let mut chars = scheme.chars();
    let starts = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let valid = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    (starts && valid).then_some((scheme, rest))
}

pub(super) fn scheme_is_cockroach(scheme: &str) -> Result<bool> {
    let base = scheme
        .split('+')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match base.as_str() {
        "postgres" | "postgresql" => Ok(false),
        "cockroachdb" => Ok(true),
        _ => Err(Error::Config(format!(
            "unsupported URL scheme {scheme:?}: use postgresql://, postgres:// or cockroachdb://"
        ))),
    }
}

/// Percent-encodes what a user name or password holds that a URL parser
/// would read as structure (`/`, `?`, `#`, `@`, `:` in the password, a `%`
/// that starts no escape, spaces, quotes, non-ASCII), so that such a
/// password reaches the server whole and never ends up in a host, a path
/// or a query option (and so in an error or a log). The credentials end at
/// the last `@` of the URL: an `@` in a query value must be encoded (`%40`).
pub(super) fn encode_userinfo(rest: &str) -> String {
    let Some(at) = rest.rfind('@') else {
        return rest.to_owned();
    };
    let (userinfo, tail) = rest.split_at(at);
    let encode = |part: &str| {
        let bytes = part.as_bytes();
        let mut out = String::with_capacity(part.len());
        for (i, &b) in bytes.iter().enumerate() {
            let escape = b == b'%'
                && bytes
                    .get(i + 1..i + 3)
                    .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit));
            if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=".contains(&b) || escape {
                out.push(char::from(b));
            } else {
                let _ = write!(out, "%{b:02X}");
            }
        }
        out
    };
    match userinfo.split_once(':') {
        Some((user, password)) => format!("{}:{}{tail}", encode(user), encode(password)),
        None => format!("{}{tail}", encode(userinfo)),
    }
}

/// Gives each host of a URL's authority that names no port the port `port`
/// (the driver would assume PostgreSQL's 5432).
pub(super) fn with_default_port(rest: &str, port: u16) -> String {
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (credentials, hosts) = match authority.rfind('@') {
        Some(at) => authority.split_at(at + 1),
        None => ("", authority),
    };
    let hosts: Vec<String> = hosts
        .split(',')
        .map(|host| {
            let has_port = match host.strip_prefix('[') {
                Some(v6) => v6.contains("]:"),
                None => host.contains(':'),
            };
            if host.is_empty() || has_port {
                host.to_owned()
            } else {
                format!("{host}:{port}")
            }
        })
        .collect();
    format!("{credentials}{}{tail}", hosts.join(","))
}

/// Rewrites `rest` (the URL after `scheme://`) as a `postgresql://` URL
/// without the `ssl*` query options, which go to `ssl`.
pub(super) fn url_without_ssl(rest: &str, ssl: &mut SslParams) -> Result<String> {
    let (base, query) = rest.split_once('?').unwrap_or((rest, ""));
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').ok_or_else(|| {
            Error::Config(format!(
                "query option {:?} has no value",
                decode(pair).unwrap_or_default()
            ))
        })?;
        if !ssl.take(&decode(key)?, decode(value)?) {
            kept.push(pair);
        }
    }
    let mut url = format!("postgresql://{base}");
    if !kept.is_empty() {
        url.push('?');
        url.push_str(&kept.join("&"));
    }
    Ok(url)
}

pub(super) fn decode(s: &str) -> Result<String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| Error::Config("a URL part is not valid UTF-8 after percent-decoding".into()))
}
