//! POP3 against the project's real Dovecot (tests/servers/dovecot.sh, started
//! by tests/run.sh). Each test owns one of the users user01..user39.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::ops::ControlFlow;

use common::{
    as_served, env, password, port, recording_tracer, seed, sent_command, tls_options, unchecked_tls_options,
};
use mailtls::Client;
use mailtls::options::TlsVersion;
use mailtls::pop3::{Part, Pop3Client};
use mailtls::sasl::Mechanism;
use mailtls::{CertificateReason, ClientOptions, Error, Security};
use sha2::Digest;

fn pop3s() -> u16 {
    port("MAILTLS_TEST_POP3S_PORT")
}
fn pop3_plain() -> u16 {
    port("MAILTLS_TEST_POP3_PORT")
}

fn session(user: &str) -> Pop3Client {
    let mut opts = tls_options();
    opts.security = Security::Tls;
    let mut client = Pop3Client::connect("localhost", pop3s(), &opts).expect("connect over TLS");
    client.login(user, &password(), None).expect("login");
    client
}

fn retr(client: &mut Pop3Client, n: u32) -> Vec<u8> {
    client.retr_to_vec(n).expect("RETR")
}

const PLAIN_MESSAGE: &[u8] = b"From: a@example.org\nTo: b@example.org\nSubject: plain\n\nHello.\n";
const DOTTY_MESSAGE: &[u8] =
    b"Subject: dots\n\n.leading dot\n..two dots\n.\nlone dot above\n\xe9t\xe9 in latin-1\nno final newline";

#[test]
fn every_password_mechanism_logs_in_over_stls_and_implicit_tls() {
    seed("user01", &[PLAIN_MESSAGE]);
    let mechanisms = [
        None,
        Some(Mechanism::User),
        Some(Mechanism::Apop),
        Some(Mechanism::Plain),
        Some(Mechanism::Login),
        Some(Mechanism::CramMd5),
    ];
    for (port, security) in
        [(pop3_plain(), Security::Auto), (pop3_plain(), Security::StartTls), (pop3s(), Security::Tls)]
    {
        for mechanism in mechanisms {
            let mut opts = tls_options();
            opts.security = security;
            let mut client = Pop3Client::connect("localhost", port, &opts).expect("connect");
            assert!(client.is_tls());
            client.login("user01", &password(), mechanism).unwrap_or_else(|e| panic!("{mechanism:?} on {port}: {e}"));
            assert_eq!(client.stat().unwrap().0, 1);
            client.quit().unwrap();
        }
    }
}

/// Without a named mechanism: PLAIN to a verified or pinned server (one
/// round trip), CRAM-MD5 to one whose certificate was not checked (the
/// password itself never goes to a server that did not prove who it is).
#[test]
fn automatic_choice_depends_on_a_verified_server_and_restrictions_are_honoured() {
    seed("user02", &[]);
    let pinned = || {
        let mut opts = ClientOptions::default();
        opts.tls.set_pin_sha256_hex(&env("MAILTLS_TEST_SERVER_SHA256")).unwrap();
        opts
    };
    for (opts, expected) in
        [(tls_options(), "AUTH PLAIN "), (pinned(), "AUTH PLAIN "), (unchecked_tls_options(), "AUTH CRAM-MD5")]
    {
        let (tracer, log) = recording_tracer();
        let opts = ClientOptions { tracer, ..opts };
        let mut client = Pop3Client::connect("127.0.0.1", pop3_plain(), &opts).unwrap();
        client.login("user02", &password(), None).unwrap();
        client.quit().unwrap();
        assert!(sent_command(&log.lock().unwrap(), expected), "expected {expected}");
    }

    let (tracer, log) = recording_tracer();
    let mut opts = tls_options();
    opts.tracer = tracer;
    opts.allowed_mechanisms = Some(vec![Mechanism::Login, Mechanism::User]);
    let mut client = Pop3Client::connect("127.0.0.1", pop3_plain(), &opts).unwrap();
    client.login("user02", &password(), None).unwrap();
    assert!(sent_command(&log.lock().unwrap(), "AUTH LOGIN"));

    let mut opts = tls_options();
    opts.allowed_mechanisms = Some(vec![Mechanism::XOAuth2]);
    let mut client = Pop3Client::connect("127.0.0.1", pop3_plain(), &opts).unwrap();
    let err = client.login("user02", &password(), None).err().unwrap();
    assert!(matches!(err, Error::NoCommonMechanism(_)), "{err:?}");
}

