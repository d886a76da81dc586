//! The connector the driver calls: libpq's `sslmode` negotiation (no
//! `SSLRequest` for `disable`; TLS on `S`; plain text on `N` for `prefer`
//! only), done by the crate itself where the blocking face needs the socket
//! from its first byte.

use std::future::Future;
use std::io;
use std::pin::Pin;
#[cfg(feature = "tls")]
use std::sync::Arc;

use tokio_postgres::Socket;
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};

use crate::config::{ConnectionConfig, SslMode};
#[cfg(not(feature = "tls"))]
use crate::error::Error;
use crate::error::Result;

use super::deadline::{self, Deadline, Inner, Stream, timed_out};

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
    pub(super) fn new(config: &ConnectionConfig) -> Result<Tls> {
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
            rustls: super::tls::client_config(config)?,
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
        let deadline = self.deadlines.then(deadline::of_attempt);
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
        let stream = super::tls::handshake(self.tls.rustls, &self.domain, socket).await?;
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
            Ok(Stream::new(inner, deadline))
        })
    }
}
