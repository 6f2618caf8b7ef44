//! Queueing a message's content for DATA through the encoder, in writes of
//! a bounded size.

use super::SmtpClient;
use super::data::DataEncoder;
use super::send::{MessageSource, source_error};
use crate::error::Result;

/// Message bytes are handed to the socket in writes of about this size.
pub(super) const WRITE_CHUNK: usize = 64 * 1024;

impl SmtpClient {
    /// Queue the message read from `source` through the DATA encoder, then
    /// the terminating dot. What exceeds a write chunk goes out on the way;
    /// the tail stays queued for the caller to flush.
    pub(super) fn queue_content_from(&mut self, source: &mut MessageSource<'_>) -> Result<()> {
        let mut encoder = DataEncoder::new();
        let mut input = vec![0u8; WRITE_CHUNK];
        loop {
            let n = match source.reader.read(&mut input) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(source_error(e)),
            };
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
