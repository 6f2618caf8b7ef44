//! SCRAM against a scripted POP3 server that computes its side of the
//! exchange (RFC 5802), over plain TCP for the failure cases and over TLS
//! (OpenSSL, the test CA of tests/data/hostile) for channel binding: the
//! server derives tls-exporter / tls-server-end-point on its own side of
//! the connection and checks that the client bound the login to the same
//! channel. Run with both backends (`--features native-tls-backend` too).

#![cfg(not(any(windows, target_vendor = "apple")))]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::{plain_options, recording_tracer};
use hmac::{Hmac, KeyInit, Mac};
use mailtls::pop3::Pop3Client;
use mailtls::sasl::Mechanism;
use mailtls::trace::TraceKind;
use mailtls::{Client, ClientOptions, Error, Security};
use openssl::ssl::{SslAcceptor, SslMethod, SslStream, SslVersion};
use sha2::Digest;

const USER: &str = "u,ser=1";
const PASSWORD: &str = "pencil";
const SALT: &[u8] = b"a salt of sixteen";

/// How the scripted server behaves.
#[derive(Clone)]
struct Server {
    /// The mechanisms its CAPA lists.
    offers: &'static str,
    /// TLS, at most this version.
    tls: Option<SslVersion>,
    iterations: u32,
    /// Its nonce part is appended to a nonce that is not the client's.
    forge_nonce: bool,
    /// The whole server-first message instead of the computed one.
    server_first: Option<&'static str>,
    /// Send a signature made with another password.
    bad_signature: bool,
    /// Answer the proof with this error instead of a signature.
    final_error: Option<&'static str>,
    /// Say +OK right after the client's proof, without a signature.
    skip_signature: bool,
    /// It supports channel binding even where its CAPA does not say so
    /// (a mechanism list stripped on the way): `y` then fails the login.
    binds: bool,
}

const DEFAULT: Server = Server {
    offers: "SCRAM-SHA-256 SCRAM-SHA-1 PLAIN",
    tls: None,
    iterations: 4096,
    forge_nonce: false,
    server_first: None,
    bad_signature: false,
    final_error: None,
    skip_signature: false,
    binds: false,
};

/// What the server saw.
#[derive(Debug, Default)]
struct Seen {
    mechanism: String,
    client_first: String,
    /// The channel binding data the server expected, and what c= carried.
    expected_cbind: Vec<u8>,
    client_cbind: Vec<u8>,
    proof_ok: bool,
    /// Lines after the exchange (QUIT, or nothing if the client hung up).
    after: Vec<String>,
}

trait Conn: Read + Write + Send {}
impl<T: Read + Write + Send> Conn for T {}

struct Running {
    port: u16,
    thread: JoinHandle<Result<Seen, String>>,
}

impl Running {
    fn seen(self) -> Seen {
        self.thread.join().expect("server thread").unwrap_or_else(|e| panic!("scripted server: {e}"))
    }
}

fn data(name: &str) -> Vec<u8> {
    std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/hostile/").to_string() + name).unwrap()
}

fn start(server: Server) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let thread = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().map_err(|e| e.to_string())?;
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        match server.tls {
            None => serve(&server, BufReader::new(Box::new(tcp) as Box<dyn Conn>), None),
            Some(max) => {
                let mut acceptor = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).unwrap();
                acceptor
                    .set_certificate_chain_file(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/hostile/server.pem"))
                    .unwrap();
                acceptor
                    .set_private_key(&openssl::pkey::PKey::private_key_from_pem(&data("server.key")).unwrap())
                    .unwrap();
                acceptor.set_max_proto_version(Some(max)).unwrap();
                let tls = acceptor.build().accept(tcp).map_err(|e| e.to_string())?;
                let binding = server_side_binding(&tls);
                serve(&server, BufReader::new(Box::new(tls) as Box<dyn Conn>), Some(binding))
            }
        }
    });
    Running { port, thread }
}

/// Both channel binding types, computed on the server's side.
struct ServerBinding {
    exporter: Option<Vec<u8>>,
    end_point: Vec<u8>,
}

fn server_side_binding(tls: &SslStream<TcpStream>) -> ServerBinding {
    let ssl = tls.ssl();
    let exporter = (ssl.version2() == Some(SslVersion::TLS1_3)).then(|| {
        let mut out = vec![0; 32];
        ssl.export_keying_material(&mut out, "EXPORTER-Channel-Binding", Some(&[])).unwrap();
        out
    });
    // The test certificate is signed with ecdsa-with-SHA256.
    let der = ssl.certificate().unwrap().to_der().unwrap();
    ServerBinding { exporter, end_point: sha2::Sha256::digest(der).to_vec() }
}

