//! LangChain messages, stored exactly as Python's `messages_to_dict` writes them.
//!
//! A stored message is `{"type": <type>, "data": {...}}`. [`Message`] keeps the
//! whole `data` object, so fields this crate does not model (and fields newer
//! LangChain versions add) survive a read and a write unchanged. Numbers and
//! key order are those of the build's `serde_json`: exact with the
//! `exact-json` feature, else as the README's "Numbers and key order" says.

use std::borrow::Cow;

use serde::de::Error as _;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::error::{Error, Result};

use json::{invalid, json_kind, map_eq, object_field, storage_problem};

mod content;
mod deep;
mod json;
mod kind;
mod langchain;
mod openai;
mod python;
mod trim;

pub use content::Content;
pub use kind::MessageType;
pub use openai::{from_openai_messages, to_openai_messages};
pub use trim::{TrimOptions, count_tokens_approximately, trim_messages};

/// A LangChain chat message: its type and its `data` object.
///
/// Build one with a constructor and `with_*` methods, read it with the
/// accessors; [`Message::to_dict`] and [`Message::from_dict`] convert to and
/// from the stored JSON.
///
/// ```
/// use langchain_cockroachdb::{Message, MessageType};
///
/// let msg = Message::ai("The capital of France is Paris.")
///     .with_additional_kwarg("model", "gpt-4")
///     .with_additional_kwarg("tokens", 12);
/// assert_eq!(msg.message_type(), MessageType::Ai);
/// assert_eq!(msg.text(), "The capital of France is Paris.");
/// assert_eq!(msg.additional_kwargs()["tokens"], 12);
///
/// let dict = msg.to_dict();
/// assert_eq!(dict["type"], "ai");
/// assert_eq!(dict["data"]["tool_calls"], serde_json::json!([]));
/// assert_eq!(Message::from_dict(dict).unwrap(), msg);
/// ```
///
/// Two messages are equal when their JSON values are, numbers compared by
/// value as JSONB and Python do (`1e-07` equals `0.0000001`, `1.0` equals `1`).
#[derive(Debug)]
pub struct Message {
    kind: MessageType,
    data: Map<String, Value>,
    /// Why LangChain would refuse it, when a setter made it so; such a
    /// message is refused before it is stored.
    refused: Option<String>,
}

impl Message {
    fn build(kind: MessageType, content: Value, required: Option<(&str, String)>) -> Message {
        let mut data = Map::new();
        data.insert("content".into(), content);
        if let Some((key, value)) = required {
            data.insert(key.into(), Value::String(value));
        }
        Message {
            kind,
            data,
            refused: None,
        }
        .normalized()
    }

    /// The message as LangChain holds it after a change, or marked refused
    /// with LangChain's reason.
    fn normalized(mut self) -> Message {
        let mut data = self.data_clone();
        match langchain::normalize(self.kind, &mut data) {
            Ok(()) => {
                for (_, old) in std::mem::replace(&mut self.data, data) {
                    deep::dismantle(old);
                }
                self.refused = None;
            }
            Err(err) => {
                for (_, value) in data {
                    deep::dismantle(value);
                }
                self.refused = Some(match err {
                    Error::InvalidMessage(reason) => reason,
                    other => other.to_string(),
                });
            }
        }
        self
    }

    /// A copy of `data`, at any depth.
    fn data_clone(&self) -> Map<String, Value> {
        self.data
            .iter()
            .map(|(k, v)| (k.clone(), deep::clone(v)))
            .collect()
    }

    /// Why LangChain would refuse this message, if it would: a setter gave
    /// it a field LangChain does not take. Such a message is never stored.
    ///
    /// ```
    /// # use langchain_cockroachdb::Message;
    /// use serde_json::json;
    /// assert!(Message::ai("hi").refusal().is_none());
    /// let odd = Message::ai("").with_additional_kwarg("tool_calls", json!([{"id": 3, "function": {"name": "f", "arguments": "{}"}}]));
    /// assert!(odd.refusal().unwrap().contains("tool_calls[0].id"));
    /// ```
    pub fn refusal(&self) -> Option<&str> {
        self.refused.as_deref()
    }

    /// A `human` message (`HumanMessage`). `content` is text or a list of parts.
    ///
    /// ```
    /// # use langchain_cockroachdb::Message;
    /// let msg = Message::human("What's the weather?");
    /// assert_eq!(msg.text(), "What's the weather?");
    /// ```
    pub fn human(content: impl Into<Content>) -> Message {
        Message::build(MessageType::Human, content.into().0, None)
    }

