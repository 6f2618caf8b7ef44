//! The DATA encoding of a message (RFC 5321 section 4.5.2): line ends made
//! CRLF (bare LF and bare CR included), leading dots doubled, a final CRLF
//! added when missing, then the terminating dot. It works chunk by chunk,
//! so a message of any size streams through a fixed buffer. The same code
//! counts the encoding's length without keeping it (for SIZE, RFC 1870).

/// Where the encoder's bytes go: a buffer, or a [`Count`].
pub(crate) trait Output {
    fn put(&mut self, bytes: &[u8]);
}

impl Output for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// Counts the encoded bytes instead of keeping them.
#[derive(Debug, Default)]
pub(crate) struct Count(pub u64);

impl Output for Count {
    fn put(&mut self, bytes: &[u8]) {
        self.0 += bytes.len() as u64;
    }
}

#[derive(Debug)]
pub(crate) struct DataEncoder {
    at_line_start: bool,
    /// A CR seen at the end of the previous chunk, not yet known to be
    /// part of CRLF.
    pending_cr: bool,
}

impl Default for DataEncoder {
    fn default() -> Self {
        DataEncoder { at_line_start: true, pending_cr: false }
    }
}

impl DataEncoder {
    pub fn new() -> Self {
        DataEncoder::default()
    }

    /// Append the encoding of `input` to `out`.
    pub fn encode(&mut self, input: &[u8], out: &mut impl Output) {
        let mut i = 0;
        if self.pending_cr && !input.is_empty() {
            self.pending_cr = false;
            out.put(b"\r\n");
            self.at_line_start = true;
            if input[0] == b'\n' {
                i = 1; // the LF of a CRLF split across chunks
            }
        }
        while i < input.len() {
            if self.at_line_start && input[i] == b'.' {
                out.put(b".");
            }
            // Copy up to the next line end in one go.
            let run_end = memchr::memchr2(b'\r', b'\n', &input[i..]).map_or(input.len(), |p| i + p);
            out.put(&input[i..run_end]);
            if run_end > i {
                self.at_line_start = false;
            }
            i = run_end;
            if i == input.len() {
                break;
            }
            if input[i] == b'\r' {
                match input.get(i + 1) {
                    None => {
                        self.pending_cr = true;
                        return;
                    }
                    Some(b'\n') => i += 2,
                    Some(_) => i += 1, // a bare CR
                }
            } else {
                i += 1; // a bare LF
            }
            out.put(b"\r\n");
            self.at_line_start = true;
        }
    }

    /// Append the end of the message: a CRLF if the last line lacks one,
    /// and the terminating `.` line.
    pub fn finish(&mut self, out: &mut impl Output) {
        self.end_last_line(out);
        out.put(b".\r\n");
    }

    /// Append a CRLF if the last line lacks one: the end of the message as
    /// SIZE counts it (without the terminating `.` line).
    pub fn end_last_line(&mut self, out: &mut impl Output) {
        if self.pending_cr || !self.at_line_start {
            out.put(b"\r\n");
        }
        self.pending_cr = false;
        self.at_line_start = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode_in_chunks(input: &[u8], chunk: usize) -> Vec<u8> {
        let mut enc = DataEncoder::new();
        let mut out = Vec::new();
        for piece in input.chunks(chunk.max(1)) {
            enc.encode(piece, &mut out);
        }
        enc.finish(&mut out);
        out
    }

    #[test]
    fn encodes_line_ends_dots_and_the_terminator_at_any_chunk_size() {
        let cases: [(&[u8], &[u8]); 8] = [
            (b"", b".\r\n"),
            (b"a", b"a\r\n.\r\n"),
            (b"a\r\nb\r\n", b"a\r\nb\r\n.\r\n"),
            (b"a\nb", b"a\r\nb\r\n.\r\n"),
            (b"a\rb\r", b"a\r\nb\r\n.\r\n"),
            (b".\n..x\n", b"..\r\n...x\r\n.\r\n"),
            (b"x.\n.", b"x.\r\n..\r\n.\r\n"),
            (b"\r\n\r\r\n.", b"\r\n\r\n\r\n..\r\n.\r\n"),
        ];
        for (input, expected) in cases {
            for chunk in 1..=input.len().max(1) {
                assert_eq!(
                    encode_in_chunks(input, chunk),
                    expected,
                    "{:?} in chunks of {chunk}",
                    String::from_utf8_lossy(input)
                );
                let mut enc = DataEncoder::new();
                let mut count = Count::default();
                for piece in input.chunks(chunk) {
                    enc.encode(piece, &mut count);
                }
                enc.end_last_line(&mut count);
                assert_eq!(count.0 as usize, expected.len() - 3, "the count is the encoding without the final dot");
            }
        }
    }
}
