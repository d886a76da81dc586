//! The hub of an engine's watches, as data: who watches which session of
//! which table, how a watch is woken (`Wakeup`), and whom a notification,
//! a reconnection or a periodic look at the table wakes. Nothing here does
//! I/O: the hub's task (`io/hub.rs`) holds the connection and calls in.
//!
//! A watch reads only when woken, so idle watches cost no query. Wakes
//! coalesce: many before a read make one read. A watch is woken when its
//! session may have changed: a notification naming it (PostgreSQL), a
//! periodic look that finds its session's final rows changed since the
//! last look (their count or newest key), the hub's first `LISTEN` on its
//! table, a reconnection, or the engine's close.
//!
//! Why the looks miss no change: each session's last seen state is from a
//! time no later than the last read of any of its watches. A look sets it,
//! and wakes them all if it changed; a watch's own read sets it only while
//! the session has no state yet and no other watch (`Registration::seed`),
//! which spares the first look a read per watch. A message that is written
//! and deleted between two looks may leave the state as it was: it was
//! never read, and no watch tells of it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::Waker;

use crate::error::{Error, Result};

/// How a watch is told that its session may have changed: a flag, set by
/// the hub and taken by the watch before it reads (so that a wake during a
/// read makes another read), and whoever waits for it, an async task's
/// `Waker` or a thread on the `Condvar`.
#[derive(Debug, Default)]
pub(crate) struct Wakeup {
    woken: Mutex<Woken>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct Woken {
    dirty: bool,
    waker: Option<Waker>,
}

impl Wakeup {
    fn state(&self) -> MutexGuard<'_, Woken> {
        self.woken.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn wake(&self) {
        let waker = {
            let mut woken = self.state();
            woken.dirty = true;
            woken.waker.take()
        };
        self.changed.notify_all();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Whether it was woken since the last take; clears it.
    pub(crate) fn take(&self) -> bool {
        std::mem::take(&mut self.state().dirty)
    }

    /// As `take`, and if it was not woken, `waker` is woken when it is.
    pub(crate) fn take_or_register(&self, waker: &Waker) -> bool {
        let mut woken = self.state();
        if std::mem::take(&mut woken.dirty) {
            return true;
        }
        match &woken.waker {
            Some(known) if known.will_wake(waker) => {}
            _ => woken.waker = Some(waker.clone()),
        }
        false
    }

    /// Blocks until it is woken (without taking it) or `until` passes.
    #[cfg(feature = "blocking")]
    pub(crate) fn wait_until(&self, until: std::time::Instant) {
        let mut woken = self.state();
        while !woken.dirty {
            let left = until.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return;
            }
            woken = self
                .changed
                .wait_timeout(woken, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// What the hub knows of a session's final rows: their count and newest
/// key. A row that becomes final has a key above every key final before,
/// and a deletion lowers the count, so that any change to the final rows
/// changes this (but a row added and deleted between two looks).
pub(crate) type Seen = (i64, Option<String>);

/// The watches of one session.
#[derive(Default)]
struct Followers {
    wakeups: Vec<(u64, Arc<Wakeup>)>,
    /// As the hub's last look saw it, or a lone watch's read before the
    /// first look; `None` before either.
    seen: Option<Seen>,
}

/// A watched table, by its notification channel.
struct Watched {
    /// The statement of the periodic look, rendered for the table.
    look: String,
    sessions: HashMap<String, Followers>,
    /// Whether the hub's connection `LISTEN`s to the channel now.
    listening: bool,
}

#[derive(Default)]
struct State {
    tables: HashMap<String, Watched>,
    /// The generation of the task that serves the hub, if one runs.
    running: Option<u64>,
    generations: u64,
    next_watch: u64,
    closed: bool,
    /// The tables (by channel) found to have the column a watch keys rows
    /// by on PostgreSQL (`sql::ddl::XACT_ID`): checked once per engine.
    keyed: HashSet<String>,
}

/// An engine's watches, and the kick that tells its task to look at them
/// again (a table to `LISTEN` to or let go of, a lost connection, the
/// engine's close).
#[derive(Default)]
pub(crate) struct Hub {
    state: Mutex<State>,
    kick: tokio::sync::Notify,
}

/// A watch's place in the hub, given up when dropped.
pub(crate) struct Registration {
    hub: Arc<Hub>,
    channel: String,
    session: String,
    id: u64,
}

impl Registration {
    /// What a read of this watch saw of its session's final rows: the
    /// session's state, if it has none yet (no look since the session got
    /// its first watch) and this is its only watch.
    pub(crate) fn seed(&self, seen: Seen) {
        let mut state = self.hub.state();
        let followers = state
            .tables
            .get_mut(&self.channel)
            .and_then(|table| table.sessions.get_mut(&self.session));
        if let Some(followers) = followers
            && followers.seen.is_none()
            && followers.wakeups.len() == 1
        {
            followers.seen = Some(seen);
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut state = self.hub.state();
        let Some(table) = state.tables.get_mut(&self.channel) else {
            return;
        };
        if let Some(followers) = table.sessions.get_mut(&self.session) {
            followers.wakeups.retain(|(id, _)| *id != self.id);
            if followers.wakeups.is_empty() {
                table.sessions.remove(&self.session);
            }
        }
        if table.sessions.is_empty() {
            state.tables.remove(&self.channel);
            drop(state);
            // The task lets go of the table, or stops with the last one.
            self.hub.kick.notify_one();
        }
    }
}

/// The task's claim to serve the hub: while it lives, no other starts;
/// when it goes (its task ended, or its runtime shut down), the next
/// watch starts another.
pub(crate) struct Serving {
    hub: Arc<Hub>,
    generation: u64,
}

impl Drop for Serving {
    fn drop(&mut self) {
        let mut state = self.hub.state();
        if state.running == Some(self.generation) {
            state.running = None;
        }
    }
}

impl Hub {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the table of `channel` was found keyed for watches.
    pub(crate) fn keyed(&self, channel: &str) -> bool {
        self.state().keyed.contains(channel)
    }

    /// The table of `channel` is keyed for watches.
    pub(crate) fn mark_keyed(&self, channel: &str) {
        self.state().keyed.insert(channel.to_owned());
    }

    /// Adds a watch of `session` in the table of `channel` (`look` is its
    /// periodic statement), woken through `wakeup`. Returns its place; the
    /// claim of a task to start when none serves the hub; and, where the
    /// hub `listens` (PostgreSQL), whether the table's `LISTEN` is still to
    /// come (the hub wakes the watch when it began). [`Error::Closed`]
    /// once the engine closed.
    pub(crate) fn register(
        self: &Arc<Self>,
        channel: &str,
        look: String,
        session: &str,
        wakeup: Arc<Wakeup>,
        listens: bool,
    ) -> Result<(Registration, Option<Serving>, bool)> {
        let mut state = self.state();
        if state.closed {
            return Err(Error::Closed);
        }
        state.next_watch += 1;
        let id = state.next_watch;
        let new_table = !state.tables.contains_key(channel);
        let table = state
            .tables
            .entry(channel.to_owned())
            .or_insert_with(|| Watched {
                look,
                sessions: HashMap::new(),
                listening: false,
            });
        let before_listen = listens && !table.listening;
        table
            .sessions
            .entry(session.to_owned())
            .or_default()
            .wakeups
            .push((id, wakeup));
        let start = match state.running {
            Some(_) => None,
            None => {
                state.generations += 1;
                state.running = Some(state.generations);
                Some(Serving {
                    hub: Arc::clone(self),
                    generation: state.generations,
                })
            }
        };
        drop(state);
        if new_table {
            self.kick.notify_one();
        }
        let registration = Registration {
            hub: Arc::clone(self),
            channel: channel.to_owned(),
            session: session.to_owned(),
            id,
        };
        Ok((registration, start, before_listen))
    }

    /// Wakes the watches of `session` in the table of `channel`: a
    /// notification's channel and payload.
    pub(crate) fn wake(&self, channel: &str, session: &str) {
        let state = self.state();
        let followers = state
            .tables
            .get(channel)
            .and_then(|table| table.sessions.get(session));
        followers.into_iter().for_each(wake_followers);
    }

    /// The channels of the watched tables not listened to yet.
    pub(crate) fn unheard(&self) -> Vec<String> {
        let state = self.state();
        let unheard = state.tables.iter().filter(|(_, table)| !table.listening);
        unheard.map(|(channel, _)| channel.clone()).collect()
    }

    /// The hub's connection `LISTEN`s to `channel`: its watches, which may
    /// wait for it before their first read, are woken.
    pub(crate) fn listened(&self, channel: &str) {
        let mut state = self.state();
        if let Some(table) = state.tables.get_mut(channel) {
            table.listening = true;
            table.sessions.values().for_each(wake_followers);
        }
    }

    /// The hub's connection is lost, and its `LISTEN`s with it.
    pub(crate) fn deaf(&self) {
        let mut state = self.state();
        state.tables.values_mut().for_each(|t| t.listening = false);
    }

    /// Wakes every watch: after a reconnection, each reads from its cursor
    /// what it may not have been told of.
    pub(crate) fn wake_all(&self) {
        let state = self.state();
        for table in state.tables.values() {
            table.sessions.values().for_each(wake_followers);
        }
    }

    /// Whether a table of `channel` is watched.
    pub(crate) fn watches(&self, channel: &str) -> bool {
        self.state().tables.contains_key(channel)
    }

    /// What a periodic look reads: each watched table's channel, its
    /// statement and its watched sessions.
    pub(crate) fn looks(&self) -> Vec<(String, String, Vec<String>)> {
        let state = self.state();
        state
            .tables
            .iter()
            .map(|(channel, table)| {
                let sessions = table.sessions.keys().cloned().collect();
                (channel.clone(), table.look.clone(), sessions)
            })
            .collect()
    }

    /// What a look at `sessions` of the table of `channel` found: each
    /// session's count and newest key of final rows (absent: none). Wakes
    /// the watches of each session whose rows changed since the last look,
    /// or that this look is the first to see.
    pub(crate) fn looked(&self, channel: &str, sessions: &[String], found: &HashMap<String, Seen>) {
        let mut state = self.state();
        let Some(table) = state.tables.get_mut(channel) else {
            return;
        };
        for session in sessions {
            let Some(followers) = table.sessions.get_mut(session) else {
                continue;
            };
            let now = found.get(session).cloned().unwrap_or((0, None));
            if followers.seen.as_ref() != Some(&now) {
                wake_followers(followers);
                followers.seen = Some(now);
            }
        }
    }

    /// Whether the task of `serving` must stop (no watch is left, or the
    /// engine closed); then another starts with the next watch.
    pub(crate) fn must_stop(&self, serving: &Serving) -> bool {
        let mut state = self.state();
        let stop = state.closed || state.tables.is_empty();
        if stop && state.running == Some(serving.generation) {
            state.running = None;
        }
        stop || state.running != Some(serving.generation)
    }

    /// The engine closed: no new watch, the task stops, and every watch
    /// is woken to learn it.
    pub(crate) fn close(&self) {
        self.state().closed = true;
        self.wake_all();
        self.kick.notify_one();
    }

    /// Tells the task to look at the hub again.
    pub(crate) fn kick(&self) {
        self.kick.notify_one();
    }

    /// Waits for a kick.
    pub(crate) async fn kicked(&self) {
        self.kick.notified().await;
    }
}

fn wake_followers(followers: &Followers) {
    followers.wakeups.iter().for_each(|(_, w)| w.wake());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub() -> Arc<Hub> {
        Arc::new(Hub::default())
    }

    fn watch(hub: &Arc<Hub>, channel: &str, session: &str, wakeup: &Arc<Wakeup>) -> Registration {
        let (registration, _, _) = hub
            .register(channel, "look".into(), session, Arc::clone(wakeup), true)
            .unwrap();
        registration
    }

    #[test]
    #[cfg(feature = "blocking")]
    fn a_wake_is_taken_once_and_coalesces() {
        use std::time::Instant;
        let wakeup = Wakeup::default();
        assert!(!wakeup.take());
        wakeup.wake();
        wakeup.wake();
        assert!(wakeup.take());
        assert!(!wakeup.take());
        let started = Instant::now();
        wakeup.wait_until(started + std::time::Duration::from_millis(30));
        assert!(started.elapsed() >= std::time::Duration::from_millis(30));
        wakeup.wake();
        wakeup.wait_until(Instant::now() + std::time::Duration::from_secs(5));
        assert!(wakeup.take(), "waiting does not take the wake");
    }

    #[test]
    fn one_task_serves_the_hub_until_the_last_watch_goes() {
        let hub = hub();
        let (a, b) = (Arc::new(Wakeup::default()), Arc::new(Wakeup::default()));
        let register = |session: &str, wakeup: &Arc<Wakeup>| {
            let (r, serving, _) = hub
                .register("ch", "look".into(), session, Arc::clone(wakeup), false)
                .unwrap();
            (r, serving)
        };
        let (first, serving) = register("s1", &a);
        let serving = serving.expect("the first watch starts a task");
        let (second, none) = register("s2", &b);
        assert!(none.is_none(), "one task at a time");
        assert!(!hub.must_stop(&serving));
        drop(first);
        assert!(!hub.must_stop(&serving));
        drop(second);
        assert!(hub.must_stop(&serving), "no watch is left");
        // The next watch starts a task of its own.
        let (third, again) = register("s1", &a);
        let again = again.expect("a new task");
        assert!(
            hub.must_stop(&serving),
            "the old task is not the hub's any more"
        );
        drop(serving);
        assert!(
            !hub.must_stop(&again),
            "the old task's end leaves the new one"
        );
        drop(again);
        let (_fourth, after) = register("s1", &b);
        assert!(
            after.is_some(),
            "a task that ended lets the next watch start one"
        );
        drop(third);
    }

    #[test]
    fn wakes_reach_exactly_the_watches_concerned() {
        let hub = hub();
        let wakeups: Vec<Arc<Wakeup>> = (0..3).map(|_| Arc::default()).collect();
        let _r = [
            watch(&hub, "t1", "s", &wakeups[0]),
            watch(&hub, "t1", "other", &wakeups[1]),
            watch(&hub, "t2", "s", &wakeups[2]),
        ];
        let taken = || wakeups.iter().map(|w| w.take()).collect::<Vec<_>>();
        hub.wake("t1", "s");
        assert_eq!(taken(), [true, false, false]);
        hub.wake("t3", "s");
        hub.wake("t1", "nobody");
        assert_eq!(taken(), [false, false, false]);
        hub.listened("t1");
        assert_eq!(taken(), [true, true, false]);
        hub.wake_all();
        assert_eq!(taken(), [true, true, true]);
    }

    #[test]
    fn a_watch_waits_for_its_tables_listen_only_once() {
        let hub = hub();
        let wakeup = Arc::new(Wakeup::default());
        let (_a, _, before) = hub
            .register("t", "l".into(), "s", Arc::clone(&wakeup), true)
            .unwrap();
        assert!(before);
        assert_eq!(hub.unheard(), ["t"]);
        hub.listened("t");
        assert!(hub.unheard().is_empty());
        let (_b, _, before) = hub
            .register("t", "l".into(), "s2", Arc::clone(&wakeup), true)
            .unwrap();
        assert!(!before, "already listened to");
        hub.deaf();
        assert_eq!(hub.unheard(), ["t"], "a new connection listens again");
        let (_c, _, before) = hub.register("u", "l".into(), "s", wakeup, false).unwrap();
        assert!(!before, "CockroachDB: nothing to wait for");
    }

    #[test]
    fn a_look_wakes_a_session_whose_final_rows_changed() {
        let hub = hub();
        let wakeup = Arc::new(Wakeup::default());
        let _r = watch(&hub, "t", "s", &wakeup);
        let sessions = vec!["s".to_owned()];
        let mut found = HashMap::new();
        hub.looked("t", &sessions, &found);
        assert!(
            wakeup.take(),
            "the first look wakes: nothing before it was compared"
        );
        hub.looked("t", &sessions, &found);
        assert!(!wakeup.take(), "nothing changed");
        found.insert("s".to_owned(), (1, Some("10".to_owned())));
        hub.looked("t", &sessions, &found);
        assert!(wakeup.take(), "a row became final");
        // A row deleted while another became final: the key moved.
        found.insert("s".to_owned(), (1, Some("12".to_owned())));
        hub.looked("t", &sessions, &found);
        assert!(wakeup.take());
        found.insert("s".to_owned(), (0, None));
        hub.looked("t", &sessions, &found);
        assert!(wakeup.take(), "a deletion");
    }

    #[test]
    fn a_lone_watchs_read_spares_the_first_look_a_wake() {
        let hub = hub();
        let (a, b) = (Arc::new(Wakeup::default()), Arc::new(Wakeup::default()));
        let sessions = vec!["s".to_owned()];
        let seen = (2, Some("10".to_owned()));
        let found = HashMap::from([("s".to_owned(), seen.clone())]);
        let alone = watch(&hub, "t", "s", &a);
        alone.seed(seen.clone());
        hub.looked("t", &sessions, &found);
        assert!(!a.take(), "the look found what the watch read");
        // A second watch's read may be later than the first's: it sets
        // nothing, or the first would miss what came between.
        let other = watch(&hub, "t", "s2", &b);
        drop(alone);
        let second = watch(&hub, "t", "s", &a);
        let third = watch(&hub, "t", "s", &b);
        second.seed(seen.clone());
        hub.looked("t", &sessions, &found);
        assert!(
            a.take() && b.take(),
            "two watches: the first look compares nothing"
        );
        drop((other, third));
    }

    #[test]
    fn a_closed_hub_refuses_watches_and_wakes_its_own() {
        let hub = hub();
        let wakeup = Arc::new(Wakeup::default());
        let (_r, serving, _) = hub
            .register("t", "l".into(), "s", Arc::clone(&wakeup), true)
            .unwrap();
        hub.close();
        assert!(wakeup.take());
        assert!(hub.must_stop(&serving.unwrap()));
        let again = hub.register("t", "l".into(), "s", wakeup, true);
        assert!(matches!(again, Err(Error::Closed)));
    }
}
