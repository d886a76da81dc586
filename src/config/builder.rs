//! A [`ConnectionConfig`] built in code, or taken from the driver's own
//! `tokio_postgres::Config`: no connection string to format, and so no
//! password written into one.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};

use super::check::{TlsSettings, check};
use super::ssl::SslMode;
use super::{ConnectionConfig, debug_fields};

/// A [`ConnectionConfig`] built in code, in the style of the driver's
/// `Config`: a setter per setting, each taking and returning the builder,
/// and [`build`](Self::build) at the end, which checks what parsing checks
/// (a host and a user named, `sslrootcert=system` only with `verify-full`,
/// ...) and fails with [`Error::Config`] before any connection.
///
/// Start from [`ConnectionConfig::builder`], from a driver config
/// (`ConnectionConfigBuilder::from(tokio_postgres_config)`), or from a
/// parsed string (`ConnectionConfigBuilder::from(config)`, to add what the
/// string leaves out: a password from a secret store, say).
///
/// ```
/// use langchain_cockroachdb::{ConnectionConfig, SslMode};
///
/// # let secret = "s3cret".to_owned();
/// let config = ConnectionConfig::builder()
///     .host("db.example.com")
///     .port(26257)
///     .user("app")
///     .password(&secret)
///     .dbname("chat")
///     .ssl_mode(SslMode::VerifyFull)
///     .ssl_root_cert("/certs/ca.crt")
///     .build()?;
/// assert_eq!(config.target(), "db.example.com:26257");
/// assert_eq!(config.ssl_mode(), SslMode::VerifyFull);
/// assert!(config.has_password() && !format!("{config:?}").contains("s3cret"));
///
/// // What a connection string must name, code must name too.
/// let err = ConnectionConfig::builder().host("db.example.com").build().unwrap_err();
/// assert!(matches!(err, langchain_cockroachdb::Error::Config(_)));
/// # Ok::<(), langchain_cockroachdb::Error>(())
/// ```
#[derive(Clone, Default)]
#[must_use]
pub struct ConnectionConfigBuilder {
    pg: tokio_postgres::Config,
    tls: TlsSettings,
}

