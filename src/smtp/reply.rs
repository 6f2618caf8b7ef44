//! Reading SMTP replies (RFC 5321 section 4.2) with enhanced status codes
//! (RFC 2034, 3463).

use crate::error::{Error, Result};
use crate::reply::Reply;
use crate::transport::Connection;

/// Most lines accepted in one multi-line reply (EHLO lists a few dozen).
const MAX_REPLY_LINES: usize = 512;

/// Read one reply, multi-line or not. `enhanced` says whether the server
/// announced ENHANCEDSTATUSCODES (only then is a leading `x.y.z` one).
pub(crate) fn read_reply(conn: &mut Connection, enhanced: bool) -> Result<Reply> {
    let mut code = None;
    let mut lines = Vec::new();
    let mut first_enhanced = None;
    loop {
        let (this_code, last, text) = conn.read_line(parse_line)??;
        if *code.get_or_insert(this_code) != this_code {
            return Err(Error::Protocol(format!(
                "a multi-line reply changed its code from {} to {this_code}",
                code.unwrap_or_default()
            )));
        }
        let text = if enhanced { strip_enhanced(&text, this_code, &mut first_enhanced) } else { text };
        if lines.len() == MAX_REPLY_LINES {
            return Err(Error::Protocol(format!("a reply has more than {MAX_REPLY_LINES} lines")));
        }
        lines.push(text);
        if last {
            return Ok(Reply { code: this_code, enhanced_code: first_enhanced, lines });
        }
    }
}

/// "250-text" or "250 text" or "250": (code, is last line, text).
fn parse_line(line: &[u8]) -> Result<(u16, bool, String)> {
    let bad =
        || Error::Protocol(format!("malformed reply line {:?}", String::from_utf8_lossy(&line[..line.len().min(120)])));
    if line.len() < 3 || !line[..3].iter().all(u8::is_ascii_digit) || !(b'2'..=b'5').contains(&line[0]) {
        return Err(bad());
    }
    let code = (line[0] - b'0') as u16 * 100 + (line[1] - b'0') as u16 * 10 + (line[2] - b'0') as u16;
    let last = match line.get(3) {
        None | Some(b' ') => true,
        Some(b'-') => false,
        Some(_) => return Err(bad()),
    };
    let text = String::from_utf8_lossy(line.get(4..).unwrap_or_default()).into_owned();
    Ok((code, last, text))
}

/// Take a leading `class.subject.detail` off `text` when its class matches
/// the reply code's, keeping the first one seen.
fn strip_enhanced(text: &str, code: u16, first: &mut Option<String>) -> String {
    let (head, rest) = text.split_once(' ').unwrap_or((text, ""));
    let parts: Vec<&str> = head.split('.').collect();
    let valid = parts.len() == 3
        && parts.iter().all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
        && parts[0] == (code / 100).to_string();
    if !valid {
        return text.to_string();
    }
    first.get_or_insert_with(|| head.to_string());
    rest.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse() {
        assert_eq!(parse_line(b"250-PIPELINING").unwrap(), (250, false, "PIPELINING".into()));
        assert_eq!(parse_line(b"250 OK").unwrap(), (250, true, "OK".into()));
        assert_eq!(parse_line(b"354").unwrap(), (354, true, String::new()));
        assert!(parse_line(b"25").is_err());
        assert!(parse_line(b"250xOK").is_err());
        assert!(parse_line(b"abc OK").is_err());
        assert!(parse_line(b"650 OK").is_err());
    }

    #[test]
    fn enhanced_codes_are_taken_off_when_they_match() {
        let mut first = None;
        assert_eq!(strip_enhanced("5.1.1 <x@y>: User unknown", 550, &mut first), "<x@y>: User unknown");
        assert_eq!(first.as_deref(), Some("5.1.1"));
        let mut first = None;
        assert_eq!(strip_enhanced("2.1.0 Ok", 550, &mut first), "2.1.0 Ok");
        assert_eq!(first, None);
        let reply = Reply { code: 550, enhanced_code: Some("5.1.1".into()), lines: vec!["User unknown".into()] };
        assert_eq!(reply.to_server_reply().text, "550 5.1.1 User unknown");
    }
}
