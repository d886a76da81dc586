//! `doctor`: the engine's diagnosis as checks a support engineer would
//! make, each ok / warn / fail with the fix (the SQL or the setting).

use langchain_cockroachdb::blocking::CockroachDBEngine;
use langchain_cockroachdb::{Diagnosis, HistoryOptions, ServerKind, SslMode};
use serde_json::{Value, json};

use crate::outcome::{Done, Outcome};

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Status {
    Ok,
    Warn,
    Fail,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

struct Check {
    name: &'static str,
    status: Status,
    detail: String,
    fix: Option<String>,
}

fn check(name: &'static str, status: Status, detail: impl Into<String>) -> Check {
    Check {
        name,
        status,
        detail: detail.into(),
        fix: None,
    }
}

impl Check {
    fn fix(mut self, fix: impl Into<String>) -> Check {
        self.fix = Some(fix.into());
        self
    }
}

/// The guide's schema, column for column.
const COLUMNS: [(&str, &str); 4] = [
    ("id", "uuid"),
    ("session_id", "text"),
    ("message", "jsonb"),
    ("created_at", "timestamp with time zone"),
];

pub(crate) fn run(engine: &CockroachDBEngine, options: &HistoryOptions, json: bool) -> Done {
    let checks = match engine.diagnose(options) {
        Ok(diagnosis) => checks(engine, options, &diagnosis),
        Err(err) if err.is_connection() || err.is_timeout() || err.is_auth() => {
            vec![check("connection", Status::Fail, err.to_string()).fix(
                "check the host, port and credentials of the connection string, and that the \
                 server is up (`cockroach node status`, `pg_isready`)",
            )]
        }
        // Connected, but a catalog query failed: the server's version or
        // the user's rights do not allow it.
        Err(err) => vec![check("diagnosis", Status::Fail, err.to_string()).fix(
            "run doctor as a user that may read the catalogs, or report the server's version",
        )],
    };
    let worst = checks.iter().map(|c| c.status).max().unwrap_or(Status::Ok);
    if json {
        let list: Vec<Value> = checks
            .iter()
            .map(|c| json!({"check": c.name, "status": c.status.as_str(), "detail": c.detail, "fix": c.fix}))
            .collect();
        println!("{}", json!({"status": worst.as_str(), "checks": list}));
    } else {
        for c in &checks {
            println!("{:<5} {:<18} {}", c.status.as_str(), c.name, c.detail);
            if let Some(fix) = &c.fix {
                println!("{:<24} fix: {fix}", "");
            }
        }
    }
    Ok(match worst {
        Status::Ok => Outcome::Done,
        Status::Warn => Outcome::Warnings,
        Status::Fail => Outcome::Failed,
    })
}

fn checks(engine: &CockroachDBEngine, options: &HistoryOptions, d: &Diagnosis) -> Vec<Check> {
    let config = engine.config();
    let table = format!("{}.{}", options.schema, options.table_name);
    let ms = d.round_trip.as_secs_f64() * 1000.0;
    let mut out = vec![match ms < 100.0 {
        true => check(
            "connection",
            Status::Ok,
            format!("{}, round trip {ms:.1} ms", config.target()),
        ),
        false => check(
            "connection",
            Status::Warn,
            format!("{}, round trip {ms:.0} ms", config.target()),
        )
        .fix("every call pays this at least once: run the application near the database"),
    }];
    out.push(tls(config, d));
    out.push(check("server", Status::Ok, d.version.clone()));
    if !d.table_exists() {
        out.push(
            check("table", Status::Fail, format!("{table} does not exist"))
                .fix("langchain-cockroachdb init (or its SQL: langchain-cockroachdb schema)"),
        );
        out.push(privilege(
            "create",
            d.can_create,
            Status::Fail,
            &format!("GRANT CREATE ON SCHEMA {} TO <user>", options.schema),
        ));
        return out;
    }
    out.push(check("table", Status::Ok, format!("{table} is there")));
    out.push(columns(d, &table));
    if d.server == ServerKind::PostgreSQL {
        out.push(watch_key(d, &table));
    }
    let index = format!("{}_session_idx", options.table_name);
    out.push(match (d.session_index, d.older_index) {
        (true, false) => check(
            "session index",
            Status::Ok,
            format!("{index} on (session_id, created_at)"),
        ),
        (false, true) => check(
            "session index",
            Status::Ok,
            "the index of earlier versions, on (session_id, created_at)",
        ),
        (true, true) => check(
            "session index",
            Status::Warn,
            "two indexes on (session_id, created_at): every write pays for both",
        )
        .fix(format!(
            "DROP INDEX {}.{}_session_created_idx",
            options.schema, options.table_name
        )),
        (false, false) => check(
            "session index",
            Status::Fail,
            "no index on (session_id, created_at): every read scans the table",
        )
        .fix(format!(
            "CREATE INDEX {index} ON {table} (session_id, created_at)"
        )),
    });
    let rows = d.estimated_rows.unwrap_or(0);
    out.push(match (d.activity_index, rows > 1_000_000) {
        (true, _) => check(
            "activity index",
            Status::Ok,
            "on created_at: cleanups read only what is old",
        ),
        (false, false) => check(
            "activity index",
            Status::Ok,
            "none (not needed at this size)",
        ),
        (false, true) => check(
            "activity index",
            Status::Warn,
            "none: each cleanup walks the whole session index",
        )
        .fix(format!(
            "CREATE INDEX {}_activity_idx ON {table} (created_at){}",
            options.table_name,
            if d.server == ServerKind::CockroachDB {
                " USING HASH"
            } else {
                ""
            }
        )),
    });
    out.push(match (d.server, &d.ttl_expiration, d.ttl_paused) {
        (ServerKind::CockroachDB, Some(expr), false) => check(
            "row-level TTL",
            Status::Ok,
            format!("rows expire at {expr}"),
        ),
        (ServerKind::CockroachDB, Some(_), true) => check(
            "row-level TTL",
            Status::Warn,
            "set, but its job is paused: nothing expires",
        )
        .fix(format!("ALTER TABLE {table} SET (ttl_pause = false)")),
        (ServerKind::CockroachDB, None, _) => check(
            "row-level TTL",
            Status::Ok,
            "none: run `cleanup` periodically, or set it (`schema --ttl 30d`)",
        ),
        _ => check(
            "row-level TTL",
            Status::Ok,
            "not on PostgreSQL: run `cleanup` periodically",
        ),
    });
    out.push(match (d.ids_byte_order, d.collated_index) {
        (true, _) => check("collation", Status::Ok, "session ids compare by bytes: prefixes read the session index"),
        (false, true) => check("collation", Status::Ok, "linguistic, and prefix reads have their COLLATE \"C\" index"),
        (false, false) => check("collation", Status::Warn, "session_id has a linguistic collation: prefix reads (listing, export, erase) scan the table")
            .fix(format!("CREATE INDEX {}_session_c_idx ON {table} (session_id COLLATE \"C\", created_at)", options.table_name)),
    });
    for (name, granted, verb) in [
        ("read", d.can_select, "SELECT"),
        ("write", d.can_insert, "INSERT"),
        ("delete", d.can_delete, "DELETE"),
    ] {
        out.push(privilege(
            name,
            granted,
            Status::Fail,
            &format!("GRANT {verb} ON {table} TO <user>"),
        ));
    }
    out.push(privilege(
        "create",
        d.can_create,
        Status::Warn,
        &format!(
            "GRANT CREATE ON SCHEMA {} TO <user> (only to create tables)",
            options.schema
        ),
    ));
    let source = statistics_source(d);
    out.push(match (d.estimated_rows, d.estimated_sessions) {
        (Some(rows), Some(sessions)) => check(
            "size",
            Status::Ok,
            format!("about {rows} rows in {sessions} sessions ({source})"),
        ),
        (Some(rows), None) => check("size", Status::Ok, format!("about {rows} rows ({source})")),
        _ => check("size", Status::Ok, "no statistics yet"),
    });
    out
}

/// Which statistics the size comes from, and how old they are.
fn statistics_source(d: &Diagnosis) -> String {
    let name = d.statistics.as_deref().unwrap_or("statistics");
    let full = match d.server {
        langchain_cockroachdb::ServerKind::CockroachDB => "full statistics ",
        _ => "",
    };
    match d.statistics_created {
        Some(created) => {
            let age = langchain_cockroachdb::time::OffsetDateTime::now_utc() - created;
            format!("{full}{name}, {} h old", age.whole_hours().max(0))
        }
        None => format!("{full}{name}"),
    }
}

fn tls(config: &langchain_cockroachdb::ConnectionConfig, d: &Diagnosis) -> Check {
    let mode = config.ssl_mode();
    let local = config.target().split(',').all(|host| {
        host.starts_with("127.")
            || host.starts_with("localhost")
            || host.starts_with("[::1]")
            || host.starts_with('/')
    });
    let encrypted = match d.encrypted {
        Some(true) => "encrypted",
        Some(false) => "not encrypted",
        None => "encryption not reported by the server",
    };
    let detail = format!(
        "sslmode={}, {encrypted}, server name {}",
        mode.as_str(),
        config.target()
    );
    match mode {
        SslMode::VerifyFull => check(
            "tls",
            Status::Ok,
            detail + ", certificate and host name verified",
        ),
        _ if local => check("tls", Status::Ok, detail + " (a local connection)"),
        SslMode::VerifyCa => check(
            "tls",
            Status::Warn,
            detail + ", certificate verified, host name not",
        )
        .fix("sslmode=verify-full"),
        _ => check("tls", Status::Warn, detail + ", certificate not verified")
            .fix("sslmode=verify-full&sslrootcert=<the cluster's CA file>"),
    }
}

fn columns(d: &Diagnosis, table: &str) -> Check {
    let wrong: Vec<String> = COLUMNS
        .iter()
        .filter_map(
            |(name, kind)| match d.columns.iter().find(|(c, _)| c == name) {
                Some((_, found)) if found == kind => None,
                Some((_, found)) => Some(format!("{name} is {found}, not {kind}")),
                None => Some(format!("{name} ({kind}) is missing")),
            },
        )
        .collect();
    match wrong.is_empty() {
        true => check(
            "columns",
            Status::Ok,
            "id uuid, session_id text, message jsonb, created_at timestamptz",
        ),
        false => check("columns", Status::Fail, wrong.join("; ")).fix(format!(
            "{table} is not a chat table of this schema: see `langchain-cockroachdb schema`"
        )),
    }
}

/// PostgreSQL: the column watches key rows by. A table without it (made
/// by Python, or an earlier version) is fine until its first watch, which
/// adds it if the user may: the fix is the statement, to run at deploy
/// time as the table's owner.
fn watch_key(d: &Diagnosis, table: &str) -> Check {
    match d.columns.iter().any(|(c, t)| c == "xact_id" && t == "xid8") {
        true => check(
            "watch key",
            Status::Ok,
            "xact_id xid8: watches key rows by it",
        ),
        false => check(
            "watch key",
            Status::Ok,
            "no xact_id column yet: the first watch adds it, if the user owns the table",
        )
        .fix(format!(
            "ALTER TABLE {table} ADD COLUMN IF NOT EXISTS xact_id xid8, \
             ALTER COLUMN xact_id SET DEFAULT pg_current_xact_id()"
        )),
    }
}

fn privilege(name: &'static str, granted: bool, missing: Status, fix: &str) -> Check {
    let name = match name {
        "read" => "privilege: read",
        "write" => "privilege: write",
        "delete" => "privilege: delete",
        _ => "privilege: create",
    };
    match granted {
        true => check(name, Status::Ok, "granted"),
        false => check(name, missing, "not granted").fix(fix),
    }
}
