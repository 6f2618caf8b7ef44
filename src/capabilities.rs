//! A set of capability (POP3 CAPA) or extension (SMTP EHLO) lines: a keyword
//! with its arguments. The protocol modules wrap it with typed accessors.

/// Upper bound on capability lines kept from one server.
pub(crate) const MAX_CAPABILITIES: usize = 256;
/// Upper bound on the arguments kept for one capability.
pub(crate) const MAX_ARGUMENTS: usize = 64;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapabilitySet {
    /// Names upper-cased; arguments as sent.
    entries: Vec<(String, Vec<String>)>,
}

impl CapabilitySet {
    /// Add one capability line such as `SASL PLAIN LOGIN`. Lines past the
    /// limits are ignored rather than stored without bound.
    pub fn add_line(&mut self, line: &str) {
        let mut words = line.split_ascii_whitespace();
        let Some(name) = words.next() else { return };
        if self.entries.len() >= MAX_CAPABILITIES {
            return;
        }
        let args = words.take(MAX_ARGUMENTS).map(str::to_string).collect();
        self.entries.push((name.to_ascii_uppercase(), args));
    }

    pub fn has(&self, name: &str) -> bool {
        self.args(name).is_some()
    }

    pub fn args(&self, name: &str) -> Option<&[String]> {
        self.entries.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, a)| a.as_slice())
    }

    /// Whether `name` is listed with `arg` among its arguments (any case).
    pub fn has_arg(&self, name: &str, arg: &str) -> bool {
        self.args(name).is_some_and(|args| args.iter().any(|a| a.eq_ignore_ascii_case(arg)))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.entries.iter().map(|(n, a)| (n.as_str(), a.as_slice()))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_parsed_and_bounded() {
        let mut set = CapabilitySet::default();
        set.add_line("sasl PLAIN login");
        set.add_line("");
        set.add_line("TOP");
        assert!(set.has("SASL") && set.has("top") && !set.has("USER"));
        assert!(set.has_arg("SASL", "LOGIN"));
        assert_eq!(set.len(), 2);
        for i in 0..1000 {
            set.add_line(&format!("X{i}"));
        }
        assert_eq!(set.len(), MAX_CAPABILITIES);
    }
}
