//! OpenSSL's numbers: certificate verification results (`X509_V_ERR_*`,
//! include/openssl/x509_vfy.h) and the reason codes of the SSL library's
//! errors (`SSL_R_*`, include/openssl/sslerr.h). The values are the same
//! in OpenSSL 1.1 and 3.x; openssl-sys has the former but not the latter.

use super::super::problem::{Code, Diagnosis, TlsProblem};
use TlsProblem::*;

/// `ERR_LIB_SSL`: the library code of errors raised by libssl.
pub(crate) const LIB_SSL: i32 = 20;
/// `SSL_R_CERTIFICATE_VERIFY_FAILED`: the handshake stopped because the
/// verification result (`X509_V_ERR_*`) was not OK.
pub(crate) const CERTIFICATE_VERIFY_FAILED: i32 = 134;

const VERIFY: &[(i32, &str, TlsProblem)] = &[
    (2, "X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT", UnknownIssuer),
    (3, "X509_V_ERR_UNABLE_TO_GET_CRL", RevocationUnknown),
    (4, "X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE", InvalidCertificate),
    (6, "X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY", InvalidCertificate),
    (7, "X509_V_ERR_CERT_SIGNATURE_FAILURE", InvalidCertificate),
    (9, "X509_V_ERR_CERT_NOT_YET_VALID", NotYetValid),
    (10, "X509_V_ERR_CERT_HAS_EXPIRED", Expired),
    (11, "X509_V_ERR_CRL_NOT_YET_VALID", RevocationUnknown),
    (12, "X509_V_ERR_CRL_HAS_EXPIRED", RevocationUnknown),
    (13, "X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD", InvalidCertificate),
    (14, "X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD", InvalidCertificate),
    (18, "X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT", SelfSigned),
    (19, "X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN", UntrustedRoot),
    (20, "X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY", UnknownIssuer),
    (21, "X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE", UnknownIssuer),
    (22, "X509_V_ERR_CERT_CHAIN_TOO_LONG", InvalidCertificate),
    (23, "X509_V_ERR_CERT_REVOKED", Revoked),
    (24, "X509_V_ERR_NO_ISSUER_PUBLIC_KEY", InvalidCertificate),
    (25, "X509_V_ERR_PATH_LENGTH_EXCEEDED", InvalidCertificate),
    (26, "X509_V_ERR_INVALID_PURPOSE", InvalidCertificate),
    (27, "X509_V_ERR_CERT_UNTRUSTED", UntrustedRoot),
    (28, "X509_V_ERR_CERT_REJECTED", UntrustedRoot),
    (33, "X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER", RevocationUnknown),
    (37, "X509_V_ERR_INVALID_NON_CA", InvalidCertificate),
    (62, "X509_V_ERR_HOSTNAME_MISMATCH", HostMismatch),
    (64, "X509_V_ERR_IP_ADDRESS_MISMATCH", HostMismatch),
    (66, "X509_V_ERR_EE_KEY_TOO_SMALL", InvalidCertificate),
    (67, "X509_V_ERR_CA_KEY_TOO_SMALL", InvalidCertificate),
    (68, "X509_V_ERR_CA_MD_TOO_WEAK", InvalidCertificate),
    (74, "X509_V_ERR_OCSP_VERIFY_FAILED", RevocationUnknown),
    (75, "X509_V_ERR_OCSP_CERT_UNKNOWN", RevocationUnknown),
    (79, "X509_V_ERR_INVALID_CA", InvalidCertificate),
];

/// Reasons of the SSL library that say more than "the handshake failed".
const REASONS: &[(i32, &str, TlsProblem)] = &[
    // The first bytes back were not a TLS record.
    (267, "SSL_R_WRONG_VERSION_NUMBER", NotTls),
    (198, "SSL_R_PACKET_LENGTH_TOO_LONG", NotTls),
    (156, "SSL_R_HTTP_REQUEST", NotTls),
    (155, "SSL_R_HTTPS_PROXY_REQUEST", NotTls),
    (258, "SSL_R_UNSUPPORTED_PROTOCOL", ProtocolVersion),
    (259, "SSL_R_UNSUPPORTED_SSL_VERSION", ProtocolVersion),
    (191, "SSL_R_NO_PROTOCOLS_AVAILABLE", ProtocolVersion),
    (396, "SSL_R_VERSION_TOO_LOW", ProtocolVersion),
    (181, "SSL_R_NO_CIPHERS_AVAILABLE", ProtocolVersion),
    (1070, "SSL_R_TLSV1_ALERT_PROTOCOL_VERSION", ProtocolVersion),
    (1071, "SSL_R_TLSV1_ALERT_INSUFFICIENT_SECURITY", ProtocolVersion),
    (294, "SSL_R_UNEXPECTED_EOF_WHILE_READING", ConnectionClosed),
    // Named for the reader; they sort as a plain handshake failure.
    (1040, "SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE", HandshakeFailed),
    (1080, "SSL_R_TLSV1_ALERT_INTERNAL_ERROR", HandshakeFailed),
    (1116, "SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED", HandshakeFailed),
    (CERTIFICATE_VERIFY_FAILED, "SSL_R_CERTIFICATE_VERIFY_FAILED", InvalidCertificate),
];

