//! Connection strings: URLs and libpq `key=value` strings, parsed once,
//! with the `ssl*` options read here and a `Debug` that hides the password.

use std::fmt::{self, Write as _};
use std::path::PathBuf;
use std::str::FromStr;

use tokio_postgres::config::Host;

use crate::error::{Error, Result};

/// How a connection uses TLS, as in libpq's `sslmode`.
///
/// ```
/// use langchain_cockroachdb::{ConnectionConfig, SslMode};
/// let cfg: ConnectionConfig = "postgresql://root@localhost/db?sslmode=verify-full".parse()?;
/// assert_eq!(cfg.ssl_mode(), SslMode::VerifyFull);
/// # Ok::<(), langchain_cockroachdb::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SslMode {
    /// Never use TLS.
    Disable,
    /// Use TLS when it is available, plain text otherwise (libpq's default).
    #[default]
    Prefer,
    /// Always use TLS, without checking the server's certificate.
    Require,
    /// Always use TLS and check that a trusted CA signed the server's certificate.
    VerifyCa,
    /// As `VerifyCa`, and check that the certificate names the host.
    VerifyFull,
}

impl SslMode {
    /// The name libpq gives it.
    ///
    /// ```
    /// assert_eq!(langchain_cockroachdb::SslMode::VerifyFull.as_str(), "verify-full");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    fn parse(value: &str) -> Result<SslMode> {
        Ok(match value {
            "disable" => SslMode::Disable,
            "allow" | "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(Error::Config(format!(
                    "sslmode {other:?} is not one of disable, allow, prefer, require, verify-ca, verify-full"
                )));
            }
        })
    }
}

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

impl FromStr for ConnectionConfig {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        // Whatever a step below says, it never repeats the password.
        parse(s).map_err(|e| match e {
            Error::Config(text) => Error::Config(without_secrets(s, text)),
            other => other,
        })
    }
}

/// `text` without anything that could be the password of `s`.
fn without_secrets(s: &str, mut text: String) -> String {
    let secrets = match url_parts(s) {
        Some((_, rest)) => match rest.rfind('@').and_then(|at| rest[..at].split_once(':')) {
            Some((_, password)) => vec![password.to_owned(), decode(password).unwrap_or_default()],
            None => Vec::new(),
        },
        None => keyword_pairs(s)
            .unwrap_or_default()
            .into_iter()
            .filter(|(key, _)| key == "password")
            .map(|(_, value)| value)
            .collect(),
    };
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        text = text.replace(secret.as_str(), "***");
    }
    text
}