    /// An `ai` message (`AIMessage`).
    ///
    /// ```
    /// # use langchain_cockroachdb::Message;
    /// assert_eq!(Message::ai("Hi!").message_type().as_str(), "ai");
    /// ```
    pub fn ai(content: impl Into<Content>) -> Message {
        Message::build(MessageType::Ai, content.into().0, None)
    }

    /// A `system` message (`SystemMessage`).
    ///
    /// ```
    /// # use langchain_cockroachdb::Message;
    /// let msg = Message::system("You are a helpful assistant");
    /// assert_eq!(msg.message_type().as_str(), "system");
    /// ```
    pub fn system(content: impl Into<Content>) -> Message {
        Message::build(MessageType::System, content.into().0, None)
    }

    /// A `chat` message with a free-form `role` (`ChatMessage`).
    ///
    /// ```
    /// # use langchain_cockroachdb::Message;
    /// assert_eq!(Message::chat("critic", "Too long.").role(), Some("critic"));
    /// ```
    pub fn chat(role: impl Into<String>, content: impl Into<Content>) -> Message {
        Message::build(
            MessageType::Chat,
            content.into().0,
            Some(("role", role.into())),
        )
    }

    /// A `function` message carrying a function's result (`FunctionMessage`).
    ///
    /// ```
    /// # use langchain_cockroachdb::Message;
    /// let msg = Message::function("get_weather", "Weather: 72°F, Sunny");
    /// assert_eq!(msg.name(), Some("get_weather"));
    /// ```
    pub fn function(name: impl Into<String>, content: impl Into<Content>) -> Message {
        Message::build(
            MessageType::Function,
            content.into().0,
            Some(("name", name.into())),
        )
    }

    /// A `tool` message answering the tool call `tool_call_id` (`ToolMessage`).
    ///
    /// ```
    /// # use langchain_cockroachdb::Message;
    /// let msg = Message::tool("call_abc123", "21 degrees and clear");
    /// assert_eq!(msg.tool_call_id(), Some("call_abc123"));
    /// assert_eq!(msg.get("status").unwrap(), "success");
    /// ```
    pub fn tool(tool_call_id: impl Into<String>, content: impl Into<Content>) -> Message {
        Message::build(
            MessageType::Tool,
            content.into().0,
            Some(("tool_call_id", tool_call_id.into())),
        )
    }

    /// A `remove` message asking LangGraph to drop the message with this id
    /// (`RemoveMessage`).
    ///
    /// ```
    /// # use langchain_cockroachdb::Message;
    /// assert_eq!(Message::remove("msg-1").id(), Some("msg-1"));
    /// ```
    pub fn remove(id: impl Into<String>) -> Message {
        Message::build(
            MessageType::Remove,
            Value::String(String::new()),
            Some(("id", id.into())),
        )
    }

    /// Reads a message from its dict form, `{"type": ..., "data": {...}}`,
    /// filling LangChain's defaults for missing fields.
    ///
    /// ```
    /// # use langchain_cockroachdb::Message;
    /// use serde_json::json;
    ///
    /// let msg = Message::from_dict(json!({"type": "human", "data": {"content": "x"}})).unwrap();
    /// assert_eq!(msg.to_dict()["data"]["additional_kwargs"], json!({}));
    ///
    /// let err = Message::from_dict(json!({"type": "chat", "data": {"content": "x"}})).unwrap_err();
    /// assert!(err.to_string().contains("role"));
    /// ```
    pub fn from_dict(dict: Value) -> Result<Message> {
        let Value::Object(mut top) = dict else {
            return Err(invalid(format!(
                "expected an object {{\"type\": ..., \"data\": {{...}}}}, got {}",
                json_kind(&dict)
            )));
        };
        let kind = match top.remove("type") {
            Some(Value::String(s)) => s.parse::<MessageType>()?,
            Some(other) => {
                return Err(invalid(format!(
                    "\"type\" must be a string, got {}",
                    json_kind(&other)
                )));
            }
            None => return Err(invalid("missing \"type\"")),
        };
        let data = match top.remove("data") {
            Some(Value::Object(data)) => data,
            Some(other) => {
                return Err(invalid(format!(
                    "\"data\" must be an object, got {}",
                    json_kind(&other)
                )));
            }
            None => return Err(invalid("missing \"data\"")),
        };
        Message::from_data(kind, data)
    }

