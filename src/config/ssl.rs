//! The `ssl*` options: libpq's `sslmode`, and the options this crate takes
//! out of a connection string before the driver reads the rest.

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

    pub(super) fn parse(value: &str) -> Result<SslMode> {
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

/// What [`SslParams::take`] took out of a connection string, as written:
/// the driver knows neither `verify-ca`/`verify-full` nor the certificate
/// paths.
#[derive(Default)]
pub(super) struct SslParams {
    pub(super) mode: Option<String>,
    pub(super) root_cert: Option<String>,
    pub(super) cert: Option<String>,
    pub(super) key: Option<String>,
    /// Not TLS, but also an option the driver does not know: CockroachDB's
    /// `results_buffer_size`, passed on in `options` (see `parse`).
    pub(super) results_buffer_size: Option<String>,
}

impl SslParams {
    /// Takes the option if it is one of ours; returns `false` to leave it to
    /// the driver.
    pub(super) fn take(&mut self, key: &str, value: String) -> bool {
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
