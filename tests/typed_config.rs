//! Engines from a `ConnectionConfig` built in code, or taken from the
//! driver's `tokio_postgres::Config`, on both faces: they reach the test
//! server as the connection string does, their `Debug` never shows the
//! password, and what a string must name, code must name too, before any
//! connection.
#![cfg(all(feature = "blocking", feature = "async"))]

mod support;

use langchain_cockroachdb::blocking::{CockroachDBChatMessageHistory, CockroachDBEngine};
use langchain_cockroachdb::nonblocking::{
    AsyncCockroachDBChatMessageHistory, AsyncCockroachDBEngine,
};
use langchain_cockroachdb::tokio_postgres::config::{Host, SslMode as DriverSslMode};
use langchain_cockroachdb::{ConnectionConfig, EngineOptions, Error, SslMode, tokio_postgres};
use support::{TempTable, database_url, runtime};

/// A password the test server (trust authentication) does not check, so
/// that it travels with the config without mattering.
const PASSWORD: &str = "hunter2-typed";

/// The test server's settings as the driver reads its URL.
fn driver_config() -> tokio_postgres::Config {
    database_url().parse().expect("the test URL parses")
}

/// A history on each face's engine writes, and the other face reads it.
fn round_trip(config: ConnectionConfig, test: &str) {
    let table = TempTable::new(test);
    let blocking = CockroachDBEngine::from_config(config.clone(), EngineOptions::default())
        .expect("a blocking engine");
    let nonblocking = AsyncCockroachDBEngine::from_config(config, EngineOptions::default())
        .expect("an async engine");

    blocking
        .ping()
        .expect("the blocking engine reaches the server");
    let history = CockroachDBChatMessageHistory::with_engine("s", &blocking, table.options())
        .expect("a blocking history");
    history.add_user_message("from the blocking face").unwrap();

    runtime().block_on(async {
        nonblocking
            .ping()
            .await
            .expect("the async engine reaches the server");
        let history =
            AsyncCockroachDBChatMessageHistory::with_engine("s", &nonblocking, table.options())
                .expect("an async history");
        history.add_ai_message("from the async face").await.unwrap();
        let texts: Vec<String> = history
            .messages()
            .await
            .unwrap()
            .iter()
            .map(|m| m.text().into_owned())
            .collect();
        assert_eq!(texts, ["from the blocking face", "from the async face"]);
    });
    assert_eq!(history.messages().unwrap().len(), 2);
    for debug in [
        format!("{blocking:?}"),
        format!("{nonblocking:?}"),
        format!("{:?}", blocking.config()),
    ] {
        assert!(!debug.contains(PASSWORD), "{debug}");
    }
}

#[test]
fn a_config_built_in_code_reaches_the_server_on_both_faces() {
    // The test server's settings, given one by one as a service's own
    // settings would be.
    let driver = driver_config();
    let mut builder = ConnectionConfig::builder();
    for host in driver.get_hosts() {
        builder = match host {
            Host::Tcp(name) => builder.host(name.as_str()),
            #[cfg(unix)]
            Host::Unix(path) => builder.host(path.to_str().expect("a UTF-8 socket path")),
        };
    }
    for port in driver.get_ports() {
        builder = builder.port(*port);
    }
    if let Some(options) = driver.get_options() {
        builder = builder.options(options);
    }
    if let Some(dbname) = driver.get_dbname() {
        builder = builder.dbname(dbname);
    }
    let ssl_mode = match driver.get_ssl_mode() {
        DriverSslMode::Disable => SslMode::Disable,
        DriverSslMode::Require => SslMode::Require,
        _ => SslMode::Prefer,
    };
    let password = driver.get_password().unwrap_or(PASSWORD.as_bytes());
    let builder = builder
        .user(driver.get_user().expect("the test URL names a user"))
        .password(password)
        .application_name("typed-config-test")
        .ssl_mode(ssl_mode);
    assert!(!format!("{builder:?}").contains(PASSWORD), "{builder:?}");
    let config = builder.build().expect("the test server's settings");
    assert!(config.has_password());
    assert_eq!(config.target(), {
        let from_string: ConnectionConfig = database_url().parse().unwrap();
        from_string.target()
    });
    round_trip(config, "typed_built");
}

/// `url` with a password, unless it has one.
fn with_password(url: &str) -> String {
    let start = url.find("://").expect("a URL") + 3;
    let authority_end = url[start..].find('/').map_or(url.len(), |end| start + end);
    match url[start..authority_end].rfind('@') {
        Some(at) if !url[start..start + at].contains(':') => {
            format!("{}:{PASSWORD}{}", &url[..start + at], &url[start + at..])
        }
        _ => url.to_owned(),
    }
}

