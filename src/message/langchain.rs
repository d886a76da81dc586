//! What langchain_core 1.8.3 does to a message dict when it reads one
//! (`messages_from_dict`): its pydantic models' checks and coercions and its
//! validators' normalizations, so that a message this crate accepts is
//! exactly one LangChain accepts, and reads as LangChain reads it.
//!
//! Checked against the real library by the differential corpus in
//! `tests/fixtures/langchain_corpus.json` (made by
//! `tests/fixtures/gen/gen_corpus.py`).

use std::borrow::Cow;

use serde_json::{Map, Number, Value};

use super::MessageType;
use super::json::{invalid, json_kind};
use super::python::{json_dumps, number_str, object, parse_partial_json, str_of, truthy};
use crate::error::Result;

/// Turns the `data` of a `kind` message into what LangChain's model would
/// hold, or says why LangChain would refuse it.
pub(super) fn normalize(kind: MessageType, data: &mut Map<String, Value>) -> Result<()> {
    if already_normal(kind, data) {
        return Ok(());
    }
    if let Some(t) = data
        .get("type")
        .filter(|t| t.as_str() != Some(kind.as_str()))
    {
        return Err(invalid(format!(
            "data.type {t} does not match the message type {:?}",
            kind.as_str()
        )));
    }
    match kind.base() {
        MessageType::Tool => coerce_tool_args(data)?,
        MessageType::Remove => remove_content(data)?,
        MessageType::Ai => ai_before(kind, data)?,
        _ => {}
    }
    check_content(data)?;
    common_fields(data)?;
    match kind.base() {
        MessageType::Chat => required_string(data, "role")?,
        MessageType::Function => required_string(data, "name")?,
        MessageType::Tool => tool_fields(data)?,
        MessageType::Ai => ai_fields(kind, data)?,
        _ => {}
    }
    if kind == MessageType::AiChunk {
        init_tool_calls(data);
    }
    if data.get("type").and_then(Value::as_str) != Some(kind.as_str()) {
        data.insert("type".into(), Value::String(kind.as_str().into()));
    }
    Ok(())
}

/// Whether `data` is already what LangChain holds for a human, system,
/// chat or function message (as every row this crate or Python wrote is):
/// one pass over its fields instead of a lookup per field, the common case
/// of every read.
fn already_normal(kind: MessageType, data: &Map<String, Value>) -> bool {
    let required = match kind.base() {
        MessageType::Human | MessageType::System => None,
        MessageType::Chat => Some("role"),
        MessageType::Function => Some("name"),
        _ => return false,
    };
    let mut seen = 0;
    for (key, value) in data {
        let ok = match key.as_str() {
            "content" => match value {
                Value::String(_) => true,
                Value::Array(parts) => parts
                    .iter()
                    .all(|p| matches!(p, Value::String(_) | Value::Object(_))),
                _ => false,
            },
            "additional_kwargs" | "response_metadata" => value.is_object(),
            "type" => value.as_str() == Some(kind.as_str()),
            "id" => matches!(value, Value::String(_) | Value::Null),
            "name" if required == Some("name") => value.is_string(),
            "name" => matches!(value, Value::String(_) | Value::Null),
            "role" if required == Some("role") => value.is_string(),
            _ => continue,
        };
        if !ok {
            return false;
        }
        seen += 1;
    }
    seen == 6 + usize::from(required == Some("role"))
}

