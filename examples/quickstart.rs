//! The guide's basic usage: add a short conversation, read it back, clear it.
//!
//! ```text
//! cargo run --example quickstart
//! LANGCHAIN_COCKROACHDB_URL=postgresql://root@localhost:26257/defaultdb?sslmode=disable cargo run --example quickstart
//! ```

use langchain_cockroachdb::Message;
use langchain_cockroachdb::blocking::CockroachDBChatMessageHistory;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("LANGCHAIN_COCKROACHDB_URL")
        .unwrap_or_else(|_| "postgresql://root@127.0.0.1:5432/test".into());

    let history = CockroachDBChatMessageHistory::new("quickstart-user-123", &url)?;
    history.clear()?; // start from an empty session on every run

    history.add_user_message("Hello! How are you?")?;
    history.add_ai_message("I'm doing well, thank you! How can I help you today?")?;
    history.add_message(&Message::human("What's the capital of France?"))?;
    history.add_message(
        &Message::ai("The capital of France is Paris.")
            .with_additional_kwarg("model", "gpt-4")
            .with_additional_kwarg("tokens", 12),
    )?;

    let messages = history.messages()?;
    println!(
        "Session {} has {} messages:",
        history.session_id(),
        messages.len()
    );
    for msg in &messages {
        println!("  {}: {}", msg.message_type(), msg.text());
    }

    history.clear()?;
    println!("Cleared; {} messages left.", history.messages()?.len());
    Ok(())
}
