//! POP3 against a scripted fake server: what a real server will not do on
//! demand (malformed replies, drops, stalls, odd capabilities).

mod common;

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use common::{FakeServer, Step, plain_options, recording_tracer, send};
use mailtls::Client;
use mailtls::pop3::{Part, Pop3Client};
use mailtls::sasl::Mechanism;
use mailtls::trace::TraceKind;
use mailtls::{Error, Security};

const GREETING: &str = "+OK ready\r\n";
const CAPA_BASIC: &str = "+OK\r\nUSER\r\nUIDL\r\nTOP\r\n.\r\n";

fn connect(server: &FakeServer) -> mailtls::Result<Pop3Client> {
    Pop3Client::connect("127.0.0.1", server.port, &plain_options())
}

/// Greeting, CAPA with `capa`, USER/PASS login.
fn logged_in(capa: &str, rest: Vec<Step>) -> (FakeServer, Pop3Client) {
    logged_in_with(plain_options(), capa, rest)
}

fn logged_in_with(opts: mailtls::ClientOptions, capa: &str, rest: Vec<Step>) -> (FakeServer, Pop3Client) {
    let mut script = vec![send(GREETING), Step::Expect("CAPA"), send(capa), Step::Expect("USER u"), send("+OK\r\n")];
    script.extend([Step::Expect("PASS p"), send("+OK logged in\r\n")]);
    script.extend(rest);
    let server = FakeServer::start(script);
    let mut client = Pop3Client::connect("127.0.0.1", server.port, &opts).expect("connect");
    client.login("u", "p", Some(Mechanism::User)).expect("login");
    (server, client)
}

fn collect(client: &mut Pop3Client, n: u32) -> mailtls::Result<Vec<u8>> {
    let mut out = Vec::new();
    client
        .retr(n, &mut |chunk| {
            out.extend_from_slice(chunk);
            ControlFlow::Continue(())
        })
        .map(|_| out)
}

#[test]
fn malformed_greeting_is_a_protocol_error() {
    let server = FakeServer::start(vec![send("* OK IMAP4rev1 ready\r\n"), Step::ExpectEof]);
    let err = connect(&server).expect_err("must fail");
    assert!(matches!(err, Error::Protocol(_)), "{err:?}");
    server.finish();
}

#[test]
fn negative_greeting_is_a_server_error_with_its_text() {
    let server = FakeServer::start(vec![send("-ERR [SYS/TEMP] too busy\r\n"), Step::ExpectEof]);
    let err = connect(&server).expect_err("must fail");
    let reply = err.reply().expect("carries the reply");
    assert_eq!(reply.response_code.as_deref(), Some("SYS/TEMP"));
    assert!(reply.text.contains("too busy"));
    server.finish();
}

#[test]
fn over_long_reply_line_is_refused_without_unbounded_reading() {
    let mut long = b"+OK ".to_vec();
    long.extend(std::iter::repeat_n(b'x', 100_000));
    long.extend_from_slice(b"\r\n");
    let server = FakeServer::start(vec![Step::Send(long), Step::Close]);
    let err = connect(&server).expect_err("must fail");
    assert!(matches!(err, Error::ReplyTooLong(_)), "{err:?}");
    server.finish();
}

#[test]
fn stalled_server_times_out_instead_of_hanging() {
    let server = FakeServer::start(vec![Step::Sleep(Duration::from_secs(1)), Step::Close]);
    let mut opts = plain_options();
    opts.io_timeout = Duration::from_millis(300);
    let started = Instant::now();
    let err = Pop3Client::connect("127.0.0.1", server.port, &opts).expect_err("must fail");
    assert!(matches!(err, Error::Timeout(_)), "{err:?}");
    assert!(err.to_string().contains("no greeting from 127.0.0.1:"), "names the port: {err}");
    assert!(started.elapsed() < Duration::from_secs(2));
    server.finish();
}

#[test]
fn multi_line_reply_that_never_ends_times_out() {
    let mut opts = plain_options();
    opts.io_timeout = Duration::from_millis(300);
    let (server, mut client) = logged_in_with(
        opts,
        CAPA_BASIC,
        vec![Step::Expect("RETR 1"), send("+OK\r\nline one\r\nline two\r\n"), Step::Sleep(Duration::from_secs(1))],
    );
    let err = collect(&mut client, 1).expect_err("must fail");
    assert!(matches!(err, Error::Timeout(_)), "{err:?}");
    assert!(!client.is_open(), "a stream in an unknown state is closed");
    assert!(matches!(client.noop(), Err(Error::NotConnected(_))));
    server.finish();
}

