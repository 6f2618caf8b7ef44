//! Real TLS handshakes on loopback that fail, one for each reason a person
//! acts on differently: each must come back as the right error, with a
//! detail that names the reason in plain words and keeps the TLS library's
//! code. The certificates are made here, at run time, with the openssl
//! crate (the library's own TLS library on these systems), so that their
//! validity periods can be set to the second. Run with both backends:
//! `cargo nextest run --test tls_failures` and the same with
//! `--features native-tls-backend`.

#![cfg(not(any(windows, target_vendor = "apple")))]

use std::io::Write;
use std::net::TcpListener;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mailtls::Client;
use mailtls::pop3::Pop3Client;
use mailtls::{CertificateError, CertificateReason, ClientOptions, Error, Security};
use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::ssl::{Ssl, SslContext, SslMethod, SslVersion};
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName, SubjectKeyIdentifier,
};
use openssl::x509::{X509, X509Builder, X509NameBuilder};

const DAY: i64 = 24 * 60 * 60;

/// A certificate and its key.
struct Identity {
    cert: X509,
    key: PKey<Private>,
}

/// What a leaf certificate is made of.
struct Leaf<'a> {
    /// subjectAltName entries, e.g. "DNS:localhost" or "IP:127.0.0.1".
    names: &'a [&'a str],
    /// Validity, in days from now (negative: in the past).
    from_days: i64,
    until_days: i64,
}

const GOOD: Leaf = Leaf { names: &["DNS:localhost", "IP:127.0.0.1"], from_days: -1, until_days: 30 };

fn new_key() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
}

fn time(days_from_now: i64) -> Asn1Time {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    Asn1Time::from_unix(now + days_from_now * DAY).unwrap()
}

/// A builder with a fresh serial, this subject and validity, and `key`.
fn builder(cn: &str, key: &PKey<Private>, from_days: i64, until_days: i64) -> X509Builder {
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("O", "mailtls tests").unwrap();
    name.append_entry_by_text("CN", cn).unwrap();
    let name = name.build();
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    let mut serial = BigNum::new().unwrap();
    serial.rand(64, MsbOption::MAYBE_ZERO, false).unwrap();
    b.set_serial_number(&serial.to_asn1_integer().unwrap()).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(key).unwrap();
    b.set_not_before(&time(from_days)).unwrap();
    b.set_not_after(&time(until_days)).unwrap();
    b
}

/// A self-signed CA.
fn new_ca(cn: &str) -> Identity {
    let key = new_key();
    let mut b = builder(cn, &key, -1, 30);
    b.append_extension(BasicConstraints::new().critical().ca().build().unwrap()).unwrap();
    b.append_extension(KeyUsage::new().critical().key_cert_sign().crl_sign().build().unwrap()).unwrap();
    let ski = SubjectKeyIdentifier::new().build(&b.x509v3_context(None, None)).unwrap();
    b.append_extension(ski).unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    Identity { cert: b.build(), key }
}

/// A server certificate signed by `issuer`, or self-signed without one.
fn new_leaf(issuer: Option<&Identity>, leaf: &Leaf) -> Identity {
    let key = new_key();
    let mut b = builder("localhost", &key, leaf.from_days, leaf.until_days);
    if let Some(issuer) = issuer {
        b.set_issuer_name(issuer.cert.subject_name()).unwrap();
    }
    b.append_extension(BasicConstraints::new().critical().build().unwrap()).unwrap();
    b.append_extension(KeyUsage::new().critical().digital_signature().build().unwrap()).unwrap();
    b.append_extension(ExtendedKeyUsage::new().server_auth().build().unwrap()).unwrap();
    // No names: the common name (localhost) alone, as old certificates have it.
    if !leaf.names.is_empty() {
        let mut san = SubjectAlternativeName::new();
        for name in leaf.names {
            match name.split_once(':') {
                Some(("DNS", dns)) => san.dns(dns),
                Some(("IP", ip)) => san.ip(ip),
                _ => panic!("{name}"),
            };
        }
        let ext = san.build(&b.x509v3_context(issuer.map(|i| i.cert.as_ref()), None)).unwrap();
        b.append_extension(ext).unwrap();
    }
    if issuer.is_some() {
        let akid = AuthorityKeyIdentifier::new()
            .keyid(true)
            .build(&b.x509v3_context(issuer.map(|i| i.cert.as_ref()), None))
            .unwrap();
        b.append_extension(akid).unwrap();
    }
    b.sign(issuer.map_or(&key, |i| &i.key), MessageDigest::sha256()).unwrap();
    Identity { cert: b.build(), key }
}

