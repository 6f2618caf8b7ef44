//! SMTP against a scripted fake server: refusals, drops, stalls, malformed
//! replies and pipelining that a real server will not produce on demand.

mod common;

use std::time::Duration;

use common::{FakeServer, Step, plain_options, recording_tracer, send};
use mailtls::Client;
use mailtls::sasl::Mechanism;
use mailtls::smtp::{Dsn, MessageSource, SmtpClient};
use mailtls::trace::TraceKind;
use mailtls::{Error, Security};

const GREETING: &str = "220 fake ESMTP\r\n";
const EHLO_FULL: &str = "250-fake\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-8BITMIME\r\n250-DSN\r\n250-ENHANCEDSTATUSCODES\r\n250 AUTH PLAIN LOGIN CRAM-MD5\r\n";
const EHLO_BASIC: &str = "250-fake\r\n250 AUTH PLAIN\r\n";

fn connect(server: &FakeServer) -> mailtls::Result<SmtpClient> {
    let mut opts = plain_options();
    opts.client_name = Some(mailtls::ClientName::new("client.example").unwrap());
    SmtpClient::connect("127.0.0.1", server.port, &opts)
}

fn start(ehlo: &str, rest: Vec<Step>) -> FakeServer {
    let mut script = vec![send(GREETING), Step::Expect("EHLO client.example"), send(ehlo)];
    script.extend(rest);
    FakeServer::start(script)
}

fn send_bytes(
    client: &mut SmtpClient,
    from: &str,
    to: &[&str],
    mut body: &[u8],
) -> mailtls::Result<Vec<mailtls::smtp::RecipientResult>> {
    client.send(from, to, MessageSource::from_bytes(&mut body), None)
}

#[test]
fn ehlo_refused_falls_back_to_helo() {
    let server = FakeServer::start(vec![
        send(GREETING),
        Step::Expect("EHLO client.example"),
        send("502 5.5.2 what is EHLO\r\n"),
        Step::Expect("HELO client.example"),
        send("250 hello\r\n"),
        Step::Expect("MAIL FROM:<a@x.org>"),
        send("250 ok\r\n"),
        Step::Expect("RCPT TO:<b@x.org>"),
        send("250 ok\r\n"),
        Step::Expect("DATA"),
        send("354 go\r\n"),
        Step::ReadData,
        send("250 queued\r\n"),
    ]);
    let mut client = connect(&server).unwrap();
    assert!(!client.extensions().ehlo);
    send_bytes(&mut client, "a@x.org", &["b@x.org"], b"Subject: x\n\nhi\n").unwrap();
    let lines = server.finish();
    assert_eq!(lines.last().unwrap(), "Subject: x\r\n\r\nhi\r\n");
}

#[test]
fn starttls_missing_in_required_mode_fails_and_sends_nothing_more() {
    let server = start(EHLO_BASIC, vec![Step::ExpectEof]);
    let mut opts = plain_options();
    opts.security = Security::StartTls;
    opts.client_name = Some(mailtls::ClientName::new("client.example").unwrap());
    let err = SmtpClient::connect("127.0.0.1", server.port, &opts).expect_err("must fail");
    assert!(matches!(err, Error::StartTlsUnavailable { .. }), "{err:?}");
    server.finish();
}

#[test]
fn starttls_advertised_then_refused_fails() {
    let server = start(
        "250-fake\r\n250 STARTTLS\r\n",
        vec![Step::Expect("STARTTLS"), send("454 4.7.0 TLS not available due to local problem\r\n"), Step::ExpectEof],
    );
    let mut opts = plain_options();
    opts.security = Security::Auto; // port is not 465: STARTTLS required
    opts.client_name = Some(mailtls::ClientName::new("client.example").unwrap());
    let err = SmtpClient::connect("127.0.0.1", server.port, &opts).expect_err("must fail");
    match err {
        Error::StartTlsUnavailable { detail, .. } => assert!(detail.contains("454"), "{detail}"),
        other => panic!("{other:?}"),
    }
    server.finish();
}

