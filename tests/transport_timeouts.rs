//! Timeouts of the transport layer against loopback servers that trickle,
//! stall or never answer: a reply line must be whole within the I/O
//! timeout, bulk data must keep a minimum rate, a name lookup ends by the
//! connect timeout, and a dead address delays the next one by 250 ms only
//! (Happy Eyeballs), all attempts ending by the connect timeout.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use common::{FakeServer, Step, Unanswering, plain_options, send};
use mailtls::Client;
use mailtls::pop3::Pop3Client;
use mailtls::sasl::Mechanism;
use mailtls::smtp::SmtpClient;
use mailtls::transport::Connection;
use mailtls::{ClientOptions, Error};

const GREETING: &str = "+OK ready\r\n";
const CAPA: &str = "+OK\r\nUSER\r\n.\r\n";

fn options(io_timeout: Duration, connect_timeout: Duration) -> ClientOptions {
    ClientOptions {
        io_timeout,
        connect_timeout,
        client_name: Some(mailtls::ClientName::new("client.example").unwrap()),
        ..plain_options()
    }
}

/// Steps that send `bytes` one at a time, `every` apart.
fn slowly(bytes: &str, every: Duration) -> Vec<Step> {
    bytes.bytes().flat_map(|b| [Step::Send(vec![b]), Step::Sleep(every)]).collect()
}

fn assert_took(started: Instant, at_least: Duration, less_than: Duration) {
    let took = started.elapsed();
    assert!(took >= at_least && took < less_than, "took {took:?}, expected {at_least:?}..{less_than:?}");
}

// ------------------------------------------------------------ reply lines

#[test]
fn a_greeting_trickled_one_byte_per_300_ms_times_out_at_the_io_timeout() {
    // Every byte comes well inside the 1 s timeout; the line as a whole never does.
    let _server = FakeServer::start(slowly(GREETING, Duration::from_millis(300)));
    let started = Instant::now();
    let err = Pop3Client::connect("127.0.0.1", _server.port, &options(Duration::from_secs(1), Duration::from_secs(5)))
        .expect_err("too slow");
    assert!(matches!(err, Error::Timeout(_)), "{err:?}");
    assert_took(started, Duration::from_millis(950), Duration::from_millis(2500));
}

#[test]
fn a_greeting_that_arrives_whole_just_under_the_timeout_works() {
    let server = FakeServer::start(vec![
        Step::Sleep(Duration::from_millis(800)),
        send(GREETING),
        Step::Expect("CAPA"),
        send(CAPA),
        Step::Close,
    ]);
    let client =
        Pop3Client::connect("127.0.0.1", server.port, &options(Duration::from_secs(1), Duration::from_secs(5)));
    assert!(client.is_ok(), "{:?}", client.err());
    server.finish();
}

#[test]
fn a_greeting_trickled_but_whole_within_the_timeout_works() {
    let mut script = slowly(GREETING, Duration::from_millis(40));
    script.extend([Step::Expect("CAPA"), send(CAPA), Step::Close]);
    let server = FakeServer::start(script);
    let client =
        Pop3Client::connect("127.0.0.1", server.port, &options(Duration::from_secs(1), Duration::from_secs(5)));
    assert!(client.is_ok(), "{:?}", client.err());
    server.finish();
}

#[test]
fn an_smtp_reply_trickled_past_the_timeout_says_the_server_was_too_slow() {
    let mut script = vec![send("220 fake ESMTP\r\n"), Step::Expect("EHLO client.example")];
    script.extend(slowly("250-fake\r\n250 PIPELINING\r\n", Duration::from_millis(150)));
    let _server = FakeServer::start(script);
    let started = Instant::now();
    let err =
        SmtpClient::connect("127.0.0.1", _server.port, &options(Duration::from_millis(600), Duration::from_secs(5)))
            .expect_err("too slow");
    assert!(matches!(&err, Error::Timeout(m) if m.contains("too slow to answer")), "{err:?}");
    assert_took(started, Duration::from_millis(550), Duration::from_millis(2000));
}

// ------------------------------------------------------------- bulk data

#[test]
fn a_message_trickled_below_the_minimum_rate_is_cut_off() {
    let mut script = vec![send(GREETING), Step::Expect("CAPA"), send(CAPA), Step::Expect("USER u"), send("+OK\r\n")];
    script.extend([Step::Expect("PASS p"), send("+OK\r\n"), Step::Expect("RETR 1"), send("+OK\r\nSubject: x\r\n")]);
    // 10 bytes/s, each byte far inside the 500 ms timeout.
    script.extend(slowly(&"x".repeat(100), Duration::from_millis(100)));
    let _server = FakeServer::start(script);
    let mut client =
        Pop3Client::connect("127.0.0.1", _server.port, &options(Duration::from_millis(500), Duration::from_secs(5)))
            .unwrap();
    client.login("u", "p", Some(Mechanism::User)).unwrap();
    let started = Instant::now();
    let mut got = 0;
    let err = client
        .retr(1, &mut |chunk| {
            got += chunk.len();
            ControlFlow::Continue(())
        })
        .expect_err("too slow");
    assert!(matches!(&err, Error::Timeout(m) if m.contains("too slowly")), "{err:?}");
    assert_took(started, Duration::from_millis(450), Duration::from_millis(2000));
    assert!(got > 0, "what did arrive was handed over");
}

