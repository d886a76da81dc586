//! Messages in OpenAI's chat-completions format, both ways, as
//! langchain_core's `convert_to_openai_messages` (with its defaults) and
//! `convert_to_messages` make them: the format most Rust LLM clients take.
//!
//! Content blocks are converted for OpenAI's own kinds (text, image_url,
//! file, input_audio, refusal), Anthropic's (image with a base64 source,
//! tool_use, tool_result), json and guard_content blocks; reasoning and
//! unknown blocks pass through. LangChain's standard data blocks (image,
//! audio or file with a url, base64 or file_id), Bedrock's raw-bytes images
//! and VertexAI's media blocks are refused with an error rather than
//! converted differently.

use serde_json::{Map, Value};

use super::json::invalid;
use super::kind::MessageType;
use super::model::Message;
use super::python::{json_dumps, json_dumps_unicode, str_of, truthy};
use crate::error::Result;

/// The OpenAI chat-completions messages for `messages`, as LangChain's
/// `convert_to_openai_messages(messages)` gives them: roles, names, text or
/// content parts, `tool_calls` with JSON-string arguments, tool results.
///
/// ```
/// use langchain_cockroachdb::{Message, to_openai_messages};
/// use serde_json::json;
///
/// let call = json!({"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1"});
/// let messages = [
///     Message::system("Be brief."),
///     Message::human("Weather in Paris?"),
///     Message::ai("").with_tool_calls(vec![call])?,
///     Message::tool("call_1", "21 degrees"),
/// ];
/// let openai = to_openai_messages(&messages)?;
/// assert_eq!(openai[0], json!({"role": "system", "content": "Be brief."}));
/// assert_eq!(openai[2]["tool_calls"][0]["function"]["arguments"], r#"{"city": "Paris"}"#);
/// assert_eq!(openai[3], json!({"role": "tool", "tool_call_id": "call_1", "content": "21 degrees"}));
/// # Ok::<(), langchain_cockroachdb::Error>(())
/// ```
pub fn to_openai_messages(messages: &[Message]) -> Result<Vec<Value>> {
    let mut out = Vec::with_capacity(messages.len());
    for (i, message) in messages.iter().enumerate() {
        out.extend(convert(i, message)?);
    }
    Ok(out)
}

/// The OpenAI role of a message, if it has one.
pub(super) fn role_name(message: &Message) -> Option<String> {
    role(message)
        .ok()
        .and_then(|r| r.as_str().map(str::to_owned))
}

fn role(message: &Message) -> Result<Value> {
    Ok(match message.kind.base() {
        MessageType::Ai => "assistant".into(),
        MessageType::Human => "user".into(),
        MessageType::Tool => "tool".into(),
        MessageType::Function => "function".into(),
        MessageType::Chat => message.data.get("role").cloned().unwrap_or(Value::Null),
        MessageType::System => match message.additional_kwargs().get("__openai_role__") {
            None => "system".into(),
            Some(role @ Value::String(_)) => role.clone(),
            Some(_) => return Err(invalid("__openai_role__ must be a string")),
        },
        _ => {
            return Err(invalid(format!(
                "a {} message has no OpenAI role",
                message.kind
            )));
        }
    })
}

fn tool_call(id: Value, name: Value, arguments: String) -> Value {
    let mut function = Map::new();
    function.insert("name".into(), name);
    function.insert("arguments".into(), Value::String(arguments));
    let mut call = Map::new();
    call.insert("type".into(), "function".into());
    call.insert("id".into(), id);
    call.insert("function".into(), Value::Object(function));
    Value::Object(call)
}

