//! Security.framework's OSStatus codes: Secure Transport's `errSSL*`
//! (SecureTransport.h) and the trust evaluation's `errSec*` (SecBase.h),
//! the values as in security-framework-sys 2.17 and, for the two it lacks
//! (-67818, -67819), as .NET's and Go's macOS code use them. native-tls on
//! Apple systems reports a handshake failure as one of these.
//!
//! Not run on a Mac here: only the mapping of the numbers is tested.

use super::super::problem::{Code, Diagnosis, TlsProblem};
use TlsProblem::*;

const TABLE: &[(i32, &str, TlsProblem)] = &[
    // SecTrustEvaluateWithError, which native-tls's handshake calls.
    (-67602, "errSecHostNameMismatch", HostMismatch),
    // macOS reports a not-yet-valid certificate with this code too.
    (-67818, "errSecCertificateExpired", OutsideValidityPeriod),
    (-67819, "errSecCertificateNotValidYet", NotYetValid),
    (-67820, "errSecCertificateRevoked", Revoked),
    (-67843, "errSecNotTrusted", NotTrusted),
    (-67654, "errSecTrustSettingDeny", NotTrusted),
    (-25318, "errSecCreateChainFailed", UnknownIssuer),
    (-67609, "errSecInvalidExtendedKeyUsage", InvalidCertificate),
    // Secure Transport.
    (-9843, "errSSLHostNameMismatch", HostMismatch),
    (-9807, "errSSLXCertChainInvalid", InvalidCertificate),
    (-9808, "errSSLBadCert", InvalidCertificate),
    (-9812, "errSSLUnknownRootCert", UntrustedRoot),
    (-9813, "errSSLNoRootCert", UnknownIssuer),
    (-9814, "errSSLCertExpired", Expired),
    (-9815, "errSSLCertNotYetValid", NotYetValid),
    (-9836, "errSSLPeerProtocolVersion", ProtocolVersion),
    (-9801, "errSSLNegotiation", ProtocolVersion),
    (-9806, "errSSLClosedAbort", ConnectionClosed),
    (-9800, "errSSLProtocol", HandshakeFailed),
    (-9824, "errSSLPeerHandshakeFail", HandshakeFailed),
];

pub(crate) fn name(code: i32) -> Option<&'static str> {
    TABLE.iter().find(|&&(c, _, _)| c == code).map(|&(_, name, _)| name)
}

/// Sort a handshake failure by its OSStatus.
#[cfg_attr(not(target_vendor = "apple"), allow(dead_code))]
pub(crate) fn diagnose(code: i32, library_text: String) -> Diagnosis {
    let problem = TABLE.iter().find(|&&(c, _, _)| c == code).map_or(HandshakeFailed, |&(_, _, p)| p);
    Diagnosis { problem, code: Some(Code::OsStatus(code)), library_text }
}

/// The OSStatus in the `Debug` form of native-tls's Security.framework
/// error: native-tls 0.2 hides the `security_framework::base::Error` (its
/// `source()` skips it), its `Display` is the localized message alone, and
/// its `Debug` is `Error { code: N, message: "…" }`.
#[cfg_attr(not(target_vendor = "apple"), allow(dead_code))]
pub(crate) fn os_status_in_debug(debug: &str) -> Option<i32> {
    const FIELD: &str = "Error { code: ";
    let rest = &debug[debug.find(FIELD)? + FIELD.len()..];
    let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '-')).unwrap_or(rest.len());
    rest[..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_statuses_are_sorted_by_number() {
        let problem = |code| diagnose(code, String::new()).problem;
        assert_eq!(problem(-9807), InvalidCertificate);
        assert_eq!(problem(-9843), HostMismatch);
        assert_eq!(problem(-67602), HostMismatch);
        assert_eq!(problem(-9814), Expired);
        assert_eq!(problem(-67818), OutsideValidityPeriod);
        assert_eq!(problem(-67819), NotYetValid);
        assert_eq!(problem(-67843), NotTrusted);
        assert_eq!(problem(-9812), UntrustedRoot);
        assert_eq!(problem(-9836), ProtocolVersion);
        assert_eq!(problem(-67820), Revoked);
        assert_eq!(problem(-1), HandshakeFailed);
        let detail = diagnose(-9807, "Invalid certificate chain".into()).detail();
        assert!(detail.contains("(errSSLXCertChainInvalid, -9807)"), "{detail}");
        assert!(diagnose(-1, String::new()).detail().contains("OSStatus -1"));
    }

    #[test]
    fn the_os_status_is_found_in_the_debug_form() {
        assert_eq!(os_status_in_debug(r#"Error { code: -9807, message: "invalid certificate chain" }"#), Some(-9807));
        assert_eq!(os_status_in_debug("Error { code: -67843 }"), Some(-67843));
        assert_eq!(os_status_in_debug("something else"), None);
    }

    #[test]
    fn names_are_unique_and_values_distinct() {
        for (i, (code, name, _)) in TABLE.iter().enumerate() {
            assert!(TABLE[i + 1..].iter().all(|(c, n, _)| c != code && n != name), "{name}");
        }
    }
}
