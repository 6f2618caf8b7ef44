//! TCP and TLS connection with timeouts, a bounded read buffer and batched
//! writes. Shared by POP3 and SMTP; it knows nothing about either protocol.

mod scripted;
mod tls;

pub use scripted::ScriptedStream;

pub(crate) use tls::certs_from_pem;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::options::ClientOptions;
use crate::trace::{TraceKind, Tracer};

/// Longest status or listing line accepted from a server, CRLF included.
/// RFC 1939 allows 512 octets; real servers stay far below this.
pub(crate) const MAX_LINE: usize = 8192;
/// Read buffer size: large enough for efficient TLS reads, fixed so memory
/// use does not depend on what a server sends.
const READ_BUFFER: usize = 64 * 1024;

enum Stream {
    Plain(TcpStream),
    Tls(Box<tls::Stream>),
    /// An in-memory peer (fuzzing and unit tests).
    Scripted(Box<ScriptedStream>),
    Closed,
}

pub struct Connection {
    stream: Stream,
    buf: Box<[u8]>,
    /// Unconsumed bytes are `buf[pos..end]`.
    pos: usize,
    end: usize,
    out: Vec<u8>,
    host: String,
    peer_sha256: Option<[u8; 32]>,
    /// The TLS handshake verified or pinned the certificate (see
    /// `server_verified()`).
    server_verified: bool,
    tracer: Tracer,
}

impl Connection {
    /// Resolve `host`, connect to the first address that answers (IPv4 and
    /// IPv6 alike), and start TLS at once if `implicit_tls`.
    pub fn open(host: &str, port: u16, implicit_tls: bool, opts: &ClientOptions) -> Result<Connection> {
        validate_host(host)?;
        let tracer = opts.tracer.clone();
        let addrs: Vec<SocketAddr> = (host, port)
            .to_socket_addrs()
            .map_err(|e| Error::Resolve { host: host.to_string(), reason: e.to_string() })?
            .collect();
        if addrs.is_empty() {
            return Err(Error::Resolve { host: host.to_string(), reason: "no addresses".into() });
        }
        let tcp = connect_any(&addrs, opts.connect_timeout, &tracer)
            .map_err(|reason| Error::Connect { target: format!("{host} port {port}"), reason })?;
        let _ = tcp.set_nodelay(true);
        tcp.set_read_timeout(Some(opts.io_timeout)).map_err(|e| Error::from_io(e, "setting up the connection"))?;
        tcp.set_write_timeout(Some(opts.io_timeout)).map_err(|e| Error::from_io(e, "setting up the connection"))?;
        let mut conn = Connection::over(Stream::Plain(tcp), host, tracer);
        if implicit_tls {
            conn.start_tls(opts)?;
        }
        Ok(conn)
    }

    /// A connection to an in-memory peer that sends `stream`'s bytes: how
    /// the fuzz targets and unit tests drive the parsers.
    pub fn scripted(stream: ScriptedStream, tracer: Tracer) -> Connection {
        Connection::over(Stream::Scripted(Box::new(stream)), "scripted", tracer)
    }

    fn over(stream: Stream, host: &str, tracer: Tracer) -> Connection {
        Connection {
            stream,
            buf: vec![0u8; READ_BUFFER].into_boxed_slice(),
            pos: 0,
            end: 0,
            out: Vec::with_capacity(4096),
            host: host.to_string(),
            peer_sha256: None,
            server_verified: false,
            tracer,
        }
    }

    /// Upgrade the plain connection to TLS (implicit TLS or after STLS /
    /// STARTTLS was accepted).
    pub fn start_tls(&mut self, opts: &ClientOptions) -> Result<()> {
        // Bytes the server sent before the handshake would otherwise be read
        // as if they came over TLS (the STARTTLS injection attack).
        if self.pos != self.end {
            self.close();
            return Err(Error::Protocol("the server sent data before the TLS handshake".into()));
        }
        let tcp = match std::mem::replace(&mut self.stream, Stream::Closed) {
            Stream::Plain(tcp) => tcp,
            other => {
                self.stream = other;
                return Err(Error::Protocol("TLS is already active".into()));
            }
        };
        let established = tls::handshake(tcp, &self.host, &opts.tls)?;
        self.peer_sha256 = established.peer_sha256;
        self.server_verified = opts.tls.pin_sha256.is_some() || !opts.tls.danger_accept_invalid_certs;
        self.stream = Stream::Tls(Box::new(established.stream));
        self.tracer.info("TLS established");
        Ok(())
    }

    pub fn is_tls(&self) -> bool {
        matches!(self.stream, Stream::Tls(_))
    }

    pub fn is_open(&self) -> bool {
        !matches!(self.stream, Stream::Closed)
    }

    /// Whether the server proved who it is: TLS with a verified or pinned
    /// certificate.
    pub fn server_verified(&self) -> bool {
        self.server_verified && self.is_tls()
    }

    pub fn peer_sha256(&self) -> Option<[u8; 32]> {
        self.peer_sha256
    }

    pub fn tracer(&self) -> &Tracer {
        &self.tracer
    }

    /// Drop the connection without a goodbye.
    pub fn close(&mut self) {
        if let Stream::Tls(s) = &mut self.stream {
            let _ = s.shutdown();
        }
        self.stream = Stream::Closed;
        self.pos = 0;
        self.end = 0;
    }

    // ---- writing ----

