//! The certificate callback against the project's Dovecot and Postfix,
//! whose certificates come from a CA these options do not trust: the
//! callback is asked (with the facts and the reason) before any command
//! but the greeting's, CAPA and STLS; accepting lets this one connection
//! go on to a login, refusing fails the connect before any credential,
//! and nothing is remembered. Users: certcb01, certcb02 (mailboxes only
//! read). With the native-tls backend, which keeps no certificate of a
//! refused handshake, the client reads it on a second connection that
//! stops after the handshake, and the callback is asked then.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{env, password, port, recording_tracer, sent_command, tls_options};
use mailtls::pop3::Pop3Client;
use mailtls::smtp::SmtpClient;
use mailtls::trace::TraceKind;
use mailtls::{CertificateCallback, CertificateDecision, CertificateReason, Client, ClientOptions, Error, Security};

/// The connections that go as far as the handshake before the decision:
/// one, or two where the backend keeps no certificate of a refused
/// handshake (native-tls) and the client looks again.
const LOOKS: usize = if cfg!(feature = "native-tls-backend") { 2 } else { 1 };

/// What the callback was shown: the fingerprint and the reason, per call.
type Calls = Arc<Mutex<Vec<(String, CertificateReason)>>>;

/// A callback that records its calls and answers `decision`.
fn callback(decision: CertificateDecision) -> (CertificateCallback, Calls) {
    let calls = Calls::default();
    let seen = calls.clone();
    let cb = CertificateCallback::new(move |cert, reason| {
        seen.lock().unwrap().push((cert.sha256_hex(), reason));
        decision
    });
    (cb, calls)
}

/// Options without the test CA (so its certificates are from an unknown
/// issuer), with `cb`, over `security`.
fn untrusting(security: Security, cb: Option<CertificateCallback>) -> ClientOptions {
    ClientOptions {
        security,
        certificate_callback: cb,
        io_timeout: Duration::from_secs(20),
        connect_timeout: Duration::from_secs(10),
        ..ClientOptions::default()
    }
}

