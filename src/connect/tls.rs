//! rustls for the sslmodes that want TLS: the roots (a CA file, the
//! system's store, libpq's default file), client certificates, and a
//! verifier that checks as much as the sslmode asks and no more.

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

use crate::config::{ConnectionConfig, SslMode};
use crate::error::{Error, Result};

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
        let default =
            std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".postgresql/root.crt"));
        let path = match (path, &default) {
            (Some(path), _) => path,
            (None, Some(default)) if default.exists() => default,
            _ => {
                return Err(Error::Config(
                    "sslmode=verify-ca/verify-full needs sslrootcert: a CA file, or `system`"
                        .into(),
                ));
            }
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
    check_key_permissions(path)?;
    PrivateKeyDer::from_pem_file(path).map_err(|e| {
        Error::Config(format!(
            "cannot read a private key from {}: {e}",
            path.display()
        ))
    })
}

/// As libpq: a client key that others can read is refused. A key owned
/// by root may be readable by its group (a key shared with a service's
/// group); any other may be read and written by its owner only. (Other
/// platforms have no such mode bits; libpq skips the check there too.)
#[cfg(unix)]
fn check_key_permissions(path: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).map_err(|e| {
        Error::Config(format!(
            "cannot read a private key from {}: {e}",
            path.display()
        ))
    })?;
    let (mode, by_root) = (meta.mode(), meta.uid() == 0);
    let too_open = match by_root {
        true => mode & 0o037 != 0,
        false => mode & 0o077 != 0,
    };
    if too_open {
        return Err(Error::Config(format!(
            "private key file {} has group or world access (mode {:04o}); it must be u=rw \
             (0600) or less, or u=rw,g=r (0640) or less if owned by root: chmod 0600 it",
            path.display(),
            mode & 0o7777
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_key_permissions(_: &Path) -> Result<()> {
    Ok(())
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
        match inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
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