fn line(r: &mut BufReader<Box<dyn Conn>>) -> Result<Option<String>, String> {
    let mut l = String::new();
    match r.read_line(&mut l) {
        Ok(0) => Ok(None),
        Ok(_) => Ok(Some(l.trim_end().to_string())),
        // A client that closed over TLS without close_notify.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

fn say(r: &mut BufReader<Box<dyn Conn>>, text: &str) -> Result<(), String> {
    r.get_mut().write_all(format!("{text}\r\n").as_bytes()).map_err(|e| e.to_string())
}

fn serve(s: &Server, mut r: BufReader<Box<dyn Conn>>, binding: Option<ServerBinding>) -> Result<Seen, String> {
    let mut seen = Seen::default();
    say(&mut r, "+OK scripted")?;
    let capa = line(&mut r)?.ok_or("no CAPA")?;
    if capa != "CAPA" {
        return Err(format!("expected CAPA, got {capa:?}"));
    }
    say(&mut r, &format!("+OK\r\nUSER\r\nSASL {}\r\n.", s.offers))?;
    let auth = line(&mut r)?.ok_or("no AUTH")?;
    let mut words = auth.split(' ');
    if words.next() != Some("AUTH") {
        return Err(format!("expected AUTH, got {auth:?}"));
    }
    seen.mechanism = words.next().unwrap_or_default().to_string();
    let sha1 = seen.mechanism.starts_with("SCRAM-SHA-1");
    let client_first = match words.next() {
        Some(initial) => initial.to_string(),
        None => {
            say(&mut r, "+ ")?;
            line(&mut r)?.ok_or("no client-first")?
        }
    };
    seen.client_first = String::from_utf8(B64.decode(client_first).map_err(|e| e.to_string())?).unwrap();
    let (gs2, bare) = split_gs2(&seen.client_first)?;
    let client_nonce = bare.split(",r=").nth(1).ok_or("no nonce")?.to_string();

    let server_first = match s.server_first {
        Some(fixed) => fixed.to_string(),
        None => {
            let base = if s.forge_nonce { "someone-elses-nonce" } else { &client_nonce };
            format!("r={base}srv-nonce,s={},i={}", B64.encode(SALT), s.iterations)
        }
    };
    say(&mut r, &format!("+ {}", B64.encode(&server_first)))?;
    let Some(client_final) = line(&mut r)? else { return Ok(seen) };
    if client_final == "*" {
        say(&mut r, "-ERR cancelled")?;
        return Ok(seen);
    }
    let client_final = String::from_utf8(B64.decode(client_final).map_err(|e| e.to_string())?).unwrap();
    let (without_proof, proof) = client_final.rsplit_once(",p=").ok_or("no proof")?;
    let cbind = without_proof.strip_prefix("c=").and_then(|c| c.split(',').next()).ok_or("no c=")?;
    seen.client_cbind = B64.decode(cbind).map_err(|e| e.to_string())?;
    let cb_data = match (gs2.strip_prefix("p="), &binding) {
        (Some("tls-exporter"), Some(b)) => b.exporter.clone().ok_or("tls-exporter on TLS 1.2")?,
        (Some("tls-server-end-point"), Some(b)) => b.end_point.clone(),
        (Some(other), _) => return Err(format!("unexpected binding {other:?}")),
        (None, _) => Vec::new(),
    };
    seen.expected_cbind = [format!("{gs2},,").as_bytes(), &cb_data].concat();

    let auth_message = format!("{bare},{server_first},{without_proof}");
    let (stored_key, server_signature) = if sha1 {
        server_keys::<Hmac<sha1::Sha1>, sha1::Sha1>(PASSWORD, s.iterations, &auth_message)
    } else {
        server_keys::<Hmac<sha2::Sha256>, sha2::Sha256>(PASSWORD, s.iterations, &auth_message)
    };
    seen.proof_ok = check_proof(sha1, &stored_key, &auth_message, proof)?;
    if s.binds && gs2 == "y" {
        // RFC 5802 section 6: a server that binds fails a y.
        say(&mut r, "-ERR [AUTH] channel binding downgrade detected")?;
    } else if !seen.proof_ok || seen.client_cbind != seen.expected_cbind {
        say(&mut r, &format!("+ {}", B64.encode("e=invalid-proof")))?;
        line(&mut r)?;
        say(&mut r, "-ERR [AUTH] invalid proof")?;
    } else if s.skip_signature {
        say(&mut r, "+OK logged in")?;
    } else if let Some(e) = s.final_error {
        say(&mut r, &format!("+ {}", B64.encode(format!("e={e}"))))?;
        seen.after.extend(line(&mut r)?);
        say(&mut r, "-ERR [AUTH] refused")?;
    } else {
        let signature = if s.bad_signature {
            server_keys::<Hmac<sha2::Sha256>, sha2::Sha256>("another", s.iterations, &auth_message).1
        } else {
            server_signature
        };
        say(&mut r, &format!("+ {}", B64.encode(format!("v={}", B64.encode(signature)))))?;
        let Some(empty) = line(&mut r)? else { return Ok(seen) };
        if !empty.is_empty() {
            return Err(format!("expected an empty response, got {empty:?}"));
        }
        say(&mut r, "+OK logged in")?;
    }
    while let Some(l) = line(&mut r)? {
        let quit = l == "QUIT";
        seen.after.push(l);
        if quit {
            say(&mut r, "+OK bye")?;
            break;
        }
        say(&mut r, "+OK 0 0")?;
    }
    Ok(seen)
}

fn split_gs2(client_first: &str) -> Result<(&str, &str), String> {
    let mut parts = client_first.splitn(3, ',');
    let flag = parts.next().ok_or("no gs2 flag")?;
    let authzid = parts.next().ok_or("no authzid")?;
    if !authzid.is_empty() {
        return Err("an authzid".into());
    }
    Ok((flag, parts.next().ok_or("no bare message")?))
}

/// StoredKey and ServerSignature, derived independently of the library.
fn server_keys<M: Mac + KeyInit + Clone, D: Digest>(password: &str, i: u32, auth: &str) -> (Vec<u8>, Vec<u8>) {
    let mac = |key: &[u8], data: &[u8]| {
        let mut m = <M as KeyInit>::new_from_slice(key).unwrap();
        m.update(data);
        m.finalize().into_bytes().to_vec()
    };
    let mut u = mac(password.as_bytes(), &[SALT, &1u32.to_be_bytes()].concat());
    let mut salted = u.clone();
    for _ in 1..i {
        u = mac(password.as_bytes(), &u);
        salted.iter_mut().zip(&u).for_each(|(s, b)| *s ^= b);
    }
    let stored = D::digest(mac(&salted, b"Client Key")).to_vec();
    let server_key = mac(&salted, b"Server Key");
    (stored, mac(&server_key, auth.as_bytes()))
}

/// RFC 5802 section 3: ClientKey = proof XOR ClientSignature, and
/// H(ClientKey) must be StoredKey.
fn check_proof(sha1: bool, stored: &[u8], auth: &str, proof: &str) -> Result<bool, String> {
    let proof = B64.decode(proof).map_err(|e| e.to_string())?;
    let signature = if sha1 {
        let mut m = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(stored).unwrap();
        m.update(auth.as_bytes());
        m.finalize().into_bytes().to_vec()
    } else {
        let mut m = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(stored).unwrap();
        m.update(auth.as_bytes());
        m.finalize().into_bytes().to_vec()
    };
    let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(p, s)| p ^ s).collect();
    let hashed =
        if sha1 { sha1::Sha1::digest(&client_key).to_vec() } else { sha2::Sha256::digest(&client_key).to_vec() };
    Ok(proof.len() == signature.len() && hashed == stored)
}

fn tls_options() -> ClientOptions {
    let mut opts = ClientOptions { security: Security::Tls, io_timeout: Duration::from_secs(10), ..Default::default() };
    opts.tls.add_ca_pem(&data("ca.pem")).unwrap();
    opts
}

/// Log in to a scripted server; returns the result, whether the session
/// was still open after it, and what the server saw.
fn login(server: Server, opts: ClientOptions, mechanism: Option<Mechanism>) -> (mailtls::Result<()>, bool, Seen) {
    let running = start(server);
    let mut client = Pop3Client::connect("localhost", running.port, &opts).expect("connect");
    let result = client.login(USER, PASSWORD, mechanism);
    let open = client.is_open();
    if result.is_ok() {
        client.quit().unwrap();
    } else if open {
        let _ = client.quit();
    }
    (result, open, running.seen())
}

fn protocol_error(result: mailtls::Result<()>, open: bool, expect: &str) {
    match result {
        Err(Error::Protocol(text)) => assert!(text.contains(expect), "{text}"),
        other => panic!("expected a protocol error with {expect:?}, got {other:?}"),
    }
    assert!(!open, "no session goes on after a SCRAM failure");
}

#[test]
fn a_login_over_plain_tcp_says_it_cannot_bind() {
    for mechanism in [Mechanism::ScramSha256, Mechanism::ScramSha1] {
        let server = Server { offers: "SCRAM-SHA-256-PLUS SCRAM-SHA-256 SCRAM-SHA-1", ..DEFAULT };
        let (result, _, seen) = login(server, plain_options(), Some(mechanism));
        result.unwrap();
        assert_eq!(seen.mechanism, mechanism.name());
        // Escaped user name, and n: no binding without TLS.
        assert!(seen.client_first.starts_with("n,,n=u=2Cser=3D1,r="), "{}", seen.client_first);
        assert!(seen.proof_ok && seen.client_cbind == b"n,,");
        assert_eq!(seen.after, ["QUIT"]);
    }
    // The automatic choice: no -PLUS without a channel to bind to.
    let server = Server { offers: "SCRAM-SHA-256-PLUS SCRAM-SHA-256 SCRAM-SHA-1 PLAIN", ..DEFAULT };
    let (result, _, seen) = login(server, plain_options(), None);
    result.unwrap();
    assert_eq!(seen.mechanism, "SCRAM-SHA-256");
}

#[test]
fn plus_binds_the_login_to_the_tls_channel() {
    for version in [SslVersion::TLS1_3, SslVersion::TLS1_2] {
        let server =
            Server { offers: "SCRAM-SHA-256-PLUS SCRAM-SHA-256 SCRAM-SHA-1-PLUS PLAIN", tls: Some(version), ..DEFAULT };
        let (result, _, seen) = login(server, tls_options(), None);
        result.unwrap_or_else(|e| panic!("{version:?}: {e}"));
        assert_eq!(seen.mechanism, "SCRAM-SHA-256-PLUS");
        // native-tls gives only tls-server-end-point.
        let kind = if version == SslVersion::TLS1_3 && !cfg!(feature = "native-tls-backend") {
            "tls-exporter"
        } else {
            "tls-server-end-point"
        };
        assert!(seen.client_first.starts_with(&format!("p={kind},,n=")), "{}", seen.client_first);
        assert_eq!(seen.client_cbind, seen.expected_cbind, "{version:?}: not bound to this channel");
        assert!(seen.proof_ok);
        // SCRAM-SHA-1-PLUS by name.
        let server = Server { offers: "SCRAM-SHA-1-PLUS SCRAM-SHA-1", tls: Some(version), ..DEFAULT };
        let (result, _, seen) = login(server, tls_options(), Some(Mechanism::ScramSha1Plus));
        result.unwrap();
        assert!(seen.client_first.starts_with(&format!("p={kind},,")) && seen.client_cbind == seen.expected_cbind);
    }
}

/// RFC 5802 section 6: a client that can bind says `y` to a server that
/// did not offer -PLUS, so a server that does bind sees the downgrade; `n`
/// when the caller chose the variant without binding that the server
/// offers next to -PLUS.
#[test]
fn the_gs2_flag_reveals_a_stripped_mechanism_list() {
    let server = Server { offers: "SCRAM-SHA-256 PLAIN", tls: Some(SslVersion::TLS1_3), ..DEFAULT };
    let (result, _, seen) = login(server, tls_options(), None);
    result.unwrap();
    assert_eq!(seen.mechanism, "SCRAM-SHA-256");
    assert!(seen.client_first.starts_with("y,,n="), "{}", seen.client_first);
    assert!(seen.proof_ok && seen.client_cbind == b"y,,");

    let server = Server { offers: "SCRAM-SHA-256 PLAIN", tls: Some(SslVersion::TLS1_3), binds: true, ..DEFAULT };
    let (result, _, _) = login(server, tls_options(), None);
    assert!(matches!(result, Err(Error::AuthFailed(_))), "{result:?}");

    let server = Server { offers: "SCRAM-SHA-256-PLUS SCRAM-SHA-256", tls: Some(SslVersion::TLS1_3), ..DEFAULT };
    let (result, _, seen) = login(server, tls_options(), Some(Mechanism::ScramSha256));
    result.unwrap();
    assert!(seen.client_first.starts_with("n,,n="), "{}", seen.client_first);
}

#[test]
fn plus_cannot_be_forced_without_a_channel() {
    let running = start(Server { offers: "SCRAM-SHA-256-PLUS", ..DEFAULT });
    let mut client = Pop3Client::connect("127.0.0.1", running.port, &plain_options()).unwrap();
    let err = client.login(USER, PASSWORD, Some(Mechanism::ScramSha256Plus)).unwrap_err();
    assert!(matches!(err, Error::NoCommonMechanism(_)) && err.to_string().contains("TLS"), "{err}");
    drop(client);
    let _ = running.thread.join();
}

#[test]
fn a_server_that_cannot_prove_it_knows_the_password_is_refused() {
    let (result, client, seen) = login(Server { bad_signature: true, ..DEFAULT }, plain_options(), None);
    assert!(seen.proof_ok, "the client's side was right");
    protocol_error(result, client, "signature is wrong");
    assert!(seen.after.is_empty(), "nothing sent after a bad signature: {:?}", seen.after);

    let (result, client, _) = login(Server { skip_signature: true, ..DEFAULT }, plain_options(), None);
    protocol_error(result, client, "without proving");
}

#[test]
fn weak_or_forged_parameters_are_refused_before_any_proof() {
    for (server, expect) in [
        (Server { iterations: 4095, ..DEFAULT }, "below the minimum of 4096"),
        (Server { iterations: 10_000_001, ..DEFAULT }, "above this client's limit"),
        (Server { forge_nonce: true, ..DEFAULT }, "does not extend"),
        (Server { server_first: Some("m=must-know,r=x,s=c2FsdA==,i=4096"), ..DEFAULT }, "m="),
        (Server { server_first: Some("r=x,i=4096"), ..DEFAULT }, "s= is missing"),
        (Server { server_first: Some("garbage"), ..DEFAULT }, "r= is missing"),
    ] {
        let (result, client, seen) = login(server, plain_options(), None);
        protocol_error(result, client, expect);
        assert!(seen.client_cbind.is_empty(), "no client-final was sent ({expect})");
    }
}

#[test]
fn a_server_error_ends_the_login_with_the_servers_refusal() {
    let (tracer, log) = recording_tracer();
    let opts = ClientOptions { tracer, ..plain_options() };
    let (result, client, seen) = login(Server { final_error: Some("invalid-proof"), ..DEFAULT }, opts, None);
    match result {
        Err(Error::AuthFailed(reply)) => assert!(reply.text.contains("refused"), "{reply:?}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(seen.after.first().map(String::as_str), Some(""), "the e= message is answered, empty");
    assert!(client, "a refused login leaves the session usable");
    let log = log.lock().unwrap();
    let info = |text: &str| log.iter().any(|(k, d)| *k == TraceKind::Info && String::from_utf8_lossy(d).contains(text));
    assert!(info("SCRAM error \"invalid-proof\""));
}

#[test]
fn a_wrong_password_fails_as_a_refused_login() {
    let running = start(DEFAULT);
    let mut client = Pop3Client::connect("127.0.0.1", running.port, &plain_options()).unwrap();
    let err = client.login(USER, "not-pencil", Some(Mechanism::ScramSha256)).unwrap_err();
    assert!(matches!(err, Error::AuthFailed(_)), "{err}");
    client.quit().unwrap();
    assert!(!running.seen().proof_ok);
}

/// The trace never shows the client-final message (its proof) or
/// anything derived from the password.
#[test]
fn the_proof_is_never_traced() {
    let (tracer, log) = recording_tracer();
    let opts = ClientOptions { tracer, ..plain_options() };
    let (result, _, seen) = login(DEFAULT, opts, Some(Mechanism::ScramSha256));
    result.unwrap();
    let log = log.lock().unwrap();
    let commands: Vec<String> = log
        .iter()
        .filter(|(k, _)| *k == TraceKind::Command)
        .map(|(_, d)| String::from_utf8_lossy(d).into_owned())
        .collect();
    assert_eq!(commands, ["CAPA", "AUTH SCRAM-SHA-256 <redacted>", "<redacted>", "", "QUIT"]);
    assert!(seen.proof_ok);
}
