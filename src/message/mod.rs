//! LangChain messages, stored exactly as Python's `messages_to_dict` writes them.
//!
//! A stored message is `{"type": <type>, "data": {...}}`. [`Message`] keeps the
//! whole `data` object, so fields this crate does not model (and fields newer
//! LangChain versions add) survive a read and a write unchanged. Numbers and
//! key order are those of the build's `serde_json`: exact with the
//! `exact-json` feature, else as "Numbers and key order" in the Python
//! guide (docs/python.md) says.

mod accessors;
mod content;
mod deep;
mod json;
mod kind;
mod langchain;
mod model;
mod openai;
mod pydantic;
mod python;
mod trim;
mod validators;

pub use content::Content;
pub(crate) use deep::{json_text, parse_json};
pub use kind::MessageType;
pub use model::Message;
pub use openai::{from_openai_messages, to_openai_messages};
pub use trim::{TrimOptions, count_tokens_approximately, trim_messages};
