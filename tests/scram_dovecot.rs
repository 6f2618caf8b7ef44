//! SCRAM against the project's real Dovecot 2.3 started with SCRAM offered
//! (`MAILTLS_DOVECOT_SCRAM=1 bash tests/servers/dovecot.sh start STATE`,
//! then `postfix.sh start STATE` for SMTP AUTH through Dovecot's SASL).
//! The users are scram01 (password stored only as a SCRAM-SHA-256 hash)
//! and scram02 (stored in plain). Dovecot 2.3 offers no -PLUS variant:
//! channel binding is tested against a scripted server (tests/scram_fake.rs).

mod common;

use common::{env, password, port, recording_tracer, sent_command, tls_options};
use mailtls::pop3::Pop3Client;
use mailtls::sasl::Mechanism;
use mailtls::smtp::SmtpClient;
use mailtls::trace::TraceKind;
use mailtls::{Client, ClientOptions, Error, Security};

fn scram_server() {
    assert_eq!(
        env("MAILTLS_TEST_DOVECOT_SCRAM"),
        "1",
        "this Dovecot does not offer SCRAM: start it with MAILTLS_DOVECOT_SCRAM=1 bash tests/servers/dovecot.sh start STATE"
    );
}

fn pop3s() -> u16 {
    port("MAILTLS_TEST_POP3S_PORT")
}

fn pop3(opts: &ClientOptions) -> Pop3Client {
    scram_server();
    let opts = ClientOptions { security: Security::Tls, ..opts.clone() };
    Pop3Client::connect("localhost", pop3s(), &opts).expect("connect over TLS")
}

fn submission(opts: &ClientOptions) -> SmtpClient {
    scram_server();
    SmtpClient::connect("localhost", port("MAILTLS_TEST_SMTP_SUBMISSION_PORT"), opts).expect("connect with STARTTLS")
}

#[test]
fn pop3_logs_in_with_each_scram_variant() {
    // scram02's password is stored in plain: Dovecot derives both keys.
    // scram01's only as SCRAM-SHA-256 keys: only SCRAM-SHA-256 can work.
    for (user, mechanism) in
        [("scram02", Mechanism::ScramSha256), ("scram02", Mechanism::ScramSha1), ("scram01", Mechanism::ScramSha256)]
    {
        let (tracer, log) = recording_tracer();
        let mut client = pop3(&ClientOptions { tracer, ..tls_options() });
        assert!(client.capabilities().sasl_mechanism(mechanism), "{}", mechanism.name());
        client.login(user, &password(), Some(mechanism)).unwrap_or_else(|e| panic!("{user} {}: {e}", mechanism.name()));
        client.stat().expect("a session after SCRAM");
        client.quit().unwrap();
        let log = log.lock().unwrap();
        assert!(sent_command(&log, &format!("AUTH {} <redacted>", mechanism.name())), "{user} {}", mechanism.name());
        // Every SASL response is redacted whole (the client-final message
        // carries the proof).
        let commands: Vec<String> = log
            .iter()
            .filter(|(k, _)| *k == TraceKind::Command)
            .map(|(_, d)| String::from_utf8_lossy(d).into_owned())
            .collect();
        assert!(
            commands.iter().all(|c| c.starts_with("AUTH ") || c == "<redacted>" || !c.contains("p=")),
            "{commands:?}"
        );
        // The client-final message, then the empty answer to the server's
        // signature (nothing to hide there).
        let after_auth: Vec<&str> =
            commands.iter().skip_while(|c| !c.starts_with("AUTH ")).skip(1).map(|c| c.as_str()).collect();
        assert_eq!(after_auth[..2], ["<redacted>", ""], "{commands:?}");
    }
    // SCRAM-SHA-1 keys cannot come from SCRAM-SHA-256 ones.
    let mut client = pop3(&tls_options());
    let err = client.login("scram01", &password(), Some(Mechanism::ScramSha1)).unwrap_err();
    assert!(matches!(err, Error::AuthFailed(_)), "{err}");
}