/// One message as OpenAI messages: itself, and the tool results its content
/// blocks hold.
fn convert(i: usize, message: &Message) -> Result<Vec<Value>> {
    let mut oai = Map::new();
    oai.insert("role".into(), role(message)?);
    if let Some(name) = message.data.get("name").filter(|n| truthy(n)) {
        oai.insert("name".into(), name.clone());
    }
    let tool_calls = message.tool_calls();
    if message.kind.base() == MessageType::Ai && !tool_calls.is_empty() {
        let calls = tool_calls
            .iter()
            .map(|c| {
                tool_call(
                    c["id"].clone(),
                    c["name"].clone(),
                    json_dumps_unicode(&c["args"]),
                )
            })
            .collect();
        oai.insert("tool_calls".into(), Value::Array(calls));
    }
    if let Some(refusal) = message
        .additional_kwargs()
        .get("refusal")
        .filter(|r| truthy(r))
    {
        oai.insert("refusal".into(), refusal.clone());
    }
    if message.kind.base() == MessageType::Tool {
        oai.insert(
            "tool_call_id".into(),
            message
                .data
                .get("tool_call_id")
                .cloned()
                .unwrap_or(Value::Null),
        );
    }
    let mut tool_messages = Vec::new();
    let content = message.content();
    let converted = match content {
        c if !truthy(c) => Value::String(String::new()),
        Value::String(_) => content.clone(),
        Value::Array(parts) if parts.iter().all(is_text) => Value::String(join_text(i, parts)?),
        Value::Array(parts) => {
            let mut blocks = Vec::new();
            for (j, part) in parts.iter().enumerate() {
                block(
                    i,
                    j,
                    part,
                    &mut oai,
                    tool_calls,
                    &mut blocks,
                    &mut tool_messages,
                )?;
            }
            if blocks.iter().all(is_text) {
                let missing = blocks.iter().any(|b| b.get("type").is_none());
                if missing {
                    return Err(invalid(format!(
                        "messages[{i}]: a content block has no \"type\""
                    )));
                }
                Value::String(join_text(i, &blocks)?)
            } else {
                if blocks.iter().any(|b| b.get("type").is_none()) {
                    return Err(invalid(format!(
                        "messages[{i}]: a content block has no \"type\""
                    )));
                }
                Value::Array(blocks)
            }
        }
        _ => content.clone(),
    };
    oai.insert("content".into(), converted);
    if truthy(content) && !truthy(&oai["content"]) && !tool_messages.is_empty() {
        return Ok(tool_messages);
    }
    let mut out = vec![Value::Object(oai)];
    out.extend(tool_messages);
    Ok(out)
}

/// A string, or a block of `"type": "text"`.
fn is_text(part: &Value) -> bool {
    match part {
        Value::String(_) => true,
        Value::Object(block) => block.get("type").and_then(Value::as_str) == Some("text"),
        _ => false,
    }
}

