//! Scripted SOCKS5, SOCKS4a and HTTP CONNECT proxies on loopback, for what
//! a real proxy will not do on demand: check the bytes the client sends
//! (a name for socks5h, an address looked up here for socks5 with local
//! resolution, the CONNECT request and its credentials), answer each SOCKS
//! reply code and HTTP status, stall, drop or send garbage. After a good
//! handshake the fake proxy plays a small POP3 server itself, sending its
//! greeting in the same segment as the proxy's reply, as tinyproxy often
//! does. The TLS cases relay to the project's Dovecot (tests/run.sh).

mod common;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine;
use common::{env, password, plain_options, port, recording_tracer, tls_options};
use mailtls::pop3::Pop3Client;
use mailtls::{CertificateReason, Client, ClientOptions, Error, Proxy, ProxyCredentials, ProxyKind};
use openssl::ssl::{SslAcceptor, SslFiletype, SslMethod};

const SECRET: &str = "pr0xy-s3cret";

/// A one-connection fake proxy running `script` on the accepted socket.
struct FakeProxy<T> {
    port: u16,
    thread: JoinHandle<io::Result<T>>,
}

impl<T: Send + 'static> FakeProxy<T> {
    fn start(script: impl FnOnce(TcpStream) -> io::Result<T> + Send + 'static) -> FakeProxy<T> {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let thread = std::thread::spawn(move || {
            let (stream, _) = listener.accept()?;
            stream.set_read_timeout(Some(Duration::from_secs(10)))?;
            script(stream)
        });
        FakeProxy { port, thread }
    }

    fn finish(self) -> T {
        self.thread.join().expect("fake proxy thread").expect("fake proxy script")
    }

    fn url(&self, scheme: &str) -> String {
        format!("{scheme}://127.0.0.1:{}", self.port)
    }
}

fn options_via(proxy: Proxy) -> ClientOptions {
    ClientOptions { proxy: Some(proxy), connect_timeout: Duration::from_secs(3), ..plain_options() }
}

fn read_n(s: &mut TcpStream, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0; n];
    s.read_exact(&mut buf)?;
    Ok(buf)
}

/// What a SOCKS5 client asked for.
#[derive(Debug, PartialEq)]
enum Socks5Target {
    Name(String, u16),
    V4([u8; 4], u16),
}

/// Read the method offer, choose `method`, and return the methods offered.
fn socks5_methods(s: &mut TcpStream, method: u8) -> io::Result<Vec<u8>> {
    let head = read_n(s, 2)?;
    assert_eq!(head[0], 5, "SOCKS version");
    let methods = read_n(s, head[1] as usize)?;
    s.write_all(&[5, method])?;
    Ok(methods)
}

fn socks5_request(s: &mut TcpStream) -> io::Result<Socks5Target> {
    let head = read_n(s, 4)?;
    assert_eq!(&head[..3], &[5, 1, 0], "a CONNECT request");
    let target = match head[3] {
        3 => {
            let len = read_n(s, 1)?[0] as usize;
            let name = String::from_utf8(read_n(s, len)?).unwrap();
            let port = read_n(s, 2)?;
            Socks5Target::Name(name, u16::from_be_bytes([port[0], port[1]]))
        }
        1 => {
            let a = read_n(s, 6)?;
            Socks5Target::V4([a[0], a[1], a[2], a[3]], u16::from_be_bytes([a[4], a[5]]))
        }
        other => panic!("unexpected address type {other}"),
    };
    Ok(target)
}

fn socks5_reply(code: u8) -> Vec<u8> {
    vec![5, code, 0, 1, 127, 0, 0, 1, 0x04, 0x38]
}

