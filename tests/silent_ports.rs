//! A port that says nothing in clear: an implicit-TLS port asked for
//! STARTTLS is named as such within seconds (a TLS probe on a second
//! connection), not after the whole I/O timeout; a port silent in every way
//! names its host and port and says what to check. Against the project's
//! Dovecot and Postfix (their implicit-TLS ports) and a local listener that
//! never speaks. No user is logged in.

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::{port, recording_tracer, sent_command, tls_options};
use mailtls::pop3::Pop3Client;
use mailtls::smtp::SmtpClient;
use mailtls::trace::TraceKind;
use mailtls::{Client, ClientOptions, Error, Security};

/// STARTTLS asked for, a long I/O timeout: only the probe can answer fast.
fn starttls_options() -> ClientOptions {
    let mut opts = tls_options();
    opts.security = Security::StartTls;
    opts.io_timeout = Duration::from_secs(60);
    opts
}

fn assert_implicit_tls_port(err: Error, port: u16, elapsed: Duration) {
    assert!(elapsed < Duration::from_secs(15), "diagnosed after {elapsed:?}, not within seconds");
    match &err {
        Error::ImplicitTlsPort { port: p, .. } => assert_eq!(*p, port),
        other => panic!("expected ImplicitTlsPort, got {other:?}"),
    }
    let message = err.to_string();
    assert!(message.contains(&format!("localhost:{port} expects TLS from the first byte")), "{message}");
    assert!(message.contains("choose SSL/TLS"), "{message}");
}

#[test]
fn dovecot_pop3s_asked_for_stls_is_named_an_implicit_tls_port_within_seconds() {
    let pop3s = port("MAILTLS_TEST_POP3S_PORT");
    let (tracer, log) = recording_tracer();
    let opts = ClientOptions { tracer, ..starttls_options() };
    let started = Instant::now();
    let err = Pop3Client::connect("localhost", pop3s, &opts).expect_err("no greeting in clear");
    assert_implicit_tls_port(err, pop3s, started.elapsed());
    let log = log.lock().unwrap();
    assert!(!log.iter().any(|(kind, _)| *kind == TraceKind::Command), "nothing was sent on the session");
    assert!(!sent_command(&log, "USER"));
}

#[test]
fn postfix_smtps_asked_for_starttls_is_named_an_implicit_tls_port_within_seconds() {
    let smtps = port("MAILTLS_TEST_SMTPS_PORT");
    let started = Instant::now();
    let err = SmtpClient::connect("localhost", smtps, &starttls_options()).expect_err("no greeting in clear");
    assert_implicit_tls_port(err, smtps, started.elapsed());
}

#[test]
fn a_port_silent_in_every_way_names_itself_and_what_to_check() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent = listener.local_addr().unwrap().port();
    // Accepts, reads (the probe's hello too), never answers.
    std::thread::spawn(move || {
        for stream in listener.incoming().take(2) {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let mut sink = [0u8; 1024];
                while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
            });
        }
    });
    let mut opts = starttls_options();
    opts.io_timeout = Duration::from_secs(3);
    let err = Pop3Client::connect("127.0.0.1", silent, &opts).expect_err("silent");
    assert!(matches!(err, Error::Timeout(_)), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&format!("no greeting from 127.0.0.1:{silent}")), "{message}");
    assert!(message.contains("995 with SSL/TLS and 110 with STARTTLS"), "{message}");
    assert!(message.contains("firewall"), "{message}");
}

#[test]
fn a_server_that_greets_at_once_is_not_probed() {
    // Dovecot's STLS port: the greeting comes at once; no probe connection
    // (which the trace would show) and the session is secured as asked.
    let (tracer, log) = recording_tracer();
    let opts = ClientOptions { tracer, ..starttls_options() };
    let client = Pop3Client::connect("localhost", port("MAILTLS_TEST_POP3_PORT"), &opts).expect("STLS");
    assert!(client.is_tls());
    let log = log.lock().unwrap();
    assert!(
        !log.iter().any(|(_, d)| String::from_utf8_lossy(d).contains("speaks TLS from the first byte")),
        "no probe"
    );
}
