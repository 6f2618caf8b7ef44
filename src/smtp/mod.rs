//! Blocking SMTP submission client (RFC 5321, 3207, 4954, 8314, 1870, 6152,
//! 2920, 6531, 3461, 2034).
//!
//! The client is a [`Session`] plus what SMTP learns about the server. Its
//! commands are spread by subject: `connect` (greeting, EHLO/HELO,
//! STARTTLS), `auth` (SMTP's framing of login), `envelope_commands` (MAIL
//! and RCPT built from a send's arguments), `send` (one message), `batch`
//! (an outbox, pipelined), `content` (the DATA stream), `scan` (what a
//! message's bytes need: SIZE, 8BITMIME, SMTPUTF8).

mod advice;
mod auth;
mod batch;
mod connect;
mod content;
pub(crate) mod data;
mod dsn;
pub mod envelope;
mod envelope_commands;
pub(crate) mod extensions;
pub(crate) mod reply;
mod scan;
mod send;

pub use batch::Outgoing;
pub use dsn::Dsn;
pub use envelope::Envelope;
pub use extensions::Extensions;
pub use scan::{EightBit, Scanned, scan_bytes, scan_reader};
pub use send::{MessageSource, SourceCancelled};

pub use crate::reply::{RecipientResult, Reply};

use crate::capabilities::CapabilitySet;
use crate::error::{Error, Result};
use crate::options::ClientOptions;
use crate::session::{Client, Session};
use advice::{Command, Context};

pub(crate) const SUBMISSION_PORT: u16 = 587;
pub(crate) const SMTPS_PORT: u16 = 465;

#[derive(Debug)]
pub struct SmtpClient {
    session: Session,
    client_name: String,
    ext: Extensions,
    greeting: Reply,
    /// A transaction was left open by a failure: RSET before the next one.
    needs_rset: bool,
}

impl Client for SmtpClient {
    /// Connect, read the greeting, say EHLO and secure the connection as
    /// `opts.security` says. `port` 0 means the mode's default (465 for
    /// implicit TLS, 587 otherwise).
    fn connect(host: &str, port: u16, opts: &ClientOptions) -> Result<SmtpClient> {
        crate::session::connect_with_second_look(host, port, opts, connect::connect)
    }
    fn session(&self) -> &Session {
        &self.session
    }
    fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }
    fn capability_set(&self) -> &CapabilitySet {
        self.ext.set()
    }
    fn send_quit(&mut self) -> Result<()> {
        self.command(b"QUIT", 221).map(drop)
    }
}

impl SmtpClient {
    pub fn extensions(&self) -> &Extensions {
        &self.ext
    }
    pub fn greeting(&self) -> &Reply {
        &self.greeting
    }
    pub fn client_name(&self) -> &str {
        &self.client_name
    }

    pub fn noop(&mut self) -> Result<()> {
        self.run(|c| {
            c.session.ensure_open()?;
            c.command(b"NOOP", 250).map(drop)
        })
    }

    /// RSET: abandon any transaction in progress.
    pub fn rset(&mut self) -> Result<()> {
        self.run(|c| {
            c.session.ensure_open()?;
            c.command(b"RSET", 250)?;
            c.needs_rset = false;
            Ok(())
        })
    }

    // ---- plumbing shared by the command files ----

    /// Read one reply. A 421 (the server is closing the connection, RFC
    /// 5321 section 3.8) can answer any command: it ends whatever was under
    /// way, so it becomes the error at once, before the replies still
    /// expected from a pipelined batch (which will never come).
    fn read_reply(&mut self) -> Result<Reply> {
        let reply = reply::read_reply(&mut self.session.conn, self.ext.enhanced_status_codes())?;
        if reply.code == 421 { Err(self.refused(reply)) } else { Ok(reply) }
    }

    fn expect_code(&mut self, code: u16) -> Result<Reply> {
        let reply = self.read_reply()?;
        if reply.code == code { Ok(reply) } else { Err(self.refused(reply)) }
    }

    /// Send a command and expect `code`.
    fn command(&mut self, line: &[u8], code: u16) -> Result<Reply> {
        self.session.conn.send_command(line, None)?;
        self.expect_code(code)
    }

    /// RSET first if a failed transaction is still open.
    fn rset_if_needed(&mut self) -> Result<()> {
        if self.needs_rset {
            self.command(b"RSET", 250)?;
            self.needs_rset = false;
        }
        Ok(())
    }
}

impl Reply {
    /// The error for this reply when it was not the one expected, with the
    /// advice for a session in `context`.
    pub(crate) fn into_error(self, command: Command, context: Context) -> Error {
        let mut reply = self.to_server_reply();
        reply.advice = advice::advice(&self, command, context);
        Error::Server(reply)
    }
}

impl SmtpClient {
    /// What the session is, for the advice in a refusal's message.
    fn context(&self) -> Context {
        Context { encrypted: self.session.is_tls(), logged_in: self.session.is_authenticated() }
    }

    /// The error for a refusal of a command other than RCPT.
    fn refused(&self, reply: Reply) -> Error {
        reply.into_error(Command::Other, self.context())
    }

    /// The error for a transaction whose every recipient was refused, with
    /// the advice when all the refusals mean the same.
    fn all_recipients_refused(&self, recipients: Vec<RecipientResult>) -> Error {
        let context = self.context();
        let mut each = recipients.iter().map(|r| advice::advice(&r.reply, Command::Recipient, context));
        let first = each.next().flatten();
        let advice = if each.all(|a| a == first) { first } else { None };
        Error::RecipientsRefused(recipients, advice)
    }
}
