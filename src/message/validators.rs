//! What langchain_core's model validators rewrite in a message dict, before
//! and after pydantic checks it: a tool message's coerced content and id,
//! a remove message's empty content, an AI message's tool calls read from
//! OpenAI's `additional_kwargs` and rebuilt by their factories, and an AI
//! chunk's tool calls parsed from its chunks (or chunks made from them).

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::json::{array_field, invalid, json_kind};
use super::kind::MessageType;
use super::python::{json_dumps, object, parse_partial_json, str_of, truthy};
use crate::error::Result;

/// `ToolMessage.coerce_args`: content that is neither a string nor a list
/// becomes its `str()`, and so do list items that are neither strings nor
/// objects; a numeric `tool_call_id` becomes a string.
pub(super) fn coerce_tool_args(data: &mut Map<String, Value>) -> Result<()> {
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

/// `RemoveMessage(id, **kwargs)`: an `id` is required (null is taken), and
/// content must be empty; it is stored as `""`.
pub(super) fn remove_content(data: &mut Map<String, Value>) -> Result<()> {
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
pub(super) fn ai_before(kind: MessageType, data: &mut Map<String, Value>) -> Result<()> {
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

/// `AIMessageChunk.init_tool_calls`: chunks made from the tool calls when
/// there are none, else tool calls (and invalid ones) parsed from the
/// chunks, which win.
pub(super) fn init_tool_calls(data: &mut Map<String, Value>) {
    let chunks = array_field(data, "tool_call_chunks");
    if chunks.is_empty() {
        let mut made = Vec::new();
        for call in array_field(data, "tool_calls") {
            made.push(object([
                ("name", call["name"].clone()),
                ("args", Value::String(json_dumps(&call["args"]))),
                ("id", call["id"].clone()),
                ("index", Value::Null),
                ("type", "tool_call_chunk".into()),
            ]));
        }
        for call in array_field(data, "invalid_tool_calls") {
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