#[test]
fn code_421_mid_session_is_reported_and_closes() {
    let server = start(EHLO_BASIC, vec![Step::Expect("NOOP"), send("421 4.3.2 shutting down\r\n"), Step::ExpectEof]);
    let mut client = connect(&server).unwrap();
    let err = client.noop().expect_err("421");
    let reply = err.reply().expect("carries the reply");
    assert_eq!(reply.code, Some(421));
    assert!(!client.is_open());
    drop(client);
    server.finish();
}

#[test]
fn drop_during_data_is_reported() {
    let server = start(
        EHLO_BASIC,
        vec![
            Step::Expect("MAIL"),
            send("250 ok\r\n"),
            Step::Expect("RCPT"),
            send("250 ok\r\n"),
            Step::Expect("DATA"),
            send("354 go\r\n"),
            Step::Skip,
            Step::Close,
        ],
    );
    let mut client = connect(&server).unwrap();
    let big = vec![b'x'; 4 * 1024 * 1024];
    let err = send_bytes(&mut client, "a@x.org", &["b@x.org"], &big).expect_err("dropped");
    assert!(matches!(err, Error::ConnectionClosed(_) | Error::Io { .. }), "{err:?}");
    assert!(!client.is_open());
    server.finish();
}

#[test]
fn stalled_server_times_out() {
    let server = start(EHLO_BASIC, vec![Step::Expect("NOOP"), Step::Sleep(Duration::from_secs(1))]);
    let mut opts = plain_options();
    opts.client_name = Some(mailtls::ClientName::new("client.example").unwrap());
    opts.io_timeout = Duration::from_millis(300);
    let mut client = SmtpClient::connect("127.0.0.1", server.port, &opts).unwrap();
    assert!(matches!(client.noop(), Err(Error::Timeout(_))));
    server.finish();
}

#[test]
fn malformed_multi_line_replies_are_protocol_errors() {
    for bad in ["250-fake\r\n251 changed code\r\n", "250-fake\r\nPIPELINING\r\n", "2500 fake\r\n"] {
        let server = FakeServer::start(vec![send(GREETING), Step::Expect("EHLO"), send(bad), Step::ExpectEof]);
        let err = connect(&server).expect_err("malformed");
        assert!(matches!(err, Error::Protocol(_)), "{bad:?}: {err:?}");
        server.finish();
    }
}

#[test]
fn pipelined_envelope_goes_in_one_write_and_replies_may_arrive_in_one_read() {
    let server = start(
        EHLO_FULL,
        vec![
            // SIZE counts the content as DATA carries it: LF sent as CRLF.
            Step::Expect("MAIL FROM:<a@x.org> SIZE=17 BODY=8BITMIME"),
            Step::Expect("RCPT TO:<b@x.org>"),
            Step::Expect("RCPT TO:<nobody@x.org>"),
            Step::Expect("RCPT TO:<c@x.org>"),
            Step::Expect("DATA"),
            send(
                "250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 <nobody@x.org>: User unknown\r\n250 2.1.5 ok\r\n354 go\r\n",
            ),
            Step::ReadData,
            send("250 2.0.0 queued\r\n"),
        ],
    );
    let mut client = connect(&server).unwrap();
    let results =
        send_bytes(&mut client, "a@x.org", &["b@x.org", "nobody@x.org", "c@x.org"], b"Subject: x\n\n\xe9\n").unwrap();
    let summary: Vec<(&str, bool, u16, Option<&str>)> = results
        .iter()
        .map(|r| (r.address.as_str(), r.accepted, r.reply.code, r.reply.enhanced_code.as_deref()))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("b@x.org", true, 250, Some("2.1.5")),
            ("nobody@x.org", false, 550, Some("5.1.1")),
            ("c@x.org", true, 250, Some("2.1.5"))
        ]
    );
    assert!(results[1].reply.text().contains("User unknown"));
    server.finish();
}