    /// Reads a message from the JSON text of its dict form.
    ///
    /// ```
    /// # use langchain_cockroachdb::Message;
    /// let msg = Message::from_json(br#"{"type":"ai","data":{"content":"hi"}}"#).unwrap();
    /// assert_eq!(msg.text(), "hi");
    /// assert!(Message::from_json(b"{oops").is_err());
    /// ```
    pub fn from_json(json: &[u8]) -> Result<Message> {
        let value = parse_json(json).map_err(|e| invalid(format!("not valid JSON: {e}")))?;
        Message::from_dict(value)
    }

    fn from_data(kind: MessageType, data: Map<String, Value>) -> Result<Message> {
        // Owned by a message from the start, so that a refused one is taken
        // apart without recursion too.
        let mut message = Message {
            kind,
            data,
            refused: None,
        };
        langchain::normalize(kind, &mut message.data)?;
        Ok(message)
    }

    /// The dict form, `{"type": ..., "data": {...}}`: exactly what Python's
    /// `messages_to_dict([message])[0]` gives and what the table stores.
    ///
    /// ```
    /// # use langchain_cockroachdb::Message;
    /// use serde_json::json;
    /// let dict = Message::system("Be brief.").to_dict();
    /// assert_eq!(dict["data"]["content"], json!("Be brief."));
    /// assert_eq!(dict["type"], "system");
    /// ```
    pub fn to_dict(&self) -> Value {
        let mut top = Map::new();
        top.insert("type".into(), Value::String(self.kind.as_str().into()));
        top.insert("data".into(), Value::Object(self.data_clone()));
        Value::Object(top)
    }

    /// The dict form as compact JSON text.
    ///
    /// ```
    /// # use langchain_cockroachdb::Message;
    /// let json = Message::human("hi").to_json();
    /// assert_eq!(Message::from_json(json.as_bytes()).unwrap(), Message::human("hi"));
    /// ```
    pub fn to_json(&self) -> String {
        json_text(self)
    }

    /// The message's type.
    ///
    /// ```
    /// # use langchain_cockroachdb::{Message, MessageType};
    /// assert_eq!(Message::tool("c1", "ok").message_type(), MessageType::Tool);
    /// ```
    pub fn message_type(&self) -> MessageType {
        self.kind
    }

    /// The content: a JSON string, or a list of parts (strings and objects
    /// such as `{"type": "text", "text": ...}` or `{"type": "image_url", ...}`).
    ///
    /// ```
    /// # use langchain_cockroachdb::Message;
    /// assert_eq!(Message::human("hi").content(), "hi");
    /// ```
    pub fn content(&self) -> &Value {
        &self.data["content"]
    }

