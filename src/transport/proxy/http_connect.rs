//! HTTP CONNECT (RFC 9110 section 9.3.6) with Basic authentication
//! (RFC 7617).

use base64::Engine;

use super::{Target, Wire, shown};
use crate::error::{Error, Result};
use crate::trace::{TraceKind, Tracer};

/// Longest reply head (status line and headers) accepted from a proxy.
const MAX_HEAD: usize = 16 * 1024;

pub(crate) fn handshake(wire: &mut Wire, target: &Target, tracer: &Tracer) -> Result<()> {
    let name = wire.proxy().describe();
    let authority = target.describe();
    let mut lines = vec![(format!("CONNECT {authority} HTTP/1.1"), None), (format!("Host: {authority}"), None)];
    if let Some(c) = wire.proxy().credentials() {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", c.user, c.password));
        let header = "Proxy-Authorization: Basic ";
        lines.push((format!("{header}{token}"), Some(header.len())));
    }
    let mut request = Vec::new();
    for (line, secret_from) in &lines {
        tracer.command(line.as_bytes(), *secret_from);
        request.extend_from_slice(line.as_bytes());
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"\r\n");
    wire.send(&request)?;

    let head = read_head(wire)?;
    let status_line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let status_line = status_line.strip_suffix(b"\r").unwrap_or(status_line);
    tracer.emit(TraceKind::Reply, status_line);
    let status_line = shown(status_line);
    let Some((status, reason)) = parse_status(&status_line) else {
        return Err(Error::ProxyProtocol(format!(
            "{name} did not answer CONNECT with an HTTP status line (it sent {status_line:?})"
        )));
    };
    let said = if reason.is_empty() { status.to_string() } else { format!("{status} {reason}") };
    let has_credentials = wire.proxy().credentials().is_some();
    match status {
        200..=299 => Ok(()),
        407 | 401 if !has_credentials => Err(Error::ProxyAuthFailed(format!(
            "{name} requires authentication ({said}): give the proxy user name and password"
        ))),
        407 | 401 => Err(Error::ProxyAuthFailed(format!(
            "{name} refused the proxy user name and password ({said}): check the proxy settings"
        ))),
        // tinyproxy's "Access violation" is its ConnectPort rule; other
        // proxies refuse hosts too, so both are named.
        403 => Err(Error::ProxyTargetFailed(format!(
            "proxy: {said}, CONNECT to port {} not allowed ({name} does not allow connecting to {authority}: \
             ask its administrator, or use another proxy)",
            target.port
        ))),
        502..=504 => {
            Err(Error::ProxyTargetFailed(format!("proxy: {said}; {name} could not connect us to {authority}")))
        }
        _ => Err(Error::ProxyTargetFailed(format!("proxy: {said}; {name} refused CONNECT to {authority}"))),
    }
}

/// The reply up to and including its blank line, a byte at a time so that
/// nothing after it (the mail server's greeting) is taken from the socket.
fn read_head(wire: &mut Wire) -> Result<Vec<u8>> {
    let mut head = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    while !(head.ends_with(b"\r\n\r\n") || head.ends_with(b"\n\n")) {
        if head.len() >= MAX_HEAD {
            return Err(Error::ProxyProtocol(format!(
                "{} sent a reply head longer than {MAX_HEAD} bytes",
                wire.proxy().describe()
            )));
        }
        wire.read_exact(&mut byte, "reply to CONNECT")?;
        head.push(byte[0]);
    }
    Ok(head)
}

/// "HTTP/1.1 200 Connection established" → (200, "Connection established").
fn parse_status(line: &str) -> Option<(u16, &str)> {
    let rest = line.strip_prefix("HTTP/1.")?;
    let (_minor, rest) = rest.split_once(' ')?;
    let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((code.parse().ok()?, reason.trim()))
}

#[cfg(test)]
mod tests {
    use super::parse_status;

    #[test]
    fn status_lines_are_parsed_strictly() {
        assert_eq!(parse_status("HTTP/1.1 200 Connection established"), Some((200, "Connection established")));
        assert_eq!(parse_status("HTTP/1.0 403 Access violation"), Some((403, "Access violation")));
        assert_eq!(parse_status("HTTP/1.1 200"), Some((200, "")));
        assert_eq!(parse_status("SSH-2.0-OpenSSH"), None);
        assert_eq!(parse_status("HTTP/1.1 2000 x"), None);
        assert_eq!(parse_status("HTTP/1.1 abc x"), None);
    }
}