fn join_text(i: usize, parts: &[Value]) -> Result<String> {
    let texts = parts
        .iter()
        .map(|p| match p {
            Value::String(s) => Ok(s.as_str()),
            block => match block.get("text") {
                Some(Value::String(t)) => Ok(t.as_str()),
                _ => Err(invalid(format!(
                    "messages[{i}]: a text block has no \"text\""
                ))),
            },
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(texts.join("\n"))
}

fn missing(block: &Map<String, Value>, keys: &[&str], at: &str) -> Result<()> {
    match keys.iter().find(|k| !block.contains_key(**k)) {
        Some(key) => Err(invalid(format!("{at} is missing {key:?}"))),
        None => Ok(()),
    }
}

fn text_block(text: Value) -> Value {
    let mut out = Map::new();
    out.insert("type".into(), "text".into());
    out.insert("text".into(), text);
    Value::Object(out)
}

#[allow(clippy::too_many_arguments)]
fn block(
    i: usize,
    j: usize,
    part: &Value,
    oai: &mut Map<String, Value>,
    tool_calls: &[Value],
    blocks: &mut Vec<Value>,
    tool_messages: &mut Vec<Value>,
) -> Result<()> {
    let at = format!("messages[{i}].content[{j}]");
    let block = match part {
        Value::String(s) => {
            blocks.push(text_block(Value::String(s.clone())));
            return Ok(());
        }
        Value::Object(block) => block,
        _ => return Err(invalid(format!("{at} is neither text nor a block"))),
    };
    let kind = block.get("type").and_then(Value::as_str);
    match kind {
        Some("text") => {
            missing(block, &["text"], &at)?;
            blocks.push(text_block(block["text"].clone()));
        }
        Some("image_url") => {
            missing(block, &["image_url"], &at)?;
            let mut out = Map::new();
            out.insert("type".into(), "image_url".into());
            out.insert("image_url".into(), block["image_url"].clone());
            blocks.push(Value::Object(out));
        }
        Some("image" | "audio" | "file" | "video" | "text-plain")
            if ["url", "base64", "file_id", "source_type"]
                .iter()
                .any(|k| block.contains_key(*k)) =>
        {
            return Err(invalid(format!(
                "{at}: LangChain's standard data blocks are not converted by this crate"
            )));
        }
        _ if kind == Some("image") || block.contains_key("image") => {
            match block.get("source").filter(|s| truthy(s)) {
                Some(Value::Object(source)) => {
                    missing(
                        source,
                        &["media_type", "type", "data"],
                        &format!("{at}.source"),
                    )?;
                    let url = format!(
                        "data:{};{},{}",
                        str_of(&source["media_type"]),
                        str_of(&source["type"]),
                        str_of(&source["data"])
                    );
                    let mut image = Map::new();
                    image.insert("url".into(), Value::String(url));
                    let mut out = Map::new();
                    out.insert("type".into(), "image_url".into());
                    out.insert("image_url".into(), Value::Object(image));
                    blocks.push(Value::Object(out));
                }
                _ => {
                    return Err(invalid(format!(
                        "{at}: an image block without a base64 source is not converted"
                    )));
                }
            }
        }
        Some("file")
            if block
                .get("file")
                .and_then(|f| f.get("file_data"))
                .is_some_and(Value::is_string) =>
        {
            let mut out = block.clone();
            if let Some(Value::Object(file)) = out.get_mut("file")
                && file.get("filename").is_none_or(Value::is_null)
            {
                file.insert("filename".into(), "LC_AUTOGENERATED".into());
            }
            blocks.push(Value::Object(out));
        }
        Some("input_audio")
            if block.get("input_audio").is_some_and(|a| {
                a.get("data").is_some_and(Value::is_string)
                    && a.get("format").is_some_and(Value::is_string)
            }) =>
        {
            blocks.push(part.clone());
        }
        Some("tool_use") => {
            missing(block, &["id", "name", "input"], &at)?;
            if !tool_calls.iter().any(|c| c["id"] == block["id"]) {
                let call = tool_call(
                    block["id"].clone(),
                    block["name"].clone(),
                    json_dumps_unicode(&block["input"]),
                );
                push_tool_call(oai, call);
            }
        }
        Some("function_call") => {
            let call_id = block.get("call_id").cloned().unwrap_or(Value::Null);
            if !tool_calls.iter().any(|c| c["id"] == call_id) {
                missing(block, &["call_id", "name", "arguments"], &at)?;
                let arguments = match &block["arguments"] {
                    Value::String(s) => s.clone(),
                    other => {
                        return Err(invalid(format!(
                            "{at}.arguments must be a string, got {other}"
                        )));
                    }
                };
                push_tool_call(oai, tool_call(call_id, block["name"].clone(), arguments));
            }
            blocks.push(part.clone());
        }
        Some("tool_result") => {
            missing(block, &["content", "tool_use_id"], &at)?;
            let mut data = Map::new();
            data.insert("content".into(), block["content"].clone());
            data.insert("tool_call_id".into(), block["tool_use_id"].clone());
            let status = if block.get("is_error").is_some_and(truthy) {
                "error"
            } else {
                "success"
            };
            data.insert("status".into(), status.into());
            let result = Message::from_data(MessageType::Tool, data)?;
            tool_messages.extend(convert(i, &result)?);
        }
        _ if kind == Some("json") || block.contains_key("json") => {
            missing(block, &["json"], &at)?;
            blocks.push(text_block(Value::String(json_dumps(&block["json"]))));
        }
        _ if kind == Some("guard_content") || block.contains_key("guard_content") => {
            let text = block
                .get("guard_content")
                .and_then(|g| g.get("text"))
                .ok_or_else(|| invalid(format!("{at}: guard_content has no text")))?;
            let text = match text {
                Value::Object(inner) => inner.get("text").cloned().unwrap_or(Value::Null),
                other => other.clone(),
            };
            blocks.push(text_block(text));
        }
        Some("media") => {
            return Err(invalid(format!(
                "{at}: VertexAI media blocks are not converted by this crate"
            )));
        }
        Some("refusal") => {
            if let Some(refusal) = block.get("refusal").filter(|r| truthy(r)) {
                let mut out = Map::new();
                out.insert("type".into(), "refusal".into());
                out.insert("refusal".into(), refusal.clone());
                blocks.push(Value::Object(out));
            }
        }
        // Reasoning, and blocks of any other kind, pass through.
        _ => blocks.push(part.clone()),
    }
    Ok(())
}

/// `additional_kwargs`, when it is an object.
fn additional(data: &mut Map<String, Value>) -> Option<&mut Map<String, Value>> {
    match data.get_mut("additional_kwargs") {
        Some(Value::Object(kwargs)) => Some(kwargs),
        _ => None,
    }
}

fn push_tool_call(oai: &mut Map<String, Value>, call: Value) {
    match oai
        .entry("tool_calls")
        .or_insert_with(|| Value::Array(Vec::new()))
    {
        Value::Array(calls) => calls.push(call),
        other => *other = Value::Array(vec![call]),
    }
}

/// Messages from OpenAI-format dicts (`{"role", "content", ...}`, also
/// `"type"` in place of `"role"`, or a bare string for a user message), as
/// LangChain's `convert_to_messages` reads them: `user`/`human`,
/// `assistant`/`ai` (with `tool_calls` whose JSON-string arguments are
/// parsed), `system`, `developer`, `tool`, `function`, `remove`; other
/// keys go to `additional_kwargs`.
///
/// ```
/// use langchain_cockroachdb::{MessageType, from_openai_messages};
/// use serde_json::json;
///
/// let messages = from_openai_messages(&[
///     json!({"role": "user", "content": "Weather?"}),
///     json!({"role": "assistant", "content": null, "tool_calls": [
///         {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\": \"Paris\"}"}}
///     ]}),
///     json!({"role": "tool", "content": "sunny", "tool_call_id": "c1"}),
/// ])?;
/// assert_eq!(messages[1].message_type(), MessageType::Ai);
/// assert_eq!(messages[1].tool_calls()[0]["args"]["city"], "Paris");
/// assert_eq!(messages[2].tool_call_id(), Some("c1"));
/// # Ok::<(), langchain_cockroachdb::Error>(())
/// ```
pub fn from_openai_messages(messages: &[Value]) -> Result<Vec<Message>> {
    messages.iter().map(from_openai).collect()
}

fn from_openai(message: &Value) -> Result<Message> {
    let mut fields = match message {
        Value::String(text) => return Ok(Message::human(text.as_str())),
        Value::Object(fields) => fields.clone(),
        other => {
            return Err(invalid(format!(
                "an OpenAI message is an object or a string, got {other}"
            )));
        }
    };
    let role = match fields.remove("role").or_else(|| fields.remove("type")) {
        Some(Value::String(role)) => role,
        Some(other) => return Err(invalid(format!("role must be a string, got {other}"))),
        None => return Err(invalid("an OpenAI message needs \"role\" and \"content\"")),
    };
    let content = match fields.remove("content") {
        Some(c) if truthy(&c) => c,
        Some(_) => Value::String(String::new()),
        None => return Err(invalid("an OpenAI message needs \"role\" and \"content\"")),
    };
    let mut data = Map::new();
    data.insert("content".into(), content);
    for key in ["name", "tool_call_id", "id"] {
        if let Some(value) = fields.remove(key).filter(|v| !v.is_null()) {
            data.insert(key.into(), value);
        }
    }
    let tool_calls = fields.remove("tool_calls");
    let mut kwargs = fields;
    if !kwargs.is_empty() {
        if let Some(metadata) = kwargs.remove("response_metadata").filter(truthy) {
            data.insert("response_metadata".into(), metadata);
        }
        if let Some(Value::Object(nested)) = kwargs.remove("additional_kwargs") {
            kwargs.extend(nested);
        }
        data.insert("additional_kwargs".into(), Value::Object(kwargs.clone()));
    }
    if let Some(calls) = tool_calls.filter(|c| !c.is_null()) {
        let Value::Array(calls) = calls else {
            return Err(invalid("tool_calls must be a list"));
        };
        let calls = calls
            .into_iter()
            .map(|call| match call.get("function") {
                Some(function) => {
                    let args = match function.get("arguments") {
                        Some(Value::String(text)) => serde_json::from_str(text).map_err(|e| {
                            invalid(format!("tool call arguments are not JSON: {e}"))
                        })?,
                        Some(other) => other.clone(),
                        None => return Err(invalid("a tool call's function has no \"arguments\"")),
                    };
                    let mut out = Map::new();
                    out.insert(
                        "name".into(),
                        function.get("name").cloned().unwrap_or(Value::Null),
                    );
                    out.insert("args".into(), args);
                    out.insert("id".into(), call.get("id").cloned().unwrap_or(Value::Null));
                    out.insert("type".into(), "tool_call".into());
                    Ok(Value::Object(out))
                }
                None => Ok(call),
            })
            .collect::<Result<Vec<_>>>()?;
        data.insert("tool_calls".into(), Value::Array(calls));
    }
    let kind = match role.as_str() {
        "human" | "user" => MessageType::Human,
        "ai" | "assistant" => MessageType::Ai,
        "system" => MessageType::System,
        "developer" => {
            let mut kwargs = match data.remove("additional_kwargs") {
                Some(Value::Object(kwargs)) => kwargs,
                _ => Map::new(),
            };
            kwargs.insert("__openai_role__".into(), "developer".into());
            data.insert("additional_kwargs".into(), Value::Object(kwargs));
            MessageType::System
        }
        "function" => MessageType::Function,
        "tool" => {
            let artifact = additional(&mut data).and_then(|k| k.remove("artifact"));
            let status = additional(&mut data).and_then(|k| k.remove("status"));
            data.insert("artifact".into(), artifact.unwrap_or(Value::Null));
            if let Some(status) = status.filter(|s| !s.is_null()) {
                data.insert("status".into(), status);
            }
            MessageType::Tool
        }
        "remove" => MessageType::Remove,
        other => {
            return Err(invalid(format!(
                "unexpected message role {other:?}: use user, assistant, system, developer, tool or function"
            )));
        }
    };
    if matches!(kind, MessageType::Human | MessageType::Ai)
        && let Some(example) = additional(&mut data)
            .and_then(|k| k.remove("example"))
            .filter(truthy)
    {
        data.insert("example".into(), example);
    }
    Message::from_data(kind, data)
}
