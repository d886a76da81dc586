//! rig's content as LangChain's standard content blocks: text, tool calls,
//! images, audio, video and documents.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rig_core::message::{Document, DocumentSourceKind, Image, MimeType, Text, ToolCall};
use serde_json::{Value, json};

use crate::error::Result;

use super::fields::{Fields, take_field, to_value, with_rig};

/// A block that is only `{"type": "text", "text": ...}`.
pub(super) fn plain_text(block: &Value) -> Option<&str> {
    let fields = block.as_object()?;
    (fields.len() == 2 && block["type"] == "text").then(|| block["text"].as_str())?
}

/// One plain text is a string content, as LangChain writes it; anything
/// else a list of blocks.
pub(super) fn compact(blocks: Vec<Value>) -> Value {
    match blocks.as_slice() {
        [only] if plain_text(only).is_some() => only["text"].clone(),
        _ => Value::Array(blocks),
    }
}

/// Text: `{"type": "text", "text"}`, its citations and provider item in
/// `extras.rig`.
pub(super) fn text_block(text: &Text) -> Result<Value> {
    let (body, rest) = take_field(text, "text")?;
    Ok(with_rig(json!({"type": "text", "text": body}), rest))
}

/// A call as its `tool_call` content block: id, name and arguments, and in
/// `extras.rig` whether rig issued the id, the arguments as sent when they
/// were no object, and the provider item.
pub(super) fn tool_call_block(call: &ToolCall) -> Result<Value> {
    let mut rest = Fields::new();
    if call.id.is_local() {
        rest.insert("local_id".into(), true.into());
    }
    if let Some(sent) = &call.function.invalid_arguments {
        rest.insert("invalid_arguments".into(), sent.as_str().into());
    }
    if let Some(native) = &call.native {
        rest.insert("native".into(), to_value(native)?);
    }
    Ok(with_rig(
        json!({
            "type": "tool_call",
            "id": call.id.wire(),
            "name": call.function.name.as_str(),
            "args": Value::Object(call.function.arguments.clone()),
        }),
        rest,
    ))
}

/// An image: LangChain's `image` block (`url`, `base64` or `file_id`, and
/// `mime_type`); its detail and provider item in `extras.rig`.
pub(super) fn image_block(image: &Image) -> Result<Value> {
    let mut rest = Fields::new();
    if let Some(detail) = &image.detail {
        rest.insert("detail".into(), to_value(detail)?);
    }
    if let Some(native) = &image.native {
        rest.insert("native".into(), to_value(native)?);
    }
    Ok(media_block(
        "image",
        &image.data,
        image.media_type.as_ref().map(MimeType::to_mime_type),
        rest,
    ))
}

/// A document: text as LangChain's `text-plain` block, anything else as
/// its `file` block.
pub(super) fn document_block(document: &Document) -> Value {
    let mime = document.media_type.as_ref().map(MimeType::to_mime_type);
    let rest = params(&document.additional_params);
    match &document.data {
        DocumentSourceKind::String(text) => {
            let mut block = json!({"type": "text-plain", "text": text});
            if let (Some(mime), Value::Object(fields)) = (mime, &mut block) {
                fields.insert("mime_type".into(), mime.into());
            }
            with_rig(block, rest)
        }
        data => media_block("file", data, mime, rest),
    }
}

/// `additional_params` of a video or document, as `extras.rig`.
pub(super) fn params(additional: &Option<Value>) -> Fields {
    let mut rest = Fields::new();
    if let Some(value) = additional {
        rest.insert("additional_params".into(), value.clone());
    }
    rest
}

/// A standard media block of `kind`: its source as `url`, `base64` or
/// `file_id` (raw bytes as base64, marked `raw`), and `mime_type`.
pub(super) fn media_block(
    kind: &str,
    source: &DocumentSourceKind,
    mime: Option<&str>,
    mut rest: Fields,
) -> Value {
    let mut block = Fields::new();
    block.insert("type".into(), kind.into());
    match source {
        DocumentSourceKind::Url(url) => {
            block.insert("url".into(), url.as_str().into());
        }
        DocumentSourceKind::Base64(data) => {
            block.insert("base64".into(), data.as_str().into());
        }
        DocumentSourceKind::FileId(id) => {
            block.insert("file_id".into(), id.as_str().into());
        }
        DocumentSourceKind::Raw(bytes) => {
            block.insert("base64".into(), BASE64.encode(bytes).into());
            rest.insert("source".into(), "raw".into());
        }
        DocumentSourceKind::String(text) => {
            rest.insert("string".into(), text.as_str().into());
        }
        DocumentSourceKind::Unknown => {
            rest.insert("source".into(), "unknown".into());
        }
    }
    if let Some(mime) = mime {
        block.insert("mime_type".into(), mime.into());
    }
    with_rig(Value::Object(block), rest)
}
