//! POP3 status lines (RFC 1939) and their response codes (RFC 2449, 3206).

use crate::error::{Error, Result, ServerReply};

pub(crate) enum Status {
    /// `+OK`, with the text after it.
    Ok(String),
    /// `-ERR`, with the whole line and its response code.
    Err(ServerReply),
    /// `+ `, a SASL continuation, with its (still base64) payload.
    Continue(Vec<u8>),
}

pub(crate) fn parse_status(line: &[u8]) -> Result<Status> {
    if let Some(rest) = strip_keyword(line, b"+OK") {
        return Ok(Status::Ok(String::from_utf8_lossy(rest).into_owned()));
    }
    if let Some(rest) = strip_keyword(line, b"-ERR") {
        let text = String::from_utf8_lossy(line).into_owned();
        let response_code = response_code(&String::from_utf8_lossy(rest));
        return Ok(Status::Err(ServerReply { text, code: None, response_code, enhanced_code: None, advice: None }));
    }
    if line == b"+" || line.starts_with(b"+ ") {
        return Ok(Status::Continue(line.get(2..).unwrap_or_default().to_vec()));
    }
    Err(Error::Protocol(format!("expected +OK or -ERR, got {}", quote(line))))
}

/// `keyword` at the start of `line`, followed by a space or the line end.
fn strip_keyword<'a>(line: &'a [u8], keyword: &[u8]) -> Option<&'a [u8]> {
    let rest = line.strip_prefix(keyword)?;
    match rest.first() {
        None => Some(rest),
        Some(b' ') => Some(&rest[1..]),
        _ => None,
    }
}

/// The bracketed code at the start of a reply text: `[SYS/TEMP] ...`.
pub(crate) fn response_code(text: &str) -> Option<String> {
    let inner = text.strip_prefix('[')?;
    let end = inner.find(']')?;
    let code = &inner[..end];
    let valid = !code.is_empty() && code.len() <= 64 && code.bytes().all(|b| b.is_ascii_graphic());
    valid.then(|| code.to_ascii_uppercase())
}

/// A server line shown in an error message, shortened and made printable.
pub(crate) fn quote(line: &[u8]) -> String {
    const SHOWN: usize = 120;
    let cut = &line[..line.len().min(SHOWN)];
    let mut s = format!("{:?}", String::from_utf8_lossy(cut));
    if line.len() > SHOWN {
        s.push_str("...");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_parse() {
        assert!(matches!(parse_status(b"+OK").unwrap(), Status::Ok(t) if t.is_empty()));
        assert!(matches!(parse_status(b"+OK 2 320").unwrap(), Status::Ok(t) if t == "2 320"));
        match parse_status(b"-ERR [SYS/TEMP] try later").unwrap() {
            Status::Err(r) => {
                assert_eq!(r.response_code.as_deref(), Some("SYS/TEMP"));
                assert_eq!(r.text, "-ERR [SYS/TEMP] try later");
            }
            _ => panic!("not an error"),
        }
        assert!(matches!(parse_status(b"-ERR no code").unwrap(), Status::Err(r) if r.response_code.is_none()));
        assert!(matches!(parse_status(b"+ PDEyMz4=").unwrap(), Status::Continue(c) if c == b"PDEyMz4="));
        assert!(parse_status(b"+OKAY").is_err());
        assert!(parse_status(b"* OK imap").is_err());
    }

    #[test]
    fn response_codes_are_validated() {
        assert_eq!(response_code("[in-use] locked").as_deref(), Some("IN-USE"));
        assert_eq!(response_code("[LOGIN-DELAY] wait"), Some("LOGIN-DELAY".into()));
        assert_eq!(response_code("[] x"), None);
        assert_eq!(response_code("[unterminated"), None);
    }
}