#[test]
fn all_recipients_refused_sends_no_content_and_resets_before_the_next_message() {
    let server = start(
        EHLO_FULL,
        vec![
            Step::Expect("MAIL"),
            Step::Expect("RCPT TO:<x@x.org>"),
            Step::Expect("DATA"),
            send(
                "250 2.1.0 ok\r\n554 5.7.1 <x@x.org>: Relay access denied\r\n554 5.5.1 Error: no valid recipients\r\n",
            ),
            Step::Expect("RSET"),
            Step::Expect("MAIL"),
            Step::Expect("RCPT"),
            Step::Expect("DATA"),
            send("250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n"),
            Step::ReadData,
            send("250 queued\r\n"),
        ],
    );
    let mut client = connect(&server).unwrap();
    match send_bytes(&mut client, "a@x.org", &["x@x.org"], b"secret content\n") {
        Err(Error::RecipientsRefused(results, _)) => {
            assert_eq!(results.len(), 1);
            assert_eq!(results[0].reply.enhanced_code.as_deref(), Some("5.7.1"));
        }
        other => panic!("{other:?}"),
    }
    send_bytes(&mut client, "a@x.org", &["b@x.org"], b"second\n").unwrap();
    let lines = server.finish();
    assert!(lines.iter().all(|l| !l.contains("secret content")));
}

#[test]
fn message_over_the_size_limit_fails_before_anything_is_sent() {
    let server = start(EHLO_FULL, vec![Step::ExpectEof]);
    let mut client = connect(&server).unwrap();
    let err = send_bytes(&mut client, "a@x.org", &["b@x.org"], &[b'x'; 1001]).expect_err("too large");
    assert!(matches!(err, Error::MessageTooLarge { limit: 1000 }), "{err:?}");
    drop(client);
    server.finish();
}

#[test]
fn non_ascii_address_needs_smtputf8() {
    let server = start(EHLO_FULL, vec![Step::ExpectEof]);
    let mut client = connect(&server).unwrap();
    let err = send_bytes(&mut client, "a@x.org", &["jörg@x.org"], b"x").expect_err("no SMTPUTF8");
    assert!(matches!(err, Error::SmtpUtf8Unavailable(_)), "{err:?}");
    drop(client);
    server.finish();

    let server = start(
        "250-fake\r\n250-SMTPUTF8\r\n250 8BITMIME\r\n",
        vec![
            Step::Expect("MAIL FROM:<a@x.org> BODY=8BITMIME SMTPUTF8"),
            send("250 ok\r\n"),
            Step::Expect("RCPT TO:<jörg@x.org>"),
            send("250 ok\r\n"),
            Step::Expect("DATA"),
            send("354 go\r\n"),
            Step::ReadData,
            send("250 ok\r\n"),
        ],
    );
    let mut client = connect(&server).unwrap();
    send_bytes(&mut client, "a@x.org", &["jörg@x.org"], "Subject: ü\n\nü\n".as_bytes()).unwrap();
    server.finish();
}

#[test]
fn dsn_parameters_are_sent_when_offered() {
    let server = start(
        EHLO_FULL,
        vec![
            Step::Expect("MAIL FROM:<a@x.org> SIZE=3 RET=HDRS ENVID=id+2B1"),
            Step::Expect("RCPT TO:<b@x.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b@x.org"),
            Step::Expect("DATA"),
            send("250 ok\r\n250 ok\r\n354 go\r\n"),
            Step::ReadData,
            send("250 ok\r\n"),
        ],
    );
    let mut client = connect(&server).unwrap();
    let dsn = Dsn::new(Some("success,failure"), Some("hdrs"), Some("id+1"), true).unwrap();
    let mut body: &[u8] = b"x\n";
    client.send("a@x.org", &["b@x.org"], MessageSource::from_bytes(&mut body), Some(&dsn)).unwrap();
    server.finish();
}

#[test]
fn data_is_dot_stuffed_and_line_ends_normalised_on_the_wire() {
    let server = start(
        EHLO_BASIC,
        vec![
            Step::Expect("MAIL"),
            send("250 ok\r\n"),
            Step::Expect("RCPT"),
            send("250 ok\r\n"),
            Step::Expect("DATA"),
            send("354 go\r\n"),
            Step::ReadData,
            send("250 ok\r\n"),
        ],
    );
    let mut client = connect(&server).unwrap();
    send_bytes(&mut client, "", &["b@x.org"], b"Subject: d\n\n.lead\n.\nbare\rcr\nend").unwrap();
    let lines = server.finish();
    assert_eq!(lines.last().unwrap(), "Subject: d\r\n\r\n..lead\r\n..\r\nbare\r\ncr\r\nend\r\n");
}

