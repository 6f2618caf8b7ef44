//! The server's certificate as a person checks it: names, issuer, dates,
//! fingerprint. Read from its DER with one parser for every TLS backend
//! (native-tls gives only the DER), so that a failed verification can say
//! what the certificate is for and who issued it.

use std::net::IpAddr;

use sha2::{Digest, Sha256};
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::x509::X509Name;

use crate::fingerprint::sha256_hex;

/// The facts of a server certificate (the chain's leaf).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    /// The certificate, DER-encoded.
    pub der: Vec<u8>,
    /// SHA-256 of `der`: what a user pins.
    pub sha256: [u8; 32],
    /// The subject's distinguished name, e.g. `O=Example, CN=mail.example`.
    pub subject: String,
    /// The issuer's distinguished name.
    pub issuer: String,
    /// The host names and addresses the certificate is valid for: its
    /// subject alternative names (DNS names and IP addresses), or the
    /// subject's common name when it has none.
    pub names: Vec<String>,
    /// Validity, in Unix seconds (UTC).
    pub not_before: i64,
    pub not_after: i64,
    /// Issued by itself (subject and issuer are the same name, and the
    /// authority key id, if any, is its own key id).
    pub self_signed: bool,
}

impl Certificate {
    /// Read a DER certificate; `None` if it cannot be parsed (the facts
    /// are then unknown, the failure itself is still reported).
    pub fn from_der(der: &[u8]) -> Option<Certificate> {
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        let mut names = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            names.extend(san.value.general_names.iter().filter_map(host_name));
        }
        if names.is_empty() {
            names.extend(common_name(cert.subject()));
        }
        let validity = cert.validity();
        let same_name = cert.subject().as_raw() == cert.issuer().as_raw();
        let (mut aki, mut ski) = (None, None);
        for ext in cert.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::AuthorityKeyIdentifier(a) => aki = a.key_identifier.as_ref().map(|id| id.0),
                ParsedExtension::SubjectKeyIdentifier(s) => ski = Some(s.0),
                _ => {}
            }
        }
        // Without both key ids, the names alone tell.
        let own_key = match (aki, ski) {
            (Some(a), Some(s)) => a == s,
            _ => true,
        };
        Some(Certificate {
            der: der.to_vec(),
            sha256: Sha256::digest(der).into(),
            subject: printable(&cert.subject().to_string()),
            issuer: printable(&cert.issuer().to_string()),
            names: names.iter().map(|n| printable(n)).collect(),
            not_before: validity.not_before.timestamp(),
            not_after: validity.not_after.timestamp(),
            self_signed: same_name && own_key,
        })
    }

    /// The fingerprint as 64 lowercase hex digits.
    pub fn sha256_hex(&self) -> String {
        sha256_hex(&self.sha256)
    }

    /// The issuer as a person names it: its common name, else the whole name.
    pub(crate) fn issuer_short(&self) -> Option<String> {
        let (_, cert) = X509Certificate::from_der(&self.der).ok()?;
        common_name(cert.issuer()).map(|cn| printable(&cn)).or_else(|| Some(self.issuer.clone()))
    }
}

/// Text from a certificate as it may be shown to a person: control
/// characters and the bidirectional overrides that could make one name
/// read as another become `\u{..}` escapes. A server chooses these bytes.
fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let bidi = matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}');
        if c.is_control() || bidi {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

fn common_name(name: &X509Name<'_>) -> Option<String> {
    name.iter_common_name().next().and_then(|cn| cn.as_str().ok()).map(str::to_string)
}

fn host_name(name: &GeneralName<'_>) -> Option<String> {
    match name {
        GeneralName::DNSName(dns) => Some(dns.to_string()),
        GeneralName::IPAddress(bytes) => match bytes.len() {
            4 => <[u8; 4]>::try_from(*bytes).ok().map(|v4| IpAddr::from(v4).to_string()),
            16 => <[u8; 16]>::try_from(*bytes).ok().map(|v6| IpAddr::from(v6).to_string()),
            _ => None,
        },
        _ => None,
    }
}

/// A Unix time as `YYYY-MM-DD HH:MM UTC`.
pub(crate) fn utc(unix: i64) -> String {
    let (days, secs) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02} UTC", secs / 3600, secs % 3600 / 60)
}

/// A Unix time as `YYYY-MM-DD` (UTC).
pub(crate) fn utc_date(unix: i64) -> String {
    let (y, m, d) = civil_from_days(unix.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// A span of seconds in words, to the nearest unit: "3 hours", "12 days".
pub(crate) fn span(seconds: i64) -> String {
    let round = |unit: i64| (seconds.abs() + unit / 2) / unit;
    // The unit is chosen after rounding, so that 2 days less a few seconds
    // still reads "2 days".
    let (n, name) = if round(3600) >= 48 {
        (round(86_400), "day")
    } else if round(60) >= 120 {
        (round(3600), "hour")
    } else {
        (round(60), "minute")
    };
    format!("{n} {name}{}", if n == 1 { "" } else { "s" })
}

/// Names as a list in words: "a", "a and b", "a, b and c".
pub(crate) fn and_list(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_der() -> Vec<u8> {
        let pem = include_bytes!("../tests/data/sample-ca.pem");
        x509_parser::pem::parse_x509_pem(pem).expect("PEM").1.contents
    }

    #[test]
    fn the_sample_ca_is_read() {
        let der = sample_der();
        let c = Certificate::from_der(&der).unwrap();
        assert_eq!(c.subject, "O=mailtls tests, CN=sample CA for parsing only");
        assert_eq!(c.issuer, c.subject);
        assert!(c.self_signed);
        // No SAN: the common name stands for the names.
        assert_eq!(c.names, ["sample CA for parsing only"]);
        assert_eq!(utc(c.not_before), "2026-11-27 01:08 UTC");
        assert_eq!(utc(c.not_after), "2126-11-03 01:08 UTC");
        assert_eq!(c.sha256_hex(), sha256_hex(&Sha256::digest(&der).into()));
        assert_eq!(c.issuer_short().as_deref(), Some("sample CA for parsing only"));
    }

    #[test]
    fn garbage_is_no_certificate() {
        assert!(Certificate::from_der(b"\x30\x03\x02\x01").is_none());
        assert!(Certificate::from_der(b"").is_none());
    }

    #[test]
    fn dates_spans_and_lists_read_as_words() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(utc(-1), "1969-12-31 23:59 UTC");
        assert_eq!(utc_date(1_796_083_200), "2026-12-01");
        assert_eq!(span(29), "0 minutes");
        assert_eq!(span(59), "1 minute");
        assert_eq!(span(2 * 86_400 - 5), "2 days");
        assert_eq!(span(-3 * 3600), "3 hours");
        assert_eq!(span(86_400 + 3600), "25 hours");
        assert_eq!(span(31 * 86_400), "31 days");
        assert_eq!(span(60), "1 minute");
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(and_list(&names(&["a"])), "a");
        assert_eq!(and_list(&names(&["a", "b"])), "a and b");
        assert_eq!(and_list(&names(&["a", "b", "c"])), "a, b and c");
    }
}

#[cfg(test)]
mod printable_tests {
    #[test]
    fn control_and_bidi_characters_are_escaped() {
        assert_eq!(super::printable("mail.example.org"), "mail.example.org");
        assert_eq!(super::printable("a\nb\u{202E}c"), "a\\u{a}b\\u{202e}c");
    }
}
