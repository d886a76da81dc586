//! A terminal chatbot that remembers: the guide's "Complete Chatbot" on the
//! blocking face. Each turn is stored; start it again with the same
//! `--user` and `--session` and it still knows what you told it.
//!
//! ```text
//! cargo run --example cli_bot -- --user alice --session trip
//! > My name is Alice
//! bot: Nice to meet you, Alice!
//! > /quit
//! cargo run --example cli_bot -- --user alice --session trip
//! > What's my name?
//! bot: Your name is Alice.
//! ```
//!
//! Commands: `/history`, `/clear`, `/undo` (drop the last exchange),
//! `/sessions` (this user's sessions), `/quit`. The answers come from a
//! small local responder (`examples/common/responder.rs`); put a real model
//! behind its `Responder` trait.
//!
//! A conversation is stored as `USER:SESSION`, and `/sessions` lists the
//! prefix `USER:`, separator included, so that `al` never sees `alice`'s.
//! The database comes from `LANGCHAIN_COCKROACHDB_URL`: a password given
//! with `--database-url` is visible to every user of the machine (`ps`,
//! shell history), and the bot says so.

#[path = "common/responder.rs"]
mod responder;

use std::io::{BufRead, Write};

use langchain_cockroachdb::blocking::CockroachDBEngine;
use langchain_cockroachdb::{ChatMessageHistory, HistoryOptions, SessionFilter};
use responder::{LocalResponder, Responder};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (mut user, mut name) = (String::from("cli-bot"), String::from("default"));
    let mut url = std::env::var("LANGCHAIN_COCKROACHDB_URL")
        .unwrap_or_else(|_| "postgresql://root@127.0.0.1:5432/test".into());
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--user" => user = value()?,
            "--session" => name = value()?,
            "--database-url" => {
                url = value()?;
                let config: langchain_cockroachdb::ConnectionConfig = url.parse()?;
                if config.has_password() {
                    eprintln!(
                        "warning: the password in --database-url can be read by other users \
                         of this machine (ps, shell history); set LANGCHAIN_COCKROACHDB_URL instead"
                    );
                }
            }
            other => {
                return Err(format!(
                    "unknown argument {other:?}; use --user NAME --session NAME [--database-url URL]"
                )
                .into());
            }
        }
    }
    if user.is_empty() || user.contains(':') {
        return Err("--user is a name without ':'".into());
    }
    let session = format!("{user}:{name}");
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
                let namespace = format!("{user}:");
                let filter = SessionFilter::default().prefix(&namespace);
                for info in engine.list_sessions(&HistoryOptions::default(), &filter)? {
                    let name = info.session_id.strip_prefix(&namespace).unwrap_or_default();
                    println!("  {name} ({} messages)", info.message_count);
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
