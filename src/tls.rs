//! TLS for both faces: libpq's `sslmode`s over rustls, with CA files and
//! client certificates, the way CockroachDB clusters hand them out.

#[cfg(feature = "tls")]
pub(crate) use rustls_impl::MakeRustls as Tls;
#[cfg(not(feature = "tls"))]
pub(crate) use tokio_postgres::NoTls as Tls;

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::config::{ConnectionConfig, SslMode};
use crate::error::{Error, Result};

/// When reads and writes of one TLS connection give up: the blocking driver
/// cannot abandon a statement, so its stream does, failing with `TimedOut`
/// once the deadline passes, which breaks the connection. (The async face
/// abandons the statement instead and needs none.)
#[derive(Clone, Debug, Default)]
pub(crate) struct Deadline(Arc<AtomicU64>);

/// The origin of `Deadline`'s clock.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl Deadline {
    pub(crate) fn set(&self, at: Instant) {
        let nanos = at.saturating_duration_since(epoch()).as_nanos();
        // 0 stands for "none": a deadline at the epoch itself is 1 ns later.
        let nanos = u64::try_from(nanos).unwrap_or(u64::MAX).max(1);
        self.0.store(nanos, Ordering::Relaxed);
    }

    pub(crate) fn clear(&self) {
        self.0.store(0, Ordering::Relaxed);
    }

    // Read by the TLS streams only.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    fn get(&self) -> Option<Instant> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            nanos => Some(epoch() + Duration::from_nanos(nanos)),
        }
    }
}

thread_local! {
    /// The deadline of the TLS connection this thread opened last: the
    /// blocking driver connects on the calling thread and hands back only
    /// its client, so the face picks the deadline up here.
    static OPENED: RefCell<Option<Deadline>> = const { RefCell::new(None) };
}

/// The deadline of the TLS connection this thread opened last, if any.
#[cfg(feature = "blocking")]
pub(crate) fn take_opened_deadline() -> Option<Deadline> {
    OPENED.with(|opened| opened.borrow_mut().take())
}

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

/// `tls`, whose connections each get a `Deadline`, set to `handshake` from
/// the start of their TLS handshake (see `take_opened_deadline`).
#[cfg(all(feature = "tls", feature = "blocking"))]
pub(crate) fn with_deadlines(tls: Tls, handshake: Duration) -> Tls {
    tls.with_deadlines(handshake)
}

/// Without TLS there is no stream of this crate's to give a deadline.
#[cfg(all(not(feature = "tls"), feature = "blocking"))]
pub(crate) fn with_deadlines(tls: Tls, _handshake: Duration) -> Tls {
    tls
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

    use super::{ConnectionConfig, Deadline, Error, OPENED, Result, SslMode};
    use std::time::{Duration, Instant};

    /// Makes one TLS connector per connection attempt, for the host tried.
    #[derive(Clone)]
    pub(crate) struct MakeRustls {
        config: Arc<ClientConfig>,
        /// For the blocking face: a deadline per connection, starting as
        /// this long for the handshake.
        deadlines: Option<Duration>,
    }

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
            Ok(MakeRustls {
                config: Arc::new(tls),
                deadlines: None,
            })
        }

        #[cfg(feature = "blocking")]
        pub(crate) fn with_deadlines(self, handshake: Duration) -> MakeRustls {
            MakeRustls {
                deadlines: Some(handshake),
                ..self
            }
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
            let deadline = self.deadlines.map(|handshake| {
                let deadline = Deadline::default();
                deadline.set(Instant::now() + handshake);
                OPENED.with(|opened| *opened.borrow_mut() = Some(deadline.clone()));
                deadline
            });
            Ok(RustlsConnect {
                config: Arc::clone(&self.config),
                name,
                deadline,
            })
        }
    }

    /// Connects one socket to one host.
    pub(crate) struct RustlsConnect {
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
        deadline: Option<Deadline>,
    }

    impl TlsConnect<Socket> for RustlsConnect {
        type Stream = RustlsStream;
        type Error = io::Error;
        type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream>> + Send>>;

        fn connect(self, socket: Socket) -> Self::Future {
            Box::pin(async move {
                let handshake =
                    tokio_rustls::TlsConnector::from(self.config).connect(self.name, socket);
                let stream = match self.deadline.as_ref().and_then(Deadline::get) {
                    Some(at) => tokio::time::timeout_at(at.into(), handshake)
                        .await
                        .map_err(|_| timed_out())??,
                    None => handshake.await?,
                };
                Ok(RustlsStream {
                    inner: stream,
                    deadline: self.deadline,
                    timer: None,
                })
            })
        }
    }

    /// A TLS session over the driver's socket, with the connection's
    /// deadline when it has one.
    pub(crate) struct RustlsStream {
        inner: tokio_rustls::client::TlsStream<Socket>,
        deadline: Option<Deadline>,
        /// The timer of the deadline it was armed for.
        timer: Option<(Instant, Pin<Box<tokio::time::Sleep>>)>,
    }

    fn timed_out() -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, "the operation's deadline passed")
    }

    impl RustlsStream {
        /// After the inner stream said Pending: an error once the deadline
        /// passed, else Pending (with the timer registered to wake us).
        fn past_deadline<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
            let Some(at) = self.deadline.as_ref().and_then(Deadline::get) else {
                return Poll::Pending;
            };
            let timer = match &mut self.timer {
                Some((armed, timer)) if *armed == at => timer,
                slot => {
                    let timer = Box::pin(tokio::time::sleep_until(at.into()));
                    &mut slot.insert((at, timer)).1
                }
            };
            match timer.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(timed_out())),
                Poll::Pending => Poll::Pending,
            }
        }
    }

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
            let this = self.get_mut();
            match Pin::new(&mut this.inner).poll_read(cx, buf) {
                Poll::Pending => this.past_deadline(cx),
                ready => ready,
            }
        }
    }

    impl AsyncWrite for RustlsStream {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let this = self.get_mut();
            match Pin::new(&mut this.inner).poll_write(cx, buf) {
                Poll::Pending => this.past_deadline(cx),
                ready => ready,
            }
        }

        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            let this = self.get_mut();
            match Pin::new(&mut this.inner).poll_flush(cx) {
                Poll::Pending => this.past_deadline(cx),
                ready => ready,
            }
        }

        fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
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
