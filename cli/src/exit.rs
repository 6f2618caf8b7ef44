//! Exit codes, and the failure a command ends with: what went wrong, said
//! for the person who must act on it, and the code a script tests.

use mailtls::{CertificateReason, Error};

/// The exit codes, as `mailtls --help` documents them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    /// Anything else (a local file, a cancelled transfer, a sync state in
    /// use by another sync or unreadable).
    Other = 1,
    /// The command line (clap uses 2 for its own usage errors too).
    Usage = 2,
    /// The server could not be reached or proved not to be who it should
    /// be: name lookup, connection, timeout, TLS, certificate, missing
    /// STARTTLS, or a server that broke the protocol.
    Connection = 3,
    /// The login was refused, or could not be tried safely.
    Authentication = 4,
    /// The server refused a command, a recipient or the message.
    Refused = 5,
}

pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  other failure: a local file, a fetch state in use by another fetch of the
     account or unreadable, ...
  2  usage: bad arguments or URL, a password in the URL, no password available
  3  connection or TLS: name lookup, connect, timeout, TLS handshake, untrusted or
     mismatching certificate, no STARTTLS, protocol violation by the server
  4  authentication: login refused, no common mechanism, login in clear refused
  5  server refusal: a command, a recipient (even if others took the message) or
     the message refused; no unique ids (UIDL) for a fetch that needs them";

#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
}

impl Failure {
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure { exit: Exit::Usage, message: message.into() }
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Failure {
        let exit = exit_for(&error);
        let hint = hint(&error);
        Failure { exit, message: format!("{error}{hint}") }
    }
}

/// What the command line adds to an error: its own options that fix it.
pub fn hint(error: &Error) -> &'static str {
    match error {
        Error::Certificate(c)
            if matches!(
                c.reason,
                CertificateReason::SelfSigned | CertificateReason::UnknownIssuer | CertificateReason::Untrusted
            ) =>
        {
            " (to trust the server's CA give --ca-file FILE; to accept exactly this certificate, --pin SHA256)"
        }
        _ => "",
    }
}

pub fn exit_for(error: &Error) -> Exit {
    match error {
        Error::InvalidArgument(_) => Exit::Usage,
        Error::NotConnected(_)
        | Error::Resolve { .. }
        | Error::Connect(_)
        | Error::Timeout(_)
        | Error::ConnectionClosed(_)
        // The proxy's credentials are not the account's: a connection
        // problem for the person.
        | Error::ProxyUnreachable(_)
        | Error::ProxyAuthFailed(_)
        | Error::ProxyTargetFailed(_)
        | Error::ProxyProtocol(_)
        | Error::Io { .. }
        | Error::Tls { .. }
        | Error::TlsVersion { .. }
        | Error::Certificate(_)
        | Error::CertificatePinMismatch { .. }
        | Error::StartTlsUnavailable { .. }
        | Error::ImplicitTlsPort { .. }
        | Error::Protocol(_)
        | Error::ReplyTooLong(_) => Exit::Connection,
        Error::PlaintextAuthRefused
        | Error::NoCommonMechanism(_)
        | Error::AuthFailed(_)
        | Error::EncryptionRequired(_) => Exit::Authentication,
        Error::Server(_)
        | Error::RecipientsRefused(..)
        | Error::SmtpUtf8Unavailable(_)
        | Error::EightBitUnavailable(_)
        | Error::MessageTooLarge { .. }
        | Error::UidlUnavailable(_) => Exit::Refused,
        Error::Cancelled | Error::LocalFile { .. } | Error::StateLocked(_) | Error::StateCorrupt { .. } => Exit::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailtls::{CertificateError, ServerReply};

    #[test]
    fn errors_sort_into_the_documented_codes() {
        assert_eq!(exit_for(&untrusted(CertificateReason::Expired)), Exit::Connection);
        assert_eq!(exit_for(&Error::Timeout("x".into())), Exit::Connection);
        assert_eq!(exit_for(&Error::AuthFailed(ServerReply::default())), Exit::Authentication);
        assert_eq!(exit_for(&Error::PlaintextAuthRefused), Exit::Authentication);
        assert_eq!(exit_for(&Error::Server(ServerReply::default())), Exit::Refused);
        assert_eq!(exit_for(&Error::RecipientsRefused(vec![], None)), Exit::Refused);
        assert_eq!(exit_for(&Error::InvalidArgument("x".into())), Exit::Usage);
        assert_eq!(exit_for(&Error::Cancelled), Exit::Other);
        assert_eq!(exit_for(&Error::StateLocked("s".into())), Exit::Other);
        assert_eq!(exit_for(&Error::UidlUnavailable("-ERR".into())), Exit::Refused);
        for (exit, code) in [(Exit::Ok, 0), (Exit::Usage, 2), (Exit::Connection, 3), (Exit::Refused, 5)] {
            assert_eq!(exit as i32, code);
            assert!(EXIT_CODES_HELP.contains(&format!("\n  {code}  ")), "{exit:?} is documented");
        }
    }

    #[test]
    fn an_untrusted_certificate_says_what_to_do() {
        let failure = Failure::from(untrusted(CertificateReason::UnknownIssuer));
        assert!(failure.message.contains("--ca-file"), "{}", failure.message);
        // An expired certificate is for the provider to renew, not to trust.
        let failure = Failure::from(untrusted(CertificateReason::Expired));
        assert!(!failure.message.contains("--ca-file"), "{}", failure.message);
    }

    fn untrusted(reason: CertificateReason) -> Error {
        Error::Certificate(Box::new(CertificateError {
            reason,
            host: "h".into(),
            port: 995,
            certificate: None,
            message: "the server's certificate is not trusted".into(),
            detail: String::new(),
            why: "the certificate is not trusted",
        }))
    }
}
