//! `langchain-cockroachdb`: the operator's tool for chat-history tables
//! (feature `cli`). Checks a deployment (`doctor`), prints or runs the DDL,
//! lists and shows sessions, exports and imports JSON Lines, cleans up and
//! erases, over the blocking face. See `--help`, and the README's
//! "Operating it".

mod doctor;
mod progress;

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use langchain_cockroachdb::blocking::CockroachDBEngine;
use langchain_cockroachdb::{
    Error, HistoryOptions, ServerKind, SessionFilter, schema_sql, time::OffsetDateTime,
    to_openai_messages,
};
use serde_json::{Value, json};

use progress::{Meter, Stop};

const EXAMPLES: &str = "\
Examples:
  langchain-cockroachdb doctor
  langchain-cockroachdb schema --server cockroachdb --activity-index --ttl 30d
  langchain-cockroachdb sessions --prefix user-123: --since 7d
  langchain-cockroachdb show user-123:main --last 20 --format openai
  langchain-cockroachdb export --prefix user-123: --output user-123.jsonl
  langchain-cockroachdb import --input backup.jsonl
  langchain-cockroachdb cleanup --idle 30d --dry-run
  langchain-cockroachdb erase --prefix user-123: --yes

The database is DATABASE_URL, or --url (a password in --url is visible to
other users of the machine: prefer the environment).

Exit status: 0 done (doctor: all ok), 1 doctor found warnings, 2 a failure
(doctor found one, or an operation failed or was refused), 130 stopped by
Ctrl-C (what was done is kept; run it again to go on).";

/// Check, migrate and maintain the chat-history tables of LangChain apps
/// on CockroachDB or PostgreSQL.
#[derive(Parser)]
#[command(name = "langchain-cockroachdb", version, after_help = EXAMPLES)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct Global {
    /// The connection string (else DATABASE_URL).
    #[arg(long, global = true, value_name = "URL")]
    url: Option<String>,
    /// The table.
    #[arg(long, global = true, default_value = "message_store")]
    table: String,
    /// Its schema.
    #[arg(long, global = true, default_value = "public")]
    schema: String,
    /// Output for scripts: one JSON document (JSON Lines for `export`).
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
enum Command {
    #[command(flatten)]
    Online(Online),
    /// Print the DDL the crate runs for these options (no connection).
    Schema {
        #[command(flatten)]
        table: TableArgs,
        /// The server to write it for.
        #[arg(long, value_enum, default_value = "cockroachdb")]
        server: Server,
    },
}