fn lookup(table: &[(i32, &'static str, TlsProblem)], code: i32) -> Option<(&'static str, TlsProblem)> {
    table.iter().find(|&&(c, _, _)| c == code).map(|&(_, name, problem)| (name, problem))
}

pub(crate) fn verify_name(code: i32) -> Option<&'static str> {
    lookup(VERIFY, code).map(|(name, _)| name)
}

pub(crate) fn reason_name(code: i32) -> Option<&'static str> {
    lookup(REASONS, code).map(|(name, _)| name)
}

/// Sort an OpenSSL handshake failure. `verify` is the verification result
/// when the chain was checked (0 is OK); `errors` the (library, reason)
/// codes of the error stack, oldest first.
pub(crate) fn diagnose(verify: Option<i32>, errors: &[(i32, i32)], library_text: String) -> Diagnosis {
    let ssl_reasons = || errors.iter().filter(|&&(lib, _)| lib == LIB_SSL).map(|&(_, reason)| reason);
    let (problem, code) = if let Some(v) = verify.filter(|&v| v != 0) {
        let problem = lookup(VERIFY, v).map_or(InvalidCertificate, |(_, p)| p);
        (problem, Some(Code::X509Verify(v)))
    } else if let Some((reason, problem)) =
        ssl_reasons().find_map(|r| lookup(REASONS, r).map(|(_, problem)| (r, problem)))
    {
        (problem, Some(Code::SslReason(reason)))
    } else {
        (HandshakeFailed, ssl_reasons().next().map(Code::SslReason))
    };
    Diagnosis { problem, code, library_text }
}

/// The (library, reason) codes of an error stack, oldest first.
#[cfg(not(any(windows, target_vendor = "apple")))]
pub(crate) fn stack_codes(stack: &openssl::error::ErrorStack) -> Vec<(i32, i32)> {
    stack.errors().iter().map(|e| (e.library_code(), e.reason_code())).collect()
}

