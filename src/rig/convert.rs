//! rig's messages as LangChain rows and back: the mapping the module docs
//! tabulate. Encoding goes through LangChain's own dict form
//! ([`Message::from_dict`]), so rows are normalized exactly as Python
//! normalizes them. What rig holds and LangChain has no field for travels
//! under the key `rig`: in `additional_kwargs` for a message, in `extras`
//! for a content block, in `value` for a `non_standard` block.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rig_core::message::{
    AssistantContent, AssistantMessage, Audio, AudioMediaType, CallId, Document, DocumentMediaType,
    DocumentSourceKind, Image, ImageDetail, ImageMediaType, Message as Rig, MimeType, Opaque,
    Origin, Reasoning, StopReason, Text, ToolCall, ToolFunction, ToolName, ToolResult,
    ToolResultContent, UserContent, Video, VideoMediaType,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
use crate::message::{Message, MessageType, json_text, parse_json};

/// The namespace of rig's own data in LangChain's open fields.
const RIG: &str = "rig";

/// A JSON object: a message's data, a block, rig's part of either.
type Fields = Map<String, Value>;

/// rig messages as LangChain messages, in order: a user message becomes a
/// `human` message and one `tool` message per tool result, the other
/// messages one message each. [`to_rig_messages`] reads them back equal.
///
/// ```
/// use langchain_cockroachdb::rig::{from_rig_messages, to_rig_messages};
/// use langchain_cockroachdb::MessageType;
/// use rig_core::message::Message;
///
/// let turn = [Message::user("My name is Alice."), Message::assistant("Hello, Alice!")];
/// let rows = from_rig_messages(&turn)?;
/// assert_eq!(rows[0].message_type(), MessageType::Human);
/// assert_eq!(rows[1].text(), "Hello, Alice!");
/// assert_eq!(to_rig_messages(&rows)?, turn);
/// # Ok::<(), langchain_cockroachdb::Error>(())
/// ```
pub fn from_rig_messages(messages: &[Rig]) -> Result<Vec<Message>> {
    let mut rows = Vec::with_capacity(messages.len());
    for message in messages {
        match message {
            Rig::System { content } => rows.push(Message::system(content.as_str())),
            Rig::User { content } => encode_user(content, &mut rows)?,
            Rig::Assistant(turn) => rows.push(encode_assistant(turn)?),
        }
    }
    Ok(rows)
}

/// LangChain messages as rig's, in order: consecutive `tool` messages (and
/// the rows of one rig user message) become one user message; `remove`
/// messages, a LangGraph instruction, are left out. Whatever Python or rig
/// wrote reads; a tool message without a name takes the name of the call it
/// answers, and is an error when no earlier message holds that call.
///
/// ```
/// use langchain_cockroachdb::Message;
/// use langchain_cockroachdb::rig::to_rig_messages;
/// use rig_core::message::{Message as RigMessage, UserContent};
/// use serde_json::json;
///
/// let call = json!({"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1"});
/// let rows = [
///     Message::human("Weather in Paris?"),
///     Message::ai("").with_tool_calls(vec![call])?,
///     Message::tool("call_1", "21 degrees"),
/// ];
/// let messages = to_rig_messages(&rows)?;
/// let RigMessage::User { content } = &messages[2] else { panic!() };
/// let UserContent::ToolResult(result) = &content[0] else { panic!() };
/// assert_eq!(result.name, "get_weather");
/// # Ok::<(), langchain_cockroachdb::Error>(())
/// ```
pub fn to_rig_messages(rows: &[Message]) -> Result<Vec<Rig>> {
    let mut out: Vec<Rig> = Vec::with_capacity(rows.len());
    let mut names: HashMap<String, ToolName> = HashMap::new();
    let mut previous: Option<Row> = None;
    for (i, row) in rows.iter().enumerate() {
        let kind = Row::of(row);
        let item = |e: Error| match e {
            Error::InvalidMessage(why) => invalid(format!("message {i}: {why}")),
            other => other,
        };
        let joins = match part(row) {
            Some("first") => false,
            Some("next") => true,
            _ => kind == Row::Tool && previous == Some(Row::Tool),
        };
        let content = match kind {
            Row::System => Some(Rig::system(row.text())),
            Row::Human => Some(Rig::User {
                content: user_content(row.content()),
            }),
            Row::Tool => Some(Rig::User {
                content: vec![UserContent::ToolResult(
                    decode_tool_result(row, &names).map_err(item)?,
                )],
            }),
            Row::Ai => {
                let turn = decode_assistant(row).map_err(item)?;
                for call in turn.tool_calls() {
                    names.insert(call.id.wire().into_owned(), call.function.name.clone());
                }
                Some(Rig::Assistant(turn))
            }
            Row::Skip => None,
        };
        match (content, out.last_mut()) {
            (Some(Rig::User { content: more }), Some(Rig::User { content })) if joins => {
                content.extend(more)
            }
            (Some(message), _) => out.push(message),
            (None, _) => {}
        }
        previous = Some(kind);
    }
    Ok(out)
}

