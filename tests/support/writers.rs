//! Writers in processes of their own, for the proof that a watch gets every
//! message exactly once (`watch_proof.rs`): this test binary run again as a
//! child whose role an environment variable names (the crate's faces at
//! READ COMMITTED and SERIALIZABLE, and a raw writer that holds its
//! transaction open while the others commit), and Python's
//! langchain-cockroachdb 0.5.0 from the venv `LANGCHAIN_VENV` names. Each
//! child says `ready` once connected, waits for `go` on its stdin, so that
//! all of them write at once, then writes small batches without pausing and
//! says how many messages it stored in the watched session.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use langchain_cockroachdb::{HistoryOptions, Message};

use super::{Face, TempTable, database_url, on_cockroachdb, runtime, with_server_options};

/// The watched session, and another one the same writers write to.
pub const SESSION: &str = "proof";
pub const ELSEWHERE: &str = "elsewhere";

/// The role of a child: `<face>/<isolation>`, `holder`, or unset in the
/// test itself.
const ROLE: &str = "LANGCHAIN_PROOF_ROLE";
/// The table the children write to.
const TABLE: &str = "LANGCHAIN_PROOF_TABLE";
/// Calls of `add_messages` per writer, each of 1 to 3 messages; every
/// fifth goes to `ELSEWHERE`.
const BATCHES: usize = 40;
/// What each line a child says to the test starts with (libtest prints
/// its own lines on the same stdout).
const SAYS: &str = "proof: ";

/// A generator for the tests' random choices (xorshift), seeded.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: impl Hash) -> Rng {
        let mut hasher = DefaultHasher::new();
        seed.hash(&mut hasher);
        Rng(hasher.finish() | 1)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// A writer process, killed if the test ends before it does.
pub struct Writer {
    /// Also what its messages' texts start with: `<name>-<batch>-<index>`.
    pub name: String,
    /// The isolation its transactions run at, as the server names it.
    pub isolation: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    said: Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

/// What a writer did.
pub struct Written {
    /// Messages it stored in `SESSION`.
    pub stored: usize,
    /// For the holder: transactions it held open until a message with a
    /// later `created_at` was committed by another writer.
    pub overtaken: Option<usize>,
}

impl Writer {
    fn spawn(
        name: &str,
        isolation: &'static str,
        mut command: Command,
        table: &TempTable,
    ) -> Writer {
        let mut child = command
            .env(TABLE, &table.name)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("writer {name} does not start: {e}"));
        let (sender, said) = channel();
        let stdout = child.stdout.take().expect("its stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
                // libtest's "test ... " may come first on the line.
                if let Some(at) = line.find(SAYS) {
                    let _ = sender.send(line[at + SAYS.len()..].to_owned());
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("its stderr");
        let collected = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            collected.lock().unwrap().push_str(&text);
        });
        Writer {
            name: name.into(),
            isolation,
            stdin: child.stdin.take(),
            child,
            said,
            stderr,
        }
    }

    /// The next line it says, within `within`.
    fn next_said(&mut self, within: Duration) -> String {
        match self.said.recv_timeout(within) {
            Ok(line) => line,
            Err(_) => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "writer {} said nothing more within {within:?}; its stderr:\n{}",
                    self.name,
                    self.stderr.lock().unwrap()
                );
            }
        }
    }

    /// Waits until it is connected; returns the isolation its
    /// transactions run at, as the server says.
    pub fn ready(&mut self, within: Duration) -> String {
        let line = self.next_said(within);
        match line.strip_prefix("ready ") {
            Some(isolation) => isolation.to_owned(),
            None => panic!("writer {} said {line:?} instead of ready", self.name),
        }
    }

    /// Lets it write.
    pub fn go(&mut self) {
        let mut stdin = self.stdin.take().expect("go is said once");
        stdin
            .write_all(b"go\n")
            .expect("the writer reads its stdin");
    }

    /// Waits until it has written and ended, successfully.
    pub fn finish(mut self, within: Duration) -> Written {
        let mut written = Written {
            stored: 0,
            overtaken: None,
        };
        loop {
            let line = self.next_said(within);
            if let Some(n) = line.strip_prefix("overtaken ") {
                written.overtaken = Some(n.parse().expect("a count"));
            } else if let Some(n) = line.strip_prefix("stored ") {
                written.stored = n.parse().expect("a count");
                break;
            }
        }
        let status = self.child.wait().expect("the writer ends");
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            status.success(),
            "writer {} failed ({status}); its stderr:\n{}",
            self.name,
            self.stderr.lock().unwrap()
        );
        written
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The writers, started: this binary as each face's writer at READ
/// COMMITTED and at SERIALIZABLE (the faces compiled in), as the holder,
/// and Python's at both isolations when `LANGCHAIN_VENV` names a venv.
/// `test` is the test to run in the children: the caller, who must return
/// at once there when `run_role` says so.
pub fn start(test: &str, table: &TempTable) -> Vec<Writer> {
    let mut faces = Vec::new();
    if cfg!(feature = "blocking") {
        faces.push("blocking");
    }
    if cfg!(feature = "async") {
        faces.push("async");
    }
    let mut writers = Vec::new();
    let exe = std::env::current_exe().expect("the test binary's path");
    for face in faces {
        for isolation in ISOLATIONS {
            let mut command = Command::new(&exe);
            command
                .args([test, "--exact", "--nocapture", "--test-threads=1"])
                .env(ROLE, format!("{face}/{isolation}"));
            let name = format!("{face}_{}", short(isolation));
            writers.push(Writer::spawn(&name, isolation, command, table));
        }
    }
    let mut command = Command::new(&exe);
    command
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE, "holder");
    writers.push(Writer::spawn("holder", "read committed", command, table));
    match python() {
        Ok(python) => {
            for isolation in ISOLATIONS {
                let name = format!("python_{}", short(isolation));
                let mut command = Command::new(&python);
                command
                    .args(["-c", PYTHON_WRITER])
                    .env("PROOF_URL", at_isolation(isolation))
                    .env("PROOF_SCHEMA", &table.schema)
                    .env("PROOF_NAME", &name)
                    .env("PROOF_SESSION", SESSION)
                    .env("PROOF_ELSEWHERE", ELSEWHERE)
                    .env("PROOF_BATCHES", BATCHES.to_string());
                writers.push(Writer::spawn(&name, isolation, command, table));
            }
        }
        Err(why) => eprintln!("no Python writers: {why}"),
    }
    writers
}

