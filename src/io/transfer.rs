//! Export to JSON Lines and import from it: a session, a prefix or a whole
//! table, in pages and batches.

use crate::error::{Error, Result};
use crate::options::HistoryOptions;
use crate::retry::{Call, Policy};
use crate::sql::transfer::{ExportScan, ImportBatch, ImportRow};
use crate::table::{Session, Table};

use super::mode::face;
use super::engine::Shared;
use super::face::{Sink, Source};

#[face(AFIT)]
impl Shared {
    /// Each page of the walk is one call, with its own deadline.
    async fn export<W: Sink>(
        &self,
        table: &Table,
        policy: Policy,
        mut scan: ExportScan,
        out: &mut W,
    ) -> Result<u64> {
        let mut total = 0;
        while let Some(request) = scan.request() {
            let rows = self.run(table, Call::new(policy), &request).await?;
            drop(request);
            let (lines, count) = scan.advance(&rows)?;
            out.put(lines.as_bytes()).await?;
            total += count;
        }
        Ok(total)
    }

    pub(crate) async fn export_prefix<W: Sink>(
        &self,
        options: &HistoryOptions,
        prefix: Option<&str>,
        out: &mut W,
    ) -> Result<u64> {
        let (table, policy) = (self.table(options)?, self.policy(options));
        let order = self.id_order(&table, policy, prefix).await?;
        self.export(&table, policy, ExportScan::prefix(prefix, order), out)
            .await
    }

    pub(crate) async fn export_session<W: Sink>(
        &self,
        session: &Session,
        out: &mut W,
    ) -> Result<u64> {
        let scan = ExportScan::session(&session.id);
        self.export(&session.table, session.policy, scan, out).await
    }

    pub(crate) async fn import<R: Source>(
        &self,
        options: &HistoryOptions,
        input: &mut R,
    ) -> Result<u64> {
        let (table, policy) = (self.table(options)?, self.policy(options));
        let limit = ImportBatch::line_limit(options.max_message_bytes);
        let mut batch = ImportBatch::default();
        let (mut line, mut number, mut inserted) = (Vec::new(), 0, 0);
        let mut uncounted = None;
        let stopped = |line: u64, committed: u64, err: Error| Error::Import {
            line,
            committed,
            source: Box::new(err),
        };
        loop {
            line.clear();
            let read = read_line(input, &mut line, limit)
                .await
                .map_err(|e| stopped(number + 1, inserted, e))?;
            let row = match read {
                None => None,
                Some(length) => {
                    number += 1;
                    parse_line(&line, length, limit, number, options.max_message_bytes)
                        .map_err(|e| stopped(number, inserted, e))?
                }
            };
            let full = match &row {
                Some(row) => !batch.fits(row, options.max_batch_bytes, self.message_limit()),
                None => read.is_none(),
            };
            if full && !batch.is_empty() {
                let (rows, maybe_applied) = self
                    .run_tracked(&table, Call::new(policy), &batch.request())
                    .await
                    .map_err(|e| stopped(batch.first_line(), inserted, e))?;
                // Rows a lost try stored are not returned by the next:
                // where some are missing, the count is unknown (see
                // `new_rows`).
                if rows.len() < batch.len() {
                    uncounted = uncounted.or(maybe_applied);
                }
                inserted += rows.len() as u64;
                batch.clear();
            }
            if let Some(row) = row {
                batch.push(row, number);
            }
            if read.is_none() {
                return match uncounted {
                    Some(err) => Err(Error::ambiguous(err)),
                    None => Ok(inserted),
                };
            }
        }
    }
}

/// Reads a line into `line` (without its newline), keeping at most
/// `limit + 1` bytes of it: the rest of a longer line is read and dropped,
/// so that a hostile input costs no more memory than a valid one. Returns
/// the line's whole length, `None` at the end of the input.
#[face]
async fn read_line<R: Source>(
    input: &mut R,
    line: &mut Vec<u8>,
    limit: usize,
) -> Result<Option<usize>> {
    let mut length = None;
    loop {
        let buf = input.fill().await?;
        if buf.is_empty() {
            return Ok(length);
        }
        let (take, ends) = match buf.iter().position(|b| *b == b'\n') {
            Some(at) => (at, true),
            None => (buf.len(), false),
        };
        if line.len().saturating_add(take) <= limit.saturating_add(1) {
            line.extend_from_slice(&buf[..take]);
        }
        let length = *length.insert(length.unwrap_or(0) + take);
        input.take(take + usize::from(ends));
        if ends {
            return Ok(Some(length));
        }
    }
}

/// Line `number` as a row to import (see `ImportBatch::parse`), once it is
/// known to be whole and UTF-8.
fn parse_line(
    line: &[u8],
    length: usize,
    limit: usize,
    number: u64,
    max_message_bytes: usize,
) -> Result<Option<ImportRow>> {
    if length > limit {
        return Err(Error::TooLarge {
            what: format!("line {number}"),
            size: length,
            limit,
            setting: "HistoryOptions::max_message_bytes, plus 16 KiB for the line's other fields",
        });
    }
    let Ok(text) = std::str::from_utf8(line) else {
        return Err(Error::InvalidMessage("the line is not UTF-8".into()));
    };
    ImportBatch::parse(text, number, max_message_bytes)
}
