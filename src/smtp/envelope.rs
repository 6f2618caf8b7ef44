//! Deriving the SMTP envelope from a message's own headers: From (or
//! Sender) for MAIL FROM; To, Cc and Bcc for RCPT TO; Bcc removed from what
//! is sent.

use mailparse::{MailAddr, MailHeader, addrparse_header, parse_header, parse_headers};

use crate::error::{Error, Result};

/// Largest header section read for envelope derivation.
const MAX_HEADER_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub from: String,
    pub recipients: Vec<String>,
}

/// The envelope of `message`, and the message without its Bcc header(s).
pub fn derive(message: &[u8]) -> Result<(Envelope, Vec<u8>)> {
    let head_len = header_section_len(message);
    if head_len > MAX_HEADER_BYTES {
        return Err(Error::InvalidArgument("the message headers are larger than 1 MiB".into()));
    }
    let (headers, _) = parse_headers(&message[..head_len])
        .map_err(|e| Error::InvalidArgument(format!("the message headers cannot be parsed: {e}")))?;
    let named =
        |name: &'static str| headers.iter().filter(move |h| field_name(&h.get_key_ref()).eq_ignore_ascii_case(name));

    let mut senders = Vec::new();
    for name in ["Sender", "From"] {
        for h in named(name) {
            senders.extend(addresses(h)?);
        }
        if !senders.is_empty() {
            break;
        }
    }
    // With several From addresses, RFC 5322 requires a Sender; without one,
    // take the first From.
    let from = senders
        .into_iter()
        .next()
        .ok_or_else(|| Error::InvalidArgument("the message has no usable sender (no From or Sender address)".into()))?;

    let mut recipients: Vec<String> = Vec::new();
    for name in ["To", "Cc", "Bcc"] {
        for h in named(name) {
            for addr in addresses(h)? {
                if !recipients.iter().any(|r| r.eq_ignore_ascii_case(&addr)) {
                    recipients.push(addr);
                }
            }
        }
    }
    if recipients.is_empty() {
        return Err(Error::InvalidArgument("the message has no recipient (no To, Cc or Bcc address)".into()));
    }
    Ok((Envelope { from, recipients }, without_bcc(message, head_len)))
}

/// A field name as RFC 5322 reads it: its obsolete syntax (section 4.5.3,
/// which readers must accept) allows spaces before the colon, so
/// `Bcc  :` is a Bcc field. (A line with no colon at all is read as a
/// name with a CR kept from its line end.)
fn field_name(key: &str) -> &str {
    key.trim_end_matches([' ', '\t', '\r'])
}

fn addresses(header: &MailHeader<'_>) -> Result<Vec<String>> {
    let list = addrparse_header(header).map_err(|e| {
        Error::InvalidArgument(format!("the {} header has an unreadable address: {e}", header.get_key_ref()))
    })?;
    let mut out = Vec::new();
    for addr in list.iter() {
        match addr {
            MailAddr::Single(s) => out.push(s.addr.clone()),
            MailAddr::Group(g) => out.extend(g.addrs.iter().map(|s| s.addr.clone())),
        }
    }
    Ok(out)
}

/// Length of the header section including the blank line that ends it (the
/// whole message if there is no body).
fn header_section_len(message: &[u8]) -> usize {
    let mut line_start = 0;
    while line_start < message.len() {
        let line_end =
            message[line_start..].iter().position(|b| *b == b'\n').map_or(message.len(), |p| line_start + p + 1);
        let line = &message[line_start..line_end];
        if line == b"\n" || line == b"\r\n" {
            return line_end;
        }
        line_start = line_end;
    }
    message.len()
}

/// `message` with every Bcc field (and its folded continuation lines) left
/// out of the header section. The fields are cut where the header parser
/// that derived the envelope says they end, so what it read as Bcc is
/// exactly what is removed, malformed lines included.
fn without_bcc(message: &[u8], head_len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len());
    let mut rest = &message[..head_len];
    while !rest.is_empty() && !rest.starts_with(b"\n") && !rest.starts_with(b"\r\n") {
        let Ok((header, used)) = parse_header(rest) else { break };
        if used == 0 {
            break;
        }
        if !field_name(&header.get_key_ref()).eq_ignore_ascii_case("bcc") {
            out.extend_from_slice(&rest[..used]);
        }
        rest = &rest[used..];
    }
    out.extend_from_slice(rest);
    out.extend_from_slice(&message[head_len..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_comes_from_the_headers_and_bcc_is_removed() {
        let msg = b"From: Alice <alice@example.org>\r\nTo: bob@example.org, \"C, D\" <cd@example.org>\r\nCc: team: e@example.org, f@example.org;\r\nBcc: hidden@example.org,\r\n  also-hidden@example.org\r\nSubject: hi\r\n\r\nBcc: not a header\r\n";
        let (env, sent) = derive(msg).unwrap();
        assert_eq!(env.from, "alice@example.org");
        assert_eq!(
            env.recipients,
            [
                "bob@example.org",
                "cd@example.org",
                "e@example.org",
                "f@example.org",
                "hidden@example.org",
                "also-hidden@example.org"
            ]
        );
        assert_eq!(
            sent,
            b"From: Alice <alice@example.org>\r\nTo: bob@example.org, \"C, D\" <cd@example.org>\r\nCc: team: e@example.org, f@example.org;\r\nSubject: hi\r\n\r\nBcc: not a header\r\n".to_vec()
        );
    }

    #[test]
    fn a_bcc_field_with_spaces_before_its_colon_is_still_bcc() {
        // Found by the smtp_envelope fuzz target: the obsolete form was sent on.
        let (env, sent) = derive(b"From: a@x.org\nTo: t@x.org\nBcc \t:hidden@x.org\nSubject: s\n\nbody").unwrap();
        assert_eq!(env.recipients, ["t@x.org", "hidden@x.org"]);
        assert_eq!(sent, b"From: a@x.org\nTo: t@x.org\nSubject: s\n\nbody".to_vec());
        // A bare "Bcc" line, which the header parser reads as an empty Bcc.
        let (_, sent) = derive(b"From: a@x.org\r\nBcc\r\nTo: t@x.org\r\n\r\nbody").unwrap();
        assert_eq!(sent, b"From: a@x.org\r\nTo: t@x.org\r\n\r\nbody".to_vec());
    }

    #[test]
    fn sender_wins_and_missing_parties_are_clear_errors() {
        let (env, _) = derive(b"From: a@x.org, b@x.org\nSender: s@x.org\nTo: t@x.org\n\nbody").unwrap();
        assert_eq!(env.from, "s@x.org");
        let no_from = derive(b"To: t@x.org\n\nbody").unwrap_err();
        assert!(no_from.to_string().contains("no usable sender"), "{no_from}");
        let no_to = derive(b"From: a@x.org\n\nbody").unwrap_err();
        assert!(no_to.to_string().contains("no recipient"), "{no_to}");
    }
}