const ISOLATIONS: [&str; 2] = ["read committed", "serializable"];

fn short(isolation: &str) -> &'static str {
    match isolation {
        "serializable" => "ser",
        _ => "rc",
    }
}

/// The test server's URL, every transaction at `isolation`.
fn at_isolation(isolation: &str) -> String {
    with_server_options(
        &database_url(),
        &format!(
            "-c default_transaction_isolation={}",
            isolation.replace(' ', "\\ ")
        ),
    )
}

/// The Python of the venv `LANGCHAIN_VENV` names, or why there is none.
fn python() -> std::result::Result<PathBuf, String> {
    let venv = std::env::var_os("LANGCHAIN_VENV").ok_or(
        "LANGCHAIN_VENV is not set (a venv with langchain-cockroachdb==0.5.0; .ci/run makes one)",
    )?;
    let python = PathBuf::from(venv).join("bin").join("python");
    assert!(
        python.exists(),
        "LANGCHAIN_VENV names no venv: {} does not exist",
        python.display()
    );
    Ok(python)
}

/// In a child started by `start`: runs its role and returns true. In the
/// test itself: false.
pub fn run_role() -> bool {
    let Ok(role) = std::env::var(ROLE) else {
        return false;
    };
    let table = std::env::var(TABLE).expect("the table to write to");
    match role.split_once('/') {
        Some((face, isolation)) => {
            let name = format!("{face}_{}", short(isolation));
            let url = at_isolation(isolation);
            match face {
                #[cfg(feature = "blocking")]
                "blocking" => {
                    write::<langchain_cockroachdb::blocking::CockroachDBChatMessageHistory>(
                        &name, &url, &table,
                    )
                }
                #[cfg(feature = "async")]
                "async" => write::<
                    langchain_cockroachdb::nonblocking::AsyncCockroachDBChatMessageHistory,
                >(&name, &url, &table),
                other => {
                    panic!("writer {name} at {url} into {table}: no face {other:?} in this build")
                }
            }
        }
        None => hold(&format!("\"public\".\"{table}\"")),
    }
    true
}

/// Says `line` to the test.
fn say(line: &str) {
    println!("{SAYS}{line}");
}

/// Waits for the test's `go`.
fn wait_for_go() {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .expect("the test's go");
    assert_eq!(line.trim(), "go");
}

/// What `SHOW transaction_isolation` says on a connection to `url`.
fn isolation_of(url: &str) -> String {
    runtime().block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .expect("a connection");
        tokio::spawn(connection);
        let row = client
            .query_one("SHOW transaction_isolation", &[])
            .await
            .expect("its isolation");
        row.get(0)
    })
}

