//! SChannel's and CryptoAPI's HRESULTs, as Windows' winerror.h defines them
//! (the values checked against the windows-sys 0.61 bindings, which are
//! generated from Microsoft's metadata). native-tls on Windows reports a
//! handshake failure as the `std::io::Error` of one of these.

use super::super::problem::{Code, Diagnosis, TlsProblem};
use TlsProblem::*;

/// `0x8…` HRESULT literals as the signed numbers Windows returns.
const fn hr(value: u32) -> i32 {
    value as i32
}

const TABLE: &[(i32, &str, TlsProblem)] = &[
    // Certificate chain policy (CertVerifyCertificateChainPolicy).
    (hr(0x800B_010F), "CERT_E_CN_NO_MATCH", HostMismatch),
    (hr(0x800B_0109), "CERT_E_UNTRUSTEDROOT", UntrustedRoot),
    (hr(0x800B_010D), "CERT_E_UNTRUSTEDTESTROOT", UntrustedRoot),
    (hr(0x800B_010A), "CERT_E_CHAINING", UnknownIssuer),
    (hr(0x800B_0112), "CERT_E_UNTRUSTEDCA", UnknownIssuer),
    // "Not within its validity period": expired or not yet valid alike.
    (hr(0x800B_0101), "CERT_E_EXPIRED", OutsideValidityPeriod),
    (hr(0x800B_0102), "CERT_E_VALIDITYPERIODNESTING", InvalidCertificate),
    (hr(0x800B_0103), "CERT_E_ROLE", InvalidCertificate),
    (hr(0x800B_0105), "CERT_E_CRITICAL", InvalidCertificate),
    (hr(0x800B_0106), "CERT_E_PURPOSE", InvalidCertificate),
    (hr(0x800B_0110), "CERT_E_WRONG_USAGE", InvalidCertificate),
    (hr(0x800B_0114), "CERT_E_INVALID_NAME", InvalidCertificate),
    (hr(0x8009_6004), "TRUST_E_CERT_SIGNATURE", InvalidCertificate),
    (hr(0x8009_6019), "TRUST_E_BASIC_CONSTRAINTS", InvalidCertificate),
    (hr(0x800B_010C), "CERT_E_REVOKED", Revoked),
    (hr(0x8009_2010), "CRYPT_E_REVOKED", Revoked),
    (hr(0x800B_010E), "CERT_E_REVOCATION_FAILURE", RevocationUnknown),
    (hr(0x8009_2013), "CRYPT_E_REVOCATION_OFFLINE", RevocationUnknown),
    (hr(0x8009_2012), "CRYPT_E_NO_REVOCATION_CHECK", RevocationUnknown),
    // SChannel's own (InitializeSecurityContext).
    (hr(0x8009_0322), "SEC_E_WRONG_PRINCIPAL", HostMismatch),
    (hr(0x8009_0325), "SEC_E_UNTRUSTED_ROOT", UntrustedRoot),
    (hr(0x8009_0352), "SEC_E_ISSUING_CA_UNTRUSTED", UnknownIssuer),
    (hr(0x8009_0328), "SEC_E_CERT_EXPIRED", Expired),
    (hr(0x8009_0327), "SEC_E_CERT_UNKNOWN", InvalidCertificate),
    (hr(0x8009_0349), "SEC_E_CERT_WRONG_USAGE", InvalidCertificate),
    // The peer refused every version offered (a protocol_version alert).
    (hr(0x8009_0302), "SEC_E_UNSUPPORTED_FUNCTION", ProtocolVersion),
    (hr(0x8009_0331), "SEC_E_ALGORITHM_MISMATCH", ProtocolVersion),
    // What schannel returns for bytes that are not a TLS record.
    (hr(0x8009_0308), "SEC_E_INVALID_TOKEN", NotTls),
    // Often a fatal alert from the server: nothing more precise to say.
    (hr(0x8009_0326), "SEC_E_ILLEGAL_MESSAGE", HandshakeFailed),
    // Wine's answer to a TLS 1.3-only server, among others.
    (hr(0x8009_0304), "SEC_E_INTERNAL_ERROR", HandshakeFailed),
    (hr(0x8009_0330), "SEC_E_DECRYPT_FAILURE", HandshakeFailed),
    (hr(0x8009_030F), "SEC_E_MESSAGE_ALTERED", HandshakeFailed),
    // Winsock errors of the socket under the handshake.
    (10053, "WSAECONNABORTED", ConnectionClosed),
    (10054, "WSAECONNRESET", ConnectionClosed),
];

pub(crate) fn name(code: i32) -> Option<&'static str> {
    TABLE.iter().find(|&&(c, _, _)| c == code).map(|&(_, name, _)| name)
}

/// Sort a handshake failure by the HRESULT (or Win32 error) Windows gave.
#[cfg_attr(not(windows), allow(dead_code))]
pub(crate) fn diagnose(code: i32, library_text: String) -> Diagnosis {
    let problem = TABLE.iter().find(|&&(c, _, _)| c == code).map_or(HandshakeFailed, |&(_, _, p)| p);
    Diagnosis { problem, code: Some(Code::HResult(code)), library_text: system_text(&library_text).to_string() }
}

