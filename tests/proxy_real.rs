//! POP3 and SMTP through real proxies from Debian packages, started on
//! 127.0.0.1 by tests/servers/proxies.sh (tests/run.sh sources the
//! proxies.env it writes): microsocks without authentication, microsocks
//! with a user name and password (RFC 1929), and tinyproxy (HTTP CONNECT
//! with Basic authentication, CONNECT allowed only to the test mail ports).
//! Through each: POP3S, POP3 with STLS, SMTP submission with STARTTLS and
//! SMTPS, to the project's Dovecot and Postfix, TLS verified against the
//! test CA for the name the certificate is for; a message sent through the
//! proxy is fetched back through it byte for byte. Then what a person must
//! be told when a proxy refuses: wrong or missing credentials, a forbidden
//! port, a mail server the proxy cannot reach, a proxy that is not running;
//! and that no proxy credential ever shows in a message or a trace.
//!
//! Each test owns mailbox users among proxy01..proxy08.

mod common;

use std::net::{TcpListener, ToSocketAddrs};
use std::time::{Duration, Instant};

use base64::Engine;
use common::{TraceLog, password, port, recording_tracer, seed, tls_options};
use mailtls::pop3::Pop3Client;
use mailtls::probe::{Endpoint, Login, Protocol};
use mailtls::smtp::{MessageSource, SmtpClient};
use mailtls::trace::{TraceKind, Tracer};
use mailtls::{Client, ClientOptions, Error, ProbeOptions, Proxy, ProxyCredentials, ProxyKind, Security};

// ---------------------------------------------------------------- the proxies

/// A variable of STATE_DIR/proxies.env.
fn proxy_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run the tests through `bash tests/run.sh`, which starts the proxies with \
             tests/servers/proxies.sh and sources the proxies.env it writes"
        )
    })
}

fn proxy_port(name: &str) -> u16 {
    proxy_env(name).parse().unwrap_or_else(|_| panic!("{name} is not a port number"))
}

/// The secrets a test must never see in a message or trace: every proxy
/// password and user name, and the Basic token that carries them.
fn proxy_secrets() -> Vec<String> {
    let http =
        format!("{}:{}", proxy_env("MAILTLS_TEST_HTTP_PROXY_USER"), proxy_env("MAILTLS_TEST_HTTP_PROXY_PASSWORD"));
    vec![
        proxy_env("MAILTLS_TEST_SOCKS_USER"),
        proxy_env("MAILTLS_TEST_SOCKS_PASSWORD"),
        proxy_env("MAILTLS_TEST_HTTP_PROXY_USER"),
        proxy_env("MAILTLS_TEST_HTTP_PROXY_PASSWORD"),
        base64::engine::general_purpose::STANDARD.encode(&http),
        WRONG_PASSWORD.to_string(),
    ]
}

/// A password none of the proxies accepts.
const WRONG_PASSWORD: &str = "not-the-proxy-password-7f3e";

#[derive(Debug, Clone, Copy)]
enum Via {
    /// microsocks, no authentication, socks5h.
    Socks,
    /// microsocks with -u/-P, socks5h with the user name and password.
    SocksAuth,
    /// tinyproxy, HTTP CONNECT with Basic authentication.
    Http,
}

impl Via {
    fn proxy(self) -> Proxy {
        match self {
            // As a user writes it: a URL.
            Via::Socks => {
                Proxy::parse(&format!("socks5h://127.0.0.1:{}", proxy_port("MAILTLS_TEST_SOCKS_PORT"))).unwrap()
            }
            Via::SocksAuth => Proxy::new(
                ProxyKind::Socks5,
                "127.0.0.1",
                proxy_port("MAILTLS_TEST_SOCKS_AUTH_PORT"),
                Some(ProxyCredentials {
                    user: proxy_env("MAILTLS_TEST_SOCKS_USER"),
                    password: proxy_env("MAILTLS_TEST_SOCKS_PASSWORD"),
                }),
            )
            .unwrap(),
            Via::Http => Proxy::parse(&format!(
                "http://{}:{}@127.0.0.1:{}",
                proxy_env("MAILTLS_TEST_HTTP_PROXY_USER"),
                proxy_env("MAILTLS_TEST_HTTP_PROXY_PASSWORD"),
                proxy_port("MAILTLS_TEST_HTTP_PROXY_PORT")
            ))
            .unwrap(),
        }
    }

