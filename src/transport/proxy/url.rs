//! What a proxy is: its kind, address and credentials, from a URL
//! (`socks5h://user:pass@host:1080`) or from separate fields, checked when
//! it is made so that a bad proxy fails before anything is sent.

use crate::error::{Error, Result};

/// The proxy protocols mailtls speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyKind {
    /// SOCKS5 (RFC 1928), the proxy resolving the mail server's name (the
    /// name goes to the proxy, no local lookup): `socks5h://`, and also
    /// `socks5://`, so a name is never looked up locally unless asked.
    Socks5,
    /// SOCKS5 with the mail server's name looked up on this machine and
    /// its address sent to the proxy. Only ever chosen explicitly.
    Socks5LocalDns,
    /// SOCKS4a: the proxy resolves the name; user name only, no password.
    Socks4a,
    /// HTTP CONNECT (RFC 9110 section 9.3.6), Basic authentication.
    Http,
    /// HTTP CONNECT over TLS to the proxy (an HTTPS proxy), verified
    /// against the proxy's name with the connection's CA settings and
    /// minimum TLS version (the mail server's pin, certificate callback
    /// and danger switch are the mail server's alone). The mail server's
    /// TLS then runs inside that TLS.
    Https,
}

impl ProxyKind {
    /// The URL scheme that names this kind.
    pub fn scheme(self) -> &'static str {
        match self {
            ProxyKind::Socks5 => "socks5h",
            ProxyKind::Socks5LocalDns => "socks5",
            ProxyKind::Socks4a => "socks4a",
            ProxyKind::Http => "http",
            ProxyKind::Https => "https",
        }
    }

    fn default_port(self) -> u16 {
        // curl's defaults: 443 for an HTTPS proxy, 1080 for every other.
        if self == ProxyKind::Https { 443 } else { 1080 }
    }

    /// HTTP CONNECT, over TLS or not.
    pub(crate) fn is_http(self) -> bool {
        matches!(self, ProxyKind::Http | ProxyKind::Https)
    }
}

/// A user name and password for the proxy: secrets, never shown in Debug
/// output, messages or traces.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyCredentials {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for ProxyCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProxyCredentials(<redacted>)")
    }
}

/// A proxy to connect through (see [`Proxy::parse`], [`Proxy::new`]).
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    kind: ProxyKind,
    host: String,
    port: u16,
    credentials: Option<ProxyCredentials>,
}

/// Longest host name, user name or password SOCKS can carry (one length
/// byte).
pub(crate) const SOCKS_MAX_FIELD: usize = 255;

impl Proxy {
    /// A proxy from separate fields; port 0 means 1080 (443 for HTTPS). `credentials` are
    /// checked for what the kind can carry.
    pub fn new(kind: ProxyKind, host: &str, port: u16, credentials: Option<ProxyCredentials>) -> Result<Proxy> {
        check_host(host)?;
        if let Some(c) = &credentials {
            check_credentials(kind, c)?;
        }
        let port = if port == 0 { kind.default_port() } else { port };
        Ok(Proxy { kind, host: host.to_string(), port, credentials })
    }

    /// A proxy from a URL: `socks5h://`, `socks5://` (both: the proxy
    /// resolves the mail server's name), `socks4a://`, `http://` or
    /// `https://`, then optional `user:password@` (percent-encoded as in
    /// any URL), the host (IPv6 in brackets) and an optional `:port`
    /// (default 1080, 443 for https), and nothing after but an optional
    /// `/`.
    pub fn parse(url: &str) -> Result<Proxy> {
        let malformed = |why: &str| Error::InvalidArgument(format!("the proxy URL is malformed: {why}"));
        if url.bytes().any(|b| b.is_ascii_control() || b == b' ') {
            return Err(malformed("it contains spaces or control characters"));
        }
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(malformed("it does not start with a scheme such as socks5h:// or http://"));
        };
        let kind = match scheme.to_ascii_lowercase().as_str() {
            "socks5h" | "socks5" => ProxyKind::Socks5,
            "socks4a" => ProxyKind::Socks4a,
            "http" => ProxyKind::Http,
            "https" => ProxyKind::Https,
            other => {
                return Err(Error::InvalidArgument(format!(
                    "unknown proxy scheme {other:?}: use socks5h://, socks5://, socks4a://, http:// or https://"
                )));
            }
        };
        let (authority, path) = match rest.find(['/', '?', '#']) {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if !path.is_empty() && path != "/" {
            return Err(malformed("a proxy URL has no path, query or fragment"));
        }
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (host, port) = split_host_port(hostport).map_err(&malformed)?;
        let credentials = match userinfo {
            None => None,
            Some(info) => {
                let (user, password) = info.split_once(':').unwrap_or((info, ""));
                Some(ProxyCredentials {
                    user: percent_decode(user).ok_or_else(|| malformed("bad percent-encoding in the user name"))?,
                    password: percent_decode(password)
                        .ok_or_else(|| malformed("bad percent-encoding in the password"))?,
                })
            }
        };
        Proxy::new(kind, host, port.unwrap_or(0), credentials)
    }