/// The commands that talk to the database.
#[derive(Subcommand)]
enum Online {
    /// Check the connection, TLS, server, table, indexes, TTL, collation,
    /// privileges and size, each ok / warn / fail with the fix.
    Doctor,
    /// Create the table (and its schema and indexes) if missing.
    Init {
        #[command(flatten)]
        table: TableArgs,
    },
    /// Drop the table, after asking (or with --yes).
    Drop {
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
    /// List sessions, the most recently active first.
    Sessions {
        /// Only ids that start with this (byte for byte).
        #[arg(long)]
        prefix: Option<String>,
        /// Only sessions active within this long (30d, 12h, 90m).
        #[arg(long, value_parser = duration)]
        since: Option<Duration>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Show a session's messages.
    Show {
        /// The session id.
        session: String,
        /// Only the newest N.
        #[arg(long)]
        last: Option<usize>,
        /// text, langchain (the stored dicts) or openai.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Write rows as JSON Lines (ids and times kept) to a file or stdout.
    Export {
        /// Only sessions whose id starts with this.
        #[arg(long)]
        prefix: Option<String>,
        /// The file (else stdout).
        #[arg(long, short)]
        output: Option<std::path::PathBuf>,
    },
    /// Read an export back from a file or stdin, creating the table if
    /// missing: rows already there are skipped, so an interrupted import is
    /// resumed by running it again.
    Import {
        /// The file (else stdin).
        #[arg(long, short)]
        input: Option<std::path::PathBuf>,
    },
    /// Delete old messages, or whole idle sessions, in batches.
    Cleanup {
        /// Messages older than this (30d).
        #[arg(long, value_parser = duration, conflicts_with = "idle", required_unless_present = "idle")]
        older_than: Option<Duration>,
        /// Sessions with nothing newer than this (30d), whole.
        #[arg(long, value_parser = duration)]
        idle: Option<Duration>,
        /// Count what would go; delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Delete every session whose id starts with a prefix (a data-protection
    /// request), after asking (or with --yes).
    Erase {
        /// The prefix, with its separator (user-123:, not user-123).
        #[arg(long)]
        prefix: String,
        /// Count what would go; delete nothing.
        #[arg(long)]
        dry_run: bool,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Args)]
struct TableArgs {
    /// With an index on created_at (cheap cleanups and recent listings).
    #[arg(long)]
    activity_index: bool,
    /// CockroachDB row-level TTL: rows expire this long after they were
    /// written (30d).
    #[arg(long, value_parser = duration)]
    ttl: Option<Duration>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Server {
    Cockroachdb,
    Postgresql,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Langchain,
    Openai,
}

/// How a command ended, as the exit status says it.
enum Outcome {
    Done,
    Warnings,
    Failed,
    Stopped,
}

impl Outcome {
    /// Done, or stopped by Ctrl-C on the way.
    fn of(stopped: bool) -> Outcome {
        match stopped {
            true => Outcome::Stopped,
            false => Outcome::Done,
        }
    }
}

/// What stops a command: an error of the crate, or a refusal of ours.
enum Failure {
    Crate(Error),
    Refused(String),
}

impl From<Error> for Failure {
    fn from(err: Error) -> Failure {
        Failure::Crate(err)
    }
}

impl From<std::io::Error> for Failure {
    fn from(err: std::io::Error) -> Failure {
        Failure::Crate(Error::Io(err))
    }
}

type Done = Result<Outcome, Failure>;

/// `30d`, `12h`, `90m`, `45s`, `2w`.
fn duration(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?}: a number and a unit, like 30d or 12h"))?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(format!("{text:?}: the unit is s, m, h, d or w")),
    };
    number
        .checked_mul(seconds)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{text:?} is too long"))
}

/// `yes` or a typed confirmation of `what` on a terminal.
fn confirmed(question: &str, what: &str, yes: bool) -> Result<(), Failure> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::Refused(
            "not a terminal to ask on: pass --yes to go ahead".into(),
        ));
    }
    eprint!("{question} Type {what:?} to go ahead: ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    match answer.trim() == what {
        true => Ok(()),
        false => Err(Failure::Refused(
            "not confirmed: nothing was changed".into(),
        )),
    }
}

fn when(at: OffsetDateTime) -> String {
    let format = langchain_cockroachdb::time::format_description::well_known::Rfc3339;
    at.format(&format).unwrap_or_default()
}

/// Prints `value` as JSON, or `text` for people.
fn report(json: bool, value: Value, text: impl FnOnce() -> String) {
    match json {
        true => println!("{value}"),
        false => println!("{}", text()),
    }
}

