//! The blocking face's watch of a session: an iterator of its new
//! messages, and the same one event at a time with a timeout (see
//! `io/watch.rs` for when it reads).

use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::watch::{WatchCursor, WatchEvent};

use super::watch::Follower;

/// A watch of a session, made by
/// [`watch`](super::CockroachDBChatMessageHistory::watch): its messages as
/// they become final, each once, and [`Deleted`](WatchEvent::Deleted)
/// when messages it had passed are deleted. As an [`Iterator`] it blocks
/// until the next event; [`next_timeout`](Self::next_timeout) waits at
/// most a given time.
///
/// An error does not end it: the next call reads again from where it was.
/// Once the engine is [closed](super::CockroachDBEngine::close) it yields
/// [`Error::Closed`], then, as an iterator, nothing. Dropping it releases
/// everything it holds; the engine's watch connection closes with its last
/// watch.
///
/// ```
/// # use langchain_cockroachdb::blocking::CockroachDBChatMessageHistory;
/// use langchain_cockroachdb::{WatchEvent, WatchFrom};
/// # let url = std::env::var("LANGCHAIN_COCKROACHDB_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
/// let history = CockroachDBChatMessageHistory::new("doc-watch-iterator", &url)?;
/// # history.clear()?;
/// history.add_user_message("hello")?;
/// for event in history.watch(WatchFrom::Beginning)? {
///     if let WatchEvent::Message { entry, cursor } = event? {
///         println!("{cursor}: {}", entry.message.text());
///         break;
///     }
/// }
/// # history.clear()?;
/// # Ok::<(), langchain_cockroachdb::Error>(())
/// ```
#[derive(Debug)]
pub struct Watch {
    follower: Follower,
}

impl Watch {
    pub(super) fn new(follower: Follower) -> Watch {
        Watch { follower }
    }

    /// The next event, waiting up to `timeout` for it (`None` when none
    /// came). A read under way finishes first, within the history's
    /// operation timeout.
    ///
    /// ```
    /// # use langchain_cockroachdb::blocking::CockroachDBChatMessageHistory;
    /// use std::time::Duration;
    /// use langchain_cockroachdb::WatchFrom;
    /// # let url = std::env::var("LANGCHAIN_COCKROACHDB_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// let history = CockroachDBChatMessageHistory::new("doc-watch-timeout", &url)?;
    /// let mut watch = history.watch(WatchFrom::Now)?;
    /// assert!(watch.next_timeout(Duration::from_millis(50))?.is_none());
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Option<WatchEvent>> {
        let until = crate::retry::deadline_after(timeout);
        loop {
            if let Some(event) = self.follower.next_event() {
                return Ok(Some(event));
            }
            if self.follower.ended() {
                return Err(Error::Closed);
            }
            if self.follower.due(None) {
                match self.follower.read().run() {
                    Ok(batch) => self.follower.apply(batch),
                    Err(err) => {
                        self.follower.failed(&err);
                        return Err(err);
                    }
                }
                continue;
            }
            if Instant::now() >= until {
                return Ok(None);
            }
            let wake_at = self.follower.recheck_at().map_or(until, |at| at.min(until));
            self.follower.wakeup.wait_until(wake_at);
        }
    }

    /// Where the watch is: a watch started
    /// [after](crate::WatchFrom::After) it gets what this one has not
    /// yielded yet.
    ///
    /// ```
    /// # use langchain_cockroachdb::blocking::CockroachDBChatMessageHistory;
    /// use langchain_cockroachdb::WatchFrom;
    /// # let url = std::env::var("LANGCHAIN_COCKROACHDB_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// let history = CockroachDBChatMessageHistory::new("doc-watch-cursor", &url)?;
    /// let saved = history.watch(WatchFrom::Now)?.cursor().to_string();
    /// let resumed = history.watch(WatchFrom::After(saved.parse()?))?;
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn cursor(&self) -> &WatchCursor {
        self.follower.cursor()
    }
}

/// Blocks until the next event; nothing more once the engine is closed.
impl Iterator for Watch {
    type Item = Result<WatchEvent>;

    fn next(&mut self) -> Option<Result<WatchEvent>> {
        if self.follower.ended() {
            return None;
        }
        loop {
            match self.next_timeout(Duration::from_secs(3600)) {
                Ok(Some(event)) => return Some(Ok(event)),
                Ok(None) => continue,
                Err(err) => return Some(Err(err)),
            }
        }
    }
}
