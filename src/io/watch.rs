//! Watching a session, written once: where a watch starts, each read of
//! what came after its cursor, and when to read (`Follower`). Each face's
//! `live.rs` makes a `Follower` its `Watch`: an iterator with a timeout on
//! the blocking face, a `Stream` on the async one.
//!
//! A watch reads only when it must: after its hub woke it (`crate::hub`),
//! after a full page (at once, as its events are consumed), and, while its
//! last read saw rows not yet final on PostgreSQL, again and again at
//! growing intervals up to the hub's, since the end of the transaction
//! that held them back notifies nobody.

use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::hub::{Registration, Wakeup};
use crate::report::ServerKind;
use crate::retry::Call;
use crate::sql::watch::{self, Batch, Progress, ReadParams};
use crate::sql::{self, Request};
use crate::table::Session;
use crate::watch::{WatchCursor, WatchEvent, WatchFrom, WatchOptions};

use super::driver::Face;
use super::engine::Shared;
use super::face::Driver;
use super::mode::face;

/// The first wait before reading again rows not yet final.
const FIRST_RECHECK: Duration = Duration::from_millis(10);
/// The longest: the end of the transaction that holds rows back notifies
/// nobody, so a row becomes final between two looks and comes at most this
/// long after (a wait doubling up to the hub's interval made a row held
/// 1.3 s come up to 2.6 s after its commit). A read of a watch that waits
/// for such rows, four times a second while they wait.
const LAST_RECHECK: Duration = Duration::from_millis(250);

/// A watch of a session, whatever its face: its position and pending
/// events, its place in the hub, and when it reads next.
pub(crate) struct Follower {
    engine: Arc<Shared>,
    session: Arc<Session>,
    progress: Progress,
    pub(crate) wakeup: Arc<Wakeup>,
    page_size: usize,
    /// When to read again rows not yet final, and the wait after that.
    recheck: Option<(Instant, Duration)>,
    /// The hub's interval: the longest wait between such reads.
    interval: Duration,
    /// The engine closed: nothing more comes.
    ended: bool,
    registration: Registration,
}

impl std::fmt::Debug for Follower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("session", &self.session.id)
            .field("cursor", &self.progress.position().to_string())
            .finish_non_exhaustive()
    }
}

impl Follower {
    pub(crate) fn next_event(&mut self) -> Option<WatchEvent> {
        self.progress.next_event()
    }

    pub(crate) fn cursor(&self) -> &WatchCursor {
        self.progress.position()
    }

    pub(crate) fn ended(&self) -> bool {
        self.ended
    }

    /// Whether to read now: after a full page, a wake (taken here), when
    /// rows not yet final are due for another look, or once the engine is
    /// closed (the read then ends the watch, whenever its wake came).
    /// Otherwise `waker`, if given, is woken by the next wake.
    pub(crate) fn due(&mut self, waker: Option<&Waker>) -> bool {
        let rechecked = self.recheck.is_some_and(|(at, _)| at <= Instant::now());
        let woken = match waker {
            Some(waker) => self.wakeup.take_or_register(waker),
            None => self.wakeup.take(),
        };
        self.progress.more() || woken || rechecked || self.engine.is_closed()
    }

    /// When rows not yet final are due for another look, if any are.
    pub(crate) fn recheck_at(&self) -> Option<Instant> {
        self.recheck.map(|(at, _)| at)
    }

    /// A read from the cursor, owning what it needs (an async face holds
    /// it across polls).
    pub(crate) fn read(&self) -> Read {
        Read {
            engine: Arc::clone(&self.engine),
            session: Arc::clone(&self.session),
            params: ReadParams::new(self.progress.cursor(), self.page_size),
        }
    }

    /// What a read found.
    pub(crate) fn apply(&mut self, batch: Batch) {
        self.registration.seed(batch.seen.clone());
        self.progress.apply(batch, self.page_size);
        self.schedule();
    }

