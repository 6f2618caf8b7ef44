//! Each login and SMTP refusal, from scripted servers: the result, and a
//! message that says what is wrong and whether trying again can help.

mod common;

use common::{FakeServer, Step, plain_options, send};
use mailtls::pop3::Pop3Client;
use mailtls::sasl::Mechanism;
use mailtls::smtp::{MessageSource, SmtpClient};
use mailtls::{Client, Error};

// ----------------------------------------------------------------- POP3 login

/// The message of a POP3 USER/PASS login the server answers with `refusal`.
fn pop3_login_refused(refusal: &str) -> Error {
    let server = FakeServer::start(vec![
        send("+OK ready\r\n"),
        Step::Expect("CAPA"),
        send("+OK\r\nUSER\r\n.\r\n"),
        Step::Expect("USER u"),
        send("+OK\r\n"),
        Step::Expect("PASS p"),
        send(refusal),
    ]);
    let mut client = Pop3Client::connect("127.0.0.1", server.port, &plain_options()).unwrap();
    let err = client.login("u", "p", Some(Mechanism::User)).expect_err("refused");
    drop(client);
    server.finish();
    err
}

#[test]
fn pop3_login_refusals_tell_a_wrong_password_from_the_rest() {
    let cases = [
        ("-ERR [AUTH] Authentication failed.\r\n", "refused this user name or password", "check both"),
        ("-ERR [IN-USE] Mailbox locked\r\n", "mailbox is in use", "close the other mail program"),
        ("-ERR [LOGIN-DELAY] Wait a bit\r\n", "only every so often", "check mail less often"),
        ("-ERR [SYS/TEMP] Try again\r\n", "a temporary problem on its side", "try again later"),
        ("-ERR [SYS/PERM] Broken\r\n", "a problem on its side", "ask the provider"),
        ("-ERR Bad login\r\n", "refused this user name or password", "(-ERR Bad login)"),
    ];
    for (refusal, what, remedy) in cases {
        let err = pop3_login_refused(refusal);
        assert!(matches!(err, Error::AuthFailed(_)), "{refusal}: {err:?}");
        let message = err.to_string();
        assert!(message.contains(what) && message.contains(remedy), "{refusal}: {message}");
        assert!(message.contains(refusal.trim_end()), "the server's reply is quoted: {message}");
        let judged = !message.contains("were not judged");
        assert_eq!(judged, what.contains("user name or password"), "{refusal}: {message}");
    }
}

#[test]
fn no_login_method_in_common_says_what_each_side_has() {
    let server = FakeServer::start(vec![
        send("+OK ready\r\n"),
        Step::Expect("CAPA"),
        send("+OK\r\nSASL GSSAPI NTLM\r\n.\r\n"),
        Step::ExpectEof,
    ]);
    let mut client = Pop3Client::connect("127.0.0.1", server.port, &plain_options()).unwrap();
    let err = client.login("u", "p", None).expect_err("nothing in common");
    drop(client);
    server.finish();
    let Error::NoCommonMechanism(text) = &err else { panic!("{err:?}") };
    assert!(text.contains("the server offers GSSAPI, NTLM"), "{text}");
    assert!(text.contains("this client can use") && text.contains("PLAIN") && text.contains("USER"), "{text}");
    assert!(text.contains("ask the provider to enable a password login"), "{text}");
}

#[test]
fn a_method_the_program_forbids_is_named_as_the_change() {
    let server = FakeServer::start(vec![
        send("+OK ready\r\n"),
        Step::Expect("CAPA"),
        send("+OK\r\nSASL CRAM-MD5\r\n.\r\n"),
        Step::ExpectEof,
    ]);
    let mut opts = plain_options();
    opts.allowed_mechanisms = Some(vec![Mechanism::Plain]);
    let mut client = Pop3Client::connect("127.0.0.1", server.port, &opts).unwrap();
    let err = client.login("u", "p", None).expect_err("nothing in common");
    drop(client);
    server.finish();
    let text = err.to_string();
    assert!(text.contains("the server offers CRAM-MD5, this client can use PLAIN"), "{text}");
    assert!(text.ends_with("allow CRAM-MD5 in the program's login settings"), "{text}");
}

// ----------------------------------------------------------------- SMTP

const EHLO: &str = "250-fake\r\n250-ENHANCEDSTATUSCODES\r\n250 AUTH PLAIN\r\n";

fn smtp(rest: Vec<Step>) -> (FakeServer, SmtpClient) {
    let mut script = vec![send("220 fake ESMTP\r\n"), Step::Expect("EHLO client.example"), send(EHLO)];
    script.extend(rest);
    let server = FakeServer::start(script);
    let mut opts = plain_options();
    opts.client_name = Some(mailtls::ClientName::new("client.example").unwrap());
    let client = SmtpClient::connect("127.0.0.1", server.port, &opts).unwrap();
    (server, client)
}

