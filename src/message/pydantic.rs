//! What pydantic checks and fills in when langchain_core's message models
//! take a dict: each field's type (`str`, `dict`, `list`, optional or not),
//! its default when missing, and the lax coercions (a numeric id to a
//! string, pydantic's lax `int`), for the fields of every message, of a
//! tool message and of an AI message and its chunk.

use serde_json::{Map, Number, Value};

use super::json::{array_field, invalid, json_kind};
use super::kind::MessageType;
use super::python::number_str;
use crate::error::Result;

/// `content: str | list[str | dict]`.
pub(super) fn check_content(data: &Map<String, Value>) -> Result<()> {
    match data.get("content") {
        Some(Value::String(_)) => Ok(()),
        Some(Value::Array(parts)) => match parts
            .iter()
            .position(|p| !matches!(p, Value::String(_) | Value::Object(_)))
        {
            None => Ok(()),
            Some(i) => Err(invalid(format!(
                "content[{i}] must be a string or an object, got {}",
                json_kind(&parts[i])
            ))),
        },
        Some(other) => Err(invalid(format!(
            "content must be a string or a list, got {}",
            json_kind(other)
        ))),
        None => Err(invalid("content is missing")),
    }
}

/// The fields of every message: `additional_kwargs` and `response_metadata`
/// objects, `name` a string or null, `id` a string or null with numbers
/// turned into strings (pydantic's `coerce_numbers_to_str`).
pub(super) fn common_fields(data: &mut Map<String, Value>) -> Result<()> {
    for key in ["additional_kwargs", "response_metadata"] {
        match data.get(key) {
            None => {
                data.insert(key.into(), Value::Object(Map::new()));
            }
            Some(Value::Object(_)) => {}
            Some(other) => {
                return Err(invalid(format!(
                    "{key} must be an object, got {}",
                    json_kind(other)
                )));
            }
        }
    }
    optional_string(data, "name")?;
    if let Some(Value::Number(n)) = data.get("id") {
        let id = number_str(n);
        data.insert("id".into(), Value::String(id));
    }
    optional_string(data, "id")
}

fn optional_string(data: &mut Map<String, Value>, key: &str) -> Result<()> {
    match data.get(key) {
        None => {
            data.insert(key.into(), Value::Null);
            Ok(())
        }
        Some(Value::String(_) | Value::Null) => Ok(()),
        Some(other) => Err(invalid(format!(
            "{key} must be a string or null, got {}",
            json_kind(other)
        ))),
    }
}

pub(super) fn required_string(data: &Map<String, Value>, key: &str) -> Result<()> {
    match data.get(key) {
        Some(Value::String(_)) => Ok(()),
        Some(other) => Err(invalid(format!(
            "{key} must be a string, got {}",
            json_kind(other)
        ))),
        None => Err(invalid(format!("{key} is missing"))),
    }
}

pub(super) fn tool_fields(data: &mut Map<String, Value>) -> Result<()> {
    required_string(data, "tool_call_id")?;
    data.entry("artifact").or_insert(Value::Null);
    match data.get("status") {
        None => {
            data.insert("status".into(), Value::String("success".into()));
            Ok(())
        }
        Some(Value::String(s)) if s == "success" || s == "error" => Ok(()),
        Some(other) => Err(invalid(format!(
            "status must be \"success\" or \"error\", got {other}"
        ))),
    }
}

