//! SMTP defects of issue 8, each checked on the wire against a fake server:
//! 1 (a refused RSET in a pipelined batch), 3 (Resent- fields and every Bcc
//! form), 4 (8-bit content and UTF-8 headers), 5 (ORCPT of a non-ASCII
//! address), 6 (thousands of recipients, a bounded window), 13 (SIZE after
//! the DATA encoding).

mod common;

use std::ffi::CString;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::Duration;

use common::{FakeServer, Step, plain_options, send};
use mailtls::ffi::options::{
    MAILTLS_SECURITY_NONE, mailtls_options_free, mailtls_options_new, mailtls_options_set_client_name,
    mailtls_options_set_io_timeout_ms, mailtls_options_set_security,
};
use mailtls::ffi::smtp::{mailtls_smtp_connect, mailtls_smtp_free, mailtls_smtp_new, mailtls_smtp_send_file};
use mailtls::ffi::{MAILTLS_RESULT_EIGHTBITMIME_UNAVAILABLE, MAILTLS_RESULT_OK, MAILTLS_RESULT_SMTPUTF8_UNAVAILABLE};
use mailtls::smtp::{Dsn, MessageSource, Outgoing, RecipientResult, SmtpClient};
use mailtls::{Client, Error};

const GREETING: &str = "220 fake ESMTP\r\n";
/// No 8BITMIME, no SMTPUTF8.
const EHLO_7BIT: &str = "250-fake\r\n250 SIZE 100000\r\n";
const EHLO_8BIT: &str = "250-fake\r\n250-SIZE 100000\r\n250 8BITMIME\r\n";
const EHLO_UTF8: &str = "250-fake\r\n250-SIZE 100000\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n";

/// The most commands the client may keep unanswered (PIPELINE_WINDOW in
/// src/session/window.rs).
const PIPELINE_WINDOW: usize = 128;

fn connect_with_timeout(port: u16, io_timeout: Duration) -> SmtpClient {
    let mut opts = plain_options();
    opts.client_name = Some(mailtls::ClientName::new("client.example").unwrap());
    opts.io_timeout = io_timeout;
    SmtpClient::connect("127.0.0.1", port, &opts).expect("connect to the fake server")
}

fn connect(server: &FakeServer) -> SmtpClient {
    connect_with_timeout(server.port, Duration::from_secs(5))
}

fn start(ehlo: &str, rest: Vec<Step>) -> FakeServer {
    let mut script = vec![send(GREETING), Step::Expect("EHLO client.example"), send(ehlo)];
    script.extend(rest);
    FakeServer::start(script)
}

fn send_bytes(client: &mut SmtpClient, to: &[&str], mut body: &[u8]) -> mailtls::Result<Vec<RecipientResult>> {
    client.send("a@x.org", to, MessageSource::from_bytes(&mut body), None)
}

/// One message to one recipient, not pipelined: the lines the server saw
/// are MAIL, RCPT, DATA and the content as DATA carried it.
fn one_message(ehlo: &str) -> FakeServer {
    start(
        ehlo,
        vec![
            Step::Expect("MAIL"),
            send("250 ok\r\n"),
            Step::Expect("RCPT"),
            send("250 ok\r\n"),
            Step::Expect("DATA"),
            send("354 go\r\n"),
            Step::ReadData,
            send("250 queued\r\n"),
        ],
    )
}

/// A session whose send is refused before anything: NOOP shows it goes on.
fn refused_before_mail(ehlo: &str) -> FakeServer {
    start(ehlo, vec![Step::Expect("NOOP"), send("250 ok\r\n")])
}

/// Envelope and content accepted up to 354, then the client must close
/// without sending anything more.
fn closed_after_go_ahead(ehlo: &str) -> FakeServer {
    start(
        ehlo,
        vec![
            Step::Expect("MAIL"),
            send("250 ok\r\n"),
            Step::Expect("RCPT"),
            send("250 ok\r\n"),
            Step::Expect("DATA"),
            send("354 go\r\n"),
            Step::ExpectEof,
        ],
    )
}

/// A source whose content is not known in advance (a read callback).
fn streamed(reader: &mut dyn Read) -> MessageSource<'_> {
    MessageSource { reader, size: None, eight_bit: None }
}

