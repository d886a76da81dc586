//! The command line as clap reads it: the global options, the subcommands
//! and their options, and the durations they take.

use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Args)]
pub(crate) struct Global {
    /// The connection string (else DATABASE_URL).
    #[arg(long, global = true, value_name = "URL")]
    pub(crate) url: Option<String>,
    /// The table.
    #[arg(long, global = true, default_value = "message_store")]
    pub(crate) table: String,
    /// Its schema.
    #[arg(long, global = true, default_value = "public")]
    pub(crate) schema: String,
    /// Output for scripts: one JSON document (JSON Lines for `export`).
    #[arg(long, global = true)]
    pub(crate) json: bool,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    #[command(flatten)]
    Online(Online),
    /// Print the DDL the crate runs for these options (no connection).
    Schema {
        #[command(flatten)]
        table: TableArgs,
        /// The server to write it for: on PostgreSQL the table gets a fifth
        /// column, `xact_id`, which watches key rows by.
        #[arg(long, value_enum, default_value = "cockroachdb")]
        server: Server,
    },
}

/// The commands that talk to the database.
#[derive(Subcommand)]
pub(crate) enum Online {
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
pub(crate) struct TableArgs {
    /// With an index on created_at (cheap cleanups and recent listings).
    #[arg(long)]
    pub(crate) activity_index: bool,
    /// CockroachDB row-level TTL: rows expire this long after they were
    /// written (30d).
    #[arg(long, value_parser = duration)]
    pub(crate) ttl: Option<Duration>,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Server {
    Cockroachdb,
    Postgresql,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Format {
    Text,
    Langchain,
    Openai,
}

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