fn parse(s: &str) -> Result<ConnectionConfig> {
    let mut ssl = SslParams::default();
    let pg_text = match url_parts(s) {
        Some((scheme, rest)) => {
            let rest = encode_userinfo(rest);
            if scheme_is_cockroach(scheme)? {
                url_without_ssl(&with_default_port(&rest, 26257), &mut ssl)?
            } else {
                url_without_ssl(&rest, &mut ssl)?
            }
        }
        None => keyword_without_ssl(s, &mut ssl)?,
    };
    let mut pg = tokio_postgres::Config::from_str(&pg_text)
        .map_err(|e| Error::Config(format!("invalid connection string: {}", cause(&e))))?;
    if pg.get_hosts().is_empty() {
        return Err(Error::Config("the connection string names no host".into()));
    }
    if pg.get_user().is_none_or(str::is_empty) {
        return Err(Error::Config("the connection string names no user".into()));
    }
    if pg.get_application_name().is_none() {
        pg.application_name("langchain-cockroachdb");
    }
    if let Some(size) = &ssl.results_buffer_size {
        // CockroachDB reads it from the startup message or from `options`
        // (`pkg/sql/pgwire/pre_serve_options.go`); the driver only sends
        // the latter. PostgreSQL refuses it there by name.
        if size.is_empty() || !size.chars().all(|c| c.is_ascii_alphanumeric() || c == '.') {
            return Err(Error::Config(format!(
                "results_buffer_size {size:?} is not a byte size (such as 16384 or 512KiB)"
            )));
        }
        let set = format!("-c results_buffer_size={size}");
        let options = match pg.get_options() {
            Some(options) if !options.is_empty() => format!("{options} {set}"),
            _ => set,
        };
        pg.options(&options);
    }
    // libpq 16: `sslrootcert=system` (any publicly trusted CA) means
    // nothing without the host name check, so it implies verify-full and
    // refuses the weaker modes.
    let system_roots = ssl.root_cert.as_deref() == Some("system");
    let ssl_mode = match ssl.mode.as_deref() {
        Some(mode) => SslMode::parse(mode)?,
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
    if pg.get_channel_binding() == tokio_postgres::config::ChannelBinding::Require {
        return Err(Error::Config(
            "channel_binding=require is not supported (SCRAM-SHA-256-PLUS); use \
             channel_binding=prefer or disable, and sslmode=verify-full for a verified server"
                .into(),
        ));
    }
    Ok(ConnectionConfig {
        pg,
        ssl_mode,
        ssl_root_cert: ssl.root_cert.map(PathBuf::from),
        ssl_cert: ssl.cert.map(PathBuf::from),
        ssl_key: ssl.key.map(PathBuf::from),
    })
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

#[derive(Default)]
struct SslParams {
    mode: Option<String>,
    root_cert: Option<String>,
    cert: Option<String>,
    key: Option<String>,
    /// Not TLS, but also an option the driver does not know: CockroachDB's
    /// `results_buffer_size`, passed on in `options` (see `parse`).
    results_buffer_size: Option<String>,
}

impl SslParams {
    /// Takes the option if it is one of ours; returns `false` to leave it to
    /// the driver.
    fn take(&mut self, key: &str, value: String) -> bool {
        let slot = match key {
            "sslmode" => &mut self.mode,
            "sslrootcert" => &mut self.root_cert,
            "sslcert" => &mut self.cert,
            "sslkey" => &mut self.key,
            "results_buffer_size" => &mut self.results_buffer_size,
            _ => return false,
        };
        *slot = Some(value);
        true
    }
}

/// The scheme and the rest of `s` when it is a URL: it starts with a
/// scheme (a letter, then letters, digits, `+`, `-` or `.`) and `://`. A
/// keyword string whose value holds `://` is not one.
fn url_parts(s: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = s.split_once("://")?;
    let mut chars = scheme.chars();
    let starts = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let valid = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    (starts && valid).then_some((scheme, rest))
}

fn scheme_is_cockroach(scheme: &str) -> Result<bool> {
    let base = scheme
        .split('+')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match base.as_str() {
        "postgres" | "postgresql" => Ok(false),
        "cockroachdb" => Ok(true),
        _ => Err(Error::Config(format!(
            "unsupported URL scheme {scheme:?}: use postgresql://, postgres:// or cockroachdb://"
        ))),
    }
}

/// Percent-encodes what a user name or password holds that a URL parser
/// would read as structure (`/`, `?`, `#`, `@`, `:` in the password, a `%`
/// that starts no escape, spaces, quotes, non-ASCII), so that such a
/// password reaches the server whole and never ends up in a host, a path
/// or a query option (and so in an error or a log). The credentials end at
/// the last `@` of the URL: an `@` in a query value must be encoded (`%40`).
fn encode_userinfo(rest: &str) -> String {
    let Some(at) = rest.rfind('@') else {
        return rest.to_owned();
    };
    let (userinfo, tail) = rest.split_at(at);
    let encode = |part: &str| {
        let bytes = part.as_bytes();
        let mut out = String::with_capacity(part.len());
        for (i, &b) in bytes.iter().enumerate() {
            let escape = b == b'%'
                && bytes
                    .get(i + 1..i + 3)
                    .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit));
            if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=".contains(&b) || escape {
                out.push(char::from(b));
            } else {
                let _ = write!(out, "%{b:02X}");
            }
        }
        out
    };
    match userinfo.split_once(':') {
        Some((user, password)) => format!("{}:{}{tail}", encode(user), encode(password)),
        None => format!("{}{tail}", encode(userinfo)),
    }
}

/// Gives each host of a URL's authority that names no port the port `port`
/// (the driver would assume PostgreSQL's 5432).
fn with_default_port(rest: &str, port: u16) -> String {
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (credentials, hosts) = match authority.rfind('@') {
        Some(at) => authority.split_at(at + 1),
        None => ("", authority),
    };
    let hosts: Vec<String> = hosts
        .split(',')
        .map(|host| {
            let has_port = match host.strip_prefix('[') {
                Some(v6) => v6.contains("]:"),
                None => host.contains(':'),
            };
            if host.is_empty() || has_port {
                host.to_owned()
            } else {
                format!("{host}:{port}")
            }
        })
        .collect();
    format!("{credentials}{}{tail}", hosts.join(","))
}

/// Rewrites `rest` (the URL after `scheme://`) as a `postgresql://` URL
/// without the `ssl*` query options, which go to `ssl`.
fn url_without_ssl(rest: &str, ssl: &mut SslParams) -> Result<String> {
    let (base, query) = rest.split_once('?').unwrap_or((rest, ""));
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').ok_or_else(|| {
            Error::Config(format!(
                "query option {:?} has no value",
                decode(pair).unwrap_or_default()
            ))
        })?;
        if !ssl.take(&decode(key)?, decode(value)?) {
            kept.push(pair);
        }
    }
    let mut url = format!("postgresql://{base}");
    if !kept.is_empty() {
        url.push('?');
        url.push_str(&kept.join("&"));
    }
    Ok(url)
}