/// What the system's own text adds to the code already in the message:
/// the text without std's "(os error N)", or nothing when the system had
/// no text (std then writes "OS Error N (FormatMessageW() returned error
/// M)", as under Wine for most of these codes).
fn system_text(library_text: &str) -> &str {
    let text = match library_text.rfind(" (os error ") {
        Some(at) if library_text.ends_with(')') => &library_text[..at],
        _ => library_text,
    };
    if text.starts_with("OS Error ") && text.contains("(FormatMessageW() returned error ") { "" } else { text }
}

/// The number at the end of the text of a `std::io::Error` for an OS
/// error, which std always writes as "… (os error N)" whatever the
/// language of the system's message (or its absence, under Wine).
#[cfg_attr(not(windows), allow(dead_code))]
pub(crate) fn os_error_in_text(text: &str) -> Option<i32> {
    const MARK: &str = "(os error ";
    let rest = text.strip_suffix(')')?;
    rest[rest.rfind(MARK)? + MARK.len()..].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hresults_are_sorted_by_number() {
        let problem = |code: u32| diagnose(code as i32, String::new()).problem;
        assert_eq!(problem(0x800B_0109), UntrustedRoot);
        assert_eq!(problem(0x800B_010A), UnknownIssuer);
        assert_eq!(problem(0x800B_010F), HostMismatch);
        assert_eq!(problem(0x8009_0322), HostMismatch);
        assert_eq!(problem(0x800B_0101), OutsideValidityPeriod);
        assert_eq!(problem(0x8009_0328), Expired);
        assert_eq!(problem(0x800B_0102), InvalidCertificate);
        assert_eq!(problem(0x800B_010C), Revoked);
        assert_eq!(problem(0x8009_2010), Revoked);
        assert_eq!(problem(0x800B_010E), RevocationUnknown);
        assert_eq!(problem(0x8009_2013), RevocationUnknown);
        assert_eq!(problem(0x8009_2012), RevocationUnknown);
        assert_eq!(problem(0x8009_0325), UntrustedRoot);
        assert_eq!(problem(0x8009_0302), ProtocolVersion);
        assert_eq!(problem(0x8009_0331), ProtocolVersion);
        assert_eq!(problem(0x8009_0308), NotTls);
        assert_eq!(problem(0x8009_0304), HandshakeFailed);
        assert_eq!(problem(0x8009_0326), HandshakeFailed);
        assert_eq!(problem(0x8000_4005), HandshakeFailed);
    }

    #[test]
    fn the_detail_keeps_the_name_and_the_hexadecimal_code() {
        // What std prints under Wine, where FormatMessageW has no text.
        let wine = "OS Error -2146762487 (FormatMessageW() returned error 317) (os error -2146762487)";
        let d = diagnose(-2146762487, wine.into());
        assert_eq!(d.problem, UntrustedRoot);
        let detail = d.detail();
        assert!(detail.contains("(CERT_E_UNTRUSTEDROOT, 0x800B0109)"), "{detail}");
        assert!(!detail.contains("FormatMessageW") && !detail.contains("os error"), "{detail}");
        // A system text in words is kept, without std's repeat of the code.
        let german = "Die Zertifikatkette wurde von einer nicht vertrauenswürdigen Zertifizierungsstelle \
                      ausgestellt. (os error -2146893019)";
        let detail = diagnose(hr(0x8009_0325), german.into()).detail();
        assert!(
            detail.ends_with(
                "the TLS library said: Die Zertifikatkette wurde von einer nicht \
                                  vertrauenswürdigen Zertifizierungsstelle ausgestellt."
            ),
            "{detail}"
        );
        let unknown = diagnose(0x8000_4005_u32 as i32, String::new()).detail();
        assert!(unknown.contains("HRESULT 0x80004005"), "{unknown}");
    }

    #[test]
    fn the_os_error_is_found_at_the_end_of_the_text() {
        let wine = "OS Error -2146762487 (FormatMessageW() returned error 317) (os error -2146762487)";
        assert_eq!(os_error_in_text(wine), Some(-2146762487));
        let german = "Die Zertifikatkette wurde von einer nicht vertrauenswürdigen Zertifizierungsstelle \
                      ausgestellt. (os error -2146893019)";
        assert_eq!(os_error_in_text(german), Some(hr(0x8009_0325)));
        assert_eq!(os_error_in_text(&std::io::Error::from_raw_os_error(-2146762481).to_string()), Some(-2146762481));
        assert_eq!(os_error_in_text("unexpected EOF during handshake"), None);
        assert_eq!(os_error_in_text("(os error x)"), None);
    }

    #[test]
    fn names_are_unique_and_values_distinct() {
        for (i, (code, name, _)) in TABLE.iter().enumerate() {
            assert!(TABLE[i + 1..].iter().all(|(c, n, _)| c != code && n != name), "{name}");
        }
    }
}
