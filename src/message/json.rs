//! JSON as LangChain and the table see it: equality with numbers compared
//! by value (as JSONB and Python compare them), what JSONB can store, and
//! the small helpers the message model's checks share.

use serde_json::{Map, Value};

use crate::error::Error;

use super::deep;

/// An [`Error::InvalidMessage`] with `reason`.
pub(super) fn invalid(reason: impl Into<String>) -> Error {
    Error::InvalidMessage(reason.into())
}

pub(super) fn map_eq(a: &Map<String, Value>, b: &Map<String, Value>) -> bool {
    a.len() == b.len()
        && a.iter()
            .all(|(k, v)| b.get(k).is_some_and(|w| json_eq(v, w)))
}

pub(super) fn json_eq(a: &Value, b: &Value) -> bool {
    deep::grow(|| match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.to_string(), y.to_string());
            x == y || decimal(&x).is_some_and(|d| decimal(&y) == Some(d))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| json_eq(v, w))
        }
        (Value::Object(x), Value::Object(y)) => map_eq(x, y),
        _ => a == b,
    })
}

/// A JSON number as `(negative, significant digits, exponent)`, so that
/// equal values in any notation compare equal, exactly, at any size.
fn decimal(text: &str) -> Option<(bool, String, i64)> {
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], rest[i + 1..].parse::<i64>().ok()?),
        None => (rest, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{int}{frac}");
    let mut exponent = exponent.checked_sub(i64::try_from(frac.len()).ok()?)?;
    let trimmed = digits.trim_start_matches('0');
    let significant = trimmed.trim_end_matches('0');
    if significant.is_empty() {
        return Some((false, String::new(), 0));
    }
    exponent = exponent.checked_add(i64::try_from(trimmed.len() - significant.len()).ok()?)?;
    Some((negative, significant.to_owned(), exponent))
}

pub(super) fn object_field<'a>(data: &'a Map<String, Value>, key: &str) -> &'a Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    data.get(key)
        .and_then(Value::as_object)
        .unwrap_or_else(|| EMPTY.get_or_init(Map::new))
}

/// The list `data[key]`, empty when it is missing or not a list.
pub(super) fn array_field<'a>(data: &'a Map<String, Value>, key: &str) -> &'a [Value] {
    data.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

pub(super) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Why the table cannot store `value`, if it cannot: a U+0000 in a string
/// or key (JSONB refuses it), or a number outside JSONB's `numeric` range.
pub(super) fn storage_problem(value: &Value) -> Option<String> {
    deep::grow(|| match value {
        Value::String(s) if s.contains('\0') => {
            Some("it contains U+0000, which JSONB cannot store".into())
        }
        Value::Number(n) if !numeric_fits(&n.to_string()) => Some(format!(
            "the number {} is outside the range JSONB can store",
            abbreviated(&n.to_string())
        )),
        Value::Array(items) => items.iter().find_map(storage_problem),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            if k.contains('\0') {
                Some("a key contains U+0000, which JSONB cannot store".into())
            } else {
                storage_problem(v)
            }
        }),
        _ => None,
    })
}

/// Whether PostgreSQL's `numeric` (what JSONB stores numbers as) takes
/// this JSON number: at most 131072 digits before the decimal point, and at
/// most 16383 after it as written (trailing zeros count there).
fn numeric_fits(text: &str) -> bool {
    const BEFORE: i64 = 131_072;
    const AFTER: i64 = 16_383;
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(i) => match unsigned[i + 1..].parse::<i64>() {
            Ok(exponent) => (&unsigned[..i], exponent),
            Err(_) => return false,
        },
        None => (unsigned, 0),
    };
    let frac_len = mantissa.split_once('.').map_or(0, |(_, frac)| frac.len());
    let written_after = i64::try_from(frac_len)
        .ok()
        .and_then(|f| f.checked_sub(exponent));
    if written_after.is_none_or(|after| after > AFTER) {
        return false;
    }
    match decimal(text) {
        Some((_, digits, _)) if digits.is_empty() => true,
        Some((_, digits, exponent)) => i64::try_from(digits.len())
            .ok()
            .and_then(|n| n.checked_add(exponent))
            .is_some_and(|before| before <= BEFORE),
        None => false,
    }
}

/// A long text cut for an error message.
fn abbreviated(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_checked_against_numeric_as_postgresql_does() {
        // Each verdict was checked against PostgreSQL 15's `'...'::jsonb`.
        for fits in [
            "1e-16383",
            "1e131071",
            "1.000e-16380",
            "100e131069",
            "0.00",
            "-0",
            "12.5",
        ] {
            assert!(numeric_fits(fits), "{fits}");
        }
        for overflows in [
            "1e-16384",
            "0.5e-16383",
            "1e131072",
            "12e131071",
            "1.0000e-16380",
            "123.456e-16381",
            "1e99999999999999999999",
        ] {
            assert!(!numeric_fits(overflows), "{overflows}");
        }
    }

    #[test]
    fn numbers_compare_by_value() {
        for (a, b) in [
            ("1e-07", "0.0000001"),
            ("1.0", "1"),
            ("-0", "0"),
            ("100", "1e2"),
            ("1.50", "15E-1"),
        ] {
            assert_eq!(decimal(a), decimal(b), "{a} {b}");
        }
        for (a, b) in [
            ("1", "-1"),
            ("9007199254740993", "9007199254740992"),
            ("0.1", "0.10000000000000001"),
        ] {
            assert_ne!(decimal(a), decimal(b), "{a} {b}");
        }
    }
}