fn send_one(client: &mut SmtpClient, to: &[&str]) -> Error {
    let mut body: &[u8] = b"Subject: x\r\n\r\nx\r\n";
    client.send("a@example.org", to, MessageSource::from_bytes(&mut body), None).expect_err("refused")
}

#[test]
fn smtp_login_refusals_say_what_kind() {
    let cases = [
        ("535 5.7.8 Error: authentication failed\r\n", "refused this user name or password"),
        ("454 4.7.0 Temporary authentication failure\r\n", "temporary problem on its side"),
        ("534 5.7.9 Authentication mechanism is too weak\r\n", "refused this login method as too weak"),
    ];
    for (refusal, what) in cases {
        let (server, mut client) = smtp(vec![Step::Expect("AUTH PLAIN"), send(refusal)]);
        let err = client.login("u", "p", Some(Mechanism::Plain)).expect_err("refused");
        drop(client);
        server.finish();
        assert!(matches!(err, Error::AuthFailed(_)), "{err:?}");
        assert!(err.to_string().contains(what), "{refusal}: {err}");
    }
}

#[test]
fn a_530_on_mail_without_a_login_says_to_log_in() {
    // No pipelining: MAIL is sent alone and its refusal ends the send.
    let (server, mut client) =
        smtp(vec![Step::Expect("MAIL FROM:<a@example.org>"), send("530 5.7.0 Authentication required\r\n")]);
    let err = send_one(&mut client, &["b@example.org"]);
    drop(client);
    server.finish();
    assert!(matches!(err, Error::Server(_)), "{err:?}");
    let text = err.to_string();
    assert!(text.starts_with("the server refused the command: 530 5.7.0 Authentication required: "), "{text}");
    // In clear, encryption comes with the login.
    assert!(
        text.ends_with("choose STARTTLS or SSL/TLS and log in with the account's user name and password"),
        "{text}"
    );
}

#[test]
fn a_relay_refusal_without_a_login_says_to_log_in() {
    let (server, mut client) = smtp(vec![
        Step::Expect("MAIL"),
        send("250 2.1.0 ok\r\n"),
        Step::Expect("RCPT TO:<x@example.com>"),
        send("554 5.7.1 <x@example.com>: Relay access denied\r\n"),
        Step::Expect("RSET"),
        send("250 ok\r\n"),
        Step::Expect("MAIL"),
        send("250 2.1.0 ok\r\n"),
        Step::Expect("RCPT TO:<x@example.com>"),
        send("550 5.1.1 <x@example.com>: User unknown\r\n"),
        Step::Expect("RCPT TO:<y@example.com>"),
        send("450 4.2.0 <y@example.com>: greylisted\r\n"),
    ]);
    let err = send_one(&mut client, &["x@example.com"]);
    assert!(matches!(&err, Error::RecipientsRefused(results, Some(_)) if results.len() == 1), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("Relay access denied: the server passes mail on to other domains only for a logged-in user"),
        "{text}"
    );
    // Refusals that mean different things: each reply is there, no one
    // piece of advice.
    let err = send_one(&mut client, &["x@example.com", "y@example.com"]);
    drop(client);
    server.finish();
    let Error::RecipientsRefused(results, advice) = &err else { panic!("{err:?}") };
    assert_eq!((results.len(), *advice), (2, None));
    let text = err.to_string();
    assert!(text.contains("User unknown") && text.contains("greylisted"), "{text}");
}

#[test]
fn refusals_say_whether_trying_again_can_help() {
    let cases: [(&str, &str); 4] = [
        ("451 4.3.0 Queue full, try later\r\n", "a temporary refusal: trying again later can help"),
        ("553 5.1.8 Sender address rejected: Domain not found\r\n", "an address was not accepted"),
        (
            "554 5.7.1 Sender rejected by policy\r\n",
            "refused for security or policy reasons; the program did not log in",
        ),
        ("552 5.3.4 Message size exceeds fixed limit\r\n", "too large for the server"),
    ];
    for (refusal, advice) in cases {
        let (server, mut client) = smtp(vec![Step::Expect("MAIL"), send(refusal)]);
        let err = send_one(&mut client, &["b@example.org"]);
        drop(client);
        server.finish();
        let text = err.to_string();
        assert!(text.contains(refusal.trim_end()) && text.contains(advice), "{refusal}: {text}");
        let again = text.contains("can help");
        assert_eq!(again, refusal.starts_with('4'), "{text}");
    }
}
