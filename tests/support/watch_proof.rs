//! The proof of issue 30: writers in several processes (both faces at READ
//! COMMITTED and SERIALIZABLE, a raw writer holding its transaction open,
//! Python's langchain-cockroachdb where a venv has it) write one session at
//! once, while watchers of the face under test drop their watch at random
//! points and resume from the last cursor they got, on either of two
//! engines, through a proxy that cuts connections at random: every watcher
//! receives every message of the session exactly once, each writer's in its
//! order, within a bounded time. The children are this test binary again
//! (`writers.rs`).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use langchain_cockroachdb::uuid::Uuid;
use langchain_cockroachdb::{EngineOptions, Error, WatchCursor, WatchEvent, WatchFrom};

use crate::support::proxy::Proxy;
use crate::support::writers::{self, ELSEWHERE, Rng, SESSION};
use crate::support::{Face, TempTable, database_url, on_cockroachdb, raw_query};

/// Watchers of the face under test.
const WATCHERS: usize = 4;
/// The chance that a chunk a watcher's connection sends cuts it.
const CUT_CHANCE: f64 = 0.04;
/// How long a watcher goes on once it has every message: a repeat would
/// come then.
const QUIET: Duration = Duration::from_millis(1500);
/// The bound on the whole: writers started (Python's import takes
/// seconds on a loaded machine), written, and every message delivered.
/// On PostgreSQL a message is delivered once every older transaction of the
/// server has ended: other programs' long transactions delay it.
const READY_WITHIN: Duration = Duration::from_secs(60);
const WRITTEN_WITHIN: Duration = Duration::from_secs(60);
const DELIVERED_WITHIN: Duration = Duration::from_secs(90);

/// What one watcher saw.
#[derive(Default)]
struct Seen {
    /// Each message's id, in the order received.
    order: Vec<Uuid>,
    /// Each message's id, how many times.
    times: HashMap<Uuid, usize>,
    deleted: u64,
    /// Watches dropped and resumed from a cursor.
    resumes: usize,
    /// Which of the two engines each resumed watch was on.
    engines: [usize; 2],
    /// Errors a watch or its start returned (the proxy's cuts).
    errors: Vec<Error>,
    /// Done: every message, then `QUIET`.
    complete: bool,
}

/// Stops the watchers when the test ends, by a panic too.
struct Stop(Arc<Shared>);

impl Drop for Stop {
    fn drop(&mut self) {
        self.0.stop.store(true, Ordering::SeqCst);
    }
}

/// What the watchers share with the test.
struct Shared {
    /// The session's messages, once every writer has ended.
    stored: OnceLock<HashSet<Uuid>>,
    /// Past the bound: give up.
    stop: AtomicBool,
}

