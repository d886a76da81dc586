//! TLS for both faces: libpq's `sslmode`s over rustls, with CA files and
//! client certificates, the way CockroachDB clusters hand them out.

#[cfg(feature = "tls")]
pub(crate) use rustls_impl::MakeRustls as Tls;
#[cfg(not(feature = "tls"))]
pub(crate) use tokio_postgres::NoTls as Tls;

use std::time::Duration;

use crate::config::{ConnectionConfig, SslMode};
use crate::error::{Error, Result};

/// The driver config and TLS connector for `config`, with `connect_timeout`
/// filled in unless the string set one, and TCP keepalives and a TCP user
/// timeout of `operation_timeout`, so that the kernel closes a connection
/// to a peer that stopped acknowledging (a partition, a dead node).
pub(crate) fn driver(
    config: &ConnectionConfig,
    connect_timeout: Duration,
    operation_timeout: Duration,
) -> Result<(tokio_postgres::Config, Tls)> {
    let tls = connector(config)?;
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

/// The TLS connector for `config`, its certificate files read now so that a
/// missing or bad file is a configuration error, not a connection failure.
#[cfg(not(feature = "tls"))]
pub(crate) fn connector(config: &ConnectionConfig) -> Result<Tls> {
    match config.ssl_mode() {
        SslMode::Disable | SslMode::Prefer => Ok(Tls),
        mode => Err(Error::Config(format!(
            "sslmode={} needs TLS: enable this crate's `tls` feature",
            mode.as_str()
        ))),
    }
}

/// The TLS connector for `config`, its certificate files read now so that a
/// missing or bad file is a configuration error, not a connection failure.
#[cfg(feature = "tls")]
pub(crate) fn connector(config: &ConnectionConfig) -> Result<Tls> {
    rustls_impl::MakeRustls::new(config)
}

#[cfg(feature = "tls")]
mod rustls_impl {
    use std::future::Future;
    use std::io;
    use std::path::{Path, PathBuf};
    use std::pin::Pin;
    use std::sync::Arc;
    use std::task::{Context, Poll};

    use rustls::client::WebPkiServerVerifier;
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
    use rustls::{
        CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
    };
    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
    use tokio_postgres::Socket;
    use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};

    use super::{ConnectionConfig, Error, Result, SslMode};

    /// Makes one TLS connector per connection attempt, for the host tried.
    #[derive(Clone)]
    pub(crate) struct MakeRustls(Arc<ClientConfig>);

    impl MakeRustls {
        pub(crate) fn new(config: &ConnectionConfig) -> Result<MakeRustls> {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let [root, cert, key] = config.ssl_files();
            // As libpq: `require` with a CA file checks the chain like verify-ca.
            let (roots, check_name) = match (config.ssl_mode(), root) {
                (SslMode::VerifyFull, _) => (Some(roots(root)?), true),
                (SslMode::VerifyCa, _) | (SslMode::Require, Some(_)) => (Some(roots(root)?), false),
                _ => (None, false),
            };
            let inner = match roots {
                Some(roots) => Some(
                    WebPkiServerVerifier::builder_with_provider(
                        Arc::new(roots),
                        Arc::clone(&provider),
                    )
                    .build()
                    .map_err(|e| Error::Config(format!("TLS: {e}")))?,
                ),
                None => None,
            };
            let verifier = Arc::new(Verifier {
                inner,
                check_name,
                provider: Arc::clone(&provider),
            });
            let builder = ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| Error::Config(format!("TLS: {e}")))?
                .dangerous()
                .with_custom_certificate_verifier(verifier);
            let tls = match (cert, key) {
                (Some(cert), Some(key)) => builder
                    .with_client_auth_cert(certificates(cert)?, private_key(key)?)
                    .map_err(|e| {
                        Error::Config(format!("TLS client certificate {}: {e}", cert.display()))
                    })?,
                (None, None) => builder.with_no_client_auth(),
                _ => {
                    return Err(Error::Config(
                        "sslcert and sslkey go together: give both or neither".into(),
                    ));
                }
            };
            Ok(MakeRustls(Arc::new(tls)))
        }
    }

    /// The CA certificates to trust: `sslrootcert`, `system` for the
    /// operating system's store, or libpq's default `~/.postgresql/root.crt`.
    fn roots(path: Option<&Path>) -> Result<RootCertStore> {
        let mut store = RootCertStore::empty();
        if path.is_some_and(|p| p == Path::new("system")) {
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
        } else {
            let default = std::env::var_os("HOME")
                .map(|home| PathBuf::from(home).join(".postgresql/root.crt"));
            let path =
                match (path, &default) {
                    (Some(path), _) => path,
                    (None, Some(default)) if default.exists() => default,
                    _ => return Err(Error::Config(
                        "sslmode=verify-ca/verify-full needs sslrootcert: a CA file, or `system`"
                            .into(),
                    )),
                };
            for cert in certificates(path)? {
                store
                    .add(cert)
                    .map_err(|e| Error::Config(format!("sslrootcert {}: {e}", path.display())))?;
            }
        }
        if store.is_empty() {
            return Err(Error::Config("sslrootcert holds no CA certificate".into()));
        }
        Ok(store)
    }

    fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect::<std::result::Result<Vec<_>, _>>())
            .map_err(|e| {
                Error::Config(format!(
                    "cannot read certificates from {}: {e}",
                    path.display()
                ))
            })?;
        if certs.is_empty() {
            return Err(Error::Config(format!(
                "{} holds no PEM certificate",
                path.display()
            )));
        }
        Ok(certs)
    }

    fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>> {
        PrivateKeyDer::from_pem_file(path).map_err(|e| {
            Error::Config(format!(
                "cannot read a private key from {}: {e}",
                path.display()
            ))
        })
    }

    /// Checks the server as the sslmode asks: not at all (`prefer`,
    /// `require`: encryption only, as in libpq), the chain (`verify-ca`), or
    /// the chain and the host name (`verify-full`).
    #[derive(Debug)]
    struct Verifier {
        inner: Option<Arc<WebPkiServerVerifier>>,
        check_name: bool,
        provider: Arc<CryptoProvider>,
    }

    impl ServerCertVerifier for Verifier {
        fn verify_server_cert(
            &self,
            end_entity: &CertificateDer<'_>,
            intermediates: &[CertificateDer<'_>],
            server_name: &ServerName<'_>,
            ocsp_response: &[u8],
            now: UnixTime,
        ) -> std::result::Result<ServerCertVerified, rustls::Error> {
            let Some(inner) = &self.inner else {
                return Ok(ServerCertVerified::assertion());
            };
            match inner.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            ) {
                Err(rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForName
                    | CertificateError::NotValidForNameContext { .. },
                )) if !self.check_name => Ok(ServerCertVerified::assertion()),
                other => other,
            }
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls12_signature(
                message,
                cert,
                dss,
                &self.provider.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls13_signature(
                message,
                cert,
                dss,
                &self.provider.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.provider
                .signature_verification_algorithms
                .supported_schemes()
        }
    }

    impl MakeTlsConnect<Socket> for MakeRustls {
        type Stream = RustlsStream;
        type TlsConnect = RustlsConnect;
        type Error = io::Error;

        fn make_tls_connect(&mut self, domain: &str) -> io::Result<RustlsConnect> {
            let name = ServerName::try_from(domain.to_owned())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            Ok(RustlsConnect {
                config: Arc::clone(&self.0),
                name,
            })
        }
    }

    /// Connects one socket to one host.
    pub(crate) struct RustlsConnect {
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
    }

    impl TlsConnect<Socket> for RustlsConnect {
        type Stream = RustlsStream;
        type Error = io::Error;
        type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream>> + Send>>;

        fn connect(self, socket: Socket) -> Self::Future {
            Box::pin(async move {
                let stream = tokio_rustls::TlsConnector::from(self.config)
                    .connect(self.name, socket)
                    .await?;
                Ok(RustlsStream(stream))
            })
        }
    }

    /// A TLS session over the driver's socket.
    pub(crate) struct RustlsStream(tokio_rustls::client::TlsStream<Socket>);

    impl TlsStream for RustlsStream {
        fn channel_binding(&self) -> ChannelBinding {
            // SCRAM then authenticates without channel binding, as libpq
            // does with channel_binding=prefer when none is offered.
            ChannelBinding::none()
        }
    }

    impl AsyncRead for RustlsStream {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
        }
    }

    impl AsyncWrite for RustlsStream {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
        }

        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.get_mut().0).poll_flush(cx)
        }

        fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
