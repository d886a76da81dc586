//! `docs/COCKROACHDB.md` lists every statement the crate sends: each
//! statement constant of `src/sql/` (`const NAME: Sql` or `ByPrefix`), each
//! function of `sql/ddl.rs` that writes DDL, and each literal text the
//! engine sends, as a row of its table. A statement added without its row
//! fails here.

use std::fs;

fn doc() -> String {
    fs::read_to_string("docs/COCKROACHDB.md").expect("docs/COCKROACHDB.md")
}

/// The statements of `src/sql/`: `file::NAME` for each constant, and
/// `ddl::name` for each DDL function.
fn statements() -> Vec<String> {
    let mut found = Vec::new();
    for entry in fs::read_dir("src/sql").expect("src/sql") {
        let path = entry.expect("an entry").path();
        let module = path.file_stem().unwrap().to_string_lossy().into_owned();
        let text = fs::read_to_string(&path).expect("a source file");
        for line in text.lines() {
            let line = line.trim_start();
            let shared = line.starts_with("pub");
            let line = line.strip_prefix("pub(crate) ").unwrap_or(line);
            if let Some(rest) = line.strip_prefix("const ") {
                let (name, ty) = rest.split_once(':').unwrap_or((rest, ""));
                let ty = ty.trim_start();
                if ty.starts_with("Sql ") || ty.starts_with("ByPrefix ") {
                    found.push(format!("{module}::{}", name.trim()));
                }
            }
            // The DDL functions the engine calls (private ones write parts).
            let ddl = module == "ddl"
                && shared
                && line.starts_with("fn ")
                && (line.contains("-> String")
                    || line.contains("-> Result<String>")
                    || line.contains("-> Request"));
            if ddl {
                let name = line["fn ".len()..].split('(').next().unwrap();
                found.push(format!("ddl::{name}"));
            }
        }
    }
    found.sort();
    found
}

#[test]
fn every_statement_has_its_row() {
    let doc = doc();
    let statements = statements();
    assert!(
        statements.len() > 40,
        "too few statements found: {statements:?}"
    );
    assert!(statements.contains(&"write::INSERT_ONE".to_owned()));
    assert!(statements.contains(&"ddl::row_ttl".to_owned()));
    let missing: Vec<&String> = statements
        .iter()
        .filter(|s| !doc.contains(&format!("`{s}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/COCKROACHDB.md has no row for {missing:?}: say what each does and why CockroachDB accepts it"
    );
}

/// The texts the engine and the drivers send as they are (not from
/// `src/sql/`): the ping, and the pool's check of a connection.
#[test]
fn the_engines_own_texts_have_their_rows() {
    let doc = doc();
    let mut literal = 0;
    for file in [
        "src/io/engine.rs",
        "src/blocking/driver.rs",
        "src/nonblocking/driver.rs",
    ] {
        let code = fs::read_to_string(file).expect(file);
        for (call, row) in [
            (".batch(\"SELECT 1\")", "`SELECT 1`"),
            ("simple_query(\"\")", "empty query"),
        ] {
            if code.contains(call) {
                assert!(
                    doc.contains(row),
                    "docs/COCKROACHDB.md has no row for {row}"
                );
            }
        }
        literal += code.matches(".batch(\"").count() + code.matches("simple_query(\"").count();
    }
    assert_eq!(
        literal, 3,
        "a new literal statement needs its row in docs/COCKROACHDB.md"
    );
}

/// Every SQLSTATE the crate retries is in the doc's table of outcomes.
#[test]
fn every_retried_sqlstate_has_its_row() {
    let doc = doc();
    for code in [
        "40001", "40003", "08P01", "57P01", "57P02", "57P03", "53300", "58C00", "58C01",
    ] {
        assert!(doc.contains(&format!("`{code}`")), "no row for {code}");
    }
}