// ------------------------------------------------------------ defect 3

#[test]
fn a_resent_message_goes_to_the_resent_recipients_and_no_bcc_form_is_sent() {
    let server = start(
        EHLO_8BIT,
        vec![
            Step::Expect("MAIL FROM:<carol@x.org>"),
            send("250 ok\r\n"),
            Step::Expect("RCPT TO:<dave@x.org>"),
            send("250 ok\r\n"),
            Step::Expect("RCPT TO:<frank@x.org>"),
            send("250 ok\r\n"),
            Step::Expect("RCPT TO:<grace@x.org>"),
            send("250 ok\r\n"),
            Step::Expect("DATA"),
            send("354 go\r\n"),
            Step::ReadData,
            send("250 queued\r\n"),
        ],
    );
    let mut client = connect(&server);
    let message = b"Resent-From: Carol <carol@x.org>\r\n\
Resent-To: dave@x.org\r\n\
Resent-Bcc: frank@x.org,\r\n\
\x20grace@x.org\r\n\
From: alice@x.org\r\n\
To: bob@x.org\r\n\
BCC:\r\n\
\thidden@x.org\r\n\
Subject: resent\r\n\
\r\n\
body\r\n";
    let results = client.send_message(message, None).unwrap();
    let accepted: Vec<&str> = results.iter().map(|r| r.address.as_str()).collect();
    assert_eq!(accepted, ["dave@x.org", "frank@x.org", "grace@x.org"]);
    let lines = server.finish();
    assert_eq!(
        lines.last().unwrap(),
        "Resent-From: Carol <carol@x.org>\r\nResent-To: dave@x.org\r\nFrom: alice@x.org\r\nTo: bob@x.org\r\n\
Subject: resent\r\n\r\nbody\r\n"
    );
}

// ------------------------------------------------------------ defect 4

#[test]
fn eight_bit_content_without_8bitmime_is_refused_before_anything_is_sent() {
    let server = refused_before_mail(EHLO_7BIT);
    let mut client = connect(&server);
    let err = send_bytes(&mut client, &["b@x.org"], b"Subject: x\r\n\r\ncaf\xc3\xa9\r\n").expect_err("8-bit");
    assert!(matches!(err, Error::EightBitUnavailable(_)), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("8BITMIME") && text.contains("quoted-printable"), "{text}");
    assert!(client.is_open(), "nothing was sent, the session goes on");
    client.noop().unwrap();
    server.finish();
}

#[test]
fn a_batch_refuses_its_8bit_message_and_sends_the_others() {
    let server = start(
        "250-fake\r\n250 PIPELINING\r\n",
        vec![
            Step::Expect("MAIL FROM:<a@x.org>"),
            Step::Expect("RCPT"),
            Step::Expect("DATA"),
            send("250 ok\r\n250 ok\r\n354 go\r\n"),
            Step::ReadData,
            send("250 queued\r\n"),
        ],
    );
    let mut client = connect(&server);
    let to = ["b@x.org"];
    let messages = [
        Outgoing { from: "a@x.org", recipients: &to, message: b"\xe9t\xe9\r\n" },
        Outgoing { from: "a@x.org", recipients: &to, message: b"ascii\r\n" },
    ];
    let mut outcomes = Vec::new();
    client.send_batch(&messages, None, &mut |i, r| outcomes.push((i, r.map(|_| ())))).unwrap();
    assert!(matches!(outcomes[..], [(0, Err(Error::EightBitUnavailable(_))), (1, Ok(()))]), "{outcomes:?}");
    let lines = server.finish();
    assert_eq!(lines.last().unwrap(), "ascii\r\n");
}

/// 70,000 ASCII bytes, then an 8-bit line.
struct AsciiThenEightBit(Vec<u8>, usize);

impl Read for AsciiThenEightBit {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.0.len() - self.1);
        buf[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
        self.1 += n;
        Ok(n)
    }
}

