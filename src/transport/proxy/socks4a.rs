//! The SOCKS4a handshake: SOCKS4 with the host name sent to the proxy.

use std::net::IpAddr;

use super::{Target, Wire};
use crate::error::{Error, Result};
use crate::trace::Tracer;

const GRANTED: u8 = 90;

pub(crate) fn handshake(wire: &mut Wire, target: &Target, tracer: &Tracer) -> Result<()> {
    let name = wire.proxy().describe();
    let user = wire.proxy().credentials().map(|c| c.user.clone()).unwrap_or_default();
    let mut request = vec![4, 1];
    request.extend_from_slice(&target.port.to_be_bytes());
    match target.ip() {
        Some(IpAddr::V4(ip)) => {
            request.extend_from_slice(&ip.octets());
            request.extend_from_slice(user.as_bytes());
            request.push(0);
        }
        // IPv6 was refused before; a name: 0.0.0.1 says "the name follows".
        _ => {
            request.extend_from_slice(&[0, 0, 0, 1]);
            request.extend_from_slice(user.as_bytes());
            request.push(0);
            request.extend_from_slice(target.host.as_bytes());
            request.push(0);
        }
    }
    tracer.info(format!("SOCKS4a: asking the proxy for {} (the proxy resolves the name)", target.describe()));
    wire.send(&request)?;
    let mut reply = [0u8; 8];
    wire.read_exact(&mut reply, "answer to the connect request")?;
    if reply[0] != 0 {
        return Err(Error::ProxyProtocol(format!(
            "{name} does not answer as a SOCKS4a proxy (version byte {})",
            reply[0]
        )));
    }
    let target = target.describe();
    match reply[1] {
        GRANTED => Ok(()),
        91 => Err(Error::ProxyTargetFailed(format!(
            "proxy: request rejected or failed, connecting to {target} (SOCKS4 reply 91); {name} could not \
             connect us to the mail server"
        ))),
        code @ (92 | 93) => Err(Error::ProxyAuthFailed(format!(
            "{name} refused the request because it could not confirm the user with identd (SOCKS4 reply {code}): \
             check the proxy user name"
        ))),
        other => Err(Error::ProxyProtocol(format!("{name} answered with an unknown SOCKS4 reply code {other}"))),
    }
}
