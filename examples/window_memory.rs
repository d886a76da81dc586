//! The guide's `ConversationBufferWindowMemory(k=2)`: only the last k
//! exchanges go to the model, read from the database through the index
//! (the cost follows k, not the length of the session).
//!
//! ```text
//! cargo run --example window_memory
//! ```

use langchain_cockroachdb::Message;
use langchain_cockroachdb::nonblocking::AsyncCockroachDBEngine;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("LANGCHAIN_COCKROACHDB_URL")
        .unwrap_or_else(|_| "postgresql://root@127.0.0.1:5432/test".into());
    let engine = AsyncCockroachDBEngine::from_connection_string(&url)?;
    let history = engine.history("example:window-memory")?;
    history.clear().await?;
    for i in 1..=5 {
        history
            .add_messages(&[
                Message::human(format!("question {i}")),
                Message::ai(format!("answer {i}")),
            ])
            .await?;
    }
    let k = 2;
    let window = history.buffer_window(k).await?;
    println!(
        "{} messages stored; the last {k} exchanges go to the model:",
        history.message_count().await?
    );
    for message in &window {
        println!("  {}: {}", message.message_type(), message.text());
    }
    assert_eq!(window.len(), 2 * k);
    assert_eq!(window[0].text(), "question 4");
    history.clear().await?;
    Ok(())
}
