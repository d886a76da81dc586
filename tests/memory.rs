//! Memory in proportion to the input: the fields LangChain parses when a
//! message is made (`additional_kwargs.tool_calls` as a string, a chunk's
//! `tool_call_chunks[].args`) at 1 MiB each, made, written and read back on
//! both faces, within `FACTOR` times the message's size at the peak.
#![cfg(all(feature = "blocking", feature = "async"))]

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use langchain_cockroachdb::Message;
use serde_json::{Value, json};
use support::{Face, TempTable, database_url};

/// The bound docs/production.md states ("Security").
const FACTOR: usize = 10;

/// Counts the bytes allocated now and the most at any time.
struct Counting;

static NOW: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed on to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = NOW.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
            PEAK.fetch_max(now, Ordering::SeqCst);
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        unsafe { System.dealloc(p, layout) };
        NOW.fetch_sub(layout.size(), Ordering::SeqCst);
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, layout, size) };
        if !q.is_null() {
            let now = NOW.fetch_add(size, Ordering::SeqCst) + size;
            PEAK.fetch_max(now, Ordering::SeqCst);
            NOW.fetch_sub(layout.size(), Ordering::SeqCst);
        }
        q
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The most `f` had allocated at once, beyond what was allocated before.
fn peak_of<T>(f: impl FnOnce() -> T) -> (usize, T) {
    let before = NOW.load(Ordering::SeqCst);
    PEAK.store(before, Ordering::SeqCst);
    let out = f();
    (PEAK.load(Ordering::SeqCst).saturating_sub(before), out)
}

const MIB: usize = 1 << 20;

/// The messages, as dicts: each holds a 1 MiB string in a field that
/// LangChain walks or parses.
fn cases() -> Vec<(&'static str, Value)> {
    let long = "x".repeat(MIB);
    let partial = format!("{{\"query\": \"{long}");
    vec![
        (
            "ai: additional_kwargs.tool_calls as a string",
            json!({"type": "ai", "data": {"content": "", "additional_kwargs": {"tool_calls": long}}}),
        ),
        (
            "AIMessageChunk: additional_kwargs.tool_calls as a string",
            json!({"type": "AIMessageChunk", "data": {"content": "", "additional_kwargs": {"tool_calls": long}}}),
        ),
        (
            "AIMessageChunk: tool_call_chunks[].args, cut short",
            json!({"type": "AIMessageChunk", "data": {"content": "", "tool_call_chunks": [
                {"name": "search", "args": partial, "id": "c1", "index": 0}
            ]}}),
        ),
    ]
}

fn check<F: Face>(table: &TempTable) {
    let history = F::open("memory", &database_url(), table.options()).unwrap();
    history.add_user_message("warm up").unwrap();
    history.clear().unwrap();
    for (name, dict) in cases() {
        let size = dict.to_string().len();
        let (made, message) = peak_of(|| Message::from_dict(dict).unwrap());
        let (written, ()) = peak_of(|| history.add_message(&message).unwrap());
        let (read, messages) = peak_of(|| history.messages().unwrap());
        assert_eq!(messages, [message], "{name}");
        for (what, peak) in [("made", made), ("written", written), ("read", read)] {
            println!("{name}: {what} at {:.1}x", peak as f64 / size as f64);
            assert!(
                peak <= FACTOR * size,
                "{name}: {what} took {peak} bytes at the peak for {size} bytes of JSON"
            );
        }
        drop(messages);
        history.clear().unwrap();
    }
}

/// One test, so that nothing else allocates in this binary meanwhile.
#[test]
fn long_strings_cost_memory_in_proportion_on_both_faces() {
    use langchain_cockroachdb::blocking::CockroachDBChatMessageHistory;
    use langchain_cockroachdb::nonblocking::AsyncCockroachDBChatMessageHistory;
    let table = TempTable::new("memory");
    check::<CockroachDBChatMessageHistory>(&table);
    check::<AsyncCockroachDBChatMessageHistory>(&table);
}
