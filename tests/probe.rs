//! The account probe against the project's Dovecot and Postfix (the ports
//! tests/run.sh started them on, passed as the probe's own list) and
//! against fake servers for what they will not do: a port without STLS, a
//! server that never answers.

mod common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::{FakeServer, Step, env, password, port, send};
use mailtls::probe::{Endpoint, Login, Protocol};
use mailtls::{Error, ProbeOptions, Security, probe};

fn endpoint(protocol: Protocol, port: u16, security: Security) -> Endpoint {
    Endpoint { protocol, port, security }
}

/// A loopback port that nothing listens on.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The four real endpoints in the standard order (implicit TLS first),
/// and a closed port for each protocol.
fn real_options(closed: u16) -> ProbeOptions {
    let mut options = ProbeOptions {
        endpoints: Some(vec![
            endpoint(Protocol::Pop3, port("MAILTLS_TEST_POP3S_PORT"), Security::Tls),
            endpoint(Protocol::Pop3, port("MAILTLS_TEST_POP3_PORT"), Security::StartTls),
            endpoint(Protocol::Pop3, closed, Security::Tls),
            endpoint(Protocol::Smtp, port("MAILTLS_TEST_SMTPS_PORT"), Security::Tls),
            endpoint(Protocol::Smtp, port("MAILTLS_TEST_SMTP_SUBMISSION_PORT"), Security::StartTls),
            endpoint(Protocol::Smtp, closed, Security::StartTls),
        ]),
        timeout: Duration::from_secs(10),
        ..ProbeOptions::default()
    };
    options.tls.add_ca_file(std::path::Path::new(&env("MAILTLS_TEST_CA"))).unwrap();
    options
}

#[test]
fn every_real_endpoint_works_logs_in_and_implicit_tls_is_recommended() {
    let closed = closed_port();
    let report = probe(&env("MAILTLS_TEST_HOST"), Some(("probe01", &password())), &real_options(closed)).unwrap();
    assert_eq!(report.attempts.len(), 6);
    for attempt in report.attempts.iter().filter(|a| a.endpoint.port != closed) {
        let what = format!("{:?}", attempt.endpoint);
        assert!(attempt.works(), "{what}: {:?}", attempt.error);
        // native-tls does not tell the version it agreed.
        let version = attempt.tls_version.as_deref();
        assert!(version.is_none_or(|v| v.starts_with("TLSv1.")), "{what}: {version:?}");
        assert!(version.is_some() || cfg!(feature = "native-tls-backend"), "{what}");
        let cert = attempt.certificate.as_ref().expect("the session's certificate");
        assert_eq!(cert.sha256_hex(), env("MAILTLS_TEST_SERVER_SHA256").to_lowercase().replace(':', ""), "{what}");
        assert!(attempt.mechanisms.iter().any(|m| m == "PLAIN"), "{what}: {:?}", attempt.mechanisms);
        assert!(matches!(attempt.login, Login::Succeeded), "{what}: {:?}", attempt.login);
    }
    for attempt in report.attempts.iter().filter(|a| a.endpoint.port == closed) {
        let error = attempt.error.as_ref().expect("nothing listens there");
        assert!(matches!(error, Error::Connect(_)), "{error:?}");
        assert!(error.to_string().contains(&closed.to_string()), "{error}");
        assert!(matches!(attempt.login, Login::NotTried));
    }
    let pop3 = report.recommended(Protocol::Pop3).unwrap();
    assert_eq!((pop3.endpoint.port, pop3.endpoint.security), (port("MAILTLS_TEST_POP3S_PORT"), Security::Tls));
    let smtp = report.recommended(Protocol::Smtp).unwrap();
    assert_eq!((smtp.endpoint.port, smtp.endpoint.security), (port("MAILTLS_TEST_SMTPS_PORT"), Security::Tls));
}

#[test]
fn a_wrong_password_is_told_per_endpoint_and_the_setting_is_still_recommended() {
    let report =
        probe(&env("MAILTLS_TEST_HOST"), Some(("probe02", "not-the-password")), &real_options(closed_port())).unwrap();
    for attempt in report.attempts.iter().filter(|a| a.works()) {
        match &attempt.login {
            Login::Failed(e @ Error::AuthFailed(_)) => {
                assert!(e.to_string().contains("user name or password"), "{e}")
            }
            other => panic!("{:?}: {other:?}", attempt.endpoint),
        }
    }
    assert_eq!(report.recommended(Protocol::Pop3).unwrap().endpoint.port, port("MAILTLS_TEST_POP3S_PORT"));
}

