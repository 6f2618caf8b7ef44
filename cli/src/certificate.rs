//! The server certificate as a person reads it, from its DER: subject,
//! issuer, names, validity and fingerprint.

use std::net::IpAddr;

use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::time::ASN1Time;

pub struct Described {
    pub subject: String,
    pub issuer: String,
    /// The subject alternative names: `DNS:…`, `IP:…`, `email:…`, `URI:…`.
    pub names: Vec<String>,
    pub not_before: String,
    pub not_after: String,
    /// "valid now", "expired", "not valid yet", with the days left.
    pub validity: String,
}

pub fn describe(der: &[u8]) -> Result<Described, String> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| format!("the certificate cannot be read: {e}"))?;
    let names = match cert.subject_alternative_name() {
        Ok(Some(san)) => san.value.general_names.iter().map(general_name).collect(),
        Ok(None) => Vec::new(),
        Err(e) => vec![format!("(unreadable: {e})")],
    };
    let validity = cert.validity();
    let now = ASN1Time::now();
    let state = if now < validity.not_before {
        "NOT VALID YET".to_string()
    } else if now > validity.not_after {
        "EXPIRED".to_string()
    } else {
        let days = (validity.not_after.timestamp() - now.timestamp()) / 86_400;
        format!("valid now, {days} days left")
    };
    Ok(Described {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        names,
        not_before: utc(validity.not_before),
        not_after: utc(validity.not_after),
        validity: state,
    })
}

fn general_name(name: &GeneralName<'_>) -> String {
    match name {
        GeneralName::DNSName(dns) => format!("DNS:{dns}"),
        GeneralName::IPAddress(bytes) => match <[u8; 4]>::try_from(*bytes) {
            Ok(v4) => format!("IP:{}", IpAddr::from(v4)),
            Err(_) => match <[u8; 16]>::try_from(*bytes) {
                Ok(v6) => format!("IP:{}", IpAddr::from(v6)),
                Err(_) => format!("IP:(malformed, {} bytes)", bytes.len()),
            },
        },
        GeneralName::RFC822Name(mail) => format!("email:{mail}"),
        GeneralName::URI(uri) => format!("URI:{uri}"),
        other => format!("{other:?}"),
    }
}

/// A Unix time (seconds, UTC) as `utc` writes it.
pub fn utc_seconds(seconds: i64) -> String {
    ASN1Time::from_timestamp(seconds).map(utc).unwrap_or_else(|_| format!("{seconds} (Unix time)"))
}

fn utc(time: ASN1Time) -> String {
    let t = time.to_datetime();
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The library's sample CA certificate (tests/data/sample-ca.pem), as DER.
    fn sample_der() -> Vec<u8> {
        let pem = include_bytes!("../../tests/data/sample-ca.pem");
        x509_parser::pem::parse_x509_pem(pem).expect("PEM").1.contents
    }

    #[test]
    fn the_sample_certificate_is_described() {
        let d = describe(&sample_der()).unwrap();
        assert_eq!(d.subject, "O=mailtls tests, CN=sample CA for parsing only");
        assert_eq!(d.issuer, d.subject, "self-signed");
        assert!(d.names.is_empty(), "{:?}", d.names);
        assert_eq!(d.not_before, "2026-11-27 01:08:01 UTC");
        assert_eq!(d.not_after, "2126-11-03 01:08:01 UTC");
        assert_eq!(utc_seconds(0), "1970-01-01 00:00:00 UTC");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(describe(b"\x30\x03\x02\x01").is_err());
    }
}
