//! PostgreSQL's key column for watches, `xact_id`: a table made as
//! Python makes it gets it from its first watch, once per engine; a
//! refusal says what to run; a savepoint's rows are keyed by their
//! top-level transaction. Run on every face, skipped on CockroachDB.

use std::time::Duration;

use langchain_cockroachdb::uuid::Uuid;
use langchain_cockroachdb::{EngineOptions, Error, WatchFrom};

use super::watch::{engine_history, next_events, texts, until_quiet};
use crate::support::cockroach::Mode;
use crate::support::proxy::Proxy;
use crate::support::{
    Face, TempTable, database_url, raw_client, raw_execute, raw_query, runtime,
    skip_unless_postgresql,
};

/// The guide's schema as Python's library creates it: four columns, no
/// `xact_id`.
fn create_as_python(table: &TempTable) {
    raw_execute(&format!(
        "CREATE TABLE {} (
            id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
            session_id TEXT NOT NULL,
            message JSONB NOT NULL,
            created_at TIMESTAMPTZ DEFAULT now()
        )",
        table.qualified()
    ));
}

/// `INSERT` exactly as Python's langchain-cockroachdb writes it: its four
/// columns named, `created_at` its own.
fn python_insert_named(table: &TempTable, session: &str, text: &str) -> String {
    format!(
        r#"INSERT INTO {} (id, session_id, message, created_at) VALUES (gen_random_uuid(), '{session}', '{{"type": "human", "data": {{"content": "{text}"}}}}', now()) ON CONFLICT (id) DO NOTHING"#,
        table.qualified()
    )
}

/// PostgreSQL: a table made as Python makes it gets the key column from
/// its first watch, once: its rows from before (key 0) come from the
/// beginning and never from now; Python's writes after it get the
/// server's default, and its reads are the same. A second engine checks
/// and finds the column there.
pub fn a_table_made_by_python_is_keyed_by_its_first_watch<F: Face>() {
    if skip_unless_postgresql("the xact_id column") {
        return;
    }
    let table = TempTable::new("watch_migrate");
    create_as_python(&table);
    for text in ["old1", "old2"] {
        raw_execute(&python_insert_named(&table, "s", text));
    }
    let proxy = Proxy::cockroach(Mode::new(64 << 20));
    let (alter, check) = ("ADD COLUMN IF NOT EXISTS xact_id", "pg_current_xact_id()'");
    let history: F = engine_history(&table, "s", &proxy.test_url(), Duration::from_millis(300));
    let mut from_now = history.watch(WatchFrom::Now).unwrap();
    assert_eq!(proxy.mode().executed(alter), 1, "the first watch adds the column");
    assert_eq!(proxy.mode().executed(check), 1);
    let column: Vec<(String, Option<String>)> = raw_query(
        "SELECT data_type::TEXT, column_default::TEXT FROM information_schema.columns
         WHERE table_schema = $1 AND table_name = $2 AND column_name = 'xact_id'",
        &[&table.schema, &table.name],
    )
    .iter()
    .map(|row| (row.get(0), row.get(1)))
    .collect();
    assert_eq!(column, [("xid8".into(), Some("pg_current_xact_id()".into()))]);
    assert!(
        until_quiet(&mut from_now, Duration::from_millis(500)).is_empty(),
        "rows older than the column are final before any watch"
    );
    // Python's write, as it is: the server fills the column.
    raw_execute(&python_insert_named(&table, "s", "new"));
    assert_eq!(texts(&next_events(&mut from_now, 1)), ["new"]);
    let filled: Vec<bool> = raw_query(
        &format!(
            "SELECT xact_id IS NOT NULL FROM {} WHERE session_id = 's' ORDER BY created_at",
            table.qualified()
        ),
        &[],
    )
    .iter()
    .map(|row| row.get(0))
    .collect();
    assert_eq!(filled, [false, false, true]);
    // Python's read, as it is.
    let python_read: Vec<String> = raw_query(
        &format!(
            "SELECT message->'data'->>'content' FROM {} WHERE session_id = $1 ORDER BY created_at ASC",
            table.qualified()
        ),
        &[&"s"],
    )
    .iter()
    .map(|row| row.get(0))
    .collect();
    assert_eq!(python_read, ["old1", "old2", "new"]);
    let mut from_start = history.watch(WatchFrom::Beginning).unwrap();
    assert_eq!(texts(&next_events(&mut from_start, 3)), ["old1", "old2", "new"]);
    assert!(until_quiet(&mut from_start, Duration::from_millis(500)).is_empty());
    // Checked once per engine; another engine checks, and adds nothing.
    let _again = history.watch(WatchFrom::Now).unwrap();
    assert_eq!(proxy.mode().executed(check), 1, "cached by the engine");
    let other: F = engine_history(&table, "s", &proxy.test_url(), Duration::from_millis(300));
    let mut from_other = other.watch(WatchFrom::Beginning).unwrap();
    assert_eq!(proxy.mode().executed(check), 2);
    assert_eq!(proxy.mode().executed(alter), 1, "the column was there");
    assert_eq!(texts(&next_events(&mut from_other, 3)), ["old1", "old2", "new"]);
}