#[test]
fn a_message_with_a_long_pause_and_then_data_at_speed_is_read() {
    let body = "line of a message body\r\n".repeat(2000);
    let mut script = vec![send(GREETING), Step::Expect("CAPA"), send(CAPA), Step::Expect("USER u"), send("+OK\r\n")];
    script.extend([Step::Expect("PASS p"), send("+OK\r\n"), Step::Expect("RETR 1"), send("+OK\r\nSubject: x\r\n")]);
    // A pause of most of the timeout, then 48 KB at once, then the same again.
    for _ in 0..2 {
        script.extend([Step::Sleep(Duration::from_millis(400)), send(&body)]);
    }
    script.extend([send(".\r\n"), Step::Close]);
    let server = FakeServer::start(script);
    let mut client =
        Pop3Client::connect("127.0.0.1", server.port, &options(Duration::from_millis(500), Duration::from_secs(5)))
            .unwrap();
    client.login("u", "p", Some(Mechanism::User)).unwrap();
    let mut got = 0;
    client
        .retr(1, &mut |chunk| {
            got += chunk.len();
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(got, "Subject: x\r\n".len() + 2 * body.len());
    server.finish();
}

// ------------------------------------------------------------- connecting

#[test]
fn a_refused_connection_is_said_once_in_plain_words() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let err = Pop3Client::connect("127.0.0.1", port, &plain_options()).expect_err("refused");
    let n = if cfg!(windows) { 10061 } else { libc::ECONNREFUSED };
    assert_eq!(
        err.to_string(),
        format!(
            "nothing accepts connections on 127.0.0.1 port {port} (connection refused, os error {n}): \
             check the port number, or whether the server is running"
        )
    );
}

#[test]
fn a_dead_address_then_a_live_one_connects_after_the_attempt_delay() {
    let dead = Unanswering::new();
    let live = TcpListener::bind("127.0.0.1:0").unwrap();
    let addrs = [dead.addr, live.local_addr().unwrap()];
    let server = std::thread::spawn(move || {
        let (mut s, _) = live.accept().unwrap();
        s.write_all(GREETING.as_bytes()).unwrap();
        // Until the client closes.
        let _ = s.read(&mut [0u8; 16]);
    });
    let opts = options(Duration::from_secs(5), Duration::from_secs(10));
    let started = Instant::now();
    let mut conn = Connection::open_with_lookup("mail.test", 110, false, &opts, move |_, _| Ok(addrs.to_vec()))
        .expect("the live address answers");
    assert_took(started, Duration::from_millis(240), Duration::from_millis(2000));
    assert_eq!(conn.read_line(|l| l.to_vec()).unwrap(), b"+OK ready");
    drop(conn);
    server.join().unwrap();
}

#[test]
fn when_every_address_hangs_the_whole_connect_ends_by_the_connect_timeout() {
    let dead = [Unanswering::new(), Unanswering::new(), Unanswering::new()];
    let addrs: Vec<SocketAddr> = dead.iter().map(|d| d.addr).collect();
    let opts = options(Duration::from_secs(5), Duration::from_millis(700));
    let started = Instant::now();
    let err =
        Connection::open_with_lookup("mail.test", 110, false, &opts, move |_, _| Ok(addrs)).err().expect("no answer");
    assert_took(started, Duration::from_millis(690), Duration::from_millis(1500));
    assert_eq!(
        err.to_string(),
        "no answer from mail.test (127.0.0.1, 127.0.0.1, 127.0.0.1) port 110 within 0.7 s: \
         check the server name and port, or whether a firewall drops the connection"
    );
}

#[test]
fn a_lookup_that_never_ends_is_abandoned_at_the_connect_timeout() {
    let opts = options(Duration::from_secs(5), Duration::from_millis(300));
    let started = Instant::now();
    let err = Connection::open_with_lookup("slow.test", 110, false, &opts, |_, _| {
        std::thread::sleep(Duration::from_secs(3));
        Ok(vec![])
    })
    .err()
    .expect("out of time");
    assert_took(started, Duration::from_millis(290), Duration::from_millis(1500));
    assert_eq!(
        err.to_string(),
        "timed out: no answer from the DNS server about the server name \"slow.test\" within 0.3 s"
    );
}

#[test]
fn a_failed_lookup_stays_a_resolve_error() {
    let opts = options(Duration::from_secs(5), Duration::from_secs(5));
    let err = Connection::open_with_lookup("nowhere.test", 110, false, &opts, |_, _| {
        Err(std::io::Error::other("no such name"))
    })
    .err()
    .expect("no such name");
    assert!(matches!(&err, Error::Resolve { host, .. } if host == "nowhere.test"), "{err:?}");
}
