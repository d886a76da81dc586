//! The `langchain-cockroachdb` binary against the real server: every
//! subcommand, `--json` parsed, exit statuses, dry runs that change
//! nothing, an export that imports back equal, an erase of exactly its
//! prefix (under a linguistic collation too), progress on a terminal only,
//! and Ctrl-C stopping an import on a line boundary.
#![cfg(feature = "cli")]

mod support;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use support::{TempDatabase, TempTable, database_url, on_cockroachdb, raw_execute, raw_query};

const BIN: &str = env!("CARGO_BIN_EXE_langchain-cockroachdb");

/// The binary on `url` (as `DATABASE_URL`), its table `table`.
fn cli(url: &str, table: &str, args: &[&str]) -> Output {
    cli_with_input(url, table, args, b"")
}

fn cli_with_input(url: &str, table: &str, args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(["--table", table])
        .args(args)
        .env("DATABASE_URL", url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input).expect("input written");
    drop(stdin);
    child.wait_with_output().expect("the binary ends")
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The status of `check` in a `doctor --json`.
fn check<'a>(report: &'a Value, check: &str) -> &'a str {
    report["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|c| c["check"] == check))
        .and_then(|c| c["status"].as_str())
        .unwrap_or_else(|| panic!("no check {check:?} in {report}"))
}

fn rows(table: &TempTable) -> i64 {
    raw_query(&format!("SELECT count(*) FROM {}", table.qualified()), &[])[0].get(0)
}

/// Three sessions of two users, and one of a third whose name starts with
/// the first's.
fn fill(url: &str, table: &str) {
    use langchain_cockroachdb::HistoryOptions;
    use langchain_cockroachdb::blocking::CockroachDBChatMessageHistory;
    for (id, n) in [
        ("user-1:a", 3),
        ("user-1:b", 2),
        ("user-12:c", 4),
        ("user-2:d", 1),
    ] {
        let h = CockroachDBChatMessageHistory::with_options(
            id,
            url,
            HistoryOptions::default().table_name(table),
        )
        .unwrap();
        for i in 0..n {
            h.add_user_message(format!("{id} {i}")).unwrap();
        }
    }
}

