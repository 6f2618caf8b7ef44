//! Defects of the POP3 client found in review (issue 8), each shown on the
//! wire against a scripted fake server.

mod common;

use common::{FakeServer, Step, plain_options, send};
use mailtls::Client;
use mailtls::Error;
use mailtls::pop3::Pop3Client;
use mailtls::sasl::Mechanism;

const GREETING: &str = "+OK ready\r\n";

/// Defect 8: a mechanism the server rejects as such, before any
/// credential went out, makes the login go on with the next one (as SMTP
/// does), instead of failing as if the password were wrong.
#[test]
fn a_mechanism_the_server_turns_down_makes_it_try_the_next() {
    let server = FakeServer::start(vec![
        send(GREETING),
        Step::Expect("CAPA"),
        // No SASL capability: no initial response, so nothing is sent
        // with the AUTH line.
        send("+OK\r\nSASL CRAM-MD5 LOGIN\r\nUSER\r\n.\r\n"),
        Step::Expect("AUTH CRAM-MD5"),
        send("-ERR [SYS/PERM] CRAM-MD5 is disabled for this account\r\n"),
        Step::Expect("AUTH LOGIN"),
        send("+ VXNlcm5hbWU6\r\n"),
        Step::Expect("dQ=="),
        send("+ UGFzc3dvcmQ6\r\n"),
        Step::Expect("cA=="),
        send("+OK logged in\r\n"),
    ]);
    let mut client = Pop3Client::connect("127.0.0.1", server.port, &plain_options()).unwrap();
    client.login("u", "p", None).unwrap();
    assert!(client.is_authenticated());
    server.finish();
}

/// Refused credentials are not sent again with another mechanism.
#[test]
fn refused_credentials_end_the_login_at_once() {
    let server = FakeServer::start(vec![
        send(GREETING),
        Step::Expect("CAPA"),
        send("+OK\r\nSASL CRAM-MD5 LOGIN\r\nUSER\r\n.\r\n"),
        Step::Expect("AUTH CRAM-MD5"),
        send("+ PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+\r\n"),
        Step::Skip,
        send("-ERR [AUTH] invalid credentials\r\n"),
        Step::ExpectEof,
    ]);
    let mut client = Pop3Client::connect("127.0.0.1", server.port, &plain_options()).unwrap();
    let err = client.login("u", "p", None).unwrap_err();
    assert!(matches!(&err, Error::AuthFailed(r) if r.response_code.as_deref() == Some("AUTH")), "{err:?}");
    drop(client);
    server.finish();
}

/// Defect 8: a -ERR to UTF8 does not fail the connect; the session goes on
/// without UTF-8 mode.
#[test]
fn a_refused_utf8_goes_on_without_it() {
    let server = FakeServer::start(vec![
        send(GREETING),
        Step::Expect("CAPA"),
        send("+OK\r\nUSER\r\nUTF8\r\n.\r\n"),
        Step::Expect("UTF8"),
        send("-ERR not now\r\n"),
        Step::Expect("USER u"),
        send("+OK\r\n"),
        Step::Expect("PASS p"),
        send("+OK\r\n"),
    ]);
    let mut opts = plain_options();
    opts.utf8 = true;
    let mut client = Pop3Client::connect("127.0.0.1", server.port, &opts).expect("connect goes on");
    assert!(!client.utf8_active());
    // The session is in step: the next commands get their own replies.
    client.login("u", "p", Some(Mechanism::User)).unwrap();
    server.finish();
}