#[test]
fn drop_in_the_middle_of_retr_is_reported_and_closes() {
    let (server, mut client) =
        logged_in(CAPA_BASIC, vec![Step::Expect("RETR 1"), send("+OK\r\nSubject: x\r\n\r\npart"), Step::Close]);
    let err = collect(&mut client, 1).expect_err("must fail");
    assert!(matches!(err, Error::ConnectionClosed(_)), "{err:?}");
    assert!(matches!(client.stat(), Err(Error::NotConnected(_))));
    server.finish();
}

#[test]
fn dotted_lines_are_unstuffed_byte_exact_across_any_read_split() {
    let body_on_wire = b"..leading dot\r\n...two dots\r\n..\r\nmid.dle\r\n.x\r\n\r\n.\r\n";
    let expected = b".leading dot\r\n..two dots\r\n.\r\nmid.dle\r\nx\r\n\r\n";
    let mut reply = b"+OK 99 octets\r\n".to_vec();
    reply.extend_from_slice(body_on_wire);
    let (server, mut client) = logged_in(
        CAPA_BASIC,
        vec![Step::Expect("RETR 1"), Step::Trickle(reply), Step::Expect("NOOP"), send("+OK\r\n")],
    );
    assert_eq!(collect(&mut client, 1).unwrap(), expected.to_vec());
    client.noop().expect("the session goes on in step");
    server.finish();
}

#[test]
fn starttls_mode_fails_when_stls_is_not_offered_and_sends_nothing_more() {
    let server = FakeServer::start(vec![send(GREETING), Step::Expect("CAPA"), send(CAPA_BASIC), Step::ExpectEof]);
    let mut opts = plain_options();
    opts.security = Security::StartTls;
    let err = Pop3Client::connect("127.0.0.1", server.port, &opts).expect_err("must fail");
    assert!(matches!(err, Error::StartTlsUnavailable { .. }), "{err:?}");
    server.finish();
}

#[test]
fn auto_mode_on_a_plain_port_requires_stls_too() {
    let server = FakeServer::start(vec![
        send(GREETING),
        Step::Expect("CAPA"),
        send("+OK\r\nSTLS\r\nUSER\r\n.\r\n"),
        Step::Expect("STLS"),
        send("-ERR not now\r\n"),
        Step::ExpectEof,
    ]);
    let mut opts = plain_options();
    opts.security = Security::Auto;
    let err = Pop3Client::connect("127.0.0.1", server.port, &opts).expect_err("must fail");
    match err {
        Error::StartTlsUnavailable { detail, .. } => assert!(detail.contains("not now")),
        other => panic!("{other:?}"),
    }
    server.finish();
}

#[test]
fn data_sent_right_after_the_stls_reply_is_refused() {
    // Bytes that arrive before the handshake must not be read as if they
    // came over TLS (response injection).
    let server = FakeServer::start(vec![
        send(GREETING),
        Step::Expect("CAPA"),
        send("+OK\r\nSTLS\r\n.\r\n"),
        Step::Expect("STLS"),
        send("+OK go ahead\r\n+OK injected\r\n"),
        Step::ExpectEof,
    ]);
    let mut opts = plain_options();
    opts.security = Security::StartTls;
    let err = Pop3Client::connect("127.0.0.1", server.port, &opts).expect_err("must fail");
    assert!(matches!(err, Error::Protocol(_)), "{err:?}");
    server.finish();
}

#[test]
fn credentials_are_not_sent_in_clear_unless_allowed() {
    let server = FakeServer::start(vec![send(GREETING), Step::Expect("CAPA"), send(CAPA_BASIC), Step::ExpectEof]);
    let mut opts = plain_options();
    opts.allow_plaintext_auth = false;
    let mut client = Pop3Client::connect("127.0.0.1", server.port, &opts).unwrap();
    for mech in [None, Some(Mechanism::User), Some(Mechanism::CramMd5), Some(Mechanism::Apop)] {
        let err = client.login("u", "p", mech).expect_err("must refuse");
        assert!(matches!(err, Error::PlaintextAuthRefused), "{err:?}");
    }
    assert!(matches!(client.login_oauth2("u", "t"), Err(Error::PlaintextAuthRefused)));
    drop(client);
    server.finish();
}

