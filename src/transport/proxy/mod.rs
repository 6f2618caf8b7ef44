//! Connecting through a proxy: SOCKS5, SOCKS4a or HTTP CONNECT. The proxy
//! is resolved and connected to like any server, its handshake runs within
//! the same connect deadline, and what comes back is a plain TCP stream to
//! the mail server, on which TLS (with the mail server's name) goes on as
//! without a proxy.
//!
//! A proxy's reply is read exactly: SOCKS replies by their length, an HTTP
//! reply up to its blank line one byte at a time, so the mail server's
//! greeting that may follow in the same segment stays in the socket.

mod environment;
mod http_connect;
mod socks4a;
mod socks5;
mod url;

pub use url::{Proxy, ProxyCredentials, ProxyKind};

pub(crate) use environment::from_environment;

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use super::carrier::Carrier;
use super::connect;
use super::deadline::{Deadline, seconds};
use super::resolve;
use crate::error::{Error, Result};
use crate::options::TlsOptions;
use crate::trace::Tracer;
use url::{SOCKS_MAX_FIELD, host_port};

impl Proxy {
    /// The proxy the environment names for `host`, as curl reads it
    /// (`all_proxy`/`ALL_PROXY`, except for hosts `no_proxy`/`NO_PROXY`
    /// lists); `None`: connect directly. What
    /// [`ClientOptions::proxy_from_environment`](crate::ClientOptions::proxy_from_environment)
    /// does at each connect.
    pub fn from_environment(host: &str) -> Result<Option<Proxy>> {
        from_environment(host)
    }
}

/// The mail server as the proxy is asked for it.
pub(crate) struct Target<'a> {
    pub host: &'a str,
    pub port: u16,
}

impl Target<'_> {
    fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }

    fn describe(&self) -> String {
        host_port(self.host, self.port)
    }
}

/// A stream through `proxy` to `host`:`port`, within `deadline`: TCP, or
/// for an HTTPS proxy the TLS session with it (verified with `tls`'s CA
/// settings and minimum version). `lookup` resolves the mail server's
/// name, and is only used when the proxy kind asks for local resolution.
pub(crate) fn open_tunnel<L>(
    proxy: &Proxy,
    host: &str,
    port: u16,
    deadline: Deadline,
    tls: &TlsOptions,
    tracer: &Tracer,
    lookup: L,
) -> Result<Carrier>
where
    L: FnOnce(&str, u16) -> io::Result<Vec<SocketAddr>> + Send + 'static,
{
    let target = Target { host, port };
    check_target(proxy.kind(), &target)?;
    // Local resolution happens before the proxy is contacted, so that a
    // name that does not resolve is said as such.
    let local_address = match proxy.kind() {
        ProxyKind::Socks5LocalDns => {
            let addrs = resolve::resolve(host, port, deadline, lookup)?;
            tracer.info(format!("{host} is {} (looked up here, as the proxy settings ask)", addrs[0].ip()));
            Some(addrs[0].ip())
        }
        _ => None,
    };
    let tcp = connect_to_proxy(proxy, deadline, tracer)?;
    let mut carrier = match proxy.kind() {
        ProxyKind::Https => tls_to_proxy(tcp, proxy, deadline, tls, tracer)?,
        _ => Carrier::Tcp(tcp),
    };
    let mut wire = Wire { carrier: &mut carrier, deadline, proxy };
    match proxy.kind() {
        ProxyKind::Socks5 | ProxyKind::Socks5LocalDns => socks5::handshake(&mut wire, &target, local_address, tracer)?,
        ProxyKind::Socks4a => socks4a::handshake(&mut wire, &target, tracer)?,
        ProxyKind::Http | ProxyKind::Https => http_connect::handshake(&mut wire, &target, tracer)?,
    }
    tracer.info(format!("{} connected us to {}", proxy.describe(), target.describe()));
    Ok(carrier)
}

/// TLS with an HTTPS proxy, checked as any server is against the proxy's
/// name, within the connect deadline. The mail server's pin, certificate
/// callback and danger switch do not apply: they are about the mail
/// server. A certificate failure keeps its CERTIFICATE_* kind, its message
/// naming the proxy's host and port.
fn tls_to_proxy(
    tcp: TcpStream,
    proxy: &Proxy,
    deadline: Deadline,
    tls: &TlsOptions,
    tracer: &Tracer,
) -> Result<Carrier> {
    let left = deadline.remaining().max(Duration::from_millis(1));
    for set in [TcpStream::set_read_timeout, TcpStream::set_write_timeout] {
        set(&tcp, Some(left)).map_err(|e| Error::from_io(e, "setting up the proxy connection"))?;
    }
    let proxy_tls = TlsOptions { pin_sha256: None, danger_accept_invalid_certs: false, ..tls.clone() };
    let established = super::tls::handshake(Carrier::Tcp(tcp), proxy.host(), proxy.port(), &proxy_tls, None, tracer)
        .map_err(|e| match e {
            Error::Timeout(_) => Error::Timeout(format!(
                "{} did not finish its TLS handshake within the connect timeout of {}",
                proxy.describe(),
                seconds(deadline.budget())
            )),
            e => e,
        })?;
    tracer.info(format!("TLS with {} established", proxy.describe()));
    Ok(Carrier::ProxyTls(Box::new(established.stream)))
}