/// After the proxy's handshake: `reply` and a POP3 greeting in one write,
/// then CAPA and QUIT answered. Returns the lines the client sent.
fn play_pop3(s: &mut TcpStream, reply: &[u8]) -> io::Result<Vec<String>> {
    let mut first = reply.to_vec();
    first.extend_from_slice(b"+OK fake POP3 behind the proxy\r\n");
    s.write_all(&first)?;
    let mut reader = BufReader::new(s.try_clone()?);
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(lines);
        }
        let line = line.trim_end().to_string();
        let answer: &[u8] = match line.as_str() {
            "USER bob" | "PASS mailbox-password" => b"+OK\r\n",
            "CAPA" => b"+OK\r\nUSER\r\nUIDL\r\n.\r\n",
            "STAT" => b"+OK 2 320\r\n",
            "QUIT" => b"+OK bye\r\n",
            _ => b"-ERR not here\r\n",
        };
        s.write_all(answer)?;
        lines.push(line.clone());
        if line == "QUIT" {
            return Ok(lines);
        }
    }
}

/// Connect, check the greeting and STAT came through the tunnel, quit.
fn pop3_session(host: &str, opts: &ClientOptions) {
    let mut pop3 = Pop3Client::connect(host, 110, opts).expect("POP3 through the proxy");
    assert_eq!(pop3.greeting(), "fake POP3 behind the proxy");
    pop3.login("bob", "mailbox-password", None).expect("login through the proxy");
    assert_eq!(pop3.stat().unwrap(), (2, 320));
    pop3.quit().unwrap();
}

fn connect_error(host: &str, opts: &ClientOptions) -> Error {
    match Pop3Client::connect(host, 110, opts) {
        Ok(_) => panic!("the connect through the proxy should fail"),
        Err(e) => e,
    }
}

// ---------------------------------------------------------------- SOCKS5

#[test]
fn socks5h_sends_the_name_and_the_greeting_after_the_reply_is_kept() {
    let proxy = FakeProxy::start(|mut s| {
        let methods = socks5_methods(&mut s, 0)?;
        let target = socks5_request(&mut s)?;
        let lines = play_pop3(&mut s, &socks5_reply(0))?;
        Ok((methods, target, lines))
    });
    let opts = options_via(Proxy::parse(&proxy.url("socks5h")).unwrap());
    // A name that does not resolve here: only the proxy may look it up.
    pop3_session("mail.nowhere.invalid", &opts);
    let (methods, target, lines) = proxy.finish();
    assert_eq!(methods, vec![0], "no authentication offered without credentials");
    assert_eq!(target, Socks5Target::Name("mail.nowhere.invalid".into(), 110));
    assert_eq!(lines, ["CAPA", "USER bob", "PASS mailbox-password", "STAT", "QUIT"]);
}

#[test]
fn socks5_without_h_also_sends_the_name() {
    let proxy = FakeProxy::start(|mut s| {
        socks5_methods(&mut s, 0)?;
        let target = socks5_request(&mut s)?;
        play_pop3(&mut s, &socks5_reply(0))?;
        Ok(target)
    });
    pop3_session("mail.nowhere.invalid", &options_via(Proxy::parse(&proxy.url("socks5")).unwrap()));
    assert_eq!(proxy.finish(), Socks5Target::Name("mail.nowhere.invalid".into(), 110));
}

#[test]
fn socks5_with_local_resolution_sends_the_address_looked_up_here() {
    let proxy = FakeProxy::start(|mut s| {
        socks5_methods(&mut s, 0)?;
        let target = socks5_request(&mut s)?;
        play_pop3(&mut s, &socks5_reply(0))?;
        Ok(target)
    });
    let opts = options_via(Proxy::parse(&proxy.url("socks5")).unwrap().resolving_locally());
    pop3_session("localhost", &opts);
    assert_eq!(proxy.finish(), Socks5Target::V4([127, 0, 0, 1], 110));
}

#[test]
fn local_resolution_of_an_unknown_name_fails_before_the_proxy_is_contacted() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("socks5://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let opts = options_via(Proxy::parse(&url).unwrap().resolving_locally());
    let err = connect_error("mail.nowhere.invalid", &opts);
    assert!(matches!(err, Error::Resolve { .. }), "{err:?}");
    assert!(listener.accept().is_err(), "the proxy was contacted");
}

