//! Shared helpers of the integration tests: a scripted fake server for what
//! a real server will not do on demand, and access to the project's Dovecot
//! (started by tests/run.sh, described by the MAILTLS_TEST_* variables).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use mailtls::ClientOptions;
use mailtls::trace::{TraceKind, Tracer};

// ---------------------------------------------------------------- fake server

/// One step of a fake server's script.
pub enum Step {
    /// Send these bytes.
    Send(Vec<u8>),
    /// Send these bytes one at a time (to split reads at every position).
    Trickle(Vec<u8>),
    /// Read one line and check it starts with this text.
    Expect(&'static str),
    /// Read one line, whatever it is.
    Skip,
    /// Read a DATA body up to its terminating "." line and record it, raw
    /// (CRLF kept, still dot-stuffed), as one entry.
    ReadData,
    /// Check that the client sends nothing more and closes (reads EOF).
    ExpectEof,
    /// Check that no byte arrives within this time.
    ExpectSilence(Duration),
    /// Do nothing for this long.
    Sleep(Duration),
    /// Close the connection now.
    Close,
}

pub fn send(s: &str) -> Step {
    Step::Send(s.as_bytes().to_vec())
}

/// A one-connection scripted POP3 server on 127.0.0.1.
pub struct FakeServer {
    pub port: u16,
    thread: Option<JoinHandle<Result<Vec<String>, String>>>,
}

impl FakeServer {
    pub fn start(script: Vec<Step>) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = listener.local_addr().unwrap().port();
        let thread = std::thread::spawn(move || {
            let (stream, _) = listener.accept().map_err(|e| e.to_string())?;
            stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            run_script(stream, script)
        });
        FakeServer { port, thread: Some(thread) }
    }

    /// Wait for the script to finish; panics if it did not go as written.
    /// Returns every line the client sent.
    pub fn finish(mut self) -> Vec<String> {
        match self.thread.take().unwrap().join() {
            Ok(Ok(lines)) => lines,
            Ok(Err(e)) => panic!("fake server script failed: {e}"),
            Err(_) => panic!("fake server thread panicked"),
        }
    }
}

fn run_script(stream: TcpStream, script: Vec<Step>) -> Result<Vec<String>, String> {
    let mut writer = stream.try_clone().map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(stream);
    let mut seen = Vec::new();
    for step in script {
        match step {
            Step::Send(bytes) => writer.write_all(&bytes).map_err(|e| e.to_string())?,
            Step::Trickle(bytes) => {
                for b in bytes {
                    writer.write_all(&[b]).map_err(|e| e.to_string())?;
                    writer.flush().ok();
                }
            }
            Step::Expect(prefix) => {
                let line = read_line(&mut reader)?;
                if !line.starts_with(prefix) {
                    return Err(format!("expected {prefix:?}, client sent {line:?}"));
                }
                seen.push(line);
            }
            Step::Skip => seen.push(read_line(&mut reader)?),
            Step::ReadData => {
                let mut data = Vec::new();
                loop {
                    let mut line = Vec::new();
                    if reader.read_until(b'\n', &mut line).map_err(|e| e.to_string())? == 0 {
                        return Err("the client closed the connection during DATA".into());
                    }
                    if line == b".\r\n" {
                        break;
                    }
                    data.extend_from_slice(&line);
                }
                seen.push(String::from_utf8_lossy(&data).into_owned());
            }
            Step::ExpectEof => {
                let mut rest = Vec::new();
                reader.read_to_end(&mut rest).map_err(|e| e.to_string())?;
                if !rest.is_empty() {
                    return Err(format!("expected nothing more, client sent {:?}", String::from_utf8_lossy(&rest)));
                }
            }
            Step::ExpectSilence(d) => {
                reader.get_ref().set_read_timeout(Some(d)).unwrap();
                let mut byte = [0u8; 1];
                let got = if !reader.buffer().is_empty() { Ok(1) } else { reader.read(&mut byte) };
                if let Ok(n) = got
                    && n > 0
                {
                    return Err("the client sent more before the reply (no pipelining expected)".into());
                }
                reader.get_ref().set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            }
            Step::Sleep(d) => std::thread::sleep(d),
            Step::Close => return Ok(seen),
        }
    }
    Ok(seen)
}

