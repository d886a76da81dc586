//! The plans of the crate's own statements on a large table: the reads that
//! must stay cheap go through the `(session_id, created_at)` index, whatever
//! plan PostgreSQL caches for the prepared statement. (A unit test, since
//! the statements are private; it opens its own connection.)

use crate::options::HistoryOptions;
use crate::table::Table;

use super::{ddl, read, render, retention, sessions};

fn database_url() -> String {
    std::env::var("LANGCHAIN_COCKROACHDB_URL")
        .unwrap_or_else(|_| "postgresql://root@127.0.0.1:5432/test?sslmode=disable".into())
}

async fn plan(client: &tokio_postgres::Client, sql: &str, types: &str, args: &str) -> String {
    client
        .batch_execute(&format!("PREPARE plan_probe ({types}) AS {sql}"))
        .await
        .unwrap();
    let rows = client
        .query(&format!("EXPLAIN EXECUTE plan_probe ({args})"), &[])
        .await
        .unwrap();
    client.batch_execute("DEALLOCATE plan_probe").await.unwrap();
    rows.iter()
        .map(|r| r.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join("\n")
}

/// One plan test at a time: another's writes keep VACUUM from marking
/// pages all-visible, which changes the costs the plans are chosen by.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A connection to `url`, or the process stops with one line saying what
/// to start (to the process's stderr: the harness captures `eprintln!`).
async fn connect(url: &str) -> tokio_postgres::Client {
    match tokio_postgres::connect(url, tokio_postgres::NoTls).await {
        Ok((client, connection)) => {
            tokio::spawn(connection);
            client
        }
        Err(e) => {
            let e = std::error::Error::source(&e).map_or(e.to_string(), |s| format!("{e}: {s}"));
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "\nno test database at {url} ({e}): start one (CONTRIBUTING.md, \"The test database\") or set LANGCHAIN_COCKROACHDB_URL\n",
            );
            std::process::exit(2);
        }
    }
}

/// True, with a line saying so, when `client` talks to CockroachDB: these
/// plans, and `EXPLAIN EXECUTE`, are PostgreSQL's.
async fn skip_on_cockroachdb(client: &tokio_postgres::Client) -> bool {
    let version: String = client
        .query_one("SELECT version()", &[])
        .await
        .unwrap()
        .get(0);
    let skip = version.starts_with("CockroachDB");
    if skip {
        eprintln!("skipped on CockroachDB: PostgreSQL's query plans");
    }
    skip
}

/// How `client`'s database compares the ids of `table` (`ddl::ID_ORDER`).
async fn byte_order(client: &tokio_postgres::Client, table: &Table) -> bool {
    let rows = client
        .query(ddl::ID_ORDER.text, &[&table.qualified().to_string()])
        .await
        .unwrap();
    rows[0].get(0)
}

/// Under a linguistic collation prefix reads compare `COLLATE "C"`: an
/// index with that collation serves them, ranges and order, as the session
/// index does in byte order.
#[tokio::test]
async fn prefix_reads_under_a_linguistic_collation() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let admin = connect(&database_url()).await;
    if skip_on_cockroachdb(&admin).await {
        return;
    }
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..10];
    let (db, name) = (format!("lc_plans_{suffix}"), format!("t_plans_{suffix}"));
    let table = Table::new("plans", &HistoryOptions::default().table_name(&name)).unwrap();
    // The test database itself compares bytes (`C.UTF-8`), also for a
    // table that does not exist yet.
    assert!(byte_order(&admin, &table).await);
    admin
        .batch_execute(&format!(
            "CREATE DATABASE {db} TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
        ))
        .await
        .unwrap();
    let url = {
        let url = database_url();
        let (head, tail) = url.rsplit_once('/').unwrap();
        let query = tail.find('?').map_or("", |q| &tail[q..]);
        format!("{head}/{db}{query}")
    };
    let checks = tokio::spawn(async move {
        let client = connect(&url).await;
        assert!(!byte_order(&client, &table).await, "ICU, before the table");
        client
            .batch_execute(&format!(
                "{}; {}; CREATE INDEX ids_c ON {name} (session_id COLLATE \"C\", created_at);
                 INSERT INTO {name} (session_id, message)
                 SELECT 'user-' || (g % 1000) || ':chat', '{{}}' FROM generate_series(1, 50000) AS g",
                ddl::create_table(&table, crate::report::ServerKind::PostgreSQL),
                ddl::create_index(&table),
            ))
            .await
            .unwrap();
        client
            .batch_execute(&format!("VACUUM ANALYZE {name}"))
            .await
            .unwrap();
        assert!(!byte_order(&client, &table).await, "ICU, the table's column");
        for mode in ["force_custom_plan", "force_generic_plan"] {
            client
                .batch_execute(&format!("SET plan_cache_mode = {mode}"))
                .await
                .unwrap();
            let listing = plan(
                &client,
                &render(sessions::LIST.collated[1].text, &table),
                "text, text, bigint",
                "'user-42', 'user-43', 10",
            )
            .await;
            assert!(
                listing.contains("ids_c") && !listing.contains("Seq Scan"),
                "{mode}: list_sessions:\n{listing}"
            );
            let export = plan(
                &client,
                &render(super::transfer::EXPORT_NEXT.collated[1].text, &table),
                "text, text, bigint, text, timestamptz, uuid",
                "'user-42', 'user-43', 500, 'user-42:chat', now(), gen_random_uuid()",
            )
            .await;
            assert!(
                export.contains("ids_c") && !export.contains("Seq Scan"),
                "{mode}: export:\n{export}"
            );
        }
    })
    .await;
    admin
        .batch_execute(&format!("DROP DATABASE {db} WITH (FORCE)"))
        .await
        .unwrap();
    if let Err(failed) = checks {
        std::panic::resume_unwind(failed.into_panic());
    }
}

