//! Which combinations the probe tries, in order of preference: per
//! protocol implicit TLS first (RFC 8314 §3 prefers it to STARTTLS), then
//! STARTTLS on the submission port before the alternatives hosting
//! providers open when 587 is blocked (26) and the relay port (25).

use super::{Endpoint, Protocol};
use crate::error::{Error, Result};
use crate::options::Security;

const POP3: [(u16, Security); 2] = [(995, Security::Tls), (110, Security::StartTls)];
const SMTP: [(u16, Security); 4] =
    [(465, Security::Tls), (587, Security::StartTls), (26, Security::StartTls), (25, Security::StartTls)];

/// The standard combinations of `protocols`, in order of preference.
pub fn standard_endpoints(protocols: &[Protocol]) -> Vec<Endpoint> {
    let mut endpoints = Vec::new();
    for protocol in [Protocol::Pop3, Protocol::Smtp] {
        if !protocols.contains(&protocol) {
            continue;
        }
        let ports: &[(u16, Security)] = match protocol {
            Protocol::Pop3 => &POP3,
            Protocol::Smtp => &SMTP,
        };
        endpoints.extend(ports.iter().map(|&(port, security)| Endpoint { protocol, port, security }));
    }
    endpoints
}

/// A caller's own list, checked: ports are real, every combination is
/// encrypted, none is named twice.
pub fn check_endpoints(endpoints: &[Endpoint]) -> Result<Vec<Endpoint>> {
    if endpoints.is_empty() {
        return Err(Error::InvalidArgument("the probe was given no ports to try".into()));
    }
    for (i, e) in endpoints.iter().enumerate() {
        if e.port == 0 {
            return Err(Error::InvalidArgument(format!("{} port 0 is not a port to probe", e.protocol.name())));
        }
        if !matches!(e.security, Security::Tls | Security::StartTls) {
            return Err(Error::InvalidArgument(format!(
                "{} port {}: the probe tries only TLS and STARTTLS, never an unencrypted session",
                e.protocol.name(),
                e.port
            )));
        }
        if endpoints[..i].contains(e) {
            return Err(Error::InvalidArgument(format!("{} port {} is listed twice", e.protocol.name(), e.port)));
        }
    }
    Ok(endpoints.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn implicit_tls_comes_first_and_relay_port_last() {
        let all = standard_endpoints(&[Protocol::Smtp, Protocol::Pop3]);
        let order: Vec<(Protocol, u16, Security)> = all.iter().map(|e| (e.protocol, e.port, e.security)).collect();
        assert_eq!(
            order,
            [
                (Protocol::Pop3, 995, Security::Tls),
                (Protocol::Pop3, 110, Security::StartTls),
                (Protocol::Smtp, 465, Security::Tls),
                (Protocol::Smtp, 587, Security::StartTls),
                (Protocol::Smtp, 26, Security::StartTls),
                (Protocol::Smtp, 25, Security::StartTls),
            ]
        );
        assert_eq!(standard_endpoints(&[Protocol::Smtp]).len(), 4);
        assert!(standard_endpoints(&[]).is_empty());
    }

    #[test]
    fn an_own_list_must_be_encrypted_real_and_without_repeats() {
        let e = |port, security| Endpoint { protocol: Protocol::Pop3, port, security };
        assert!(check_endpoints(&[e(995, Security::Tls), e(110, Security::StartTls)]).is_ok());
        for bad in [vec![], vec![e(0, Security::Tls)], vec![e(110, Security::None)], vec![e(110, Security::Auto)]] {
            assert!(matches!(check_endpoints(&bad), Err(Error::InvalidArgument(_))), "{bad:?}");
        }
        let twice = check_endpoints(&[e(995, Security::Tls), e(995, Security::Tls)]).unwrap_err();
        assert!(twice.to_string().contains("listed twice"), "{twice}");
    }
}