fn run(cli: Cli, stop: &Stop) -> Done {
    let g = &cli.global;
    let options = HistoryOptions::default()
        .table_name(&g.table)
        .schema(&g.schema);
    options.validate()?;
    let command = match cli.command {
        Command::Schema { table, server } => {
            let options = with_table_args(options, &table);
            let server = match server {
                Server::Cockroachdb => ServerKind::CockroachDB,
                Server::Postgresql => ServerKind::PostgreSQL,
            };
            let sql = schema_sql(&options, server)?;
            report(g.json, json!({"sql": sql}), || sql.trim_end().to_owned());
            return Ok(Outcome::Done);
        }
        Command::Online(command) => command,
    };
    let engine = connect(g)?;
    // Nothing here creates a table but `init` and `import`.
    let existing = options.clone().create_table(false);
    match command {
        Online::Doctor => doctor::run(&engine, &existing, g.json),
        Online::Init { table } => {
            let options = with_table_args(options, &table);
            engine.create_tables(&options)?;
            let name = format!("{}.{}", g.schema, g.table);
            report(g.json, json!({"created": name}), || {
                format!("{name} is there")
            });
            Ok(Outcome::Done)
        }
        Online::Drop { yes } => {
            confirmed(
                &format!(
                    "This drops {}.{} and every message in it.",
                    g.schema, g.table
                ),
                &g.table,
                yes,
            )?;
            engine.drop_tables(&existing)?;
            report(g.json, json!({"dropped": g.table}), || {
                format!("dropped {}", g.table)
            });
            Ok(Outcome::Done)
        }
        Online::Sessions {
            prefix,
            since,
            limit,
        } => {
            let mut filter = SessionFilter::default().limit(limit);
            if let Some(prefix) = prefix {
                filter = filter.prefix(prefix);
            }
            if let Some(since) = since {
                let since = OffsetDateTime::now_utc()
                    .checked_sub(langchain_cockroachdb::time::Duration::seconds(
                        i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
                    ))
                    .unwrap_or(OffsetDateTime::UNIX_EPOCH);
                filter = filter.since(since);
            }
            let sessions = engine.list_sessions(&existing, &filter)?;
            report(
                g.json,
                serde_json::to_value(&sessions).unwrap_or_default(),
                || {
                    let mut out =
                        format!("{:<40} {:>9}  {}", "SESSION", "MESSAGES", "LAST ACTIVITY");
                    for s in &sessions {
                        out += &format!(
                            "\n{:<40} {:>9}  {}",
                            s.session_id,
                            s.message_count,
                            when(s.last_activity)
                        );
                    }
                    out
                },
            );
            Ok(Outcome::Done)
        }
        Online::Show {
            session,
            last,
            format,
        } => {
            let history =
                langchain_cockroachdb::blocking::CockroachDBChatMessageHistory::with_engine(
                    session, &engine, existing,
                )?;
            let messages = match last {
                Some(n) => history.last_messages(n)?,
                None => history.messages()?,
            };
            match format {
                Format::Langchain => {
                    let dicts: Vec<Value> = messages.iter().map(|m| m.to_dict()).collect();
                    println!("{}", Value::Array(dicts));
                }
                Format::Openai => println!("{}", Value::Array(to_openai_messages(&messages)?)),
                Format::Text if g.json => {
                    let dicts: Vec<Value> = messages.iter().map(|m| m.to_dict()).collect();
                    println!("{}", Value::Array(dicts));
                }
                Format::Text => {
                    for m in &messages {
                        println!("{}: {}", m.message_type(), m.text());
                    }
                }
            }
            Ok(Outcome::Done)
        }
        Online::Export { prefix, output } => {
            // The size to come, where statistics know it: the whole table.
            let total = match prefix {
                None => engine.diagnose(&existing)?.estimated_rows,
                Some(_) => None,
            };
            let meter = Meter::new("exported", "rows", total);
            let count = match &output {
                Some(path) => {
                    let file = std::fs::File::create(path)?;
                    let mut out = meter.writer(std::io::BufWriter::new(file), stop);
                    let count = engine.export_jsonl(&existing, prefix.as_deref(), &mut out);
                    out.flush()?;
                    count
                }
                None => {
                    let mut out = meter.writer(std::io::stdout().lock(), stop);
                    engine.export_jsonl(&existing, prefix.as_deref(), &mut out)
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
        Online::Import { input } => {
            let (count, meter) = match &input {
                Some(path) => {
                    let file = std::fs::File::open(path)?;
                    let size = file.metadata().map(|m| m.len()).ok();
                    let meter = Meter::new("imported", "bytes", size);
                    let mut reader = meter.reader(std::io::BufReader::new(file), stop);
                    (engine.import_jsonl(&options, &mut reader), meter)
                }
                None => {
                    let meter = Meter::new("imported", "bytes", None);
                    let mut reader = meter.reader(std::io::stdin().lock(), stop);
                    (engine.import_jsonl(&options, &mut reader), meter)
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
        Online::Cleanup {
            older_than,
            idle,
            dry_run,
        } => {
            let (what, count, sessions) = match (older_than, idle, dry_run) {
                (Some(age), _, true) => (
                    "messages older",
                    engine.count_messages_older_than(&existing, age)?,
                    None,
                ),
                (_, Some(idle), true) => {
                    let (sessions, messages) = engine.count_sessions_idle_since(&existing, idle)?;
                    ("messages of idle sessions", messages, Some(sessions))
                }
                (Some(age), _, false) => {
                    let total = engine.count_messages_older_than(&existing, age)?;
                    let meter = Meter::new("deleted", "messages", Some(total));
                    let deleted = engine.delete_messages_older_than_with_progress(
                        &existing,
                        age,
                        &meter.progress(stop),
                    )?;
                    meter.finish();
                    ("messages older", deleted, None)
                }
                (_, Some(idle), false) => {
                    let (_, total) = engine.count_sessions_idle_since(&existing, idle)?;
                    let meter = Meter::new("deleted", "messages", Some(total));
                    let deleted = engine.delete_sessions_idle_since_with_progress(
                        &existing,
                        idle,
                        &meter.progress(stop),
                    )?;
                    meter.finish();
                    ("messages of idle sessions", deleted, None)
                }
                (None, None, _) => {
                    return Err(Failure::Refused("give --older-than or --idle".into()));
                }
            };
            let stopped = stop.requested();
            let verb = if dry_run { "would delete" } else { "deleted" };
            report(
                g.json,
                json!({"dry_run": dry_run, "messages": count, "sessions": sessions, "stopped": stopped}),
                || match sessions {
                    Some(s) => format!("{verb} {count} {what} ({s} sessions)"),
                    None => format!("{verb} {count} {what}"),
                },
            );
            Ok(Outcome::of(stopped))
        }
        Online::Erase {
            prefix,
            dry_run,
            yes,
        } => {
            let filter = SessionFilter::default().prefix(&prefix).limit(usize::MAX);
            let sessions = engine.list_sessions(&existing, &filter)?;
            let messages: u64 = sessions.iter().map(|s| s.message_count).sum();
            if dry_run {
                report(
                    g.json,
                    json!({"dry_run": true, "sessions": sessions.len(), "messages": messages}),
                    || {
                        format!(
                            "would erase {} sessions, {messages} messages, under {prefix:?}",
                            sessions.len()
                        )
                    },
                );
                return Ok(Outcome::Done);
            }
            confirmed(
                &format!(
                    "This erases {} sessions ({messages} messages) under {prefix:?}.",
                    sessions.len()
                ),
                &prefix,
                yes,
            )?;
            let meter = Meter::new("erased", "messages", Some(messages));
            let erased =
                engine.erase_prefix_with_progress(&existing, &prefix, &meter.progress(stop))?;
            meter.finish();
            let stopped = stop.requested();
            report(
                g.json,
                json!({"erased": erased, "stopped": stopped}),
                || format!("erased {erased} messages under {prefix:?}"),
            );
            Ok(Outcome::of(stopped))
        }
    }
}

fn with_table_args(options: HistoryOptions, table: &TableArgs) -> HistoryOptions {
    let options = options.activity_index(table.activity_index);
    match table.ttl {
        Some(ttl) => options.ttl(ttl),
        None => options,
    }
}

/// The engine for `--url` or `DATABASE_URL`, warning about a password
/// given on the command line.
fn connect(g: &Global) -> Result<CockroachDBEngine, Failure> {
    let url = match (&g.url, std::env::var("DATABASE_URL")) {
        (Some(url), _) => {
            let config: langchain_cockroachdb::ConnectionConfig = url.parse()?;
            if config.has_password() {
                eprintln!(
                    "warning: the password in --url can be read by other users of this \
                     machine (ps, shell history); set DATABASE_URL instead"
                );
            }
            url.clone()
        }
        (None, Ok(url)) => url,
        (None, Err(_)) => {
            return Err(Failure::Refused(
                "no database: set DATABASE_URL or pass --url".into(),
            ));
        }
    };
    let options = langchain_cockroachdb::EngineOptions::default()
        .pool_size(2)
        .connect_timeout(Duration::from_secs(5))
        .checkout_timeout(Duration::from_secs(10));
    Ok(CockroachDBEngine::with_options(&url, options)?)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.global.json;
    let stop = Stop::on_ctrl_c();
    let outcome = run(cli, &stop);
    let (code, problem) = match outcome {
        Ok(Outcome::Done) => (0, None),
        Ok(Outcome::Warnings) => (1, None),
        Ok(Outcome::Failed) => (2, None),
        Ok(Outcome::Stopped) => (130, None),
        Err(Failure::Crate(err)) => (2, Some(err.to_string())),
        Err(Failure::Refused(why)) => (2, Some(why)),
    };
    if let Some(problem) = problem {
        match json {
            true => println!("{}", json!({"error": problem})),
            false => eprintln!("error: {problem}"),
        }
    }
    ExitCode::from(code)
}