#[test]
fn socks5_credentials_go_as_rfc_1929_and_never_into_the_trace() {
    let proxy = FakeProxy::start(|mut s| {
        let methods = socks5_methods(&mut s, 2)?;
        let version_and_len = read_n(&mut s, 2)?;
        let user = read_n(&mut s, version_and_len[1] as usize)?;
        let len = read_n(&mut s, 1)?[0] as usize;
        let pass = read_n(&mut s, len)?;
        s.write_all(&[1, 0])?;
        socks5_request(&mut s)?;
        play_pop3(&mut s, &socks5_reply(0))?;
        Ok((methods, version_and_len[0], String::from_utf8(user).unwrap(), String::from_utf8(pass).unwrap()))
    });
    let (tracer, log) = recording_tracer();
    let url = format!("socks5h://alice:{SECRET}@127.0.0.1:{}", proxy.port);
    let opts = ClientOptions { tracer, ..options_via(Proxy::parse(&url).unwrap()) };
    pop3_session("mail.nowhere.invalid", &opts);
    let (methods, version, user, pass) = proxy.finish();
    assert_eq!(methods, vec![0, 2]);
    assert_eq!((version, user.as_str(), pass.as_str()), (1, "alice", SECRET));
    assert_no_secret_in_trace(&log);
}

#[test]
fn a_refused_socks5_login_is_proxy_auth_failed_without_the_password() {
    let proxy = FakeProxy::start(|mut s| {
        socks5_methods(&mut s, 2)?;
        let head = read_n(&mut s, 2)?;
        read_n(&mut s, head[1] as usize)?;
        let len = read_n(&mut s, 1)?[0] as usize;
        read_n(&mut s, len)?;
        s.write_all(&[1, 1])?;
        Ok(())
    });
    let url = format!("socks5h://alice:{SECRET}@127.0.0.1:{}", proxy.port);
    let err = connect_error("mail.example.test", &options_via(Proxy::parse(&url).unwrap()));
    proxy.finish();
    assert!(matches!(err, Error::ProxyAuthFailed(_)), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("refused the proxy user name and password"), "{message}");
    assert!(!message.contains(SECRET) && !format!("{err:?}").contains(SECRET), "{message}");
}

#[test]
fn a_login_answer_with_the_wrong_version_breaks_the_protocol() {
    let proxy = FakeProxy::start(|mut s| {
        socks5_methods(&mut s, 2)?;
        let head = read_n(&mut s, 2)?;
        read_n(&mut s, head[1] as usize)?;
        let len = read_n(&mut s, 1)?[0] as usize;
        read_n(&mut s, len)?;
        s.write_all(&[5, 0])?;
        Ok(())
    });
    let url = format!("socks5h://alice:{SECRET}@127.0.0.1:{}", proxy.port);
    let err = connect_error("mail.example.test", &options_via(Proxy::parse(&url).unwrap()));
    proxy.finish();
    assert!(matches!(err, Error::ProxyProtocol(_)), "{err:?}");
    assert!(err.to_string().contains("version byte 5, not 1"), "{err}");
}

#[test]
fn a_socks5_proxy_that_wants_credentials_none_were_given_for_says_so() {
    let proxy = FakeProxy::start(|mut s| socks5_methods(&mut s, 0xff));
    let err = connect_error("mail.example.test", &options_via(Proxy::parse(&proxy.url("socks5h")).unwrap()));
    proxy.finish();
    assert!(matches!(err, Error::ProxyAuthFailed(_)), "{err:?}");
    assert!(err.to_string().contains("give the proxy user name and password"), "{err}");
}

