//! Deriving the SMTP envelope from a message's own headers (RFC 5322):
//! From (or Sender) for MAIL FROM; To, Cc and Bcc for RCPT TO. A message
//! with Resent- fields is being resent (section 3.6.6): its envelope comes
//! from the most recent resent block instead. Every Bcc and Resent-Bcc
//! field is removed from what is sent.

use mailparse::{MailAddr, MailHeader, addrparse_header, parse_header, parse_headers};

use crate::error::{Error, Result};

/// Largest header section read for envelope derivation.
const MAX_HEADER_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub from: String,
    pub recipients: Vec<String>,
}

/// Which fields give the envelope: the originator fields, or a resent
/// block's.
struct Fields {
    /// The sender's fields, the first with an address winning.
    sender: [&'static str; 2],
    recipients: [&'static str; 3],
    /// How error messages name where the addresses were looked for.
    source: &'static str,
}

const ORIGINAL: Fields = Fields { sender: ["Sender", "From"], recipients: ["To", "Cc", "Bcc"], source: "the message" };
const RESENT: Fields = Fields {
    sender: ["Resent-Sender", "Resent-From"],
    recipients: ["Resent-To", "Resent-Cc", "Resent-Bcc"],
    source: "the most recent Resent- block",
};

/// The envelope of `message`, and the message without its Bcc and
/// Resent-Bcc fields.
pub fn derive(message: &[u8]) -> Result<(Envelope, Vec<u8>)> {
    let head_len = header_section_len(message);
    if head_len > MAX_HEADER_BYTES {
        return Err(Error::InvalidArgument("the message headers are larger than 1 MiB".into()));
    }
    let (headers, _) = parse_headers(&message[..head_len])
        .map_err(|e| Error::InvalidArgument(format!("the message headers cannot be parsed: {e}")))?;
    let (fields, block) = match most_recent_resent_block(&headers) {
        Some(block) => (&RESENT, block),
        None => (&ORIGINAL, &headers[..]),
    };
    let named = |name: &'static str| block.iter().filter(move |h| has_name(h, name));

    let mut senders = Vec::new();
    for name in fields.sender {
        for h in named(name) {
            senders.extend(addresses(h)?);
        }
        if !senders.is_empty() {
            break;
        }
    }
    // With several From addresses, RFC 5322 requires a Sender; without one,
    // take the first From.
    let from = senders.into_iter().next().ok_or_else(|| {
        let [sender, from] = fields.sender;
        Error::InvalidArgument(format!("{} has no usable sender (no {from} or {sender} address)", fields.source))
    })?;

    let mut recipients: Vec<String> = Vec::new();
    for name in fields.recipients {
        for h in named(name) {
            for addr in addresses(h)? {
                if !recipients.iter().any(|r| r.eq_ignore_ascii_case(&addr)) {
                    recipients.push(addr);
                }
            }
        }
    }
    if recipients.is_empty() {
        let [to, cc, bcc] = fields.recipients;
        return Err(Error::InvalidArgument(format!(
            "{} has no recipient (no {to}, {cc} or {bcc} address)",
            fields.source
        )));
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

fn has_name(header: &MailHeader<'_>, name: &str) -> bool {
    field_name(&header.get_key_ref()).eq_ignore_ascii_case(name)
}

fn is_resent(header: &MailHeader<'_>) -> bool {
    let key = header.get_key_ref();
    key.len() > 7 && key.as_bytes()[..7].eq_ignore_ascii_case(b"resent-")
}

/// The most recent resent block: resent blocks are prepended (RFC 5322
/// section 3.6.6), so it is the first run of Resent- fields. It ends at
/// the first other field (the trace fields of an older block included) or
/// at a Resent- field it already has (the next block, each field being at
/// most once in a block).
fn most_recent_resent_block<'a, 'h>(headers: &'a [MailHeader<'h>]) -> Option<&'a [MailHeader<'h>]> {
    let start = headers.iter().position(is_resent)?;
    let mut end = start;
    while end < headers.len() && is_resent(&headers[end]) {
        let key = headers[end].get_key_ref();
        if headers[start..end].iter().any(|h| has_name(h, field_name(&key))) {
            break;
        }
        end += 1;
    }
    Some(&headers[start..end])
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

/// `message` with every Bcc and Resent-Bcc field (and its folded
/// continuation lines) left
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
        if !is_bcc_name(field_name(&header.get_key_ref())) {
            out.extend_from_slice(&rest[..used]);
        }
        rest = &rest[used..];
    }
    out.extend_from_slice(rest);
    out.extend_from_slice(&message[head_len..]);
    out
}

/// Whether a field's first line is Bcc or Resent-Bcc (spaces before the
/// colon allowed, as RFC 5322's obsolete syntax does).
fn is_bcc_name(name: &str) -> bool {
    name.eq_ignore_ascii_case("bcc") || name.eq_ignore_ascii_case("resent-bcc")
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

    #[test]
    fn a_resent_message_goes_to_the_most_recent_resent_block() {
        let msg = b"Resent-Date: Mon, 2 Mar 2026 10:00:00 +0000\r\n\
Resent-From: Carol <carol@x.org>\r\n\
Resent-To: dave@x.org\r\n\
Resent-Cc: erin@x.org\r\n\
Resent-Bcc: frank@x.org,\r\n\
\x20grace@x.org\r\n\
Received: from older by x.org\r\n\
Resent-Date: Sun, 1 Mar 2026 10:00:00 +0000\r\n\
Resent-From: old@x.org\r\n\
Resent-To: old-to@x.org\r\n\
Resent-bcc : old-hidden@x.org\r\n\
From: alice@x.org\r\n\
To: bob@x.org\r\n\
Bcc: bob-hidden@x.org\r\n\
Subject: s\r\n\
\r\n\
Resent-Bcc: in the body\r\n";
        let (env, sent) = derive(msg).unwrap();
        assert_eq!(env.from, "carol@x.org");
        assert_eq!(env.recipients, ["dave@x.org", "erin@x.org", "frank@x.org", "grace@x.org"]);
        let sent = String::from_utf8(sent).unwrap();
        for hidden in ["frank", "grace", "old-hidden", "bob-hidden"] {
            assert!(!sent.contains(hidden), "{hidden} leaks: {sent}");
        }
        assert!(sent.contains("Resent-To: dave@x.org\r\nResent-Cc: erin@x.org\r\nReceived:"), "{sent}");
        assert!(sent.ends_with("Subject: s\r\n\r\nResent-Bcc: in the body\r\n"), "{sent}");
    }

    #[test]
    fn resent_sender_wins_and_blocks_end_at_a_repeated_field() {
        let msg = b"Resent-From: a@x.org, b@x.org\nResent-Sender: s@x.org\nResent-To: t@x.org\n\
Resent-From: older@x.org\nResent-To: older-to@x.org\nFrom: o@x.org\nTo: o-to@x.org\n\nbody";
        let (env, _) = derive(msg).unwrap();
        assert_eq!((env.from.as_str(), env.recipients.as_slice()), ("s@x.org", &["t@x.org".to_string()][..]));
        let no_from = derive(b"Resent-To: t@x.org\nFrom: o@x.org\n\nbody").unwrap_err();
        assert!(no_from.to_string().contains("the most recent Resent- block has no usable sender"), "{no_from}");
        let no_to = derive(b"Resent-From: r@x.org\nFrom: o@x.org\nTo: o@x.org\n\nbody").unwrap_err();
        assert!(no_to.to_string().contains("no Resent-To, Resent-Cc or Resent-Bcc"), "{no_to}");
    }
}
