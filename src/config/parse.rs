//! A connection string read into a [`ConnectionConfig`]: its form told
//! apart, the options only a string has (`results_buffer_size`), and
//! errors that never repeat the password. The checks that need the whole
//! of it are those of every config (`check`).

use std::path::PathBuf;
use std::str::FromStr;

use crate::error::{Error, Result};

use super::ConnectionConfig;
use super::check::{TlsSettings, check};
use super::keywords::{keyword_pairs, keyword_without_ssl};
use super::ssl::{SslMode, SslParams};
use super::url::{
    decode, encode_userinfo, scheme_is_cockroach, url_parts, url_without_ssl, with_default_port,
};

impl FromStr for ConnectionConfig {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        // Whatever a step below says, it never repeats the password.
        parse(s).map_err(|e| match e {
            Error::Config(text) => Error::Config(without_secrets(s, text)),
            other => other,
        })
    }
}

/// `text` without anything that could be the password of `s`.
fn without_secrets(s: &str, mut text: String) -> String {
    let secrets = match url_parts(s) {
        Some((_, rest)) => match rest.rfind('@').and_then(|at| rest[..at].split_once(':')) {
            Some((_, password)) => vec![password.to_owned(), decode(password).unwrap_or_default()],
            None => Vec::new(),
        },
        None => keyword_pairs(s)
            .unwrap_or_default()
            .into_iter()
            .filter(|(key, _)| key == "password")
            .map(|(_, value)| value)
            .collect(),
    };
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        text = text.replace(secret.as_str(), "***");
    }
    text
}

fn parse(s: &str) -> Result<ConnectionConfig> {
    let mut ssl = SslParams::default();
    let pg_text = match url_parts(s) {
        Some((scheme, rest)) => {
            let rest = encode_userinfo(rest);
            if scheme_is_cockroach(scheme)? {
                url_without_ssl(&with_default_port(&rest, 26257), &mut ssl)?
            } else {
                url_without_ssl(&rest, &mut ssl)?
            }
        }
        None => keyword_without_ssl(s, &mut ssl)?,
    };
    let mut pg = tokio_postgres::Config::from_str(&pg_text)
        .map_err(|e| Error::Config(format!("invalid connection string: {}", cause(&e))))?;
    if let Some(size) = &ssl.results_buffer_size {
        // CockroachDB reads it from the startup message or from `options`
        // (`pkg/sql/pgwire/pre_serve_options.go`); the driver only sends
        // the latter. PostgreSQL refuses it there by name.
        if size.is_empty() || !size.chars().all(|c| c.is_ascii_alphanumeric() || c == '.') {
            return Err(Error::Config(format!(
                "results_buffer_size {size:?} is not a byte size (such as 16384 or 512KiB)"
            )));
        }
        let set = format!("-c results_buffer_size={size}");
        let options = match pg.get_options() {
            Some(options) if !options.is_empty() => format!("{options} {set}"),
            _ => set,
        };
        pg.options(&options);
    }
    let tls = TlsSettings {
        mode: ssl.mode.as_deref().map(SslMode::parse).transpose()?,
        root_cert: ssl.root_cert.map(PathBuf::from),
        cert: ssl.cert.map(PathBuf::from),
        key: ssl.key.map(PathBuf::from),
    };
    check(pg, tls, "the connection string")
}

/// The innermost message of a driver config error: it names options, never
/// their values, so it is safe to show.
fn cause(e: &tokio_postgres::Error) -> String {
    std::error::Error::source(e).map_or_else(|| e.to_string(), ToString::to_string)
}
