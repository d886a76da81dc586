//! The task that serves an engine's hub (`crate::hub`): one connection of
//! its own, whatever the number of watches. On PostgreSQL it `LISTEN`s to
//! each watched table's channel, which this crate's writes notify in the
//! same statement, and wakes the watches a notification names. On both
//! servers it looks at every watched session of a table in one statement
//! an interval (`sql::watch::LOOK`), and wakes the watches whose session's
//! final rows changed: what other programs write (Python's
//! langchain-cockroachdb notifies nothing), and on CockroachDB, which has
//! no notifications, everything. After a lost connection it connects again
//! and wakes every watch, which reads from its cursor what it may not have
//! been told of. It ends when the last watch goes or the engine closes.
//!
//! It is async code over `tokio-postgres` on both faces (`Face::background`
//! runs it): tokio-postgres hands notifications to whoever polls its
//! `Connection`, which the blocking driver keeps to itself. A notification
//! is a hint, never a delivery: watches read their rows themselves.

use std::collections::{HashMap, HashSet};
use std::future::poll_fn;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_postgres::{AsyncMessage, Client, Connection, Statement};

use crate::connect::Tls;
use crate::error::Result;
use crate::hub::{Hub, Serving};
use crate::report::ServerKind;
use crate::sql::watch;

use super::driver::Face;
use super::face::Driver;

/// What the task connects with, and how often it looks.
pub(crate) struct Setup {
    pub(crate) config: tokio_postgres::Config,
    pub(crate) tls: Tls,
    pub(crate) server: ServerKind,
    pub(crate) interval: Duration,
    pub(crate) connect_timeout: Duration,
    /// Each statement's deadline: past it, the connection counts as lost.
    pub(crate) statement_timeout: Duration,
}

/// The most sessions one look names: the statement stays far below any
/// message limit (session ids are at most 2 KiB).
const LOOK_SESSIONS: usize = 500;

/// Starts the task that `serving` claims.
pub(crate) fn start(hub: &Arc<Hub>, serving: Serving, setup: Setup) -> Result<()> {
    let task = serve(Arc::clone(hub), serving, setup);
    Face::background("langchain-cockroachdb-watch", task)
}

/// Why a connection's service ended.
enum Ended {
    /// No watch is left, or the engine closed.
    Stop,
    /// The connection broke, or a statement passed its deadline.
    Lost,
}

async fn serve(hub: Arc<Hub>, serving: Serving, setup: Setup) {
    let first_wait = Duration::from_millis(50);
    let mut wait = first_wait;
    let mut served_before = false;
    while !hub.must_stop(&serving) {
        let connecting = setup.config.connect(setup.tls.clone());
        let Ok(Ok((client, connection))) =
            tokio::time::timeout(setup.connect_timeout, connecting).await
        else {
            // Away: try again, less and less often, or at the next kick.
            let _ = tokio::time::timeout(wait, hub.kicked()).await;
            wait = (wait * 2).min(setup.interval);
            continue;
        };
        wait = first_wait;
        let lost = Arc::new(AtomicBool::new(false));
        let forwarding = tokio::spawn(forward(connection, Arc::clone(&hub), Arc::clone(&lost)));
        if served_before {
            hub.wake_all();
        }
        served_before = true;
        let ended = on(&client, &hub, &serving, &setup, &lost).await;
        forwarding.abort();
        hub.deaf();
        if let Ended::Stop = ended {
            return;
        }
    }
}

/// Polls the connection, which also carries the client's statements, and
/// wakes the watches each notification names; when it ends, tells the
/// task.
async fn forward<S, T>(mut connection: Connection<S, T>, hub: Arc<Hub>, lost: Arc<AtomicBool>)
where
    S: AsyncRead + AsyncWrite + Unpin,
    T: AsyncRead + AsyncWrite + Unpin,
{
    while let Some(Ok(message)) = poll_fn(|cx| connection.poll_message(cx)).await {
        if let AsyncMessage::Notification(note) = message {
            hub.wake(note.channel(), note.payload());
        }
    }
    lost.store(true, Ordering::SeqCst);
    hub.kick();
}

/// Serves the hub on one connection: `LISTEN`s as tables come and go, and
/// looks at each interval, until told to stop or the connection is lost.
async fn on(
    client: &Client,
    hub: &Hub,
    serving: &Serving,
    setup: &Setup,
    lost: &AtomicBool,
) -> Ended {
    let mut listening = HashSet::new();
    let mut looks = HashMap::new();
    let mut next_look = Instant::now() + setup.interval;
    loop {
        if hub.must_stop(serving) {
            return Ended::Stop;
        }
        if lost.load(Ordering::SeqCst) {
            return Ended::Lost;
        }
        let served = async {
            if setup.server == ServerKind::PostgreSQL {
                listen(client, hub, &mut listening).await?;
            }
            if Instant::now() >= next_look {
                look(client, hub, &mut looks).await?;
                next_look = Instant::now() + setup.interval;
            }
            Ok::<(), Lost>(())
        };
        match tokio::time::timeout(setup.statement_timeout, served).await {
            Ok(Ok(())) => {}
            Ok(Err(Lost)) | Err(_) => return Ended::Lost,
        }
        let _ = tokio::time::timeout_at(next_look.into(), hub.kicked()).await;
    }
}

/// The connection cannot be trusted any more.
struct Lost;

/// `LISTEN`s to the channels of newly watched tables (and wakes their
/// watches), `UNLISTEN`s to those no longer watched.
async fn listen(
    client: &Client,
    hub: &Hub,
    listening: &mut HashSet<String>,
) -> std::result::Result<(), Lost> {
    for channel in hub.unheard() {
        client
            .batch_execute(&watch::listen(&channel))
            .await
            .map_err(|_| Lost)?;
        listening.insert(channel.clone());
        hub.listened(&channel);
    }
    let gone: Vec<String> = listening
        .iter()
        .filter(|channel| !hub.watches(channel))
        .cloned()
        .collect();
    for channel in gone {
        client
            .batch_execute(&watch::unlisten(&channel))
            .await
            .map_err(|_| Lost)?;
        listening.remove(&channel);
    }
    Ok(())
}

/// One look at every watched session, a statement per table and up to
/// `LOOK_SESSIONS` sessions. A statement the server refuses (the table was
/// dropped) wakes nobody; its watches learn it when they read.
async fn look(
    client: &Client,
    hub: &Hub,
    prepared: &mut HashMap<String, Statement>,
) -> std::result::Result<(), Lost> {
    for (channel, text, sessions) in hub.looks() {
        let statement = match prepared.get(&text) {
            Some(statement) => statement.clone(),
            None => match client.prepare(&text).await {
                Ok(statement) => {
                    prepared.insert(text, statement.clone());
                    statement
                }
                Err(_) if client.is_closed() => return Err(Lost),
                Err(_) => continue,
            },
        };
        for chunk in sessions.chunks(LOOK_SESSIONS) {
            let ids = chunk.to_vec();
            let found = match client.query(&statement, &[&ids]).await {
                Ok(rows) => watch::looked(&rows),
                Err(_) if client.is_closed() => return Err(Lost),
                Err(_) => continue,
            };
            if let Ok(found) = found {
                hub.looked(&channel, chunk, &found.into_iter().collect());
            }
        }
    }
    Ok(())
}
