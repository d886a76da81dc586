//! Connection strings: URLs and libpq `key=value` strings, parsed once,
//! with the `ssl*` options read here and a `Debug` that hides the password.
//!
//! One job a file: [`ConnectionConfig`] and what it tells (here), reading
//! a string into one (`parse`), the URL form (`url`), the `key=value`
//! form (`keywords`), and the `ssl*` options (`ssl`).

mod keywords;
mod parse;
mod ssl;
#[cfg(test)]
mod tests;
mod url;

use std::fmt::{self, Write as _};
use std::path::PathBuf;

use tokio_postgres::config::Host;

pub use ssl::SslMode;

/// A parsed connection string.
///
/// Accepts `postgresql://`, `postgres://` and `cockroachdb://` URLs (also
/// SQLAlchemy's `cockroachdb+psycopg://` style, so a Python service's setting
/// can be shared as it is) and libpq `key=value` strings. The `ssl*` options
/// are read here rather than by `tokio-postgres`, which knows neither
/// `verify-ca`/`verify-full` nor the certificate paths.
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
    /// The hosts and ports, as `host:port,host:port` (for messages and logs).
    ///
    /// ```
    /// # use langchain_cockroachdb::ConnectionConfig;
    /// let cfg: ConnectionConfig = "postgresql://root@n1:26257,n2:26257/db".parse()?;
    /// assert_eq!(cfg.target(), "n1:26257,n2:26257");
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn target(&self) -> String {
        let ports = self.pg.get_ports();
        let mut out = String::new();
        for (i, host) in self.pg.get_hosts().iter().enumerate() {
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

    /// The database name, if the string gives one.
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

    /// Whether the connection string holds a password: a program that took
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
        f.debug_struct("ConnectionConfig")
            .field("user", &self.user())
            .field("target", &self.target())
            .field("dbname", &self.dbname())
            .field("ssl_mode", &self.ssl_mode)
            .finish_non_exhaustive()
    }
}