impl ConnectionConfigBuilder {
    /// An empty builder: no host, no user, `sslmode` not given (so
    /// `prefer`, or `verify-full` with `sslrootcert=system`).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a host, tried in the order added; on Unix, a path starting with
    /// `/` is the directory of a Unix socket.
    ///
    /// ```
    /// # use langchain_cockroachdb::ConnectionConfig;
    /// let config = ConnectionConfig::builder()
    ///     .host("n1").port(26257)
    ///     .host("n2").port(26258)
    ///     .user("app")
    ///     .build()?;
    /// assert_eq!(config.target(), "n1:26257,n2:26258");
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.pg.host(host);
        self
    }

    /// Adds a port. Give none (PostgreSQL's 5432 for every host: give
    /// CockroachDB's 26257 yourself), one for every host, or one per host,
    /// in the order of the hosts; any other count is an error at
    /// [`build`](Self::build).
    ///
    /// ```
    /// # use langchain_cockroachdb::ConnectionConfig;
    /// let config = ConnectionConfig::builder().host("n1").host("n2").port(26257).user("app").build()?;
    /// assert_eq!(config.target(), "n1:26257,n2:26257");
    /// assert!(ConnectionConfig::builder().host("n1").port(1).port(2).user("app").build().is_err());
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn port(mut self, port: u16) -> Self {
        self.pg.port(port);
        self
    }

    /// Sets the user to log in as.
    ///
    /// ```
    /// # use langchain_cockroachdb::ConnectionConfig;
    /// let config = ConnectionConfig::builder().host("db").user("app").build()?;
    /// assert_eq!(config.user(), Some("app"));
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.pg.user(user);
        self
    }

    /// Sets the password. It never shows in `Debug`, nor in an error.
    ///
    /// ```
    /// # use langchain_cockroachdb::ConnectionConfig;
    /// let builder = ConnectionConfig::builder().host("db").user("app").password("hunter2");
    /// assert!(!format!("{builder:?}").contains("hunter2"));
    /// assert!(builder.build()?.has_password());
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn password(mut self, password: impl AsRef<[u8]>) -> Self {
        self.pg.password(password);
        self
    }

    /// Sets the database name.
    ///
    /// ```
    /// # use langchain_cockroachdb::ConnectionConfig;
    /// let config = ConnectionConfig::builder().host("db").user("app").dbname("chat").build()?;
    /// assert_eq!(config.dbname(), Some("chat"));
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn dbname(mut self, dbname: impl Into<String>) -> Self {
        self.pg.dbname(dbname);
        self
    }

    /// Sets the `application_name` the server shows for the connections
    /// (default `langchain-cockroachdb`).
    ///
    /// ```
    /// # use langchain_cockroachdb::ConnectionConfig;
    /// let config = ConnectionConfig::builder().host("db").user("app").application_name("chat-api").build()?;
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn application_name(mut self, application_name: impl Into<String>) -> Self {
        self.pg.application_name(application_name);
        self
    }

    /// Sets the command-line options sent to the server at login (libpq's
    /// `options`), replacing any: `-c name=value` settings, or
    /// CockroachDB's `--cluster=name` for a serverless cluster.
    ///
    /// ```
    /// # use langchain_cockroachdb::ConnectionConfig;
    /// let config = ConnectionConfig::builder()
    ///     .host("free-tier.gcp-us-central1.cockroachlabs.cloud").port(26257).user("app")
    ///     .options("--cluster=my-cluster-123 -c statement_timeout=30s")
    ///     .build()?;
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn options(mut self, options: impl Into<String>) -> Self {
        self.pg.options(options);
        self
    }

    /// Sets the `sslmode`. Without one it is `prefer`, or `verify-full`
    /// with `ssl_root_cert("system")`, which refuses any other.
    ///
    /// ```
    /// # use langchain_cockroachdb::{ConnectionConfig, SslMode};
    /// let system = ConnectionConfig::builder().host("db").user("app").ssl_root_cert("system");
    /// assert_eq!(system.clone().build()?.ssl_mode(), SslMode::VerifyFull);
    /// assert!(system.ssl_mode(SslMode::Require).build().is_err());
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn ssl_mode(mut self, ssl_mode: SslMode) -> Self {
        self.tls.mode = Some(ssl_mode);
        self
    }

    /// Sets `sslrootcert`: the file of the CA certificates to trust, or
    /// `system` for the operating system's store. The file is read when an
    /// engine is made from the config.
    pub fn ssl_root_cert(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls.root_cert = Some(path.into());
        self
    }

    /// Sets `sslcert`, the client certificate file (with
    /// [`ssl_key`](Self::ssl_key)).
    pub fn ssl_cert(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls.cert = Some(path.into());
        self
    }

    /// Sets `sslkey`, the client certificate's private key file (with
    /// [`ssl_cert`](Self::ssl_cert)).
    ///
    /// ```
    /// # use langchain_cockroachdb::{ConnectionConfig, SslMode};
    /// let config = ConnectionConfig::builder()
    ///     .host("db").user("app")
    ///     .ssl_mode(SslMode::VerifyFull)
    ///     .ssl_root_cert("certs/ca.crt")
    ///     .ssl_cert("certs/client.app.crt")
    ///     .ssl_key("certs/client.app.key")
    ///     .build()?;
    /// let [root, cert, key] = config.ssl_files();
    /// assert_eq!(key.and_then(|p| p.to_str()), Some("certs/client.app.key"));
    /// # Ok::<(), langchain_cockroachdb::Error>(())
    /// ```
    pub fn ssl_key(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls.key = Some(path.into());
        self
    }

    /// Sets how long one attempt to open a connection may take, overriding
    /// [`EngineOptions::connect_timeout`](crate::EngineOptions::connect_timeout).
    pub fn connect_timeout(mut self, connect_timeout: Duration) -> Self {
        self.pg.connect_timeout(connect_timeout);
        self
    }

    /// The config, checked as a parsed connection string is: an
    /// [`Error::Config`] if it names no host or no user, has more ports
    /// than one and not one per host, sets `sslrootcert=system` with an
    /// `sslmode` other than `verify-full`, or requires channel binding.
    /// Certificate files are read later, when an engine is made.
    ///
    /// ```
    /// # use langchain_cockroachdb::{ConnectionConfig, Error};
    /// let no_user = ConnectionConfig::builder().host("db").password("hunter2").build();
    /// match no_user {
    ///     Err(Error::Config(text)) => assert!(text.contains("no user") && !text.contains("hunter2")),
    ///     other => panic!("{other:?}"),
    /// }
    /// ```
    pub fn build(self) -> Result<ConnectionConfig> {
        check(self.pg, self.tls, "the connection config")
    }
}

