//! Sending one message: the envelope (MAIL, RCPT, DATA; pipelined with a
//! bounded window when the server allows), then the content.

use std::io::Read;

use super::envelope_commands::{ContentFacts, EnvelopeCommands};
use super::scan::{EightBit, scan_bytes};
use super::{Dsn, RecipientResult, Reply, SmtpClient, envelope};
use crate::error::{Error, Result};
use crate::session::Client;
use crate::session::window::Window;

/// A message to send, read from `reader`.
pub struct MessageSource<'a> {
    pub reader: &'a mut dyn Read,
    /// The size DATA carries (see [`super::Scanned::size`]), when known:
    /// declared as SIZE=, and a message over the server's limit fails
    /// before any byte is sent. A size the caller gives is used as given.
    pub size: Option<u64>,
    /// What the content needs beyond ASCII, when known: 8-bit content the
    /// server cannot take is then refused before anything is sent. Unknown
    /// (`None`): BODY=8BITMIME is declared whenever the server offers it,
    /// and a byte that needs what MAIL did not declare (8-bit without
    /// 8BITMIME, UTF-8 headers without SMTPUTF8) stops the transfer and
    /// closes the connection.
    pub eight_bit: Option<EightBit>,
}

impl<'a> MessageSource<'a> {
    /// A message in memory, looked at once for its size and 8-bit needs.
    pub fn from_bytes(bytes: &'a mut &[u8]) -> MessageSource<'a> {
        let scanned = scan_bytes(bytes);
        MessageSource { reader: bytes, size: Some(scanned.size), eight_bit: Some(scanned.eight_bit) }
    }

    fn facts(&self) -> ContentFacts {
        ContentFacts { size: self.size, eight_bit: self.eight_bit }
    }
}

/// The error a message source returns (wrapped in an `io::Error`) to
/// cancel the transfer; the send then fails with [`Error::Cancelled`].
#[derive(Debug)]
pub struct SourceCancelled;

impl std::fmt::Display for SourceCancelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("cancelled by the message source")
    }
}

impl std::error::Error for SourceCancelled {}

pub(super) fn source_error(e: std::io::Error) -> Error {
    let cancelled = e.get_ref().is_some_and(|inner| inner.is::<SourceCancelled>());
    if cancelled { Error::Cancelled } else { Error::local_file("reading the message")(e) }
}

impl SmtpClient {
    /// Send one message to `recipients`. Returns each recipient's reply;
    /// the message goes to the accepted ones. Fails with
    /// [`Error::RecipientsRefused`] when every recipient is refused (the
    /// message content is then not sent).
    pub fn send(
        &mut self,
        from: &str,
        recipients: &[&str],
        mut source: MessageSource<'_>,
        dsn: Option<&Dsn>,
    ) -> Result<Vec<RecipientResult>> {
        self.run(|c| c.send_one(from, recipients, &mut source, dsn))
    }

    /// Send a whole RFC 5322 message, the envelope taken from its headers
    /// (see [`envelope::derive`]: the most recent Resent- block when the
    /// message is being resent); Bcc and Resent-Bcc fields are not sent.
    pub fn send_message(&mut self, message: &[u8], dsn: Option<&Dsn>) -> Result<Vec<RecipientResult>> {
        let (envelope, stripped) = envelope::derive(message)?;
        let recipients: Vec<&str> = envelope.recipients.iter().map(String::as_str).collect();
        let mut bytes = stripped.as_slice();
        self.send(&envelope.from, &recipients, MessageSource::from_bytes(&mut bytes), dsn)
    }

    pub(super) fn send_one(
        &mut self,
        from: &str,
        recipients: &[&str],
        source: &mut MessageSource<'_>,
        dsn: Option<&Dsn>,
    ) -> Result<Vec<RecipientResult>> {
        self.session.ensure_open()?;
        let commands = self.envelope_commands(from, recipients, source.facts(), dsn)?;
        let results = self.exchange_envelope(&commands, recipients, |_| Ok(()))?;
        if let Err(e) = self.queue_content_from(source, commands.declared) {
            // The server holds a partial message and DATA cannot be
            // aborted: only closing the connection discards it.
            self.session.close();
            return Err(e);
        }
        self.session.conn.flush()?;
        self.read_final_reply(results)
    }

