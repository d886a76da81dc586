//! What every store and its histories must do, written once against the
//! blocking store traits: order and times, windows, counts, pages and
//! their cursors, deletes, ids chosen by the caller, the errors of bad
//! input, sessions kept apart. `store_tests!` runs each case on a table
//! through both faces and on the in-memory store through both traits, so
//! the in-memory store is held to what the table does.

use std::time::Duration;

use langchain_cockroachdb::time::OffsetDateTime;
use langchain_cockroachdb::uuid::Uuid;
use langchain_cockroachdb::{
    ChatHistoryStore, ChatMessageHistory, Content, Error, Message, MessageType, Page,
    StoredMessage, TrimOptions, count_tokens_approximately, trim_messages,
};
use serde_json::json;

fn texts(messages: &[Message]) -> Vec<String> {
    messages.iter().map(|m| m.text().into_owned()).collect()
}

fn entry_texts(entries: &[StoredMessage]) -> Vec<String> {
    entries
        .iter()
        .map(|e| e.message.text().into_owned())
        .collect()
}

fn history(
    store: &dyn ChatHistoryStore,
    session: &str,
) -> Box<dyn ChatMessageHistory + Send + Sync> {
    store.history(session).expect("a valid session id")
}

/// Every row of a session, oldest first, read a page at a time.
fn rows(history: &dyn ChatMessageHistory) -> Vec<StoredMessage> {
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let page = history.messages_page(cursor.as_ref(), 100).unwrap();
        all.extend(page.entries);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return all,
        }
    }
}

/// Each row gets an id of its own and a time: now, but never before just
/// after the session's newest row, and a batch's rows one microsecond
/// apart, in the batch's order.
pub fn order_and_times_follow_the_tables_guard(store: &dyn ChatHistoryStore) {
    let history = history(store, "s");
    let before = OffsetDateTime::now_utc();
    history.add_user_message("before").unwrap();
    let batch: Vec<Message> = (0..50)
        .map(|i| match i % 2 {
            0 => Message::human(format!("m{i}")),
            _ => Message::ai(format!("m{i}")),
        })
        .collect();
    history.add_messages(&batch).unwrap();
    history.add_user_message("after").unwrap();
    history.add_messages(&[]).unwrap();

    let mut expected = vec!["before".to_string()];
    expected.extend((0..50).map(|i| format!("m{i}")));
    expected.push("after".into());
    assert_eq!(texts(&history.messages().unwrap()), expected);
    assert_eq!(history.message_count().unwrap(), 52);

    let rows = rows(&*history);
    assert_eq!(entry_texts(&rows), expected);
    assert!(rows.iter().all(|r| r.session_id == "s"));
    let ids: std::collections::HashSet<Uuid> = rows.iter().map(|r| r.id).collect();
    assert_eq!(ids.len(), rows.len(), "each row has an id of its own");
    assert!(rows.windows(2).all(|w| w[0].created_at < w[1].created_at));
    let micro = Duration::from_micros(1);
    for pair in rows[1..51].windows(2) {
        assert_eq!(pair[1].created_at - pair[0].created_at, micro);
    }
    // Times are the clock's, to the microsecond (the server's clock is
    // this machine's, give or take).
    let slack = Duration::from_secs(60);
    assert!(rows[0].created_at > before - slack && rows[0].created_at < before + slack);
    assert!(rows.iter().all(|r| r.created_at.nanosecond() % 1000 == 0));
}

/// A big batch reaches furthest ahead in time, so the single adds right
/// after it must still sort after it.
pub fn quick_single_adds_keep_their_order(store: &dyn ChatHistoryStore) {
    let history = history(store, "s");
    let batch: Vec<Message> = (0..2000).map(|i| Message::human(format!("b{i}"))).collect();
    history.add_messages(&batch).unwrap();
    for i in 0..200 {
        history.add_user_message(&format!("q{i}")).unwrap();
    }
    let expected: Vec<String> = (0..2000)
        .map(|i| format!("b{i}"))
        .chain((0..200).map(|i| format!("q{i}")))
        .collect();
    assert_eq!(texts(&history.messages().unwrap()), expected);
    let rows = rows(&*history);
    assert_eq!(entry_texts(&rows), expected);
    assert!(rows.windows(2).all(|w| w[0].created_at < w[1].created_at));
}

