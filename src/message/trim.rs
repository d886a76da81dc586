//! Context windows: LangChain's `count_tokens_approximately` and
//! `trim_messages(strategy="last")`, so that what goes to a model is the
//! same window a Python service would send.

use serde_json::Value;

use super::kind::MessageType;
use super::model::Message;
use super::openai;
use super::python::repr;

/// LangChain's `count_tokens_approximately` with its defaults: about four
/// characters a token, three more tokens a message, the role and name
/// counted, tool calls and tool call ids too, 85 tokens an image.
///
/// ```
/// use langchain_cockroachdb::{Message, count_tokens_approximately};
/// assert_eq!(count_tokens_approximately(&[Message::human("hello world")]), 7);
/// ```
pub fn count_tokens_approximately(messages: &[Message]) -> usize {
    let (mut tokens, mut images) = (0usize, 0usize);
    for message in messages {
        let chars = |s: &str| s.chars().count();
        let mut count = match message.content() {
            Value::String(text) => chars(text),
            Value::Array(parts) => parts
                .iter()
                .map(|part| match part {
                    Value::String(text) => chars(text),
                    Value::Object(block) => match block.get("type").and_then(Value::as_str) {
                        Some("image" | "image_url") => {
                            images += 1;
                            0
                        }
                        Some("text") => block.get("text").and_then(Value::as_str).map_or(0, chars),
                        _ => chars(&repr(part)),
                    },
                    other => chars(&repr(other)),
                })
                .sum(),
            other => chars(&repr(other)),
        };
        if message.kind.base() == MessageType::Ai
            && !message.content().is_array()
            && !message.tool_calls().is_empty()
        {
            count += chars(&repr(&Value::Array(message.tool_calls().to_vec())));
        }
        if let Some(id) = message
            .tool_call_id()
            .filter(|_| message.kind.base() == MessageType::Tool)
        {
            count += chars(id);
        }
        count += openai::role_name(message).map_or(0, |r| chars(&r));
        count += message.name().map_or(0, chars);
        tokens += count.div_ceil(4) + 3;
    }
    tokens + images * 85
}

/// Which messages [`trim_messages`] keeps: the newest that fit in
/// `max_tokens` (LangChain's `strategy="last"`, whole messages only).
///
/// ```
/// use langchain_cockroachdb::{MessageType, TrimOptions};
/// let options = TrimOptions::new(1000).include_system(true).start_on(MessageType::Human);
/// assert_eq!(options.max_tokens, 1000);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[must_use]
pub struct TrimOptions {
    /// The most tokens the kept messages may count.
    pub max_tokens: usize,
    /// Keep a leading system message, and count it against the budget.
    pub include_system: bool,
    /// The window must start on one of these types (after the system
    /// message); earlier ones are dropped. Empty: any.
    pub start_on: Vec<MessageType>,
    /// The window must end on one of these types; later ones are dropped
    /// first. Empty: any.
    pub end_on: Vec<MessageType>,
}

impl TrimOptions {
    /// A window of at most `max_tokens`, no other condition.
    ///
    /// ```
    /// # use langchain_cockroachdb::TrimOptions;
    /// assert!(!TrimOptions::new(500).include_system);
    /// ```
    pub fn new(max_tokens: usize) -> TrimOptions {
        TrimOptions {
            max_tokens,
            include_system: false,
            start_on: Vec::new(),
            end_on: Vec::new(),
        }
    }

    /// Sets `include_system`.
    ///
    /// ```
    /// # use langchain_cockroachdb::TrimOptions;
    /// assert!(TrimOptions::new(500).include_system(true).include_system);
    /// ```
    pub fn include_system(mut self, include_system: bool) -> Self {
        self.include_system = include_system;
        self
    }

    /// Adds a type to `start_on`.
    ///
    /// ```
    /// # use langchain_cockroachdb::{MessageType, TrimOptions};
    /// assert_eq!(TrimOptions::new(500).start_on(MessageType::Human).start_on, [MessageType::Human]);
    /// ```
    pub fn start_on(mut self, kind: MessageType) -> Self {
        self.start_on.push(kind);
        self
    }

    /// Adds a type to `end_on`.
    ///
    /// ```
    /// # use langchain_cockroachdb::{MessageType, TrimOptions};
    /// assert_eq!(TrimOptions::new(500).end_on(MessageType::Tool).end_on, [MessageType::Tool]);
    /// ```
    pub fn end_on(mut self, kind: MessageType) -> Self {
        self.end_on.push(kind);
        self
    }
}

/// LangChain's `trim_messages(messages, strategy="last", allow_partial=False,
/// ...)`: the newest messages whose count by `counter` fits `max_tokens`,
/// with the leading system message when asked, starting and ending on the
/// types asked for. `counter` counts a list of messages, as
/// [`count_tokens_approximately`] does; it should never count fewer tokens
/// for more messages.
///
/// ```
/// use langchain_cockroachdb::{Message, MessageType, TrimOptions, count_tokens_approximately, trim_messages};
///
/// let messages = [
///     Message::system("Be brief."),
///     Message::human("first question"),
///     Message::ai("first answer"),
///     Message::human("second question"),
///     Message::ai("second answer"),
/// ];
/// let options = TrimOptions::new(25).include_system(true).start_on(MessageType::Human);
/// let window = trim_messages(&messages, &options, count_tokens_approximately);
/// let texts: Vec<_> = window.iter().map(|m| m.text().into_owned()).collect();
/// assert_eq!(texts, ["Be brief.", "second question", "second answer"]);
/// ```
pub fn trim_messages(
    messages: &[Message],
    options: &TrimOptions,
    counter: impl Fn(&[Message]) -> usize,
) -> Vec<Message> {
    let is = |message: &Message, kinds: &[MessageType]| kinds.contains(&message.kind);
    let mut messages = messages.to_vec();
    if !options.end_on.is_empty() {
        while messages.last().is_some_and(|m| !is(m, &options.end_on)) {
            messages.pop();
        }
    }
    let system = match messages.first() {
        Some(first) if options.include_system && first.kind.base() == MessageType::System => {
            Some(messages.remove(0))
        }
        _ => None,
    };
    let budget = match &system {
        Some(system) => options
            .max_tokens
            .saturating_sub(counter(std::slice::from_ref(system))),
        None => options.max_tokens,
    };
    messages.reverse();
    let mut kept = first_fitting(messages, budget, &counter, &options.start_on, is);
    kept.reverse();
    system.into_iter().chain(kept).collect()
}

/// LangChain's `_first_max_tokens` without partial messages: the longest
/// prefix that fits, found by its binary search, then cut back to end on
/// `end_on`.
fn first_fitting(
    mut messages: Vec<Message>,
    budget: usize,
    counter: &impl Fn(&[Message]) -> usize,
    end_on: &[MessageType],
    is: impl Fn(&Message, &[MessageType]) -> bool,
) -> Vec<Message> {
    if messages.is_empty() {
        return messages;
    }
    let mut keep = messages.len();
    if counter(&messages) > budget {
        let (mut left, mut right) = (0, messages.len());
        for _ in 0..usize::BITS - messages.len().leading_zeros() {
            if left >= right {
                break;
            }
            let mid = (left + right).div_ceil(2);
            if counter(&messages[..mid]) <= budget {
                left = mid;
            } else {
                right = mid - 1;
            }
        }
        keep = left;
    }
    if !end_on.is_empty() {
        while keep > 0 && !is(&messages[keep - 1], end_on) {
            keep -= 1;
        }
    }
    messages.truncate(keep);
    messages
}