/// A writer of face `W`: `BATCHES` calls of `add_messages`, 1 to 3
/// messages each, one after the other.
fn write<W: Face>(name: &str, url: &str, table: &str) {
    let options = HistoryOptions::default().table_name(table);
    let session = W::open(SESSION, url, options.clone()).expect("a history");
    let elsewhere = W::open(ELSEWHERE, url, options).expect("a history");
    // Connected, the statements prepared: the start is the writes'.
    session.message_count().expect("a first read");
    elsewhere.message_count().expect("a first read");
    say(&format!("ready {}", isolation_of(url)));
    wait_for_go();
    let mut rng = Rng::new(name);
    let mut stored = 0;
    for batch in 0..BATCHES {
        let messages: Vec<Message> = (0..1 + rng.below(3))
            .map(|i| Message::human(format!("{name}-{batch}-{i}")))
            .collect();
        if batch % 5 == 4 {
            elsewhere.add_messages(&messages).expect("a write");
        } else {
            session.add_messages(&messages).expect("a write");
            stored += messages.len();
        }
    }
    say(&format!("stored {stored}"));
}

/// The holder: inserts one message as Python does (`created_at` its
/// transaction's start, no notification) and keeps its transaction open
/// until other writers have committed three messages with a later
/// `created_at`, then commits, again and again while they do. So the
/// messages' commit order is not their `created_at` order, and a watch that
/// moved past a position in `created_at` would miss the held ones. On
/// CockroachDB the crate's writes wait for the held transaction (they read
/// the session): only Python's overtake it there.
fn hold(table: &str) {
    let connect = || async {
        let (client, connection) = tokio_postgres::connect(&database_url(), tokio_postgres::NoTls)
            .await
            .expect("a connection");
        tokio::spawn(connection);
        client
    };
    let (holder, probe) = runtime().block_on(async { (connect().await, connect().await) });
    say(&format!("ready {}", isolation_of(&database_url())));
    wait_for_go();
    let insert = format!(
        "INSERT INTO {table} (session_id, message) VALUES ($1, jsonb_build_object('type', 'human',
         'data', jsonb_build_object('content', $2::TEXT))) RETURNING created_at::TEXT"
    );
    let later = format!(
        "SELECT count(*) FROM {table} WHERE session_id = $1 AND created_at > $2::TEXT::TIMESTAMPTZ"
    );
    let mut overtaken = 0;
    let mut round = 0;
    runtime().block_on(async {
        loop {
            holder.batch_execute("BEGIN").await.expect("BEGIN");
            let text = format!("holder-{round}-0");
            let row = holder
                .query_one(&insert, &[&SESSION, &text])
                .await
                .expect("the held insert");
            let created_at: String = row.get(0);
            let waited = std::time::Instant::now();
            let passed = loop {
                let row = probe
                    .query_one(&later, &[&SESSION, &created_at])
                    .await
                    .expect("a look");
                if row.get::<_, i64>(0) >= 3 {
                    break true;
                }
                if waited.elapsed() > Duration::from_secs(2) {
                    break false;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            };
            holder.batch_execute("COMMIT").await.expect("COMMIT");
            round += 1;
            // Once nobody overtakes it, the others are done (or, on
            // CockroachDB, wait for it).
            if !passed || round == BATCHES {
                break;
            }
            overtaken += 1;
        }
    });
    if on_cockroachdb() {
        eprintln!("on CockroachDB the crate's writers wait for the held transaction");
    }
    say(&format!("overtaken {overtaken}"));
    say(&format!("stored {round}"));
}

/// Python's writer: langchain-cockroachdb's own `aadd_messages`, on its
/// engine from the URL, at the isolation the URL sets; the same batches
/// as `write`.
const PYTHON_WRITER: &str = r#"
import asyncio, os, random, sys
from langchain_cockroachdb import CockroachDBChatMessageHistory, CockroachDBEngine
from langchain_core.messages import HumanMessage
from sqlalchemy import text

env = os.environ
name = env["PROOF_NAME"]

async def main():
    engine = CockroachDBEngine.from_connection_string(env["PROOF_URL"])
    def history(session):
        return CockroachDBChatMessageHistory(session, engine=engine, table_name=env["LANGCHAIN_PROOF_TABLE"], schema=env["PROOF_SCHEMA"])
    session, elsewhere = history(env["PROOF_SESSION"]), history(env["PROOF_ELSEWHERE"])
    await session.aget_messages()
    async with engine.engine.connect() as conn:
        isolation = (await conn.execute(text("SHOW transaction_isolation"))).scalar()
    print("proof: ready", isolation, flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    rng, stored = random.Random(name), 0
    for batch in range(int(env["PROOF_BATCHES"])):
        messages = [HumanMessage(f"{name}-{batch}-{i}") for i in range(1 + rng.randrange(3))]
        if batch % 5 == 4:
            await elsewhere.aadd_messages(messages)
        else:
            await session.aadd_messages(messages)
            stored += len(messages)
    print("proof: stored", stored, flush=True)
    await engine.aclose()

asyncio.run(main())
"#;
