//! Measuring: crate and baseline in turns, slice by slice, round after
//! round; medians, ratios and their spread; the process's memory.

use std::time::{Duration, Instant};

use crate::Result;

pub(crate) const REPS: usize = 5;
pub(crate) const SLICES: usize = 10;

pub(crate) struct Outcome {
    pub(crate) name: &'static str,
    pub(crate) ops: usize,
    pub(crate) crate_ops_per_s: f64,
    pub(crate) raw_ops_per_s: f64,
    /// The same statements through pgbench, where it is installed.
    pub(crate) floor_ops_per_s: Option<f64>,
    pub(crate) target: f64,
    /// Crate over raw, round by round.
    pub(crate) ratios: Vec<f64>,
}

impl Outcome {
    /// The median of the rounds' ratios.
    pub(crate) fn ratio(&self) -> f64 {
        median(self.ratios.clone())
    }
}

/// `median (min–max)` of `xs`.
pub(crate) fn spread(xs: &[f64]) -> String {
    let (min, max) = xs
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(*x), hi.max(*x)));
    format!("{:.3} ({min:.3}–{max:.3})", median(xs.to_vec()))
}

/// Ratio by ratio, `a[i] / b[i]`.
pub(crate) fn ratios(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(a, b)| a / b).collect()
}

/// Slice number `slice` of `SLICES` of `items`.
pub(crate) fn slice_of<T>(items: &[T], slice: usize) -> &[T] {
    let size = items.len() / SLICES;
    &items[slice * size..(slice + 1) * size]
}

pub(crate) fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Runs `raw` and `ours` on slice after slice, in turns, `REPS` times,
/// and returns their median rates for `ops` operations per run. Each call
/// gets `(rep, slice)` and does `ops / SLICES` operations.
pub(crate) fn compare(
    name: &'static str,
    ops: usize,
    target: f64,
    mut raw: impl FnMut(usize, usize) -> Result<()>,
    mut ours: impl FnMut(usize, usize) -> Result<()>,
) -> Result<Outcome> {
    let (mut raw_rates, mut our_rates) = (Vec::new(), Vec::new());
    for rep in 0..REPS {
        let (mut raw_time, mut our_time) = (Duration::ZERO, Duration::ZERO);
        for slice in 0..SLICES {
            // Whichever side runs second after a switch runs faster on
            // this machine (see docs/BENCHMARKS.md), so they take turns.
            let raw_first = (rep + slice) % 2 == 0;
            if raw_first {
                raw_time += timed(|| raw(rep, slice))?;
            }
            our_time += timed(|| ours(rep, slice))?;
            if !raw_first {
                raw_time += timed(|| raw(rep, slice))?;
            }
        }
        raw_rates.push(ops as f64 / raw_time.as_secs_f64());
        our_rates.push(ops as f64 / our_time.as_secs_f64());
    }
    Ok(Outcome {
        name,
        ops,
        ratios: ratios(&our_rates, &raw_rates),
        crate_ops_per_s: median(our_rates),
        raw_ops_per_s: median(raw_rates),
        floor_ops_per_s: None,
        target,
    })
}

/// How long `run` took.
pub(crate) fn timed(run: impl FnOnce() -> Result<()>) -> Result<Duration> {
    let started = Instant::now();
    run()?;
    Ok(started.elapsed())
}

/// What `/proc/self/status` says of the process's memory, in MiB.
pub(crate) fn memory_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}