    /// Run the envelope: RSET (if a failed transaction is still open),
    /// MAIL, each RCPT and DATA; windowed in flight when the server
    /// pipelines, one by one otherwise. `before_replies` runs once the first
    /// commands are written and before any reply is read (a batch reads the
    /// previous message's final reply there). Returns each recipient's reply
    /// once the server said 354 to DATA. When every recipient is refused,
    /// the content is not sent and the error is
    /// [`Error::RecipientsRefused`].
    pub(super) fn exchange_envelope(
        &mut self,
        commands: &EnvelopeCommands,
        recipients: &[&str],
        before_replies: impl FnOnce(&mut Self) -> Result<()>,
    ) -> Result<Vec<RecipientResult>> {
        if !self.ext.pipelining() {
            before_replies(self)?;
            return self.envelope_one_by_one(commands, recipients);
        }
        let rset_first = std::mem::take(&mut self.needs_rset);
        let sequence = Sequence { rset_first, commands };
        let mut window = Window::new(sequence.len(), true);
        let queue = |conn: &mut crate::transport::Connection, i: usize| conn.queue_command(sequence.command(i), None);
        window.refill(&mut self.session.conn, 0, queue)?;
        before_replies(self)?;
        let mut replies = EnvelopeReplies::with_capacity(recipients.len());
        for done in 0..sequence.len() {
            window.refill(&mut self.session.conn, done, queue)?;
            let reply = self.read_reply()?;
            match sequence.kind(done) {
                Kind::Rset if reply.code != 250 => return Err(rset_refused_in_flight(reply)),
                Kind::Rset => {}
                Kind::Mail => replies.mail = Some(reply),
                Kind::Rcpt(i) => replies.recipients.push(RecipientResult::new(recipients[i], reply)),
                Kind::Data => replies.data = Some(reply),
            }
        }
        self.conclude_envelope(replies)
    }

    fn envelope_one_by_one(
        &mut self,
        commands: &EnvelopeCommands,
        recipients: &[&str],
    ) -> Result<Vec<RecipientResult>> {
        self.rset_if_needed()?;
        let mut replies = EnvelopeReplies::with_capacity(recipients.len());
        replies.mail = Some(self.command(commands.mail.as_bytes(), 250)?);
        for (line, address) in commands.rcpts.iter().zip(recipients) {
            self.session.conn.send_command(line.as_bytes(), None)?;
            let reply = self.read_reply()?;
            replies.recipients.push(RecipientResult::new(address, reply));
        }
        if replies.recipients.iter().any(|r| r.accepted) {
            self.session.conn.send_command(b"DATA", None)?;
            replies.data = Some(self.read_reply()?);
        }
        self.conclude_envelope(replies)
    }

    /// Decide from the envelope's replies whether the content goes out.
    fn conclude_envelope(&mut self, replies: EnvelopeReplies) -> Result<Vec<RecipientResult>> {
        let EnvelopeReplies { mail, recipients, data } = replies;
        let mail = mail.expect("MAIL is always answered");
        let go_ahead = data.as_ref().is_some_and(|r| r.code == 354);
        let mail_ok = mail.code == 250;
        let any_accepted = recipients.iter().any(|r| r.accepted);
        if mail_ok && any_accepted && go_ahead {
            return Ok(recipients);
        }
        if go_ahead {
            // The server took DATA without a valid envelope: end it with an
            // empty message rather than send the content to nobody.
            self.session.conn.send_command(b".", None)?;
            self.read_reply()?;
        }
        self.needs_rset = true;
        Err(if !mail_ok {
            self.refused(mail)
        } else if !any_accepted {
            self.all_recipients_refused(recipients)
        } else {
            self.refused(data.expect("DATA is sent once a recipient is accepted"))
        })
    }

    /// The server's answer once the content is in: 250 or a refusal.
    pub(super) fn read_final_reply(&mut self, results: Vec<RecipientResult>) -> Result<Vec<RecipientResult>> {
        let reply = self.read_reply()?;
        if reply.code == 250 {
            Ok(results)
        } else {
            // The server ended the transaction with its refusal.
            Err(self.refused(reply))
        }
    }
}

/// A refused RSET with the envelope behind it already in flight: the
/// server's state for those commands is unknown, so the session cannot go
/// on (the error closes it).
fn rset_refused_in_flight(reply: Reply) -> Error {
    Error::Protocol(format!(
        "the server refused RSET ({}) with the next message's commands already sent; the connection was closed",
        reply.to_server_reply().text
    ))
}

/// The replies of one envelope.
struct EnvelopeReplies {
    mail: Option<Reply>,
    recipients: Vec<RecipientResult>,
    data: Option<Reply>,
}

impl EnvelopeReplies {
    fn with_capacity(recipients: usize) -> Self {
        EnvelopeReplies { mail: None, recipients: Vec::with_capacity(recipients), data: None }
    }
}

/// The pipelined commands of one envelope, in the order they go out.
struct Sequence<'a> {
    rset_first: bool,
    commands: &'a EnvelopeCommands,
}

enum Kind {
    Rset,
    Mail,
    Rcpt(usize),
    Data,
}

impl Sequence<'_> {
    fn len(&self) -> usize {
        usize::from(self.rset_first) + 1 + self.commands.rcpts.len() + 1
    }

    fn kind(&self, i: usize) -> Kind {
        let i = if self.rset_first {
            if i == 0 {
                return Kind::Rset;
            }
            i - 1
        } else {
            i
        };
        match i {
            0 => Kind::Mail,
            i if i <= self.commands.rcpts.len() => Kind::Rcpt(i - 1),
            _ => Kind::Data,
        }
    }

    fn command(&self, i: usize) -> &[u8] {
        match self.kind(i) {
            Kind::Rset => b"RSET",
            Kind::Mail => self.commands.mail.as_bytes(),
            Kind::Rcpt(r) => self.commands.rcpts[r].as_bytes(),
            Kind::Data => b"DATA",
        }
    }
}
