//! LangChain's `tool` and `ai` messages as rig's: a tool result, an
//! assistant turn with its blocks, calls, origin and stop reason.

use std::collections::HashMap;

use rig_core::message::{
    AssistantContent, AssistantMessage, CallId, Opaque, Origin, Reasoning, StopReason, Text,
    ToolCall, ToolFunction, ToolName, ToolResult, ToolResultContent,
};
use serde_json::Value;

use crate::error::Result;
use crate::message::{Message, json_text, parse_json};

use super::decode_blocks::{decode_image, decode_text, native_of};
use super::fields::{Fields, RIG, from_value, invalid, rig_of, str_of};

/// A `tool` (or `function`) message as the tool result it carries.
pub(super) fn decode_tool_result(
    row: &Message,
    names: &HashMap<String, ToolName>,
) -> Result<ToolResult> {
    let fields = row.data();
    let rest = rig_of(fields, "additional_kwargs");
    // A function message (OpenAI's legacy function calling) is paired by
    // its name.
    let wire = row.tool_call_id().or(row.name()).unwrap_or_default();
    let call = if rest.get("local_call") == Some(&Value::Bool(true)) {
        CallId::Local(from_value(wire.into(), "a rig-issued call id")?)
    } else {
        CallId::from_wire(wire)
    };
    let name = match row.name().filter(|n| !n.is_empty()) {
        Some(name) => ToolName::new(name).map_err(|e| invalid(e.to_string()))?,
        None => names.get(wire).cloned().ok_or_else(|| {
            invalid(format!(
                "the tool message for call {wire:?} has no name, and no earlier message makes that call"
            ))
        })?,
    };
    let content = match row.content() {
        Value::String(text) => vec![ToolResultContent::Text(Text::new(text.as_str()))],
        Value::Array(blocks) => blocks.iter().map(tool_result_content).collect(),
        other => vec![ToolResultContent::Text(Text::new(json_text(other)))],
    };
    Ok(ToolResult {
        call,
        name,
        content,
        is_error: str_of(fields, "status") == Some("error"),
    })
}

fn tool_result_content(block: &Value) -> ToolResultContent {
    let fallback = || {
        ToolResultContent::Text(Text::new(match block {
            Value::String(text) => text.clone(),
            other => json_text(other),
        }))
    };
    let Some(fields) = block.as_object() else {
        return fallback();
    };
    match str_of(fields, "type") {
        Some("text") if rig_of(fields, "extras").get("json") == Some(&Value::Bool(true)) => {
            match str_of(fields, "text").map(|t| parse_json(t.as_bytes())) {
                Some(Ok(value)) => ToolResultContent::Json { value },
                _ => fallback(),
            }
        }
        Some("text") => decode_text(fields).map_or_else(fallback, ToolResultContent::Text),
        Some("image" | "image_url") => {
            decode_image(fields).map_or_else(fallback, ToolResultContent::Image)
        }
        _ => fallback(),
    }
}

/// An `ai` message as an assistant turn: its content blocks in order, its
/// `tool_calls` where their `tool_call` (or Anthropic's `tool_use`) block
/// stands, else after the content; origin and stop from `rig`.
pub(super) fn decode_assistant(row: &Message) -> Result<AssistantMessage> {
    let fields = row.data();
    let mut calls: Vec<Option<(String, ToolCall)>> = Vec::new();
    let mut nameless = Vec::new();
    for call in row.tool_calls() {
        let id = call.get("id").and_then(Value::as_str).unwrap_or_default();
        match decode_call(call, &Fields::new()) {
            Ok(decoded) => calls.push(Some((id.to_owned(), decoded))),
            // LangChain takes a call without a name; rig has no form for
            // one, so it is kept and never sent.
            Err(_) => {
                calls.push(None);
                nameless.push(AssistantContent::Opaque(Opaque {
                    item: call.clone(),
                    replay: false,
                }));
            }
        }
    }
    let mut content = Vec::new();
    match row.content() {
        Value::String(text) if text.is_empty() => {}
        Value::String(text) => content.push(AssistantContent::Text(Text::new(text.as_str()))),
        Value::Array(blocks) => {
            for block in blocks {
                if let Some(block) = assistant_block(block, &mut calls, row.tool_calls())? {
                    content.push(block);
                }
            }
        }
        other => content.push(AssistantContent::Text(Text::new(json_text(other)))),
    }
    content.extend(
        calls
            .into_iter()
            .flatten()
            .map(|(_, c)| AssistantContent::ToolCall(c)),
    );
    content.extend(nameless);
    for invalid_call in fields
        .get("invalid_tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let mut item = invalid_call.clone();
        if let Value::Object(item) = &mut item {
            item.insert("type".into(), "invalid_tool_call".into());
        }
        content.push(AssistantContent::Opaque(Opaque {
            item,
            replay: false,
        }));
    }
    let rest = rig_of(fields, "additional_kwargs");
    let origin = match rest.get("origin") {
        Some(Value::Object(origin)) => {
            let mut origin = origin.clone();
            let metadata = row.response_metadata();
            for (field, key) in [("provider", "model_provider"), ("model", "model_name")] {
                let value = metadata.get(key).cloned().unwrap_or_else(|| "".into());
                origin.insert(field.into(), value);
            }
            if let Some(id) = row.id() {
                origin.insert("response_id".into(), id.into());
            }
            Some(from_value::<Origin>(
                Value::Object(origin),
                "additional_kwargs.rig.origin",
            )?)
        }
        _ => None,
    };
    let stop = match rest.get("stop") {
        Some(stop) => Some(from_value::<StopReason>(
            stop.clone(),
            "additional_kwargs.rig.stop",
        )?),
        None => None,
    };
    Ok(AssistantMessage::new(content)
        .with_origin(origin)
        .with_stop(stop))
}

