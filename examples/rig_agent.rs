//! A rig agent whose conversation memory is a CockroachDB table: it
//! remembers a name it was told, across runs. Without `OPENAI_API_KEY` the
//! model is a local, deterministic stand-in (no network, no key); with it,
//! OpenAI answers (`gpt-5.2`, or the model `OPENAI_MODEL` names).
//!
//! ```text
//! cargo run --manifest-path examples/rig-agent/Cargo.toml -- --user alice "My name is Alice."
//! cargo run --manifest-path examples/rig-agent/Cargo.toml -- --user alice "What's my name?"
//! OPENAI_API_KEY=... cargo run --manifest-path examples/rig-agent/Cargo.toml -- --user alice "What's my name?"
//! ```
//!
//! The table (`rig_agent_memory` unless `--table` says otherwise) holds
//! LangChain's message dicts: a Python app reads the same conversation with
//! `CockroachDBChatMessageHistory(session_id="alice:main", ...)`.
//! `--clear` forgets the conversation.

use langchain_cockroachdb::HistoryOptions;
use langchain_cockroachdb::nonblocking::AsyncCockroachDBEngine;
use langchain_cockroachdb::rig::{CockroachDBConversationMemory, Window};
use rig_agent::AgentBuilder;
use rig_core::DynModel;
use rig_core::driver::{Exchange, Model, Opening, Transport};
use rig_core::operation::Completion;
use rig_core::providers::openai;
use rig_core::memory::ConversationMemory;
use rig_core::message::{Message, UserContent};
use rig_core::test_utils::{MockCompletionModel, MockScript, MockTurn};

/// The stand-in model: it answers from the conversation it is sent, as a
/// real one would, through rig's scripted wire.
#[derive(Clone)]
struct StandIn;

impl Transport<MockScript> for StandIn {
    fn send(
        &self,
        request: rig_core::completion::CompletionRequest,
        exchange: Exchange,
    ) -> Opening<rig_core::test_utils::MockFrame> {
        let answer = answer(&request.chat_history);
        MockCompletionModel::from_turns([MockTurn::text(answer)])
            .transport
            .send(request, exchange)
    }
}

/// What the user said, newest last.
fn said(history: &[Message]) -> Vec<String> {
    history
        .iter()
        .filter_map(|m| match m {
            Message::User { content } => content.iter().find_map(|c| match c {
                UserContent::Text(t) => Some(t.text.clone()),
                _ => None,
            }),
            _ => None,
        })
        .collect()
}

/// OpenAI when `OPENAI_API_KEY` is set (rig reads it, and
/// `OPENAI_BASE_URL`), else the stand-in.
fn model() -> Result<DynModel<Completion>, Box<dyn std::error::Error>> {
    if std::env::var_os("OPENAI_API_KEY").is_none() {
        return Ok(Model::new(MockScript::default(), StandIn).into());
    }
    let name = std::env::var("OPENAI_MODEL").unwrap_or_else(|_| openai::GPT_5_2.to_owned());
    Ok(openai::OpenAI::from_env()?.completion(name).into())
}

fn answer(history: &[Message]) -> String {
    let said = said(history);
    let prompt = said.last().map(String::as_str).unwrap_or_default();
    let name = said.iter().rev().find_map(|s| {
        let rest = s.split_once("My name is ")?.1;
        Some(rest.trim_end_matches(['.', '!']).to_owned())
    });
    match (prompt.contains("my name?"), name) {
        (true, Some(name)) => format!("Your name is {name}."),
        (true, None) => "I don't know your name yet.".into(),
        (false, Some(name)) if prompt.contains("My name is") => {
            format!("Nice to meet you, {name}!")
        }
        _ => format!("You said: {prompt}"),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut user = "demo".to_owned();
    let mut table = "rig_agent_memory".to_owned();
    let mut clear = false;
    let mut prompt = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--user" => user = args.next().ok_or("--user needs a name")?,
            "--table" => table = args.next().ok_or("--table needs a name")?,
            "--clear" => clear = true,
            _ => prompt.push(arg),
        }
    }
    let url = std::env::var("LANGCHAIN_COCKROACHDB_URL")
        .unwrap_or_else(|_| "postgresql://root@127.0.0.1:5432/test".into());
    let engine = AsyncCockroachDBEngine::from_connection_string(&url)?;
    // The newest 40 messages of a conversation go to the model each turn.
    let memory =
        CockroachDBConversationMemory::new(&engine, HistoryOptions::default().table_name(&table))
            .window(Window::Newest(40));
    let conversation = format!("{user}:main");
    if clear {
        memory.clear(&conversation.as_str().into()).await?;
        println!("forgot {conversation}");
        return Ok(());
    }
    let agent = AgentBuilder::new(model()?)
        .preamble("You are a helpful assistant.")
        .memory(memory)
        .conversation(conversation)
        .build();
    let prompt = prompt.join(" ");
    let reply = agent.prompt(prompt.as_str()).await?;
    println!("agent: {}", reply.output());
    Ok(())
}