/// Which TLS versions a test server speaks.
#[derive(Clone, Copy)]
enum Versions {
    Modern,
    /// TLS 1.1 at most, with the ciphers OpenSSL 3 allows it only at
    /// security level 0.
    Tls11Only,
}

/// A TLS server on 127.0.0.1 for a few handshakes (the client may look at
/// the certificate again: see `LOOKS`), sending `leaf` and then `chain`.
/// Returns its port.
fn tls_server(leaf: Identity, chain: Vec<X509>, versions: Versions) -> u16 {
    let mut ctx = SslContext::builder(SslMethod::tls_server()).unwrap();
    ctx.set_certificate(&leaf.cert).unwrap();
    ctx.set_private_key(&leaf.key).unwrap();
    for cert in chain {
        ctx.add_extra_chain_cert(cert).unwrap();
    }
    if let Versions::Tls11Only = versions {
        ctx.set_cipher_list("DEFAULT@SECLEVEL=0").unwrap();
        ctx.set_min_proto_version(Some(SslVersion::TLS1)).unwrap();
        ctx.set_max_proto_version(Some(SslVersion::TLS1_1)).unwrap();
    }
    let ctx = ctx.build();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(LOOKS).flatten() {
            stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            // The client refuses, so the handshake fails here too.
            let _ = Ssl::new(&ctx).unwrap().accept(stream);
        }
    });
    port
}

/// The connections a refused certificate costs: one, or two where the
/// backend keeps no certificate of a refused handshake (native-tls) and
/// the client connects again to read it.
const LOOKS: usize = if cfg!(feature = "native-tls-backend") { 2 } else { 1 };

/// Options that trust `ca` (and the system's roots), over implicit TLS.
fn trusting(ca: &Identity) -> ClientOptions {
    let mut opts = ClientOptions {
        security: Security::Tls,
        connect_timeout: Duration::from_secs(10),
        io_timeout: Duration::from_secs(10),
        ..ClientOptions::default()
    };
    opts.tls.add_ca_pem(&ca.cert.to_pem().unwrap()).unwrap();
    opts
}

fn connect_error(host: &str, port: u16, opts: &ClientOptions) -> Error {
    Pop3Client::connect(host, port, opts).expect_err("the handshake must fail")
}

/// Checks that `detail` names the reason and the code, in that order, and
/// ends with the TLS library's own words.
fn assert_names(detail: &str, reason: &str, code: &str) {
    let at_reason = detail.find(reason).unwrap_or_else(|| panic!("no {reason:?} in {detail:?}"));
    let at_code = detail.find(code).unwrap_or_else(|| panic!("no {code:?} in {detail:?}"));
    let at_text = detail.find("the TLS library said: ").unwrap_or_else(|| panic!("no library text in {detail:?}"));
    assert!(at_reason < at_code && at_code < at_text, "reason, code, then the library's text: {detail:?}");
}

/// The certificate failure, checked to be one.
fn certificate_error(err: Error) -> CertificateError {
    match err {
        Error::Certificate(c) => *c,
        other => panic!("expected a certificate error, got {other:?}"),
    }
}

/// Checks the failure's reason, that its message is free of the TLS
/// library's internals, and that its detail names the library's code and
/// ends with the library's own words.
/// Checks that a message is free of the TLS library's internals.
fn assert_plain(message: &str) {
    for internal in ["error:", "SSL routines", ".c:", "X509_V_ERR", "SSL_R_", "the TLS library said", "verify failed"] {
        assert!(!message.contains(internal), "{internal:?} in the message {message:?}");
    }
}

fn check(err: Error, reason: CertificateReason, code: &str) -> CertificateError {
    let c = certificate_error(err);
    assert_eq!(c.reason, reason, "{c:?}");
    assert_plain(&c.message);
    let at_code = c.detail.find(code).unwrap_or_else(|| panic!("no {code:?} in {:?}", c.detail));
    let at_text =
        c.detail.find("the TLS library said: ").unwrap_or_else(|| panic!("no library text in {:?}", c.detail));
    assert!(at_code < at_text, "the code, then the library's text: {:?}", c.detail);
    assert!(c.certificate.is_some(), "the certificate's facts, on both backends: {c:?}");
    assert!(c.message.contains(&format!("{}:{}", c.host, c.port)) || c.message.contains(&c.host), "{}", c.message);
    c
}

