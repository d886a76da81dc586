//! The blocking face's deadline: its driver cannot abandon a statement, so
//! each connection's stream gives up instead, at a deadline set per
//! statement; a connection attempt hands its deadline to the stream it
//! opens through a thread-local (the driver connects on the calling thread
//! and hands back only its client).

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::Socket;
use tokio_postgres::tls::{ChannelBinding, TlsStream};

/// When reads and writes of one connection give up: the blocking driver
/// cannot abandon a statement, so its stream does, failing with `TimedOut`
/// once the deadline passes, which breaks the connection. (The async face
/// abandons the statement instead and needs none.)
#[derive(Clone, Debug, Default)]
pub(crate) struct Deadline(Arc<AtomicU64>);

/// The origin of `Deadline`'s clock.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl Deadline {
    pub(crate) fn set(&self, at: Instant) {
        let nanos = at.saturating_duration_since(epoch()).as_nanos();
        // 0 stands for "none": a deadline at the epoch itself is 1 ns later.
        let nanos = u64::try_from(nanos).unwrap_or(u64::MAX).max(1);
        self.0.store(nanos, Ordering::Relaxed);
    }

    pub(crate) fn clear(&self) {
        self.0.store(0, Ordering::Relaxed);
    }

    pub(super) fn get(&self) -> Option<Instant> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            nanos => Some(epoch() + Duration::from_nanos(nanos)),
        }
    }
}

thread_local! {
    /// The deadline of the connection attempt running on this thread: the
    /// blocking driver connects on the calling thread and hands back only
    /// its client, so the face hands the deadline in and picks it up here.
    static ATTEMPT: RefCell<Option<Deadline>> = const { RefCell::new(None) };
}

/// Starts a blocking connection attempt on this thread, to be done by
/// `until`: the connection it opens keeps that deadline (see `Stream`).
#[cfg(feature = "blocking")]
pub(crate) fn begin_attempt(until: Instant) {
    let deadline = Deadline::default();
    deadline.set(until);
    ATTEMPT.with(|attempt| *attempt.borrow_mut() = Some(deadline));
}

/// The deadline of the attempt this thread began, to set per statement.
#[cfg(feature = "blocking")]
pub(crate) fn end_attempt() -> Option<Deadline> {
    ATTEMPT.with(|attempt| attempt.borrow_mut().take())
}

/// The deadline of the attempt running on this thread, made if the face
/// began none (the connector then gets one that is never set).
pub(super) fn of_attempt() -> Deadline {
    ATTEMPT.with(|attempt| attempt.borrow_mut().get_or_insert_default().clone())
}

/// The socket, plain or in a TLS session.
pub(super) enum Inner {
    Plain(Socket),
    #[cfg(feature = "tls")]
    Tls(Box<tokio_rustls::client::TlsStream<Socket>>),
}

/// A connection's stream, with its deadline when it has one.
pub(crate) struct Stream {
    inner: Inner,
    deadline: Option<Deadline>,
    /// The timer of the deadline it was armed for.
    timer: Option<(Instant, Pin<Box<tokio::time::Sleep>>)>,
}

impl Stream {
    pub(super) fn new(inner: Inner, deadline: Option<Deadline>) -> Stream {
        Stream {
            inner,
            deadline,
            timer: None,
        }
    }
}

pub(super) fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "the operation's deadline passed")
}

impl Stream {
    /// After the inner stream said Pending: an error once the deadline
    /// passed, else Pending (with the timer registered to wake us).
    fn past_deadline<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let Some(at) = self.deadline.as_ref().and_then(Deadline::get) else {
            return Poll::Pending;
        };
        let timer = match &mut self.timer {
            Some((armed, timer)) => {
                if *armed != at {
                    // A new statement's deadline: the same timer, re-armed.
                    timer.as_mut().reset(at.into());
                    *armed = at;
                }
                timer
            }
            slot => {
                let timer = Box::pin(tokio::time::sleep_until(at.into()));
                &mut slot.insert((at, timer)).1
            }
        };
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(timed_out())),
            Poll::Pending => Poll::Pending,
        }
    }

    /// `poll` on the inner stream, given up at the deadline.
    fn guarded<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: impl FnOnce(Pin<&mut dyn Io>, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        // One arm without the `tls` feature.
        #[allow(clippy::infallible_destructuring_match)]
        let inner: &mut dyn Io = match &mut self.inner {
            Inner::Plain(socket) => socket,
            #[cfg(feature = "tls")]
            Inner::Tls(stream) => &mut **stream,
        };
        match poll(Pin::new(inner), cx) {
            Poll::Pending => self.past_deadline(cx),
            ready => ready,
        }
    }
}

/// What both inner streams are.
trait Io: AsyncRead + AsyncWrite + Unpin {}
impl<T: AsyncRead + AsyncWrite + Unpin> Io for T {}

impl TlsStream for Stream {
    fn channel_binding(&self) -> ChannelBinding {
        // SCRAM then authenticates without channel binding, as libpq does
        // with channel_binding=prefer when none is offered.
        ChannelBinding::none()
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.get_mut()
            .guarded(cx, |inner, cx| inner.poll_read(cx, buf))
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .guarded(cx, |inner, cx| inner.poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().guarded(cx, |inner, cx| inner.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut()
            .guarded(cx, |inner, cx| inner.poll_shutdown(cx))
    }
}
