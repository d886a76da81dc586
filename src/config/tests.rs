//! The parsing of connection strings, and what a parsed one tells.

use crate::error::{Error, Result};

use super::{ConnectionConfig, SslMode};

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
        let url = format!("postgresql://bob:{password}@db.example.com:5432/chat?sslmode=disable");
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

/// A config built in code, and one parsed from the string saying the same,
/// agree on everything the crate reads.
#[test]
fn a_config_built_in_code_is_the_parsed_one() {
    use std::time::Duration;
    let built = ConnectionConfig::builder()
        .host("n1")
        .port(26257)
        .host("n2")
        .port(26258)
        .user("app")
        .password("pa:ss@word")
        .dbname("chat")
        .application_name("bot")
        .options("--cluster=my-cluster")
        .ssl_mode(SslMode::VerifyFull)
        .ssl_root_cert("/tmp/ca.crt")
        .ssl_cert("/c.crt")
        .ssl_key("/c.key")
        .connect_timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let parsed = parse(
        "postgresql://app:pa%3Ass%40word@n1:26257,n2:26258/chat?sslmode=verify-full\
         &sslrootcert=/tmp/ca.crt&sslcert=/c.crt&sslkey=/c.key\
         &options=--cluster%3Dmy-cluster&application_name=bot&connect_timeout=3",
    )
    .unwrap();
    for cfg in [&built, &parsed] {
        assert_eq!(cfg.target(), "n1:26257,n2:26258");
        assert_eq!(cfg.user(), Some("app"));
        assert_eq!(cfg.dbname(), Some("chat"));
        assert_eq!(cfg.pg.get_password(), Some(&b"pa:ss@word"[..]));
        assert_eq!(cfg.pg.get_options(), Some("--cluster=my-cluster"));
        assert_eq!(cfg.pg.get_application_name(), Some("bot"));
        assert_eq!(cfg.pg.get_connect_timeout(), Some(&Duration::from_secs(3)));
        assert_eq!(cfg.ssl_mode(), SslMode::VerifyFull);
        assert_eq!(cfg.ssl_files(), parsed.ssl_files());
    }
    assert_eq!(format!("{built:?}"), format!("{parsed:?}"));
    // The defaults a string gets, code gets too.
    let plain = ConnectionConfig::builder()
        .host("db")
        .user("app")
        .build()
        .unwrap();
    assert_eq!(plain.target(), "db:5432");
    assert_eq!(plain.ssl_mode(), SslMode::Prefer);
    assert_eq!(
        plain.pg.get_application_name(),
        Some("langchain-cockroachdb")
    );
}

#[test]
fn what_a_string_must_name_code_must_name_too() {
    let fails = |builder: super::ConnectionConfigBuilder, says: &str| match builder.build() {
        Err(Error::Config(text)) => {
            assert!(text.contains(says), "{text}");
            assert!(!text.contains("hunter2"), "{text}");
        }
        other => panic!("expected a configuration error saying {says:?}, got {other:?}"),
    };
    let b = || ConnectionConfig::builder().password("hunter2");
    fails(b().user("app"), "the connection config names no host");
    fails(b().host("db"), "the connection config names no user");
    fails(b().host("db").user(""), "names no user");
    fails(b().host("").user("app"), "names an empty host");
    fails(
        b().host("a")
            .host("b")
            .host("c")
            .port(1)
            .port(2)
            .user("app"),
        "3 hosts and 2 ports",
    );
    let mut driver = tokio_postgres::Config::new();
    driver
        .host("db")
        .user("app")
        .channel_binding(tokio_postgres::config::ChannelBinding::Require);
    fails(driver.into(), "channel_binding=require");
    // The same count rule holds for a string, now before any connection.
    let err = parse("host=a,b,c port=1,2 user=app").unwrap_err();
    assert!(err.to_string().contains("3 hosts and 2 ports"), "{err}");
    // One port for all, or one per host: both fine.
    ConnectionConfig::builder()
        .host("a")
        .host("b")
        .port(1)
        .user("app")
        .build()
        .unwrap();
}

#[test]
fn system_roots_in_code_mean_verify_full_and_nothing_weaker() {
    let system = || {
        ConnectionConfig::builder()
            .host("db")
            .user("app")
            .ssl_root_cert("system")
    };
    assert_eq!(system().build().unwrap().ssl_mode(), SslMode::VerifyFull);
    let full = system().ssl_mode(SslMode::VerifyFull).build().unwrap();
    assert_eq!(full.ssl_mode(), SslMode::VerifyFull);
    for mode in [
        SslMode::Disable,
        SslMode::Prefer,
        SslMode::Require,
        SslMode::VerifyCa,
    ] {
        match system().ssl_mode(mode).build() {
            Err(Error::Config(text)) => assert!(
                text.contains("sslrootcert=system needs sslmode=verify-full"),
                "{text}"
            ),
            other => panic!("{mode:?}: expected a configuration error, got {other:?}"),
        }
    }
}

#[test]
fn a_driver_config_is_taken_as_it_is_with_the_sslmode_it_can_say() {
    use super::ConnectionConfigBuilder;
    use tokio_postgres::config::SslMode as Driver;
    let driver: tokio_postgres::Config =
        "postgresql://app:hunter2@n1:26257,n2/chat?options=--cluster%3Dc&application_name=bot"
            .parse()
            .unwrap();
    let cfg = ConnectionConfig::try_from(driver.clone()).unwrap();
    assert_eq!(cfg.target(), "n1:26257,n2:5432");
    assert_eq!(cfg.user(), Some("app"));
    assert_eq!(cfg.dbname(), Some("chat"));
    assert_eq!(cfg.pg.get_password(), Some(&b"hunter2"[..]));
    assert_eq!(cfg.pg.get_options(), Some("--cluster=c"));
    assert_eq!(cfg.pg.get_application_name(), Some("bot"));
    assert!(!format!("{cfg:?}").contains("hunter2"));
    assert!(!format!("{:?}", ConnectionConfigBuilder::from(driver.clone())).contains("hunter2"));
    for (given, ours) in [
        (Driver::Disable, SslMode::Disable),
        (Driver::Prefer, SslMode::Prefer),
        (Driver::Require, SslMode::Require),
    ] {
        let mut driver = driver.clone();
        driver.ssl_mode(given);
        assert_eq!(ConnectionConfig::try_from(driver).unwrap().ssl_mode(), ours);
    }
    // The driver's `prefer` is its default, not a choice: system roots
    // still mean verify-full, and the verify modes are set on the builder.
    let cfg = ConnectionConfigBuilder::from(driver.clone())
        .ssl_root_cert("system")
        .build()
        .unwrap();
    assert_eq!(cfg.ssl_mode(), SslMode::VerifyFull);
    let cfg = ConnectionConfigBuilder::from(driver)
        .ssl_mode(SslMode::VerifyCa)
        .ssl_root_cert("/certs/ca.crt")
        .build()
        .unwrap();
    assert_eq!(cfg.ssl_mode(), SslMode::VerifyCa);
}

#[test]
fn a_parsed_config_can_be_built_on() {
    let parsed = parse("postgresql://app@db:26257/chat?sslmode=require").unwrap();
    let cfg = super::ConnectionConfigBuilder::from(parsed)
        .password("hunter2")
        .build()
        .unwrap();
    assert_eq!(cfg.ssl_mode(), SslMode::Require);
    assert!(cfg.has_password());
    assert_eq!(cfg.target(), "db:26257");
    assert!(!format!("{cfg:?}").contains("hunter2"));
}
