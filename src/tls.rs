//! How both faces reach the server: libpq's `sslmode`s over rustls, with CA
//! files and client certificates the way CockroachDB clusters hand them
//! out, and for the blocking face a stream that keeps each connection's
//! deadline, over TLS and plain text alike.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::Socket;
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};

use crate::config::{ConnectionConfig, SslMode};
use crate::error::{Error, Result};

/// When reads and writes of one connection give up: the blocking driver
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

    fn get(&self) -> Option<Instant> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            nanos => Some(epoch() + Duration::from_nanos(nanos)),
        }
    }
}

thread_local! {
    /// The deadline of the connection attempt running on this thread: the
    /// blocking driver connects on the calling thread and hands back only
    /// its client, so the face hands the deadline in and picks it up here.
    static ATTEMPT: RefCell<Option<Deadline>> = const { RefCell::new(None) };
}

/// Starts a blocking connection attempt on this thread, to be done by
/// `until`: the connection it opens keeps that deadline (see `Stream`).
#[cfg(feature = "blocking")]
pub(crate) fn begin_attempt(until: Instant) {
    let deadline = Deadline::default();
    deadline.set(until);
    ATTEMPT.with(|attempt| *attempt.borrow_mut() = Some(deadline));
}

/// The deadline of the attempt this thread began, to set per statement.
#[cfg(feature = "blocking")]
pub(crate) fn end_attempt() -> Option<Deadline> {
    ATTEMPT.with(|attempt| attempt.borrow_mut().take())
}

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

/// `pg` and `tls` for the blocking face: every connection gets the
/// `Deadline` of its attempt (see `begin_attempt`).
///
/// The driver hands a socket to the connector only for TLS, after its own
/// `SSLRequest`; a plain connection would stay the driver's bare socket,
/// which no deadline reaches. So the driver is told to connect "directly"
/// (`sslnegotiation=direct`, `sslmode=require`), which hands the socket
/// over at once, and the connector negotiates as libpq would (see
/// `negotiate`). Unix sockets keep the driver's negotiation: no TLS goes
/// over them, and no network partition either.
#[cfg(feature = "blocking")]
pub(crate) fn with_deadlines(
    mut pg: tokio_postgres::Config,
    tls: Tls,
) -> (tokio_postgres::Config, Tls) {
    use tokio_postgres::config::{Host, SslNegotiation};
    let over_tcp = !pg.get_hosts().is_empty()
        && pg
            .get_hosts()
            .iter()
            .all(|host| matches!(host, Host::Tcp(_)));
    let negotiate = over_tcp && pg.get_ssl_negotiation() == SslNegotiation::Postgres;
    if negotiate {
        pg.ssl_mode(tokio_postgres::config::SslMode::Require)
            .ssl_negotiation(SslNegotiation::Direct);
    }
    let tls = Tls {
        deadlines: true,
        negotiate,
        ..tls
    };
    (pg, tls)
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

/// What the driver calls its TLS connector: makes one connector per
/// connection attempt, for the host tried.
#[derive(Clone)]
pub(crate) struct Tls {
    mode: SslMode,
    #[cfg(feature = "tls")]
    rustls: Arc<rustls::ClientConfig>,
    /// For the blocking face: each connection keeps its attempt's deadline.
    deadlines: bool,
    /// Whether the connector sends the `SSLRequest` itself (see
    /// `with_deadlines`), rather than the driver.
    negotiate: bool,
}

impl Tls {
    /// The connector for `config`, its certificate files read now so that a
    /// missing or bad file is a configuration error, not a connection
    /// failure.
    fn new(config: &ConnectionConfig) -> Result<Tls> {
        let mode = config.ssl_mode();
        #[cfg(not(feature = "tls"))]
        if !matches!(mode, SslMode::Disable | SslMode::Prefer) {
            return Err(Error::Config(format!(
                "sslmode={} needs TLS: enable this crate's `tls` feature",
                mode.as_str()
            )));
        }
        Ok(Tls {
            mode,
            #[cfg(feature = "tls")]
            rustls: rustls_impl::client_config(config)?,
            deadlines: false,
            negotiate: false,
        })
    }
}

impl MakeTlsConnect<Socket> for Tls {
    type Stream = Stream;
    type TlsConnect = Connect;
    type Error = io::Error;

    #[cfg_attr(not(feature = "tls"), allow(unused_variables))]
    fn make_tls_connect(&mut self, domain: &str) -> io::Result<Connect> {
        let deadline = self
            .deadlines
            .then(|| ATTEMPT.with(|attempt| attempt.borrow_mut().get_or_insert_default().clone()));
        Ok(Connect {
            tls: self.clone(),
            #[cfg(feature = "tls")]
            domain: domain.to_owned(),
            deadline,
        })
    }
}

/// Connects one socket to one host.
pub(crate) struct Connect {
    tls: Tls,
    /// The host name a certificate must be for.
    #[cfg(feature = "tls")]
    domain: String,
    deadline: Option<Deadline>,
}

/// libpq's `SSLRequest`: length 8, then the code 1234.5679.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

impl Connect {
    /// As libpq: `disable` stays plain; otherwise ask for TLS, and take a
    /// refusal as plain text for `prefer`, as an error for the rest.
    async fn negotiate(self, mut socket: Socket) -> io::Result<Inner> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        if self.tls.mode == SslMode::Disable || !cfg!(feature = "tls") {
            return Ok(Inner::Plain(socket));
        }
        socket.write_all(&SSL_REQUEST).await?;
        let mut answer = [0];
        socket.read_exact(&mut answer).await?;
        match (answer[0], self.tls.mode) {
            (b'S', _) => self.handshake(socket).await,
            (_, SslMode::Prefer) => Ok(Inner::Plain(socket)),
            _ => Err(io::Error::other("server does not support TLS")),
        }
    }

    #[cfg(feature = "tls")]
    async fn handshake(self, socket: Socket) -> io::Result<Inner> {
        let stream = rustls_impl::handshake(self.tls.rustls, &self.domain, socket).await?;
        Ok(Inner::Tls(Box::new(stream)))
    }

    #[cfg(not(feature = "tls"))]
    async fn handshake(self, _socket: Socket) -> io::Result<Inner> {
        Err(io::Error::other("TLS needs this crate's `tls` feature"))
    }
}