fn pop3_endpoints() -> [(u16, Security, &'static str); 2] {
    [
        (port("MAILTLS_TEST_POP3S_PORT"), Security::Tls, "certcb01"),
        (port("MAILTLS_TEST_POP3_PORT"), Security::StartTls, "certcb02"),
    ]
}

/// The commands of a trace, in order, as text.
fn commands(log: &[(TraceKind, Vec<u8>)]) -> Vec<String> {
    log.iter().filter(|(k, _)| *k == TraceKind::Command).map(|(_, d)| String::from_utf8_lossy(d).into()).collect()
}

/// What a connect may send before the certificate decision: nothing over
/// implicit TLS, CAPA and STLS for STARTTLS.
fn before_decision(security: Security) -> Vec<String> {
    let each: &[&str] = match security {
        Security::StartTls => &["CAPA", "STLS"],
        _ => &[],
    };
    each.repeat(LOOKS).into_iter().map(String::from).collect()
}

fn unknown_issuer(err: Error) -> Box<mailtls::CertificateError> {
    match err {
        Error::Certificate(c) if c.reason == CertificateReason::UnknownIssuer => c,
        other => panic!("expected CERTIFICATE_UNKNOWN_ISSUER, got {other:?}"),
    }
}

#[test]
fn accepted_once_the_session_logs_in_and_the_next_connect_is_refused_again() {
    let server_sha256 = env("MAILTLS_TEST_SERVER_SHA256");
    for (port, security, user) in pop3_endpoints() {
        let (cb, calls) = callback(CertificateDecision::AcceptOnce);
        let (tracer, log) = recording_tracer();
        let opts = ClientOptions { tracer, ..untrusting(security, Some(cb)) };
        let result = Pop3Client::connect("localhost", port, &opts);
        let mut client = result.unwrap_or_else(|e| panic!("{security:?}: accepted, yet {e}"));
        assert_eq!(*calls.lock().unwrap(), [(server_sha256.clone(), CertificateReason::UnknownIssuer)]);
        let info = client.tls_info().expect("TLS is up");
        assert_eq!(info.accepted_despite, Some(CertificateReason::UnknownIssuer));
        assert_eq!(mailtls::fingerprint::sha256_hex(&info.peer_sha256.unwrap()), server_sha256);
        // The decision came right after the handshake: STARTTLS's CAPA is
        // asked again over TLS only after it.
        let log_now = log.lock().unwrap().clone();
        let decided = log_now
            .iter()
            .position(|(k, d)| *k == TraceKind::Info && String::from_utf8_lossy(d).contains("accepted for this"))
            .expect("the decision is traced");
        let sent_before = commands(&log_now[..decided]);
        assert_eq!(sent_before, before_decision(security), "{security:?}");
        // The user trusted exactly this certificate: the session is whole.
        client.login(user, &password(), None).expect("login over the accepted connection");
        client.stat().expect("STAT");
        client.quit().expect("QUIT");

        // Nothing was stored: the same options without the callback fail.
        let again = Pop3Client::connect("localhost", port, &untrusting(security, None));
        unknown_issuer(again.expect_err("accepted once only"));
    }
}

#[test]
fn refused_the_connect_fails_with_the_certificate_and_no_credential_is_sent() {
    for (port, security, _) in pop3_endpoints() {
        let (cb, calls) = callback(CertificateDecision::Refuse);
        let (tracer, log) = recording_tracer();
        let opts = ClientOptions { tracer, ..untrusting(security, Some(cb)) };
        let c = unknown_issuer(Pop3Client::connect("localhost", port, &opts).expect_err("refused"));
        assert_eq!(calls.lock().unwrap().len(), 1, "{security:?}");
        let cert = c.certificate.as_ref().expect("the certificate stays with the error");
        assert_eq!(cert.sha256_hex(), env("MAILTLS_TEST_SERVER_SHA256"));
        assert!(c.message.contains(&cert.sha256_hex()), "the message gives the fingerprint: {}", c.message);
        let log = log.lock().unwrap();
        assert_eq!(commands(&log), before_decision(security), "{security:?}: nothing after the handshake");
        for credential in ["USER", "PASS", "AUTH", "APOP"] {
            assert!(!sent_command(&log, credential), "{credential} went out");
        }
    }
}

#[test]
fn never_asked_for_a_valid_or_pinned_certificate_nor_a_pin_mismatch_nor_with_the_danger_switch() {
    let (cb, calls) = callback(CertificateDecision::AcceptOnce);
    for (port, security, _) in pop3_endpoints() {
        // Verified.
        let opts = ClientOptions { security, certificate_callback: Some(cb.clone()), ..tls_options() };
        let client = Pop3Client::connect("localhost", port, &opts).expect("a valid certificate");
        assert_eq!(client.tls_info().unwrap().accepted_despite, None);
        // Pinned.
        let mut pinned = untrusting(security, Some(cb.clone()));
        pinned.tls.set_pin_sha256_hex(&env("MAILTLS_TEST_SERVER_SHA256")).unwrap();
        Pop3Client::connect("localhost", port, &pinned).expect("the pinned certificate");
        // A pin mismatch is refused outright, even with an accepting callback.
        pinned.tls.pin_sha256 = Some([0x5a; 32]);
        let err = Pop3Client::connect("localhost", port, &pinned).expect_err("not the pinned certificate");
        assert!(matches!(err, Error::CertificatePinMismatch { .. }), "{err:?}");
        // The danger switch checks nothing, so there is nothing to ask.
        let mut danger = untrusting(security, Some(cb.clone()));
        danger.tls.danger_accept_invalid_certs = true;
        Pop3Client::connect("localhost", port, &danger).expect("the danger switch");
    }
    assert!(calls.lock().unwrap().is_empty(), "asked: {:?}", calls.lock().unwrap());
}

#[test]
fn smtp_asks_over_implicit_tls_and_starttls_too() {
    let endpoints = [
        (port("MAILTLS_TEST_SMTPS_PORT"), Security::Tls),
        (port("MAILTLS_TEST_SMTP_SUBMISSION_PORT"), Security::StartTls),
    ];
    for (port, security) in endpoints {
        let (cb, calls) = callback(CertificateDecision::AcceptOnce);
        let result = SmtpClient::connect("localhost", port, &untrusting(security, Some(cb)));
        let mut client = result.unwrap_or_else(|e| panic!("{security:?}: accepted, yet {e}"));
        assert_eq!(calls.lock().unwrap().len(), 1);
        assert_eq!(calls.lock().unwrap()[0].1, CertificateReason::UnknownIssuer);
        assert!(client.is_tls() && !client.capability_set().is_empty(), "EHLO answered over TLS");
        client.quit().expect("QUIT");

        let (cb, calls) = callback(CertificateDecision::Refuse);
        let (tracer, log) = recording_tracer();
        let opts = ClientOptions { tracer, ..untrusting(security, Some(cb)) };
        unknown_issuer(SmtpClient::connect("localhost", port, &opts).expect_err("refused"));
        assert_eq!(calls.lock().unwrap().len(), 1);
        let sent = commands(&log.lock().unwrap());
        let each: &[&str] = if security == Security::StartTls { &["EHLO", "STARTTLS"] } else { &[] };
        let expected = each.repeat(LOOKS);
        assert_eq!(sent.len(), expected.len(), "{sent:?}");
        for (line, start) in sent.iter().zip(expected) {
            assert!(line.starts_with(start), "{sent:?}");
        }
    }
}
