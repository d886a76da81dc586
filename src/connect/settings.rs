//! The driver's settings that are not TLS: the connect timeout, TCP
//! keepalives and user timeout, and the driver's own `sslmode`.

use std::time::Duration;

use crate::config::{ConnectionConfig, SslMode};
use crate::error::Result;

use super::negotiate::Tls;

/// The driver config and connector for `config`, with `connect_timeout`
/// filled in unless the string set one, and TCP keepalives and a TCP user
/// timeout of `operation_timeout`, so that the kernel closes a connection
/// to a peer that stopped acknowledging (a partition, a dead node).
pub(crate) fn driver(
    config: &ConnectionConfig,
    connect_timeout: Duration,
    operation_timeout: Duration,
) -> Result<(tokio_postgres::Config, Tls)> {
    let tls = Tls::new(config)?;
    let mut pg = config.pg.clone();
    pg.ssl_mode(driver_mode(config.ssl_mode()));
    if pg.get_connect_timeout().is_none() {
        pg.connect_timeout(connect_timeout);
    }
    pg.keepalives(true)
        .keepalives_idle(Duration::from_secs(10))
        .keepalives_interval(Duration::from_secs(5))
        .keepalives_retries(3);
    if pg.get_tcp_user_timeout().is_none() {
        pg.tcp_user_timeout(operation_timeout);
    }
    Ok((pg, tls))
}

/// The driver's `sslmode` for ours: it knows only disable/prefer/require;
/// verification is the connector's job.
fn driver_mode(mode: SslMode) -> tokio_postgres::config::SslMode {
    use tokio_postgres::config::SslMode as Driver;
    match mode {
        SslMode::Disable => Driver::Disable,
        SslMode::Prefer if cfg!(feature = "tls") => Driver::Prefer,
        SslMode::Prefer => Driver::Disable,
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => Driver::Require,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn a_missing_ca_file_is_a_configuration_error_before_any_connection() {
        let cfg: ConnectionConfig =
            "postgresql://app@db.example.com/chat?sslmode=verify-full&sslrootcert=/nonexistent/ca.crt"
                .parse()
                .unwrap();
        assert!(matches!(
            driver(&cfg, Duration::from_secs(1), Duration::from_secs(1)),
            Err(Error::Config(_))
        ));
    }
}