/// Defect 16: a mechanism asked for by name that the server does not
/// advertise is refused before anything is sent, with NoCommonMechanism
/// (not sent anyway and reported as a wrong password).
#[test]
fn an_unadvertised_mechanism_asked_for_by_name_is_refused_before_sending() {
    let server = FakeServer::start(vec![
        send(GREETING),
        Step::Expect("CAPA"),
        send("+OK\r\nSASL PLAIN\r\nUSER\r\n.\r\n"),
        Step::ExpectEof,
    ]);
    let mut client = Pop3Client::connect("127.0.0.1", server.port, &plain_options()).unwrap();
    for m in [Mechanism::CramMd5, Mechanism::Login, Mechanism::Apop] {
        let err = client.login("u", "p", Some(m)).unwrap_err();
        match err {
            Error::NoCommonMechanism(text) => {
                assert!(text.contains(m.name()) && text.contains("PLAIN"), "{text}");
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(client.is_open(), "nothing was sent, the session goes on");
    drop(client);
    server.finish();
}

/// A server without CAPA announces nothing: a mechanism asked for by name
/// is tried (as before), since the server may well have it.
#[test]
fn without_capa_a_named_mechanism_is_still_tried() {
    let server = FakeServer::start(vec![
        send(GREETING),
        Step::Expect("CAPA"),
        send("-ERR unknown command\r\n"),
        Step::Expect("AUTH CRAM-MD5"),
        send("-ERR unknown mechanism\r\n"),
    ]);
    let mut client = Pop3Client::connect("127.0.0.1", server.port, &plain_options()).unwrap();
    let err = client.login("u", "p", Some(Mechanism::CramMd5)).unwrap_err();
    assert!(matches!(err, Error::AuthFailed(_)), "{err:?}");
    server.finish();
}

/// Defect 14: retr_many_to_vec (under mailtls_pop3_retr_batch) holds a
/// batch bounded by bytes, planned from the LIST sizes, not by a count of
/// messages: three messages announced at 9 MB each come one or two at a
/// time, and nothing is asked for beyond the budget.
#[test]
fn a_batch_in_memory_is_bounded_by_bytes_not_by_count() {
    let nine_mb = 9_000_000;
    let list = format!("+OK\r\n1 {nine_mb}\r\n2 {nine_mb}\r\n3 100\r\n.\r\n");
    let server = FakeServer::start(vec![
        send(GREETING),
        Step::Expect("CAPA"),
        send("+OK\r\nUSER\r\nPIPELINING\r\n.\r\n"),
        Step::Expect("USER u"),
        send("+OK\r\n"),
        Step::Expect("PASS p"),
        send("+OK\r\n"),
        Step::Expect("LIST"),
        Step::Send(list.into_bytes()),
        Step::Expect("RETR 1"),
        // 9 + 9 MB is over the budget: RETR 2 is not sent with RETR 1.
        Step::ExpectSilence(std::time::Duration::from_millis(300)),
        send("+OK\r\none\r\n.\r\n"),
        // The second call: 9 MB + 100 bytes fit together; LIST is not
        // sent again.
        Step::Expect("RETR 2"),
        Step::Expect("RETR 3"),
        send("+OK\r\ntwo\r\n.\r\n+OK\r\nthree\r\n.\r\n"),
    ]);
    let mut client = Pop3Client::connect("127.0.0.1", server.port, &plain_options()).unwrap();
    client.login("u", "p", Some(Mechanism::User)).unwrap();
    assert!(2 * nine_mb > mailtls::pop3::RETR_BATCH_BUDGET && nine_mb + 100 <= mailtls::pop3::RETR_BATCH_BUDGET);
    let mut out = mailtls::pop3::Retrieved::default();
    assert_eq!(client.retr_many_to_vec(&[1, 2, 3], &mut out).unwrap(), 1);
    assert_eq!(out.data, b"one\r\n");
    let mut out = mailtls::pop3::Retrieved::default();
    assert_eq!(client.retr_many_to_vec(&[2, 3], &mut out).unwrap(), 2);
    assert_eq!((out.data.as_slice(), out.ends.as_slice()), (&b"two\r\nthree\r\n"[..], &[5, 12][..]));
    server.finish();
}

/// Defect 9: an APOP user name with a space would end the name early and
/// shift the digest; it is refused before anything is sent.
#[test]
fn an_apop_user_name_with_a_space_is_refused_before_sending() {
    let server = FakeServer::start(vec![
        send("+OK ready <1896.697170952@dbc.mtview.ca.us>\r\n"),
        Step::Expect("CAPA"),
        send("+OK\r\nUSER\r\n.\r\n"),
        Step::ExpectEof,
    ]);
    let mut client = Pop3Client::connect("127.0.0.1", server.port, &plain_options()).unwrap();
    let err = client.login("mrose x", "tanstaaf", Some(Mechanism::Apop)).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
    drop(client);
    server.finish();
}
