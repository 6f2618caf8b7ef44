//! SMTP submission against the project's real Postfix (tests/servers/
//! postfix.sh), delivering into Dovecot's maildirs; messages are read back
//! from the files and through POP3. Each test owns users among
//! user20..user39.

mod common;

use std::time::{Duration, Instant};

use common::{env, password, port, recording_tracer, seed, sent_command, tls_options, unchecked_tls_options};
use mailtls::Client;
use mailtls::pop3::Pop3Client;
use mailtls::sasl::Mechanism;
use mailtls::smtp::{MessageSource, RecipientResult, SmtpClient};
use mailtls::trace::TraceKind;
use mailtls::{ClientOptions, Error, Security};

fn submission() -> u16 {
    port("MAILTLS_TEST_SMTP_SUBMISSION_PORT")
}
fn smtps() -> u16 {
    port("MAILTLS_TEST_SMTPS_PORT")
}
fn smtp_plain() -> u16 {
    port("MAILTLS_TEST_SMTP_PLAIN_PORT")
}

/// A logged-in session on the submission port (STARTTLS), as `user`.
fn session(user: &str) -> SmtpClient {
    let mut client = SmtpClient::connect("localhost", submission(), &tls_options()).expect("connect with STARTTLS");
    client.login(user, &password(), None).expect("login");
    client
}

fn send(client: &mut SmtpClient, from: &str, to: &[&str], mut body: &[u8]) -> mailtls::Result<Vec<RecipientResult>> {
    client.send(from, to, MessageSource::from_bytes(&mut body), None)
}