pub fn every_watcher_gets_every_message_exactly_once<F: Face>() {
    if writers::run_role() {
        return;
    }
    let table = TempTable::new("proof");
    let setup: F = F::open(SESSION, &database_url(), table.options()).unwrap();
    setup.engine_create_tables(&table.options()).unwrap();
    let proxy = Proxy::start();
    // Python's writes notify nobody: the engines' looks find them.
    let options = EngineOptions::default()
        .pool_size(2)
        .watch_poll_interval(Duration::from_millis(200));
    let engines: Vec<F> = (0..2)
        .map(|_| {
            F::open_pooled(SESSION, &proxy.test_url(), table.options(), options.clone()).unwrap()
        })
        .collect();

    let mut writers = writers::start("every_watcher_gets_every_message_exactly_once", &table);
    for writer in &mut writers {
        let isolation = writer.ready(READY_WITHIN);
        // CockroachDB runs READ COMMITTED only where a cluster setting
        // allows it, and SERIALIZABLE otherwise.
        if !on_cockroachdb() {
            assert_eq!(isolation, writer.isolation, "writer {}", writer.name);
        }
    }

    let shared = Arc::new(Shared {
        stored: OnceLock::new(),
        stop: AtomicBool::new(false),
    });
    let _stop = Stop(Arc::clone(&shared));
    let (started, watching) = channel();
    let watchers: Vec<_> = (0..WATCHERS)
        .map(|w| {
            let (engines, shared, started) = (engines.clone(), Arc::clone(&shared), started.clone());
            let seed = format!("{}-{w}", table.name);
            std::thread::spawn(move || watch(w, &engines, &shared, &started, seed))
        })
        .collect();
    for _ in 0..WATCHERS {
        watching
            .recv_timeout(READY_WITHIN)
            .expect("every watcher has started");
    }
    proxy.cut_at_random(CUT_CHANCE);
    let began = Instant::now();
    for writer in &mut writers {
        writer.go();
    }
    let names: Vec<String> = writers.iter().map(|w| w.name.clone()).collect();
    let written: Vec<_> = writers
        .into_iter()
        .map(|w| w.finish(WRITTEN_WITHIN))
        .collect();
    let writing = began.elapsed();

    // The session's messages, as the table holds them once all committed.
    let rows = raw_query(
        &format!(
            "SELECT id, message->'data'->>'content' FROM {} WHERE session_id = $1 ORDER BY created_at, id",
            table.qualified()
        ),
        &[&SESSION],
    );
    let texts: HashMap<Uuid, String> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let stored: usize = written.iter().map(|w| w.stored).sum();
    assert_eq!(texts.len(), stored, "the table holds what the writers stored");
    assert!(table.count_rows(ELSEWHERE) > 0);
    // The writers ran at once: in created_at order, the writer changes
    // from one message to the next far more often than once per writer.
    let by_created_at: Vec<&str> = rows.iter().map(|r| writer_of(r.get(1))).collect();
    let switches = by_created_at.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(
        switches >= 4 * names.len(),
        "the writers did not interleave: {switches} switches among {names:?}"
    );
    // Commit order is not created_at order (see `writers::hold`).
    let overtaken = written.iter().find_map(|w| w.overtaken).unwrap_or(0);
    if !on_cockroachdb() {
        assert!(overtaken > 0, "no held transaction was overtaken");
    }
    shared
        .stored
        .set(texts.keys().copied().collect())
        .expect("set once");

    let deadline = began + DELIVERED_WITHIN;
    let mut seen = Vec::new();
    for watcher in watchers {
        while !watcher.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        // Past the bound, the others stop too.
        shared.stop.store(Instant::now() >= deadline, Ordering::SeqCst);
        seen.push(watcher.join().expect("a watcher"));
    }
    let delivering = began.elapsed();
    proxy.cut_at_random(0.0);

    let summary: Vec<String> = seen
        .iter()
        .map(|s| {
            format!(
                "{} of {} received, {} resumes, {} errors (last: {:?})",
                s.times.len(),
                texts.len(),
                s.resumes,
                s.errors.len(),
                s.errors.last().map(ToString::to_string)
            )
        })
        .collect();
    eprintln!("watchers: {summary:#?}");
    for (w, seen) in seen.iter().enumerate() {
        let twice: Vec<_> = seen.times.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "watcher {w} got messages more than once: {twice:?}");
        let missing: Vec<_> = texts
            .iter()
            .filter(|(id, _)| !seen.times.contains_key(id))
            .map(|(_, text)| text)
            .collect();
        assert!(
            missing.is_empty(),
            "watcher {w} missed {} of {} messages within {DELIVERED_WITHIN:?}: {missing:?}",
            missing.len(),
            texts.len()
        );
        let foreign = seen.order.iter().filter(|id| !texts.contains_key(id)).count();
        assert_eq!(foreign, 0, "watcher {w} got messages of another session");
        assert!(seen.complete, "watcher {w} did not finish");
        assert_eq!(seen.deleted, 0, "watcher {w}: nothing was deleted");
        // Each writer's transactions follow each other: their messages come
        // in that order, whatever the cuts and resumes.
        let mut last: HashMap<&str, (usize, usize)> = HashMap::new();
        for id in &seen.order {
            let text = &texts[id];
            let place = place_of(text);
            if let Some(before) = last.insert(writer_of(text), place) {
                assert!(before < place, "watcher {w}: {text} came after {before:?}");
            }
        }
        assert!(
            seen.resumes >= 10 && seen.engines.iter().all(|&n| n > 0),
            "watcher {w} resumed {} times (on each engine: {:?}): the test proves little",
            seen.resumes,
            seen.engines
        );
        let unexpected: Vec<_> = seen
            .errors
            .iter()
            .filter(|e| !(e.is_connection() || e.is_timeout()))
            .collect();
        assert!(
            unexpected.is_empty(),
            "watcher {w}: errors other than the cuts: {unexpected:?}"
        );
    }
    assert!(
        proxy.cuts() >= 5,
        "only {} cuts: the test proves little",
        proxy.cuts()
    );
    let errors: usize = seen.iter().map(|s| s.errors.len()).sum();
    let resumes: usize = seen.iter().map(|s| s.resumes).sum();
    eprintln!(
        "{} messages by {names:?} ({switches} switches of writer in created_at order, held and \
         overtaken {overtaken} times) written in {writing:?}, each received once by {WATCHERS} \
         watchers within {delivering:?}: {resumes} resumes, {} cuts, {errors} errors",
        texts.len(),
        proxy.cuts()
    );
}

