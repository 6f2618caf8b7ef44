//! SHA-256 certificate fingerprints as people write them: 64 hex digits,
//! with or without colons.

use crate::error::{Error, Result};

/// Parse a fingerprint from hex, with or without colons, any case.
pub fn parse_sha256_hex(hex: &str) -> Result<[u8; 32]> {
    let digits: Vec<u8> = hex.bytes().filter(|b| *b != b':').collect();
    let bad = || Error::InvalidArgument("a SHA-256 fingerprint is 64 hex digits (colons allowed)".into());
    // from_str_radix alone would also take a sign.
    if digits.len() != 64 || !digits.iter().all(u8::is_ascii_hexdigit) {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (i, pair) in digits.chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).map_err(|_| bad())?;
        out[i] = u8::from_str_radix(s, 16).map_err(|_| bad())?;
    }
    Ok(out)
}

/// A fingerprint as 64 lowercase hex digits without colons.
pub fn sha256_hex(digest: &[u8; 32]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_parse_with_or_without_colons() {
        let hex = "AB:cd".to_string() + &"00".repeat(30);
        assert_eq!(parse_sha256_hex(&hex).unwrap()[..2], [0xab, 0xcd]);
        assert!(parse_sha256_hex("abc").is_err());
        assert!(parse_sha256_hex(&"zz".repeat(32)).is_err());
        assert!(parse_sha256_hex(&"+0".repeat(32)).is_err());
        assert_eq!(sha256_hex(&parse_sha256_hex(&"0f".repeat(32)).unwrap()), "0f".repeat(32));
    }
}
