//! The async face's watch of a session: a `Stream` of its new messages,
//! and the same one event at a time with a timeout (see `io/watch.rs` for
//! when it reads).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;

use crate::error::{Error, Result};
use crate::sql::watch::Batch;
use crate::watch::{WatchCursor, WatchEvent};

use super::watch::Follower;

/// A read under way, held across polls.
type Reading = Pin<Box<dyn Future<Output = Result<Batch>> + Send>>;

/// A watch of a session, made by
/// [`watch`](super::AsyncCockroachDBChatMessageHistory::watch): a
/// [`Stream`] of its messages as they become final, each once, and
/// [`Deleted`](WatchEvent::Deleted) when messages it had passed are
/// deleted; [`next_timeout`](Self::next_timeout) waits at most a given
/// time for the next.
///
/// It reads only when polled: one that is not consumed holds at most a
/// page (back-pressure, not a growing buffer). An error does not end it:
/// the next poll reads again from where it was. Once the engine is
/// [closed](super::AsyncCockroachDBEngine::close) it yields
/// [`Error::Closed`], then ends. Dropping it releases everything it holds,
/// a read under way included; the engine's watch connection closes with
/// its last watch.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
/// # use langchain_cockroachdb::nonblocking::AsyncCockroachDBChatMessageHistory;
/// use std::time::Duration;
/// use langchain_cockroachdb::{WatchEvent, WatchFrom};
/// # let url = std::env::var("LANGCHAIN_COCKROACHDB_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
/// let history = AsyncCockroachDBChatMessageHistory::new("doc-async-watch-stream", &url)?;
/// # history.clear().await?;
/// let mut watch = history.watch(WatchFrom::Now).await?;
/// history.add_user_message("hello").await?;
/// while let Some(event) = watch.next_timeout(Duration::from_secs(10)).await? {
///     if let WatchEvent::Message { entry, cursor } = event {
///         println!("{cursor}: {}", entry.message.text());
///         break;
///     }
/// }
/// # history.clear().await?;
/// # Ok(()) }
/// ```
pub struct Watch {
    follower: Follower,
    reading: Option<Reading>,
    /// Wakes the stream when rows not yet final are due for another look.
    recheck: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.follower.fmt(f)
    }
}

impl Watch {
    pub(super) fn new(follower: Follower) -> Watch {
        Watch {
            follower,
            reading: None,
            recheck: None,
        }
    }

    /// The next event, waiting up to `timeout` for it (`None` when none
    /// came). A read cut by the timeout goes on at the next call.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
    /// # use langchain_cockroachdb::nonblocking::AsyncCockroachDBChatMessageHistory;
    /// use std::time::Duration;
    /// use langchain_cockroachdb::WatchFrom;
    /// # let url = std::env::var("LANGCHAIN_COCKROACHDB_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// let history = AsyncCockroachDBChatMessageHistory::new("doc-async-watch-timeout", &url)?;
    /// let mut watch = history.watch(WatchFrom::Now).await?;
    /// assert!(watch.next_timeout(Duration::from_millis(50)).await?.is_none());
    /// # Ok(()) }
    /// ```
    pub async fn next_timeout(&mut self, timeout: Duration) -> Result<Option<WatchEvent>> {
        let next = std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx));
        match tokio::time::timeout(timeout, next).await {
            Err(_) => Ok(None),
            Ok(Some(event)) => event.map(Some),
            Ok(None) => Err(Error::Closed),
        }
    }

    /// Where the watch is: a watch started
    /// [after](crate::WatchFrom::After) it gets what this one has not
    /// yielded yet.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> langchain_cockroachdb::Result<()> {
    /// # use langchain_cockroachdb::nonblocking::AsyncCockroachDBChatMessageHistory;
    /// use langchain_cockroachdb::WatchFrom;
    /// # let url = std::env::var("LANGCHAIN_COCKROACHDB_URL").unwrap_or("postgresql://root@127.0.0.1:5432/test".into());
    /// let history = AsyncCockroachDBChatMessageHistory::new("doc-async-watch-cursor", &url)?;
    /// let saved = history.watch(WatchFrom::Now).await?.cursor().to_string();
    /// let resumed = history.watch(WatchFrom::After(saved.parse()?)).await?;
    /// # Ok(()) }
    /// ```
    pub fn cursor(&self) -> &WatchCursor {
        self.follower.cursor()
    }
}

/// Reads only when polled with no event left; ends once the engine is
/// closed.
impl Stream for Watch {
    type Item = Result<WatchEvent>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<WatchEvent>>> {
        let this = self.get_mut();
        loop {
            if let Some(event) = this.follower.next_event() {
                return Poll::Ready(Some(Ok(event)));
            }
            if let Some(reading) = &mut this.reading {
                let done = std::task::ready!(reading.as_mut().poll(cx));
                this.reading = None;
                match done {
                    Ok(batch) => this.follower.apply(batch),
                    Err(err) => {
                        this.follower.failed(&err);
                        return Poll::Ready(Some(Err(err)));
                    }
                }
                continue;
            }
            if this.follower.ended() {
                return Poll::Ready(None);
            }
            if this.follower.due(Some(cx.waker())) {
                this.reading = Some(Box::pin(this.follower.read().run()));
                continue;
            }
            let Some(at) = this.follower.recheck_at() else {
                return Poll::Pending;
            };
            let sleep = this
                .recheck
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at.into())));
            sleep.as_mut().reset(at.into());
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
    }
}
