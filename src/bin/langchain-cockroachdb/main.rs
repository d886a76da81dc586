//! `langchain-cockroachdb`: the operator's tool for chat-history tables
//! (feature `cli`). Checks a deployment (`doctor`), prints or runs the DDL,
//! lists and shows sessions, exports and imports JSON Lines, cleans up and
//! erases, over the blocking face. See `--help`, and the operations guide
//! (docs/operations.md), "The command line".
//!
//! This file connects and hands each subcommand to its function, one
//! family a file: the table (`ddl`), sessions (`sessions`), JSON Lines
//! (`transfer`), deleting (`delete`), checks (`doctor`). The command line
//! is in `args`, how a command ends in `outcome`, what it prints and asks
//! in `output`, its progress and Ctrl-C in `progress`.

mod args;
mod ddl;
mod delete;
mod doctor;
mod outcome;
mod output;
mod progress;
mod sessions;
mod transfer;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use langchain_cockroachdb::HistoryOptions;
use langchain_cockroachdb::blocking::CockroachDBEngine;
use serde_json::json;

use args::{Cli, Command, Global, Online};
use outcome::{Done, Failure, Outcome};
use progress::Stop;

/// The command line's subcommand, run: the table's names checked first,
/// a connection made only for the subcommands that need one.
fn run(cli: Cli, stop: &Stop) -> Done {
    let g = &cli.global;
    let options = HistoryOptions::default()
        .table_name(&g.table)
        .schema(&g.schema);
    options.validate()?;
    let command = match cli.command {
        Command::Schema { table, server } => return ddl::schema(options, &table, server, g),
        Command::Online(command) => command,
    };
    let engine = connect(g)?;
    // Nothing here creates a table but `init` and `import`.
    let existing = options.clone().create_table(false);
    match command {
        Online::Doctor => doctor::run(&engine, &existing, g.json),
        Online::Init { table } => ddl::init(&engine, options, &table, g),
        Online::Drop { yes } => ddl::drop_table(&engine, &existing, g, yes),
        Online::Sessions {
            prefix,
            since,
            limit,
        } => sessions::sessions(&engine, &existing, g, prefix, since, limit),
        Online::Show {
            session,
            last,
            format,
        } => sessions::show(&engine, existing, g, session, last, format),
        Online::Export { prefix, output } => transfer::export(
            &engine,
            &existing,
            g,
            prefix.as_deref(),
            output.as_deref(),
            stop,
        ),
        Online::Import { input } => transfer::import(&engine, &options, g, input.as_deref(), stop),
        Online::Cleanup {
            older_than,
            idle,
            dry_run,
        } => delete::cleanup(&engine, &existing, g, older_than, idle, dry_run, stop),
        Online::Erase {
            prefix,
            dry_run,
            yes,
        } => delete::erase(&engine, &existing, g, &prefix, dry_run, yes, stop),
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
