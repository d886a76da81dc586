//! What langchain_core 1.8.3 does to a message dict when it reads one
//! (`messages_from_dict`), step by step in LangChain's order: its
//! validators' normalizations (`validators.rs`) and its pydantic models'
//! checks and coercions (`pydantic.rs`), so that a message this crate
//! accepts is exactly one LangChain accepts, and reads as LangChain reads it.
//!
//! Checked against the real library by the differential corpus in
//! `tests/fixtures/langchain_corpus.json` (made by
//! `tests/fixtures/gen/gen_corpus.py`).

use serde_json::{Map, Value};

use super::json::invalid;
use super::kind::MessageType;
use super::pydantic::{ai_fields, check_content, common_fields, required_string, tool_fields};
use super::validators::{ai_before, coerce_tool_args, init_tool_calls, remove_content};
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
