//! The floor: the same statements through pgbench, what the server and
//! libpq do with them.

use langchain_cockroachdb::Message;
use uuid::Uuid;

use crate::Result;

/// The rate of `script` (one SQL statement) through `pgbench -M prepared`
/// with `clients` connections, `transactions` in all: the floor, what the
/// server and libpq do with the same statements. `None` where pgbench is
/// not installed.
pub(crate) fn pgbench(
    url: &str,
    script: &str,
    clients: usize,
    transactions: usize,
) -> Result<Option<f64>> {
    let path = std::env::temp_dir().join(format!("bench-{}.sql", Uuid::new_v4().simple()));
    std::fs::write(&path, format!("{script};\n"))?;
    let run = std::process::Command::new("pgbench")
        .args(["-n", "-M", "prepared", "-c", &clients.to_string()])
        .args(["-j", &clients.min(2).to_string()])
        .args(["-t", &(transactions / clients).to_string(), "-f"])
        .arg(&path)
        .arg(url)
        .output();
    std::fs::remove_file(&path)?;
    let output = match run {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        other => other?,
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let tps = stdout
        .lines()
        .find_map(|line| line.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok());
    match tps {
        Some(tps) => Ok(Some(tps)),
        None => Err(format!(
            "pgbench failed: {}{}",
            stdout,
            String::from_utf8_lossy(&output.stderr)
        )
        .into()),
    }
}

/// `sql` with its parameters written in as SQL text, for pgbench.
pub(crate) fn inline(sql: &str, table: &str, params: &[&str]) -> String {
    let mut out = sql.replace("{t}", table);
    for (i, param) in params.iter().enumerate().rev() {
        out = out.replace(&format!("${}", i + 1), param);
    }
    out
}

/// A message as a SQL string literal, its colons escaped: pgbench would
/// take `:false` for a variable.
pub(crate) fn literal(message: &Message) -> Result<String> {
    let json = serde_json::to_string(message)?
        .replace('\\', "\\\\")
        .replace('\'', "\\'")
        .replace(':', "\\x3a");
    Ok(format!("E'{json}'"))
}