fn read_line(reader: &mut BufReader<TcpStream>) -> Result<String, String> {
    let mut line = String::new();
    let n = reader.read_line(&mut line).map_err(|e| format!("reading a client line: {e}"))?;
    if n == 0 {
        return Err("the client closed the connection".into());
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Options for a plaintext fake server: no TLS, credentials allowed, short
/// timeouts.
pub fn plain_options() -> ClientOptions {
    ClientOptions {
        security: mailtls::Security::None,
        allow_plaintext_auth: true,
        io_timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(5),
        ..ClientOptions::default()
    }
}

/// What a recording tracer saw: each kind with its bytes.
pub type TraceLog = Arc<Mutex<Vec<(TraceKind, Vec<u8>)>>>;

/// A tracer that records everything it is shown.
pub fn recording_tracer() -> (Tracer, TraceLog) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = log.clone();
    let tracer = Tracer::new(Arc::new(move |kind, data: &[u8]| sink.lock().unwrap().push((kind, data.to_vec()))));
    (tracer, log)
}

/// Whether the recorded trace shows a command starting with `prefix`.
pub fn sent_command(log: &[(TraceKind, Vec<u8>)], prefix: &str) -> bool {
    log.iter().any(|(k, d)| *k == TraceKind::Command && String::from_utf8_lossy(d).starts_with(prefix))
}

/// Options that accept any certificate (the danger switch, no pin).
pub fn unchecked_tls_options() -> ClientOptions {
    ClientOptions {
        tls: mailtls::options::TlsOptions { danger_accept_invalid_certs: true, ..Default::default() },
        ..ClientOptions::default()
    }
}

// ---------------------------------------------------------------- Dovecot

/// A MAILTLS_TEST_* variable set by tests/run.sh (via the env.sh that
/// tests/servers/dovecot.sh writes).
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests through `bash tests/run.sh`, which starts Dovecot")
    })
}

pub fn port(name: &str) -> u16 {
    env(name).parse().expect("a port number")
}

pub fn password() -> String {
    env("MAILTLS_TEST_PASSWORD")
}

/// Options that trust the test CA.
pub fn tls_options() -> ClientOptions {
    let mut opts = ClientOptions::default();
    opts.tls.add_ca_file(std::path::Path::new(&env("MAILTLS_TEST_CA"))).expect("test CA");
    opts.io_timeout = Duration::from_secs(20);
    opts
}

pub fn maildir(user: &str) -> PathBuf {
    PathBuf::from(env("MAILTLS_TEST_MAILDIR_ROOT")).join(user).join("Maildir")
}

/// Empty `user`'s mailbox and put `messages` in it, in this order (they get
/// message numbers 1, 2, ... by file name order).
pub fn seed(user: &str, messages: &[&[u8]]) {
    let dir = maildir(user);
    for sub in ["new", "cur"] {
        for entry in std::fs::read_dir(dir.join(sub)).expect("maildir exists") {
            std::fs::remove_file(entry.unwrap().path()).unwrap();
        }
    }
    // Dovecot's index files would remember the old messages.
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::remove_file(path).unwrap();
        }
    }
    for (i, body) in messages.iter().enumerate() {
        let path = dir.join("new").join(format!("{:010}.M{i}P1.mailtls", 1_000_000_000 + i));
        std::fs::write(&path, body).unwrap();
        std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
    }
}

/// What Dovecot sends for a stored message: LF as CRLF, and a final CRLF
/// when the file lacks one.
pub fn as_served(stored: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(stored.len() + stored.len() / 20 + 2);
    for &b in stored {
        if b == b'\n' && out.last() != Some(&b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

// ---------------------------------------------------------------- no answer

/// A loopback listener whose accept queue is full: a connect to it gets no
/// answer, as from a server that is down behind a firewall .
pub struct Unanswering {
    pub addr: SocketAddr,
    fd: i32,
    _queued: TcpStream,
}

impl Unanswering {
    pub fn new() -> Unanswering {
        // SAFETY: plain socket calls on a descriptor this function owns;
        // `addr` is a properly sized sockaddr_in.
        let (port, fd) = unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
            assert!(fd >= 0);
            let mut addr: libc::sockaddr_in = std::mem::zeroed();
            addr.sin_family = libc::AF_INET as libc::sa_family_t;
            addr.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
            let mut size = std::mem::size_of_val(&addr) as libc::socklen_t;
            assert_eq!(libc::bind(fd, &addr as *const _ as *const libc::sockaddr, size), 0);
            // A backlog of 0 holds one connection: fill it.
            assert_eq!(libc::listen(fd, 0), 0);
            libc::getsockname(fd, &mut addr as *mut _ as *mut libc::sockaddr, &mut size);
            (u16::from_be(addr.sin_port), fd)
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        Unanswering { addr, fd, _queued: TcpStream::connect(addr).unwrap() }
    }
}

impl Drop for Unanswering {
    fn drop(&mut self) {
        // SAFETY: the descriptor from `new`, closed once.
        unsafe { libc::close(self.fd) };
    }
}