#[test]
fn a_mechanism_the_server_cannot_serve_is_skipped_but_a_wrong_password_is_not_retried() {
    let server = start(
        EHLO_FULL,
        vec![
            Step::Expect("AUTH CRAM-MD5"),
            send("504 5.5.4 mechanism not available\r\n"),
            Step::Expect("AUTH PLAIN"),
            send("535 5.7.8 authentication failed\r\n"),
            Step::ExpectEof,
        ],
    );
    let (tracer, log) = recording_tracer();
    let mut opts = plain_options();
    opts.client_name = Some(mailtls::ClientName::new("client.example").unwrap());
    opts.tracer = tracer;
    let mut client = SmtpClient::connect("127.0.0.1", server.port, &opts).unwrap();
    match client.login("u", "pw-secret", None) {
        Err(Error::AuthFailed(reply)) => assert_eq!(reply.enhanced_code.as_deref(), Some("5.7.8")),
        other => panic!("{other:?}"),
    }
    drop(client);
    server.finish();
    let log = log.lock().unwrap();
    assert!(log.iter().any(|(k, d)| *k == TraceKind::Command && d == b"AUTH PLAIN <redacted>"));
    assert!(log.iter().all(|(_, d)| !String::from_utf8_lossy(d).contains("pw-secret")));
}

#[test]
fn cram_md5_and_login_exchanges() {
    let server = start(
        EHLO_FULL,
        vec![
            Step::Expect("AUTH CRAM-MD5"),
            send("334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+\r\n"),
            Step::Expect("dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw"),
            send("235 2.7.0 ok\r\n"),
        ],
    );
    connect(&server).unwrap().login("tim", "tanstaaftanstaaf", None).unwrap();
    server.finish();

    let server = start(
        EHLO_FULL,
        vec![
            Step::Expect("AUTH LOGIN"),
            send("334 VXNlcm5hbWU6\r\n"),
            Step::Expect("dQ=="),
            send("334 UGFzc3dvcmQ6\r\n"),
            Step::Expect("cA=="),
            send("235 ok\r\n"),
        ],
    );
    connect(&server).unwrap().login("u", "p", Some(Mechanism::Login)).unwrap();
    server.finish();
}

#[test]
fn auth_refused_in_clear_without_permission() {
    let server = start(EHLO_FULL, vec![Step::ExpectEof]);
    let mut opts = plain_options();
    opts.allow_plaintext_auth = false;
    opts.client_name = Some(mailtls::ClientName::new("client.example").unwrap());
    let mut client = SmtpClient::connect("127.0.0.1", server.port, &opts).unwrap();
    assert!(matches!(client.login("u", "p", None), Err(Error::PlaintextAuthRefused)));
    drop(client);
    server.finish();
}

#[test]
fn several_messages_on_one_connection() {
    let mut script = Vec::new();
    for _ in 0..3 {
        script.extend([
            Step::Expect("MAIL"),
            Step::Expect("RCPT"),
            Step::Expect("DATA"),
            send("250 ok\r\n250 ok\r\n354 go\r\n"),
            Step::ReadData,
            send("250 ok\r\n"),
        ]);
    }
    script.extend([Step::Expect("QUIT"), send("221 bye\r\n")]);
    let server = start(EHLO_FULL, script);
    let mut client = connect(&server).unwrap();
    for i in 0..3 {
        send_bytes(&mut client, "a@x.org", &["b@x.org"], format!("n{i}\n").as_bytes()).unwrap();
    }
    client.quit().unwrap();
    server.finish();
}

