//! The EHLO extensions a server announces, with typed accessors.

use crate::capabilities::CapabilitySet;
use crate::sasl::Mechanism;

#[derive(Debug, Clone, Default)]
pub struct Extensions {
    set: CapabilitySet,
    /// False after a HELO fallback: the server announced nothing.
    pub ehlo: bool,
}

impl Extensions {
    /// From the EHLO reply lines after the first (which is the greeting).
    pub(crate) fn from_ehlo_lines(lines: &[String]) -> Self {
        let mut set = CapabilitySet::default();
        for line in lines.iter().skip(1) {
            set.add_line(line);
        }
        Extensions { set, ehlo: true }
    }

    pub fn set(&self) -> &CapabilitySet {
        &self.set
    }
    /// The SIZE limit; `Some(0)` means SIZE without a limit.
    pub fn size(&self) -> Option<u64> {
        let args = self.set.args("SIZE")?;
        Some(args.first().and_then(|a| a.parse().ok()).unwrap_or(0))
    }
    pub fn eight_bit_mime(&self) -> bool {
        self.set.has("8BITMIME")
    }
    pub fn smtputf8(&self) -> bool {
        self.set.has("SMTPUTF8")
    }
    pub fn pipelining(&self) -> bool {
        self.set.has("PIPELINING")
    }
    pub fn dsn(&self) -> bool {
        self.set.has("DSN")
    }
    pub fn chunking(&self) -> bool {
        self.set.has("CHUNKING")
    }
    pub fn enhanced_status_codes(&self) -> bool {
        self.set.has("ENHANCEDSTATUSCODES")
    }
    pub fn starttls(&self) -> bool {
        self.set.has("STARTTLS")
    }
    /// Whether AUTH lists `m`.
    pub fn auth(&self, m: Mechanism) -> bool {
        self.set.has_arg("AUTH", m.name())
    }
    pub fn auth_mechanisms(&self) -> &[String] {
        self.set.args("AUTH").unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ehlo_lines_are_typed() {
        let lines: Vec<String> =
            ["localhost", "PIPELINING", "SIZE 1048576", "AUTH PLAIN LOGIN", "8BITMIME", "SMTPUTF8", "DSN", "CHUNKING"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        let ext = Extensions::from_ehlo_lines(&lines);
        assert_eq!(ext.size(), Some(1_048_576));
        assert!(ext.pipelining() && ext.eight_bit_mime() && ext.smtputf8() && ext.dsn() && ext.chunking());
        assert!(ext.auth(Mechanism::Plain) && !ext.auth(Mechanism::CramMd5));
        assert!(!ext.starttls() && !ext.enhanced_status_codes());
        assert!(!ext.set().has("LOCALHOST"), "the greeting line is not an extension");
    }
}
