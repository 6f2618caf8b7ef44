//! The SOCKS5 handshake (RFC 1928) with no authentication or a user name
//! and password (RFC 1929).

use std::net::IpAddr;

use super::{Target, Wire};
use crate::error::{Error, Result};
use crate::trace::Tracer;

const VERSION: u8 = 5;
const NO_AUTH: u8 = 0;
const USER_PASSWORD: u8 = 2;
const NO_ACCEPTABLE_METHOD: u8 = 0xff;
const CONNECT: u8 = 1;
const ATYP_IPV4: u8 = 1;
const ATYP_NAME: u8 = 3;
const ATYP_IPV6: u8 = 4;

/// Ask the proxy to connect to `target`: by name (the proxy resolves it),
/// or by `address` when it was looked up here.
pub(crate) fn handshake(wire: &mut Wire, target: &Target, address: Option<IpAddr>, tracer: &Tracer) -> Result<()> {
    let name = wire.proxy().describe();
    let credentials = wire.proxy().credentials().cloned();
    let request = connect_request(target, address);
    // Offer user name and password only when there are some.
    let greeting: &[u8] =
        if credentials.is_some() { &[VERSION, 2, NO_AUTH, USER_PASSWORD] } else { &[VERSION, 1, NO_AUTH] };
    wire.send(greeting)?;
    let mut choice = [0u8; 2];
    wire.read_exact(&mut choice, "choice of authentication method")?;
    if choice[0] != VERSION {
        return Err(Error::ProxyProtocol(format!(
            "{name} does not answer as a SOCKS5 proxy (version byte {})",
            choice[0]
        )));
    }
    match (choice[1], &credentials) {
        (NO_AUTH, _) => {}
        (USER_PASSWORD, Some(c)) => {
            tracer.info("SOCKS5: logging in to the proxy with a user name and password");
            let mut login = vec![1, c.user.len() as u8];
            login.extend_from_slice(c.user.as_bytes());
            login.push(c.password.len() as u8);
            login.extend_from_slice(c.password.as_bytes());
            wire.send(&login)?;
            let mut status = [0u8; 2];
            wire.read_exact(&mut status, "answer to the user name and password")?;
            if status[0] != 1 {
                return Err(Error::ProxyProtocol(format!(
                    "{name} answered the user name and password with version byte {}, not 1 (RFC 1929)",
                    status[0]
                )));
            }
            if status[1] != 0 {
                return Err(Error::ProxyAuthFailed(format!(
                    "{name} refused the proxy user name and password (RFC 1929 status {}): check the proxy \
                     settings",
                    status[1]
                )));
            }
        }
        (NO_ACCEPTABLE_METHOD, None) => {
            return Err(Error::ProxyAuthFailed(format!(
                "{name} requires authentication: give the proxy user name and password"
            )));
        }
        (NO_ACCEPTABLE_METHOD, Some(_)) => {
            return Err(Error::ProxyAuthFailed(format!(
                "{name} accepts neither no authentication nor a user name and password: it wants a method \
                 mailtls does not offer (such as GSSAPI)"
            )));
        }
        (other, _) => {
            return Err(Error::ProxyProtocol(format!(
                "{name} chose authentication method {other}, which was not offered"
            )));
        }
    }
    match address {
        Some(ip) => tracer.info(format!("SOCKS5: asking the proxy for {ip} port {}", target.port)),
        None => {
            tracer.info(format!("SOCKS5: asking the proxy for {} (the proxy resolves the name)", target.describe()))
        }
    }
    wire.send(&request)?;
    // Version and reply code first: a proxy that refuses may close before
    // sending the rest.
    let mut head = [0u8; 2];
    wire.read_exact(&mut head, "answer to the connect request")?;
    if head[0] != VERSION {
        return Err(Error::ProxyProtocol(format!(
            "{name} answered the connect request with version byte {}, not 5",
            head[0]
        )));
    }
    if head[1] != 0 {
        return Err(Error::ProxyTargetFailed(format!(
            "proxy: {} (SOCKS5 reply {}); {name} could not connect us to the mail server",
            reply_words(head[1], &target.describe()),
            head[1]
        )));
    }
    // The bound address, read by its exact length and ignored.
    let mut rest = [0u8; 2];
    wire.read_exact(&mut rest, "answer to the connect request")?;
    let address_len = match rest[1] {
        ATYP_IPV4 => 4,
        ATYP_IPV6 => 16,
        ATYP_NAME => {
            let mut len = [0u8; 1];
            wire.read_exact(&mut len, "answer to the connect request")?;
            usize::from(len[0])
        }
        other => {
            return Err(Error::ProxyProtocol(format!("{name} answered with an unknown address type {other}")));
        }
    };
    let mut bound = [0u8; 255 + 2];
    wire.read_exact(&mut bound[..address_len + 2], "answer to the connect request")?;
    Ok(())
}

fn connect_request(target: &Target, address: Option<IpAddr>) -> Vec<u8> {
    let mut request = vec![VERSION, CONNECT, 0];
    match address.or(target.ip()) {
        Some(IpAddr::V4(ip)) => {
            request.push(ATYP_IPV4);
            request.extend_from_slice(&ip.octets());
        }
        Some(IpAddr::V6(ip)) => {
            request.push(ATYP_IPV6);
            request.extend_from_slice(&ip.octets());
        }
        None => {
            // Checked before: at most 255 bytes.
            request.push(ATYP_NAME);
            request.push(target.host.len() as u8);
            request.extend_from_slice(target.host.as_bytes());
        }
    }
    request.extend_from_slice(&target.port.to_be_bytes());
    request
}

/// RFC 1928 section 6's reply codes, as what happened to `target`.
fn reply_words(code: u8, target: &str) -> String {
    match code {
        1 => format!("general SOCKS server failure connecting to {target}"),
        2 => format!("connection to {target} not allowed by the proxy's rules"),
        3 => format!("network unreachable from the proxy for {target}"),
        4 => format!("host unreachable from the proxy: {target}"),
        5 => format!("connection refused by {target}"),
        6 => format!("TTL expired connecting to {target}"),
        7 => format!("command not supported by the proxy (connecting to {target})"),
        8 => format!("address type not supported by the proxy (connecting to {target})"),
        other => format!("unknown failure {other} connecting to {target}"),
    }
}
