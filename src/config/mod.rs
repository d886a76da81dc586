//! Connection settings: URLs and libpq `key=value` strings, parsed once,
//! or a config built in code or taken from the driver's own; the `ssl*`
//! options read here, and a `Debug` that hides the password.
//!
//! One job a file: [`ConnectionConfig`] and what it tells (here), the
//! checks every config passes (`check`), building one in code (`builder`),
//! reading a string into one (`parse`), the URL form (`url`), the
//! `key=value` form (`keywords`), and the `ssl*` options (`ssl`).

mod builder;
mod check;
mod keywords;
mod parse;
mod ssl;
#[cfg(test)]
mod tests;
mod url;

use std::fmt::{self, Write as _};
use std::path::PathBuf;

use tokio_postgres::config::Host;

pub use builder::ConnectionConfigBuilder;
pub use ssl::SslMode;

/// Where and how to connect: a parsed connection string, or a config built
/// in code ([`ConnectionConfig::builder`]) or taken from the driver's
/// `tokio_postgres::Config` (`try_from`). Every one has passed the same
/// checks, whichever way it was made.
///
/// As a string it accepts `postgresql://`, `postgres://` and
/// `cockroachdb://` URLs (also SQLAlchemy's `cockroachdb+psycopg://` style,
/// so a Python service's setting can be shared as it is) and libpq
/// `key=value` strings. The `ssl*` options are read here rather than by
/// `tokio-postgres`, which knows neither `verify-ca`/`verify-full` nor the
/// certificate paths.
///
/// ```
/// use langchain_cockroachdb::{ConnectionConfig, SslMode};
///
/// let cfg: ConnectionConfig =
///     "cockroachdb://root@localhost/defaultdb?sslmode=disable".parse().unwrap();
/// assert_eq!(cfg.target(), "localhost:26257"); // CockroachDB's port by default
/// assert_eq!(cfg.ssl_mode(), SslMode::Disable);
///
/// let err = "postgresql://bob:s3cret@host:notaport/db".parse::<ConnectionConfig>().unwrap_err();
/// assert!(!err.to_string().contains("s3cret"));
/// ```
#[derive(Clone)]
pub struct ConnectionConfig {
    pub(crate) pg: tokio_postgres::Config,
    ssl_mode: SslMode,
    ssl_root_cert: Option<PathBuf>,
    ssl_cert: Option<PathBuf>,
    ssl_key: Option<PathBuf>,
}

impl ConnectionConfig {
    /// A config built in code, with no connection string to format (and no
    /// password written into one): see [`ConnectionConfigBuilder`].
    ///
    /// ```
    /// use langchain_cockroachdb::{ConnectionConfig, SslMode};
    ///
    /// # let secret = "s3cret";
    /// let config = ConnectionConfig::builder()
    ///     .host("db.example.com")
    ///     .port(26257)
    ///     .user("app")
    ///     .password(secret)
    ///     .dbname("chat")
    ///     .ssl_mode(SslMode::VerifyFull)
    ///     .ssl_root_cert("/certs/ca.crt")
    ///     .build()?;
    /// assert_eq!(config.target(), "db.example.com:26257");
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn builder() -> ConnectionConfigBuilder {
        ConnectionConfigBuilder::new()
    }

    /// The hosts and ports, as `host:port,host:port` (for messages and logs).
    ///
    /// ```
    /// # use langchain_cockroachdb::ConnectionConfig;
    /// let cfg: ConnectionConfig = "postgresql://root@n1:26257,n2:26257/db".parse()?;
    /// assert_eq!(cfg.target(), "n1:26257,n2:26257");
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn target(&self) -> String {
        target(&self.pg)
    }

    /// The database name, if the config names one.
    ///
    /// ```
    /// # use langchain_cockroachdb::ConnectionConfig;
    /// let cfg: ConnectionConfig = "host=localhost user=root dbname=chat".parse()?;
    /// assert_eq!(cfg.dbname(), Some("chat"));
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn dbname(&self) -> Option<&str> {
        self.pg.get_dbname()
    }

    /// The user name.
    ///
    /// ```
    /// # use langchain_cockroachdb::ConnectionConfig;
    /// let cfg: ConnectionConfig = "postgresql://app@localhost/db".parse()?;
    /// assert_eq!(cfg.user(), Some("app"));
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn user(&self) -> Option<&str> {
        self.pg.get_user()
    }

    /// The `sslmode` (default `prefer`).
    ///
    /// ```
    /// # use langchain_cockroachdb::{ConnectionConfig, SslMode};
    /// let cfg: ConnectionConfig = "postgresql://app@localhost/db".parse()?;
    /// assert_eq!(cfg.ssl_mode(), SslMode::Prefer);
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn ssl_mode(&self) -> SslMode {
        self.ssl_mode
    }

    /// Whether the config holds a password: a program that took
    /// it from its command line can warn that other users of the machine
    /// see it there (`ps`, shell history).
    ///
    /// ```
    /// # use langchain_cockroachdb::ConnectionConfig;
    /// assert!("postgresql://app:s3cret@db/chat".parse::<ConnectionConfig>()?.has_password());
    /// assert!("host=db user=app password=s3cret".parse::<ConnectionConfig>()?.has_password());
    /// assert!(!"postgresql://app@db/chat".parse::<ConnectionConfig>()?.has_password());
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn has_password(&self) -> bool {
        self.pg.get_password().is_some()
    }

    /// `sslrootcert`, `sslcert` and `sslkey`, the CA and client certificate paths.
    ///
    /// ```
    /// # use langchain_cockroachdb::ConnectionConfig;
    /// let cfg: ConnectionConfig = "postgresql://app@db/chat?sslrootcert=certs/ca.crt".parse()?;
    /// let [root, cert, key] = cfg.ssl_files();
    /// assert_eq!(root.and_then(|p| p.to_str()), Some("certs/ca.crt"));
    /// assert!(cert.is_none() && key.is_none());
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn ssl_files(&self) -> [Option<&std::path::Path>; 3] {
        [
            self.ssl_root_cert.as_deref(),
            self.ssl_cert.as_deref(),
            self.ssl_key.as_deref(),
        ]
    }

    /// Which database this is, for the process-wide table registry: two
    /// strings that reach the same database as the same user agree.
    pub(crate) fn identity(&self) -> String {
        format!(
            "{}@{}/{}",
            self.user().unwrap_or_default(),
            self.target(),
            self.dbname().unwrap_or_default()
        )
    }
}

impl fmt::Debug for ConnectionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Written by hand so that the password can never reach a log.
        let mut out = f.debug_struct("ConnectionConfig");
        debug_fields(&mut out, &self.pg);
        out.field("ssl_mode", &self.ssl_mode)
            .finish_non_exhaustive()
    }
}

/// What `Debug` shows of a driver config: never the password.
fn debug_fields(out: &mut fmt::DebugStruct<'_, '_>, pg: &tokio_postgres::Config) {
    out.field("user", &pg.get_user())
        .field("target", &target(pg))
        .field("dbname", &pg.get_dbname());
}

/// The hosts and ports of `pg`, as `host:port,host:port`.
fn target(pg: &tokio_postgres::Config) -> String {
    let ports = pg.get_ports();
    let mut out = String::new();
    for (i, host) in pg.get_hosts().iter().enumerate() {
        let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
        if i > 0 {
            out.push(',');
        }
        match host {
            Host::Tcp(name) => {
                let _ = write!(out, "{name}:{port}");
            }
            #[cfg(unix)]
            Host::Unix(path) => {
                let _ = write!(out, "{}/.s.PGSQL.{port}", path.display());
            }
        }
    }
    out
}
