//! The proxy settings of `mailtls_options`: a URL, separate fields, or the
//! environment's proxy when the caller asks for it.

use std::ffi::c_char;

use super::arguments::{arg_optional_str, arg_str};
use super::options::{mailtls_options, set};
use super::result::mailtls_result;
use crate::error::Error;
use crate::options::{Proxy, ProxyCredentials, ProxyKind};

/// A proxy protocol: one of the MAILTLS_PROXY_* constants.
pub type mailtls_proxy_kind = u32;

/// SOCKS5 (RFC 1928) with the mail server's name sent to the proxy, which
/// looks it up: nothing is resolved on this machine (what Tor needs).
/// URL schemes socks5h:// and socks5://.
pub const MAILTLS_PROXY_SOCKS5: mailtls_proxy_kind = 1;
/// SOCKS5 with the mail server's name looked up on this machine and its
/// address sent to the proxy. Only chosen with this constant: no URL
/// scheme means it, and nothing falls back to it.
pub const MAILTLS_PROXY_SOCKS5_LOCAL_DNS: mailtls_proxy_kind = 2;
/// SOCKS4a: the name is sent to the proxy; a user name (the SOCKS4 user
/// ID) but no password. URL scheme socks4a://.
pub const MAILTLS_PROXY_SOCKS4A: mailtls_proxy_kind = 3;
/// HTTP CONNECT (RFC 9110) with Basic authentication when a user name is
/// given; the name is sent to the proxy. URL scheme http://.
pub const MAILTLS_PROXY_HTTP: mailtls_proxy_kind = 4;
/// HTTP CONNECT over TLS to the proxy (an HTTPS proxy). The proxy's
/// certificate is verified against the proxy's name with the options' CA
/// settings and minimum TLS version; the pin, the certificate callback and
/// the danger switch apply to the mail server only. A certificate failure
/// of the proxy gives the CERTIFICATE_* result, its message naming the
/// proxy's host and port. The mail server's TLS runs inside the proxy's.
/// URL scheme https://.
pub const MAILTLS_PROXY_HTTPS: mailtls_proxy_kind = 5;

/// Connect through the proxy `url` (UTF-8):
/// `scheme://[user[:password]@]host[:port][/]`, the scheme one of
/// socks5h, socks5 (both: the proxy resolves the mail server's name),
/// socks4a, http or https (see the MAILTLS_PROXY_* constants), user and
/// password percent-encoded as in any URL, an IPv6 host in brackets, port
/// 1080 when none is given (443 for https). NULL removes the
/// proxy (connect directly, or through the environment's proxy when
/// mailtls_options_set_proxy_from_environment() asked for it).
///
/// Which name is resolved where: the proxy's own host name is looked up
/// on this machine; the mail server's name (the host given to connect) is
/// sent to the proxy, which looks it up, for every kind but
/// MAILTLS_PROXY_SOCKS5_LOCAL_DNS, which looks it up here and sends the
/// address. Nothing falls back from one to the other.
///
/// TLS (implicit or STARTTLS) runs inside the tunnel with the mail
/// server's name, checked as without a proxy; pins, the certificate
/// callback and the danger switch behave the same. The connect timeout
/// covers the proxy's handshake. Proxy failures have their own results
/// (MAILTLS_RESULT_PROXY_UNREACHABLE, _AUTH_FAILED, _TARGET_FAILED,
/// _PROTOCOL); the proxy password never appears in messages or traces.
///
/// Returns MAILTLS_RESULT_INVALID_ARGUMENT, leaving the previous proxy
/// setting unchanged, for a malformed URL, an unknown scheme, or a user
/// name or password longer than the 255 bytes SOCKS can carry; MAILTLS_RESULT_NULL_ARGUMENT for NULL options.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_options_set_proxy(options: *mut mailtls_options, url: *const c_char) -> mailtls_result {
    set(options, |o| {
        // SAFETY: a NUL-terminated string or NULL.
        o.proxy = match unsafe { arg_optional_str(url, "url") }? {
            Some(url) => Some(Proxy::parse(url)?),
            None => None,
        };
        Ok(())
    })
}

/// Connect through a proxy given by separate fields (the same effects as
/// mailtls_options_set_proxy()): `kind` a MAILTLS_PROXY_* constant, `host`
/// the proxy's name or address (UTF-8, an IPv6 address without brackets),
/// `port` 0 for 1080 (443 for MAILTLS_PROXY_HTTPS). `user` and `password` are the proxy's own
/// credentials, copied: both NULL for none; a NULL `password` with a user
/// means an empty one (SOCKS4a sends only the user). Returns
/// MAILTLS_RESULT_INVALID_ARGUMENT (previous setting kept) for an unknown
/// kind, an empty host or one with spaces or control characters, a
/// password without a user, a user name or password longer than 255 bytes
/// for SOCKS5, a password for SOCKS4a, a colon in an HTTP user name, or a
/// line break in either;
/// MAILTLS_RESULT_NULL_ARGUMENT for NULL options or host.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_options_set_proxy_fields(
    options: *mut mailtls_options,
    kind: mailtls_proxy_kind,
    host: *const c_char,
    port: u16,
    user: *const c_char,
    password: *const c_char,
) -> mailtls_result {
    set(options, |o| {
        let kind = match kind {
            MAILTLS_PROXY_SOCKS5 => ProxyKind::Socks5,
            MAILTLS_PROXY_SOCKS5_LOCAL_DNS => ProxyKind::Socks5LocalDns,
            MAILTLS_PROXY_SOCKS4A => ProxyKind::Socks4a,
            MAILTLS_PROXY_HTTP => ProxyKind::Http,
            MAILTLS_PROXY_HTTPS => ProxyKind::Https,
            _ => return Err(Error::InvalidArgument("unknown proxy kind".into()).into()),
        };
        // SAFETY: NUL-terminated strings (user and password may be NULL).
        let (host, user, password) = unsafe {
            (arg_str(host, "host")?, arg_optional_str(user, "user")?, arg_optional_str(password, "password")?)
        };
        let credentials = match (user, password) {
            (None, None) => None,
            (None, Some(_)) => {
                return Err(Error::InvalidArgument("a proxy password was given without a user name".into()).into());
            }
            (Some(user), password) => {
                Some(ProxyCredentials { user: user.to_string(), password: password.unwrap_or_default().to_string() })
            }
        };
        o.proxy = Some(Proxy::new(kind, host, port, credentials)?);
        Ok(())
    })
}

/// With no proxy set: use the proxy the environment names, as curl reads
/// it (`all_proxy` or `ALL_PROXY`, a value without a scheme meaning
/// http://; hosts listed in `no_proxy` or `NO_PROXY` are reached
/// directly: names with their subdomains, addresses, CIDR ranges, `*`).
/// The variables are read at each connect. Off by default: nothing is read
/// from the environment unless asked. A malformed variable fails the
/// connect with MAILTLS_RESULT_INVALID_ARGUMENT naming the variable, never
/// its value.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_options_set_proxy_from_environment(
    options: *mut mailtls_options,
    enable: bool,
) -> mailtls_result {
    set(options, |o| {
        o.proxy_from_environment = enable;
        Ok(())
    })
}