#[test]
fn envelope_from_headers_and_bcc_not_sent() {
    let server = start(
        EHLO_BASIC,
        vec![
            Step::Expect("MAIL FROM:<alice@x.org>"),
            send("250 ok\r\n"),
            Step::Expect("RCPT TO:<bob@x.org>"),
            send("250 ok\r\n"),
            Step::Expect("RCPT TO:<hidden@x.org>"),
            send("250 ok\r\n"),
            Step::Expect("DATA"),
            send("354 go\r\n"),
            Step::ReadData,
            send("250 ok\r\n"),
        ],
    );
    let mut client = connect(&server).unwrap();
    client
        .send_message(b"From: Alice <alice@x.org>\nTo: bob@x.org\nBcc: hidden@x.org\nSubject: s\n\nbody\n", None)
        .unwrap();
    let lines = server.finish();
    assert_eq!(lines.last().unwrap(), "From: Alice <alice@x.org>\r\nTo: bob@x.org\r\nSubject: s\r\n\r\nbody\r\n");
}

#[test]
fn code_421_in_a_pipelined_batch_is_reported_not_lost() {
    let server = start(
        EHLO_FULL,
        vec![
            Step::Expect("MAIL"),
            Step::Expect("RCPT"),
            Step::Expect("DATA"),
            send("421 4.3.2 Service shutting down\r\n"),
            Step::Close,
        ],
    );
    let mut client = connect(&server).unwrap();
    let err = send_bytes(&mut client, "a@x.org", &["b@x.org"], b"x\n").expect_err("421");
    let reply = err.reply().expect("the 421 reply");
    assert_eq!((reply.code, reply.enhanced_code.as_deref()), (Some(421), Some("4.3.2")));
    assert!(!client.is_open());
    server.finish();
}

#[test]
fn without_pipelining_all_refused_sends_no_data_and_resets_before_the_next_message() {
    let server = start(
        EHLO_BASIC,
        vec![
            Step::Expect("MAIL FROM:<a@x.org>"),
            send("250 ok\r\n"),
            Step::Expect("RCPT TO:<x@x.org>"),
            send("550 no such user\r\n"),
            Step::Expect("RSET"),
            send("250 ok\r\n"),
            Step::Expect("MAIL FROM:<a@x.org>"),
            send("452 too many messages, try later\r\n"),
            Step::Expect("NOOP"),
            send("250 ok\r\n"),
        ],
    );
    let mut client = connect(&server).unwrap();
    let err = send_bytes(&mut client, "a@x.org", &["x@x.org"], b"content\n").expect_err("refused");
    assert!(matches!(err, Error::RecipientsRefused(..)), "{err:?}");
    let err = send_bytes(&mut client, "a@x.org", &["b@x.org"], b"content\n").expect_err("MAIL refused");
    let reply = err.reply().expect("the MAIL reply");
    assert_eq!(reply.code, Some(452), "transient: {reply:?}");
    client.noop().unwrap();
    server.finish();
}

/// Each message's outcome in a batch: (index, Ok(accepted count) or
/// Err(error text)).
type Outcomes = Vec<(usize, Result<usize, String>)>;