impl TlsConnect<Socket> for Connect {
    type Stream = Stream;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Stream>> + Send>>;

    fn connect(self, socket: Socket) -> Self::Future {
        Box::pin(async move {
            let deadline = self.deadline.clone();
            let connected = async {
                if self.tls.negotiate {
                    self.negotiate(socket).await
                } else {
                    self.handshake(socket).await
                }
            };
            let inner = match deadline.as_ref().and_then(Deadline::get) {
                Some(at) => tokio::time::timeout_at(at.into(), connected)
                    .await
                    .map_err(|_| timed_out())??,
                None => connected.await?,
            };
            Ok(Stream {
                inner,
                deadline,
                timer: None,
            })
        })
    }
}

/// The socket, plain or in a TLS session.
enum Inner {
    Plain(Socket),
    #[cfg(feature = "tls")]
    Tls(Box<tokio_rustls::client::TlsStream<Socket>>),
}

/// A connection's stream, with its deadline when it has one.
pub(crate) struct Stream {
    inner: Inner,
    deadline: Option<Deadline>,
    /// The timer of the deadline it was armed for.
    timer: Option<(Instant, Pin<Box<tokio::time::Sleep>>)>,
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "the operation's deadline passed")
}

impl Stream {
    /// After the inner stream said Pending: an error once the deadline
    /// passed, else Pending (with the timer registered to wake us).
    fn past_deadline<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let Some(at) = self.deadline.as_ref().and_then(Deadline::get) else {
            return Poll::Pending;
        };
        let timer = match &mut self.timer {
            Some((armed, timer)) => {
                if *armed != at {
                    // A new statement's deadline: the same timer, re-armed.
                    timer.as_mut().reset(at.into());
                    *armed = at;
                }
                timer
            }
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

    /// `poll` on the inner stream, given up at the deadline.
    fn guarded<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: impl FnOnce(Pin<&mut dyn Io>, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        // One arm without the `tls` feature.
        #[allow(clippy::infallible_destructuring_match)]
        let inner: &mut dyn Io = match &mut self.inner {
            Inner::Plain(socket) => socket,
            #[cfg(feature = "tls")]
            Inner::Tls(stream) => &mut **stream,
        };
        match poll(Pin::new(inner), cx) {
            Poll::Pending => self.past_deadline(cx),
            ready => ready,
        }
    }
}

/// What both inner streams are.
trait Io: AsyncRead + AsyncWrite + Unpin {}
impl<T: AsyncRead + AsyncWrite + Unpin> Io for T {}

impl TlsStream for Stream {
    fn channel_binding(&self) -> ChannelBinding {
        // SCRAM then authenticates without channel binding, as libpq does
        // with channel_binding=prefer when none is offered.
        ChannelBinding::none()
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.get_mut()
            .guarded(cx, |inner, cx| inner.poll_read(cx, buf))
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .guarded(cx, |inner, cx| inner.poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().guarded(cx, |inner, cx| inner.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut()
            .guarded(cx, |inner, cx| inner.poll_shutdown(cx))
    }
}

/// rustls for the sslmodes that want TLS.
#[cfg(feature = "tls")]
mod rustls_impl {
    use std::io;
    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    use rustls::client::WebPkiServerVerifier;
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
    use rustls::{
        CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
    };
    use tokio_postgres::Socket;

    use super::{ConnectionConfig, Error, Result, SslMode};

    /// The TLS session over `socket` to `domain`.
    pub(super) async fn handshake(
        config: Arc<ClientConfig>,
        domain: &str,
        socket: Socket,
    ) -> io::Result<tokio_rustls::client::TlsStream<Socket>> {
        let name = ServerName::try_from(domain.to_owned())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        tokio_rustls::TlsConnector::from(config)
            .connect(name, socket)
            .await
    }

    /// The rustls configuration `config`'s sslmode and files ask for.
    pub(super) fn client_config(config: &ConnectionConfig) -> Result<Arc<ClientConfig>> {
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
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
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
        Ok(Arc::new(tls))
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