/// `content: str | list[str | dict]`.
fn check_content(data: &Map<String, Value>) -> Result<()> {
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
fn common_fields(data: &mut Map<String, Value>) -> Result<()> {
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

fn required_string(data: &Map<String, Value>, key: &str) -> Result<()> {
    match data.get(key) {
        Some(Value::String(_)) => Ok(()),
        Some(other) => Err(invalid(format!(
            "{key} must be a string, got {}",
            json_kind(other)
        ))),
        None => Err(invalid(format!("{key} is missing"))),
    }
}

/// `ToolMessage.coerce_args`: content that is neither a string nor a list
/// becomes its `str()`, and so do list items that are neither strings nor
/// objects; a numeric `tool_call_id` becomes a string.
fn coerce_tool_args(data: &mut Map<String, Value>) -> Result<()> {
    let content = data.remove("content").unwrap_or(Value::Null);
    let content = match content {
        Value::String(_) => content,
        Value::Array(parts) => Value::Array(
            parts
                .into_iter()
                .map(|p| match p {
                    Value::String(_) | Value::Object(_) => p,
                    other => Value::String(str_of(&other)),
                })
                .collect(),
        ),
        other => Value::String(str_of(&other)),
    };
    data.insert("content".into(), content);
    match data.get("tool_call_id") {
        Some(Value::Number(_) | Value::Bool(_)) => {
            let id = str_of(&data["tool_call_id"]);
            data.insert("tool_call_id".into(), Value::String(id));
            Ok(())
        }
        Some(_) => Ok(()),
        None => Err(invalid("tool_call_id is missing")),
    }
}

fn tool_fields(data: &mut Map<String, Value>) -> Result<()> {
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

/// `RemoveMessage(id, **kwargs)`: an `id` is required (null is taken), and
/// content must be empty; it is stored as `""`.
fn remove_content(data: &mut Map<String, Value>) -> Result<()> {
    if !data.contains_key("id") {
        return Err(invalid(
            "id is missing: a remove message names the message to remove",
        ));
    }
    if data.get("content").is_some_and(truthy) {
        return Err(invalid(
            "content must be empty: a remove message does not support content",
        ));
    }
    data.insert("content".into(), Value::String(String::new()));
    Ok(())
}

/// `AIMessage._backwards_compat_tool_calls`: tool calls read from OpenAI's
/// `additional_kwargs.tool_calls` when none are given, and every tool call,
/// invalid tool call and chunk rebuilt by its factory (which adds `type`
/// and refuses unknown keys).
fn ai_before(kind: MessageType, data: &mut Map<String, Value>) -> Result<()> {
    let given = ["tool_calls", "invalid_tool_calls", "tool_call_chunks"]
        .iter()
        .any(|k| data.get(*k).is_some_and(truthy));
    if !given {
        let raw = match data.get("additional_kwargs") {
            None => None,
            Some(Value::Object(kwargs)) => kwargs.get("tool_calls").filter(|v| truthy(v)).cloned(),
            Some(other) => {
                return Err(invalid(format!(
                    "additional_kwargs must be an object, got {}",
                    json_kind(other)
                )));
            }
        };
        if let Some(raw) = raw {
            // LangChain logs and ignores a parser failure.
            if kind == MessageType::AiChunk {
                if let Some(chunks) = openai_tool_chunks(&raw) {
                    data.insert("tool_call_chunks".into(), Value::Array(chunks));
                }
            } else if let Some((calls, invalid_calls)) = openai_tool_calls(&raw) {
                data.insert("tool_calls".into(), Value::Array(calls));
                data.insert("invalid_tool_calls".into(), Value::Array(invalid_calls));
            }
        }
    }
    rebuild(
        data,
        "tool_calls",
        &["name", "args", "id"],
        &["name", "args", "id"],
        "tool_call",
        &["type", "extras"],
    )?;
    rebuild(
        data,
        "invalid_tool_calls",
        &["name", "args", "id", "error"],
        &[],
        "invalid_tool_call",
        &["type"],
    )?;
    rebuild(
        data,
        "tool_call_chunks",
        &["name", "args", "id", "index"],
        &[],
        "tool_call_chunk",
        &["type"],
    )
}

/// `[factory(**{k: v for k, v in item.items() if k not in dropped}) for
/// item in data[key]]`, when `data[key]` is truthy: the factory takes the
/// keyword arguments `params` (those in `required` without a default) and
/// returns them all with `type` set.
fn rebuild(
    data: &mut Map<String, Value>,
    key: &str,
    params: &[&str],
    required: &[&str],
    type_name: &str,
    dropped: &[&str],
) -> Result<()> {
    let Some(Value::Array(items)) = data.get(key).filter(|v| truthy(v)) else {
        return match data.get(key) {
            Some(v) if truthy(v) => Err(invalid(format!(
                "{key} must be a list, got {}",
                json_kind(v)
            ))),
            _ => Ok(()),
        };
    };
    let mut rebuilt = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Value::Object(item) = item else {
            return Err(invalid(format!(
                "{key}[{i}] must be an object, got {}",
                json_kind(item)
            )));
        };
        if let Some(unknown) = item
            .keys()
            .find(|k| !dropped.contains(&k.as_str()) && !params.contains(&k.as_str()))
        {
            return Err(invalid(format!(
                "{key}[{i}] has the unknown key {unknown:?}"
            )));
        }
        if let Some(missing) = required.iter().find(|k| !item.contains_key(**k)) {
            return Err(invalid(format!("{key}[{i}] needs {missing:?}")));
        }
        let mut out = Map::new();
        for param in params {
            out.insert(
                (*param).into(),
                item.get(*param).cloned().unwrap_or(Value::Null),
            );
        }
        out.insert("type".into(), Value::String(type_name.into()));
        rebuilt.push(Value::Object(out));
    }
    data.insert(key.into(), Value::Array(rebuilt));
    Ok(())
}

/// `default_tool_parser`: OpenAI's raw tool calls as tool calls, and those
/// whose arguments are not JSON as invalid ones; `None` where LangChain's
/// parser raises (and so derives nothing).
fn openai_tool_calls(raw: &Value) -> Option<(Vec<Value>, Vec<Value>)> {
    let (mut calls, mut invalid_calls) = (Vec::new(), Vec::new());
    for item in python_iter(raw)? {
        let Value::Object(item) = item.as_ref() else {
            // `"function" not in item` on a string is a substring test.
            match item.as_ref() {
                Value::String(s) if !s.contains("function") => continue,
                _ => return None,
            }
        };
        let Some(function) = item.get("function") else {
            continue;
        };
        let function = function.as_object()?;
        let name = function.get("name")?.clone();
        let arguments = function.get("arguments")?;
        let id = item.get("id").cloned().unwrap_or(Value::Null);
        let Value::String(text) = arguments else {
            return None;
        };
        match serde_json::from_str::<Value>(text) {
            Ok(args) => {
                let name = if truthy(&name) {
                    name
                } else {
                    Value::String(String::new())
                };
                let args = if truthy(&args) {
                    args
                } else {
                    Value::Object(Map::new())
                };
                calls.push(object([
                    ("name", name),
                    ("args", args),
                    ("id", id),
                    ("type", "tool_call".into()),
                ]));
            }
            Err(_) => invalid_calls.push(object([
                ("name", name),
                ("args", arguments.clone()),
                ("id", id),
                ("error", Value::Null),
                ("type", "invalid_tool_call".into()),
            ])),
        }
    }
    Some((calls, invalid_calls))
}

/// `default_tool_chunk_parser`, for chunks.
fn openai_tool_chunks(raw: &Value) -> Option<Vec<Value>> {
    let mut chunks = Vec::new();
    for item in python_iter(raw)? {
        let item = item.as_object()?;
        let (name, args) = match item.get("function") {
            None => (Value::Null, Value::Null),
            Some(function) => {
                let function = function.as_object()?;
                (
                    function.get("name")?.clone(),
                    function.get("arguments")?.clone(),
                )
            }
        };
        chunks.push(object([
            ("name", name),
            ("args", args),
            ("id", item.get("id").cloned().unwrap_or(Value::Null)),
            ("index", item.get("index").cloned().unwrap_or(Value::Null)),
            ("type", "tool_call_chunk".into()),
        ]));
    }
    Some(chunks)
}

/// What `for x in value` visits: a list's items, an object's keys, a
/// string's characters; `None` for what Python cannot iterate. One at a
/// time, so that a long string costs one character's value, not one per
/// character.
fn python_iter(value: &Value) -> Option<Box<dyn Iterator<Item = Cow<'_, Value>> + '_>> {
    match value {
        Value::Array(items) => Some(Box::new(items.iter().map(Cow::Borrowed))),
        Value::Object(map) => Some(Box::new(
            map.keys().map(|k| Cow::Owned(Value::String(k.clone()))),
        )),
        Value::String(s) => Some(Box::new(
            s.chars().map(|c| Cow::Owned(Value::String(c.into()))),
        )),
        _ => None,
    }
}

/// The AI fields, as pydantic checks them.
fn ai_fields(kind: MessageType, data: &mut Map<String, Value>) -> Result<()> {
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
    for (i, call) in array(data, "tool_calls").iter().enumerate() {
        let at = |field: &str| format!("tool_calls[{i}].{field}");
        expect(call, "name", &at("name"), Expect::String)?;
        expect(call, "args", &at("args"), Expect::Object)?;
        expect(call, "id", &at("id"), Expect::StringOrNull)?;
    }
    for (i, call) in array(data, "invalid_tool_calls").iter().enumerate() {
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

fn array<'a>(data: &'a Map<String, Value>, key: &str) -> &'a [Value] {
    data.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
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

/// `AIMessageChunk.init_tool_calls`: chunks made from the tool calls when
/// there are none, else tool calls (and invalid ones) parsed from the
/// chunks, which win.
fn init_tool_calls(data: &mut Map<String, Value>) {
    let chunks = array(data, "tool_call_chunks");
    if chunks.is_empty() {
        let mut made = Vec::new();
        for call in array(data, "tool_calls") {
            made.push(object([
                ("name", call["name"].clone()),
                ("args", Value::String(json_dumps(&call["args"]))),
                ("id", call["id"].clone()),
                ("index", Value::Null),
                ("type", "tool_call_chunk".into()),
            ]));
        }
        for call in array(data, "invalid_tool_calls") {
            made.push(object([
                ("name", call["name"].clone()),
                ("args", call["args"].clone()),
                ("id", call["id"].clone()),
                ("index", Value::Null),
                ("type", "tool_call_chunk".into()),
            ]));
        }
        data.insert("tool_call_chunks".into(), Value::Array(made));
        return;
    }
    let (mut calls, mut invalid_calls) = (Vec::new(), Vec::new());
    for chunk in chunks {
        let args = match &chunk["args"] {
            Value::String(s) if !s.is_empty() => parse_partial_json(s),
            _ => Some(Value::Object(Map::new())),
        };
        match args {
            Some(args @ Value::Object(_)) => {
                let name = match &chunk["name"] {
                    name if truthy(name) => name.clone(),
                    _ => Value::String(String::new()),
                };
                calls.push(object([
                    ("name", name),
                    ("args", args),
                    ("id", chunk["id"].clone()),
                    ("type", "tool_call".into()),
                ]));
            }
            _ => invalid_calls.push(object([
                ("name", chunk["name"].clone()),
                ("args", chunk["args"].clone()),
                ("id", chunk["id"].clone()),
                ("error", Value::Null),
                ("type", "invalid_tool_call".into()),
            ])),
        }
    }
    data.insert("tool_calls".into(), Value::Array(calls));
    data.insert("invalid_tool_calls".into(), Value::Array(invalid_calls));
}