#[test]
fn pop3_wrong_password_is_refused_by_every_variant() {
    for mechanism in [Mechanism::ScramSha256, Mechanism::ScramSha1] {
        let mut client = pop3(&tls_options());
        let err = client.login("scram02", "not-the-password", Some(mechanism)).unwrap_err();
        assert!(matches!(err, Error::AuthFailed(_)), "{}: {err}", mechanism.name());
        // The refusal ends the login, not the session.
        client.login("scram02", &password(), Some(mechanism)).unwrap();
        client.quit().unwrap();
    }
    let mut client = pop3(&tls_options());
    let err = client.login("scram01", "not-the-password", Some(Mechanism::ScramSha256)).unwrap_err();
    assert!(matches!(err, Error::AuthFailed(_)), "{err}");
}

/// Without a named mechanism SCRAM-SHA-256 comes first, to a verified
/// server as to one whose certificate was not checked; -PLUS is not tried
/// since Dovecot 2.3 does not offer it.
#[test]
fn the_automatic_choice_is_scram_sha_256() {
    for opts in [tls_options(), common::unchecked_tls_options()] {
        let (tracer, log) = recording_tracer();
        let mut client = pop3(&ClientOptions { tracer, ..opts });
        client.login("scram01", &password(), None).unwrap();
        client.quit().unwrap();
        let log = log.lock().unwrap();
        assert!(sent_command(&log, "AUTH SCRAM-SHA-256 "), "{log:?}");
        assert!(!sent_command(&log, "AUTH SCRAM-SHA-256-PLUS") && !sent_command(&log, "AUTH PLAIN"));
        assert!(log.iter().any(|(k, d)| *k == TraceKind::Info && d == b"authenticating with SCRAM-SHA-256"));
    }
    // Restricted to other mechanisms, the old order still applies.
    let (tracer, log) = recording_tracer();
    let opts =
        ClientOptions { tracer, allowed_mechanisms: Some(vec![Mechanism::Plain, Mechanism::CramMd5]), ..tls_options() };
    let mut client = pop3(&opts);
    client.login("scram02", &password(), None).unwrap();
    assert!(sent_command(&log.lock().unwrap(), "AUTH PLAIN "));
}

#[test]
fn plus_variants_are_not_offered_by_dovecot_2_3() {
    let mut client = pop3(&tls_options());
    let err = client.login("scram02", &password(), Some(Mechanism::ScramSha256Plus)).unwrap_err();
    assert!(matches!(err, Error::NoCommonMechanism(_)), "{err}");
    client.login("scram02", &password(), Some(Mechanism::ScramSha256)).unwrap();
}

#[test]
fn smtp_auth_through_dovecot_sasl_logs_in_with_scram() {
    let client = submission(&tls_options());
    let offered = client.extensions().auth_mechanisms().to_vec();
    assert!(offered.iter().any(|m| m == "SCRAM-SHA-256") && offered.iter().any(|m| m == "SCRAM-SHA-1"), "{offered:?}");
    for (user, mechanism) in [
        ("scram02", Some(Mechanism::ScramSha256)),
        ("scram02", Some(Mechanism::ScramSha1)),
        ("scram01", Some(Mechanism::ScramSha256)),
        ("scram01", None),
    ] {
        let (tracer, log) = recording_tracer();
        let mut client = submission(&ClientOptions { tracer, ..tls_options() });
        client.login(user, &password(), mechanism).unwrap_or_else(|e| panic!("{user} {mechanism:?}: {e}"));
        client.quit().unwrap();
        let expected = mechanism.unwrap_or(Mechanism::ScramSha256).name();
        assert!(sent_command(&log.lock().unwrap(), &format!("AUTH {expected} ")), "{user} {expected}");
    }
    let mut client = submission(&tls_options());
    let err = client.login("scram02", "not-the-password", Some(Mechanism::ScramSha256)).unwrap_err();
    assert!(matches!(err, Error::AuthFailed(_)), "{err}");
    assert!(err.reply().is_some_and(|r| r.code == Some(535)), "{err}");
}