/// Run a batch and collect each message's outcome.
fn batch(client: &mut SmtpClient, messages: &[mailtls::smtp::Outgoing<'_>]) -> (mailtls::Result<()>, Outcomes) {
    let mut outcomes = Vec::new();
    let r = client.send_batch(messages, None, &mut |i, outcome| {
        outcomes
            .push((i, outcome.map(|results| results.iter().filter(|r| r.accepted).count()).map_err(|e| e.to_string())))
    });
    (r, outcomes)
}

#[test]
fn a_batch_sends_the_next_envelope_with_the_previous_content() {
    let mut script =
        vec![Step::Expect("MAIL"), Step::Expect("RCPT"), Step::Expect("DATA"), send("250 ok\r\n250 ok\r\n354 go\r\n")];
    for n in 1..=2 {
        // The next envelope arrives before the final reply to this message.
        script.extend([
            Step::ReadData,
            Step::Expect("MAIL"),
            Step::Expect("RCPT"),
            Step::Expect("DATA"),
            Step::Send(format!("250 queued {n}\r\n250 ok\r\n250 ok\r\n354 go\r\n").into_bytes()),
        ]);
    }
    script.extend([Step::ReadData, send("250 queued 3\r\n")]);
    let server = start(EHLO_FULL, script);
    let mut client = connect(&server).unwrap();
    let to = ["b@x.org"];
    let messages: Vec<mailtls::smtp::Outgoing> = ["one\n", "two\n", "three\n"]
        .iter()
        .map(|body| mailtls::smtp::Outgoing { from: "a@x.org", recipients: &to, message: body.as_bytes() })
        .collect();
    let (r, outcomes) = batch(&mut client, &messages);
    r.unwrap();
    assert_eq!(outcomes, vec![(0, Ok(1)), (1, Ok(1)), (2, Ok(1))]);
    let lines = server.finish();
    let data: Vec<&String> = lines.iter().filter(|l| l.ends_with("\r\n")).collect();
    assert_eq!(data, ["one\r\n", "two\r\n", "three\r\n"]);
}

#[test]
fn a_batch_reports_refusals_in_order_and_goes_on() {
    let server = start(
        EHLO_FULL,
        vec![
            // 0: accepted
            Step::Expect("MAIL"),
            Step::Expect("RCPT"),
            Step::Expect("DATA"),
            send("250 ok\r\n250 ok\r\n354 go\r\n"),
            Step::ReadData,
            // 1: every recipient refused (2 is invalid and never sent)
            Step::Expect("MAIL"),
            Step::Expect("RCPT TO:<nobody@x.org>"),
            Step::Expect("DATA"),
            send("250 queued\r\n250 ok\r\n550 5.1.1 unknown\r\n554 5.5.1 no valid recipients\r\n"),
            // 3: after an RSET for the transaction 1 left open; its final reply is refused
            Step::Expect("RSET"),
            Step::Expect("MAIL"),
            Step::Expect("RCPT"),
            Step::Expect("DATA"),
            send("250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n"),
            Step::ReadData,
            send("554 5.7.1 content rejected\r\n"),
        ],
    );
    let mut client = connect(&server).unwrap();
    const GOOD: &[&str] = &["b@x.org"];
    const UNKNOWN: &[&str] = &["nobody@x.org"];
    const INVALID: &[&str] = &["bad address@x.org"];
    let m =
        |recipients: &'static [&'static str]| mailtls::smtp::Outgoing { from: "a@x.org", recipients, message: b"x\n" };
    let messages = [m(GOOD), m(UNKNOWN), m(INVALID), m(GOOD)];
    let (r, outcomes) = batch(&mut client, &messages);
    r.unwrap();
    let order: Vec<usize> = outcomes.iter().map(|(i, _)| *i).collect();
    assert_eq!(order, [0, 1, 2, 3]);
    assert_eq!(outcomes[0].1, Ok(1));
    assert!(outcomes[1].1.as_ref().unwrap_err().contains("every recipient was refused"), "{outcomes:?}");
    assert!(outcomes[2].1.as_ref().unwrap_err().contains("invalid argument"), "{outcomes:?}");
    assert!(outcomes[3].1.as_ref().unwrap_err().contains("content rejected"), "{outcomes:?}");
    server.finish();
}

#[test]
fn a_batch_without_pipelining_sends_one_by_one() {
    let mut script = Vec::new();
    for n in 0..2 {
        script.extend([
            Step::Expect("MAIL"),
            send("250 ok\r\n"),
            Step::Expect("RCPT"),
            send("250 ok\r\n"),
            Step::Expect("DATA"),
            send("354 go\r\n"),
            Step::ReadData,
            Step::Send(format!("250 queued {n}\r\n").into_bytes()),
        ]);
    }
    let server = start(EHLO_BASIC, script);
    let mut client = connect(&server).unwrap();
    let to = ["b@x.org"];
    let messages = [mailtls::smtp::Outgoing { from: "a@x.org", recipients: &to, message: b"m\n" }; 2];
    let (r, outcomes) = batch(&mut client, &messages);
    r.unwrap();
    assert_eq!(outcomes, vec![(0, Ok(1)), (1, Ok(1))]);
    server.finish();
}