#[test]
fn malformed_apop_timestamp_disables_apop() {
    let server = FakeServer::start(vec![
        send("+OK ready <no-at-sign>\r\n"),
        Step::Expect("CAPA"),
        send(CAPA_BASIC),
        Step::Expect("USER u"),
        send("+OK\r\n"),
        Step::Expect("PASS p"),
        send("+OK\r\n"),
    ]);
    let mut client = connect(&server).unwrap();
    let err = client.login("u", "p", Some(Mechanism::Apop)).expect_err("APOP impossible");
    assert!(matches!(err, Error::NoCommonMechanism(_)), "{err:?}");
    client.login("u", "p", None).expect("falls to USER, not APOP");
    server.finish();
}

#[test]
fn apop_is_never_preferred_over_sasl() {
    let server = FakeServer::start(vec![
        send("+OK ready <1896.697170952@dbc.mtview.ca.us>\r\n"),
        Step::Expect("CAPA"),
        send("+OK\r\nSASL PLAIN\r\nUSER\r\n.\r\n"),
        // RFC 5034 servers take the initial response on the AUTH line.
        Step::Expect("AUTH PLAIN AHUAcA=="),
        send("+OK\r\n"),
    ]);
    connect(&server).unwrap().login("u", "p", None).unwrap();
    server.finish();
}

#[test]
fn apop_digest_goes_out_when_chosen() {
    let server = FakeServer::start(vec![
        send("+OK ready <1896.697170952@dbc.mtview.ca.us>\r\n"),
        Step::Expect("CAPA"),
        send("-ERR no CAPA here\r\n"),
        Step::Expect("APOP mrose c4c9334bac560ecc979e58001b3e22fb"),
        send("+OK maildrop has 1 message\r\n"),
    ]);
    connect(&server).unwrap().login("mrose", "tanstaaf", Some(Mechanism::Apop)).unwrap();
    server.finish();
}

#[test]
fn cram_md5_is_preferred_and_answers_the_challenge() {
    let server = FakeServer::start(vec![
        send(GREETING),
        Step::Expect("CAPA"),
        send("+OK\r\nSASL PLAIN LOGIN CRAM-MD5\r\nUSER\r\n.\r\n"),
        Step::Expect("AUTH CRAM-MD5"),
        // base64 of the RFC 2195 example challenge
        send("+ PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+\r\n"),
        Step::Expect("dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw"),
        send("+OK\r\n"),
    ]);
    connect(&server).unwrap().login("tim", "tanstaaftanstaaf", None).unwrap();
    server.finish();
}

#[test]
fn without_rfc_5034_the_initial_response_waits_for_a_challenge() {
    let server = FakeServer::start(vec![
        send(GREETING),
        Step::Expect("CAPA"),
        send("-ERR\r\n"),
        Step::Expect("AUTH PLAIN"),
        send("+ \r\n"),
        Step::Expect("AHUAcA=="),
        send("+OK\r\n"),
    ]);
    let lines = {
        connect(&server).unwrap().login("u", "p", Some(Mechanism::Plain)).unwrap();
        server.finish()
    };
    assert_eq!(lines[1], "AUTH PLAIN", "no initial response on the AUTH line");
}

#[test]
fn auth_failure_carries_the_response_code() {
    let server = FakeServer::start(vec![
        send(GREETING),
        Step::Expect("CAPA"),
        send(CAPA_BASIC),
        Step::Expect("USER u"),
        send("+OK\r\n"),
        Step::Expect("PASS"),
        send("-ERR [IN-USE] mailbox locked\r\n"),
        Step::Expect("USER u"),
        send("+OK\r\n"),
        Step::Expect("PASS"),
        send("-ERR [LOGIN-DELAY] wait\r\n"),
    ]);
    let mut client = connect(&server).unwrap();
    for code in ["IN-USE", "LOGIN-DELAY"] {
        match client.login("u", "p", None).expect_err("refused") {
            Error::AuthFailed(reply) => assert_eq!(reply.response_code.as_deref(), Some(code)),
            other => panic!("{other:?}"),
        }
    }
    server.finish();
}