#[test]
fn streamed_8bit_content_without_8bitmime_stops_the_transfer_and_closes() {
    let (port, server) = raw_server(false, |reader, writer| {
        let mut lines = Vec::new();
        writer.write_all(GREETING.as_bytes())?;
        lines.push(read_line(reader)?);
        writer.write_all(EHLO_7BIT.as_bytes())?;
        for reply in ["250 ok\r\n", "250 ok\r\n", "354 go\r\n"] {
            lines.push(read_line(reader)?);
            writer.write_all(reply.as_bytes())?;
        }
        let mut data = Vec::new();
        reader.read_to_end(&mut data)?;
        Ok((lines, data))
    });
    let mut message = b"Subject: streamed\r\n\r\n".to_vec();
    while message.len() < 70_000 {
        message.extend_from_slice(b"0123456789 0123456789 0123456789\r\n");
    }
    message.extend_from_slice(b"caf\xe9\r\nmore\r\n");
    let mut reader = AsciiThenEightBit(message, 0);
    let mut client = connect_with_timeout(port, Duration::from_secs(2));
    let err = client.send("a@x.org", &["b@x.org"], streamed(&mut reader), None).expect_err("8-bit");
    assert!(matches!(err, Error::EightBitUnavailable(_)), "{err:?}");
    assert!(err.to_string().contains("connection closed"), "{err}");
    assert!(!client.is_open(), "DATA cannot be aborted but by closing");
    let (lines, data) = server.join().unwrap().expect("the fake server's exchange");
    assert_eq!(lines[1], "MAIL FROM:<a@x.org>", "nothing declared for unknown content");
    assert!(!data.is_empty(), "the ASCII part went out before the 8-bit byte was read");
    assert!(!data.contains(&0xe9), "the 8-bit byte is not sent");
    assert!(!data.ends_with(b"\r\n.\r\n"), "the message is not ended, so the server discards it");
}

#[test]
fn utf8_headers_need_smtputf8_and_declare_it() {
    let message = "Subject: café\r\nFrom: a@x.org\r\n\r\nbody\r\n".as_bytes();

    let server = refused_before_mail(EHLO_8BIT);
    let mut client = connect(&server);
    let err = send_bytes(&mut client, &["b@x.org"], message).expect_err("UTF-8 headers");
    assert!(matches!(err, Error::SmtpUtf8Unavailable(_)), "{err:?}");
    assert!(err.to_string().contains("headers are UTF-8"), "{err}");
    client.noop().unwrap();
    server.finish();

    let server = one_message(EHLO_UTF8);
    let mut client = connect(&server);
    send_bytes(&mut client, &["b@x.org"], message).unwrap();
    let lines = server.finish();
    assert_eq!(lines[1], format!("MAIL FROM:<a@x.org> SIZE={} BODY=8BITMIME SMTPUTF8", message.len()));

    // 8-bit only in the body: no SMTPUTF8.
    let server = one_message(EHLO_UTF8);
    let mut client = connect(&server);
    let body_only = "Subject: x\r\n\r\ncafé\r\n".as_bytes();
    send_bytes(&mut client, &["b@x.org"], body_only).unwrap();
    let lines = server.finish();
    assert_eq!(lines[1], format!("MAIL FROM:<a@x.org> SIZE={} BODY=8BITMIME", body_only.len()));
}

#[test]
fn streamed_utf8_headers_that_were_not_declared_stop_the_transfer() {
    let server = closed_after_go_ahead(EHLO_UTF8);
    let mut client = connect(&server);
    let mut reader: &[u8] = "Subject: café\r\n\r\nbody\r\n".as_bytes();
    let err = client.send("a@x.org", &["b@x.org"], streamed(&mut reader), None).expect_err("undeclared");
    assert!(matches!(err, Error::SmtpUtf8Unavailable(_)), "{err:?}");
    assert!(err.to_string().contains("from memory or from a file"), "{err}");
    assert!(!client.is_open());
    let lines = server.finish();
    assert_eq!(lines[1], "MAIL FROM:<a@x.org> BODY=8BITMIME");
}

/// A C handle connected to a fake server, for send_file.
struct CHandle(*mut mailtls::ffi::smtp::mailtls_smtp);