#[test]
fn wrong_password_is_reported_with_the_server_reply() {
    seed("user03", &[]);
    let mut opts = tls_options();
    opts.security = Security::Tls;
    for mechanism in [None, Some(Mechanism::User), Some(Mechanism::Plain), Some(Mechanism::Apop)] {
        let mut client = Pop3Client::connect("localhost", pop3s(), &opts).unwrap();
        match client.login("user03", "wrong password", mechanism) {
            Err(Error::AuthFailed(reply)) => {
                assert!(reply.text.starts_with("-ERR"), "{reply:?}");
                assert_eq!(reply.response_code.as_deref(), Some("AUTH"), "{reply:?}");
            }
            other => panic!("{mechanism:?}: {other:?}"),
        }
        // A refusal leaves the session usable: the right password works.
        client.login("user03", &password(), mechanism).unwrap();
    }
}

#[test]
fn retrieved_messages_equal_the_stored_files() {
    seed("user04", &[PLAIN_MESSAGE, DOTTY_MESSAGE]);
    let mut client = session("user04");
    assert_eq!(retr(&mut client, 1), as_served(PLAIN_MESSAGE));
    assert_eq!(retr(&mut client, 2), as_served(DOTTY_MESSAGE));
    // Sizes count the stored bytes with CRLF line ends, not the CRLF that
    // Dovecot adds to a message without a final line end.
    let size = |m: &[u8]| (as_served(m).len() - if m.ends_with(b"\n") { 0 } else { 2 }) as u64;
    let (count, octets) = client.stat().unwrap();
    assert_eq!(count, 2);
    assert_eq!(octets, size(PLAIN_MESSAGE) + size(DOTTY_MESSAGE));
    let sizes = client.list().unwrap();
    assert_eq!(sizes, vec![(1, size(PLAIN_MESSAGE)), (2, size(DOTTY_MESSAGE))]);
    assert_eq!(client.list_one(2).unwrap(), sizes[1].1);
    client.quit().unwrap();
}