/// The writer of a message's text, `<writer>-<batch>-<index>`.
fn writer_of(text: &str) -> &str {
    text.split('-').next().unwrap_or_default()
}

/// Where a message is in its writer's order.
fn place_of(text: &str) -> (usize, usize) {
    let mut parts = text.split('-').skip(1).map(|n| n.parse().expect("a number"));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// One watcher: starts watching (from now or from the beginning: the table
/// is empty), says so on `started`, then again and again reads a few
/// events with random timeouts, drops its watch and resumes on either
/// engine from the last cursor it got (as a client would send it back,
/// from its string), until it has every stored message and `QUIET` more.
fn watch<F: Face>(
    w: usize,
    engines: &[F],
    shared: &Shared,
    started: &Sender<()>,
    seed: String,
) -> Seen {
    let mut rng = Rng::new(seed);
    let mut seen = Seen::default();
    let from = match w % 2 {
        0 => WatchFrom::Now,
        _ => WatchFrom::Beginning,
    };
    let first = engines[w % 2].watch(from).expect("the first watch, before any cut");
    let mut cursor: WatchCursor = first.cursor();
    let mut current = Some(first);
    started.send(()).expect("the test waits");
    let mut done_at: Option<Instant> = None;
    while !shared.stop.load(Ordering::SeqCst) {
        if done_at.is_some_and(|at| at.elapsed() >= QUIET) {
            seen.complete = true;
            break;
        }
        if done_at.is_none()
            && shared
                .stored
                .get()
                .is_some_and(|all| all.iter().all(|id| seen.times.contains_key(id)))
        {
            done_at = Some(Instant::now());
        }
        let mut watch = match current.take() {
            Some(watch) => watch,
            None => {
                let engine = rng.below(2);
                let from = WatchFrom::After(cursor.to_string().parse().expect("a cursor"));
                match engines[engine].watch(from) {
                    Ok(watch) => {
                        seen.resumes += 1;
                        seen.engines[engine] += 1;
                        watch
                    }
                    Err(err) => {
                        seen.errors.push(err);
                        continue;
                    }
                }
            }
        };
        for _ in 0..1 + rng.below(6) {
            let timeout = Duration::from_millis(rng.below(250) as u64);
            match watch.next_timeout(timeout) {
                Ok(Some(WatchEvent::Message { entry, cursor: after })) => {
                    *seen.times.entry(entry.id).or_default() += 1;
                    seen.order.push(entry.id);
                    cursor = after;
                }
                Ok(Some(WatchEvent::Deleted { count, .. })) => seen.deleted += count,
                Ok(Some(other)) => panic!("an event this test does not know: {other:?}"),
                Ok(None) => {}
                Err(err) => {
                    seen.errors.push(err);
                    break;
                }
            }
        }
        // Dropped here: half of the time it resumes from the watch's own
        // position rather than the last event's cursor, whatever its reads
        // queued and it did not yield (those come again, none is skipped).
        if rng.below(2) == 0 {
            cursor = watch.cursor();
        }
    }
    seen
}