impl CHandle {
    fn connect(port: u16) -> CHandle {
        let opts = mailtls_options_new();
        assert_eq!(mailtls_options_set_security(opts, MAILTLS_SECURITY_NONE), MAILTLS_RESULT_OK);
        assert_eq!(mailtls_options_set_client_name(opts, c"client.example".as_ptr()), MAILTLS_RESULT_OK);
        assert_eq!(mailtls_options_set_io_timeout_ms(opts, 5000), MAILTLS_RESULT_OK);
        let smtp = mailtls_smtp_new(opts);
        mailtls_options_free(opts);
        assert_eq!(mailtls_smtp_connect(smtp, c"127.0.0.1".as_ptr(), port), MAILTLS_RESULT_OK);
        CHandle(smtp)
    }

    fn send_file(&self, contents: &[u8]) -> u32 {
        let dir = std::env::temp_dir().join(format!("mailtls-smtp-defects-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{:p}.eml", self.0));
        std::fs::write(&path, contents).unwrap();
        let c_path = CString::new(path.to_str().unwrap()).unwrap();
        let to = [c"b@x.org".as_ptr()];
        let rc =
            mailtls_smtp_send_file(self.0, c"a@x.org".as_ptr(), to.as_ptr(), 1, c_path.as_ptr(), std::ptr::null_mut());
        std::fs::remove_file(&path).unwrap();
        rc
    }
}

impl Drop for CHandle {
    fn drop(&mut self) {
        mailtls_smtp_free(self.0);
    }
}

#[test]
fn send_file_looks_ahead_for_8bit_utf8_headers_and_the_encoded_size() {
    let utf8_headers = "Subject: café\n\n.dot\nbody".as_bytes();

    let server = start(EHLO_8BIT, vec![Step::ExpectEof]);
    let handle = CHandle::connect(server.port);
    assert_eq!(handle.send_file(utf8_headers), MAILTLS_RESULT_SMTPUTF8_UNAVAILABLE);
    drop(handle);
    server.finish();

    let server = start(EHLO_7BIT, vec![Step::ExpectEof]);
    let handle = CHandle::connect(server.port);
    assert_eq!(handle.send_file(b"Subject: x\n\n\xe9t\xe9\n"), MAILTLS_RESULT_EIGHTBITMIME_UNAVAILABLE);
    drop(handle);
    server.finish();

    let server = one_message(EHLO_UTF8);
    let handle = CHandle::connect(server.port);
    assert_eq!(handle.send_file(utf8_headers), MAILTLS_RESULT_OK);
    drop(handle);
    let lines = server.finish();
    let data = lines.last().unwrap();
    assert_eq!(data, "Subject: café\r\n\r\n..dot\r\nbody\r\n");
    assert_eq!(lines[1], format!("MAIL FROM:<a@x.org> SIZE={} BODY=8BITMIME SMTPUTF8", data.len()));
}

// ------------------------------------------------------------ defect 13

/// LF line ends, leading dots, no final line end: 27 bytes that DATA
/// carries as 35.
const NEEDS_ENCODING: &[u8] = b"Subject: s\n\n.dot\n..two\nlast";

#[test]
fn size_is_the_length_as_data_carries_it() {
    let server = one_message(EHLO_8BIT);
    let mut client = connect(&server);
    send_bytes(&mut client, &["b@x.org"], NEEDS_ENCODING).unwrap();
    let lines = server.finish();
    let data = lines.last().unwrap();
    assert_eq!(data.len(), 35);
    assert_eq!(lines[1], format!("MAIL FROM:<a@x.org> SIZE={}", data.len()));

    // In a batch too.
    let server = start(
        "250-fake\r\n250-PIPELINING\r\n250 SIZE 100000\r\n",
        vec![
            Step::Expect("MAIL FROM:<a@x.org> SIZE=35"),
            Step::Expect("RCPT"),
            Step::Expect("DATA"),
            send("250 ok\r\n250 ok\r\n354 go\r\n"),
            Step::ReadData,
            send("250 queued\r\n"),
        ],
    );
    let mut client = connect(&server);
    let to = ["b@x.org"];
    let messages = [Outgoing { from: "a@x.org", recipients: &to, message: NEEDS_ENCODING }];
    let mut outcomes = Vec::new();
    client.send_batch(&messages, None, &mut |i, r| outcomes.push((i, r.is_ok()))).unwrap();
    assert_eq!(outcomes, [(0, true)]);
    server.finish();
}

