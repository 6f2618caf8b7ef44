//! Queueing a message's content for DATA through the encoder, in writes of
//! a bounded size, keeping a streamed message to what MAIL declared.

use super::data::DataEncoder;
use super::envelope_commands::Declared;
use super::scan::HeaderScan;
use super::send::{MessageSource, source_error};
use super::{Extensions, SmtpClient};
use crate::error::{Error, Result};

/// Message bytes are handed to the socket in writes of about this size.
pub(super) const WRITE_CHUNK: usize = 64 * 1024;

impl SmtpClient {
    /// Queue the message read from `source` through the DATA encoder, then
    /// the terminating dot. What exceeds a write chunk goes out on the way;
    /// the tail stays queued for the caller to flush. A chunk that needs
    /// what MAIL did not `declared` stops it with an error before the chunk
    /// is queued (the caller then closes the connection).
    pub(super) fn queue_content_from(&mut self, source: &mut MessageSource<'_>, declared: Declared) -> Result<()> {
        let mut guard = DeclaredGuard { declared, header: HeaderScan::default() };
        let mut encoder = DataEncoder::new();
        let mut input = vec![0u8; WRITE_CHUNK];
        loop {
            let n = match source.reader.read(&mut input) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(source_error(e)),
            };
            guard.check(&input[..n], &self.ext)?;
            self.queue_encoded(&mut encoder, &input[..n])?;
        }
        self.session.conn.queue_with(|out| encoder.finish(out));
        Ok(())
    }

    /// As [`Self::queue_content_from`], for a message already in memory;
    /// the tail stays queued (with the next message's envelope, in a
    /// batch).
    pub(super) fn queue_content(&mut self, message: &[u8]) -> Result<()> {
        let mut encoder = DataEncoder::new();
        for chunk in message.chunks(WRITE_CHUNK) {
            self.queue_encoded(&mut encoder, chunk)?;
        }
        self.session.conn.queue_with(|out| encoder.finish(out));
        Ok(())
    }

    fn queue_encoded(&mut self, encoder: &mut DataEncoder, input: &[u8]) -> Result<()> {
        let conn = &mut self.session.conn;
        conn.queue_with(|out| encoder.encode(input, out));
        if conn.queued_len() >= WRITE_CHUNK { conn.flush() } else { Ok(()) }
    }
}

/// Keeps a streamed message to what MAIL declared. Its content may not have
/// been known then (a read callback), so the first byte that needs an
/// undeclared extension stops the transfer.
struct DeclaredGuard {
    declared: Declared,
    header: HeaderScan,
}

impl DeclaredGuard {
    fn check(&mut self, chunk: &[u8], ext: &Extensions) -> Result<()> {
        if !self.declared.smtputf8 && !self.header.done() {
            self.header.feed(chunk);
            if self.header.carries_utf8() {
                return Err(utf8_headers_refused(ext, true));
            }
        }
        if !self.declared.eight_bit_mime && !chunk.is_ascii() {
            return Err(eight_bit_refused(ext, true));
        }
        Ok(())
    }
}

/// What a send that stopped during DATA adds to its error.
const STOPPED: &str =
    "; the transfer was stopped and the connection closed, so the server discards the partial message";

/// The error for 8-bit content the server cannot take as it was announced;
/// `stopped`: found while streaming, after MAIL.
pub(super) fn eight_bit_refused(ext: &Extensions, stopped: bool) -> Error {
    let what = if ext.eight_bit_mime() {
        "the message has 8-bit bytes (over 127) although its source said it had none, so BODY=8BITMIME was \
         not declared: leave the source's eight_bit unknown or say it is 8-bit"
    } else {
        "the message has 8-bit bytes (over 127) and the server does not offer 8BITMIME: send it with a \
         7-bit Content-Transfer-Encoding (quoted-printable or base64)"
    };
    Error::EightBitUnavailable(format!("{what}{}", if stopped { STOPPED } else { "" }))
}

/// The error for UTF-8 headers (RFC 6532) that SMTPUTF8 did not announce.
pub(super) fn utf8_headers_refused(ext: &Extensions, stopped: bool) -> Error {
    let what = if ext.smtputf8() {
        "the message headers are UTF-8 (RFC 6532), which SMTPUTF8 must announce before the content, and this \
         streamed message was not looked at in advance: send it from memory or from a file"
    } else {
        "the message headers are UTF-8 (RFC 6532) and the server does not offer SMTPUTF8: encode non-ASCII \
         header text as RFC 2047 encoded words"
    };
    Error::SmtpUtf8Unavailable(format!("{what}{}", if stopped { STOPPED } else { "" }))
}