/// Whether the row begins a rig message in any reading of the rows before
/// it: windows start on such a row.
pub(super) fn starts_a_message(row: &Message) -> bool {
    match part(row) {
        Some("first") => true,
        Some("next") => false,
        _ => Row::of(row) != Row::Tool,
    }
}

/// What a LangChain message is to rig.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Row {
    System,
    Human,
    Tool,
    Ai,
    Skip,
}

impl Row {
    fn of(row: &Message) -> Row {
        match row.message_type().base() {
            MessageType::System => Row::System,
            MessageType::Human => Row::Human,
            MessageType::Tool | MessageType::Function => Row::Tool,
            MessageType::Ai => Row::Ai,
            MessageType::Chat => match row.role() {
                Some("assistant" | "ai") => Row::Ai,
                Some("system" | "developer") => Row::System,
                _ => Row::Human,
            },
            _ => Row::Skip,
        }
    }
}

/// Where a row stands in its rig message, when the row's type alone does
/// not tell: `"first"` or `"next"`.
fn part(row: &Message) -> Option<&str> {
    row.additional_kwargs()
        .get(RIG)?
        .get("part")
        .and_then(Value::as_str)
}

fn invalid(reason: impl Into<String>) -> Error {
    Error::InvalidMessage(reason.into())
}

// ---------------------------------------------------------------- encoding