    /// Schedules the next look at rows not yet final, if the last read saw
    /// some: sooner after the first such read, later after each next.
    fn schedule(&mut self) {
        self.recheck = match (self.progress.pending(), self.recheck) {
            (false, _) => None,
            (true, None) => Some((Instant::now() + FIRST_RECHECK, FIRST_RECHECK * 2)),
            (true, Some((_, wait))) => Some((
                Instant::now() + wait,
                (wait * 2).min(self.interval).min(LAST_RECHECK),
            )),
        };
    }

    /// A read failed with `err`: once the engine closed, the watch ends.
    pub(crate) fn failed(&mut self, err: &Error) {
        self.ended |= matches!(err, Error::Closed);
    }
}

/// One read of a watch, with what it needs.
pub(crate) struct Read {
    engine: Arc<Shared>,
    session: Arc<Session>,
    params: ReadParams,
}

#[face(AFIT)]
impl Read {
    pub(crate) async fn run(self) -> Result<Batch> {
        let call = Call::new(self.session.policy);
        let request = watch::read(&self.session, &self.params);
        let rows = self.engine.run(&self.session.table, call, &request).await?;
        watch::batch(&rows, &self.session.id)
    }
}

#[face(AFIT)]
impl Shared {
    /// A watch of `session` from `from`: registered with the hub (started
    /// if none runs) before its first read, so that it misses no wake
    /// after it, and on PostgreSQL after the table's `LISTEN` began (or
    /// the connect timeout passed: the hub's looks catch up). On
    /// PostgreSQL the table has the column rows are keyed by first
    /// (`key_for_watches`). Its first read is done: where "now" is, or the
    /// first page.
    pub(crate) async fn watch(
        self: &Arc<Self>,
        session: &Arc<Session>,
        from: WatchFrom,
        options: &WatchOptions,
    ) -> Result<Follower> {
        options.validate()?;
        let table = &session.table;
        let call = Call::new(session.policy);
        // Which server: the cursor's and the statements' kind.
        self.run(table, call, &Request::Server).await?;
        let server = self
            .server_kind()
            .ok_or_else(|| Error::Protocol("the server's kind is unknown after a request".into()))?;
        if server == ServerKind::PostgreSQL {
            self.key_for_watches(table, call).await?;
        }
        let start = match from {
            WatchFrom::After(cursor) if cursor.server != server => {
                return Err(Error::InvalidArgument(format!(
                    "a watch cursor of {} on an engine of {}",
                    cursor.server.as_str(),
                    server.as_str()
                )));
            }
            WatchFrom::After(cursor) => Some(cursor),
            WatchFrom::Beginning => Some(WatchCursor::beginning(server)),
            WatchFrom::Now => None,
        };
        let wakeup = Arc::new(Wakeup::default());
        let look = sql::render(watch::LOOK.text_for(server), table);
        let listens = server == ServerKind::PostgreSQL;
        let (registration, serving, before_listen) =
            self.hub
                .register(table.channel(), look, &session.id, Arc::clone(&wakeup), listens)?;
        let interval = self.watch_interval(server);
        if let Some(serving) = serving {
            super::hub::start(&self.hub, serving, self.hub_setup(server, interval))?;
        }
        if before_listen {
            Face::woken(&wakeup, self.connect_timeout()).await;
        }
        let progress = match &start {
            Some(cursor) => Progress::new(cursor.clone()),
            None => {
                let rows = self.run(table, call, &watch::now(session)).await?;
                let (progress, seen) = watch::started(&rows, server)?;
                registration.seed(seen);
                progress
            }
        };
        let mut follower = Follower {
            engine: Arc::clone(self),
            session: Arc::clone(session),
            progress,
            wakeup,
            page_size: options.page_size,
            recheck: None,
            interval,
            ended: false,
            registration,
        };
        match start {
            Some(_) => {
                let batch = follower.read().run().await?;
                follower.apply(batch);
            }
            None => follower.schedule(),
        }
        Ok(follower)
    }
}
