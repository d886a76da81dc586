//! The local responder (`examples/common/responder.rs`) as a model that
//! streams: its reply a token at a time, at a model's pace. A real model's
//! client gives the same thing, a stream of text deltas that ends when the
//! model is done; put it here.

use std::collections::VecDeque;
use std::time::Duration;

use langchain_cockroachdb::Message;

use super::responder::{LocalResponder, Responder};

/// The model's name in a reply's `response_metadata`, where LangChain's
/// chat models put theirs (`model_name`).
pub(crate) const MODEL_NAME: &str = "local-responder";

/// The reply to one message, token by token.
pub(crate) struct Tokens {
    rest: VecDeque<String>,
    delay: Duration,
}

impl Tokens {
    /// The reply to `input` after `history`: a word at a time (each with
    /// the space after it, so that the tokens put together are the reply),
    /// each `delay` after the one before.
    pub(crate) fn new(history: &[Message], input: &str, delay: Duration) -> Tokens {
        let reply = LocalResponder.respond(history, input);
        Tokens {
            rest: reply.split_inclusive(' ').map(str::to_owned).collect(),
            delay,
        }
    }

    /// The next token once the model has made it; `None` when the reply is
    /// complete. Dropped while waiting, it loses nothing: the token is
    /// taken only once its time has come.
    pub(crate) async fn next(&mut self) -> Option<String> {
        if self.rest.is_empty() {
            return None;
        }
        tokio::time::sleep(self.delay).await;
        self.rest.pop_front()
    }
}