/// The message as it travels: every line end CRLF, a final one added.
fn canonical(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < message.len() {
        match message[i] {
            b'\r' => {
                out.extend_from_slice(b"\r\n");
                if message.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            b'\n' => out.extend_from_slice(b"\r\n"),
            b => out.push(b),
        }
        i += 1;
    }
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Drop the trace lines the delivery agent puts on top.
fn without_delivery_headers(mut message: &[u8]) -> &[u8] {
    loop {
        let is_trace = [&b"Return-Path:"[..], b"Delivered-To:", b"X-Original-To:"]
            .iter()
            .any(|h| message.len() >= h.len() && message[..h.len()].eq_ignore_ascii_case(h));
        if !is_trace {
            return message;
        }
        let end = message.iter().position(|b| *b == b'\n').map_or(message.len(), |p| p + 1);
        message = &message[end..];
    }
}

/// Wait for `count` messages in `user`'s mailbox (delivery is asynchronous).
fn wait_for_delivery(user: &str, count: usize) {
    let dir = common::maildir(user).join("new");
    let started = Instant::now();
    loop {
        let n = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
        if n >= count {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{user}: {n} of {count} messages delivered");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Fetch every message of `user` over POP3S, in order.
fn fetch_all(user: &str) -> Vec<Vec<u8>> {
    let mut opts = tls_options();
    opts.security = Security::Tls;
    let mut pop = Pop3Client::connect("localhost", port("MAILTLS_TEST_POP3S_PORT"), &opts).unwrap();
    pop.login(user, &password(), None).unwrap();
    let count = pop.stat().unwrap().0;
    (1..=count).map(|n| pop.retr_to_vec(n).unwrap()).collect()
}

#[test]
fn every_mechanism_authenticates() {
    let client = SmtpClient::connect("localhost", submission(), &tls_options()).unwrap();
    let offered: Vec<String> = client.extensions().auth_mechanisms().to_vec();
    assert!(offered.iter().any(|m| m == "PLAIN") && offered.iter().any(|m| m == "LOGIN"), "{offered:?}");
    let mut mechanisms = vec![None, Some(Mechanism::Plain), Some(Mechanism::Login)];
    if offered.iter().any(|m| m == "CRAM-MD5") {
        mechanisms.push(Some(Mechanism::CramMd5));
    }
    for mechanism in mechanisms {
        for (port, security) in
            [(submission(), Security::Auto), (smtps(), Security::Tls), (smtp_plain(), Security::StartTls)]
        {
            let mut opts = tls_options();
            opts.security = security;
            let mut client = SmtpClient::connect("localhost", port, &opts).unwrap();
            assert!(client.is_tls());
            client.login("user20", &password(), mechanism).unwrap_or_else(|e| panic!("{mechanism:?} on {port}: {e}"));
            client.quit().unwrap();
        }
    }
}

/// Without a named mechanism: PLAIN with an initial response to a verified
/// server, CRAM-MD5 to one whose certificate was not checked.
#[test]
fn automatic_choice_depends_on_a_verified_server() {
    for (opts, expected) in [(tls_options(), "AUTH PLAIN "), (unchecked_tls_options(), "AUTH CRAM-MD5")] {
        let (tracer, log) = recording_tracer();
        let opts = ClientOptions { tracer, ..opts };
        let mut client = SmtpClient::connect("localhost", submission(), &opts).unwrap();
        client.login("user20", &password(), None).unwrap();
        client.quit().unwrap();
        assert!(sent_command(&log.lock().unwrap(), expected), "expected {expected}");
    }
}

#[test]
fn extensions_are_typed_and_fresh_after_starttls() {
    let client = SmtpClient::connect("localhost", submission(), &tls_options()).unwrap();
    let ext = client.extensions();
    let limit: u64 = env("MAILTLS_TEST_SMTP_SIZE_LIMIT").parse().unwrap();
    assert_eq!(ext.size(), Some(limit));
    assert!(ext.pipelining() && ext.eight_bit_mime() && ext.smtputf8() && ext.dsn() && ext.enhanced_status_codes());
    assert!(!ext.starttls(), "not announced again over TLS");
}

#[test]
fn wrong_password_is_reported_not_retried() {
    let (tracer, log) = recording_tracer();
    let mut opts = tls_options();
    opts.tracer = tracer;
    let mut client = SmtpClient::connect("localhost", submission(), &opts).unwrap();
    match client.login("user21", "wrong password", None) {
        Err(Error::AuthFailed(reply)) => {
            assert_eq!(reply.code, Some(535), "{reply:?}");
            assert!(reply.enhanced_code.as_deref().unwrap_or("").starts_with("5.7."), "{reply:?}");
        }
        other => panic!("{other:?}"),
    }
    let auth_attempts =
        log.lock().unwrap().iter().filter(|(k, d)| *k == TraceKind::Command && d.starts_with(b"AUTH")).count();
    assert_eq!(auth_attempts, 1, "a wrong password is not tried with every mechanism");
    client.login("user21", &password(), None).expect("the session goes on");
}

#[test]
fn auth_before_starttls_is_refused_by_the_server() {
    let opts = ClientOptions { security: Security::None, allow_plaintext_auth: true, ..Default::default() };
    let mut client = SmtpClient::connect("127.0.0.1", submission(), &opts).unwrap();
    assert!(client.extensions().starttls());
    let err = client.login("user21", &password(), None).expect_err("no AUTH in clear");
    assert!(matches!(err, Error::NoCommonMechanism(_)), "{err:?}");
    let mut body: &[u8] = b"x";
    let err =
        client.send("a@example.org", &["user21@localhost"], MessageSource::from_bytes(&mut body), None).err().unwrap();
    assert_eq!(err.reply().and_then(|r| r.code), Some(530), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("Must issue a STARTTLS command first: the server accepts mail only from a logged-in user over an encrypted connection"), "{text}");
}

#[test]
fn messages_are_delivered_byte_exact() {
    let user = "user22";
    seed(user, &[]);
    let long_line = "x".repeat(990);
    let messages: Vec<Vec<u8>> = vec![
        b"Subject: dots\r\n\r\n.leading dot\r\n..two\r\n.\r\nafter a lone dot\r\n".to_vec(),
        b"Subject: bare lf\n\nline one\nline two\n".to_vec(),
        b"Subject: no final line end\r\n\r\nlast line".to_vec(),
        b"Subject: 8bit\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\xe9t\xe9 \xfcber\r\n".to_vec(),
        format!("Subject: long\r\n\r\n{long_line}\r\n").into_bytes(),
    ];
    let mut client = session(user);
    for m in &messages {
        let results = send(&mut client, "sender@example.org", &[&format!("{user}@localhost")], m).unwrap();
        assert!(results[0].accepted);
    }
    client.quit().unwrap();
    wait_for_delivery(user, messages.len());
    // Read back through Dovecot POP3 (the round trip) and compare.
    let fetched = fetch_all(user);
    assert_eq!(fetched.len(), messages.len());
    for (sent, got) in messages.iter().zip(&fetched) {
        assert_eq!(String::from_utf8_lossy(without_delivery_headers(got)), String::from_utf8_lossy(&canonical(sent)),);
        assert_eq!(without_delivery_headers(got), canonical(sent).as_slice());
    }
}

#[test]
fn some_recipients_refused_the_others_get_the_message() {
    seed("user23", &[]);
    seed("user24", &[]);
    let mut client = session("user23");
    let to = ["user23@localhost", "nobody-here@localhost", "user24@localhost", "someone@example.com"];
    let results = send(&mut client, "user23@localhost", &to, b"Subject: several\r\n\r\nhi\r\n").unwrap();
    let summary: Vec<(bool, u16)> = results.iter().map(|r| (r.accepted, r.reply.code)).collect();
    assert_eq!(summary[0], (true, 250));
    assert_eq!(summary[2], (true, 250));
    assert!(!results[1].accepted && results[1].reply.enhanced_code.as_deref() == Some("5.1.1"), "{:?}", results[1]);
    assert!(!results[3].accepted, "relaying is refused: {:?}", results[3]);
    wait_for_delivery("user23", 1);
    wait_for_delivery("user24", 1);
}

#[test]
fn all_recipients_refused() {
    let mut client = session("user25");
    match send(&mut client, "user25@localhost", &["nobody-1@localhost", "nobody-2@localhost"], b"x\r\n") {
        Err(Error::RecipientsRefused(results, _)) => {
            assert_eq!(results.len(), 2);
            assert!(results.iter().all(|r| !r.accepted && r.reply.code == 550));
        }
        other => panic!("{other:?}"),
    }
    // The session is still usable for the next message.
    seed("user25", &[]);
    send(&mut client, "user25@localhost", &["user25@localhost"], b"Subject: next\r\n\r\nok\r\n").unwrap();
    wait_for_delivery("user25", 1);
}

#[test]
fn message_over_the_size_limit_fails_before_sending() {
    let limit: usize = env("MAILTLS_TEST_SMTP_SIZE_LIMIT").parse().unwrap();
    let mut client = session("user26");
    let big = vec![b'a'; limit + 1];
    let err = send(&mut client, "user26@localhost", &["user26@localhost"], &big).expect_err("too large");
    assert!(matches!(err, Error::MessageTooLarge { .. }), "{err:?}");
    client.noop().expect("nothing was sent: the session is in step");
}

#[test]
fn many_messages_over_one_connection_round_trip() {
    let user = "user27";
    seed(user, &[]);
    let mut client = session(user);
    let count = 40;
    for i in 0..count {
        let msg =
            format!("From: user27@localhost\r\nTo: user27@localhost\r\nSubject: outbox {i}\r\n\r\nmessage {i}\r\n");
        client.send_message(msg.as_bytes(), None).unwrap();
    }
    client.quit().unwrap();
    wait_for_delivery(user, count);
    let fetched = fetch_all(user);
    assert_eq!(fetched.len(), count);
    let mut subjects: Vec<String> = fetched
        .iter()
        .map(|m| {
            let text = String::from_utf8_lossy(m);
            text.lines().find(|l| l.starts_with("Subject:")).unwrap().to_string()
        })
        .collect();
    subjects.sort();
    let mut expected: Vec<String> = (0..count).map(|i| format!("Subject: outbox {i}")).collect();
    expected.sort();
    assert_eq!(subjects, expected);
}

#[test]
fn send_message_derives_the_envelope_and_drops_bcc() {
    seed("user28", &[]);
    seed("user29", &[]);
    let mut client = session("user28");
    let message = b"From: Someone <user28@localhost>\r\nTo: user28@localhost\r\nBcc: user29@localhost\r\nSubject: bcc\r\n\r\nhidden copy\r\n";
    let results = client.send_message(message, None).unwrap();
    assert_eq!(results.len(), 2);
    wait_for_delivery("user29", 1);
    let got = fetch_all("user29");
    let body = without_delivery_headers(&got[0]);
    assert_eq!(
        body,
        b"From: Someone <user28@localhost>\r\nTo: user28@localhost\r\nSubject: bcc\r\n\r\nhidden copy\r\n"
    );
}

#[test]
fn utf8_addresses_use_smtputf8() {
    let mut client = session("user30");
    // The mailbox does not exist, but the server must accept the syntax
    // (with SMTPUTF8) and refuse the unknown user, not the address form.
    match send(&mut client, "user30@localhost", &["jörg@localhost"], b"x\r\n") {
        Err(Error::RecipientsRefused(results, _)) => {
            assert_eq!(results[0].reply.code, 550, "{:?}", results[0])
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_outbox_batch_is_delivered_with_per_message_outcomes() {
    let user = "user31";
    seed(user, &[]);
    let mut client = session(user);
    let to = ["user31@localhost"];
    let bad = ["not an address"];
    let bodies: Vec<String> = (0..30).map(|i| format!("Subject: batch {i}\r\n\r\n.dot {i}\r\n")).collect();
    let mut messages: Vec<mailtls::smtp::Outgoing> = bodies
        .iter()
        .map(|b| mailtls::smtp::Outgoing { from: "user31@localhost", recipients: &to, message: b.as_bytes() })
        .collect();
    messages.insert(10, mailtls::smtp::Outgoing { from: "user31@localhost", recipients: &bad, message: b"x" });
    let mut outcomes = Vec::new();
    client.send_batch(&messages, None, &mut |i, outcome| outcomes.push((i, outcome.is_ok()))).unwrap();
    let expected: Vec<(usize, bool)> = (0..31).map(|i| (i, i != 10)).collect();
    assert_eq!(outcomes, expected);
    client.quit().unwrap();
    wait_for_delivery(user, 30);
    let mut subjects: Vec<String> =
        fetch_all(user).iter().map(|m| String::from_utf8_lossy(without_delivery_headers(m)).into_owned()).collect();
    subjects.sort();
    let mut expected = bodies.clone();
    expected.sort();
    assert_eq!(subjects, expected);
}