/// The verification result in the `Debug` form of native-tls's OpenSSL
/// error: native-tls 0.2 keeps the `X509VerifyResult` but offers no way to
/// it (its `source()` skips it), and the openssl crate writes it as
/// `X509VerifyResult { code: N, error: "…" }`.
#[cfg_attr(not(feature = "native-tls-backend"), allow(dead_code))]
pub(crate) fn verify_code_in_debug(debug: &str) -> Option<i32> {
    const FIELD: &str = "X509VerifyResult { code: ";
    let rest = &debug[debug.rfind(FIELD)? + FIELD.len()..];
    let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '-')).unwrap_or(rest.len());
    rest[..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verification_result_decides_first() {
        let host = diagnose(Some(62), &[(LIB_SSL, CERTIFICATE_VERIFY_FAILED)], "text".into());
        assert_eq!(host.problem, HostMismatch);
        assert_eq!(host.code, Some(Code::X509Verify(62)));
        assert!(host.detail().contains("X509_V_ERR_HOSTNAME_MISMATCH, 62"), "{}", host.detail());
        assert!(host.detail().ends_with("the TLS library said: text"), "{}", host.detail());
        for (code, problem) in [
            (64, HostMismatch),
            (10, Expired),
            (9, NotYetValid),
            (18, SelfSigned),
            (19, UntrustedRoot),
            (20, UnknownIssuer),
            (2, UnknownIssuer),
            (23, Revoked),
            (3, RevocationUnknown),
            // A code this table does not know is still a certificate defect.
            (9999, InvalidCertificate),
        ] {
            assert_eq!(diagnose(Some(code), &[], String::new()).problem, problem, "{code}");
        }
    }

    #[test]
    fn reason_codes_sort_the_rest() {
        let d = |errors: &[(i32, i32)]| diagnose(Some(0), errors, String::new());
        assert_eq!(d(&[(LIB_SSL, 267)]).problem, NotTls);
        assert_eq!(d(&[(LIB_SSL, 198)]).problem, NotTls);
        assert_eq!(d(&[(LIB_SSL, 156)]).problem, NotTls);
        assert_eq!(d(&[(LIB_SSL, 258)]).problem, ProtocolVersion);
        assert_eq!(d(&[(LIB_SSL, 1070)]).problem, ProtocolVersion);
        assert_eq!(d(&[(LIB_SSL, 191)]).problem, ProtocolVersion);
        assert_eq!(d(&[(LIB_SSL, 294)]).problem, ConnectionClosed);
        // The same number from another library is not an SSL reason.
        assert_eq!(d(&[(6, 267)]).problem, HandshakeFailed);
        assert_eq!(d(&[(6, 267)]).code, None);
        // An unknown reason is kept as the code.
        let unknown = d(&[(LIB_SSL, 4321)]);
        assert_eq!((unknown.problem, unknown.code), (HandshakeFailed, Some(Code::SslReason(4321))));
        assert!(unknown.detail().contains("OpenSSL SSL reason 4321"), "{}", unknown.detail());
        assert_eq!(d(&[]).code, None);
    }

    #[cfg(not(any(windows, target_vendor = "apple")))]
    #[test]
    fn verify_codes_match_openssl_sys() {
        for (value, name) in [
            (openssl_sys::X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT, "X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT"),
            (openssl_sys::X509_V_ERR_CERT_NOT_YET_VALID, "X509_V_ERR_CERT_NOT_YET_VALID"),
            (openssl_sys::X509_V_ERR_CERT_HAS_EXPIRED, "X509_V_ERR_CERT_HAS_EXPIRED"),
            (openssl_sys::X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, "X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT"),
            (openssl_sys::X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN, "X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN"),
            (openssl_sys::X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, "X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY"),
            (openssl_sys::X509_V_ERR_CERT_REVOKED, "X509_V_ERR_CERT_REVOKED"),
            (openssl_sys::X509_V_ERR_HOSTNAME_MISMATCH, "X509_V_ERR_HOSTNAME_MISMATCH"),
            (openssl_sys::X509_V_ERR_IP_ADDRESS_MISMATCH, "X509_V_ERR_IP_ADDRESS_MISMATCH"),
        ] {
            assert_eq!(verify_name(value), Some(name));
        }
    }

    /// The reason codes against the OpenSSL headers the crate is built
    /// with (libssl-dev, which openssl-sys needs to build).
    #[cfg(target_os = "linux")]
    #[test]
    fn reason_codes_match_the_openssl_headers() {
        let header = |name| std::fs::read_to_string(format!("/usr/include/openssl/{name}")).unwrap_or_default();
        let defined = |text: &str, name: &str| {
            text.lines()
                .find_map(|l| {
                    l.strip_prefix(&format!("# define {name} ")).or(l.strip_prefix(&format!("#define {name} ")))
                })
                .and_then(|v| v.split_whitespace().next()?.parse::<i32>().ok())
        };
        let sslerr = header("sslerr.h");
        if sslerr.is_empty() {
            eprintln!("no /usr/include/openssl/sslerr.h: not compared");
            return;
        }
        for &(value, name, _) in REASONS {
            assert_eq!(defined(&sslerr, name), Some(value), "{name}");
        }
        assert_eq!(defined(&header("err.h"), "ERR_LIB_SSL"), Some(LIB_SSL));
        let x509 = header("x509_vfy.h");
        for &(value, name, _) in VERIFY {
            assert_eq!(defined(&x509, name), Some(value), "{name}");
        }
    }

    #[cfg(not(any(windows, target_vendor = "apple")))]
    #[test]
    fn the_verification_result_is_found_in_its_debug_form() {
        use openssl::x509::X509VerifyResult;
        for result in [X509VerifyResult::OK, X509VerifyResult::APPLICATION_VERIFICATION] {
            let debug = format!("Ssl(Error {{ code: ErrorCode(1), cause: None }}, {result:?})");
            assert_eq!(verify_code_in_debug(&debug), Some(result.as_raw()), "{debug}");
        }
        assert_eq!(verify_code_in_debug("Normal(ErrorStack([]))"), None);
    }
}