/// Refuse, before anything is sent, a mail server the proxy kind cannot
/// be asked for.
fn check_target(kind: ProxyKind, target: &Target) -> Result<()> {
    let remote_name = target.ip().is_none() && kind != ProxyKind::Socks5LocalDns;
    if remote_name && target.host.len() > SOCKS_MAX_FIELD && !kind.is_http() {
        return Err(Error::InvalidArgument(format!(
            "the server name is longer than the {SOCKS_MAX_FIELD} bytes a SOCKS proxy can be sent"
        )));
    }
    if kind == ProxyKind::Socks4a && matches!(target.ip(), Some(IpAddr::V6(_))) {
        return Err(Error::InvalidArgument(
            "a SOCKS4a proxy cannot connect to an IPv6 address: give the server's name, or use socks5h://".into(),
        ));
    }
    if target.host.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(Error::InvalidArgument("the server name contains a line break or NUL".into()));
    }
    Ok(())
}

fn connect_to_proxy(proxy: &Proxy, deadline: Deadline, tracer: &Tracer) -> Result<TcpStream> {
    let name = proxy.describe();
    tracer.info(format!("connecting through {name}"));
    let addrs =
        resolve::resolve(proxy.host(), proxy.port(), deadline, resolve::system_lookup).map_err(|e| match e {
            Error::Resolve { host, reason } => {
                Error::ProxyUnreachable(format!("could not find the name of the proxy {host:?}: {reason}"))
            }
            e => e,
        })?;
    connect::connect_first(&addrs, deadline, tracer).map_err(|failures| {
        let why = connect::describe(proxy.host(), proxy.port(), deadline.budget(), &failures);
        Error::ProxyUnreachable(format!("could not reach {name}: {why}"))
    })
}

/// The proxy connection during the handshake: every read and write ends
/// by the connect deadline.
pub(crate) struct Wire<'a> {
    carrier: &'a mut Carrier,
    deadline: Deadline,
    proxy: &'a Proxy,
}

impl Wire<'_> {
    pub fn proxy(&self) -> &Proxy {
        self.proxy
    }

    pub fn send(&mut self, bytes: &[u8]) -> Result<()> {
        let left = self.time_left()?;
        self.carrier
            .socket()
            .set_write_timeout(Some(left))
            .map_err(|e| Error::from_io(e, "setting up the proxy connection"))?;
        self.carrier
            .write_all(bytes)
            .and_then(|_| self.carrier.flush())
            .map_err(|e| self.failed(e, "while we were sending to it"))
    }

    /// Exactly `buf.len()` bytes, `what` saying what they are for messages.
    pub fn read_exact(&mut self, buf: &mut [u8], what: &str) -> Result<()> {
        let mut got = 0;
        while got < buf.len() {
            let left = self.time_left()?;
            self.carrier
                .socket()
                .set_read_timeout(Some(left))
                .map_err(|e| Error::from_io(e, "setting up the proxy connection"))?;
            match self.carrier.read(&mut buf[got..]) {
                Ok(0) => {
                    return Err(Error::ProxyProtocol(format!(
                        "{} closed the connection before its {what} was complete",
                        self.proxy.describe()
                    )));
                }
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.failed(e, &format!("while we waited for its {what}"))),
            }
        }
        Ok(())
    }

    fn time_left(&self) -> Result<Duration> {
        let left = self.deadline.remaining();
        if left.is_zero() {
            return Err(self.timed_out());
        }
        Ok(left.max(Duration::from_millis(1)))
    }

    fn timed_out(&self) -> Error {
        Error::Timeout(format!(
            "{} did not finish its handshake within the connect timeout of {}",
            self.proxy.describe(),
            seconds(self.deadline.budget())
        ))
    }

    fn failed(&self, e: io::Error, when: &str) -> Error {
        use io::ErrorKind::*;
        match e.kind() {
            WouldBlock | TimedOut => self.timed_out(),
            ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof => {
                Error::ProxyProtocol(format!("{} dropped the connection {when}", self.proxy.describe()))
            }
            _ => Error::from_io(e, "talking to the proxy"),
        }
    }
}

/// Text a proxy sent, made safe to show: printable ASCII only, bounded.
pub(crate) fn shown(bytes: &[u8]) -> String {
    let text: String =
        bytes.iter().take(200).map(|&b| if (0x20..0x7f).contains(&b) { b as char } else { '?' }).collect();
    text.trim().to_string()
}