#[test]
fn oauth_failure_exchange_completes_and_reports() {
    let server = FakeServer::start(vec![
        send(GREETING),
        Step::Expect("CAPA"),
        send("+OK\r\nSASL XOAUTH2\r\n.\r\n"),
        Step::Expect("AUTH XOAUTH2 dXNlcj11AWF1dGg9QmVhcmVyIHRvawEB"),
        send("+ eyJzdGF0dXMiOiI0MDEifQ==\r\n"),
        Step::Expect(""),
        send("-ERR [AUTH] invalid token\r\n"),
    ]);
    let mut client = connect(&server).unwrap();
    let err = client.login_oauth2("u", "tok").expect_err("refused");
    assert!(matches!(err, Error::AuthFailed(_)), "{err:?}");
    assert!(!client.is_authenticated());
    drop(client);
    let lines = server.finish();
    assert_eq!(lines[2], "", "the dummy reply to the error challenge is empty");
}

#[test]
fn trace_never_shows_secrets() {
    let script = vec![
        send(GREETING),
        Step::Expect("CAPA"),
        send("+OK\r\nSASL PLAIN LOGIN\r\nUSER\r\n.\r\n"),
        Step::Expect("USER user"),
        send("+OK\r\n"),
        Step::Expect("PASS"),
        send("-ERR no\r\n"),
        Step::Expect("AUTH PLAIN"),
        send("-ERR no\r\n"),
        Step::Expect("AUTH LOGIN"),
        send("+ VXNlcm5hbWU6\r\n"),
        Step::Skip,
        send("+ UGFzc3dvcmQ6\r\n"),
        Step::Skip,
        send("-ERR no\r\n"),
    ];
    let server = FakeServer::start(script);
    let (tracer, log) = recording_tracer();
    let mut opts = plain_options();
    opts.tracer = tracer;
    let mut client = Pop3Client::connect("127.0.0.1", server.port, &opts).unwrap();
    let secret = "s3cret-pässword";
    for mech in [Mechanism::User, Mechanism::Plain, Mechanism::Login] {
        assert!(client.login("user", secret, Some(mech)).is_err());
    }
    drop(client);
    server.finish();
    let log = log.lock().unwrap();
    let encoded = [
        mailtls::sasl::encode(format!("\0user\0{secret}").as_bytes()),
        mailtls::sasl::encode(secret.as_bytes()),
        mailtls::sasl::encode(b"user"),
    ];
    let commands: Vec<String> =
        log.iter().filter(|(k, _)| *k == TraceKind::Command).map(|(_, d)| String::from_utf8_lossy(d).into()).collect();
    assert!(commands.contains(&"USER user".to_string()), "{commands:?}");
    assert!(commands.contains(&"PASS <redacted>".to_string()), "{commands:?}");
    assert!(commands.contains(&"AUTH PLAIN <redacted>".to_string()), "{commands:?}");
    for (_, data) in log.iter() {
        let text = String::from_utf8_lossy(data);
        assert!(!text.contains(secret), "secret in trace: {text}");
        for e in &encoded {
            assert!(!text.contains(e.as_str()), "encoded credential in trace: {text}");
        }
    }
}

