//! TCP and TLS connection with timeouts, a bounded read buffer and batched
//! writes. Shared by POP3 and SMTP; it knows nothing about either protocol.

mod carrier;
mod connect;
mod deadline;
mod os_errors;
mod pace;
mod proxy;
mod resolve;
mod scripted;
mod tls;
mod tls_probe;

pub(crate) use tls::{KEEPS_REFUSED_CERTIFICATE, ask as ask_certificate_callback, unix_now};
pub(crate) use tls_probe::speaks_tls;

pub use proxy::{Proxy, ProxyCredentials, ProxyKind};
pub use resolve::system_lookup;
pub use scripted::ScriptedStream;
pub use tls::TlsInfo;

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::options::{ClientOptions, DEFAULT_IO_TIMEOUT};
use crate::sasl::scram::ChannelBinding;
use crate::trace::{TraceKind, Tracer};
use carrier::Carrier;
use deadline::Deadline;
pub(crate) use deadline::seconds;
use pace::LowSpeedLimit;

/// Longest status or listing line accepted from a server, CRLF included.
/// RFC 1939 allows 512 octets; real servers stay far below this.
pub(crate) const MAX_LINE: usize = 8192;
/// Read buffer size: large enough for efficient TLS reads, fixed so memory
/// use does not depend on what a server sends.
const READ_BUFFER: usize = 64 * 1024;

enum Stream {
    Plain(Carrier),
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
    port: u16,
    /// The TCP connection goes to a proxy, not to the mail server: its
    /// peer address is the proxy's.
    via_proxy: bool,
    /// What the handshake settled, once TLS is up.
    tls_info: Option<TlsInfo>,
    /// The TLS handshake verified or pinned the certificate (see
    /// `server_verified()`).
    server_verified: bool,
    tracer: Tracer,
    io_timeout: Duration,
    /// The read timeout the socket has now: the I/O timeout, or less while
    /// a slow server is near a deadline (see `arm`).
    armed: Duration,
    bulk_pace: LowSpeedLimit,
    /// Times the socket's timeout was changed (the tests check that a fast
    /// server never causes one).
    #[cfg(test)]
    rearms: u32,
}

impl Connection {
    /// Resolve `host`, connect to the first address that answers (IPv4 and
    /// IPv6 alike, raced as Happy Eyeballs does), and start TLS at once if
    /// `implicit_tls`. The connect timeout bounds the lookup and the
    /// connection attempts together.
    pub fn open(host: &str, port: u16, implicit_tls: bool, opts: &ClientOptions) -> Result<Connection> {
        Connection::open_with_lookup(host, port, implicit_tls, opts, system_lookup)
    }

    /// [`open`](Self::open) with the host name looked up by `lookup`
    /// instead of the system's resolver (a test's or a program's own; it
    /// runs on a helper thread and is abandoned at the connect timeout).
    ///
    /// With a proxy (`opts.proxy`, or the environment's when
    /// `opts.proxy_from_environment`), the proxy is resolved and connected
    /// to instead and asked for `host`:`port`, all within the connect
    /// timeout; `lookup` then only runs for a SOCKS5 proxy set to resolve
    /// locally. TLS goes on with `host` as without a proxy.
    pub fn open_with_lookup<L>(
        host: &str,
        port: u16,
        implicit_tls: bool,
        opts: &ClientOptions,
        lookup: L,
    ) -> Result<Connection>
    where
        L: FnOnce(&str, u16) -> io::Result<Vec<SocketAddr>> + Send + 'static,
    {
        validate_host(host)?;
        let tracer = opts.tracer.clone();
        let deadline = Deadline::after(opts.connect_timeout);
        let proxy = match &opts.proxy {
            Some(p) => Some(p.clone()),
            None if opts.proxy_from_environment => proxy::from_environment(host)?,
            None => None,
        };
        let carrier =
            match &proxy {
                Some(p) => proxy::open_tunnel(p, host, port, deadline, &opts.tls, &tracer, lookup)?,
                None => {
                    let addrs = resolve::resolve(host, port, deadline, lookup)?;
                    Carrier::Tcp(connect::connect_first(&addrs, deadline, &tracer).map_err(|failures| {
                        Error::Connect(connect::describe(host, port, deadline.budget(), &failures))
                    })?)
                }
            };
        let tcp = carrier.socket();
        let _ = tcp.set_nodelay(true);
        tcp.set_read_timeout(Some(opts.io_timeout)).map_err(|e| Error::from_io(e, "setting up the connection"))?;
        tcp.set_write_timeout(Some(opts.io_timeout)).map_err(|e| Error::from_io(e, "setting up the connection"))?;
        let mut conn = Connection::over(Stream::Plain(carrier), host, port, tracer, opts.io_timeout);
        conn.via_proxy = proxy.is_some();
        if implicit_tls {
            conn.start_tls(opts)?;
        }
        Ok(conn)
    }

