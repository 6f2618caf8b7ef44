//! What a message's bytes say before it is sent, found in one pass chunk by
//! chunk (so a file is looked at without being held in memory): its size as
//! DATA carries it (RFC 1870), whether it has 8-bit bytes (RFC 6152), and
//! whether its header section carries UTF-8 (RFC 6532).

use std::io::Read;

use super::data::{Count, DataEncoder};

/// What a message needs from the server beyond 7-bit ASCII.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EightBit {
    /// Every byte is ASCII: nothing to declare.
    No,
    /// Bytes over 127: BODY=8BITMIME (RFC 6152).
    Yes,
    /// UTF-8 in the header section (RFC 6532), so 8-bit too: SMTPUTF8 and
    /// BODY=8BITMIME.
    Utf8Headers,
}

/// The result of a look-ahead pass over a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scanned {
    /// The size DATA carries: line ends made CRLF, leading dots doubled, a
    /// final CRLF added when missing; the terminating "." not counted.
    pub size: u64,
    pub eight_bit: EightBit,
}

/// Look at a whole message in memory.
pub fn scan_bytes(message: &[u8]) -> Scanned {
    let mut scanner = Scanner::default();
    scanner.feed(message);
    scanner.finish()
}

/// Read `reader` to its end and look at what it gave (the caller rewinds
/// it before sending).
pub fn scan_reader(reader: &mut dyn Read) -> std::io::Result<Scanned> {
    let mut scanner = Scanner::default();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok(scanner.finish()),
            Ok(n) => scanner.feed(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

#[derive(Default)]
struct Scanner {
    encoder: DataEncoder,
    size: Count,
    eight_bit: bool,
    header: HeaderScan,
}

impl Scanner {
    fn feed(&mut self, chunk: &[u8]) {
        self.encoder.encode(chunk, &mut self.size);
        self.eight_bit = self.eight_bit || !chunk.is_ascii();
        self.header.feed(chunk);
    }

    fn finish(mut self) -> Scanned {
        self.encoder.end_last_line(&mut self.size);
        let eight_bit = if self.header.carries_utf8() {
            EightBit::Utf8Headers
        } else if self.eight_bit {
            EightBit::Yes
        } else {
            EightBit::No
        };
        Scanned { size: self.size.0, eight_bit }
    }
}

/// Follows a message's header section chunk by chunk: where it ends (the
/// first empty line, with CRLF, LF or a bare CR as line ends, as the DATA
/// encoder sees them) and whether it has a UTF-8 character beyond ASCII.
#[derive(Debug)]
pub(super) struct HeaderScan {
    ended: bool,
    at_line_start: bool,
    /// The previous byte was a CR: an LF now belongs to its line end.
    after_cr: bool,
    utf8: Utf8Sequence,
    carries_utf8: bool,
}

impl Default for HeaderScan {
    fn default() -> Self {
        HeaderScan {
            ended: false,
            at_line_start: true,
            after_cr: false,
            utf8: Utf8Sequence::default(),
            carries_utf8: false,
        }
    }
}

impl HeaderScan {
    /// Whether the header section has a UTF-8 character (so far).
    pub(super) fn carries_utf8(&self) -> bool {
        self.carries_utf8
    }

    /// Whether there is nothing more to learn from the following bytes.
    pub(super) fn done(&self) -> bool {
        self.ended || self.carries_utf8
    }

    pub(super) fn feed(&mut self, chunk: &[u8]) {
        if self.done() {
            return;
        }
        for &b in chunk {
            if std::mem::take(&mut self.after_cr) && b == b'\n' {
                continue;
            }
            match b {
                b'\r' | b'\n' => {
                    if self.at_line_start {
                        self.ended = true;
                        return;
                    }
                    self.at_line_start = true;
                    self.after_cr = b == b'\r';
                    self.utf8 = Utf8Sequence::default();
                }
                _ => {
                    self.at_line_start = false;
                    if self.utf8.push(b) {
                        self.carries_utf8 = true;
                        return;
                    }
                }
            }
        }
    }
}

/// A UTF-8 multi-byte character being read (RFC 3629: no overlong forms,
/// no surrogates, nothing over U+10FFFF).
#[derive(Debug, Default)]
struct Utf8Sequence {
    /// Continuation bytes still to come.
    needed: u8,
    /// The range the next continuation byte must be in.
    low: u8,
    high: u8,
}

impl Utf8Sequence {
    /// Take the next byte; true when it completes a multi-byte character.
    fn push(&mut self, b: u8) -> bool {
        if self.needed > 0 {
            if (self.low..=self.high).contains(&b) {
                self.needed -= 1;
                (self.low, self.high) = (0x80, 0xBF);
                return self.needed == 0;
            }
            self.needed = 0; // broken: `b` may start another one
        }
        (self.needed, self.low, self.high) = match b {
            0xC2..=0xDF => (1, 0x80, 0xBF),
            0xE0 => (2, 0xA0, 0xBF),
            0xE1..=0xEC | 0xEE..=0xEF => (2, 0x80, 0xBF),
            0xED => (2, 0x80, 0x9F),
            0xF0 => (3, 0x90, 0xBF),
            0xF1..=0xF3 => (3, 0x80, 0xBF),
            0xF4 => (3, 0x80, 0x8F),
            _ => (0, 0, 0),
        };
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_in_chunks(message: &[u8], chunk: usize) -> Scanned {
        let mut scanner = Scanner::default();
        for piece in message.chunks(chunk.max(1)) {
            scanner.feed(piece);
        }
        scanner.finish()
    }

    #[test]
    fn size_is_the_encoded_length_without_the_final_dot() {
        let cases: [(&[u8], u64); 5] = [
            (b"", 0),
            (b"a", 3),           // a CRLF
            (b"a\nb\n", 6),      // a CRLF b CRLF
            (b".x\r\n.\r\n", 9), // ..x CRLF .. CRLF
            (b"S: x\n\n\xe9\n", 4 + 2 + 2 + 1 + 2),
        ];
        for (message, size) in cases {
            for chunk in 1..=message.len().max(1) {
                assert_eq!(scan_in_chunks(message, chunk).size, size, "{message:?} in chunks of {chunk}");
            }
        }
    }

    #[test]
    fn eight_bit_and_utf8_headers_are_told_apart_at_any_chunk_size() {
        let cases: [(&[u8], EightBit); 9] = [
            (b"Subject: x\r\n\r\nplain\r\n", EightBit::No),
            (b"Subject: x\r\n\r\ncaf\xc3\xa9\r\n", EightBit::Yes),
            ("Subject: café\r\n\r\nx\r\n".as_bytes(), EightBit::Utf8Headers),
            ("To: a@b\n Jürgen <j@b>\n\nx".as_bytes(), EightBit::Utf8Headers),
            // A bare CR ends a line too: the empty line ends the header.
            (b"Subject: x\r\rcaf\xc3\xa9", EightBit::Yes),
            // Latin-1 in a header is 8-bit, not UTF-8.
            (b"Subject: caf\xe9\r\n\r\nx", EightBit::Yes),
            // Overlong and surrogate forms are not UTF-8.
            (b"Subject: \xc0\xaf \xed\xa0\x80\r\n\r\nx", EightBit::Yes),
            ("Subject: 𝄞\n\n".as_bytes(), EightBit::Utf8Headers),
            (b"\r\nSubject: caf\xc3\xa9", EightBit::Yes),
        ];
        for (message, expected) in cases {
            for chunk in 1..=message.len() {
                assert_eq!(
                    scan_in_chunks(message, chunk).eight_bit,
                    expected,
                    "{:?} in chunks of {chunk}",
                    String::from_utf8_lossy(message)
                );
            }
            assert_eq!(scan_reader(&mut &message[..]).unwrap(), scan_bytes(message));
        }
    }
}