    /// The same proxy with the mail server's name looked up locally (for
    /// SOCKS5; other kinds are unchanged).
    pub fn resolving_locally(mut self) -> Proxy {
        if self.kind == ProxyKind::Socks5 {
            self.kind = ProxyKind::Socks5LocalDns;
        }
        self
    }

    pub fn kind(&self) -> ProxyKind {
        self.kind
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn credentials(&self) -> Option<&ProxyCredentials> {
        self.credentials.as_ref()
    }

    /// How messages name the proxy: its address and kind, never its
    /// credentials ("the SOCKS5 proxy 127.0.0.1:1080").
    pub(crate) fn describe(&self) -> String {
        let kind = match self.kind {
            ProxyKind::Socks5 | ProxyKind::Socks5LocalDns => "SOCKS5",
            ProxyKind::Socks4a => "SOCKS4a",
            ProxyKind::Http => "HTTP",
            ProxyKind::Https => "HTTPS",
        };
        format!("the {kind} proxy {}", host_port(&self.host, self.port))
    }
}

/// Shows the kind and address; the credentials only as `<redacted>`.
impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let userinfo = if self.credentials.is_some() { "<redacted>@" } else { "" };
        write!(f, "Proxy({}://{userinfo}{})", self.kind.scheme(), host_port(&self.host, self.port))
    }
}

/// `host:port`, an IPv6 address in brackets.
pub(crate) fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}

fn split_host_port(hostport: &str) -> std::result::Result<(&str, Option<u16>), &'static str> {
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        let (v6, after) = rest.split_once(']').ok_or("an IPv6 address lacks its closing bracket")?;
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return Err("the address in brackets is not an IPv6 address");
        }
        match after {
            "" => (v6, None),
            _ => (v6, Some(after.strip_prefix(':').ok_or("only a :port may follow the IPv6 address")?)),
        }
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return Err("the proxy host is missing");
    }
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => return Err("the port is not a number from 1 to 65535"),
        },
    };
    Ok((host, port))
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn check_host(host: &str) -> Result<()> {
    if host.is_empty() {
        return Err(Error::InvalidArgument("the proxy host is empty".into()));
    }
    if host.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || b"/?#@".contains(&b)) {
        return Err(Error::InvalidArgument("the proxy host contains spaces, control characters or /?#@".into()));
    }
    if host.len() > SOCKS_MAX_FIELD {
        return Err(Error::InvalidArgument(format!("the proxy host is longer than {SOCKS_MAX_FIELD} bytes")));
    }
    Ok(())
}