/// The driver's config as it is (hosts, ports, user, password, database,
/// options, application name, timeouts, keepalives...), with its
/// `sslmode` where this crate's says the same: `disable` and `require`.
/// The driver has no `verify-ca` or `verify-full`, and cannot tell a
/// `prefer` it was given from its default, so `prefer` is taken as not
/// given: set [`ssl_mode`](ConnectionConfigBuilder::ssl_mode) and
/// [`ssl_root_cert`](ConnectionConfigBuilder::ssl_root_cert) on the
/// builder for a verified connection.
///
/// ```
/// use langchain_cockroachdb::{ConnectionConfig, ConnectionConfigBuilder, SslMode};
/// use langchain_cockroachdb::tokio_postgres;
///
/// let mut driver = tokio_postgres::Config::new();
/// driver.host("db.example.com").port(26257).user("app").password("s3cret").dbname("chat");
/// let config = ConnectionConfigBuilder::from(driver)
///     .ssl_mode(SslMode::VerifyFull)
///     .ssl_root_cert("/certs/ca.crt")
///     .build()?;
/// assert_eq!(config.target(), "db.example.com:26257");
/// assert_eq!(config.ssl_mode(), SslMode::VerifyFull);
/// assert!(!format!("{config:?}").contains("s3cret"));
/// # Ok::<(), langchain_cockroachdb::Error>(())
/// ```
impl From<tokio_postgres::Config> for ConnectionConfigBuilder {
    fn from(pg: tokio_postgres::Config) -> Self {
        use tokio_postgres::config::SslMode as Driver;
        let mode = match pg.get_ssl_mode() {
            Driver::Disable => Some(SslMode::Disable),
            Driver::Require => Some(SslMode::Require),
            _ => None,
        };
        let tls = TlsSettings {
            mode,
            ..TlsSettings::default()
        };
        ConnectionConfigBuilder { pg, tls }
    }
}

/// A config to change: its settings, its `sslmode` as given.
///
/// ```
/// use langchain_cockroachdb::{ConnectionConfig, ConnectionConfigBuilder};
///
/// let from_settings: ConnectionConfig = "postgresql://app@db.example.com:26257/chat".parse()?;
/// # let secret = "s3cret";
/// let config = ConnectionConfigBuilder::from(from_settings).password(secret).build()?;
/// assert!(config.has_password());
/// # Ok::<(), langchain_cockroachdb::Error>(())
/// ```
impl From<ConnectionConfig> for ConnectionConfigBuilder {
    fn from(config: ConnectionConfig) -> Self {
        ConnectionConfigBuilder {
            pg: config.pg,
            tls: TlsSettings {
                mode: Some(config.ssl_mode),
                root_cert: config.ssl_root_cert,
                cert: config.ssl_cert,
                key: config.ssl_key,
            },
        }
    }
}

/// The driver's config, checked: [`ConnectionConfigBuilder::from`] it,
/// then [`build`](ConnectionConfigBuilder::build).
///
/// ```
/// use langchain_cockroachdb::{ConnectionConfig, Error, tokio_postgres};
///
/// let driver: tokio_postgres::Config = "postgresql://app:s3cret@db:26257/chat?sslmode=require"
///     .parse()
///     .expect("a valid URL");
/// let config = ConnectionConfig::try_from(driver)?;
/// assert_eq!(config.ssl_mode(), langchain_cockroachdb::SslMode::Require);
/// assert!(matches!(ConnectionConfig::try_from(tokio_postgres::Config::new()), Err(Error::Config(_))));
/// # Ok::<(), langchain_cockroachdb::Error>(())
/// ```
impl TryFrom<tokio_postgres::Config> for ConnectionConfig {
    type Error = Error;

    fn try_from(pg: tokio_postgres::Config) -> Result<Self> {
        ConnectionConfigBuilder::from(pg).build()
    }
}

impl fmt::Debug for ConnectionConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Written by hand so that the password can never reach a log.
        let mut out = f.debug_struct("ConnectionConfigBuilder");
        debug_fields(&mut out, &self.pg);
        out.field("ssl_mode", &self.tls.mode)
            .finish_non_exhaustive()
    }
}