#[test]
fn pipelined_retr_many_sends_ahead_and_delivers_in_order() {
    let capa = "+OK\r\nUSER\r\nPIPELINING\r\n.\r\n";
    let (server, mut client) = logged_in(
        capa,
        vec![
            // All three commands arrive before any reply is sent.
            Step::Expect("RETR 2"),
            Step::Expect("RETR 1"),
            Step::Expect("RETR 3"),
            send("+OK\r\ntwo\r\n.\r\n+OK\r\n.one\r\n..\r\n.\r\n+OK\r\n.\r\n"),
        ],
    );
    let mut got: Vec<(u32, Vec<u8>, bool)> = Vec::new();
    client
        .retr_many(&[2, 1, 3], &mut |n, part| {
            if got.last().is_none_or(|(m, _, ended)| *m != n || *ended) {
                got.push((n, Vec::new(), false));
            }
            let last = got.last_mut().unwrap();
            match part {
                Part::Data(d) => last.1.extend_from_slice(d),
                Part::End => last.2 = true,
            }
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(got, vec![(2, b"two\r\n".to_vec(), true), (1, b"one\r\n.\r\n".to_vec(), true), (3, Vec::new(), true)]);
    server.finish();
}

#[test]
fn without_pipelining_each_command_waits_for_its_reply() {
    let (server, mut client) = logged_in(
        CAPA_BASIC,
        vec![
            Step::Expect("DELE 1"),
            Step::ExpectSilence(Duration::from_millis(200)),
            send("+OK\r\n"),
            Step::Expect("DELE 2"),
            send("+OK\r\n"),
        ],
    );
    client.dele_many(&[1, 2]).unwrap();
    server.finish();
}

#[test]
fn a_refusal_in_a_pipelined_run_stops_it_and_keeps_the_session_in_step() {
    let capa = "+OK\r\nUSER\r\nPIPELINING\r\n.\r\n";
    let (server, mut client) = logged_in(
        capa,
        vec![
            Step::Expect("RETR 1"),
            Step::Expect("RETR 9"),
            Step::Expect("RETR 2"),
            send("+OK\r\none\r\n.\r\n-ERR no such message\r\n+OK\r\ntwo\r\n.\r\n"),
            Step::Expect("NOOP"),
            send("+OK\r\n"),
        ],
    );
    let mut delivered = Vec::new();
    let err = client
        .retr_many(&[1, 9, 2], &mut |n, part| {
            if part == Part::End {
                delivered.push(n);
            }
            ControlFlow::Continue(())
        })
        .expect_err("message 9 is refused");
    assert!(err.to_string().contains("message 9"), "{err}");
    assert_eq!(delivered, vec![1], "nothing after the refusal is delivered");
    client.noop().expect("still in step");
    server.finish();
}

#[test]
fn cancelling_from_the_sink_closes_without_quit() {
    let (server, mut client) =
        logged_in(CAPA_BASIC, vec![Step::Expect("RETR 1"), send("+OK\r\nabc\r\n.\r\n"), Step::ExpectEof]);
    let err = client.retr(1, &mut |_| ControlFlow::Break(())).expect_err("cancelled");
    assert!(matches!(err, Error::Cancelled));
    assert!(!client.is_open());
    drop(client);
    server.finish();
}

#[test]
fn malformed_listing_lines_are_protocol_errors() {
    let (server, mut client) =
        logged_in(CAPA_BASIC, vec![Step::Expect("UIDL"), send("+OK\r\n1 has spaces inside\r\n2 \x01bad\r\n.\r\n")]);
    let uids = client.uidl();
    // "1 has spaces inside": the first word after the number is the uid;
    // trailing words are tolerated, control characters are not.
    assert!(matches!(uids, Err(Error::Protocol(_))), "{uids:?}");
    server.finish();
}

#[test]
fn in_memory_retrieval_stops_at_the_limit() {
    let big = format!("+OK\r\n{}\r\n.\r\n", "y".repeat(5000));
    let mut opts = plain_options();
    opts.max_message_bytes = 1000;
    let (server, mut client) = logged_in_with(opts, CAPA_BASIC, vec![Step::Expect("RETR 1"), send(&big)]);
    let err = client.retr_to_vec(1).expect_err("too large");
    assert!(matches!(err, Error::MessageTooLarge { limit: 1000 }), "{err:?}");
    server.finish();
}

#[test]
fn utf8_is_requested_only_when_offered_and_wanted() {
    let server = FakeServer::start(vec![
        send(GREETING),
        Step::Expect("CAPA"),
        send("+OK\r\nUSER\r\nUTF8 USER\r\n.\r\n"),
        Step::Expect("UTF8"),
        send("+OK UTF8 enabled\r\n"),
        Step::Expect("USER jürgen"),
        send("+OK\r\n"),
        Step::Expect("PASS"),
        send("+OK\r\n"),
    ]);
    let mut opts = plain_options();
    opts.utf8 = true;
    let mut client = Pop3Client::connect("127.0.0.1", server.port, &opts).unwrap();
    assert!(client.utf8_active());
    client.login("jürgen", "p", None).unwrap();
    server.finish();

    // Not wanted: no UTF8 command even though it is offered.
    let server = FakeServer::start(vec![
        send(GREETING),
        Step::Expect("CAPA"),
        send("+OK\r\nUSER\r\nUTF8\r\n.\r\n"),
        Step::ExpectEof,
    ]);
    let client = connect(&server).unwrap();
    assert!(!client.utf8_active());
    drop(client);
    server.finish();
}

#[test]
fn oauthbearer_is_preferred_for_tokens() {
    let server = FakeServer::start(vec![
        send(GREETING),
        Step::Expect("CAPA"),
        send("+OK\r\nSASL XOAUTH2 OAUTHBEARER\r\n.\r\n"),
        // n,a=u,^Aauth=Bearer tok^A^A
        Step::Expect("AUTH OAUTHBEARER bixhPXUsAWF1dGg9QmVhcmVyIHRvawEB"),
        send("+OK\r\n"),
    ]);
    let mut client = connect(&server).unwrap();
    client.login_oauth2("u", "tok").unwrap();
    assert!(client.is_authenticated());
    server.finish();
}

#[test]
fn an_initial_response_too_long_for_the_command_line_waits_for_the_challenge() {
    let token = "t".repeat(400);
    let expected = mailtls::sasl::encode(format!("user=u\x01auth=Bearer {token}\x01\x01").as_bytes());
    let server = FakeServer::start(vec![
        send(GREETING),
        Step::Expect("CAPA"),
        send("+OK\r\nSASL XOAUTH2\r\n.\r\n"),
        Step::Expect("AUTH XOAUTH2"),
        send("+ \r\n"),
        Step::Skip,
        send("+OK\r\n"),
    ]);
    connect(&server).unwrap().login_oauth2("u", &token).unwrap();
    let lines = server.finish();
    assert_eq!(lines[1], "AUTH XOAUTH2", "RFC 5034 limits the AUTH line to 255 octets");
    assert_eq!(lines[2], expected);
}

#[test]
fn pipelined_dele_many_attempts_every_message_and_names_the_refused() {
    let capa = "+OK\r\nUSER\r\nPIPELINING\r\n.\r\n";
    let (server, mut client) = logged_in(
        capa,
        vec![
            Step::Expect("DELE 1"),
            Step::Expect("DELE 99"),
            Step::Expect("DELE 2"),
            Step::Expect("DELE 98"),
            send("+OK\r\n-ERR no message 99\r\n+OK\r\n-ERR no message 98\r\n"),
        ],
    );
    let err = client.dele_many(&[1, 99, 2, 98]).expect_err("two refusals");
    let text = err.to_string();
    assert!(text.contains("message 99") && text.contains("also refused: 98"), "{text}");
    server.finish();
}

#[test]
fn implicit_tls_against_a_plaintext_port_says_so() {
    let server = FakeServer::start(vec![send("+OK plain POP3 greeting\r\n"), Step::Close]);
    let mut opts = plain_options();
    opts.security = Security::Tls;
    let err = Pop3Client::connect("127.0.0.1", server.port, &opts).expect_err("must fail");
    match err {
        Error::Tls { message, detail } => {
            assert!(message.contains("answered without TLS") && message.contains("choose STARTTLS"), "{message}");
            assert!(detail.contains("does not speak TLS"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
    server.finish();
}

#[test]
fn list_uidl_goes_out_together_and_a_refusal_keeps_the_session_in_step() {
    let capa = "+OK\r\nUSER\r\nPIPELINING\r\n.\r\n";
    let (server, mut client) = logged_in(
        capa,
        vec![
            Step::Expect("UIDL"),
            Step::Expect("LIST"),
            send("+OK\r\n1 aaa\r\n2 bbb\r\n.\r\n+OK\r\n1 10\r\n2 20\r\n.\r\n"),
            Step::Expect("UIDL"),
            Step::Expect("LIST"),
            send("-ERR UIDL not now\r\n+OK\r\n1 10\r\n.\r\n"),
            Step::Expect("NOOP"),
            send("+OK\r\n"),
        ],
    );
    let entries = client.list_uidl().unwrap();
    let got: Vec<(u32, Option<u64>, Option<&str>)> =
        entries.iter().map(|e| (e.number, e.octets, e.uid.as_deref())).collect();
    assert_eq!(got, vec![(1, Some(10), Some("aaa")), (2, Some(20), Some("bbb"))]);
    let err = client.list_uidl().expect_err("UIDL refused");
    assert!(err.to_string().contains("UIDL not now"), "{err}");
    client.noop().expect("in step");
    server.finish();
}

#[test]
fn retr_many_into_memory_keeps_what_arrived_whole() {
    let capa = "+OK\r\nUSER\r\nPIPELINING\r\n.\r\n";
    let (server, mut client) = logged_in(
        capa,
        vec![
            // The batch is planned by the sizes of a LIST, sent once.
            Step::Expect("LIST"),
            send("+OK\r\n1 5\r\n2 6\r\n3 7\r\n.\r\n"),
            Step::Expect("RETR 1"),
            Step::Expect("RETR 2"),
            Step::Expect("RETR 9"),
            Step::Expect("RETR 3"),
            send("+OK\r\none\r\n.\r\n+OK\r\n..two\r\n.\r\n-ERR no message 9\r\n+OK\r\nthree\r\n.\r\n"),
        ],
    );
    let mut out = mailtls::pop3::Retrieved::default();
    let err = client.retr_many_to_vec(&[1, 2, 9, 3], &mut out).expect_err("9 is refused");
    assert!(matches!(err, Error::Server(_)), "{err:?}");
    assert_eq!(out.data, b"one\r\n.two\r\n");
    assert_eq!(out.ends, vec![5, 11]);
    server.finish();
}

#[test]
fn retr_many_into_memory_holds_each_message_to_the_limit() {
    let mut opts = plain_options();
    opts.max_message_bytes = 10;
    let (server, mut client) = logged_in_with(
        opts,
        CAPA_BASIC,
        vec![
            Step::Expect("LIST"),
            send("+OK\r\n1 7\r\n2 15\r\n.\r\n"),
            Step::Expect("RETR 1"),
            send("+OK\r\nshort\r\n.\r\n"),
            Step::Expect("RETR 2"),
            send("+OK\r\nmuch too long\r\n.\r\n"),
        ],
    );
    let mut out = mailtls::pop3::Retrieved::default();
    let err = client.retr_many_to_vec(&[1, 2], &mut out).expect_err("2 is too large");
    assert!(matches!(err, Error::MessageTooLarge { limit: 10 }), "{err:?}");
    assert_eq!((out.data.as_slice(), out.ends.as_slice()), (&b"short\r\n"[..], &[7][..]));
    server.finish();
}

#[test]
fn a_connect_that_gets_no_answer_times_out() {
    let dead = common::Unanswering::new();
    let port = dead.addr.port();
    let mut opts = plain_options();
    opts.connect_timeout = Duration::from_millis(300);
    let started = Instant::now();
    let err = Pop3Client::connect("127.0.0.1", port, &opts).expect_err("no answer");
    match &err {
        Error::Connect(message) => assert!(message.contains("within 0.3 s"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn a_listing_without_end_is_cut_off() {
    let mut capa = String::from("+OK\r\n");
    for i in 0..2000 {
        capa.push_str(&format!("X-CAP-{i}\r\n"));
    }
    let server = FakeServer::start(vec![send(GREETING), Step::Expect("CAPA"), send(&capa), Step::Close]);
    let err = connect(&server).expect_err("too many lines");
    assert!(matches!(&err, Error::Protocol(m) if m.contains("more than 1024 lines")), "{err:?}");
    server.finish();
}

/// Dovecot's refusal of a login in clear is not a wrong password: its own
/// error, which says to encrypt; a wrong password stays AuthFailed.
#[test]
fn a_login_refused_for_want_of_encryption_says_so_and_is_not_a_wrong_password() {
    let server = FakeServer::start(vec![
        send(GREETING),
        Step::Expect("CAPA"),
        send(CAPA_BASIC),
        Step::Expect("USER u"),
        send("+OK\r\n"),
        Step::Expect("PASS"),
        send("-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.\r\n"),
        Step::Expect("USER u"),
        send("+OK\r\n"),
        Step::Expect("PASS"),
        send("-ERR [AUTH] Authentication failed.\r\n"),
    ]);
    let mut client = connect(&server).unwrap();
    let err = client.login("u", "p", None).expect_err("refused");
    assert!(matches!(err, Error::EncryptionRequired(_)), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("only over an encrypted connection"), "{message}");
    assert!(message.contains("choose SSL/TLS or STARTTLS"), "{message}");
    assert!(matches!(client.login("u", "p", None), Err(Error::AuthFailed(_))));
    server.finish();
}