    /// The mail server's name as the proxy is asked for it: "localhost",
    /// the name the test certificate is for (it also has IP:127.0.0.1).
    /// microsocks resolves a name itself and tries only the first address
    /// it gets: where "localhost" is ::1 first (the test servers listen on
    /// 127.0.0.1 only) it is asked for the address instead, still checked
    /// against the certificate.
    fn mail_host(self) -> &'static str {
        match self {
            Via::Http => "localhost",
            Via::Socks | Via::SocksAuth => socks_mail_host(),
        }
    }
}

fn socks_mail_host() -> &'static str {
    let first = ("localhost", 1).to_socket_addrs().ok().and_then(|mut a| a.next());
    match first {
        Some(a) if a.ip() == std::net::Ipv4Addr::LOCALHOST => "localhost",
        other => {
            eprintln!(
                "\"localhost\" is {other:?} first here, where microsocks would not reach the test servers: asking \
                 it for 127.0.0.1"
            );
            "127.0.0.1"
        }
    }
}

/// Options that trust the test CA, go through `proxy`, and trace.
fn options_via(proxy: Proxy, security: Security) -> (ClientOptions, TraceLog) {
    let (tracer, log) = recording_tracer();
    let opts = ClientOptions {
        proxy: Some(proxy),
        security,
        tracer,
        connect_timeout: Duration::from_secs(10),
        ..tls_options()
    };
    (opts, log)
}

fn pop3_port(security: Security) -> u16 {
    match security {
        Security::Tls => port("MAILTLS_TEST_POP3S_PORT"),
        _ => port("MAILTLS_TEST_POP3_PORT"),
    }
}