#[test]
fn the_size_limit_applies_to_the_encoded_length() {
    // 27 raw bytes fit a limit of 30; the 35 DATA carries do not.
    let server = start("250-fake\r\n250 SIZE 30\r\n", vec![Step::Expect("NOOP"), send("250 ok\r\n")]);
    let mut client = connect(&server);
    let err = send_bytes(&mut client, &["b@x.org"], NEEDS_ENCODING).expect_err("over the limit once encoded");
    assert!(matches!(err, Error::MessageTooLarge { limit: 30 }), "{err:?}");
    client.noop().unwrap();
    server.finish();
}

#[test]
fn a_size_the_caller_gives_is_used_as_given() {
    let server = one_message(EHLO_7BIT);
    let mut client = connect(&server);
    let mut reader = NEEDS_ENCODING;
    let source = MessageSource { reader: &mut reader, size: Some(NEEDS_ENCODING.len() as u64), eight_bit: None };
    client.send("a@x.org", &["b@x.org"], source, None).unwrap();
    let lines = server.finish();
    assert_eq!(lines[1], format!("MAIL FROM:<a@x.org> SIZE={}", NEEDS_ENCODING.len()));
}

// ------------------------------------------------------------ defect 1

#[test]
fn a_refused_rset_in_a_pipelined_batch_ends_the_session_before_any_content() {
    let server = start(
        "250-fake\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n",
        vec![
            Step::Expect("MAIL"),
            Step::Expect("RCPT TO:<nobody@x.org>"),
            Step::Expect("DATA"),
            send("250 2.1.0 ok\r\n550 5.1.1 unknown\r\n554 5.5.1 no valid recipients\r\n"),
            // The next message's envelope comes after an RSET, in one go.
            Step::Expect("RSET"),
            Step::Expect("MAIL"),
            Step::Expect("RCPT TO:<b@x.org>"),
            Step::Expect("DATA"),
            send("503 5.5.1 RSET not now\r\n250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go\r\n"),
            // Out of step, the client would now send message 1's content
            // and message 2's envelope.
            Step::ExpectEof,
        ],
    );
    let mut client = connect(&server);
    let m =
        |recipients: &'static [&'static str], message: &'static [u8]| Outgoing { from: "a@x.org", recipients, message };
    let messages = [m(&["nobody@x.org"], b"zero\r\n"), m(&["b@x.org"], b"one\r\n"), m(&["b@x.org"], b"two\r\n")];
    let mut outcomes = Vec::new();
    let r = client.send_batch(&messages, None, &mut |i, r| outcomes.push((i, r.is_ok())));
    let err = r.expect_err("the session cannot go on");
    assert!(err.ends_session(), "{err:?}");
    assert_eq!(outcomes, [(0, false)], "no outcome for the messages after the refused RSET");
    assert!(!client.is_open());
    let lines = server.finish();
    assert!(lines.iter().all(|l| !l.contains("one") && !l.contains("two")), "{lines:?}");
}

// ------------------------------------------------------------ defect 5

#[test]
fn orcpt_of_a_non_ascii_address_is_utf8_addr_xtext_on_the_wire() {
    let server = one_message("250-fake\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 DSN\r\n");
    let mut client = connect(&server);
    let dsn = Dsn::new(Some("FAILURE"), None, None, true).unwrap();
    let mut body: &[u8] = b"Subject: x\r\n\r\nx\r\n";
    client.send("a@x.org", &["jörg+1@x.org"], MessageSource::from_bytes(&mut body), Some(&dsn)).unwrap();
    let lines = server.finish();
    assert_eq!(lines[2], "RCPT TO:<jörg+1@x.org> NOTIFY=FAILURE ORCPT=utf-8;jörg\\x{2B}1@x.org");
}

// ------------------------------------------------------------ defect 6

/// What the window test's server saw.
#[derive(Debug)]
struct Pressure {
    recipients: usize,
    /// Most commands received and not answered yet, at any time.
    most_unanswered: usize,
}