#[test]
fn large_message_streams_in_chunks_byte_exact() {
    let mut big = b"Subject: big\n\n".to_vec();
    for i in 0..40_000 {
        big.extend_from_slice(format!("{}line {i} of a long message\n", if i % 7 == 0 { "." } else { "" }).as_bytes());
    }
    seed("user05", &[&big]);
    let mut client = session("user05");
    let mut received = Vec::new();
    let mut chunks = 0;
    client
        .retr(1, &mut |chunk| {
            chunks += 1;
            received.extend_from_slice(chunk);
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(received, as_served(&big));
    assert!(chunks > 1, "delivered in several chunks");
}

#[test]
fn top_returns_headers_and_the_first_lines() {
    seed("user06", &[b"Subject: t\nX-A: b\n\none\ntwo\nthree\n"]);
    let mut client = session("user06");
    let mut out = Vec::new();
    client
        .top(1, 1, &mut |c| {
            out.extend_from_slice(c);
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(out, b"Subject: t\r\nX-A: b\r\n\r\none\r\n");
}

#[test]
fn uidl_is_stable_across_sessions_and_matches_list_uidl() {
    seed("user07", &[PLAIN_MESSAGE, DOTTY_MESSAGE, PLAIN_MESSAGE]);
    let first = session("user07").uidl().unwrap();
    let mut client = session("user07");
    let second = client.uidl().unwrap();
    assert_eq!(first, second);
    assert_eq!(first.len(), 3);
    assert_eq!(client.uidl_one(2).unwrap(), first[1].1);
    let entries = client.list_uidl().unwrap();
    assert_eq!(entries.len(), 3);
    for (entry, (n, uid)) in entries.iter().zip(&first) {
        assert_eq!(entry.number, *n);
        assert_eq!(entry.uid.as_deref(), Some(uid.as_str()));
        assert!(entry.octets.unwrap() > 0);
    }
}

#[test]
fn dele_then_quit_removes_and_rset_keeps() {
    seed("user08", &[PLAIN_MESSAGE, DOTTY_MESSAGE, PLAIN_MESSAGE]);
    let mut client = session("user08");
    client.dele(1).unwrap();
    client.rset().unwrap();
    client.quit().unwrap();
    assert_eq!(session("user08").stat().unwrap().0, 3, "RSET kept it");

    let mut client = session("user08");
    client.dele(2).unwrap();
    assert!(matches!(client.dele(2), Err(Error::Server(_))), "already deleted");
    client.quit().unwrap();
    let mut client = session("user08");
    assert_eq!(client.stat().unwrap().0, 2, "QUIT committed the deletion");
    assert_eq!(retr(&mut client, 2), as_served(PLAIN_MESSAGE));

    client.dele_many(&[1, 2]).unwrap();
    client.quit().unwrap();
    assert_eq!(session("user08").stat().unwrap().0, 0);
}

#[test]
fn deletions_without_quit_are_not_committed() {
    seed("user09", &[PLAIN_MESSAGE]);
    let mut client = session("user09");
    client.dele(1).unwrap();
    client.close();
    assert_eq!(session("user09").stat().unwrap().0, 1);
}

#[test]
fn retr_many_pipelines_a_whole_mailbox_in_order() {
    let messages: Vec<Vec<u8>> = (0..300)
        .map(|i| format!("Subject: m{i}\n\n{}body {i}\n", if i % 3 == 0 { ".dot\n" } else { "" }).into_bytes())
        .collect();
    let refs: Vec<&[u8]> = messages.iter().map(|m| m.as_slice()).collect();
    seed("user10", &refs);
    let mut client = session("user10");
    assert!(client.capabilities().pipelining());
    let numbers: Vec<u32> = (1..=300).collect();
    let mut got: Vec<Vec<u8>> = Vec::new();
    let mut current = Vec::new();
    let mut order = Vec::new();
    client
        .retr_many(&numbers, &mut |n, part| {
            match part {
                Part::Data(d) => current.extend_from_slice(d),
                Part::End => {
                    order.push(n);
                    got.push(std::mem::take(&mut current));
                }
            }
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(order, numbers);
    for (i, m) in messages.iter().enumerate() {
        assert_eq!(got[i], as_served(m), "message {}", i + 1);
    }
    client.noop().unwrap();
}

#[test]
fn retr_to_file_writes_the_whole_message_and_nothing_on_failure() {
    seed("user11", &[DOTTY_MESSAGE]);
    let dir = std::env::temp_dir().join(format!("mailtls-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("m.eml");
    let mut client = session("user11");
    client.retr_to_file(1, &path).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), as_served(DOTTY_MESSAGE));
    let missing = dir.join("missing.eml");
    assert!(matches!(client.retr_to_file(7, &missing), Err(Error::Server(_))));
    assert!(std::fs::read_dir(&dir).unwrap().count() == 1, "no partial file left");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn capabilities_are_typed() {
    seed("user12", &[]);
    let client = session("user12");
    let caps = client.capabilities();
    assert!(caps.top() && caps.uidl() && caps.pipelining() && caps.resp_codes() && caps.user() && caps.sasl());
    assert!(!caps.stls(), "not offered again over TLS");
    for m in [Mechanism::Plain, Mechanism::Login, Mechanism::CramMd5] {
        assert!(caps.sasl_mechanism(m), "{m:?}");
    }
    let mut plain = tls_options();
    plain.security = Security::StartTls;
    let client = Pop3Client::connect("localhost", pop3_plain(), &plain).unwrap();
    assert!(client.capabilities().sasl_mechanism(Mechanism::Plain));
}

#[test]
fn untrusted_ca_is_refused() {
    let mut opts = ClientOptions::default();
    opts.tls.add_ca_file(std::path::Path::new(&env("MAILTLS_TEST_OTHER_CA"))).unwrap();
    for (port, security) in [(pop3s(), Security::Tls), (pop3_plain(), Security::StartTls)] {
        opts.security = security;
        let err = Pop3Client::connect("localhost", port, &opts).expect_err("must fail");
        let Error::Certificate(c) = err else { panic!("{err:?}") };
        assert_eq!(c.reason, CertificateReason::UnknownIssuer, "{c:?}");
        // After STLS too, the message names the issuer (where the backend
        // hands the certificate over).
        if cfg!(not(feature = "native-tls-backend")) {
            assert!(c.message.contains("issued by \"mailtls test CA\", which is not a trusted CA"), "{c:?}");
        }
    }
}

/// The system's trusted roots come from where OpenSSL looks for them
/// (`SSL_CERT_DIR`, a directory of hash links read lazily, and
/// `SSL_CERT_FILE`, a bundle): with the test CA in either place, a client
/// given no CA of its own connects; with only another CA there, it is
/// refused. Each case runs in a child process, since the variables and the
/// context cache are per process.
#[test]
#[cfg(unix)]
fn system_roots_come_from_the_openssl_locations() {
    if let Ok(expect) = std::env::var("MAILTLS_ROOTS_CHILD") {
        let opts = ClientOptions { security: Security::Tls, ..ClientOptions::default() };
        match (expect.as_str(), Pop3Client::connect("localhost", pop3s(), &opts)) {
            ("trusted", Ok(_)) => {}
            ("untrusted", Err(Error::Certificate(c))) if c.reason == CertificateReason::UnknownIssuer => {}
            (expect, result) => panic!("expected {expect}, got {:?}", result.err()),
        }
        return;
    }
    let ca = std::path::PathBuf::from(env("MAILTLS_TEST_CA"));
    let other_ca = env("MAILTLS_TEST_OTHER_CA");
    let hashed = std::env::temp_dir().join(format!("mailtls-hashed-roots-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&hashed);
    std::fs::create_dir_all(&hashed).unwrap();
    let hash = std::process::Command::new("openssl").args(["x509", "-hash", "-noout", "-in"]).arg(&ca).output();
    let hash = String::from_utf8(hash.expect("openssl x509 -hash").stdout).unwrap();
    std::os::unix::fs::symlink(&ca, hashed.join(format!("{}.0", hash.trim()))).unwrap();
    let empty = std::env::temp_dir().join(format!("mailtls-no-roots-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();

    let hashed_dir = hashed.to_str().unwrap();
    let empty_dir = empty.to_str().unwrap();
    let ca_file = ca.to_str().unwrap();
    for (cert_dir, cert_file, expect) in [
        (hashed_dir, "/nonexistent/mailtls-bundle.pem", "trusted"),
        (empty_dir, ca_file, "trusted"),
        (empty_dir, other_ca.as_str(), "untrusted"),
    ] {
        let child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "system_roots_come_from_the_openssl_locations", "--nocapture"])
            .env("MAILTLS_ROOTS_CHILD", expect)
            .env("SSL_CERT_DIR", cert_dir)
            .env("SSL_CERT_FILE", cert_file)
            .output()
            .expect("run the child test");
        assert!(
            child.status.success(),
            "SSL_CERT_DIR={cert_dir} SSL_CERT_FILE={cert_file}: expected {expect}\n{}{}",
            String::from_utf8_lossy(&child.stdout),
            String::from_utf8_lossy(&child.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(&hashed);
    let _ = std::fs::remove_dir_all(&empty);
}

/// Forward one connection from 127.0.0.2 to Dovecot, so the client reaches
/// it under an address the certificate does not name.
fn forwarder_on_127_0_0_2(target: u16) -> u16 {
    let listener = TcpListener::bind("127.0.0.2:0").expect("bind 127.0.0.2");
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let (inbound, _) = listener.accept().unwrap();
        let outbound = TcpStream::connect(("127.0.0.1", target)).unwrap();
        let pipe = |mut from: TcpStream, mut to: TcpStream| {
            std::thread::spawn(move || {
                let mut buf = [0u8; 16384];
                while let Ok(n) = from.read(&mut buf) {
                    if n == 0 || to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = to.shutdown(std::net::Shutdown::Both);
            })
        };
        pipe(inbound.try_clone().unwrap(), outbound.try_clone().unwrap());
        pipe(outbound, inbound);
    });
    port
}

#[test]
fn wrong_host_name_is_refused() {
    let port = forwarder_on_127_0_0_2(pop3s());
    let mut opts = tls_options();
    opts.security = Security::Tls;
    let err = Pop3Client::connect("127.0.0.2", port, &opts).expect_err("must fail");
    let Error::Certificate(c) = err else { panic!("{err:?}") };
    assert_eq!(c.reason, CertificateReason::HostMismatch, "{c:?}");
    if cfg!(not(feature = "native-tls-backend")) {
        let names = format!("the certificate of 127.0.0.2:{port} is for localhost and 127.0.0.1, not 127.0.0.2");
        assert!(c.message.starts_with(&names), "{c:?}");
    }
}

#[test]
fn pinned_certificate_is_accepted_without_the_ca_and_others_refused() {
    seed("user13", &[]);
    let fingerprint = env("MAILTLS_TEST_SERVER_SHA256");
    let with_colons: String = fingerprint
        .to_uppercase()
        .as_bytes()
        .chunks(2)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(":");
    let mut opts = ClientOptions { security: Security::Tls, ..Default::default() };
    opts.tls.set_pin_sha256_hex(&with_colons).unwrap();
    let mut client = Pop3Client::connect("127.0.0.1", pop3s(), &opts).expect("pinned");
    client.login("user13", &password(), None).unwrap();
    assert_eq!(mailtls::fingerprint::sha256_hex(&client.peer_cert_sha256().unwrap()), fingerprint);

    opts.tls.set_pin_sha256_hex(&"ab".repeat(32)).unwrap();
    let err = Pop3Client::connect("127.0.0.1", pop3s(), &opts).expect_err("must fail");
    assert!(matches!(err, Error::CertificatePinMismatch { .. }), "{err:?}");
}

#[test]
fn tls_info_gives_the_certificate_and_what_the_handshake_settled() {
    for (security, port) in [(Security::Tls, pop3s()), (Security::StartTls, pop3_plain())] {
        let opts = ClientOptions { security, ..tls_options() };
        let client = Pop3Client::connect("localhost", port, &opts).expect("connect");
        let info = client.tls_info().expect("TLS is up");
        let der = info.peer_certificate_der.as_deref().expect("the server's certificate");
        let digest: [u8; 32] = sha2::Sha256::digest(der).into();
        assert_eq!(mailtls::fingerprint::sha256_hex(&digest), env("MAILTLS_TEST_SERVER_SHA256"));
        assert_eq!(info.peer_sha256, Some(digest));
        assert_eq!(client.peer_cert_sha256(), Some(digest));
        if cfg!(feature = "native-tls-backend") {
            assert_eq!((info.version, info.cipher), (None, None), "native-tls does not tell them");
        } else {
            assert!(matches!(info.version, Some("TLSv1.2" | "TLSv1.3")), "{:?}", info.version);
            assert!(info.cipher.is_some_and(|c| !c.is_empty()), "{:?}", info.cipher);
        }
    }
    let plain = ClientOptions { security: Security::None, ..Default::default() };
    assert!(Pop3Client::connect("localhost", pop3_plain(), &plain).unwrap().tls_info().is_none());
}

#[test]
fn stls_on_the_plain_port_and_tls_1_3_minimum() {
    seed("user14", &[PLAIN_MESSAGE]);
    let mut opts = tls_options();
    opts.tls.min_version = TlsVersion::Tls13;
    let mut client = Pop3Client::connect("localhost", pop3_plain(), &opts).expect("STLS with TLS 1.3");
    assert!(client.is_tls());
    client.login("user14", &password(), None).unwrap();
    assert_eq!(retr(&mut client, 1), as_served(PLAIN_MESSAGE));
}

#[test]
fn plaintext_mode_refuses_credentials_unless_allowed() {
    seed("user15", &[]);
    let mut opts = ClientOptions { security: Security::None, ..Default::default() };
    let mut client = Pop3Client::connect("127.0.0.1", pop3_plain(), &opts).unwrap();
    assert!(!client.is_tls());
    assert!(matches!(client.login("user15", &password(), None), Err(Error::PlaintextAuthRefused)));
    opts.allow_plaintext_auth = true;
    let mut client = Pop3Client::connect("127.0.0.1", pop3_plain(), &opts).unwrap();
    client.login("user15", &password(), Some(Mechanism::User)).unwrap();
}

#[test]
fn implicit_tls_port_reached_with_stls_is_named_at_once() {
    let mut opts = tls_options();
    opts.io_timeout = std::time::Duration::from_millis(500);
    let err = Pop3Client::connect("127.0.0.1", pop3s(), &opts).expect_err("must fail");
    // The TLS probe answers within the short timeout too.
    assert!(matches!(err, Error::ImplicitTlsPort { .. }), "{err:?}");
}

/// A TLS server on loopback with the test certificate that speaks only the
/// versions from `min` to `max`, for one handshake.
fn tls_server_with_versions(min: native_tls::Protocol, max: native_tls::Protocol) -> u16 {
    let ca = std::path::PathBuf::from(env("MAILTLS_TEST_STATE")).join("ca");
    let read = |name: &str| std::fs::read(ca.join(name)).unwrap();
    let identity = native_tls::Identity::from_pkcs8(&read("server.pem"), &read("server.key")).unwrap();
    let acceptor = native_tls::TlsAcceptor::builder(identity)
        .min_protocol_version(Some(min))
        .max_protocol_version(Some(max))
        .build()
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        if let Ok((stream, _)) = listener.accept() {
            let _ = acceptor.accept(stream);
        }
    });
    port
}

#[test]
fn a_server_without_tls_1_2_is_refused() {
    use native_tls::Protocol;
    let port = tls_server_with_versions(Protocol::Tlsv10, Protocol::Tlsv11);
    let mut opts = tls_options();
    opts.security = Security::Tls;
    let err = Pop3Client::connect("localhost", port, &opts).expect_err("TLS 1.1 at most");
    assert!(matches!(err, Error::TlsVersion { .. }), "{err:?}");
}

#[test]
fn a_tls_1_3_minimum_refuses_a_tls_1_2_server() {
    use native_tls::Protocol;
    let port = tls_server_with_versions(Protocol::Tlsv12, Protocol::Tlsv12);
    let mut opts = tls_options();
    opts.security = Security::Tls;
    opts.tls.min_version = TlsVersion::Tls13;
    let err = Pop3Client::connect("localhost", port, &opts).expect_err("TLS 1.2 only");
    assert!(matches!(err, Error::TlsVersion { .. }), "{err:?}");
}