fn sha256_hex(cert: &X509) -> String {
    cert.digest(MessageDigest::sha256()).unwrap().iter().map(|b| format!("{b:02x}")).collect()
}

/// A Unix time as the messages write it, by the system's `date` (an
/// independent reading of the same instant).
fn utc_by_date(unix: i64) -> String {
    let out =
        std::process::Command::new("date").args(["-u", "-d", &format!("@{unix}"), "+%Y-%m-%d %H:%M UTC"]).output();
    String::from_utf8(out.unwrap().stdout).unwrap().trim().to_string()
}

fn unix(time: &openssl::asn1::Asn1TimeRef) -> i64 {
    let epoch = Asn1Time::from_unix(0).unwrap();
    let diff = epoch.diff(time).unwrap();
    i64::from(diff.days) * DAY + i64::from(diff.secs)
}

#[test]
fn an_expired_certificate_gives_its_date_and_both_remedies() {
    let ca = new_ca("mailtls test CA");
    let leaf = new_leaf(Some(&ca), &Leaf { from_days: -30, until_days: -3, ..GOOD });
    let not_after = unix(leaf.cert.not_after());
    let port = tls_server(leaf, vec![], Versions::Modern);
    let c = check(
        connect_error("localhost", port, &trusting(&ca)),
        CertificateReason::Expired,
        "(X509_V_ERR_CERT_HAS_EXPIRED, 10)",
    );
    assert!(
        c.message.starts_with(&format!("the server's certificate has expired: localhost:{port} ")),
        "{}",
        c.message
    );
    assert!(c.message.contains("must renew it") && c.message.contains("clock is wrong"), "{}", c.message);
    let today = utc_by_date(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64);
    assert!(c.message.contains(&format!("today is {}", &today[..10])), "{}", c.message);
    assert!(c.message.contains(&format!("valid until {}, 3 days ago", utc_by_date(not_after))), "{}", c.message);
    assert_eq!(c.certificate.unwrap().not_after, not_after);
}

#[test]
fn a_certificate_not_yet_valid_gives_its_start_date() {
    let ca = new_ca("mailtls test CA");
    let leaf = new_leaf(Some(&ca), &Leaf { from_days: 2, until_days: 30, ..GOOD });
    let not_before = unix(leaf.cert.not_before());
    let port = tls_server(leaf, vec![], Versions::Modern);
    let c = check(
        connect_error("localhost", port, &trusting(&ca)),
        CertificateReason::NotYetValid,
        "(X509_V_ERR_CERT_NOT_YET_VALID, 9)",
    );
    assert!(c.message.contains("not yet valid") && c.message.contains("clock is wrong"), "{}", c.message);
    let from = format!("valid only from {}, in 2 days", utc_by_date(not_before));
    assert!(c.message.contains(&from), "{}", c.message);
}

#[test]
fn a_self_signed_certificate_gives_its_fingerprint() {
    let ca = new_ca("mailtls test CA");
    let leaf = new_leaf(None, &GOOD);
    let fingerprint = sha256_hex(&leaf.cert);
    let port = tls_server(leaf, vec![], Versions::Modern);
    let c = check(
        connect_error("localhost", port, &trusting(&ca)),
        CertificateReason::SelfSigned,
        "(X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, 18)",
    );
    assert!(c.message.contains("self-signed"), "{}", c.message);
    assert!(c.message.ends_with(&format!("pin its SHA-256 fingerprint {fingerprint}")), "{}", c.message);
    let cert = c.certificate.unwrap();
    assert!(cert.self_signed);
    assert_eq!(cert.sha256_hex(), fingerprint);
    assert_eq!(cert.subject, "O=mailtls tests, CN=localhost");
    assert_eq!(cert.names, ["localhost", "127.0.0.1"]);
}

#[test]
fn a_full_chain_to_an_unknown_root_names_the_issuer() {
    let trusted = new_ca("mailtls test CA");
    let unknown = new_ca("mailtls unknown CA");
    let leaf = new_leaf(Some(&unknown), &GOOD);
    let fingerprint = sha256_hex(&leaf.cert);
    let port = tls_server(leaf, vec![unknown.cert.clone()], Versions::Modern);
    let c = check(
        connect_error("localhost", port, &trusting(&trusted)),
        CertificateReason::UnknownIssuer,
        "(X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN, 19)",
    );
    // What the tests of the C examples look for.
    assert!(c.message.starts_with("the server's certificate is not trusted: "), "{}", c.message);
    assert!(c.message.contains("issued by \"mailtls unknown CA\", which is not a trusted CA"), "{}", c.message);
    assert!(c.message.ends_with(&format!("pin its SHA-256 fingerprint {fingerprint}")), "{}", c.message);
    let cert = c.certificate.unwrap();
    assert!(!cert.self_signed);
    assert_eq!(cert.issuer, "O=mailtls tests, CN=mailtls unknown CA");
}