#[test]
fn each_socks5_reply_code_is_said_in_words() {
    let cases: [(u8, &str); 9] = [
        (1, "general SOCKS server failure"),
        (2, "not allowed by the proxy's rules"),
        (3, "network unreachable"),
        (4, "host unreachable"),
        (5, "connection refused by mail.example.test:110"),
        (6, "TTL expired"),
        (7, "command not supported"),
        (8, "address type not supported"),
        (42, "unknown failure 42"),
    ];
    for (code, words) in cases {
        let proxy = FakeProxy::start(move |mut s| {
            socks5_methods(&mut s, 0)?;
            socks5_request(&mut s)?;
            // Only the version and the code: a refusing proxy may close
            // before the rest of the reply.
            s.write_all(&[5, code])?;
            Ok(())
        });
        let err = connect_error("mail.example.test", &options_via(Proxy::parse(&proxy.url("socks5h")).unwrap()));
        proxy.finish();
        assert!(matches!(err, Error::ProxyTargetFailed(_)), "reply {code}: {err:?}");
        let message = err.to_string();
        assert!(message.starts_with("proxy: ") && message.contains(words), "reply {code}: {message}");
        assert!(message.contains(&format!("SOCKS5 reply {code}")), "{message}");
    }
}

#[test]
fn a_reply_with_a_name_as_bound_address_is_read_to_its_end() {
    let proxy = FakeProxy::start(|mut s| {
        socks5_methods(&mut s, 0)?;
        socks5_request(&mut s)?;
        let mut reply = vec![5, 0, 0, 3, 9];
        reply.extend_from_slice(b"proxy.lan");
        reply.extend_from_slice(&[0, 25]);
        play_pop3(&mut s, &reply)
    });
    pop3_session("mail.example.test", &options_via(Proxy::parse(&proxy.url("socks5h")).unwrap()));
    proxy.finish();
}

#[test]
fn a_proxy_that_is_not_socks5_breaks_the_protocol() {
    let proxy = FakeProxy::start(|mut s| {
        read_n(&mut s, 3)?;
        s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n")?;
        Ok(())
    });
    let err = connect_error("mail.example.test", &options_via(Proxy::parse(&proxy.url("socks5h")).unwrap()));
    proxy.finish();
    assert!(matches!(err, Error::ProxyProtocol(_)), "{err:?}");
    assert!(err.to_string().contains("does not answer as a SOCKS5 proxy"), "{err}");
}

#[test]
fn a_proxy_that_drops_the_connection_mid_handshake_breaks_the_protocol() {
    let proxy = FakeProxy::start(|mut s| {
        socks5_methods(&mut s, 0)?;
        socks5_request(&mut s)?;
        s.write_all(&[5, 0, 0])?;
        s.shutdown(Shutdown::Both)?;
        Ok(())
    });
    let err = connect_error("mail.example.test", &options_via(Proxy::parse(&proxy.url("socks5h")).unwrap()));
    proxy.finish();
    assert!(matches!(err, Error::ProxyProtocol(_)), "{err:?}");
    assert!(err.to_string().contains("closed the connection before its answer"), "{err}");
}

#[test]
fn a_proxy_that_stalls_times_out_within_the_connect_timeout() {
    let proxy = FakeProxy::start(|mut s| {
        let mut buf = [0u8; 64];
        let _ = s.read(&mut buf)?;
        std::thread::sleep(Duration::from_secs(3));
        Ok(())
    });
    let opts = ClientOptions {
        connect_timeout: Duration::from_secs(1),
        ..options_via(Proxy::parse(&proxy.url("socks5h")).unwrap())
    };
    let started = Instant::now();
    let err = connect_error("mail.example.test", &opts);
    let elapsed = started.elapsed();
    proxy.finish();
    assert!(matches!(err, Error::Timeout(_)), "{err:?}");
    assert!(elapsed < Duration::from_millis(2500), "took {elapsed:?}");
    assert!(err.to_string().contains(&format!("the SOCKS5 proxy 127.0.0.1:{}", proxy_port_of(&opts))), "{err}");
}

fn proxy_port_of(opts: &ClientOptions) -> u16 {
    opts.proxy.as_ref().unwrap().port()
}

#[test]
fn a_proxy_that_is_not_running_is_unreachable() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("socks5h://127.0.0.1:{closed}");
    let err = connect_error("mail.example.test", &options_via(Proxy::parse(&url).unwrap()));
    assert!(matches!(err, Error::ProxyUnreachable(_)), "{err:?}");
    assert!(err.to_string().contains(&format!("could not reach the SOCKS5 proxy 127.0.0.1:{closed}")), "{err}");
}

