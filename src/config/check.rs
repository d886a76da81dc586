//! The checks every [`ConnectionConfig`] passes, however it was made:
//! parsed from a string, built in code, or taken from a driver config.
//! What fails here fails before any connection, as [`Error::Config`], and
//! never repeats the password.

use std::path::{Path, PathBuf};

use tokio_postgres::config::{ChannelBinding, Host};

use crate::error::{Error, Result};

use super::ConnectionConfig;
use super::ssl::SslMode;

/// The TLS settings this crate reads itself rather than the driver, which
/// knows neither `verify-ca`/`verify-full` nor the certificate paths.
#[derive(Clone, Default)]
pub(super) struct TlsSettings {
    /// The `sslmode` as given; `None` if none was: the default, or
    /// `verify-full` with `sslrootcert=system`.
    pub(super) mode: Option<SslMode>,
    pub(super) root_cert: Option<PathBuf>,
    pub(super) cert: Option<PathBuf>,
    pub(super) key: Option<PathBuf>,
}

/// `pg` and `tls` as a [`ConnectionConfig`], if they make one: a host and
/// a user named, as many ports as hosts (or one for all), an `sslmode` that
/// suits `sslrootcert`, no channel binding required. `what` names the
/// source in errors ("the connection string", "the connection config").
pub(super) fn check(
    mut pg: tokio_postgres::Config,
    tls: TlsSettings,
    what: &str,
) -> Result<ConnectionConfig> {
    let hosts = pg.get_hosts();
    if hosts.is_empty() {
        return Err(Error::Config(format!("{what} names no host")));
    }
    if hosts
        .iter()
        .any(|host| matches!(host, Host::Tcp(name) if name.is_empty()))
    {
        return Err(Error::Config(format!("{what} names an empty host")));
    }
    let (ports, addrs) = (pg.get_ports().len(), pg.get_hostaddrs().len());
    if ports > 1 && ports != hosts.len() {
        return Err(Error::Config(format!(
            "{what} names {} hosts and {ports} ports: give one port for every host, \
             or one for them all",
            hosts.len()
        )));
    }
    if addrs > 0 && addrs != hosts.len() {
        return Err(Error::Config(format!(
            "{what} names {} hosts and {addrs} hostaddrs: give one hostaddr for every host",
            hosts.len()
        )));
    }
    if pg.get_user().is_none_or(str::is_empty) {
        return Err(Error::Config(format!("{what} names no user")));
    }
    if pg.get_application_name().is_none() {
        pg.application_name("langchain-cockroachdb");
    }
    // libpq 16: `sslrootcert=system` (any publicly trusted CA) means
    // nothing without the host name check, so it implies verify-full and
    // refuses the weaker modes.
    let system_roots = tls.root_cert.as_deref() == Some(Path::new("system"));
    let ssl_mode = match tls.mode {
        Some(mode) => mode,
        None if system_roots => SslMode::VerifyFull,
        None => SslMode::default(),
    };
    if system_roots && ssl_mode != SslMode::VerifyFull {
        return Err(Error::Config(format!(
            "sslrootcert=system needs sslmode=verify-full, not sslmode={}: any publicly \
             trusted certificate passes without the host name check (libpq 16 refuses \
             disable, allow, prefer, require and verify-ca with it)",
            ssl_mode.as_str()
        )));
    }
    // SCRAM-SHA-256-PLUS needs the TLS session's binding, which this
    // crate's TLS does not give the driver: refused now, rather than at
    // every login.
    if pg.get_channel_binding() == ChannelBinding::Require {
        return Err(Error::Config(
            "channel_binding=require is not supported (SCRAM-SHA-256-PLUS); use \
             channel_binding=prefer or disable, and sslmode=verify-full for a verified server"
                .into(),
        ));
    }
    Ok(ConnectionConfig {
        pg,
        ssl_mode,
        ssl_root_cert: tls.root_cert,
        ssl_cert: tls.cert,
        ssl_key: tls.key,
    })
}