/// What each kind can carry: RFC 1929's one-byte lengths, SOCKS4a's
/// NUL-terminated user id and no password, HTTP Basic's user without a
/// colon; never a line break or NUL.
fn check_credentials(kind: ProxyKind, c: &ProxyCredentials) -> Result<()> {
    let bad = |why: String| Err(Error::InvalidArgument(why));
    for (what, value) in [("user name", &c.user), ("password", &c.password)] {
        if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            return bad(format!("the proxy {what} contains a line break or NUL"));
        }
    }
    if c.user.is_empty() {
        return bad("the proxy user name is empty".into());
    }
    match kind {
        ProxyKind::Socks5 | ProxyKind::Socks5LocalDns => {
            for (what, value) in [("user name", &c.user), ("password", &c.password)] {
                if value.len() > SOCKS_MAX_FIELD {
                    return bad(format!("the proxy {what} is longer than the {SOCKS_MAX_FIELD} bytes SOCKS5 allows"));
                }
            }
        }
        ProxyKind::Socks4a if !c.password.is_empty() => {
            return bad("a SOCKS4a proxy takes a user name but no password: use socks5h:// for a password".into());
        }
        ProxyKind::Socks4a => {}
        ProxyKind::Http | ProxyKind::Https if c.user.contains(':') => {
            return bad("the proxy user name contains a colon, which HTTP Basic authentication cannot carry".into());
        }
        ProxyKind::Http | ProxyKind::Https => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(url: &str) -> String {
        match Proxy::parse(url) {
            Err(Error::InvalidArgument(m)) => m,
            other => panic!("{url}: {other:?}"),
        }
    }

    #[test]
    fn socks5_urls_name_remote_resolution_by_default() {
        let p = Proxy::parse("socks5h://127.0.0.1:1080").unwrap();
        assert_eq!((p.kind(), p.host(), p.port(), p.credentials()), (ProxyKind::Socks5, "127.0.0.1", 1080, None));
        assert_eq!(Proxy::parse("SOCKS5://proxy.example:9050/").unwrap().kind(), ProxyKind::Socks5);
        let local = Proxy::parse("socks5://proxy.example").unwrap().resolving_locally();
        assert_eq!((local.kind(), local.port()), (ProxyKind::Socks5LocalDns, 1080));
    }

    #[test]
    fn credentials_are_percent_decoded_and_never_shown() {
        let p = Proxy::parse("http://us%40er:p%3Ass:w@[::1]:3128").unwrap();
        assert_eq!((p.kind(), p.host(), p.port()), (ProxyKind::Http, "::1", 3128));
        let c = p.credentials().unwrap();
        assert_eq!((c.user.as_str(), c.password.as_str()), ("us@er", "p:ss:w"));
        let shown = format!("{p:?} {c:?} {}", p.describe());
        assert!(!shown.contains("us@er") && !shown.contains("p:ss"), "{shown}");
        assert_eq!(format!("{p:?}"), "Proxy(http://<redacted>@[::1]:3128)");
        assert_eq!(p.describe(), "the HTTP proxy [::1]:3128");
        let s4 = Proxy::parse("socks4a://me@10.0.0.1").unwrap();
        assert_eq!((s4.kind(), s4.credentials().unwrap().user.as_str()), (ProxyKind::Socks4a, "me"));
    }

    #[test]
    fn malformed_urls_and_unknown_schemes_are_invalid_arguments() {
        assert!(invalid("127.0.0.1:1080").contains("scheme"));
        assert!(invalid("ftp://h:1").contains("unknown proxy scheme \"ftp\""));
        assert!(invalid("socks4://h").contains("unknown proxy scheme"));
        assert_eq!(Proxy::parse("https://h").unwrap().port(), 443);
        assert_eq!(Proxy::parse("https://h").unwrap().kind(), ProxyKind::Https);
        assert!(invalid("http://h:0").contains("port"));
        assert!(invalid("http://h:65536").contains("port"));
        assert!(invalid("http://h:+80").contains("port"));
        assert!(invalid("http://h:x").contains("port"));
        assert!(invalid("http://:80").contains("host is missing"));
        assert!(invalid("http://[::1:80").contains("bracket"));
        assert!(invalid("http://[nothost]:80").contains("IPv6"));
        assert!(invalid("http://h/path").contains("no path"));
        assert!(invalid("http://h?q").contains("no path"));
        assert!(invalid("http://h\r\n:80").contains("control"));
        assert!(invalid("http://u%zz:p@h").contains("percent"));
        assert!(invalid("http://u%0d%0a:p@h").contains("line break"));
        assert!(invalid("http://u:p%00@h").contains("line break or NUL"));
        assert!(invalid("http://:p@h").contains("user name is empty"));
    }

    #[test]
    fn what_socks_cannot_carry_is_refused() {
        let long = "x".repeat(256);
        assert!(invalid(&format!("socks5h://{long}:p@h")).contains("longer than the 255 bytes"));
        assert!(invalid(&format!("socks5h://u:{long}@h")).contains("password is longer"));
        assert!(Proxy::parse(&format!("socks5h://{}:{}@h", "u".repeat(255), "p".repeat(255))).is_ok());
        assert!(invalid(&format!("socks5h://{long}")).contains("host is longer"));
        assert!(invalid("socks4a://u:p@h").contains("no password"));
        let colon = ProxyCredentials { user: "a:b".into(), password: "p".into() };
        assert!(Proxy::new(ProxyKind::Http, "h", 0, Some(colon)).is_err());
    }
}