    /// The text of the content: the string itself, or the text parts of a
    /// list joined together (LangChain's `message.text`).
    ///
    /// ```
    /// # use langchain_cockroachdb::Message;
    /// use serde_json::json;
    ///
    /// use langchain_cockroachdb::Content;
    ///
    /// let msg = Message::human(Content::parts(vec![json!("a "), json!({"type": "text", "text": "b"}),
    ///                               json!({"type": "image_url", "image_url": {"url": "x"}})])?);
    /// assert_eq!(msg.text(), "a b");
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn text(&self) -> Cow<'_, str> {
        match self.content() {
            Value::String(s) => Cow::Borrowed(s),
            Value::Array(parts) => Cow::Owned(
                parts
                    .iter()
                    .filter_map(|part| match part {
                        Value::String(s) => Some(s.as_str()),
                        Value::Object(o) if o.get("type") == Some(&Value::from("text")) => {
                            o.get("text").and_then(Value::as_str)
                        }
                        _ => None,
                    })
                    .collect(),
            ),
            _ => Cow::Borrowed(""),
        }
    }

    /// The optional `name` (a function message's function name).
    ///
    /// ```
    /// # use langchain_cockroachdb::Message;
    /// assert_eq!(Message::function("get_weather", "72F").name(), Some("get_weather"));
    /// assert_eq!(Message::human("hi").name(), None);
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.data.get("name").and_then(Value::as_str)
    }

    /// The optional message `id` (LangChain's, not the table row's).
    ///
    /// ```
    /// # use langchain_cockroachdb::Message;
    /// assert_eq!(Message::ai("hi").with_id("run-1").id(), Some("run-1"));
    /// ```
    pub fn id(&self) -> Option<&str> {
        self.data.get("id").and_then(Value::as_str)
    }

    /// The `role` of a chat message.
    ///
    /// ```
    /// # use langchain_cockroachdb::Message;
    /// assert_eq!(Message::chat("critic", "meh").role(), Some("critic"));
    /// ```
    pub fn role(&self) -> Option<&str> {
        self.data.get("role").and_then(Value::as_str)
    }

    /// The `tool_call_id` of a tool message.
    ///
    /// ```
    /// # use langchain_cockroachdb::Message;
    /// assert_eq!(Message::tool("call_1", "21C").tool_call_id(), Some("call_1"));
    /// ```
    pub fn tool_call_id(&self) -> Option<&str> {
        self.data.get("tool_call_id").and_then(Value::as_str)
    }

    /// The `tool_calls` of an AI message; empty for other types.
    ///
    /// ```
    /// # use langchain_cockroachdb::Message;
    /// assert!(Message::ai("no tools").tool_calls().is_empty());
    /// ```
    pub fn tool_calls(&self) -> &[Value] {
        self.data
            .get("tool_calls")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }

    /// Free-form metadata (`additional_kwargs`).
    ///
    /// ```
    /// # use langchain_cockroachdb::Message;
    /// let msg = Message::ai("Paris.").with_additional_kwarg("model", "gpt-4");
    /// assert_eq!(msg.additional_kwargs()["model"], "gpt-4");
    /// ```
    pub fn additional_kwargs(&self) -> &Map<String, Value> {
        object_field(&self.data, "additional_kwargs")
    }

    /// Provider metadata (`response_metadata`).
    ///
    /// ```
    /// # use langchain_cockroachdb::Message;
    /// assert!(Message::ai("hi").response_metadata().is_empty());
    /// ```
    pub fn response_metadata(&self) -> &Map<String, Value> {
        object_field(&self.data, "response_metadata")
    }

    /// Any field of `data`, modelled or not (`usage_metadata`, `artifact`,
    /// `status`, fields of newer LangChain versions...).
    ///
    /// ```
    /// # use langchain_cockroachdb::Message;
    /// use serde_json::json;
    /// let msg = Message::from_dict(json!({"type": "ai", "data": {"content": "x", "new_field": 1}}))?;
    /// assert_eq!(msg.get("new_field"), Some(&json!(1)));
    /// assert_eq!(msg.get("usage_metadata"), Some(&json!(null)));
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.data.get(key)
    }

    /// The whole `data` object.
    ///
    /// ```
    /// # use langchain_cockroachdb::Message;
    /// assert_eq!(Message::human("hi").data()["type"], "human");
    /// ```
    pub fn data(&self) -> &Map<String, Value> {
        &self.data
    }

    /// Replaces `additional_kwargs`.
    ///
    /// ```
    /// # use langchain_cockroachdb::Message;
    /// use serde_json::json;
    ///
    /// let Some(kwargs) = json!({"timestamp": "2024-01-15T10:30:00"}).as_object().cloned() else { unreachable!() };
    /// let msg = Message::human("What's the capital of France?").with_additional_kwargs(kwargs);
    /// assert_eq!(msg.additional_kwargs()["timestamp"], "2024-01-15T10:30:00");
    /// ```
    pub fn with_additional_kwargs(mut self, kwargs: Map<String, Value>) -> Message {
        self.data
            .insert("additional_kwargs".into(), Value::Object(kwargs));
        self.normalized()
    }

    /// Sets one key of `additional_kwargs`.
    ///
    /// ```
    /// # use langchain_cockroachdb::Message;
    /// let msg = Message::ai("ok").with_additional_kwarg("tokens", 12);
    /// assert_eq!(msg.additional_kwargs()["tokens"], 12);
    /// ```
    pub fn with_additional_kwarg(
        mut self,
        key: impl Into<String>,
        value: impl Into<Value>,
    ) -> Message {
        let mut kwargs = match self.data.remove("additional_kwargs") {
            Some(Value::Object(kwargs)) => kwargs,
            _ => Map::new(),
        };
        kwargs.insert(key.into(), value.into());
        self.with_additional_kwargs(kwargs)
    }

    /// Replaces `response_metadata`.
    ///
    /// ```
    /// # use langchain_cockroachdb::Message;
    /// use serde_json::{json, Map};
    /// let mut meta = Map::new();
    /// meta.insert("model_name".into(), json!("gpt-4o"));
    /// assert_eq!(Message::ai("hi").with_response_metadata(meta).response_metadata()["model_name"], "gpt-4o");
    /// ```
    pub fn with_response_metadata(mut self, metadata: Map<String, Value>) -> Message {
        self.data
            .insert("response_metadata".into(), Value::Object(metadata));
        self.normalized()
    }

    /// Sets `name`.
    ///
    /// ```
    /// # use langchain_cockroachdb::Message;
    /// assert_eq!(Message::human("hi").with_name("alice").name(), Some("alice"));
    /// ```
    pub fn with_name(mut self, name: impl Into<String>) -> Message {
        self.data.insert("name".into(), Value::String(name.into()));
        self.normalized()
    }

    /// Sets the LangChain message `id`.
    ///
    /// ```
    /// # use langchain_cockroachdb::Message;
    /// assert_eq!(Message::human("hi").with_id("msg-1").id(), Some("msg-1"));
    /// ```
    pub fn with_id(mut self, id: impl Into<String>) -> Message {
        self.data.insert("id".into(), Value::String(id.into()));
        self.normalized()
    }

    /// Sets `tool_calls` (each `{"name", "args", "id", "type": "tool_call"}`).
    /// Only AI messages carry tool calls: on other types this is an error.
    ///
    /// ```
    /// # use langchain_cockroachdb::Message;
    /// use serde_json::json;
    ///
    /// let call = json!({"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1", "type": "tool_call"});
    /// let msg = Message::ai("").with_tool_calls(vec![call]).unwrap();
    /// assert_eq!(msg.tool_calls()[0]["name"], "get_weather");
    /// assert!(Message::human("").with_tool_calls(vec![]).is_err());
    /// ```
    pub fn with_tool_calls(mut self, tool_calls: Vec<Value>) -> Result<Message> {
        if self.kind.base() != MessageType::Ai {
            return Err(invalid(format!(
                "a {} message cannot carry tool_calls",
                self.kind
            )));
        }
        self.data
            .insert("tool_calls".into(), Value::Array(tool_calls));
        let message = self.normalized();
        match message.refused.clone() {
            Some(reason) => Err(invalid(reason)),
            None => Ok(message),
        }
    }
}

