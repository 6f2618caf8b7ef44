//! Reading a multi-line POP3 response body: dot-unstuffed, byte-exact (line
//! ends kept), streamed in chunks straight out of the read buffer, so no
//! message is ever held whole and no line is copied on its own.

use crate::error::{Error, Result};
use crate::transport::Connection;

/// Stream the body up to the terminating `.` line into `sink`.
pub(crate) fn read_body(conn: &mut Connection, sink: &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<()> {
    let mut at_line_start = true;
    loop {
        let buf = conn.buffered();
        if buf.is_empty() {
            conn.fill()?;
            continue;
        }
        if at_line_start && buf[0] == b'.' {
            match (buf.get(1), buf.get(2)) {
                // Need more bytes to know what this dot starts.
                (None, _) | (Some(b'\r'), None) => {
                    conn.fill()?;
                    continue;
                }
                (Some(b'\r'), Some(b'\n')) => {
                    conn.consume(3);
                    return Ok(());
                }
                // A bare-LF terminator, from a lenient server.
                (Some(b'\n'), _) => {
                    conn.consume(2);
                    return Ok(());
                }
                // A stuffed dot: drop it, keep the rest of the line.
                _ => {
                    conn.consume(1);
                    at_line_start = false;
                    continue;
                }
            }
        }
        let (run, ends_at_line_start) = plain_run(buf);
        sink(&buf[..run])?;
        conn.consume(run);
        at_line_start = ends_at_line_start;
    }
}

/// The longest prefix of `buf` that holds no dot at a line start (after its
/// first byte), and whether it ends at a line start.
fn plain_run(buf: &[u8]) -> (usize, bool) {
    match memchr::memmem::find(buf, b"\n.") {
        Some(i) => (i + 1, true),
        None => (buf.len(), buf.ends_with(b"\n")),
    }
}

/// Read a multi-line listing (CAPA, LIST, UIDL) line by line, unstuffed,
/// with at most `max_lines` lines.
pub(crate) fn read_listing(
    conn: &mut Connection,
    max_lines: usize,
    mut each: impl FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    let mut count = 0usize;
    loop {
        let done = conn.read_line(|line| -> Result<bool> {
            if line == b"." {
                return Ok(true);
            }
            let line = line.strip_prefix(b".").unwrap_or(line);
            count += 1;
            if count > max_lines {
                return Err(Error::Protocol(format!("the listing has more than {max_lines} lines")));
            }
            each(line)?;
            Ok(false)
        })??;
        if done {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_stop_before_dotted_lines() {
        assert_eq!(plain_run(b"ab\r\ncd\r\n.x"), (8, true));
        assert_eq!(plain_run(b"ab\r\ncd"), (6, false));
        assert_eq!(plain_run(b"ab\r\n"), (4, true));
        assert_eq!(plain_run(b"\n.."), (1, true));
    }
}
