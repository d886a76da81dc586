//! The table itself: its DDL printed (`schema`), created (`init`) and
//! dropped (`drop`).

use langchain_cockroachdb::blocking::CockroachDBEngine;
use langchain_cockroachdb::{HistoryOptions, ServerKind, schema_sql};
use serde_json::json;

use crate::args::{Global, Server, TableArgs};
use crate::outcome::{Done, Outcome};
use crate::output::{confirmed, report};

/// `schema`: the DDL for these options, printed without connecting.
pub(crate) fn schema(
    options: HistoryOptions,
    table: &TableArgs,
    server: Server,
    g: &Global,
) -> Done {
    let options = with_table_args(options, table);
    let server = match server {
        Server::Cockroachdb => ServerKind::CockroachDB,
        Server::Postgresql => ServerKind::PostgreSQL,
    };
    let sql = schema_sql(&options, server)?;
    report(g.json, json!({"sql": sql}), || sql.trim_end().to_owned());
    Ok(Outcome::Done)
}

/// `init`: the table, its schema and indexes, created if missing.
pub(crate) fn init(
    engine: &CockroachDBEngine,
    options: HistoryOptions,
    table: &TableArgs,
    g: &Global,
) -> Done {
    let options = with_table_args(options, table);
    engine.create_tables(&options)?;
    let name = format!("{}.{}", g.schema, g.table);
    report(g.json, json!({"created": name}), || {
        format!("{name} is there")
    });
    Ok(Outcome::Done)
}

/// `drop`: the table dropped, once the operator confirms.
pub(crate) fn drop_table(
    engine: &CockroachDBEngine,
    existing: &HistoryOptions,
    g: &Global,
    yes: bool,
) -> Done {
    confirmed(
        &format!(
            "This drops {}.{} and every message in it.",
            g.schema, g.table
        ),
        &g.table,
        yes,
    )?;
    engine.drop_tables(existing)?;
    report(g.json, json!({"dropped": g.table}), || {
        format!("dropped {}", g.table)
    });
    Ok(Outcome::Done)
}

fn with_table_args(options: HistoryOptions, table: &TableArgs) -> HistoryOptions {
    let options = options.activity_index(table.activity_index);
    match table.ttl {
        Some(ttl) => options.ttl(ttl),
        None => options,
    }
}