#[test]
fn a_name_longer_than_socks_can_carry_is_refused_before_anything_is_sent() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("socks5h://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let long = format!("{}.example", "a".repeat(250));
    let err = connect_error(&long, &options_via(Proxy::parse(&url).unwrap()));
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
    assert!(listener.accept().is_err(), "the proxy was contacted");
}

#[test]
fn proxy_fields_that_socks_cannot_carry_are_invalid_arguments() {
    let long = "u".repeat(256);
    let credentials = ProxyCredentials { user: long, password: "p".into() };
    let err = Proxy::new(ProxyKind::Socks5, "127.0.0.1", 1080, Some(credentials)).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
    for url in ["ftp://127.0.0.1:21", "socks5h://127.0.0.1:99999", "socks5h://", "127.0.0.1:1080"] {
        assert!(matches!(Proxy::parse(url), Err(Error::InvalidArgument(_))), "{url}");
    }
}

// ---------------------------------------------------------------- SOCKS4a

#[test]
fn socks4a_sends_the_name_and_user_and_reads_the_eight_byte_reply() {
    let proxy = FakeProxy::start(|mut s| {
        let head = read_n(&mut s, 8)?;
        let mut reader = BufReader::new(s.try_clone()?);
        let mut user = Vec::new();
        reader.read_until(0, &mut user)?;
        let mut name = Vec::new();
        reader.read_until(0, &mut name)?;
        play_pop3(&mut s, &[0, 90, 0, 0, 0, 0, 0, 0])?;
        Ok((head, user, name))
    });
    let url = format!("socks4a://bob@127.0.0.1:{}", proxy.port);
    pop3_session("mail.nowhere.invalid", &options_via(Proxy::parse(&url).unwrap()));
    let (head, user, name) = proxy.finish();
    assert_eq!(head, [4, 1, 0, 110, 0, 0, 0, 1]);
    assert_eq!(user, b"bob\0");
    assert_eq!(name, b"mail.nowhere.invalid\0");
}

#[test]
fn a_socks4a_rejection_is_proxy_target_failed() {
    let proxy = FakeProxy::start(|mut s| {
        let mut buf = [0u8; 64];
        let _ = s.read(&mut buf)?;
        s.write_all(&[0, 91, 0, 0, 0, 0, 0, 0])?;
        Ok(())
    });
    let err = connect_error("mail.example.test", &options_via(Proxy::parse(&proxy.url("socks4a")).unwrap()));
    proxy.finish();
    assert!(matches!(err, Error::ProxyTargetFailed(_)), "{err:?}");
    assert!(err.to_string().contains("SOCKS4 reply 91"), "{err}");
}

// ---------------------------------------------------------------- HTTP CONNECT

/// Read an HTTP request head up to its blank line.
fn http_request(s: &mut TcpStream) -> io::Result<Vec<String>> {
    let mut lines = Vec::new();
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        s.read_exact(&mut byte)?;
        line.push(byte[0]);
        if line.ends_with(b"\r\n") {
            let text = String::from_utf8(line[..line.len() - 2].to_vec()).unwrap();
            if text.is_empty() {
                return Ok(lines);
            }
            lines.push(text);
            line.clear();
        }
    }
}

#[test]
fn http_connect_sends_basic_credentials_and_keeps_the_greeting_sent_with_the_200() {
    let proxy = FakeProxy::start(|mut s| {
        let request = http_request(&mut s)?;
        play_pop3(&mut s, b"HTTP/1.1 200 Connection established\r\nProxy-Agent: fake\r\n\r\n")?;
        Ok(request)
    });
    let (tracer, log) = recording_tracer();
    let url = format!("http://alice:{SECRET}@127.0.0.1:{}", proxy.port);
    let opts = ClientOptions { tracer, ..options_via(Proxy::parse(&url).unwrap()) };
    pop3_session("mail.example.test", &opts);
    let request = proxy.finish();
    let basic = format!("Proxy-Authorization: Basic {}", base64_of(&format!("alice:{SECRET}")));
    assert_eq!(request, ["CONNECT mail.example.test:110 HTTP/1.1", "Host: mail.example.test:110", basic.as_str()]);
    assert_no_secret_in_trace(&log);
}