fn decode(s: &str) -> Result<String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| Error::Config("a URL part is not valid UTF-8 after percent-decoding".into()))
}

/// Rewrites a libpq `key=value` string without the `ssl*` options.
fn keyword_without_ssl(s: &str, ssl: &mut SslParams) -> Result<String> {
    let mut out = String::new();
    for (key, value) in keyword_pairs(s)? {
        if !ssl.take(&key, value.clone()) {
            let escaped = value.replace('\\', "\\\\").replace('\'', "\\'");
            let _ = write!(out, "{key}='{escaped}' ");
        }
    }
    Ok(out)
}

/// Splits `key = value` pairs the way libpq does: values may be quoted with
/// single quotes, with `\'` and `\\` escapes inside.
fn keyword_pairs(s: &str) -> Result<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(pairs);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(Error::Config(format!(
                "expected `=` after the option name ending at character {} of the connection string",
                s.chars().count() - chars.clone().count()
            )));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    Some('\\') => value.extend(chars.next()),
                    Some('\'') => break,
                    Some(c) => value.push(c),
                    None => {
                        return Err(Error::Config(format!(
                            "the quoted value of {key:?} in the connection string is not closed"
                        )));
                    }
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                value.push(c);
            }
        }
        pairs.push((key, value));
    }
}