fn smtp_port(security: Security) -> u16 {
    match security {
        Security::Tls => port("MAILTLS_TEST_SMTPS_PORT"),
        _ => port("MAILTLS_TEST_SMTP_SUBMISSION_PORT"),
    }
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Panics if a proxy secret is in the text of `err` (Display and Debug) or
/// anywhere in the trace.
fn assert_no_secrets(err: Option<&Error>, log: &TraceLog) {
    let mut shown = Vec::new();
    if let Some(e) = err {
        shown.push(("the message".to_string(), format!("{e} {e:?}")));
    }
    for (kind, data) in log.lock().unwrap().iter() {
        shown.push((format!("the trace ({kind:?})"), String::from_utf8_lossy(data).into_owned()));
    }
    for secret in proxy_secrets() {
        for (where_, text) in &shown {
            assert!(!text.contains(&secret), "a proxy credential is in {where_}: {text}");
        }
    }
}

fn trace_has(log: &TraceLog, kind: TraceKind, needle: &str) -> bool {
    log.lock().unwrap().iter().any(|(k, d)| *k == kind && String::from_utf8_lossy(d).contains(needle))
}

// ---------------------------------------------------------------- messages

/// What the round trips send: dots at line starts, 8-bit text, bare LF,
/// no final line end, a long line.
fn messages(user: &str, via: Via) -> Vec<Vec<u8>> {
    let to = format!("{user}@localhost");
    vec![
        format!(
            "From: {to}\r\nTo: {to}\r\nSubject: {via:?} over STARTTLS\r\n\r\n.leading dot\r\n..two\r\n.\r\nafter a \
             lone dot\r\n"
        )
        .into_bytes(),
        [
            format!(
                "From: {to}\nTo: {to}\nSubject: {via:?} over SMTPS\nContent-Type: text/plain; charset=iso-8859-1\n"
            )
            .as_bytes(),
            b"Content-Transfer-Encoding: 8bit\n\n\xe9t\xe9 \xfcber\nbare LF lines\n",
            "y".repeat(990).as_bytes(),
            b"\nno final line end",
        ]
        .concat(),
    ]
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

// ---------------------------------------------------------------- round trips

/// Send through `via` over submission with STARTTLS and over SMTPS, fetch
/// back through `via` over POP3S and POP3 with STLS, and compare bytes.
fn round_trip(via: Via, user: &str) {
    seed(user, &[]);
    let host = via.mail_host();
    let sent = messages(user, via);
    let to = format!("{user}@localhost");
    let mut logs = Vec::new();
    for (message, security) in sent.iter().zip([Security::StartTls, Security::Tls]) {
        let (opts, log) = options_via(via.proxy(), security);
        let mut smtp = SmtpClient::connect(host, smtp_port(security), &opts)
            .unwrap_or_else(|e| panic!("SMTP {security:?} to {host} through {via:?}: {e}"));
        assert!(smtp.is_tls(), "{via:?} {security:?}");
        smtp.login(user, &password(), None).unwrap_or_else(|e| panic!("SMTP login through {via:?}: {e}"));
        let mut body: &[u8] = message;
        let results = smtp.send(&to, &[&to], MessageSource::from_bytes(&mut body), None).unwrap_or_else(|e| {
            panic!(
                "sending to {to} through {via:?} over {security:?}: {e} (Postfix must deliver to the proxy \
                 suite's users: tests/servers/postfix.sh's vmailbox lists them)"
            )
        });
        assert!(results[0].accepted, "{results:?}");
        smtp.quit().unwrap();
        // One at a time, so that the mailbox keeps the order of sending.
        wait_for_delivery(user, logs.len() + 1);
        logs.push(log);
    }

    for security in [Security::Tls, Security::StartTls] {
        let (opts, log) = options_via(via.proxy(), security);
        let mut pop = Pop3Client::connect(host, pop3_port(security), &opts)
            .unwrap_or_else(|e| panic!("POP3 {security:?} to {host} through {via:?}: {e}"));
        assert!(pop.is_tls(), "{via:?} {security:?}");
        pop.login(user, &password(), None).unwrap_or_else(|e| panic!("POP3 login through {via:?}: {e}"));
        assert_eq!(pop.stat().unwrap().0 as usize, sent.len(), "{via:?} {security:?}");
        for (n, message) in (1..).zip(&sent) {
            let got = pop.retr_to_vec(n).unwrap();
            let got = without_delivery_headers(&got);
            assert_eq!(
                String::from_utf8_lossy(got),
                String::from_utf8_lossy(&canonical(message)),
                "message {n} through {via:?}, POP3 {security:?}"
            );
            assert_eq!(got, canonical(message).as_slice(), "message {n} through {via:?}, POP3 {security:?}");
        }
        pop.quit().unwrap();
        logs.push(log);
    }

    for log in &logs {
        assert!(trace_has(log, TraceKind::Info, "connected us to"), "the trace tells the tunnel is up ({via:?})");
        assert_no_secrets(None, log);
    }
    if let Via::Http = via {
        // The Basic token is traced as redacted, and what tinyproxy
        // answered is there.
        let log = logs[0].lock().unwrap();
        let lines: Vec<String> = log
            .iter()
            .filter(|(k, _)| matches!(k, TraceKind::Command | TraceKind::Reply))
            .map(|(_, d)| String::from_utf8_lossy(d).into_owned())
            .collect();
        assert!(lines.iter().any(|l| l == "Proxy-Authorization: Basic <redacted>"), "{lines:#?}");
        assert!(lines.iter().any(|l| l.starts_with("HTTP/1.") && l.contains(" 200 ")), "{lines:#?}");
    }
}

#[test]
fn socks5h_without_authentication_round_trip() {
    round_trip(Via::Socks, "proxy01");
}

#[test]
fn socks5h_with_user_and_password_round_trip() {
    round_trip(Via::SocksAuth, "proxy02");
}

#[test]
fn http_connect_with_basic_auth_round_trip() {
    round_trip(Via::Http, "proxy03");
}

/// `socks5://` with local resolution: the name is looked up here and
/// microsocks is asked for the address; TLS still checks the name.
#[test]
fn socks5_with_local_resolution() {
    let user = "proxy04";
    let stored: &[u8] = b"Subject: local dns\n\n.dot\nbody\n";
    seed(user, &[stored]);
    let proxy = Proxy::parse(&format!("socks5://127.0.0.1:{}", proxy_port("MAILTLS_TEST_SOCKS_PORT")))
        .unwrap()
        .resolving_locally();
    assert_eq!(proxy.kind(), ProxyKind::Socks5LocalDns);
    let host = socks_mail_host();
    for security in [Security::Tls, Security::StartTls] {
        let (opts, log) = options_via(proxy.clone(), security);
        let mut pop = Pop3Client::connect(host, pop3_port(security), &opts)
            .unwrap_or_else(|e| panic!("POP3 {security:?} through socks5 with local resolution: {e}"));
        assert!(pop.is_tls());
        pop.login(user, &password(), None).unwrap();
        assert_eq!(pop.retr_to_vec(1).unwrap(), common::as_served(stored));
        pop.quit().unwrap();
        if host == "localhost" {
            assert!(trace_has(&log, TraceKind::Info, "looked up here"), "the trace says where the name was looked up");
        }
        assert!(trace_has(&log, TraceKind::Info, "SOCKS5: asking the proxy for 127.0.0.1 port"));
    }
    let (opts, _) = options_via(proxy, Security::StartTls);
    let mut smtp = SmtpClient::connect(host, smtp_port(Security::StartTls), &opts).unwrap();
    assert!(smtp.is_tls());
    smtp.login(user, &password(), None).unwrap();
    smtp.quit().unwrap();
}

// ---------------------------------------------------------------- refusals

/// Connect to the POP3S server through `proxy`, expecting a failure.
fn pop3s_failure(proxy: Proxy, port: u16) -> (Error, TraceLog) {
    let (opts, log) = options_via(proxy, Security::Tls);
    match Pop3Client::connect("localhost", port, &opts) {
        Ok(_) => panic!("connected through a proxy that should have refused"),
        Err(e) => {
            assert_no_secrets(Some(&e), &log);
            (e, log)
        }
    }
}

fn socks_auth_proxy(user: &str, password: &str) -> Proxy {
    let credentials = ProxyCredentials { user: user.into(), password: password.into() };
    Proxy::new(ProxyKind::Socks5, "127.0.0.1", proxy_port("MAILTLS_TEST_SOCKS_AUTH_PORT"), Some(credentials)).unwrap()
}

#[test]
fn socks_wrong_credentials_are_proxy_auth_failed() {
    let address = format!("127.0.0.1:{}", proxy_port("MAILTLS_TEST_SOCKS_AUTH_PORT"));
    let good_user = proxy_env("MAILTLS_TEST_SOCKS_USER");
    for proxy in [
        socks_auth_proxy(&good_user, WRONG_PASSWORD),
        socks_auth_proxy("no-such-proxy-user", &proxy_env("MAILTLS_TEST_SOCKS_PASSWORD")),
    ] {
        let (err, _) = pop3s_failure(proxy, pop3_port(Security::Tls));
        let Error::ProxyAuthFailed(message) = &err else { panic!("{err:?}") };
        // microsocks answers a wrong RFC 1929 login with status 2.
        assert!(message.contains("refused the proxy user name and password"), "{message}");
        assert!(message.contains("RFC 1929 status 2"), "{message}");
        assert!(message.contains(&format!("the SOCKS5 proxy {address}")), "{message}");
    }
    // A good login after the bad ones still works (no -1 whitelisting
    // involved either way).
    let (opts, _) = options_via(Via::SocksAuth.proxy(), Security::Tls);
    Pop3Client::connect(socks_mail_host(), pop3_port(Security::Tls), &opts).expect("the right credentials");
}

#[test]
fn socks_proxy_requiring_auth_given_none_is_proxy_auth_failed() {
    let proxy = Proxy::parse(&format!("socks5h://127.0.0.1:{}", proxy_port("MAILTLS_TEST_SOCKS_AUTH_PORT"))).unwrap();
    let (err, _) = pop3s_failure(proxy, pop3_port(Security::Tls));
    let Error::ProxyAuthFailed(message) = &err else { panic!("{err:?}") };
    // microsocks with -u/-P answers an offer of "no authentication" only
    // with method 0xFF.
    assert!(message.contains("requires authentication: give the proxy user name and password"), "{message}");
}

fn http_proxy(credentials: Option<(&str, &str)>) -> Proxy {
    let credentials =
        credentials.map(|(user, password)| ProxyCredentials { user: user.into(), password: password.into() });
    Proxy::new(ProxyKind::Http, "127.0.0.1", proxy_port("MAILTLS_TEST_HTTP_PROXY_PORT"), credentials).unwrap()
}

#[test]
fn http_proxy_without_credentials_is_proxy_auth_failed_407() {
    let (err, _) = pop3s_failure(http_proxy(None), pop3_port(Security::Tls));
    let Error::ProxyAuthFailed(message) = &err else { panic!("{err:?}") };
    // tinyproxy 1.11: 407 when no credentials were sent.
    assert!(message.contains("407 Proxy Authentication Required"), "{message}");
    assert!(message.contains("requires authentication"), "{message}");
    assert!(message.contains("give the proxy user name and password"), "{message}");
}

#[test]
fn http_proxy_wrong_credentials_are_proxy_auth_failed_401() {
    let user = proxy_env("MAILTLS_TEST_HTTP_PROXY_USER");
    for (u, p) in [(user.as_str(), WRONG_PASSWORD), ("no-such-proxy-user", WRONG_PASSWORD)] {
        let (err, log) = pop3s_failure(http_proxy(Some((u, p))), pop3_port(Security::Tls));
        let Error::ProxyAuthFailed(message) = &err else { panic!("{err:?}") };
        // tinyproxy 1.11: 401 (not 407) for credentials it does not accept.
        assert!(message.contains("401 Unauthorized"), "{message}");
        assert!(message.contains("refused the proxy user name and password"), "{message}");
        assert!(message.contains("check the proxy settings"), "{message}");
        assert!(trace_has(&log, TraceKind::Command, "Proxy-Authorization: Basic <redacted>"));
    }
}

#[test]
fn http_connect_to_a_forbidden_port_is_proxy_target_failed_403() {
    // Postfix's plain SMTP port is open, but not among tinyproxy's
    // ConnectPort lines.
    let forbidden = port("MAILTLS_TEST_SMTP_PLAIN_PORT");
    let allowed = proxy_env("MAILTLS_TEST_HTTP_PROXY_CONNECT_PORTS");
    assert!(!allowed.split_whitespace().any(|p| p == forbidden.to_string()), "{allowed}");
    let (opts, log) = options_via(Via::Http.proxy(), Security::StartTls);
    let err = SmtpClient::connect("localhost", forbidden, &opts).expect_err("tinyproxy forbids the port");
    assert_no_secrets(Some(&err), &log);
    let Error::ProxyTargetFailed(message) = &err else { panic!("{err:?}") };
    assert!(message.contains("403 Access violation"), "{message}");
    assert!(message.contains(&format!("CONNECT to port {forbidden} not allowed")), "{message}");
    assert!(message.contains(&format!("localhost:{forbidden}")), "{message}");
}

#[test]
fn socks_target_refused_is_proxy_target_failed() {
    let closed = closed_port();
    for proxy in [Via::Socks.proxy(), Via::SocksAuth.proxy()] {
        let (opts, log) = options_via(proxy, Security::Tls);
        let err = Pop3Client::connect("127.0.0.1", closed, &opts).expect_err("nothing listens there");
        assert_no_secrets(Some(&err), &log);
        let Error::ProxyTargetFailed(message) = &err else { panic!("{err:?}") };
        // microsocks: reply 5.
        assert!(message.contains(&format!("connection refused by 127.0.0.1:{closed}")), "{message}");
        assert!(message.contains("SOCKS5 reply 5"), "{message}");
        assert!(message.contains("could not connect us to the mail server"), "{message}");
    }
}

#[test]
fn a_proxy_that_is_not_running_is_proxy_unreachable() {
    let closed = closed_port();
    let credentials = || Some(ProxyCredentials { user: "someone".into(), password: WRONG_PASSWORD.into() });
    for (proxy, kind) in [
        (Proxy::new(ProxyKind::Socks5, "127.0.0.1", closed, credentials()).unwrap(), "SOCKS5"),
        (Proxy::new(ProxyKind::Http, "127.0.0.1", closed, credentials()).unwrap(), "HTTP"),
    ] {
        let started = Instant::now();
        let (err, _) = pop3s_failure(proxy, pop3_port(Security::Tls));
        let Error::ProxyUnreachable(message) = &err else { panic!("{err:?}") };
        assert!(message.contains(&format!("could not reach the {kind} proxy 127.0.0.1:{closed}")), "{message}");
        assert!(message.to_lowercase().contains("refused"), "{message}");
        assert!(started.elapsed() < Duration::from_secs(5), "a refused connection is said at once");
    }
}

/// Every refusal through the real proxies keeps the credentials out of the
/// tracer a program installed, also for SMTP.
#[test]
fn smtp_refusals_keep_proxy_credentials_out_of_traces() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    let tracer = Tracer::new(std::sync::Arc::new(move |_, d: &[u8]| sink.lock().unwrap().push(d.to_vec())));
    let user = proxy_env("MAILTLS_TEST_SOCKS_USER");
    for proxy in [socks_auth_proxy(&user, WRONG_PASSWORD), http_proxy(Some(("mailtls-http", WRONG_PASSWORD)))] {
        let opts = ClientOptions {
            proxy: Some(proxy),
            tracer: tracer.clone(),
            security: Security::StartTls,
            connect_timeout: Duration::from_secs(10),
            ..tls_options()
        };
        let err = SmtpClient::connect("localhost", smtp_port(Security::StartTls), &opts).expect_err("refused");
        assert!(matches!(err, Error::ProxyAuthFailed(_)), "{err:?}");
        let text = format!("{err} {err:?}");
        for secret in proxy_secrets() {
            assert!(!text.contains(&secret), "{text}");
        }
    }
    let seen = seen.lock().unwrap();
    assert!(!seen.is_empty());
    for line in seen.iter() {
        let line = String::from_utf8_lossy(line);
        for secret in proxy_secrets() {
            assert!(!line.contains(&secret), "{line}");
        }
    }
}

#[test]
fn the_probe_tries_every_combination_through_the_proxy() {
    let ports = [
        (Protocol::Pop3, port("MAILTLS_TEST_POP3S_PORT"), Security::Tls),
        (Protocol::Pop3, port("MAILTLS_TEST_POP3_PORT"), Security::StartTls),
        (Protocol::Smtp, port("MAILTLS_TEST_SMTPS_PORT"), Security::Tls),
        (Protocol::Smtp, port("MAILTLS_TEST_SMTP_SUBMISSION_PORT"), Security::StartTls),
    ];
    let mut options = ProbeOptions {
        endpoints: Some(
            ports.iter().map(|&(protocol, port, security)| Endpoint { protocol, port, security }).collect(),
        ),
        timeout: Duration::from_secs(10),
        proxy: Some(http_proxy(Some((
            &proxy_env("MAILTLS_TEST_HTTP_PROXY_USER"),
            &proxy_env("MAILTLS_TEST_HTTP_PROXY_PASSWORD"),
        )))),
        ..ProbeOptions::default()
    };
    options.tls = tls_options().tls;
    let report = mailtls::probe("localhost", Some(("proxy07", &password())), &options).expect("probe");
    for attempt in &report.attempts {
        assert!(attempt.error.is_none(), "{:?}: {:?}", attempt.endpoint, attempt.error);
        assert!(matches!(attempt.login, Login::Succeeded), "{:?}: {:?}", attempt.endpoint, attempt.login);
    }
    // A proxy that is not running: every combination says so.
    options.proxy = Some(Proxy::parse(&format!("socks5h://127.0.0.1:{}", closed_port())).unwrap());
    let report = mailtls::probe("localhost", None, &options).expect("probe");
    for attempt in &report.attempts {
        assert!(matches!(attempt.error, Some(Error::ProxyUnreachable(_))), "{:?}", attempt.error);
    }
}
