//! rig's messages as LangChain rows and back, in order: the two public
//! conversions, over the mapping the module docs tabulate. Encoding goes
//! through LangChain's own dict form ([`Message::from_dict`]), so rows are
//! normalized exactly as Python normalizes them. What rig holds and
//! LangChain has no field for travels under the key `rig`: in
//! `additional_kwargs` for a message, in `extras` for a content block, in
//! `value` for a `non_standard` block.
//!
//! One job a file, each using only the files listed after it: messages
//! written as rows (`encode`) and their content as blocks
//! (`encode_blocks`), rows read back as messages (`decode`) and blocks as
//! content (`decode_blocks`), what a row is to rig (`row`), and rig's own
//! data in LangChain's open fields (`fields`).

mod decode;
mod decode_blocks;
mod encode;
mod encode_blocks;
mod fields;
mod row;

use std::collections::HashMap;

use rig_core::message::{Message as Rig, ToolName, UserContent};

use crate::error::{Error, Result};
use crate::message::Message;

use decode::{decode_assistant, decode_tool_result};
use decode_blocks::user_content;
use encode::{encode_assistant, encode_user};
use fields::invalid;
use row::{Row, part};

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
