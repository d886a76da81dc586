//! rig messages as LangChain messages: a user message as `human` and
//! `tool` rows, an assistant turn as one `ai` row.

use rig_core::message::{
    AssistantContent, AssistantMessage, MimeType, Opaque, ToolResult, ToolResultContent,
    UserContent,
};
use serde_json::{Value, json};

use crate::error::Result;
use crate::message::{Message, json_text};

use super::encode_blocks::{
    compact, document_block, image_block, media_block, params, plain_text, text_block,
    tool_call_block,
};
use super::fields::{Fields, RIG, invalid, put_rig, take_field, to_value, with_rig};
use super::row::Row;

/// A user message: its runs of text and media as `human` messages, each
/// tool result as a `tool` message, and where the type of a row would not
/// say which rig message it belongs to, `additional_kwargs.rig.part`.
pub(super) fn encode_user(content: &[UserContent], rows: &mut Vec<Message>) -> Result<()> {
    let mut dicts: Vec<(Row, Fields, Fields)> = Vec::new();
    let mut run: Vec<Value> = Vec::new();
    for item in content {
        match item {
            UserContent::ToolResult(result) => {
                if !run.is_empty() {
                    let run = std::mem::take(&mut run);
                    dicts.push((Row::Human, data(compact(run)), Fields::new()));
                }
                let (dict, rest) = encode_tool_result(result)?;
                dicts.push((Row::Tool, dict, rest));
            }
            UserContent::Text(text) => run.push(text_block(text)?),
            UserContent::Image(image) => run.push(image_block(image)?),
            UserContent::Audio(audio) => run.push(media_block(
                "audio",
                &audio.data,
                audio.media_type.as_ref().map(MimeType::to_mime_type),
                Fields::new(),
            )),
            UserContent::Video(video) => run.push(media_block(
                "video",
                &video.data,
                video.media_type.as_ref().map(MimeType::to_mime_type),
                params(&video.additional_params),
            )),
            UserContent::Document(document) => run.push(document_block(document)),
        }
    }
    if !run.is_empty() || dicts.is_empty() {
        dicts.push((Row::Human, data(compact(run)), Fields::new()));
    }
    let mut previous = None;
    for (i, (kind, mut dict, mut rest)) in dicts.into_iter().enumerate() {
        let reads_as_joined = kind == Row::Tool && previous == Some(Row::Tool);
        let mark = match i {
            0 if kind == Row::Tool => Some("first"),
            0 => None,
            _ if reads_as_joined => None,
            _ => Some("next"),
        };
        if let Some(mark) = mark {
            rest.insert("part".into(), mark.into());
        }
        put_rig(&mut dict, rest);
        let kind_name = if kind == Row::Tool { "tool" } else { "human" };
        rows.push(Message::from_dict(
            json!({"type": kind_name, "data": Value::Object(dict)}),
        )?);
        previous = Some(kind);
    }
    Ok(())
}

/// A tool result as a `tool` message's data: `tool_call_id`, `name`,
/// `status` and its content, and what goes in `additional_kwargs.rig`: a
/// call id rig issued itself is marked so.
fn encode_tool_result(result: &ToolResult) -> Result<(Fields, Fields)> {
    let mut blocks = Vec::with_capacity(result.content.len());
    for item in &result.content {
        blocks.push(match item {
            ToolResultContent::Text(text) => text_block(text)?,
            ToolResultContent::Image(image) => image_block(image)?,
            ToolResultContent::Json { value } => json!({
                "type": "text",
                "text": json_text(value),
                "extras": {RIG: {"json": true}},
            }),
        });
    }
    let mut dict = data(compact(blocks));
    dict.insert(
        "tool_call_id".into(),
        result.call.wire().into_owned().into(),
    );
    dict.insert("name".into(), result.name.as_str().into());
    let status = if result.is_error { "error" } else { "success" };
    dict.insert("status".into(), status.into());
    let mut rest = Fields::new();
    if result.call.is_local() {
        rest.insert("local_call".into(), true.into());
    }
    Ok((dict, rest))
}

/// An assistant turn as one `ai` message. Its blocks keep their order in
/// `content` (LangChain's standard blocks, `tool_call` blocks in place) and
/// its calls are the message's `tool_calls`; a plain reply (text, then
/// calls) is a string, as LangChain's own replies are.
pub(super) fn encode_assistant(turn: &AssistantMessage) -> Result<Message> {
    let mut blocks = Vec::with_capacity(turn.content.len());
    let mut calls = Vec::new();
    for block in &turn.content {
        blocks.push(match block {
            AssistantContent::Text(text) => text_block(text)?,
            AssistantContent::ToolCall(call) => {
                calls.push(json!({
                    "name": call.function.name.as_str(),
                    "args": Value::Object(call.function.arguments.clone()),
                    "id": call.id.wire(),
                    "type": "tool_call",
                }));
                tool_call_block(call)?
            }
            AssistantContent::Reasoning(reasoning) => {
                let (text, rest) = take_field(reasoning, "text")?;
                with_rig(json!({"type": "reasoning", "reasoning": text}), rest)
            }
            AssistantContent::Image(image) => image_block(image)?,
            AssistantContent::Opaque(Opaque { item, replay }) => json!({
                "type": "non_standard",
                "value": {RIG: {"opaque": item, "replay": replay}},
            }),
            // rig 0.44 has no other kind; one of a later version keeps its
            // own serde form.
            other => json!({"type": "non_standard", "value": {RIG: {"block": to_value(other)?}}}),
        });
    }
    let plain = plain_reply(&blocks).map(str::to_owned);
    let is_plain = plain.is_some();
    let mut dict = data(match plain {
        Some(text) => Value::String(text),
        None => Value::Array(blocks),
    });
    dict.insert("tool_calls".into(), Value::Array(calls));
    let mut metadata = Fields::new();
    let mut rest = Fields::new();
    if !is_plain {
        metadata.insert("output_version".into(), "v1".into());
    }
    if let Some(origin) = &turn.origin {
        let Value::Object(mut fields) = to_value(origin)? else {
            return Err(invalid("rig's origin is not an object"));
        };
        if let Some(provider) = fields.remove("provider") {
            metadata.insert("model_provider".into(), provider);
        }
        if let Some(model) = fields.remove("model") {
            metadata.insert("model_name".into(), model);
        }
        if let Some(id) = fields.remove("response_id") {
            dict.insert("id".into(), id);
        }
        rest.insert("origin".into(), Value::Object(fields));
    }
    if let Some(stop) = &turn.stop {
        rest.insert("stop".into(), to_value(stop)?);
    }
    put_rig(&mut dict, rest);
    dict.insert("response_metadata".into(), Value::Object(metadata));
    Message::from_dict(json!({"type": "ai", "data": Value::Object(dict)}))
}

/// The text of a reply that is one plain, non-empty text followed only by
/// plain calls (or nothing at all: `""`), which LangChain writes as a
/// string content beside `tool_calls`.
fn plain_reply(blocks: &[Value]) -> Option<&str> {
    let calls_from = blocks
        .iter()
        .position(|b| b["type"] == "tool_call")
        .unwrap_or(blocks.len());
    let (head, calls) = blocks.split_at(calls_from);
    if !calls
        .iter()
        .all(|b| b["type"] == "tool_call" && b.get("extras").is_none())
    {
        return None;
    }
    match head {
        [] => Some(""),
        [text] => plain_text(text).filter(|t| !t.is_empty()),
        _ => None,
    }
}

/// A message's data with `content`.
fn data(content: Value) -> Fields {
    let mut dict = Fields::new();
    dict.insert("content".into(), content);
    dict
}
