//! `Message`: a LangChain message's type and `data` object, its
//! constructors, its dict and JSON forms, equality and serde. Every change
//! goes through LangChain's normalizer (`langchain.rs`); the accessors and
//! `with_*` setters are in `accessors.rs`.

use serde::de::Error as _;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::content::Content;
use super::deep::{self, json_text, parse_json};
use super::json::{invalid, json_kind, map_eq, storage_problem};
use super::kind::MessageType;
use super::langchain;
use crate::error::{Error, Result};

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
    pub(super) kind: MessageType,
    pub(super) data: Map<String, Value>,
    /// Why LangChain would refuse it, when a setter made it so; such a
    /// message is refused before it is stored.
    pub(super) refused: Option<String>,
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
    pub(super) fn normalized(mut self) -> Message {
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

    pub(super) fn from_data(kind: MessageType, data: Map<String, Value>) -> Result<Message> {
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