/// Every message type, with its metadata, reads back as it was written.
pub fn every_message_type_and_metadata(store: &dyn ChatHistoryStore) {
    let history = history(store, "s");
    let call = json!({"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1", "type": "tool_call"});
    let sent = vec![
        Message::system("You are a helpful assistant"),
        Message::human("What's the capital of France?")
            .with_additional_kwarg("timestamp", "2024-01-15T10:30:00"),
        Message::ai("The capital of France is Paris.")
            .with_additional_kwarg("model", "gpt-4")
            .with_additional_kwarg("tokens", 12),
        Message::ai("").with_tool_calls(vec![call]).unwrap(),
        Message::tool("call_1", "21 degrees"),
        Message::function("get_weather", "Weather: 72°F, Sunny"),
        Message::chat("critic", "Too long."),
        Message::remove("msg-1"),
        Message::human(
            Content::parts(vec![
                json!({"type": "text", "text": "What is in this image?"}),
                json!({"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}),
            ])
            .unwrap(),
        ),
    ];
    for message in &sent {
        history.add_message(message).unwrap();
    }
    let got = history.messages().unwrap();
    assert_eq!(got, sent);
    assert_eq!(got[2].additional_kwargs()["model"], "gpt-4");
    assert_eq!(got[3].tool_calls()[0]["args"]["city"], "Paris");
    assert_eq!(got[5].name(), Some("get_weather"));
}

/// The newest messages, `k` exchanges, the count and the trimmed window,
/// on an empty session and a full one.
pub fn windows_and_counts(store: &dyn ChatHistoryStore) {
    let history = history(store, "s");
    assert_eq!(history.message_count().unwrap(), 0);
    assert!(history.last_messages(3).unwrap().is_empty());
    assert!(history.buffer_window(2).unwrap().is_empty());

    history.add_message(&Message::system("Be brief.")).unwrap();
    for i in 0..3 {
        history.add_user_message(&format!("q{i}")).unwrap();
        history.add_ai_message(&format!("a{i}")).unwrap();
    }
    let all = history.messages().unwrap();
    assert_eq!(history.message_count().unwrap(), 7);
    assert_eq!(
        texts(&history.buffer_window(2).unwrap()),
        ["q1", "a1", "q2", "a2"]
    );
    assert!(history.buffer_window(0).unwrap().is_empty());
    assert_eq!(history.buffer_window(usize::MAX).unwrap(), all);
    assert_eq!(texts(&history.last_messages(1).unwrap()), ["a2"]);
    assert!(history.last_messages(0).unwrap().is_empty());
    assert_eq!(history.last_messages(100).unwrap(), all);
    for options in [
        TrimOptions::new(12),
        TrimOptions::new(30).include_system(true),
        TrimOptions::new(30)
            .include_system(true)
            .start_on(MessageType::Human),
    ] {
        let window = history.trim(&options).unwrap();
        assert_eq!(
            window,
            trim_messages(&all, &options, count_tokens_approximately)
        );
        assert!(!window.is_empty() && window.len() < all.len(), "{window:?}");
    }
}

/// A long session walked in pages, oldest first and newest first, with the
/// cursor carried as a string (as through a web client).
pub fn pages_walk_a_session_forward_and_back(store: &dyn ChatHistoryStore) {
    let history = history(store, "s");
    let batch: Vec<Message> = (0..1000).map(|i| Message::human(format!("p{i}"))).collect();
    history.add_messages(&batch).unwrap();
    let mut walked = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = history.messages_page(cursor.as_ref(), 64).unwrap();
        assert!(page.entries.len() <= 64);
        pages += 1;
        walked.extend(page.entries);
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 16); // 15 full pages and one of 40
    assert_eq!(entry_texts(&walked), texts(&batch));

    let mut back = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let parsed = cursor.as_deref().map(|c| c.parse().unwrap());
        let page = history.messages_page_back(parsed.as_ref(), 100).unwrap();
        back.extend(page.entries);
        match page.next {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    walked.reverse();
    assert_eq!(back, walked);

    // A page serializes for a web client, and its cursor as its string.
    let page = history.messages_page(None, 2).unwrap();
    let json = serde_json::to_value(&page).unwrap();
    assert_eq!(json["next"], page.next.unwrap().to_string());
    assert_eq!(json["entries"][0]["message"]["data"]["content"], "p0");
    let read_back: Page = serde_json::from_value(json).unwrap();
    assert_eq!(read_back, page);
}

/// A full page has a cursor even when nothing follows (the next page is
/// then empty, without one); a cursor past either end gives an empty page;
/// a cursor selects only rows of the session it is used with.
pub fn page_boundaries_and_cursors(store: &dyn ChatHistoryStore) {
    let history = history(store, "s");
    let empty = history.messages_page(None, 10).unwrap();
    assert!(empty.entries.is_empty() && empty.next.is_none());
    assert!(history.messages_page_back(None, 1).unwrap().next.is_none());

    for text in ["a", "b", "c", "d"] {
        history.add_user_message(text).unwrap();
    }
    let first = history.messages_page(None, 2).unwrap();
    let second = history.messages_page(first.next.as_ref(), 2).unwrap();
    assert_eq!(entry_texts(&second.entries), ["c", "d"]);
    let last = second.next.expect("a full page has a cursor");
    let after = history.messages_page(Some(&last), 2).unwrap();
    assert!(after.entries.is_empty() && after.next.is_none());
    let back = history.messages_page_back(Some(&last), 10).unwrap();
    assert_eq!(entry_texts(&back.entries), ["c", "b", "a"]);
    assert!(back.next.is_none(), "a page that is not full ends the walk");
    // Newest first, a full page's cursor is at its oldest row, as the
    // first row's is oldest first; before it there is nothing.
    let at_oldest = history.messages_page_back(None, 4).unwrap().next.unwrap();
    assert_eq!(
        Some(at_oldest),
        history.messages_page(None, 1).unwrap().next
    );
    let before = history.messages_page_back(Some(&at_oldest), 5).unwrap();
    assert!(before.entries.is_empty() && before.next.is_none());

    // Another session's rows after the same cursor are that session's only.
    let other = store.history("other").unwrap();
    other.add_user_message("later").unwrap();
    let page = other.messages_page(first.next.as_ref(), 10).unwrap();
    assert_eq!(entry_texts(&page.entries), ["later"]);
    assert!(page.entries.iter().all(|e| e.session_id == "other"));
}

/// `delete_last` deletes the newest rows and says how many; `clear`
/// empties the session, which then takes new messages after the old.
pub fn delete_last_counts_and_clear(store: &dyn ChatHistoryStore) {
    let history = history(store, "s");
    assert_eq!(history.delete_last(3).unwrap(), 0);
    history.clear().unwrap(); // clearing an empty session is fine
    for i in 0..6 {
        history.add_user_message(&format!("t{i}")).unwrap();
    }
    assert_eq!(history.delete_last(2).unwrap(), 2);
    assert_eq!(
        texts(&history.messages().unwrap()),
        ["t0", "t1", "t2", "t3"]
    );
    assert_eq!(history.delete_last(0).unwrap(), 0);
    history.add_user_message("t4 again").unwrap();
    assert_eq!(
        texts(&history.last_messages(2).unwrap()),
        ["t3", "t4 again"]
    );
    assert_eq!(history.delete_last(10).unwrap(), 5);
    assert_eq!(history.delete_last(1).unwrap(), 0);
    assert_eq!(history.message_count().unwrap(), 0);

    history
        .add_messages(&[Message::human("x"), Message::ai("y")])
        .unwrap();
    history.clear().unwrap();
    assert!(history.messages().unwrap().is_empty());
    assert_eq!(history.message_count().unwrap(), 0);
    assert!(history.messages_page(None, 5).unwrap().entries.is_empty());
    history.add_user_message("fresh").unwrap();
    assert_eq!(texts(&history.messages().unwrap()), ["fresh"]);
}

/// Rows under ids the caller chose: a repeat stores nothing, an id stored
/// in any session is skipped, a deleted row's id is free again, and a
/// batch with a bad message stores nothing.
pub fn ids_chosen_by_the_caller(store: &dyn ChatHistoryStore) {
    let history = history(store, "s");
    let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let turn = [(a, Message::human("a")), (b, Message::ai("b"))];
    assert_eq!(history.add_messages_with_ids(&turn).unwrap(), 2);
    assert_eq!(history.add_messages_with_ids(&turn).unwrap(), 0);
    let mixed = [(b, Message::ai("b again")), (c, Message::human("c"))];
    assert_eq!(history.add_messages_with_ids(&mixed).unwrap(), 1);
    assert_eq!(history.add_messages_with_ids(&[]).unwrap(), 0);
    let d = Uuid::new_v4();
    let twice = [(d, Message::human("d")), (d, Message::human("d again"))];
    assert_eq!(
        history.add_messages_with_ids(&twice).unwrap(),
        1,
        "the first of an id is kept"
    );
    let rows = rows(&*history);
    assert_eq!(entry_texts(&rows), ["a", "b", "c", "d"]);
    assert_eq!(rows.iter().map(|r| r.id).collect::<Vec<_>>(), [a, b, c, d]);

    let other = store.history("other").unwrap();
    assert_eq!(
        other
            .add_messages_with_ids(&[(a, Message::human("mine?"))])
            .unwrap(),
        0
    );
    assert!(
        other.messages().unwrap().is_empty(),
        "ids are unique across sessions"
    );
    assert_eq!(history.delete_last(2).unwrap(), 2);
    assert_eq!(
        other
            .add_messages_with_ids(&[(c, Message::human("now mine"))])
            .unwrap(),
        1
    );

    let bad = [
        (Uuid::new_v4(), Message::human("ok")),
        (Uuid::new_v4(), Message::human("nul \0")),
    ];
    assert!(matches!(
        history.add_messages_with_ids(&bad),
        Err(Error::InvalidMessage(_))
    ));
    assert_eq!(texts(&history.messages().unwrap()), ["a", "b"]);
}

/// Bad session ids, page sizes and messages are the same typed errors on
/// every store, and change nothing.
pub fn bad_input_gives_the_same_errors(store: &dyn ChatHistoryStore) {
    for bad in [String::new(), "a\0b".into(), "s".repeat(2049)] {
        match store.history(&bad) {
            Err(Error::InvalidIdentifier {
                what: "session id",
                value,
                ..
            }) => {
                assert!(value.len() < 300, "the error keeps a short excerpt")
            }
            other => panic!(
                "expected InvalidIdentifier for {bad:?}, got {:?}",
                other.map(|_| ())
            ),
        }
    }
    assert!(store.history(&"s".repeat(2048)).is_ok());

    let history = history(store, "s");
    history.add_user_message("kept").unwrap();
    for page in [
        history.messages_page(None, 0),
        history.messages_page_back(None, 0),
    ] {
        assert!(matches!(page, Err(Error::InvalidArgument(_))));
    }
    let with_nul = [Message::human("ok"), Message::human("nul \0 inside")];
    match history.add_messages(&with_nul) {
        Err(Error::InvalidMessage(reason)) => {
            assert!(reason.starts_with("message 1: "), "{reason}")
        }
        other => panic!("expected InvalidMessage, got {other:?}"),
    }
    // A message LangChain would refuse (a tool call id that is not a
    // string, in OpenAI's form) is never stored.
    let refused = Message::ai("").with_additional_kwarg(
        "tool_calls",
        json!([{"id": 3, "type": "function", "function": {"name": "f", "arguments": "{}"}}]),
    );
    match history.add_message(&refused) {
        Err(Error::InvalidMessage(reason)) => {
            assert!(reason.contains("tool_calls[0].id"), "{reason}")
        }
        other => panic!("expected InvalidMessage, got {other:?}"),
    }
    // The default limits: 15 MiB of JSON a message, and a write.
    let limit = 15 << 20;
    let huge = [Message::human("ok"), Message::human("x".repeat(limit))];
    match history.add_messages(&huge) {
        Err(Error::TooLarge {
            what, limit: got, ..
        }) => {
            assert_eq!((what.as_str(), got), ("message 1", limit))
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    let halves = [
        Message::human("x".repeat(limit / 2)),
        Message::ai("y".repeat(limit / 2)),
    ];
    match history.add_messages(&halves) {
        Err(Error::TooLarge {
            what, limit: got, ..
        }) => {
            assert_eq!((what.as_str(), got), ("the batch of 2 messages", limit))
        }
        other => panic!("expected TooLarge for the batch, got {other:?}"),
    }
    assert_eq!(texts(&history.messages().unwrap()), ["kept"]);
}

/// Sessions share nothing: not messages, counts, deletes or clears; ids
/// that differ by case or a space are other sessions; two histories of one
/// session see each other's writes.
pub fn sessions_are_isolated(store: &dyn ChatHistoryStore) {
    let alice = history(store, "user-123:support:ticket-456");
    let bob = history(store, "user-456");
    let bob_again = history(store, "user-456");
    alice.add_user_message("What's the weather?").unwrap();
    bob.add_user_message("Tell me a joke").unwrap();
    alice.add_ai_message("Sunny").unwrap();
    assert_eq!(
        texts(&alice.messages().unwrap()),
        ["What's the weather?", "Sunny"]
    );
    assert_eq!(texts(&bob_again.messages().unwrap()), ["Tell me a joke"]);
    for near in ["User-456", "user-456 ", "user-45"] {
        assert_eq!(
            store.history(near).unwrap().message_count().unwrap(),
            0,
            "{near:?}"
        );
    }
    assert_eq!(alice.delete_last(1).unwrap(), 1);
    assert_eq!(bob.message_count().unwrap(), 1);
    alice.clear().unwrap();
    assert!(alice.messages().unwrap().is_empty());
    assert_eq!(texts(&bob.messages().unwrap()), ["Tell me a joke"]);
}