#[test]
fn a_421_ends_the_batch_after_reporting_what_was_done() {
    let server = start(
        EHLO_FULL,
        vec![
            Step::Expect("MAIL"),
            Step::Expect("RCPT"),
            Step::Expect("DATA"),
            send("250 ok\r\n250 ok\r\n354 go\r\n"),
            Step::ReadData,
            Step::Expect("MAIL"),
            Step::Expect("RCPT"),
            Step::Expect("DATA"),
            send("250 queued\r\n421 4.3.2 shutting down\r\n"),
            Step::Close,
        ],
    );
    let mut client = connect(&server).unwrap();
    let to = ["b@x.org"];
    let messages = [mailtls::smtp::Outgoing { from: "a@x.org", recipients: &to, message: b"m\n" }; 3];
    let (r, outcomes) = batch(&mut client, &messages);
    assert_eq!(r.expect_err("421").reply().and_then(|r| r.code), Some(421));
    assert_eq!(outcomes, vec![(0, Ok(1))]);
    assert!(!client.is_open());
    server.finish();
}

#[test]
fn a_source_failing_during_data_closes_the_connection() {
    struct Failing(usize);
    impl std::io::Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Err(std::io::Error::other("disk on fire"));
            }
            self.0 -= 1;
            buf[..3].copy_from_slice(b"ab\n");
            Ok(3)
        }
    }
    let server = start(
        EHLO_FULL,
        vec![Step::Expect("MAIL"), Step::Expect("RCPT"), Step::Expect("DATA"), send("250 ok\r\n250 ok\r\n354 go\r\n")],
    );
    let mut client = connect(&server).unwrap();
    let mut reader = Failing(2);
    let source = MessageSource { reader: &mut reader, size: None, eight_bit: None };
    let err = client.send("a@x.org", &["b@x.org"], source, None).expect_err("the source failed");
    assert!(matches!(err, Error::LocalFile { .. }), "{err:?}");
    assert!(!client.is_open(), "a partial DATA can only be discarded by closing");
    server.finish();
}

#[test]
fn login_after_a_refused_send_resets_the_transaction_first() {
    let server = start(
        EHLO_FULL,
        vec![
            Step::Expect("MAIL"),
            Step::Expect("RCPT"),
            Step::Expect("DATA"),
            send("250 ok\r\n554 5.7.1 Relay access denied\r\n554 5.5.1 no valid recipients\r\n"),
            Step::Expect("RSET"),
            send("250 ok\r\n"),
            Step::Expect("AUTH PLAIN"),
            send("235 ok\r\n"),
        ],
    );
    let mut client = connect(&server).unwrap();
    assert!(matches!(send_bytes(&mut client, "a@x.org", &["b@x.org"], b"x\n"), Err(Error::RecipientsRefused(..))));
    client.login("u", "p", Some(Mechanism::Plain)).unwrap();
    server.finish();
}

#[test]
fn a_503_to_auth_is_not_taken_for_a_mechanism_problem() {
    let server =
        start(EHLO_FULL, vec![Step::Expect("AUTH CRAM-MD5"), send("503 5.5.1 bad sequence\r\n"), Step::ExpectEof]);
    let mut client = connect(&server).unwrap();
    assert!(matches!(client.login("u", "p", None), Err(Error::AuthFailed(_))));
    drop(client);
    server.finish();
}

/// 538 (RFC 4954: encryption required for the mechanism) in clear is its
/// own error, not a wrong password.
#[test]
fn a_538_refusal_in_clear_is_encryption_required() {
    let server = start(EHLO_FULL, vec![Step::Expect("AUTH CRAM-MD5"), send("538 5.7.11 Encryption required\r\n")]);
    let mut client = connect(&server).unwrap();
    let err = client.login("u", "pw", Some(mailtls::sasl::Mechanism::CramMd5)).expect_err("refused");
    match &err {
        Error::EncryptionRequired(reply) => assert_eq!(reply.code, Some(538)),
        other => panic!("{other:?}"),
    }
    drop(client);
    server.finish();
}
