//! The numbers and unique ids of STAT, LIST and UIDL replies.

use super::reply::quote;
use crate::error::{Error, Result};

/// RFC 1939: a unique-id is 1 to 70 printable characters.
pub(crate) const MAX_UID_LEN: usize = 70;

/// "n m" as in STAT, LIST and their one-message forms.
pub(crate) fn parse_two_numbers(text: &str, what: &str) -> Result<(u32, u64)> {
    let mut words = text.split_ascii_whitespace();
    let a = words.next().and_then(|w| w.parse().ok());
    let b = words.next().and_then(|w| w.parse().ok());
    match (a, b) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => Err(Error::Protocol(format!("malformed {what} reply {}", quote(text.as_bytes())))),
    }
}

/// "n uid" as in UIDL.
pub(crate) fn parse_uid_line(line: &[u8]) -> Result<(u32, String)> {
    let bad = || Error::Protocol(format!("malformed UIDL line {}", quote(line)));
    let text = std::str::from_utf8(line).map_err(|_| bad())?;
    let mut words = text.split_ascii_whitespace();
    let number = words.next().and_then(|w| w.parse().ok()).ok_or_else(bad)?;
    let uid = words.next().ok_or_else(bad)?;
    if uid.len() > MAX_UID_LEN || !uid.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad());
    }
    Ok((number, uid.to_string()))
}