#[test]
fn a_leaf_from_an_unknown_issuer_names_the_issuer() {
    let trusted = new_ca("mailtls test CA");
    let unknown = new_ca("mailtls unknown CA");
    let port = tls_server(new_leaf(Some(&unknown), &GOOD), vec![], Versions::Modern);
    let c = check(
        connect_error("localhost", port, &trusting(&trusted)),
        CertificateReason::UnknownIssuer,
        "(X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, 20)",
    );
    assert!(c.message.contains("issued by \"mailtls unknown CA\""), "{}", c.message);
}

/// The host-mismatch message for a certificate with these names, reached
/// as `host`.
fn mismatch(names: &[&str], host: &str, code: &str) -> (CertificateError, u16) {
    let ca = new_ca("mailtls test CA");
    let port = tls_server(new_leaf(Some(&ca), &Leaf { names, ..GOOD }), vec![], Versions::Modern);
    let c = check(connect_error(host, port, &trusting(&ca)), CertificateReason::HostMismatch, code);
    assert_eq!((c.host.as_str(), c.port), (host, port));
    (c, port)
}

#[test]
fn a_certificate_for_another_host_name_lists_its_names() {
    let (c, port) = mismatch(&["DNS:mail.example.test"], "localhost", "(X509_V_ERR_HOSTNAME_MISMATCH, 62)");
    let expected = format!(
        "the certificate of localhost:{port} is for mail.example.test, not localhost: use that as the server name"
    );
    assert_eq!(c.message, expected);
}

#[test]
fn a_wildcard_certificate_for_another_domain_lists_its_names() {
    let names = ["DNS:server1.hosting.example", "DNS:*.hosting.example"];
    let (c, port) = mismatch(&names, "localhost", "(X509_V_ERR_HOSTNAME_MISMATCH, 62)");
    assert_eq!(
        c.message,
        format!(
            "the certificate of localhost:{port} is for server1.hosting.example and *.hosting.example, not \
             localhost: use one of those as the server name"
        )
    );
}

#[test]
fn a_certificate_without_the_address_lists_what_it_has() {
    let (c, port) = mismatch(&["DNS:localhost", "IP:127.0.0.2"], "127.0.0.1", "(X509_V_ERR_IP_ADDRESS_MISMATCH, 64)");
    assert!(
        c.message
            .starts_with(&format!("the certificate of 127.0.0.1:{port} is for localhost and 127.0.0.2, not 127.0.0.1")),
        "{}",
        c.message
    );
}

#[test]
fn a_certificate_with_only_a_common_name_gives_that_name() {
    let (c, _) = mismatch(&[], "127.0.0.1", "(X509_V_ERR_IP_ADDRESS_MISMATCH, 64)");
    assert!(c.message.contains("is for localhost, not 127.0.0.1"), "{}", c.message);
    assert_eq!(c.certificate.unwrap().names, ["localhost"]);
}

#[test]
fn the_library_text_goes_to_the_trace() {
    let ca = new_ca("mailtls test CA");
    let port = tls_server(new_leaf(None, &GOOD), vec![], Versions::Modern);
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut opts = trusting(&ca);
    let sink = lines.clone();
    opts.tracer = mailtls::trace::Tracer::new(std::sync::Arc::new(move |kind, data: &[u8]| {
        if kind == mailtls::trace::TraceKind::Info {
            sink.lock().unwrap().push(String::from_utf8_lossy(data).into_owned());
        }
    }));
    let c = certificate_error(connect_error("localhost", port, &opts));
    let lines = lines.lock().unwrap();
    let traced = lines.iter().find(|l| l.starts_with("TLS handshake failed: ")).expect("a trace line");
    assert!(traced.ends_with(&c.detail), "{traced:?}");
    assert!(traced.contains("X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT"), "{traced:?}");
}