#[test]
fn without_credentials_nothing_logs_in_and_without_the_ca_the_certificate_is_told() {
    // No CA: the test CA is not trusted, so every TLS endpoint fails on the
    // certificate, whose facts the attempt still carries.
    let mut options = real_options(closed_port());
    options.tls = Default::default();
    let report = probe(&env("MAILTLS_TEST_HOST"), None, &options).unwrap();
    for attempt in report.attempts.iter().filter(|a| a.certificate.is_some()) {
        assert!(matches!(attempt.error, Some(Error::Certificate(_))), "{:?}", attempt.error);
        assert!(matches!(attempt.login, Login::NotAsked));
    }
    assert_eq!(report.attempts.iter().filter(|a| a.certificate.is_some()).count(), 4);
    assert!(report.recommended(Protocol::Pop3).is_none());
    assert!(report.recommended(Protocol::Smtp).is_none());
}

#[test]
fn no_password_goes_to_a_port_without_stls() {
    let server = FakeServer::start(vec![
        send("+OK fake POP3\r\n"),
        Step::Expect("CAPA"),
        send("+OK\r\nUSER\r\nSASL PLAIN\r\n.\r\n"),
        // No STLS: the client hangs up, sending nothing more (no USER, no
        // AUTH, no password).
        Step::ExpectEof,
    ]);
    let options = ProbeOptions {
        endpoints: Some(vec![endpoint(Protocol::Pop3, server.port, Security::StartTls)]),
        timeout: Duration::from_secs(5),
        ..ProbeOptions::default()
    };
    let report = probe("127.0.0.1", Some(("probe", "secret-password")), &options).unwrap();
    let lines = server.finish();
    assert!(
        lines.iter().all(|l| !l.contains("secret") && !l.starts_with("USER") && !l.starts_with("AUTH")),
        "{lines:?}"
    );
    let attempt = &report.attempts[0];
    let error = attempt.error.as_ref().unwrap();
    assert!(matches!(error, Error::StartTlsUnavailable { .. }), "{error:?}");
    assert!(error.to_string().contains("995"), "names the implicit-TLS port: {error}");
    assert!(matches!(attempt.login, Login::NotTried));
}

#[test]
fn a_server_that_never_answers_ends_the_probe_near_its_timeout() {
    // Accepts, then says nothing: no greeting, no TLS.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent = listener.local_addr().unwrap().port();
    let keep = std::thread::spawn(move || {
        let held: Vec<_> = listener.incoming().take(2).collect();
        std::thread::sleep(Duration::from_secs(8));
        drop(held);
    });
    let options = ProbeOptions {
        endpoints: Some(vec![endpoint(Protocol::Smtp, silent, Security::Tls)]),
        timeout: Duration::from_secs(1),
        ..ProbeOptions::default()
    };
    let started = Instant::now();
    let report = probe("127.0.0.1", None, &options).unwrap();
    let took = started.elapsed();
    // About the timeout: well under the 8 s the server keeps quiet.
    assert!(took < Duration::from_secs(4), "{took:?}");
    let error = report.attempts[0].error.as_ref().unwrap();
    assert!(matches!(error, Error::Timeout(_)), "{error:?}");
    assert!(error.to_string().contains(&silent.to_string()), "names the port: {error}");
    drop(keep);
}

#[test]
fn bad_arguments_are_refused_before_anything_is_tried() {
    let none = ProbeOptions { endpoints: Some(vec![]), ..ProbeOptions::default() };
    assert!(matches!(probe("127.0.0.1", None, &none), Err(Error::InvalidArgument(_))));
    let zero = ProbeOptions { timeout: Duration::ZERO, ..ProbeOptions::default() };
    assert!(matches!(probe("127.0.0.1", None, &zero), Err(Error::InvalidArgument(_))));
    assert!(matches!(probe("mail.example\r\nQUIT", None, &ProbeOptions::default()), Err(Error::InvalidArgument(_))));
    let clear = ProbeOptions {
        endpoints: Some(vec![endpoint(Protocol::Pop3, 110, Security::None)]),
        ..ProbeOptions::default()
    };
    assert!(matches!(probe("127.0.0.1", Some(("u", "p")), &clear), Err(Error::InvalidArgument(_))));
}
