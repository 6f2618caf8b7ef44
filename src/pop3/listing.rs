//! The numbers and unique ids of STAT, LIST and UIDL replies.

use super::reply::quote;
use crate::error::{Error, Result};

/// RFC 1939: a unique-id is 1 to 70 printable characters.
pub(crate) const MAX_UID_LEN: usize = 70;

/// "n m" as in STAT, LIST and their one-message forms.
///
/// A size of `u64::MAX` is refused: the C API uses that value to say "size
/// unknown", so a server announcing it would turn a size into "unknown".
pub(crate) fn parse_two_numbers(text: &str, what: &str) -> Result<(u32, u64)> {
    let mut words = text.split_ascii_whitespace();
    let a = words.next().and_then(|w| w.parse().ok());
    let b = words.next().and_then(|w| w.parse().ok());
    match (a, b) {
        (Some(_), Some(u64::MAX)) => {
            Err(Error::Protocol(format!("{what} reply {} gives a size too large to represent", quote(text.as_bytes()))))
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_numbers_up_to_the_largest_representable_size() {
        assert_eq!(parse_two_numbers("3 120", "LIST").unwrap(), (3, 120));
        assert_eq!(parse_two_numbers("1 18446744073709551614", "LIST").unwrap(), (1, u64::MAX - 1));
    }

    #[test]
    fn a_size_of_u64_max_is_a_protocol_error() {
        for what in ["LIST", "STAT"] {
            match parse_two_numbers("1 18446744073709551615", what) {
                Err(Error::Protocol(message)) => assert!(message.contains(what), "{message}"),
                other => panic!("{what}: expected a protocol error, got {other:?}"),
            }
        }
    }

    #[test]
    fn a_size_beyond_u64_is_a_protocol_error() {
        assert!(matches!(parse_two_numbers("1 18446744073709551616", "LIST"), Err(Error::Protocol(_))));
    }
}