#[test]
fn http_connect_to_an_ipv6_address_puts_it_in_brackets() {
    let proxy = FakeProxy::start(|mut s| {
        let request = http_request(&mut s)?;
        play_pop3(&mut s, b"HTTP/1.0 200 OK\r\n\r\n")?;
        Ok(request)
    });
    pop3_session("::1", &options_via(Proxy::parse(&proxy.url("http")).unwrap()));
    assert_eq!(proxy.finish()[0], "CONNECT [::1]:110 HTTP/1.1");
}

fn http_error(status: &'static str, url_credentials: &str) -> Error {
    let proxy = FakeProxy::start(move |mut s| {
        http_request(&mut s)?;
        s.write_all(status.as_bytes())?;
        Ok(())
    });
    let url = format!("http://{url_credentials}127.0.0.1:{}", proxy.port);
    let err = connect_error("mail.example.test", &options_via(Proxy::parse(&url).unwrap()));
    proxy.finish();
    err
}

#[test]
fn http_statuses_are_mapped_to_what_a_person_can_change() {
    let err = http_error("HTTP/1.1 407 Proxy Authentication Required\r\n\r\n", "");
    assert!(matches!(err, Error::ProxyAuthFailed(_)), "{err:?}");
    assert!(err.to_string().contains("requires authentication (407 Proxy Authentication Required)"), "{err}");

    let err = http_error("HTTP/1.1 401 Unauthorized\r\n\r\n", &format!("alice:{SECRET}@"));
    assert!(matches!(err, Error::ProxyAuthFailed(_)), "{err:?}");
    assert!(err.to_string().contains("refused the proxy user name and password (401 Unauthorized)"), "{err}");
    assert!(!err.to_string().contains(SECRET));

    let err = http_error("HTTP/1.1 403 Access violation\r\n\r\n", "");
    assert!(matches!(err, Error::ProxyTargetFailed(_)), "{err:?}");
    assert!(err.to_string().starts_with("proxy: 403 Access violation, CONNECT to port 110 not allowed"), "{err}");

    let err = http_error("HTTP/1.1 502 Bad Gateway\r\n\r\n", "");
    assert!(matches!(err, Error::ProxyTargetFailed(_)), "{err:?}");
    assert!(err.to_string().contains("502 Bad Gateway; the HTTP proxy"), "{err}");

    let err = http_error("SSH-2.0-OpenSSH_9.2\r\n\r\n", "");
    assert!(matches!(err, Error::ProxyProtocol(_)), "{err:?}");
    assert!(err.to_string().contains("did not answer CONNECT with an HTTP status line"), "{err}");
}

#[test]
fn an_endless_http_reply_head_is_cut_off() {
    let proxy = FakeProxy::start(|mut s| {
        http_request(&mut s)?;
        s.write_all(b"HTTP/1.1 200 OK\r\n")?;
        let filler = b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
        for _ in 0..1000 {
            if s.write_all(filler).is_err() {
                break;
            }
        }
        Ok(())
    });
    let err = connect_error("mail.example.test", &options_via(Proxy::parse(&proxy.url("http")).unwrap()));
    proxy.finish();
    assert!(matches!(err, Error::ProxyProtocol(_)), "{err:?}");
    assert!(err.to_string().contains("reply head longer than"), "{err}");
}

#[test]
fn a_line_break_in_the_server_name_is_refused_before_anything_is_sent() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let err = connect_error("mail.example.test\r\nX-Evil: 1", &options_via(Proxy::parse(&url).unwrap()));
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
    assert!(listener.accept().is_err(), "the proxy was contacted");
}

// ---------------------------------------------------------------- TLS through the tunnel

