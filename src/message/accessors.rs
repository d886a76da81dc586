//! What a `Message` holds, read by its accessors and changed by its
//! `with_*` setters; a change is normalized again as LangChain would.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::json::{invalid, object_field};
use super::kind::MessageType;
use super::model::Message;
use crate::error::Result;

impl Message {
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
