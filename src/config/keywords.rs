//! libpq `key=value` connection strings: split as libpq splits them, and
//! written back without the `ssl*` options.

use std::fmt::Write as _;

use crate::error::{Error, Result};

use super::ssl::SslParams;

/// Rewrites a libpq `key=value` string without the `ssl*` options.
pub(super) fn keyword_without_ssl(s: &str, ssl: &mut SslParams) -> Result<String> {
    let mut out = String::new();
    for (key, value) in keyword_pairs(s)? {
        if !ssl.take(&key, value.clone()) {
            let escaped = value.replace('\\', "\\\\").replace('\'', "\\'");
            let _ = write!(out, "{key}='{escaped}' ");
        }
    }
    Ok(out)
}

/// Splits `key = value` pairs the way libpq does: values may be quoted with
/// single quotes, with `\'` and `\\` escapes inside.
pub(super) fn keyword_pairs(s: &str) -> Result<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(pairs);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(Error::Config(format!(
                "expected `=` after the option name ending at character {} of the connection string",
                s.chars().count() - chars.clone().count()
            )));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    Some('\\') => value.extend(chars.next()),
                    Some('\'') => break,
                    Some(c) => value.push(c),
                    None => {
                        return Err(Error::Config(format!(
                            "the quoted value of {key:?} in the connection string is not closed"
                        )));
                    }
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                value.push(c);
            }
        }
        pairs.push((key, value));
    }
}