#[test]
fn a_tls_1_1_server_is_refused_for_its_version() {
    let ca = new_ca("mailtls test CA");
    let port = tls_server(new_leaf(Some(&ca), &GOOD), vec![], Versions::Tls11Only);
    match connect_error("localhost", port, &trusting(&ca)) {
        Error::TlsVersion { required, message, detail } => {
            assert_eq!(required, "TLS 1.2");
            assert_plain(&message);
            assert!(message.starts_with(&format!("localhost:{port} speaks only obsolete TLS")), "{message}");
            assert!(message.contains("the server's provider must update the server"), "{message}");
            // The client offers 1.2 and 1.3 only (supported_versions), so
            // the server answers with a protocol_version alert.
            assert_names(&detail, "no TLS version", "(SSL_R_TLSV1_ALERT_PROTOCOL_VERSION, 1070)");
        }
        other => panic!("expected TlsVersion, got {other:?}"),
    }
}

#[test]
fn a_port_that_does_not_speak_tls_is_said_to() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        // A plain POP3 greeting where the client expects a ServerHello.
        let _ = stream.write_all(b"+OK POP3 server ready\r\n");
        std::thread::sleep(Duration::from_millis(500));
    });
    let ca = new_ca("mailtls test CA");
    match connect_error("127.0.0.1", port, &trusting(&ca)) {
        Error::Tls { message, detail } => {
            assert_plain(&message);
            assert!(message.starts_with(&format!("127.0.0.1:{port} answered without TLS")), "{message}");
            assert!(message.contains("choose STARTTLS for this port"), "{message}");
            assert_names(&detail, "does not speak TLS", "(SSL_R_WRONG_VERSION_NUMBER, 267)");
        }
        other => panic!("expected Tls, got {other:?}"),
    }
    server.join().unwrap();
}

// ------------------------------------------------------- certificate callback

/// A TLS server for one connection that, once its handshake completes,
/// greets as POP3 and answers each line (`-ERR` to all but QUIT) until the
/// client closes; as many connections as the client makes. Returns its
/// port and a thread that gives, per connection, every line the client
/// sent over TLS (`None`: the handshake failed).
fn pop3_tls_server(leaf: Identity, versions: Versions) -> (u16, std::thread::JoinHandle<Vec<Option<Vec<String>>>>) {
    use std::io::{BufRead, BufReader};
    let mut ctx = SslContext::builder(SslMethod::tls_server()).unwrap();
    ctx.set_certificate(&leaf.cert).unwrap();
    ctx.set_private_key(&leaf.key).unwrap();
    if let Versions::Tls11Only = versions {
        ctx.set_cipher_list("DEFAULT@SECLEVEL=0").unwrap();
        ctx.set_min_proto_version(Some(SslVersion::TLS1)).unwrap();
        ctx.set_max_proto_version(Some(SslVersion::TLS1_1)).unwrap();
    }
    let ctx = ctx.build();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let serve = |stream: std::net::TcpStream| {
            stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut tls = Ssl::new(&ctx).unwrap().accept(stream).ok()?;
            let _ = tls.write_all(b"+OK test server ready\r\n");
            let mut lines = Vec::new();
            let mut reader = BufReader::new(tls);
            let mut line = String::new();
            // Until the client closes (close_notify, EOF or a reset).
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                let command = line.trim_end().to_string();
                let answer: &[u8] = if command == "QUIT" { b"+OK bye\r\n" } else { b"-ERR not here\r\n" };
                let _ = reader.get_mut().write_all(answer);
                lines.push(command);
                line.clear();
            }
            Some(lines)
        };
        // One connection per look at the certificate, and one more for a
        // session that goes on once accepted; it ends when none comes.
        listener.set_nonblocking(true).unwrap();
        let mut served = Vec::new();
        let mut idle_since = std::time::Instant::now();
        while served.len() <= LOOKS && idle_since.elapsed() < Duration::from_millis(700) {
            match listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(false).unwrap();
                    served.push(serve(stream));
                    idle_since = std::time::Instant::now();
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        served
    });
    (port, server)
}

/// What a callback was shown: the reason and the facts, per call.
type Shown = std::sync::Arc<std::sync::Mutex<Vec<(CertificateReason, mailtls::Certificate)>>>;

/// A callback that records the reason and facts it was shown.
fn asking(decision: mailtls::CertificateDecision) -> (mailtls::CertificateCallback, Shown) {
    let calls = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = calls.clone();
    let cb = mailtls::CertificateCallback::new(move |cert, reason| {
        seen.lock().unwrap().push((reason, cert.clone()));
        decision
    });
    (cb, calls)
}