    /// A connection to an in-memory peer that sends `stream`'s bytes: how
    /// the fuzz targets and unit tests drive the parsers.
    pub fn scripted(stream: ScriptedStream, tracer: Tracer) -> Connection {
        Connection::over(Stream::Scripted(Box::new(stream)), "scripted", 0, tracer, DEFAULT_IO_TIMEOUT)
    }

    fn over(stream: Stream, host: &str, port: u16, tracer: Tracer, io_timeout: Duration) -> Connection {
        Connection {
            stream,
            buf: vec![0u8; READ_BUFFER].into_boxed_slice(),
            pos: 0,
            end: 0,
            out: Vec::with_capacity(4096),
            host: host.to_string(),
            port,
            via_proxy: false,
            tls_info: None,
            server_verified: false,
            tracer,
            io_timeout,
            armed: io_timeout,
            bulk_pace: LowSpeedLimit::default(),
            #[cfg(test)]
            rearms: 0,
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
        // The handshake gets the whole I/O timeout per read, whatever the
        // last reply line left armed.
        self.arm(self.io_timeout)?;
        let tcp = match std::mem::replace(&mut self.stream, Stream::Closed) {
            Stream::Plain(tcp) => tcp,
            other => {
                self.stream = other;
                return Err(Error::Protocol("TLS is already active".into()));
            }
        };
        let callback = opts.certificate_callback.as_ref();
        let established =
            tls::handshake(tcp, &self.host, self.port, &opts.tls, callback, &self.tracer).inspect_err(|e| {
                // The TLS library's own words, kept out of the message.
                if let Some(detail) = e.detail() {
                    self.tracer.info(format!("TLS handshake failed: {detail}"));
                }
            })?;
        // A certificate the callback accepted counts as pinned: the user
        // trusted exactly this one.
        self.server_verified = opts.tls.pin_sha256.is_some() || !opts.tls.danger_accept_invalid_certs;
        self.tls_info = Some(established.info);
        self.stream = Stream::Tls(Box::new(established.stream));
        self.tracer.info("TLS established");
        Ok(())
    }

    pub fn is_tls(&self) -> bool {
        matches!(self.stream, Stream::Tls(_))
    }

    /// In clear, before anything was read: whether the server sends
    /// something within `patience` (false: it is silent so far). What
    /// arrives stays for the next read; other streams always say true.
    pub(crate) fn sends_within(&mut self, patience: Duration) -> Result<bool> {
        // Through an HTTPS proxy there is no peeking into the tunnel.
        let Stream::Plain(Carrier::Tcp(tcp)) = &self.stream else { return Ok(true) };
        if self.pos != self.end {
            return Ok(true);
        }
        tcp.set_read_timeout(Some(patience.max(Duration::from_millis(1))))
            .map_err(|e| Error::from_io(e, "setting the read timeout"))?;
        let mut byte = [0u8; 1];
        let peeked = tcp.peek(&mut byte);
        tcp.set_read_timeout(Some(self.armed)).map_err(|e| Error::from_io(e, "setting the read timeout"))?;
        match peeked {
            Ok(_) => Ok(true), // data, or the end of the stream: the next read tells
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => Ok(false),
            Err(e) => Err(Error::from_io(e, "waiting for the server's greeting")),
        }
    }

    /// The mail server's address connected to; `None` through a proxy
    /// (the peer is the proxy) and for in-memory streams.
    pub(crate) fn peer_addr(&self) -> Option<SocketAddr> {
        if self.via_proxy {
            return None;
        }
        match &self.stream {
            Stream::Plain(carrier) => carrier.socket().peer_addr().ok(),
            Stream::Tls(s) => s.get_ref().socket().peer_addr().ok(),
            Stream::Scripted(_) | Stream::Closed => None,
        }
    }

    /// The host name the connection was opened to (as given).
    pub(crate) fn host(&self) -> &str {
        &self.host
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
        self.tls_info.as_ref()?.peer_sha256
    }

    /// What the TLS handshake settled (version, cipher, certificate).
    pub fn tls_info(&self) -> Option<&TlsInfo> {
        self.tls_info.as_ref()
    }

    /// Record that the certificate failed verification for `reason` and
    /// the certificate callback accepted it, on a connection that pinned
    /// it for that (see `session::second_look`).
    pub(crate) fn note_accepted_despite(&mut self, reason: crate::error::CertificateReason) {
        if let Some(info) = &mut self.tls_info {
            info.accepted_despite = Some(reason);
        }
    }

    /// The channel binding data of this TLS connection, for SCRAM's -PLUS
    /// variants; `None` without TLS or where the TLS library cannot give it.
    pub fn channel_binding(&self) -> Option<ChannelBinding> {
        match &self.stream {
            Stream::Tls(s) => tls::channel_binding(s).map(|(kind, data)| ChannelBinding { kind, data }),
            _ => None,
        }
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
    /// ones. Fails on end of stream, when the buffer is already full, and
    /// when the server sends slower than the low-speed limit for bulk data
    /// (see `pace.rs`).
    pub fn fill(&mut self) -> Result<()> {
        self.make_room()?;
        let window = self.io_timeout;
        let wait = self.bulk_pace.wait_allowed(window);
        let started = Instant::now();
        let n = self.read_some(wait).map_err(|e| match e {
            Error::Timeout(_) if wait < window => self.too_slow_bulk(),
            Error::Timeout(_) => Error::Timeout(format!("no data from the server within {}", seconds(window))),
            e => e,
        })?;
        if !self.bulk_pace.record(started.elapsed(), n, window) {
            return Err(self.too_slow_bulk());
        }
        Ok(())
    }

    /// Read one line and hand it, without its line end, to `f`. The line is
    /// traced as a reply. Lines over [`MAX_LINE`] are an error, and so is a
    /// line not complete within the I/O timeout, however the server spreads
    /// its bytes.
    pub fn read_line<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Result<R> {
        // A new reply: bulk data after it starts a fresh low-speed window.
        self.bulk_pace.restart();
        let mut deadline = None;
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
            // The clock starts when the library first has to wait.
            let deadline = *deadline.get_or_insert_with(|| Deadline::after(self.io_timeout));
            self.fill_line(deadline)?;
        }
    }

    /// One read for `read_line`, ending by the line's deadline.
    fn fill_line(&mut self, deadline: Deadline) -> Result<()> {
        let timed_out = |partial: bool| {
            Error::Timeout(if partial {
                format!(
                    "the server was too slow to answer: its reply line was still incomplete after {}",
                    seconds(deadline.budget())
                )
            } else {
                format!("no answer from the server within {}", seconds(deadline.budget()))
            })
        };
        let left = deadline.remaining();
        if left.is_zero() {
            return Err(timed_out(self.pos != self.end));
        }
        self.make_room()?;
        match self.read_some(left) {
            Err(Error::Timeout(_)) => Err(timed_out(self.pos != self.end)),
            r => r.map(|_| ()),
        }
    }

    fn too_slow_bulk(&self) -> Error {
        Error::Timeout(format!(
            "the server sends too slowly: under {} bytes in {} (the minimum is {} bytes/s)",
            pace::quota(self.io_timeout),
            seconds(self.io_timeout),
            pace::MIN_BULK_BYTES_PER_SECOND
        ))
    }

    /// Keep unconsumed bytes and make room after them.
    fn make_room(&mut self) -> Result<()> {
        if self.pos > 0 && self.end == self.buf.len() {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
        }
        if self.end == self.buf.len() {
            return Err(Error::ReplyTooLong(self.buf.len()));
        }
        Ok(())
    }

    /// One read into the free end of the buffer, waiting at most `wait`;
    /// the number of bytes read (never 0: end of stream is an error).
    fn read_some(&mut self, wait: Duration) -> Result<usize> {
        self.arm(wait)?;
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
        Ok(n)
    }

    /// Give the socket a read timeout of `wait`, but only when that is
    /// shorter than the normal timeout by more than a small slack (or the
    /// socket's timeout is short and `wait` is not): a fast server never
    /// costs a system call here.
    fn arm(&mut self, wait: Duration) -> Result<()> {
        let slack = self.io_timeout / 50;
        let wanted = if wait + slack >= self.io_timeout { self.io_timeout } else { wait.max(Duration::from_millis(1)) };
        if wanted == self.armed {
            return Ok(());
        }
        let socket = match &self.stream {
            Stream::Plain(carrier) => carrier.socket(),
            Stream::Tls(s) => s.get_ref().socket(),
            Stream::Scripted(_) | Stream::Closed => return Ok(()),
        };
        socket.set_read_timeout(Some(wanted)).map_err(|e| Error::from_io(e, "setting the read timeout"))?;
        self.armed = wanted;
        #[cfg(test)]
        {
            self.rearms += 1;
        }
        Ok(())
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.close();
    }
}

pub(crate) fn validate_host(host: &str) -> Result<()> {
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
    use std::net::TcpStream;

    #[test]
    fn host_names_with_controls_are_refused() {
        assert!(validate_host("").is_err());
        assert!(validate_host("mail.example.org\r\nQUIT").is_err());
        assert!(validate_host("a b").is_err());
        assert!(validate_host("mail.example.org").is_ok());
    }

    /// A loopback server that accepts one connection and runs `serve` on it.
    fn serve(serve: impl FnOnce(TcpStream) + Send + 'static) -> (u16, std::thread::JoinHandle<()>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let thread = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            serve(stream);
        });
        (port, thread)
    }

    fn connect(port: u16, io_timeout: Duration) -> Connection {
        let opts = ClientOptions { io_timeout, connect_timeout: Duration::from_secs(5), ..ClientOptions::default() };
        Connection::open("127.0.0.1", port, false, &opts).unwrap()
    }

    fn trickle(stream: &mut TcpStream, bytes: &[u8], every: Duration) {
        for b in bytes {
            if stream.write_all(std::slice::from_ref(b)).is_err() {
                return;
            }
            std::thread::sleep(every);
        }
    }

    fn read_line_text(conn: &mut Connection) -> Result<String> {
        conn.read_line(|l| String::from_utf8_lossy(l).into_owned())
    }

    #[test]
    fn a_trickled_reply_line_times_out_at_the_io_timeout() {
        let (port, server) =
            serve(|mut s| trickle(&mut s, b"+OK a greeting that takes its time\r\n", Duration::from_millis(60)));
        let mut conn = connect(port, Duration::from_millis(500));
        let started = Instant::now();
        let err = read_line_text(&mut conn).unwrap_err();
        let took = started.elapsed();
        assert!(matches!(&err, Error::Timeout(m) if m.contains("too slow to answer")), "{err:?}");
        assert!(took >= Duration::from_millis(480) && took < Duration::from_millis(1500), "{took:?}");
        drop(conn);
        server.join().unwrap();
    }

    #[test]
    fn a_reply_line_in_pieces_within_the_timeout_is_read_and_bulk_data_gets_the_whole_timeout_back() {
        let (port, server) = serve(|mut s| {
            s.write_all(b"+OK in ").unwrap();
            std::thread::sleep(Duration::from_millis(120));
            s.write_all(b"three ").unwrap();
            std::thread::sleep(Duration::from_millis(120));
            s.write_all(b"pieces\r\n").unwrap();
            std::thread::sleep(Duration::from_millis(350));
            s.write_all(b"body").unwrap();
        });
        let io = Duration::from_millis(400);
        let mut conn = connect(port, io);
        assert_eq!(read_line_text(&mut conn).unwrap(), "+OK in three pieces");
        assert!(conn.armed < io, "the third read was bounded by what was left of the line's time");
        // Bulk data gets the whole timeout back (350 ms is more than the
        // line had left).
        conn.fill().unwrap();
        assert_eq!(conn.buffered(), b"body");
        assert_eq!(conn.armed, io);
        server.join().unwrap();
    }

    #[test]
    fn a_line_that_arrives_whole_just_under_the_timeout_is_read() {
        let (port, server) = serve(|mut s| {
            std::thread::sleep(Duration::from_millis(400));
            s.write_all(b"+OK late but whole\r\n").unwrap();
        });
        let mut conn = connect(port, Duration::from_millis(600));
        assert_eq!(read_line_text(&mut conn).unwrap(), "+OK late but whole");
        assert_eq!(conn.rearms, 0);
        server.join().unwrap();
    }

    #[test]
    fn bulk_data_below_the_low_speed_limit_is_cut_off() {
        let (port, server) = serve(|mut s| {
            s.write_all(b"+OK\r\n").unwrap();
            // Each byte well inside the 400 ms timeout, 20 bytes/s in all.
            trickle(&mut s, &[b'x'; 100], Duration::from_millis(50));
        });
        let io = Duration::from_millis(400);
        let mut conn = connect(port, io);
        read_line_text(&mut conn).unwrap();
        let started = Instant::now();
        let err = loop {
            match conn.fill() {
                Ok(()) => conn.consume(conn.buffered().len()),
                Err(e) => break e,
            }
        };
        let took = started.elapsed();
        assert!(matches!(&err, Error::Timeout(m) if m.contains("too slowly")), "{err:?}");
        assert!(took >= Duration::from_millis(380) && took < Duration::from_millis(1500), "{took:?}");
        drop(conn);
        server.join().unwrap();
    }

    #[test]
    fn fast_bulk_data_costs_no_timeout_changes() {
        let (port, server) = serve(|mut s| {
            s.write_all(b"+OK\r\n").unwrap();
            for _ in 0..64 {
                s.write_all(&[b'x'; 64 * 1024]).unwrap();
                // Pauses the low-speed limit forgives: the bytes came.
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        let mut conn = connect(port, Duration::from_millis(300));
        read_line_text(&mut conn).unwrap();
        let mut total = 0;
        while total < 64 * 64 * 1024 {
            conn.fill().unwrap();
            total += conn.buffered().len();
            conn.consume(conn.buffered().len());
        }
        assert_eq!(conn.rearms, 0);
        server.join().unwrap();
    }
}