impl Clone for Message {
    fn clone(&self) -> Message {
        Message {
            kind: self.kind,
            data: self.data_clone(),
            refused: self.refused.clone(),
        }
    }
}

impl Drop for Message {
    fn drop(&mut self) {
        for (_, value) in std::mem::take(&mut self.data) {
            deep::dismantle(value);
        }
    }
}

impl PartialEq for Message {
    fn eq(&self, other: &Message) -> bool {
        self.kind == other.kind && map_eq(&self.data, &other.data)
    }
}

impl Serialize for Message {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("type", self.kind.as_str())?;
        map.serialize_entry("data", &self.data)?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for Message {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        Message::from_dict(Value::deserialize(deserializer)?).map_err(D::Error::custom)
    }
}

impl Message {
    /// Why the table cannot store this message, if it cannot (checked
    /// before anything is sent).
    pub(crate) fn storage_problem(&self) -> Option<String> {
        self.data.iter().find_map(|(k, v)| {
            if k.contains('\0') {
                Some("a key contains U+0000, which JSONB cannot store".into())
            } else {
                storage_problem(v)
            }
        })
    }
}

/// JSON text of any depth a server stores (or an export holds): no
/// recursion limit, and the stack grows on the heap as deep values need it.
pub(crate) fn parse_json(json: &[u8]) -> serde_json::Result<Value> {
    let mut reader = serde_json::Deserializer::from_slice(json);
    reader.disable_recursion_limit();
    Value::deserialize(serde_stacker::Deserializer::new(&mut reader))
        .and_then(|value| reader.end().map(|()| value))
}

/// `value` as compact JSON text, at any depth (see `parse_json`).
pub(crate) fn json_text(value: &impl Serialize) -> String {
    // Serializing maps of strings to JSON values cannot fail.
    let mut out = Vec::new();
    let mut writer = serde_json::Serializer::new(&mut out);
    let _ = value.serialize(serde_stacker::Serializer::new(&mut writer));
    String::from_utf8(out).unwrap_or_default()
}