#[test]
fn a_driver_config_with_a_password_reaches_the_server_on_both_faces() {
    let url = with_password(&database_url());
    let driver: tokio_postgres::Config = url.parse().expect("the URL with a password parses");
    assert!(driver.get_password().is_some());
    let config = ConnectionConfig::try_from(driver).expect("the driver's config is complete");
    assert!(config.has_password());
    assert!(!format!("{config:?}").contains(PASSWORD), "{config:?}");
    round_trip(config, "typed_driver");
}

#[test]
fn debug_never_shows_the_password_however_the_config_was_made() {
    let secret = "n0t-in-any-log";
    let builder = ConnectionConfig::builder()
        .host("db.example.com")
        .port(26257)
        .user("app")
        .password(secret)
        .dbname("chat");
    let mut driver = tokio_postgres::Config::new();
    driver
        .host("db.example.com")
        .port(26257)
        .user("app")
        .password(secret)
        .dbname("chat");
    let parsed: ConnectionConfig = format!("postgresql://app:{secret}@db.example.com:26257/chat")
        .parse()
        .unwrap();
    let built = builder.clone().build().unwrap();
    let taken = ConnectionConfig::try_from(driver).unwrap();
    for config in [&built, &taken, &parsed] {
        assert!(config.has_password());
        let debug = format!("{config:?} {config:#?}");
        assert!(!debug.contains(secret), "{debug}");
        assert!(debug.contains("db.example.com:26257"), "{debug}");
    }
    assert!(!format!("{builder:?} {builder:#?}").contains(secret));
    // The engines of both faces show their config the same way.
    let blocking = CockroachDBEngine::from_config(built.clone(), EngineOptions::default()).unwrap();
    let nonblocking = AsyncCockroachDBEngine::from_config(taken, EngineOptions::default()).unwrap();
    assert!(!format!("{blocking:?}").contains(secret));
    assert!(!format!("{nonblocking:?}").contains(secret));
    assert_eq!(blocking.pool_state().connections, 0);
}

/// A configuration error, saying `says`.
fn config_error<T: std::fmt::Debug>(result: Result<T, Error>, says: &str) {
    match result {
        Err(Error::Config(text)) => {
            assert!(text.contains(says), "{text}");
            assert!(!text.contains(PASSWORD), "{text}");
        }
        other => panic!("expected a configuration error saying {says:?}, got {other:?}"),
    }
}

#[test]
fn no_host_or_no_user_is_a_configuration_error_before_any_connection() {
    let builder = || ConnectionConfig::builder().password(PASSWORD);
    config_error(builder().user("app").build(), "names no host");
    config_error(builder().host("127.0.0.1").build(), "names no user");
    config_error(
        ConnectionConfig::try_from(tokio_postgres::Config::new()),
        "names no host",
    );
    let mut no_user = tokio_postgres::Config::new();
    no_user.host("127.0.0.1").password(PASSWORD);
    config_error(ConnectionConfig::try_from(no_user), "names no user");
    // A certificate file that is not there: at the engine's making, on
    // both faces (without the `tls` feature, verify-full itself is refused).
    let config = ConnectionConfig::builder()
        .host("127.0.0.1")
        .user("app")
        .ssl_mode(SslMode::VerifyFull)
        .ssl_root_cert("/nonexistent/ca.crt")
        .build()
        .unwrap();
    let no_file = if cfg!(feature = "tls") { "" } else { "tls" };
    config_error(
        CockroachDBEngine::from_config(config.clone(), EngineOptions::default()),
        no_file,
    );
    config_error(
        AsyncCockroachDBEngine::from_config(config, EngineOptions::default()),
        no_file,
    );
}

#[test]
fn system_roots_set_in_code_mean_verify_full_and_nothing_weaker() {
    let system = || {
        ConnectionConfig::builder()
            .host("db.example.com")
            .user("app")
            .ssl_root_cert("system")
    };
    assert_eq!(system().build().unwrap().ssl_mode(), SslMode::VerifyFull);
    assert_eq!(
        system()
            .ssl_mode(SslMode::VerifyFull)
            .build()
            .unwrap()
            .ssl_mode(),
        SslMode::VerifyFull
    );
    for weaker in [
        SslMode::Disable,
        SslMode::Prefer,
        SslMode::Require,
        SslMode::VerifyCa,
    ] {
        config_error(
            system().ssl_mode(weaker).build(),
            "sslrootcert=system needs sslmode=verify-full",
        );
    }
    // As the string form says it.
    let string_form: Result<ConnectionConfig, Error> =
        "postgresql://app@db.example.com/chat?sslrootcert=system&sslmode=require".parse();
    config_error(string_form, "sslrootcert=system needs sslmode=verify-full");
}
