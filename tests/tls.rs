//! TLS on both faces, against a PostgreSQL instance of its own that this
//! test starts with certificates it generates, and that refuses plain text.
#![cfg(all(feature = "tls", feature = "blocking", feature = "async"))]

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use langchain_cockroachdb::blocking::CockroachDBChatMessageHistory;
use langchain_cockroachdb::nonblocking::AsyncCockroachDBChatMessageHistory;
use langchain_cockroachdb::{EngineOptions, Error, HistoryOptions};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use support::Face;

/// A CA, and certificates it signed.
struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        Pki {
            ca: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap(),
        }
    }

    /// `(certificate PEM, key PEM)` for `names` (SANs) and common name `cn`.
    fn issue(&self, cn: &str, names: &[&str]) -> (String, String) {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        let key = KeyPair::generate().unwrap();
        (
            params.signed_by(&key, &self.ca).unwrap().pem(),
            key.serialize_pem(),
        )
    }
}

/// A PostgreSQL server on its own port and data directory, stopped and
/// removed when dropped.
struct TlsServer {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
}

fn as_postgres(cmd: &str) {
    let out = Command::new("su")
        .args(["postgres", "-c", cmd])
        .output()
        .expect("su runs");
    assert!(
        out.status.success(),
        "{cmd}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl TlsServer {
    fn start(server_cert: &(String, String), ca_pem: &str) -> TlsServer {
        let bin = fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL is installed (.ci/ensure-postgres installs it)")
            .flatten()
            .map(|e| e.path().join("bin"))
            .max()
            .expect("a PostgreSQL version");
        let dir = std::env::temp_dir().join(format!("lc-tls-{}", uuid::Uuid::new_v4().simple()));
        fs::create_dir_all(&dir).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let write = |name: &str, text: &str, mode: u32| {
            let path = dir.join(name);
            fs::write(&path, text).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        };
        write("server.crt", &server_cert.0, 0o644);
        write("server.key", &server_cert.1, 0o600);
        write("ca.crt", ca_pem, 0o644);
        let d = dir.display();
        Command::new("chown")
            .args(["-R", "postgres:postgres", &d.to_string()])
            .status()
            .unwrap();
        as_postgres(&format!(
            "{}/initdb -D {d}/data -A trust -U postgres >/dev/null",
            bin.display()
        ));
        fs::write(
            dir.join("data/pg_hba.conf"),
            "local all all trust\n\
             hostssl all certuser 127.0.0.1/32 cert\nhostssl all certuser ::1/128 cert\n\
             hostssl all all 127.0.0.1/32 trust\nhostssl all all ::1/128 trust\n\
             hostnossl all all 0.0.0.0/0 reject\nhostnossl all all ::/0 reject\n",
        )
        .unwrap();
        let server = TlsServer {
            dir: dir.clone(),
            port,
            bin,
        };
        as_postgres(&format!(
            "{}/pg_ctl -D {d}/data -l {d}/log -w start -o \"-p {port} -c listen_addresses=localhost \
             -c unix_socket_directories={d} -c ssl=on -c ssl_cert_file={d}/server.crt \
             -c ssl_key_file={d}/server.key -c ssl_ca_file={d}/ca.crt\" >/dev/null",
            server.bin.display()
        ));
        as_postgres(&format!(
            "psql -h {d} -p {port} -U postgres -d postgres -qc 'CREATE ROLE certuser LOGIN SUPERUSER'"
        ));
        server
    }

    fn url(&self, user: &str, host: &str, params: &str) -> String {
        format!("postgresql://{user}@{host}:{}/postgres?{params}", self.port)
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = Command::new("su")
            .args([
                "postgres",
                "-c",
                &format!(
                    "{}/pg_ctl -D {}/data -m immediate stop",
                    self.bin.display(),
                    self.dir.display()
                ),
            ])
            .output();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn write_file(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    path.display().to_string()
}

fn quick() -> EngineOptions {
    EngineOptions::default()
        .connect_timeout(Duration::from_secs(3))
        .checkout_timeout(Duration::from_secs(3))
}

fn connection_error<T: std::fmt::Debug>(result: langchain_cockroachdb::Result<T>) -> String {
    match result {
        Err(Error::Connection { cause, .. }) => cause,
        other => panic!("expected a connection error, got {other:?}"),
    }
}

fn check_face<F: Face>(server: &TlsServer, files: &Path, ca: &str, wrong_ca: &str) {
    let verify_full = format!("sslmode=verify-full&sslrootcert={ca}");

    // verify-full: the right CA and host name.
    F::ping(&server.url("postgres", "localhost", &verify_full), quick()).unwrap();
    let history = F::open(
        "tls",
        &server.url("postgres", "localhost", &verify_full),
        HistoryOptions::default(),
    )
    .unwrap();
    history.clear().unwrap();
    history.add_user_message("over TLS").unwrap();
    assert_eq!(history.messages().unwrap()[0].text(), "over TLS");

    // verify-full: a CA that did not sign the server's certificate.
    let cause = connection_error(F::ping(
        &server.url(
            "postgres",
            "localhost",
            &format!("sslmode=verify-full&sslrootcert={wrong_ca}"),
        ),
        quick(),
    ));
    assert!(cause.to_lowercase().contains("certificate"), "{cause}");

    // verify-full: a host name the certificate does not name; verify-ca
    // does not check names and gets in.
    let cause = connection_error(F::ping(
        &server.url("postgres", "127.0.0.1", &verify_full),
        quick(),
    ));
    assert!(
        cause.to_lowercase().contains("not valid for name") || cause.contains("NotValidForName"),
        "{cause}"
    );
    F::ping(
        &server.url(
            "postgres",
            "127.0.0.1",
            &format!("sslmode=verify-ca&sslrootcert={ca}"),
        ),
        quick(),
    )
    .unwrap();

    // sslrootcert=system alone is verify-full against the system's CAs,
    // none of which signed this server's certificate: not `prefer`, which
    // would get in unverified.
    match F::ping(
        &server.url("postgres", "localhost", "sslrootcert=system"),
        quick(),
    ) {
        Err(Error::Connection { cause, .. }) => {
            assert!(cause.to_lowercase().contains("certificate"), "{cause}")
        }
        // A machine without a CA store.
        Err(Error::Config(text)) => assert!(text.contains("no CA certificate"), "{text}"),
        other => panic!("expected a failed verification, got {other:?}"),
    }

    // require: encrypted, unverified; disable: refused by this server.
    F::ping(
        &server.url("postgres", "127.0.0.1", "sslmode=require"),
        quick(),
    )
    .unwrap();
    let cause = connection_error(F::ping(
        &server.url("postgres", "127.0.0.1", "sslmode=disable"),
        quick(),
    ));
    assert!(cause.contains("no encryption"), "{cause}");

    // A client certificate logs in as its common name; without it, no.
    let (cert, key) = (files.join("certuser.crt"), files.join("certuser.key"));
    let with_cert = format!(
        "{verify_full}&sslcert={}&sslkey={}",
        cert.display(),
        key.display()
    );
    F::ping(&server.url("certuser", "localhost", &with_cert), quick()).unwrap();
    let cause = connection_error(F::ping(
        &server.url("certuser", "localhost", &verify_full),
        quick(),
    ));
    assert!(cause.contains("certificate"), "{cause}");
}

#[test]
fn tls_modes_certificates_and_client_logins_on_both_faces() {
    let pki = Pki::new("langchain-cockroachdb test CA");
    let wrong = Pki::new("some other CA");
    let server = TlsServer::start(&pki.issue("localhost", &["localhost"]), &pki.ca.pem());

    let files = server.dir.join("client");
    fs::create_dir_all(&files).unwrap();
    let ca = write_file(&files, "ca.crt", &pki.ca.pem());
    let wrong_ca = write_file(&files, "wrong-ca.crt", &wrong.ca.pem());
    let (cert, key) = pki.issue("certuser", &[]);
    write_file(&files, "certuser.crt", &cert);
    write_file(&files, "certuser.key", &key);

    check_face::<CockroachDBChatMessageHistory>(&server, &files, &ca, &wrong_ca);
    check_face::<AsyncCockroachDBChatMessageHistory>(&server, &files, &ca, &wrong_ca);

    // A client key others can read is refused, as libpq refuses it: owned
    // by root, its group may read it; owned by anyone else, nobody else.
    let key = files.join("certuser.key");
    let with_key = server.url(
        "certuser",
        "localhost",
        &format!(
            "sslmode=verify-full&sslrootcert={ca}&sslcert={}&sslkey={}",
            files.join("certuser.crt").display(),
            key.display()
        ),
    );
    use std::os::unix::fs::MetadataExt;
    let by_root = fs::metadata(&key).unwrap().uid() == 0;
    for (mode, refused) in [
        (0o644, true),
        (0o604, true),
        (0o640, !by_root),
        (0o400, false),
    ] {
        fs::set_permissions(&key, fs::Permissions::from_mode(mode)).unwrap();
        match CockroachDBChatMessageHistory::new("s", &with_key) {
            Err(Error::Config(text)) if refused => {
                assert!(text.contains("group or world access"), "{mode:o}: {text}")
            }
            Ok(_) if !refused => {}
            other => panic!("key mode {mode:o}: {:?}", other.map(drop)),
        }
    }
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();

    // Certificate files are read when the engine is made: a missing one is a
    // configuration error naming it, before any connection.
    let missing = server.url(
        "postgres",
        "localhost",
        "sslmode=verify-full&sslrootcert=/nonexistent/ca.crt",
    );
    match CockroachDBChatMessageHistory::new("s", &missing) {
        Err(Error::Config(message)) => {
            assert!(message.contains("/nonexistent/ca.crt"), "{message}")
        }
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

/// A peer that stops answering over TLS: on the blocking face too, whose
/// driver cannot abandon a statement, the connection's TLS stream gives up
/// at the deadline.
#[test]
fn a_frozen_tls_peer_is_a_timeout_within_the_deadline_on_both_faces() {
    let pki = Pki::new("langchain-cockroachdb test CA");
    let server = TlsServer::start(&pki.issue("localhost", &["localhost"]), &pki.ca.pem());
    let proxy = support::proxy::Proxy::start_to(server.port);
    let url = format!(
        "postgresql://postgres@127.0.0.1:{}/postgres?sslmode=require",
        proxy.port()
    );
    let options = HistoryOptions::default().table_name("frozen_blocking");
    support::frozen::frozen_peer_through::<CockroachDBChatMessageHistory>(&proxy, &url, options);
    let options = HistoryOptions::default().table_name("frozen_async");
    support::frozen::frozen_peer_through::<AsyncCockroachDBChatMessageHistory>(
        &proxy, &url, options,
    );
}
