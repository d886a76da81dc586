//! `Content`: a message's content as LangChain takes it, text or a list of
//! parts.

use serde_json::Value;

use crate::error::Result;

use super::json::{invalid, json_kind};

/// Message content: text, or a list of parts, each a string or an object
/// (LangChain's `str | list[str | dict]`). Built from `&str` or `String`,
/// or checked by [`Content::parts`], so that it is always content LangChain
/// takes.
///
/// ```
/// use langchain_cockroachdb::{Content, Message};
/// use serde_json::json;
/// let text = Message::human("plain text");
/// let parts = Message::human(Content::parts(vec![json!({"type": "text", "text": "hi"})])?);
/// assert_eq!(text.text(), "plain text");
/// assert_eq!(parts.text(), "hi");
/// # Ok::<(), langchain_cockroachdb::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Content(pub(super) Value);

impl From<&str> for Content {
    fn from(text: &str) -> Self {
        Content(Value::String(text.to_owned()))
    }
}

impl From<String> for Content {
    fn from(text: String) -> Self {
        Content(Value::String(text))
    }
}

impl Content {
    /// A list of parts, each a string or an object; anything else is an
    /// [`Error::InvalidMessage`](crate::Error::InvalidMessage) naming the part.
    ///
    /// ```
    /// use langchain_cockroachdb::Content;
    /// use serde_json::json;
    /// assert!(Content::parts(vec![json!("a"), json!({"type": "text", "text": "b"})]).is_ok());
    /// assert!(Content::parts(vec![json!(1)]).is_err());
    /// ```
    pub fn parts(parts: Vec<Value>) -> Result<Content> {
        match parts
            .iter()
            .position(|p| !matches!(p, Value::String(_) | Value::Object(_)))
        {
            None => Ok(Content(Value::Array(parts))),
            Some(i) => Err(invalid(format!(
                "content[{i}] must be a string or an object, got {}",
                json_kind(&parts[i])
            ))),
        }
    }
}