#[test]
fn thousands_of_recipients_keep_a_bounded_window_in_flight() {
    const RECIPIENTS: usize = 5000;
    let (port, server) = raw_server(true, |reader, writer| {
        writer.write_all(GREETING.as_bytes())?;
        read_line(reader)?;
        writer.write_all(b"250-fake\r\n250-PIPELINING\r\n250 8BITMIME\r\n")?;
        let (mut received, mut answered, mut recipients, mut most_unanswered) = (0usize, 0usize, 0usize, 0usize);
        let mut pending = Vec::new();
        let mut buf = vec![0u8; 256 * 1024];
        'commands: loop {
            // Slow: a pause before each read, then whatever has arrived.
            std::thread::sleep(Duration::from_millis(1));
            let n = reader.read(&mut buf)?;
            if n == 0 {
                return Err(std::io::Error::other("the client closed during the envelope"));
            }
            pending.extend_from_slice(&buf[..n]);
            let mut commands = Vec::new();
            while let Some(end) = pending.windows(2).position(|w| w == b"\r\n") {
                commands.push(pending.drain(..end + 2).collect::<Vec<u8>>());
            }
            received += commands.len();
            most_unanswered = most_unanswered.max(received - answered);
            for command in commands {
                // Every command answered, with a long reply, so that a
                // client that does not read fills the buffers.
                let reply: &[u8] = if command.starts_with(b"RCPT") {
                    recipients += 1;
                    b"250 2.1.5 Ok, this recipient is accepted; a reply long enough to fill buffers\r\n"
                } else if command.starts_with(b"DATA") {
                    b"354 go\r\n"
                } else {
                    b"250 ok\r\n"
                };
                writer.write_all(reply)?;
                answered += 1;
                if command.starts_with(b"DATA") {
                    break 'commands;
                }
            }
        }
        while !pending.ends_with(b"\r\n.\r\n") {
            let n = reader.read(&mut buf)?;
            if n == 0 {
                return Err(std::io::Error::other("the client closed during DATA"));
            }
            pending.extend_from_slice(&buf[..n]);
        }
        writer.write_all(b"250 queued\r\n")?;
        Ok(Pressure { recipients, most_unanswered })
    });
    let addresses: Vec<String> = (0..RECIPIENTS).map(|i| format!("user{i:05}@example.org")).collect();
    let to: Vec<&str> = addresses.iter().map(String::as_str).collect();
    let mut client = connect_with_timeout(port, Duration::from_secs(10));
    let results = send_bytes(&mut client, &to, b"Subject: many\r\n\r\nhi\r\n").expect("no deadlock");
    assert_eq!(results.len(), RECIPIENTS);
    assert!(results.iter().all(|r| r.accepted));
    let pressure = server.join().unwrap().expect("the fake server's exchange");
    assert_eq!(pressure.recipients, RECIPIENTS);
    assert!(pressure.most_unanswered <= PIPELINE_WINDOW, "{pressure:?}");
    assert!(pressure.most_unanswered > 1, "the commands are pipelined: {pressure:?}");
}

// ------------------------------------------------------------ a raw fake server

type Served<T> = JoinHandle<std::io::Result<T>>;

/// A one-connection server on 127.0.0.1 running `serve`, for exchanges the
/// scripted server cannot express. `small_send_buffer` gives the accepted
/// socket a small send buffer, so its replies block as soon as the client
/// stops reading. (Its receive buffer stays large: a client that writes
/// more than it should is then seen whole.)
fn raw_server<T: Send + 'static>(
    small_send_buffer: bool,
    serve: impl FnOnce(&mut BufReader<TcpStream>, &mut TcpStream) -> std::io::Result<T> + Send + 'static,
) -> (u16, Served<T>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = listener.local_addr().unwrap().port();
    let thread = std::thread::spawn(move || {
        let (stream, _) = listener.accept()?;
        if small_send_buffer {
            set_send_buffer(&stream, 4096);
        }
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        stream.set_write_timeout(Some(Duration::from_secs(10)))?;
        let mut writer = stream.try_clone()?;
        serve(&mut BufReader::new(stream), &mut writer)
    });
    (port, thread)
}

fn set_send_buffer(stream: &TcpStream, bytes: libc::c_int) {
    use std::os::fd::AsRawFd;
    // SAFETY: a valid socket and an int option of the given size.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&bytes as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "setsockopt SO_SNDBUF");
}

fn read_line(reader: &mut BufReader<TcpStream>) -> std::io::Result<String> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(std::io::Error::other("the client closed the connection"));
    }
    Ok(line.trim_end().to_string())
}