#[tokio::test]
async fn last_messages_and_session_listing_use_the_index() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let client = connect(&database_url()).await;
    if skip_on_cockroachdb(&client).await {
        return;
    }
    let name = format!(
        "t_plans_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    );
    let table = Table::new("plans", &HistoryOptions::default().table_name(&name)).unwrap();
    client
        .batch_execute(&format!(
            "{}; {}; {}",
            ddl::create_table(&table, crate::report::ServerKind::PostgreSQL),
            ddl::create_index(&table),
            ddl::activity_index(&table, crate::report::ServerKind::PostgreSQL)
        ))
        .await
        .unwrap();
    let client = std::sync::Arc::new(client);
    // Checked in a task of its own, so that the table is dropped whether
    // the checks pass or panic.
    let checks = tokio::spawn({
        let client = std::sync::Arc::clone(&client);
        let name = name.clone();
        async move {
        let table = Table::new("plans", &HistoryOptions::default().table_name(&name)).unwrap();
        client
            .batch_execute(&format!(
                "INSERT INTO {name} (session_id, message, created_at)
                 SELECT 'user-' || (g % 1000) || ':chat', '{{\"type\": \"human\", \"data\": {{\"content\": \"x\"}}}}',
                        now() + g * interval '1 millisecond'
                 FROM generate_series(1, 100000) AS g"
            ))
            .await
            .unwrap();
        client
            .batch_execute(&format!("VACUUM ANALYZE {name}"))
            .await
            .unwrap();
        let index = table.name.python_index_name().as_str().to_owned();
        let activity = table.name.activity_index_name().as_str().to_owned();
        for mode in ["auto", "force_custom_plan", "force_generic_plan"] {
            client
                .batch_execute(&format!("SET plan_cache_mode = {mode}"))
                .await
                .unwrap();
            let last = plan(&client, &render(read::LAST.text, &table), "text, bigint", "'user-42:chat', 10").await;
            assert!(
                last.contains(&index) && !last.contains("Seq Scan"),
                "{mode}: last_messages:\n{last}"
            );
            let sessions = plan(
                &client,
                &render(sessions::LIST.bytes[1].text, &table),
                "text, text, bigint",
                "'user-42', 'user-43', 10",
            )
            .await;
            // Bounded on both ends: not a scan from the prefix to the end.
            assert!(
                sessions.contains("session_id < $2") || sessions.contains("session_id < 'user-43'"),
                "{mode}:\n{sessions}"
            );
            assert!(
                sessions.contains(&index) && !sessions.contains("Seq Scan"),
                "{mode}: list_sessions:\n{sessions}"
            );
            let page = plan(
                &client,
                &render(read::PAGE_NEXT.text, &table),
                "text, timestamptz, uuid, bigint",
                "'user-42:chat', now(), gen_random_uuid(), 64",
            )
            .await;
            assert!(
                page.contains(&index) && !page.contains("Seq Scan"),
                "{mode}: messages_page:\n{page}"
            );
            // Cleanups walk on from where their last round stopped.
            let idle = plan(
                &client,
                &render(retention::IDLE_SESSIONS.text, &table),
                "timestamptz, bigint, text",
                "now() - interval '30 days', 100, 'user-500'",
            )
            .await;
            assert!(
                idle.contains("session_id > ") && idle.contains(&index) && !idle.contains("Seq Scan"),
                "{mode}: idle sessions:\n{idle}"
            );
            let old = plan(
                &client,
                &render(retention::DELETE_OLD_NEXT.text, &table),
                "timestamptz, bigint, uuid",
                "now() - interval '30 days', 100, gen_random_uuid()",
            )
            .await;
            assert!(
                old.contains("_pkey") && old.contains("id > "),
                "{mode}: delete old:\n{old}"
            );
            // Idle sessions come from the old rows of the activity index,
            // walked on from where the last round stopped; each is checked
            // through the session index.
            let idle = plan(
                &client,
                &render(retention::IDLE_BY_AGE_NEXT.text, &table),
                "timestamptz, bigint, timestamptz, uuid",
                "now() + interval '50 seconds', 1000, now() + interval '40 seconds', gen_random_uuid()",
            )
            .await;
            assert!(
                idle.contains(&activity) && idle.contains(&index) && !idle.contains("Seq Scan"),
                "{mode}: idle sessions by age:\n{idle}"
            );
            // Sessions active lately come from the recent rows of the
            // activity index.
            let since = plan(
                &client,
                &render(sessions::LIST_SINCE.bytes[0].text, &table),
                "text, text, bigint, timestamptz",
                "'', NULL, 50, now() + interval '99 seconds'",
            )
            .await;
            assert!(
                since.contains(&activity) && !since.contains("Seq Scan"),
                "{mode}: sessions since:\n{since}"
            );
            let recent = plan(
                &client,
                &render(sessions::RECENT_NEXT.text, &table),
                "bigint, timestamptz, uuid",
                "1000, now(), gen_random_uuid()",
            )
            .await;
            assert!(
                recent.contains(&activity) && !recent.contains("Seq Scan"),
                "{mode}: newest sessions:\n{recent}"
            );
        }
    }})
    .await;
    client
        .batch_execute(&format!("DROP TABLE {name}"))
        .await
        .unwrap();
    if let Err(failed) = checks {
        std::panic::resume_unwind(failed.into_panic());
    }
}
