//! What a LangChain row is to rig: the kind of rig message it makes, and
//! where it stands in one when its type alone does not tell.

use serde_json::Value;

use crate::message::{Message, MessageType};

use super::fields::RIG;

/// What a LangChain message is to rig.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Row {
    System,
    Human,
    Tool,
    Ai,
    Skip,
}

impl Row {
    pub(super) fn of(row: &Message) -> Row {
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
pub(super) fn part(row: &Message) -> Option<&str> {
    row.additional_kwargs()
        .get(RIG)?
        .get("part")
        .and_then(Value::as_str)
}