/// A SOCKS5 proxy that relays to 127.0.0.1:`to`, whatever it is asked for.
fn relaying_socks5(to: u16) -> FakeProxy<Socks5Target> {
    FakeProxy::start(move |mut s| {
        socks5_methods(&mut s, 0)?;
        let target = socks5_request(&mut s)?;
        let upstream = TcpStream::connect(("127.0.0.1", to))?;
        s.write_all(&socks5_reply(0))?;
        s.set_read_timeout(None)?;
        relay(s, upstream)?;
        Ok(target)
    })
}

fn relay(client: TcpStream, server: TcpStream) -> io::Result<()> {
    let (mut c_read, mut s_write) = (client.try_clone()?, server.try_clone()?);
    let up = std::thread::spawn(move || {
        let _ = io::copy(&mut c_read, &mut s_write);
        let _ = s_write.shutdown(Shutdown::Write);
    });
    let (mut s_read, mut c_write) = (server, client);
    let _ = io::copy(&mut s_read, &mut c_write);
    let _ = c_write.shutdown(Shutdown::Write);
    let _ = up.join();
    Ok(())
}

#[test]
fn tls_through_the_tunnel_is_checked_against_the_mail_servers_name() {
    let pop3s = port("MAILTLS_TEST_POP3S_PORT");
    let proxy = relaying_socks5(pop3s);
    let opts = ClientOptions {
        proxy: Some(Proxy::parse(&proxy.url("socks5h")).unwrap()),
        security: mailtls::Security::Tls,
        ..tls_options()
    };
    let mut pop3 = Pop3Client::connect("localhost", pop3s, &opts).expect("POP3S through the tunnel");
    assert!(pop3.is_tls());
    pop3.login("proxy08", &password(), None).expect("login through the tunnel");
    pop3.stat().unwrap();
    pop3.quit().unwrap();
    assert_eq!(proxy.finish(), Socks5Target::Name("localhost".into(), pop3s));
}

#[test]
fn a_certificate_for_another_name_is_still_refused_through_the_tunnel() {
    let pop3s = port("MAILTLS_TEST_POP3S_PORT");
    let proxy = relaying_socks5(pop3s);
    let (tracer, log) = recording_tracer();
    let opts = ClientOptions {
        proxy: Some(Proxy::parse(&proxy.url("socks5h")).unwrap()),
        security: mailtls::Security::Tls,
        tracer,
        ..tls_options()
    };
    // The proxy takes us to the real server; the name asked for is not on
    // its certificate.
    let err = Pop3Client::connect("mail.other.invalid", pop3s, &opts).expect_err("a certificate for another name");
    match &err {
        Error::Certificate(c) => assert_eq!(c.reason, CertificateReason::HostMismatch, "{err:?}"),
        other => panic!("expected a certificate error, got {other:?}"),
    }
    assert!(err.to_string().contains("mail.other.invalid"), "{err}");
    let _ = proxy.finish();
    let log = log.lock().unwrap();
    assert!(!common::sent_command(&log, "USER") && !common::sent_command(&log, "AUTH"));
}

// ---------------------------------------------------------------- HTTPS proxy