/// One content block of an `ai` message; a call block takes its call out of
/// `calls` (the message's `tool_calls` decide which calls there are).
fn assistant_block(
    block: &Value,
    calls: &mut [Option<(String, ToolCall)>],
    tool_calls: &[Value],
) -> Result<Option<AssistantContent>> {
    let Some(fields) = block.as_object() else {
        return Ok(Some(AssistantContent::Text(Text::new(match block {
            Value::String(text) => text.clone(),
            other => json_text(other),
        }))));
    };
    let opaque = || {
        AssistantContent::Opaque(Opaque {
            item: block.clone(),
            replay: false,
        })
    };
    let rest = rig_of(fields, "extras");
    Ok(Some(match str_of(fields, "type").unwrap_or_default() {
        "text" => decode_text(fields).map_or_else(opaque, AssistantContent::Text),
        "reasoning" | "thinking" => {
            let key = if fields.contains_key("reasoning") {
                "reasoning"
            } else {
                "thinking"
            };
            let mut reasoning = rest;
            reasoning.insert(
                "text".into(),
                fields.get(key).cloned().unwrap_or_else(|| "".into()),
            );
            match serde_json::from_value::<Reasoning>(Value::Object(reasoning)) {
                Ok(reasoning) => AssistantContent::Reasoning(reasoning),
                Err(_) => opaque(),
            }
        }
        "redacted_thinking" => AssistantContent::Reasoning(Reasoning {
            redacted: true,
            ..Reasoning::default()
        }),
        "image" | "image_url" => decode_image(fields).map_or_else(opaque, AssistantContent::Image),
        "tool_call" | "tool_use" => {
            let id = str_of(fields, "id").unwrap_or_default();
            let at = calls
                .iter()
                .position(|c| c.as_ref().is_some_and(|(call_id, _)| call_id == id));
            // None: a call Python took out of `tool_calls`.
            let taken = at.and_then(|at| calls.get_mut(at)?.take().map(|_| at));
            match taken.and_then(|at| tool_calls.get(at)) {
                Some(call) => AssistantContent::ToolCall(decode_call(call, &rest)?),
                None => return Ok(None),
            }
        }
        "non_standard" => {
            let value = fields.get("value").cloned().unwrap_or(Value::Null);
            let own = value.get(RIG);
            match (
                own.and_then(|r| r.get("opaque")),
                own.and_then(|r| r.get("block")),
            ) {
                (Some(item), _) => AssistantContent::Opaque(Opaque {
                    item: item.clone(),
                    replay: own.and_then(|r| r.get("replay")) == Some(&Value::Bool(true)),
                }),
                (None, Some(block)) => from_value(block.clone(), "a rig block")?,
                (None, None) => AssistantContent::Opaque(Opaque {
                    item: value,
                    replay: false,
                }),
            }
        }
        _ => opaque(),
    }))
}

/// A LangChain tool call (`{"name", "args", "id"}`) as rig's, with what its
/// content block kept in `extras.rig`.
fn decode_call(call: &Value, rest: &Fields) -> Result<ToolCall> {
    let name = call.get("name").and_then(Value::as_str).unwrap_or_default();
    let name = ToolName::new(name).map_err(|e| invalid(format!("a tool call: {e}")))?;
    let wire = call.get("id").and_then(Value::as_str).unwrap_or_default();
    let id = if rest.get("local_id") == Some(&Value::Bool(true)) {
        CallId::Local(from_value(wire.into(), "a rig-issued call id")?)
    } else {
        CallId::from_wire(wire)
    };
    let arguments = match call.get("args") {
        Some(Value::Object(args)) => args.clone(),
        _ => Fields::new(),
    };
    Ok(ToolCall {
        id,
        function: ToolFunction {
            name,
            arguments,
            invalid_arguments: str_of(rest, "invalid_arguments").map(str::to_owned),
        },
        native: native_of(rest),
    })
}