/// Each reason reaches the callback with the certificate's facts; refused,
/// the connect fails with that reason and not one byte of POP3 reaches the
/// server, whose handshake did complete.
#[test]
fn the_callback_is_told_each_reason_and_a_refusal_sends_nothing() {
    let ca = new_ca("mailtls test CA");
    let cases = [
        (new_leaf(Some(&ca), &Leaf { from_days: -30, until_days: -3, ..GOOD }), CertificateReason::Expired),
        (new_leaf(Some(&ca), &Leaf { from_days: 3, until_days: 30, ..GOOD }), CertificateReason::NotYetValid),
        (new_leaf(None, &GOOD), CertificateReason::SelfSigned),
        (new_leaf(Some(&ca), &Leaf { names: &["DNS:mail.example.test"], ..GOOD }), CertificateReason::HostMismatch),
        (new_leaf(Some(&new_ca("another CA")), &GOOD), CertificateReason::UnknownIssuer),
    ];
    for (leaf, reason) in cases {
        let fingerprint = sha256_hex(&leaf.cert);
        let (port, server) = pop3_tls_server(leaf, Versions::Modern);
        let (cb, calls) = asking(mailtls::CertificateDecision::Refuse);
        let opts = ClientOptions { certificate_callback: Some(cb), ..trusting(&ca) };
        let c = certificate_error(connect_error("localhost", port, &opts));
        assert_eq!(c.reason, reason);
        let calls = calls.lock().unwrap();
        let received = server.join().unwrap();
        assert_eq!(calls.len(), 1, "{reason:?}");
        let (told, cert) = &calls[0];
        assert_eq!(*told, reason);
        assert_eq!(cert.sha256_hex(), fingerprint);
        if reason == CertificateReason::HostMismatch {
            assert_eq!(cert.names, ["mail.example.test"]);
        }
        assert_eq!(c.certificate.as_ref(), Some(cert), "the error keeps what the callback saw");
        // The handshake that showed the certificate completed, and nothing
        // was sent over any connection.
        assert_eq!(received.len(), LOOKS, "{reason:?}");
        assert_eq!(received.last(), Some(&Some(vec![])), "{reason:?}: the handshake completed, then nothing was sent");
        assert!(received.iter().flatten().all(Vec::is_empty), "{reason:?}: {received:?}");
    }
}

#[test]
fn an_accepted_certificate_carries_the_session_on() {
    let ca = new_ca("mailtls test CA");
    let leaf = new_leaf(Some(&ca), &Leaf { from_days: -30, until_days: -3, ..GOOD });
    let fingerprint = sha256_hex(&leaf.cert);
    let (port, server) = pop3_tls_server(leaf, Versions::Modern);
    let (cb, calls) = asking(mailtls::CertificateDecision::AcceptOnce);
    let opts = ClientOptions { certificate_callback: Some(cb), ..trusting(&ca) };
    let result = Pop3Client::connect("localhost", port, &opts);
    let mut client = result.expect("accepted once");
    let info = client.tls_info().unwrap();
    assert_eq!(info.accepted_despite, Some(CertificateReason::Expired));
    assert_eq!(mailtls::fingerprint::sha256_hex(&info.peer_sha256.unwrap()), fingerprint);
    client.quit().unwrap();
    let served = server.join().unwrap();
    // After a second look, the accepted session is a connection of its own.
    let connections = if LOOKS == 1 { 1 } else { LOOKS + 1 };
    assert_eq!(served.len(), connections, "{served:?}");
    assert_eq!(served.last().unwrap(), &Some(vec!["CAPA".to_string(), "QUIT".to_string()]));
    assert_eq!(calls.lock().unwrap().len(), 1);
}

/// Failures that are not the certificate's are never put to the callback.
#[test]
fn the_callback_is_not_asked_about_other_tls_failures() {
    let ca = new_ca("mailtls test CA");
    let (port, server) = pop3_tls_server(new_leaf(Some(&ca), &GOOD), Versions::Tls11Only);
    let (cb, calls) = asking(mailtls::CertificateDecision::AcceptOnce);
    let opts = ClientOptions { certificate_callback: Some(cb), ..trusting(&ca) };
    let err = connect_error("localhost", port, &opts);
    assert!(matches!(err, Error::TlsVersion { .. }), "{err:?}");
    assert_eq!(server.join().unwrap(), [None]);
    assert!(calls.lock().unwrap().is_empty());
}