/// The AI fields, as pydantic checks them.
pub(super) fn ai_fields(kind: MessageType, data: &mut Map<String, Value>) -> Result<()> {
    for key in ["tool_calls", "invalid_tool_calls"] {
        match data.get(key) {
            None => {
                data.insert(key.into(), Value::Array(Vec::new()));
            }
            Some(Value::Array(_)) => {}
            Some(other) => {
                return Err(invalid(format!(
                    "{key} must be a list, got {}",
                    json_kind(other)
                )));
            }
        }
    }
    for (i, call) in array_field(data, "tool_calls").iter().enumerate() {
        let at = |field: &str| format!("tool_calls[{i}].{field}");
        expect(call, "name", &at("name"), Expect::String)?;
        expect(call, "args", &at("args"), Expect::Object)?;
        expect(call, "id", &at("id"), Expect::StringOrNull)?;
    }
    for (i, call) in array_field(data, "invalid_tool_calls").iter().enumerate() {
        for field in ["name", "args", "id", "error"] {
            expect(
                call,
                field,
                &format!("invalid_tool_calls[{i}].{field}"),
                Expect::StringOrNull,
            )?;
        }
    }
    match data.get_mut("usage_metadata") {
        None => {
            data.insert("usage_metadata".into(), Value::Null);
        }
        Some(Value::Null) => {}
        Some(Value::Object(usage)) => usage_metadata(usage)?,
        Some(other) => {
            return Err(invalid(format!(
                "usage_metadata must be an object or null, got {}",
                json_kind(other)
            )));
        }
    }
    if kind == MessageType::AiChunk {
        match data.get_mut("tool_call_chunks") {
            None => {
                data.insert("tool_call_chunks".into(), Value::Array(Vec::new()));
            }
            Some(Value::Array(chunks)) => {
                for (i, chunk) in chunks.iter_mut().enumerate() {
                    let at = |field: &str| format!("tool_call_chunks[{i}].{field}");
                    for field in ["name", "args", "id"] {
                        expect(chunk, field, &at(field), Expect::StringOrNull)?;
                    }
                    if let Some(Value::Object(chunk)) = Some(chunk) {
                        lax_int(chunk, "index", &at("index"), true)?;
                    }
                }
            }
            Some(other) => {
                return Err(invalid(format!(
                    "tool_call_chunks must be a list, got {}",
                    json_kind(other)
                )));
            }
        }
        match data.get("chunk_position") {
            None => {
                data.insert("chunk_position".into(), Value::Null);
            }
            Some(Value::Null) => {}
            Some(Value::String(s)) if s == "last" => {}
            Some(other) => {
                return Err(invalid(format!(
                    "chunk_position must be \"last\" or null, got {other}"
                )));
            }
        }
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Expect {
    String,
    StringOrNull,
    Object,
}

fn expect(item: &Value, key: &str, path: &str, want: Expect) -> Result<()> {
    let value = item.get(key).unwrap_or(&Value::Null);
    let ok = matches!(
        (want, value),
        (Expect::String | Expect::StringOrNull, Value::String(_))
            | (Expect::StringOrNull, Value::Null)
            | (Expect::Object, Value::Object(_))
    );
    if ok {
        return Ok(());
    }
    let wanted = match want {
        Expect::String => "a string",
        Expect::StringOrNull => "a string or null",
        Expect::Object => "an object",
    };
    Err(invalid(format!(
        "{path} must be {wanted}, got {}",
        json_kind(value)
    )))
}

/// `UsageMetadata`: three required token counts, and optional details whose
/// known counts are integers too; other keys are kept as they are.
fn usage_metadata(usage: &mut Map<String, Value>) -> Result<()> {
    for key in ["input_tokens", "output_tokens", "total_tokens"] {
        if !usage.contains_key(key) {
            return Err(invalid(format!("usage_metadata.{key} is missing")));
        }
        lax_int(usage, key, &format!("usage_metadata.{key}"), false)?;
    }
    for (details, known) in [
        (
            "input_token_details",
            &["audio", "cache_creation", "cache_read"][..],
        ),
        ("output_token_details", &["audio", "reasoning"][..]),
    ] {
        match usage.get_mut(details) {
            None => {}
            Some(Value::Object(counts)) => {
                for key in known {
                    if counts.contains_key(*key) {
                        lax_int(
                            counts,
                            key,
                            &format!("usage_metadata.{details}.{key}"),
                            false,
                        )?;
                    }
                }
            }
            Some(other) => {
                return Err(invalid(format!(
                    "usage_metadata.{details} must be an object, got {}",
                    json_kind(other)
                )));
            }
        }
    }
    Ok(())
}

/// pydantic's lax `int`: integers, floats without a fraction, booleans and
/// numeric strings become integers; anything else is refused (`null` too,
/// unless `nullable`).
fn lax_int(map: &mut Map<String, Value>, key: &str, path: &str, nullable: bool) -> Result<()> {
    let value = map.get(key).cloned().unwrap_or(Value::Null);
    let int = match &value {
        Value::Null if nullable => return Ok(()),
        Value::Bool(b) => Some(i64::from(*b).to_string()),
        Value::Number(n) => integral(&n.to_string()),
        Value::String(s) => {
            let text = s.trim();
            if text.contains(['.', 'e', 'E']) {
                None
            } else {
                integral(text)
            }
        }
        _ => None,
    };
    match int.and_then(|text| serde_json::from_str::<Number>(&text).ok()) {
        Some(n) => {
            map.insert(key.into(), Value::Number(n));
            Ok(())
        }
        None => Err(invalid(format!("{path} must be an integer, got {value}"))),
    }
}

/// The integer a number's text stands for, if it has no fraction.
fn integral(text: &str) -> Option<String> {
    if !text.contains(['.', 'e', 'E']) {
        let digits = text.strip_prefix('-').unwrap_or(text);
        return (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| text.to_owned());
    }
    let x: f64 = text.parse().ok()?;
    (x.fract() == 0.0 && x.abs() < 9.007_199_254_740_992e15).then(|| format!("{}", x as i64))
}