/// The innermost message of a driver config error: it names options, never
/// their values, so it is safe to show.
fn cause(e: &tokio_postgres::Error) -> String {
    std::error::Error::source(e).map_or_else(|| e.to_string(), ToString::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<ConnectionConfig> {
        s.parse()
    }

    #[test]
    fn urls_of_every_scheme() {
        for url in [
            "postgresql://root@localhost:26257/defaultdb?sslmode=disable",
            "postgres://root@localhost:26257/defaultdb?sslmode=disable",
            "cockroachdb://root@localhost:26257/defaultdb?sslmode=disable",
            "cockroachdb+psycopg://root@localhost:26257/defaultdb?sslmode=disable",
        ] {
            let cfg = parse(url).unwrap();
            assert_eq!(cfg.target(), "localhost:26257", "{url}");
            assert_eq!(cfg.dbname(), Some("defaultdb"));
            assert_eq!(cfg.user(), Some("root"));
            assert_eq!(cfg.ssl_mode(), SslMode::Disable);
        }
    }

    #[test]
    fn ssl_options_are_ours_and_the_rest_reach_the_driver() {
        let cfg = parse(
            "postgresql://app:pw@db.example.com:26257/chat?sslmode=verify-full&sslrootcert=%2Ftmp%2Fca.crt\
             &sslcert=/c.crt&sslkey=/c.key&options=--cluster%3Dmy-cluster&application_name=bot",
        )
        .unwrap();
        assert_eq!(cfg.ssl_mode(), SslMode::VerifyFull);
        let [root, cert, key] = cfg.ssl_files();
        assert_eq!(root.unwrap().to_str(), Some("/tmp/ca.crt"));
        assert_eq!(cert.unwrap().to_str(), Some("/c.crt"));
        assert_eq!(key.unwrap().to_str(), Some("/c.key"));
        assert_eq!(cfg.pg.get_options(), Some("--cluster=my-cluster"));
        assert_eq!(cfg.pg.get_application_name(), Some("bot"));
        // CockroachDB's connection parameters: passed on, or refused by name.
        let cfg =
            parse("postgresql://u@h/db?options=--cluster%3Dc&results_buffer_size=512KiB").unwrap();
        let options = cfg.pg.get_options();
        assert_eq!(options, Some("--cluster=c -c results_buffer_size=512KiB"));
        let cfg = parse("host=h user=u results_buffer_size=16384").unwrap();
        assert_eq!(cfg.pg.get_options(), Some("-c results_buffer_size=16384"));
        let err = parse("postgresql://u@h/db?results_buffer_size=1%20-c%20x%3Dy").unwrap_err();
        assert!(err.to_string().contains("results_buffer_size"), "{err}");
    }

    #[test]
    fn system_roots_mean_verify_full_and_nothing_weaker() {
        let cfg = parse("postgresql://app@db/chat?sslrootcert=system").unwrap();
        assert_eq!(cfg.ssl_mode(), SslMode::VerifyFull);
        let cfg = parse("host=db user=app sslrootcert=system sslmode=verify-full").unwrap();
        assert_eq!(cfg.ssl_mode(), SslMode::VerifyFull);
        for mode in ["disable", "allow", "prefer", "require", "verify-ca"] {
            let url = format!("postgresql://app@db/chat?sslrootcert=system&sslmode={mode}");
            match parse(&url) {
                Err(Error::Config(text)) => {
                    assert!(
                        text.contains("sslrootcert=system needs sslmode=verify-full"),
                        "{text}"
                    )
                }
                other => panic!("{mode}: expected a configuration error, got {other:?}"),
            }
        }
    }

    #[test]
    fn channel_binding_require_is_refused_up_front() {
        for s in [
            "postgresql://app@db/chat?channel_binding=require&sslmode=verify-full&sslrootcert=system",
            "host=db user=app channel_binding=require",
        ] {
            match parse(s) {
                Err(Error::Config(text)) => {
                    assert!(text.contains("channel_binding=require"), "{text}")
                }
                other => panic!("expected a configuration error, got {other:?}"),
            }
        }
        for ok in ["prefer", "disable"] {
            parse(&format!("postgresql://app@db/chat?channel_binding={ok}")).unwrap();
        }
    }

    #[test]
    fn a_misplaced_multibyte_character_is_an_error_not_a_panic() {
        let err = parse("host=db user=app password pässwort").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("character 27"), "{text}");
        assert!(!text.contains("pässwort"), "{text}");
    }

    #[test]
    fn keyword_value_strings() {
        let cfg = parse(
            "host=localhost port=5433 user=root dbname='my db' password='it\\'s' sslmode=require",
        )
        .unwrap();
        assert_eq!(cfg.target(), "localhost:5433");
        assert_eq!(cfg.dbname(), Some("my db"));
        assert_eq!(cfg.pg.get_password(), Some(&b"it's"[..]));
        assert_eq!(cfg.ssl_mode(), SslMode::Require);
        assert_eq!(cfg.pg.get_application_name(), Some("langchain-cockroachdb"));
    }

    #[test]
    fn cockroachdb_urls_default_to_port_26257() {
        let cfg = parse("cockroachdb://u:p@a,b:26300,[::1]/db?sslmode=disable").unwrap();
        assert_eq!(cfg.target(), "a:26257,b:26300,::1:26257");
        assert_eq!(parse("postgresql://u@a/db").unwrap().target(), "a:5432");
    }

    #[test]
    fn several_hosts() {
        let cfg = parse("postgresql://root@n1:26257,n2:26258,n3/db").unwrap();
        assert_eq!(cfg.target(), "n1:26257,n2:26258,n3:5432");
    }

    #[test]
    fn malformed_strings_are_config_errors_without_the_password() {
        for bad in [
            "mysql://root:hunter2@localhost/db",
            "postgresql://root:hunter2@localhost:99999/db",
            "postgresql://root:hunter2@localhost/db?sslmode=sometimes",
            "postgresql://root:hunter2@localhost/db?bogus=1",
            "postgresql://root:hunter2@localhost/db?novalue",
            "postgresql://:hunter2@localhost/db",
            "postgresql://root:hunter2@/db",
            "host=localhost user=root password='hunter2",
            "host=localhost user=root password hunter2",
            "",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(matches!(err, Error::Config(_)), "{bad}: {err:?}");
            assert!(!err.to_string().contains("hunter2"), "{bad}: {err}");
            assert!(!format!("{err:?}").contains("hunter2"), "{bad}: {err:?}");
        }
    }

    #[test]
    fn passwords_with_any_character_reach_the_driver_whole_and_nothing_else() {
        for password in [
            "s3cret?PW",
            "p@ss/word",
            "a#b%zz",
            "qu'o\"te",
            "spa ce",
            "päss",
            "x:y",
        ] {
            let url =
                format!("postgresql://bob:{password}@db.example.com:5432/chat?sslmode=disable");
            let cfg = parse(&url).unwrap_or_else(|e| panic!("{password}: {e}"));
            assert_eq!(
                cfg.pg.get_password(),
                Some(password.as_bytes()),
                "{password}"
            );
            assert_eq!(cfg.user(), Some("bob"));
            assert_eq!(cfg.target(), "db.example.com:5432");
            assert_eq!(cfg.dbname(), Some("chat"));
            assert!(!format!("{cfg:?}").contains(password), "{password}");
            // Broken elsewhere: the error does not show it either.
            let bad = format!("postgresql://bob:{password}@db.example.com:notaport/chat?novalue");
            let err = parse(&bad).unwrap_err();
            assert!(!err.to_string().contains(password), "{password}: {err}");
        }
        let err = parse("postgresql://bob:s3cretPW@127.0.0.1:1/db?x").unwrap_err();
        assert!(!err.to_string().contains("s3cretPW"), "{err}");
    }

    #[test]
    fn debug_never_shows_the_password() {
        let cfg = parse("postgresql://root:hunter2@localhost/db").unwrap();
        assert!(!format!("{cfg:?}").contains("hunter2"));
    }
}
