//! A terminal chatbot that remembers: the guide's "Complete Chatbot" on the
//! blocking face. Each turn is stored; start it again with the same
//! `--session` and it still knows what you told it.
//!
//! ```text
//! cargo run --example cli_bot -- --session alice
//! > My name is Alice
//! bot: Nice to meet you, Alice!
//! > /quit
//! cargo run --example cli_bot -- --session alice
//! > What's my name?
//! bot: Your name is Alice.
//! ```
//!
//! Commands: `/history`, `/clear`, `/undo` (drop the last exchange),
//! `/sessions` (this user's sessions), `/quit`. The answers come from a
//! small local responder (`examples/common/responder.rs`); put a real model
//! behind its `Responder` trait.

#[path = "common/responder.rs"]
mod responder;

use std::io::{BufRead, Write};

use langchain_cockroachdb::blocking::CockroachDBEngine;
use langchain_cockroachdb::{ChatMessageHistory, HistoryOptions, SessionFilter};
use responder::{LocalResponder, Responder};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut session = String::from("cli-bot:default");
    let mut url = std::env::var("LANGCHAIN_COCKROACHDB_URL")
        .unwrap_or_else(|_| "postgresql://root@127.0.0.1:5432/test".into());
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--session" => session = args.next().ok_or("--session needs a value")?,
            "--database-url" => url = args.next().ok_or("--database-url needs a value")?,
            other => {
                return Err(format!(
                    "unknown argument {other:?}; use --session ID --database-url URL"
                )
                .into());
            }
        }
    }
    let engine = CockroachDBEngine::from_connection_string(&url)?;
    let history = engine.history(session.as_str())?;
    let bot = LocalResponder;
    println!(
        "session {session} ({} messages stored); /quit to leave",
        history.message_count()?
    );

    let stdin = std::io::stdin();
    let mut out = std::io::stdout();
    loop {
        write!(out, "> ")?;
        out.flush()?;
        let mut line = String::new();
        if stdin.lock().read_line(&mut line)? == 0 {
            break;
        }
        let input = line.trim();
        match input {
            "" => continue,
            "/quit" => break,
            "/history" => {
                for message in history.messages()? {
                    println!("  {}: {}", message.message_type(), message.text());
                }
            }
            "/clear" => {
                history.clear()?;
                println!("  history cleared");
            }
            "/undo" => println!("  removed {} messages", history.delete_last(2)?),
            "/sessions" => {
                let prefix = session.split(':').next().unwrap_or_default();
                let filter = SessionFilter::default().prefix(prefix);
                for info in engine.list_sessions(&HistoryOptions::default(), &filter)? {
                    println!("  {} ({} messages)", info.session_id, info.message_count);
                }
            }
            input => {
                let answer = bot.respond(&history.messages()?, input);
                // The exchange is stored as one atomic, ordered write.
                ChatMessageHistory::add_messages(
                    &history,
                    &[
                        langchain_cockroachdb::Message::human(input),
                        langchain_cockroachdb::Message::ai(answer.as_str()),
                    ],
                )?;
                println!("bot: {answer}");
            }
        }
    }
    Ok(())
}
