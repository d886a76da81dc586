//! Progress on stderr when it is a terminal (rows or bytes, rate, ETA where
//! the total is known; nothing otherwise), and Ctrl-C as a request to stop
//! at the next boundary: between statements, between lines.

use std::io::{self, BufRead, IsTerminal, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use indicatif::{ProgressBar, ProgressStyle};

/// Whether Ctrl-C asked to stop.
#[derive(Clone, Default)]
pub(crate) struct Stop(Arc<AtomicBool>);

impl Stop {
    /// The first Ctrl-C asks to stop at the next boundary; a second one
    /// ends the program at once.
    pub(crate) fn on_ctrl_c() -> Stop {
        let stop = Stop::default();
        let flag = Arc::clone(&stop.0);
        let handled = ctrlc::set_handler(move || {
            if flag.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
            eprintln!("\nstopping after the current batch (Ctrl-C again to quit at once)");
        });
        if let Err(err) = handled {
            eprintln!("warning: Ctrl-C will end the program at once: {err}");
        }
        stop
    }

    pub(crate) fn requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// A progress bar and the counts behind it.
#[derive(Clone)]
pub(crate) struct Meter(Arc<Inner>);

struct Inner {
    bar: ProgressBar,
    bytes: AtomicU64,
    lines: AtomicU64,
    /// Whether the bar counts bytes (else lines or rows).
    by_bytes: bool,
}

impl Meter {
    /// A meter of `unit` ("rows", "messages" or "bytes") towards `total`
    /// where it is known; drawn only when stderr is a terminal.
    pub(crate) fn new(verb: &str, unit: &str, total: Option<u64>) -> Meter {
        let bar = match (io::stderr().is_terminal(), total) {
            (false, _) => ProgressBar::hidden(),
            (true, Some(total)) => ProgressBar::new(total),
            (true, None) => ProgressBar::new_spinner(),
        };
        let by_bytes = unit == "bytes";
        let template = match (total.is_some(), by_bytes) {
            (true, true) => "{bar:30} {bytes}/{total_bytes} ({bytes_per_sec}, ETA {eta})",
            (true, false) => "{bar:30} {human_pos}/{human_len} {msg} ({per_sec}, ETA {eta})",
            (false, true) => "{spinner} {bytes} ({bytes_per_sec})",
            (false, false) => "{spinner} {human_pos} {msg} ({per_sec})",
        };
        let template = format!("{verb} {template}");
        if let Ok(style) = ProgressStyle::with_template(&template) {
            bar.set_style(style);
        }
        if !by_bytes {
            bar.set_message(unit.to_owned());
        }
        Meter(Arc::new(Inner {
            bar,
            bytes: AtomicU64::new(0),
            lines: AtomicU64::new(0),
            by_bytes,
        }))
    }

    /// The count so far is `n`.
    pub(crate) fn set(&self, n: u64) {
        self.0.bar.set_position(n);
    }

    /// A batched delete's progress callback: shows the count, and says to
    /// stop once Ctrl-C asked.
    pub(crate) fn progress<'a>(&'a self, stop: &'a Stop) -> impl Fn(u64) -> bool + Sync + 'a {
        move |total| {
            self.set(total);
            !stop.requested()
        }
    }

    fn add(&self, bytes: &[u8]) {
        let lines = bytes.iter().filter(|b| **b == b'\n').count() as u64;
        let total_bytes =
            self.0.bytes.fetch_add(bytes.len() as u64, Ordering::SeqCst) + bytes.len() as u64;
        let total_lines = self.0.lines.fetch_add(lines, Ordering::SeqCst) + lines;
        self.set(match self.0.by_bytes {
            true => total_bytes,
            false => total_lines,
        });
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.0.bytes.load(Ordering::SeqCst)
    }

    pub(crate) fn lines(&self) -> u64 {
        self.0.lines.load(Ordering::SeqCst)
    }

    /// Takes the bar off the terminal.
    pub(crate) fn finish(&self) {
        self.0.bar.finish_and_clear();
    }

    /// `out`, counted, refusing further writes once a stop is asked (each
    /// write is a whole page of lines, so the output ends on a line).
    pub(crate) fn writer<W: Write>(&self, out: W, stop: &Stop) -> Counted<W> {
        self.counted(out, stop)
    }

    /// `input`, counted, ending at the first line boundary once a stop is
    /// asked: what was read so far is imported, and no line is cut.
    pub(crate) fn reader<R: BufRead>(&self, input: R, stop: &Stop) -> Counted<R> {
        self.counted(input, stop)
    }

    fn counted<T>(&self, inner: T, stop: &Stop) -> Counted<T> {
        Counted {
            inner,
            meter: self.clone(),
            stop: stop.clone(),
            at_line_start: true,
            ended: false,
        }
    }
}

/// A stream that counts what passes and stops at a boundary when asked.
pub(crate) struct Counted<T> {
    inner: T,
    meter: Meter,
    stop: Stop,
    at_line_start: bool,
    ended: bool,
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.stop.requested() {
            return Err(io::Error::new(
                io::ErrorKind::Interrupted,
                "stopped by Ctrl-C",
            ));
        }
        let n = self.inner.write(buf)?;
        self.meter.add(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<R: BufRead> Read for Counted<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let buf = self.fill_buf()?;
        let n = buf.len().min(out.len());
        out[..n].copy_from_slice(&buf[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Counted<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let stopping = self.stop.requested();
        if self.ended || (stopping && self.at_line_start) {
            self.ended = true;
            return Ok(&[]);
        }
        let buf = self.inner.fill_buf()?;
        match (stopping, buf.iter().position(|b| *b == b'\n')) {
            // The rest of the current line, and no more.
            (true, Some(end)) => Ok(&buf[..=end]),
            _ => Ok(buf),
        }
    }

    fn consume(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        if let Ok(buf) = self.inner.fill_buf() {
            let taken = &buf[..n.min(buf.len())];
            self.at_line_start = taken.last() == Some(&b'\n');
            self.meter.add(taken);
        }
        self.inner.consume(n);
    }
}
