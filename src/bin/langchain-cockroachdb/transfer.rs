//! JSON Lines out and in: rows exported to a file or stdout (`export`) and
//! imported back (`import`), with progress, and stopped cleanly by Ctrl-C.

use std::io::Write;
use std::path::Path;

use langchain_cockroachdb::blocking::CockroachDBEngine;
use langchain_cockroachdb::{Error, HistoryOptions};
use serde_json::json;

use crate::args::Global;
use crate::outcome::{Done, Outcome};
use crate::output::report;
use crate::progress::{Meter, Stop};

/// `export`: the rows, or those under `prefix`, to `output` or stdout.
pub(crate) fn export(
    engine: &CockroachDBEngine,
    existing: &HistoryOptions,
    g: &Global,
    prefix: Option<&str>,
    output: Option<&Path>,
    stop: &Stop,
) -> Done {
    // The size to come, where statistics know it: the whole table.
    let total = match prefix {
        None => engine.diagnose(existing)?.estimated_rows,
        Some(_) => None,
    };
    let meter = Meter::new("exported", "rows", total);
    let count = match output {
        Some(path) => {
            let file = std::fs::File::create(path)?;
            let mut out = meter.writer(std::io::BufWriter::new(file), stop);
            let count = engine.export_jsonl(existing, prefix, &mut out);
            out.flush()?;
            count
        }
        None => {
            let mut out = meter.writer(std::io::stdout().lock(), stop);
            engine.export_jsonl(existing, prefix, &mut out)
        }
    };
    meter.finish();
    let stopped = stop.requested();
    let count = match count {
        Ok(count) => count,
        Err(Error::Io(_)) if stopped => meter.lines(),
        Err(err) => return Err(err.into()),
    };
    // The data may be on stdout: the summary goes to stderr.
    let summary = json!({"exported": count, "bytes": meter.bytes(), "stopped": stopped});
    match g.json {
        true => eprintln!("{summary}"),
        false => eprintln!("exported {count} rows ({} bytes)", meter.bytes()),
    }
    Ok(Outcome::of(stopped))
}

/// `import`: an export read back from `input` or stdin, creating the table
/// if missing.
pub(crate) fn import(
    engine: &CockroachDBEngine,
    options: &HistoryOptions,
    g: &Global,
    input: Option<&Path>,
    stop: &Stop,
) -> Done {
    let (count, meter) = match input {
        Some(path) => {
            let file = std::fs::File::open(path)?;
            let size = file.metadata().map(|m| m.len()).ok();
            let meter = Meter::new("imported", "bytes", size);
            let mut reader = meter.reader(std::io::BufReader::new(file), stop);
            (engine.import_jsonl(options, &mut reader), meter)
        }
        None => {
            let meter = Meter::new("imported", "bytes", None);
            let mut reader = meter.reader(std::io::stdin().lock(), stop);
            (engine.import_jsonl(options, &mut reader), meter)
        }
    };
    meter.finish();
    let count = count?;
    let stopped = stop.requested();
    report(
        g.json,
        json!({"imported": count, "bytes": meter.bytes(), "stopped": stopped}),
        || match stopped {
            true => format!("stopped: {count} new rows stored; run it again to go on"),
            false => format!("imported {count} new rows ({} bytes read)", meter.bytes()),
        },
    );
    Ok(Outcome::of(stopped))
}