    /// Queue one command line (CRLF is added). Everything from
    /// `secret_from` on is shown as `<redacted>` in the trace.
    pub fn queue_command(&mut self, line: &[u8], secret_from: Option<usize>) -> Result<()> {
        if line.iter().any(|b| *b == b'\r' || *b == b'\n') {
            return Err(Error::InvalidArgument("a command may not contain CR or LF".into()));
        }
        self.tracer.command(line, secret_from);
        self.out.extend_from_slice(line);
        self.out.extend_from_slice(b"\r\n");
        Ok(())
    }

    /// Queue bytes that `f` appends (encoded message data), untraced.
    pub fn queue_with(&mut self, f: impl FnOnce(&mut Vec<u8>)) {
        f(&mut self.out);
    }

    pub fn queued_len(&self) -> usize {
        self.out.len()
    }

    /// Send everything queued in one write.
    pub fn flush(&mut self) -> Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let result = match &mut self.stream {
            Stream::Plain(s) => s.write_all(&self.out).and_then(|_| s.flush()),
            Stream::Tls(s) => s.write_all(&self.out).and_then(|_| s.flush()),
            Stream::Scripted(s) => s.write_all(&self.out),
            Stream::Closed => return Err(Error::NotConnected("the connection is closed")),
        };
        self.out.clear();
        result.map_err(|e| Error::from_io(e, "sending"))
    }

    pub fn send_command(&mut self, line: &[u8], secret_from: Option<usize>) -> Result<()> {
        self.queue_command(line, secret_from)?;
        self.flush()
    }

    // ---- reading ----

    /// The bytes read but not consumed yet.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.pos..self.end]
    }

    pub fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.end - self.pos);
        self.pos += n;
        if self.pos == self.end {
            self.pos = 0;
            self.end = 0;
        }
    }

    /// Read more bytes from the server into the buffer, keeping unconsumed
    /// ones. Fails on end of stream and when the buffer is already full.
    pub fn fill(&mut self) -> Result<()> {
        if self.pos > 0 && self.end == self.buf.len() {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
        }
        if self.end == self.buf.len() {
            return Err(Error::ReplyTooLong(self.buf.len()));
        }
        let target = &mut self.buf[self.end..];
        let n = match &mut self.stream {
            Stream::Plain(s) => s.read(target),
            Stream::Tls(s) => s.read(target),
            Stream::Scripted(s) => s.read(target),
            Stream::Closed => return Err(Error::NotConnected("the connection is closed")),
        }
        .map_err(|e| Error::from_io(e, "waiting for the server's reply"))?;
        if n == 0 {
            return Err(Error::ConnectionClosed("unexpectedly"));
        }
        self.end += n;
        Ok(())
    }

    /// Read one line and hand it, without its line end, to `f`. The line is
    /// traced as a reply. Lines over [`MAX_LINE`] are an error.
    pub fn read_line<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Result<R> {
        let mut scanned = 0;
        loop {
            let avail = &self.buf[self.pos..self.end];
            if let Some(i) = memchr::memchr(b'\n', &avail[scanned..]) {
                let nl = scanned + i;
                if nl + 1 > MAX_LINE {
                    return Err(Error::ReplyTooLong(MAX_LINE));
                }
                let line_end = if nl > 0 && avail[nl - 1] == b'\r' { nl - 1 } else { nl };
                let line = &avail[..line_end];
                self.tracer.emit(TraceKind::Reply, line);
                let r = f(line);
                self.consume(nl + 1);
                return Ok(r);
            }
            scanned = avail.len();
            if scanned >= MAX_LINE {
                return Err(Error::ReplyTooLong(MAX_LINE));
            }
            self.fill()?;
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.close();
    }
}

/// Try each address in turn (IPv4 and IPv6 alike) and keep the first that
/// accepts; the error names what happened to each.
fn connect_any(addrs: &[SocketAddr], timeout: Duration, tracer: &Tracer) -> std::result::Result<TcpStream, String> {
    let mut failures = Vec::new();
    for addr in addrs {
        tracer.info(format!("connecting to {addr}"));
        match TcpStream::connect_timeout(addr, timeout) {
            Ok(s) => return Ok(s),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                failures.push(format!("{addr}: no answer within {} s", timeout.as_secs_f64()));
            }
            Err(e) => failures.push(format!("{addr}: {e}")),
        }
        tracer.info(failures.last().map(String::as_str).unwrap_or_default());
    }
    Err(failures.join("; "))
}

fn validate_host(host: &str) -> Result<()> {
    if host.is_empty() {
        return Err(Error::InvalidArgument("the host name is empty".into()));
    }
    if host.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control()) {
        return Err(Error::InvalidArgument("the host name contains spaces or control characters".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_address_is_tried_until_one_accepts() {
        // A port that refuses (bound, then closed) followed by one that listens.
        let refused = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let open = listener.local_addr().unwrap();
        let stream = connect_any(&[refused, open], Duration::from_secs(2), &Tracer::default()).unwrap();
        assert_eq!(stream.peer_addr().unwrap(), open);
        let err = connect_any(&[refused], Duration::from_secs(2), &Tracer::default()).unwrap_err();
        assert!(err.contains(&refused.to_string()), "{err}");
    }

    #[test]
    fn host_names_with_controls_are_refused() {
        assert!(validate_host("").is_err());
        assert!(validate_host("mail.example.org\r\nQUIT").is_err());
        assert!(validate_host("a b").is_err());
        assert!(validate_host("mail.example.org").is_ok());
    }
}
