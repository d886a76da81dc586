//! A stand-in for a chat model, shared by the examples: deterministic,
//! local, no network. It answers from the history it is given, so an
//! example shows the stored history at work. Swap in a real model by
//! implementing `Responder`.

use langchain_cockroachdb::Message;

/// What a chat model does for these examples: answer `input` given the
/// conversation so far.
pub trait Responder {
    fn respond(&self, history: &[Message], input: &str) -> String;
}

/// Remembers names and repeats the rest.
pub struct LocalResponder;

impl Responder for LocalResponder {
    fn respond(&self, history: &[Message], input: &str) -> String {
        if let Some(name) = name_in(input) {
            return format!("Nice to meet you, {name}!");
        }
        let lower = input.to_lowercase();
        if lower.contains("my name") {
            // The newest "my name is ..." the user said, in any session turn.
            return match history.iter().rev().find_map(|m| name_in(&m.text())) {
                Some(name) => format!("Your name is {name}."),
                None => "I don't know your name yet.".into(),
            };
        }
        if lower.contains("how many") {
            return format!("We have exchanged {} messages.", history.len());
        }
        format!("You said: {input}")
    }
}

/// The name in "my name is <name>", if the text says one.
fn name_in(text: &str) -> Option<String> {
    let lower = text.to_lowercase();
    let at = lower.find("my name is ")? + "my name is ".len();
    let name: String = text[at..]
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '-')
        .collect();
    (!name.is_empty()).then_some(name)
}