/// An HTTPS proxy: TLS with the test server's certificate (for localhost
/// and 127.0.0.1), then CONNECT, then a relay to 127.0.0.1:`to`. Returns
/// the request lines it read.
fn https_proxy(to: u16) -> FakeProxy<Vec<String>> {
    let ca_dir = std::path::PathBuf::from(env("MAILTLS_TEST_STATE")).join("ca");
    let mut acceptor = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).unwrap();
    acceptor.set_certificate_chain_file(ca_dir.join("server.pem")).unwrap();
    acceptor.set_private_key_file(ca_dir.join("server.key"), SslFiletype::PEM).unwrap();
    let acceptor = acceptor.build();
    FakeProxy::start(move |tcp| {
        let mut tls = acceptor.accept(tcp).map_err(|e| io::Error::other(e.to_string()))?;
        let mut request = Vec::new();
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        loop {
            tls.read_exact(&mut byte)?;
            line.push(byte[0]);
            if line.ends_with(b"\r\n") {
                if line == b"\r\n" {
                    break;
                }
                request.push(String::from_utf8_lossy(&line[..line.len() - 2]).into_owned());
                line.clear();
            }
        }
        let mut upstream = TcpStream::connect(("127.0.0.1", to))?;
        tls.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
        // One thread, both directions: short timeouts take turns.
        let tick = Some(Duration::from_millis(10));
        tls.get_ref().set_read_timeout(tick)?;
        upstream.set_read_timeout(tick)?;
        let mut buf = [0u8; 16384];
        loop {
            match tls.read(&mut buf) {
                Ok(0) => return Ok(request),
                Ok(n) => upstream.write_all(&buf[..n])?,
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
                Err(_) => return Ok(request),
            }
            match upstream.read(&mut buf) {
                Ok(0) => return Ok(request),
                Ok(n) => tls.write_all(&buf[..n])?,
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
                Err(e) => return Err(e),
            }
        }
    })
}

#[test]
fn tls_runs_inside_the_tls_of_an_https_proxy() {
    let pop3s = port("MAILTLS_TEST_POP3S_PORT");
    let proxy = https_proxy(pop3s);
    let (tracer, log) = recording_tracer();
    let url = format!("https://alice:{SECRET}@127.0.0.1:{}", proxy.port);
    let opts = ClientOptions {
        proxy: Some(Proxy::parse(&url).unwrap()),
        security: mailtls::Security::Tls,
        tracer,
        ..tls_options()
    };
    let mut pop3 = Pop3Client::connect("localhost", pop3s, &opts).expect("POP3S through an HTTPS proxy");
    assert!(pop3.is_tls());
    pop3.login("proxy06", &password(), None).expect("login through the HTTPS proxy");
    pop3.stat().unwrap();
    pop3.quit().unwrap();
    let request = proxy.finish();
    assert_eq!(request[0], format!("CONNECT localhost:{pop3s} HTTP/1.1"));
    assert!(request.iter().any(|l| l.starts_with("Proxy-Authorization: Basic ")), "{request:?}");
    assert!(
        log.lock().unwrap().iter().any(|(_, d)| String::from_utf8_lossy(d).contains("TLS with the HTTPS proxy")),
        "the trace tells of the proxy's TLS"
    );
    assert_no_secret_in_trace(&log);
}

#[test]
fn an_https_proxy_with_an_untrusted_certificate_is_refused_before_connect() {
    let proxy = https_proxy(port("MAILTLS_TEST_POP3S_PORT"));
    // Without the test CA: the proxy's certificate is not trusted. The
    // mail server's pin does not vouch for the proxy.
    let opts = ClientOptions {
        proxy: Some(Proxy::parse(&proxy.url("https")).unwrap()),
        security: mailtls::Security::Tls,
        connect_timeout: Duration::from_secs(5),
        tls: mailtls::TlsOptions { pin_sha256: Some([7; 32]), ..Default::default() },
        ..ClientOptions::default()
    };
    let err = Pop3Client::connect("localhost", 995, &opts).expect_err("an untrusted proxy certificate");
    assert!(matches!(err, Error::Certificate(_)), "{err:?}");
    assert!(err.to_string().contains(&format!("127.0.0.1:{}", proxy.port)), "{err}");
    // The proxy's accept failed: no CONNECT was read.
    assert!(proxy.thread.join().unwrap().is_err());
}

// ---------------------------------------------------------------- helpers

fn assert_no_secret_in_trace(log: &common::TraceLog) {
    let log = log.lock().unwrap();
    assert!(!log.is_empty(), "the trace recorded nothing");
    for (kind, data) in log.iter() {
        let text = String::from_utf8_lossy(data);
        assert!(!text.contains(SECRET), "{kind:?} trace shows the proxy password: {text}");
        assert!(!text.contains(&base64_of(&format!("alice:{SECRET}"))), "{kind:?} trace shows the Basic token: {text}");
    }
}

fn base64_of(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}