/// A role that may read and write a table but not alter it, dropped
/// with what it was granted.
struct Role(String);

impl Drop for Role {
    fn drop(&mut self) {
        raw_execute(&format!("DROP OWNED BY {0}; DROP ROLE {0}", self.0));
    }
}

/// PostgreSQL: a user who may not alter the table gets `SchemaChange`,
/// with the statement to run; once its owner ran it, the watch starts.
pub fn a_refused_key_column_tells_the_watch_what_to_run<F: Face>() {
    if skip_unless_postgresql("the xact_id column") {
        return;
    }
    let table = TempTable::new("watch_refused");
    create_as_python(&table);
    raw_execute(&python_insert_named(&table, "s", "old"));
    let role = Role(format!("watch_user_{}", &Uuid::new_v4().simple().to_string()[..8]));
    raw_execute(&format!(
        "CREATE ROLE {0} LOGIN; GRANT SELECT, INSERT, DELETE ON {1} TO {0}",
        role.0,
        table.qualified()
    ));
    let url = database_url();
    let as_role = url.replacen("root@", &format!("{}@", role.0), 1);
    assert_ne!(as_role, url, "the test URL names root");
    // Not the schema's owner either: no `CREATE TABLE IF NOT EXISTS`.
    let options = table.options().create_table(false);
    let history = F::open_pooled("s", &as_role, options, EngineOptions::default()).unwrap();
    let err = history.watch(WatchFrom::Beginning).err().expect("not the owner");
    let Error::SchemaChange { statement, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(err.code().map(|c| c.code()), Some("42501"), "{err}");
    assert!(
        statement.starts_with(&format!("ALTER TABLE {} ADD COLUMN", table.qualified())),
        "{statement}"
    );
    assert!(err.to_string().contains(statement.as_str()), "{err}");
    raw_execute(statement);
    let mut watch = history.watch(WatchFrom::Beginning).unwrap();
    assert_eq!(texts(&next_events(&mut watch, 1)), ["old"]);
}

/// PostgreSQL: a row written inside a savepoint of a transaction held
/// open is keyed by the top-level transaction's id, and delivered once,
/// after the commit.
pub fn a_row_written_in_a_savepoint_is_watched_once_after_its_transaction<F: Face>() {
    if skip_unless_postgresql("the xact_id column") {
        return;
    }
    let table = TempTable::new("watch_savepoint");
    let history: F = engine_history(&table, "s", &database_url(), Duration::from_millis(300));
    history.add_user_message("before").unwrap();
    let mut watch = history.watch(WatchFrom::Now).unwrap();
    let held = runtime().block_on(async {
        let client = raw_client().await;
        let statements = [
            "BEGIN; SAVEPOINT first".to_owned(),
            python_insert_named(&table, "s", "in a savepoint"),
            "RELEASE first".to_owned(),
            python_insert_named(&table, "s", "top level"),
            "SAVEPOINT second".to_owned(),
            python_insert_named(&table, "s", "in another"),
        ];
        client.batch_execute(&statements.join("; ")).await.unwrap();
        client
    });
    let keys: Vec<(String, String, String)> = runtime().block_on(async {
        let sql = format!(
            "SELECT xact_id::TEXT, pg_current_xact_id()::TEXT, xmin::TEXT FROM {}
             WHERE session_id = 's' AND xact_id IS NOT NULL AND message->'data'->>'content' <> 'before'",
            table.qualified()
        );
        let rows = held.query(&sql, &[]).await.unwrap();
        rows.iter().map(|row| (row.get(0), row.get(1), row.get(2))).collect()
    });
    assert_eq!(keys.len(), 3);
    for (key, top, _) in &keys {
        assert_eq!(key, top, "keyed by the top-level transaction");
    }
    assert!(
        keys.iter().any(|(key, _, xmin)| key != xmin),
        "a savepoint's row has a subtransaction's xmin: {keys:?}"
    );
    assert!(until_quiet(&mut watch, Duration::from_millis(800)).is_empty());
    runtime().block_on(held.batch_execute("COMMIT")).unwrap();
    let mut got = texts(&next_events(&mut watch, 3));
    got.sort();
    assert_eq!(got, ["in a savepoint", "in another", "top level"]);
    assert!(until_quiet(&mut watch, Duration::from_millis(800)).is_empty(), "a repeat");
}
