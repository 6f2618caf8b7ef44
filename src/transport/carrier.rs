//! The byte stream a session runs on: a TCP connection (to the mail server,
//! or a tunnel through a SOCKS or HTTP proxy), or the TLS session with an
//! HTTPS proxy that carries the tunnel. The mail server's own TLS runs on
//! top of either, so TLS through an HTTPS proxy is TLS inside TLS.

use std::io::{self, Read, Write};
use std::net::TcpStream;

use super::tls;

pub(crate) enum Carrier {
    Tcp(TcpStream),
    /// TLS with an HTTPS proxy, verified against the proxy's name; the
    /// tunnel's bytes are its application data.
    ProxyTls(Box<tls::Stream>),
}

impl Carrier {
    /// The socket underneath, whose timeouts bound every read and write.
    pub fn socket(&self) -> &TcpStream {
        match self {
            Carrier::Tcp(tcp) => tcp,
            Carrier::ProxyTls(tls) => tls.get_ref().socket(),
        }
    }
}

impl std::fmt::Debug for Carrier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Carrier::Tcp(tcp) => write!(f, "Carrier::Tcp({tcp:?})"),
            Carrier::ProxyTls(_) => write!(f, "Carrier::ProxyTls({:?})", self.socket()),
        }
    }
}

impl Read for Carrier {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Carrier::Tcp(tcp) => tcp.read(buf),
            Carrier::ProxyTls(tls) => tls.read(buf),
        }
    }
}

impl Write for Carrier {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Carrier::Tcp(tcp) => tcp.write(buf),
            Carrier::ProxyTls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Carrier::Tcp(tcp) => tcp.flush(),
            Carrier::ProxyTls(tls) => tls.flush(),
        }
    }
}
