//! Sending an outbox on one session. With PIPELINING, one write carries a
//! message's content and final dot together with the next message's
//! envelope (RFC 2920), so each message costs one round trip.

use super::envelope_commands::ContentFacts;
use super::scan::scan_bytes;
use super::{Dsn, MessageSource, RecipientResult, SmtpClient};
use crate::error::Result;
use crate::session::Client;

/// One message of [`SmtpClient::send_batch`].
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    pub from: &'a str,
    pub recipients: &'a [&'a str],
    /// The whole message (RFC 5322), encoded for DATA on the way.
    pub message: &'a [u8],
}

/// Where a batch reports each message's outcome, by index.
type OnResult<'a> = &'a mut dyn FnMut(usize, Result<Vec<RecipientResult>>);

/// A message whose content is written (or queued) but whose final reply is
/// not read yet, with its recipients' results.
type Awaiting = Option<(usize, Vec<RecipientResult>)>;

impl SmtpClient {
    /// Send several in-memory messages, the common case of an outbox.
    /// `on_result` gets every message's outcome, in order, as
    /// [`Self::send`] would return it. A failure of the session itself
    /// (dropped connection, timeout, 421) ends the batch with that error:
    /// the messages with no reported outcome may or may not have been
    /// delivered (at most the last one reported pending).
    pub fn send_batch(&mut self, messages: &[Outgoing<'_>], dsn: Option<&Dsn>, on_result: OnResult<'_>) -> Result<()> {
        self.run(|c| {
            if c.ext.pipelining() {
                c.send_batch_pipelined(messages, dsn, on_result)
            } else {
                c.send_batch_one_by_one(messages, dsn, on_result)
            }
        })
    }

    fn send_batch_one_by_one(
        &mut self,
        messages: &[Outgoing<'_>],
        dsn: Option<&Dsn>,
        on_result: OnResult<'_>,
    ) -> Result<()> {
        for (i, m) in messages.iter().enumerate() {
            let mut bytes = m.message;
            match self.send_one(m.from, m.recipients, &mut MessageSource::from_bytes(&mut bytes), dsn) {
                Err(e) if e.ends_session() => return Err(e),
                outcome => on_result(i, outcome),
            }
        }
        Ok(())
    }

    fn send_batch_pipelined(
        &mut self,
        messages: &[Outgoing<'_>],
        dsn: Option<&Dsn>,
        on_result: OnResult<'_>,
    ) -> Result<()> {
        self.session.ensure_open()?;
        let mut awaiting: Awaiting = None;
        for (i, m) in messages.iter().enumerate() {
            let scanned = scan_bytes(m.message);
            let facts = ContentFacts { size: Some(scanned.size), eight_bit: Some(scanned.eight_bit) };
            let commands = match self.envelope_commands(m.from, m.recipients, facts, dsn) {
                Ok(commands) => commands,
                Err(e) => {
                    // Nothing of this message goes out; report in order.
                    self.report_awaiting(&mut awaiting, on_result)?;
                    on_result(i, Err(e));
                    continue;
                }
            };
            let envelope =
                self.exchange_envelope(&commands, m.recipients, |c| c.report_awaiting(&mut awaiting, on_result));
            match envelope {
                Ok(results) => {
                    self.queue_content(m.message)?;
                    awaiting = Some((i, results));
                }
                Err(e) if e.ends_session() => return Err(e),
                Err(e) => on_result(i, Err(e)),
            }
        }
        self.report_awaiting(&mut awaiting, on_result)
    }

    /// Read the final reply of the message awaiting one, if any, and report
    /// its outcome. An error that ends the session is returned instead.
    fn report_awaiting(&mut self, awaiting: &mut Awaiting, on_result: OnResult<'_>) -> Result<()> {
        let Some((index, results)) = awaiting.take() else { return Ok(()) };
        self.session.conn.flush()?;
        match self.read_final_reply(results) {
            Err(e) if e.ends_session() => Err(e),
            outcome => {
                on_result(index, outcome);
                Ok(())
            }
        }
    }
}