/// A user message: its runs of text and media as `human` messages, each
/// tool result as a `tool` message, and where the type of a row would not
/// say which rig message it belongs to, `additional_kwargs.rig.part`.
fn encode_user(content: &[UserContent], rows: &mut Vec<Message>) -> Result<()> {
    let mut dicts: Vec<(Row, Fields, Fields)> = Vec::new();
    let mut run: Vec<Value> = Vec::new();
    for item in content {
        match item {
            UserContent::ToolResult(result) => {
                if !run.is_empty() {
                    let run = std::mem::take(&mut run);
                    dicts.push((Row::Human, data(compact(run)), Map::new()));
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
                Map::new(),
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
        dicts.push((Row::Human, data(compact(run)), Map::new()));
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
fn encode_tool_result(result: &ToolResult) -> Result<(Map<String, Value>, Map<String, Value>)> {
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
    let mut rest = Map::new();
    if result.call.is_local() {
        rest.insert("local_call".into(), true.into());
    }
    Ok((dict, rest))
}

/// An assistant turn as one `ai` message. Its blocks keep their order in
/// `content` (LangChain's standard blocks, `tool_call` blocks in place) and
/// its calls are the message's `tool_calls`; a plain reply (text, then
/// calls) is a string, as LangChain's own replies are.
fn encode_assistant(turn: &AssistantMessage) -> Result<Message> {
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
    let mut metadata = Map::new();
    let mut rest = Map::new();
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

/// A block that is only `{"type": "text", "text": ...}`.
fn plain_text(block: &Value) -> Option<&str> {
    let fields = block.as_object()?;
    (fields.len() == 2 && block["type"] == "text").then(|| block["text"].as_str())?
}

/// One plain text is a string content, as LangChain writes it; anything
/// else a list of blocks.
fn compact(blocks: Vec<Value>) -> Value {
    match blocks.as_slice() {
        [only] if plain_text(only).is_some() => only["text"].clone(),
        _ => Value::Array(blocks),
    }
}

/// A message's data with `content`.
fn data(content: Value) -> Map<String, Value> {
    let mut dict = Map::new();
    dict.insert("content".into(), content);
    dict
}

/// `rest` as `additional_kwargs.rig` of a message's data, when there is
/// any (the data is ours, so it has no `additional_kwargs` yet).
fn put_rig(dict: &mut Map<String, Value>, rest: Map<String, Value>) {
    if !rest.is_empty() {
        dict.insert("additional_kwargs".into(), json!({RIG: rest}));
    }
}

/// `block` with `rest` as `extras.rig`, when there is any.
fn with_rig(mut block: Value, rest: Map<String, Value>) -> Value {
    if !rest.is_empty()
        && let Value::Object(fields) = &mut block
    {
        fields.insert("extras".into(), json!({RIG: rest}));
    }
    block
}

fn to_value(value: &impl Serialize) -> Result<Value> {
    serde_json::to_value(value).map_err(|e| invalid(format!("a rig value did not serialize: {e}")))
}

fn from_value<T: DeserializeOwned>(value: Value, what: &str) -> Result<T> {
    serde_json::from_value(value)
        .map_err(|e| invalid(format!("{what} does not read as rig's: {e}")))
}

/// `value`'s serde form without `field`, and that field.
fn take_field(value: &impl Serialize, field: &str) -> Result<(Value, Map<String, Value>)> {
    let Value::Object(mut fields) = to_value(value)? else {
        return Err(invalid("a rig block is not an object"));
    };
    let taken = fields.remove(field).unwrap_or(Value::Null);
    Ok((taken, fields))
}

/// Text: `{"type": "text", "text"}`, its citations and provider item in
/// `extras.rig`.
fn text_block(text: &Text) -> Result<Value> {
    let (body, rest) = take_field(text, "text")?;
    Ok(with_rig(json!({"type": "text", "text": body}), rest))
}

/// A call as its `tool_call` content block: id, name and arguments, and in
/// `extras.rig` whether rig issued the id, the arguments as sent when they
/// were no object, and the provider item.
fn tool_call_block(call: &ToolCall) -> Result<Value> {
    let mut rest = Map::new();
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
fn image_block(image: &Image) -> Result<Value> {
    let mut rest = Map::new();
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
fn document_block(document: &Document) -> Value {
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
fn params(additional: &Option<Value>) -> Map<String, Value> {
    let mut rest = Map::new();
    if let Some(value) = additional {
        rest.insert("additional_params".into(), value.clone());
    }
    rest
}

/// A standard media block of `kind`: its source as `url`, `base64` or
/// `file_id` (raw bytes as base64, marked `raw`), and `mime_type`.
fn media_block(
    kind: &str,
    source: &DocumentSourceKind,
    mime: Option<&str>,
    mut rest: Map<String, Value>,
) -> Value {
    let mut block = Map::new();
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

// ---------------------------------------------------------------- decoding

/// `extras.rig` of a block (or `additional_kwargs.rig` of a message's
/// data), empty when absent.
fn rig_of(fields: &Map<String, Value>, field: &str) -> Map<String, Value> {
    fields
        .get(field)
        .and_then(|f| f.get(RIG))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

fn str_of<'a>(fields: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    fields.get(key).and_then(Value::as_str)
}

/// A user message's content as rig's: text, media, and for anything rig
/// has no form for, its JSON as text.
fn user_content(content: &Value) -> Vec<UserContent> {
    let blocks = match content {
        Value::String(text) => return vec![UserContent::Text(Text::new(text.as_str()))],
        Value::Array(blocks) => blocks,
        other => return vec![UserContent::Text(Text::new(json_text(other)))],
    };
    blocks
        .iter()
        .map(|block| {
            let Some(fields) = block.as_object() else {
                return UserContent::Text(Text::new(match block {
                    Value::String(text) => text.clone(),
                    other => json_text(other),
                }));
            };
            match str_of(fields, "type").unwrap_or_default() {
                "text" => decode_text(fields).map(UserContent::Text),
                "image" | "image_url" => decode_image(fields).map(UserContent::Image),
                "audio" | "input_audio" => decode_audio(fields).map(UserContent::Audio),
                "video" => decode_video(fields).map(UserContent::Video),
                "file" | "text-plain" => decode_document(fields).map(UserContent::Document),
                _ => None,
            }
            .unwrap_or_else(|| UserContent::Text(Text::new(json_text(block))))
        })
        .collect()
}

/// A text block, with what rig kept in `extras.rig`.
fn decode_text(fields: &Map<String, Value>) -> Option<Text> {
    let text = str_of(fields, "text")?;
    let mut rest = rig_of(fields, "extras");
    if rest.is_empty() {
        return Some(Text::new(text));
    }
    rest.insert("text".into(), text.into());
    serde_json::from_value(Value::Object(rest)).ok()
}

/// A media block's source: rig's own marks first, then LangChain's fields.
fn decode_source(fields: &Map<String, Value>, rest: &Map<String, Value>) -> DocumentSourceKind {
    let raw = str_of(rest, "source");
    if raw == Some("unknown") {
        return DocumentSourceKind::Unknown;
    }
    if let Some(text) = str_of(rest, "string") {
        return DocumentSourceKind::String(text.to_owned());
    }
    if let Some(data) = str_of(fields, "base64") {
        if raw == Some("raw")
            && let Ok(bytes) = BASE64.decode(data)
        {
            return DocumentSourceKind::Raw(bytes);
        }
        return DocumentSourceKind::Base64(data.to_owned());
    }
    if let Some(url) = str_of(fields, "url") {
        return DocumentSourceKind::Url(url.to_owned());
    }
    match str_of(fields, "file_id") {
        Some(id) => DocumentSourceKind::FileId(id.to_owned()),
        None => DocumentSourceKind::Unknown,
    }
}

/// The media type and data of a `data:<type>;base64,<data>` URL.
fn data_url(url: &str) -> Option<(&str, &str)> {
    let (head, data) = url.strip_prefix("data:")?.split_once(',')?;
    let mime = head.strip_suffix(";base64")?;
    Some((mime, data))
}

fn mime_of(fields: &Map<String, Value>) -> Option<&str> {
    str_of(fields, "mime_type")
}

fn native_of<T: DeserializeOwned>(rest: &Map<String, Value>) -> Option<T> {
    rest.get("native")
        .and_then(|n| serde_json::from_value(n.clone()).ok())
}

/// An image: LangChain's `image` block, or OpenAI's `image_url` (a `data:`
/// URL as base64).
fn decode_image(fields: &Map<String, Value>) -> Option<Image> {
    if let Some(inner) = fields.get("image_url") {
        let (url, detail) = match inner {
            Value::String(url) => (url.as_str(), None),
            Value::Object(inner) => (str_of(inner, "url")?, str_of(inner, "detail")),
            _ => return None,
        };
        let inline = data_url(url);
        return Some(Image {
            data: match inline {
                Some((_, data)) => DocumentSourceKind::Base64(data.to_owned()),
                None => DocumentSourceKind::Url(url.to_owned()),
            },
            media_type: inline.and_then(|(mime, _)| ImageMediaType::from_mime_type(mime)),
            detail: detail.and_then(|d| d.parse::<ImageDetail>().ok()),
            native: None,
        });
    }
    let rest = rig_of(fields, "extras");
    Some(Image {
        data: decode_source(fields, &rest),
        media_type: mime_of(fields).and_then(ImageMediaType::from_mime_type),
        detail: rest
            .get("detail")
            .and_then(|d| serde_json::from_value(d.clone()).ok()),
        native: native_of(&rest),
    })
}

/// Audio: LangChain's `audio` block, or OpenAI's `input_audio`.
fn decode_audio(fields: &Map<String, Value>) -> Option<Audio> {
    if let Some(Value::Object(inner)) = fields.get("input_audio") {
        return Some(Audio {
            data: DocumentSourceKind::Base64(str_of(inner, "data")?.to_owned()),
            media_type: str_of(inner, "format")
                .and_then(|f| AudioMediaType::from_mime_type(&format!("audio/{f}"))),
        });
    }
    let rest = rig_of(fields, "extras");
    Some(Audio {
        data: decode_source(fields, &rest),
        media_type: mime_of(fields).and_then(AudioMediaType::from_mime_type),
    })
}

fn decode_video(fields: &Map<String, Value>) -> Option<Video> {
    let rest = rig_of(fields, "extras");
    Some(Video {
        data: decode_source(fields, &rest),
        media_type: mime_of(fields).and_then(VideoMediaType::from_mime_type),
        additional_params: rest.get("additional_params").cloned(),
    })
}

/// A document: a `text-plain` block is its text, a `file` block its source.
fn decode_document(fields: &Map<String, Value>) -> Option<Document> {
    let rest = rig_of(fields, "extras");
    let data = match (str_of(fields, "type"), str_of(fields, "text")) {
        (Some("text-plain"), Some(text)) => DocumentSourceKind::String(text.to_owned()),
        _ => decode_source(fields, &rest),
    };
    Some(Document {
        data,
        media_type: mime_of(fields).and_then(DocumentMediaType::from_mime_type),
        additional_params: rest.get("additional_params").cloned(),
    })
}

/// A `tool` (or `function`) message as the tool result it carries.
fn decode_tool_result(row: &Message, names: &HashMap<String, ToolName>) -> Result<ToolResult> {
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
fn decode_assistant(row: &Message) -> Result<AssistantMessage> {
    let fields = row.data();
    let mut calls: Vec<Option<(String, ToolCall)>> = Vec::new();
    let mut nameless = Vec::new();
    for call in row.tool_calls() {
        let id = call.get("id").and_then(Value::as_str).unwrap_or_default();
        match decode_call(call, &Map::new()) {
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
fn decode_call(call: &Value, rest: &Map<String, Value>) -> Result<ToolCall> {
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
        _ => Map::new(),
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