#[test]
fn doctor_reports_and_its_exit_status_says_how_bad() {
    let url = database_url();
    let table = TempTable::new("cli_doctor");
    let missing = cli(&url, &table.name, &["--json", "doctor"]);
    assert_eq!(code(&missing), 2, "{missing:?}");
    let report = json(&missing);
    assert_eq!(
        (report["status"].as_str(), check(&report, "table")),
        (Some("fail"), "fail")
    );

    let init = cli(&url, &table.name, &["init"]);
    assert_eq!(code(&init), 0, "{init:?}");
    let fresh = cli(&url, &table.name, &["--json", "doctor"]);
    let report = json(&fresh);
    assert_eq!(code(&fresh), 0, "{report}");
    for name in [
        "connection",
        "tls",
        "server",
        "table",
        "columns",
        "session index",
        "collation",
    ] {
        assert_eq!(check(&report, name), "ok", "{name}: {report}");
    }
    let human = cli(&url, &table.name, &["doctor"]);
    assert!(String::from_utf8_lossy(&human.stdout).contains("ok    session index"));

    // The older versions' index beside the session index: a warning, and
    // the fix names it.
    raw_execute(&format!(
        "CREATE INDEX {}_session_created_idx ON {} (session_id, created_at)",
        table.name,
        table.qualified()
    ));
    let twice = cli(&url, &table.name, &["--json", "doctor"]);
    let report = json(&twice);
    assert_eq!(
        (code(&twice), check(&report, "session index")),
        (1, "warn"),
        "{report}"
    );
    assert!(report.to_string().contains("DROP INDEX"), "{report}");

    // An ICU database: prefix reads need an index of their own.
    if on_cockroachdb() {
        return; // no ICU collations
    }
    // PostgreSQL: the watches' key column, and without it (a table Python
    // made) the statement that adds it.
    assert_eq!(check(&report, "watch key"), "ok", "{report}");
    raw_execute(&format!(
        "ALTER TABLE {} DROP COLUMN xact_id",
        table.qualified()
    ));
    let report = json(&cli(&url, &table.name, &["--json", "doctor"]));
    assert_eq!(check(&report, "watch key"), "ok", "{report}");
    assert!(
        report
            .to_string()
            .contains("ADD COLUMN IF NOT EXISTS xact_id xid8"),
        "{report}"
    );
    let database = TempDatabase::linguistic("lc_cli_doctor");
    let icu = database.url();
    assert_eq!(code(&cli(&icu, "chat", &["init"])), 0);
    let linguistic = cli(&icu, "chat", &["--json", "doctor"]);
    let report = json(&linguistic);
    assert_eq!(
        (code(&linguistic), check(&report, "collation")),
        (1, "warn"),
        "{report}"
    );
    assert!(report.to_string().contains("COLLATE \\\"C\\\""), "{report}");

    // Nobody listens: a failed connection, exit 2.
    let nowhere = cli(
        "postgresql://root@127.0.0.1:1/db",
        &table.name,
        &["--json", "doctor"],
    );
    let report = json(&nowhere);
    assert_eq!(
        (code(&nowhere), check(&report, "connection")),
        (2, "fail"),
        "{report}"
    );

    // A password on the command line: a warning, and never shown.
    let url = "postgresql://root:S3cr%C3%A9t-pw@127.0.0.1:1/db";
    let out = cli(&database_url(), &table.name, &["--url", url, "doctor"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning: the password in --url"),
        "{stderr}"
    );
    for shown in [&stdout, &stderr] {
        assert!(
            !shown.contains("S3cr") && !shown.contains("Sécr"),
            "{shown}"
        );
    }
    assert_eq!(code(&out), 2);
}

#[test]
fn schema_init_and_drop() {
    let url = database_url();
    let table = TempTable::new("cli_schema");
    let out = cli(
        &url,
        &table.name,
        &[
            "schema",
            "--server",
            "cockroachdb",
            "--activity-index",
            "--ttl",
            "30d",
        ],
    );
    let sql = String::from_utf8_lossy(&out.stdout);
    assert_eq!(code(&out), 0);
    assert!(
        sql.contains("USING HASH") && sql.contains("ttl_expiration_expression"),
        "{sql}"
    );
    assert!(
        !sql.contains("xact_id"),
        "the guide's columns on CockroachDB: {sql}"
    );
    let pg = cli(
        &url,
        &table.name,
        &["--json", "schema", "--server", "postgresql", "--ttl", "30d"],
    );
    assert_eq!(code(&pg), 2, "TTL is CockroachDB's: {pg:?}");
    let pg = json(&cli(
        &url,
        &table.name,
        &["--json", "schema", "--server", "postgresql"],
    ));
    let pg_sql = pg["sql"].as_str().unwrap_or_default();
    assert!(pg_sql.contains("CREATE TABLE IF NOT EXISTS"), "{pg_sql}");
    assert!(
        pg_sql.contains("xact_id xid8 DEFAULT pg_current_xact_id()"),
        "the key column of watches on PostgreSQL: {pg_sql}"
    );

    assert_eq!(
        code(&cli(&url, &table.name, &["init", "--activity-index"])),
        0
    );
    let exists = || {
        raw_query("SELECT to_regclass($1)::text", &[&table.qualified()])[0]
            .get::<_, Option<String>>(0)
    };
    assert!(exists().is_some());
    // Not a terminal to ask on, and no --yes: refused, nothing dropped.
    let refused = cli(&url, &table.name, &["drop"]);
    assert_eq!(code(&refused), 2);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--yes"));
    assert!(exists().is_some());
    assert_eq!(code(&cli(&url, &table.name, &["drop", "--yes"])), 0);
    assert!(exists().is_none());
}

#[test]
fn sessions_show_export_import() {
    let url = database_url();
    let (from, to) = (TempTable::new("cli_from"), TempTable::new("cli_to"));
    fill(&url, &from.name);
    let listed = json(&cli(
        &url,
        &from.name,
        &["--json", "sessions", "--prefix", "user-1:", "--limit", "10"],
    ));
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["session_id"].as_str())
        .collect();
    assert_eq!(ids, ["user-1:b", "user-1:a"], "newest first: {listed}");
    let since = json(&cli(
        &url,
        &from.name,
        &["--json", "sessions", "--since", "1h"],
    ));
    assert_eq!(since.as_array().map(Vec::len), Some(4));
    let bad = cli(&url, &from.name, &["sessions", "--since", "ten"]);
    assert_eq!(code(&bad), 2, "{bad:?}");

    let shown = cli(&url, &from.name, &["show", "user-1:a", "--last", "2"]);
    assert_eq!(
        String::from_utf8_lossy(&shown.stdout),
        "human: user-1:a 1\nhuman: user-1:a 2\n"
    );
    let dicts = json(&cli(
        &url,
        &from.name,
        &["show", "user-1:a", "--format", "langchain"],
    ));
    assert_eq!(dicts[0]["type"], "human");
    let openai = json(&cli(
        &url,
        &from.name,
        &["show", "user-1:a", "--format", "openai"],
    ));
    assert_eq!(openai[2]["content"], "user-1:a 2");

    // The whole table, to a file; imported into another; exported again.
    let dir = std::env::temp_dir().join(format!("lc-cli-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("all.jsonl");
    let exported = cli(
        &url,
        &from.name,
        &["--json", "export", "--output", file.to_str().unwrap()],
    );
    assert_eq!(code(&exported), 0, "{exported:?}");
    let summary: Value = serde_json::from_slice(&exported.stderr).unwrap();
    assert_eq!(summary["exported"], 10, "{summary}");
    let imported = json(&cli(
        &url,
        &to.name,
        &["--json", "import", "--input", file.to_str().unwrap()],
    ));
    assert_eq!(imported["imported"], 10);
    let again = json(&cli(
        &url,
        &to.name,
        &["--json", "import", "--input", file.to_str().unwrap()],
    ));
    assert_eq!(again["imported"], 0, "a second import stores nothing");
    let original = std::fs::read(&file).unwrap();
    let copy = cli(&url, &to.name, &["export"]);
    assert_eq!(copy.stdout, original, "the round trip is exact");
    // By prefix, to stdout, and back from stdin.
    let part = cli(&url, &from.name, &["export", "--prefix", "user-1:"]);
    assert_eq!(String::from_utf8_lossy(&part.stdout).lines().count(), 5);
    let fresh = TempTable::new("cli_stdin");
    let back = json(&cli_with_input(
        &url,
        &fresh.name,
        &["--json", "import"],
        &part.stdout,
    ));
    assert_eq!(back["imported"], 5);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn cleanup_and_erase_with_dry_runs() {
    let url = database_url();
    let table = TempTable::new("cli_cleanup");
    fill(&url, &table.name);
    raw_execute(&format!(
        "INSERT INTO {t} (session_id, message, created_at)
         SELECT 'old:' || (g % 3), '{{\"type\": \"human\", \"data\": {{\"content\": \"x\"}}}}',
                now() - interval '90 days' + g * interval '1 second'
         FROM generate_series(1, 9) AS g",
        t = table.qualified()
    ));
    let before = rows(&table);
    let dry = json(&cli(
        &url,
        &table.name,
        &["--json", "cleanup", "--idle", "30d", "--dry-run"],
    ));
    assert_eq!(
        (dry["messages"].as_u64(), dry["sessions"].as_u64()),
        (Some(9), Some(3)),
        "{dry}"
    );
    let dry = json(&cli(
        &url,
        &table.name,
        &["--json", "cleanup", "--older-than", "60d", "--dry-run"],
    ));
    assert_eq!(dry["messages"], 9);
    assert_eq!(rows(&table), before, "a dry run changed the table");
    let gone = json(&cli(
        &url,
        &table.name,
        &["--json", "cleanup", "--idle", "30d"],
    ));
    assert_eq!(gone["messages"], 9);
    assert_eq!(rows(&table), before - 9);
    let neither = cli(&url, &table.name, &["cleanup", "--dry-run"]);
    assert_eq!(code(&neither), 2, "cleanup needs --older-than or --idle");

    let dry = json(&cli(
        &url,
        &table.name,
        &["--json", "erase", "--prefix", "user-1:", "--dry-run"],
    ));
    assert_eq!(
        (dry["sessions"].as_u64(), dry["messages"].as_u64()),
        (Some(2), Some(5)),
        "{dry}"
    );
    assert_eq!(rows(&table), before - 9);
    let refused = cli(&url, &table.name, &["erase", "--prefix", "user-1:"]);
    assert_eq!(code(&refused), 2, "no terminal to confirm on");
    let erased = json(&cli(
        &url,
        &table.name,
        &["--json", "erase", "--prefix", "user-1:", "--yes"],
    ));
    assert_eq!(erased["erased"], 5);
    let left = json(&cli(&url, &table.name, &["--json", "sessions"]));
    let mut ids: Vec<&str> = left
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["session_id"].as_str())
        .collect();
    ids.sort();
    assert_eq!(ids, ["user-12:c", "user-2:d"]);

    // Under ICU's collation: exactly the prefix, case and accents apart.
    if on_cockroachdb() {
        return; // no ICU collations
    }
    let database = TempDatabase::linguistic("lc_cli_erase");
    let icu = database.url();
    fill(&icu, "chat");
    for id in ["User-1:x", "user-1é:y"] {
        raw_execute_in(&database, id);
    }
    let erased = json(&cli(
        &icu,
        "chat",
        &["--json", "erase", "--prefix", "user-1:", "--yes"],
    ));
    assert_eq!(erased["erased"], 5);
    let left = json(&cli(&icu, "chat", &["--json", "sessions"]));
    assert_eq!(left.as_array().map(Vec::len), Some(4), "{left}");
}

/// A message for `session` in the `chat` table of `database`.
fn raw_execute_in(database: &TempDatabase, session: &str) {
    use langchain_cockroachdb::HistoryOptions;
    use langchain_cockroachdb::blocking::CockroachDBChatMessageHistory;
    let h = CockroachDBChatMessageHistory::with_options(
        session,
        &database.url(),
        HistoryOptions::default().table_name("chat"),
    )
    .unwrap();
    h.add_user_message("x").unwrap();
}

#[test]
fn progress_on_a_terminal_only() {
    let url = database_url();
    let table = TempTable::new("cli_progress");
    raw_execute(&format!(
        "CREATE TABLE {t} (id UUID PRIMARY KEY DEFAULT gen_random_uuid(), session_id TEXT NOT NULL,
            message JSONB NOT NULL, created_at TIMESTAMPTZ DEFAULT now());
         INSERT INTO {t} (session_id, message)
         SELECT 's' || (g % 100), '{{\"type\": \"human\", \"data\": {{\"content\": \"hello there\"}}}}'
         FROM generate_series(1, 20000) AS g;
         ANALYZE {t}",
        t = table.qualified()
    ));
    let file = std::env::temp_dir().join(format!(
        "lc-cli-progress-{}.jsonl",
        uuid::Uuid::new_v4().simple()
    ));
    let file = file.to_str().unwrap().to_owned();
    // Piped: the summary, and nothing else.
    let piped = cli(&url, &table.name, &["export", "--output", &file]);
    let stderr = String::from_utf8_lossy(&piped.stderr);
    assert_eq!(
        stderr,
        "exported 20000 rows (2757805 bytes)\n".replace(
            "2757805",
            &std::fs::metadata(&file).unwrap().len().to_string()
        )
    );
    // Under a pseudo-terminal (`script`): a bar, drawn with escapes.
    let command = format!(
        "DATABASE_URL='{url}' {BIN} --table {} export --output {file}",
        table.name
    );
    let tty = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .output()
        .expect("script runs");
    let shown = String::from_utf8_lossy(&tty.stdout);
    assert!(tty.status.success(), "{shown}");
    assert!(
        shown.contains("\u{1b}[") && shown.contains("exported"),
        "{shown:?}"
    );
    std::fs::remove_file(&file).unwrap();
}

#[test]
fn ctrl_c_stops_an_import_on_a_line_and_a_second_run_goes_on() {
    let url = database_url();
    let (from, to) = (
        TempTable::new("cli_sigint_from"),
        TempTable::new("cli_sigint_to"),
    );
    raw_execute(&format!(
        "CREATE TABLE {t} (id UUID PRIMARY KEY DEFAULT gen_random_uuid(), session_id TEXT NOT NULL,
            message JSONB NOT NULL, created_at TIMESTAMPTZ DEFAULT now());
         INSERT INTO {t} (session_id, message)
         SELECT 's', '{{\"type\": \"human\", \"data\": {{\"content\": \"x\"}}}}'
         FROM generate_series(1, 3000) AS g",
        t = from.qualified()
    ));
    let lines = cli(&url, &from.name, &["export"]).stdout;
    let half = lines.len() / 2;
    let mut child = Command::new(BIN)
        .args(["--table", &to.name, "--json", "import"])
        .env("DATABASE_URL", &url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Half the file, cut in the middle of a line; then Ctrl-C; then the rest.
    stdin.write_all(&lines[..half]).unwrap();
    stdin.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    std::thread::sleep(std::time::Duration::from_millis(200));
    let _ = stdin.write_all(&lines[half..]);
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), 130, "{out:?}");
    let stored = json(&out)["imported"].as_i64().unwrap();
    assert!(stored > 0 && stored < 3000, "stored {stored}");
    assert_eq!(
        rows(&to),
        stored,
        "every row it said it stored, no cut line"
    );
    let rest = json(&cli_with_input(
        &url,
        &to.name,
        &["--json", "import"],
        &lines,
    ));
    assert_eq!(rest["imported"].as_i64(), Some(3000 - stored));
    assert_eq!(rows(&to), 3000);
}
