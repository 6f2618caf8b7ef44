//! POP3 capabilities (RFC 2449) and the greeting's APOP timestamp.

use crate::capabilities::CapabilitySet;
use crate::sasl::Mechanism;

/// What the server said it can do in its CAPA reply.
#[derive(Debug, Clone, Default)]
pub struct Capabilities {
    set: CapabilitySet,
    /// False when the server does not know CAPA (RFC 1939-only servers).
    pub capa_supported: bool,
}

impl Capabilities {
    pub(crate) fn from_set(set: CapabilitySet) -> Self {
        Capabilities { set, capa_supported: true }
    }

    /// For a server that answered CAPA with -ERR.
    pub(crate) fn unsupported() -> Self {
        Capabilities { set: CapabilitySet::default(), capa_supported: false }
    }

    pub fn set(&self) -> &CapabilitySet {
        &self.set
    }
    pub fn top(&self) -> bool {
        self.set.has("TOP")
    }
    pub fn uidl(&self) -> bool {
        self.set.has("UIDL")
    }
    /// USER/PASS. Servers without CAPA are assumed to have it.
    pub fn user(&self) -> bool {
        !self.capa_supported || self.set.has("USER")
    }
    pub fn pipelining(&self) -> bool {
        self.set.has("PIPELINING")
    }
    pub fn stls(&self) -> bool {
        self.set.has("STLS")
    }
    pub fn resp_codes(&self) -> bool {
        self.set.has("RESP-CODES")
    }
    pub fn auth_resp_code(&self) -> bool {
        self.set.has("AUTH-RESP-CODE")
    }
    pub fn utf8(&self) -> bool {
        self.set.has("UTF8")
    }
    /// RFC 5034 SASL: with it, AUTH may carry an initial response.
    pub fn sasl(&self) -> bool {
        self.set.has("SASL")
    }
    pub fn sasl_mechanism(&self, m: Mechanism) -> bool {
        self.set.has_arg("SASL", m.name())
    }
    pub fn implementation(&self) -> Option<String> {
        self.set.args("IMPLEMENTATION").map(|a| a.join(" "))
    }
}

/// The `<...@...>` timestamp of an APOP greeting (RFC 1939 section 7), if
/// the greeting carries a well-formed one.
pub(crate) fn apop_timestamp(greeting: &str) -> Option<String> {
    let start = greeting.find('<')?;
    let len = greeting[start..].find('>')? + 1;
    let stamp = &greeting[start..start + len];
    let inner = &stamp[1..len - 1];
    let well_formed = len <= 256
        && inner.contains('@')
        && !inner.starts_with('@')
        && !inner.ends_with('@')
        && inner.bytes().all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>');
    well_formed.then(|| stamp.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apop_timestamps() {
        assert_eq!(
            apop_timestamp("POP3 server ready <1896.697170952@dbc.mtview.ca.us>").as_deref(),
            Some("<1896.697170952@dbc.mtview.ca.us>")
        );
        assert_eq!(apop_timestamp("Dovecot ready."), None);
        assert_eq!(apop_timestamp("ready <no-at-sign>"), None);
        assert_eq!(apop_timestamp("ready <a b@c>"), None);
        assert_eq!(apop_timestamp("ready <unterminated@x"), None);
        assert_eq!(apop_timestamp("ready <@>"), None);
    }
}
