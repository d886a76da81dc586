//! The guide's multi-turn dialog on the async face: each turn reads the
//! stored history, answers from it and stores the exchange; a new history
//! object for the same session picks the conversation up.
//!
//! ```text
//! cargo run --example multi_turn
//! ```

#[path = "common/responder.rs"]
mod responder;

use langchain_cockroachdb::nonblocking::{
    AsyncCockroachDBChatMessageHistory, AsyncCockroachDBEngine,
};
use langchain_cockroachdb::{AsyncChatMessageHistory, Message};
use responder::{LocalResponder, Responder};

/// One turn: the model sees the whole history, then the exchange is stored.
async fn turn(
    history: &impl AsyncChatMessageHistory,
    bot: &impl Responder,
    input: &str,
) -> langchain_cockroachdb::Result<String> {
    let answer = bot.respond(&history.messages().await?, input);
    history
        .add_messages(&[Message::human(input), Message::ai(answer.as_str())])
        .await?;
    Ok(answer)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("LANGCHAIN_COCKROACHDB_URL")
        .unwrap_or_else(|_| "postgresql://root@127.0.0.1:5432/test".into());
    let engine = AsyncCockroachDBEngine::from_connection_string(&url)?;
    let session = "example:multi-turn";
    let history = engine.history(session)?;
    history.clear().await?;
    let bot = LocalResponder;
    for input in ["Hello!", "My name is Alice", "How many messages so far?"] {
        println!(
            "user: {input}\nbot:  {}",
            turn(&history, &bot, input).await?
        );
    }
    // Later, elsewhere: a new history object for the same session.
    let later =
        AsyncCockroachDBChatMessageHistory::with_engine(session, &engine, Default::default())?;
    let answer = turn(&later, &bot, "What's my name?").await?;
    println!("user: What's my name?\nbot:  {answer}");
    assert_eq!(answer, "Your name is Alice.");
    later.clear().await?;
    Ok(())
}
