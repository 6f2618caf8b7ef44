//! Blocking SMTP submission client (RFC 5321, 3207, 4954, 8314, 1870, 6152,
//! 2920, 6531, 3461, 2034).

pub(crate) mod data;
pub mod envelope;
pub(crate) mod extensions;
pub(crate) mod reply;

use std::io::Read;

pub use envelope::Envelope;
pub use extensions::Extensions;
pub use reply::Reply;

use crate::error::{Error, Result};
use crate::options::{ClientOptions, Security, check_arg};
use crate::sasl::{self, Credentials, Mechanism, SaslClient};
use crate::transport::Connection;
use data::DataEncoder;

pub(crate) const SUBMISSION_PORT: u16 = 587;
pub(crate) const SMTPS_PORT: u16 = 465;

/// Message bytes are handed to the socket in writes of about this size.
const WRITE_CHUNK: usize = 64 * 1024;

/// The server's answer to one RCPT TO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientResult {
    pub address: String,
    pub accepted: bool,
    pub reply: Reply,
}

impl RecipientResult {
    fn new(address: &str, reply: Reply) -> Self {
        RecipientResult { address: address.to_string(), accepted: reply.code / 100 == 2, reply }
    }
}

/// Delivery status notification requests (RFC 3461), sent only when the
/// server announces DSN.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dsn {
    /// NOTIFY: "NEVER" or a comma-separated list of SUCCESS, FAILURE, DELAY.
    pub notify: Option<String>,
    /// RET: "FULL" or "HDRS".
    pub ret: Option<String>,
    /// ENVID: an identifier of this message, returned in the reports.
    pub envid: Option<String>,
    /// Send ORCPT=rfc822;<address> with each recipient.
    pub orcpt: bool,
}

impl Dsn {
    fn validate(&self) -> Result<()> {
        if let Some(notify) = &self.notify {
            let words: Vec<String> = notify.split(',').map(|w| w.trim().to_ascii_uppercase()).collect();
            let known = words.iter().all(|w| matches!(w.as_str(), "SUCCESS" | "FAILURE" | "DELAY" | "NEVER"));
            if !known || (words.len() > 1 && words.iter().any(|w| w == "NEVER")) {
                return Err(Error::InvalidArgument("DSN NOTIFY is NEVER or a list of SUCCESS, FAILURE, DELAY".into()));
            }
        }
        if let Some(ret) = &self.ret {
            if !ret.eq_ignore_ascii_case("FULL") && !ret.eq_ignore_ascii_case("HDRS") {
                return Err(Error::InvalidArgument("DSN RET is FULL or HDRS".into()));
            }
        }
        if let Some(envid) = &self.envid {
            if envid.is_empty() || envid.len() > 100 || !envid.is_ascii() {
                return Err(Error::InvalidArgument("DSN ENVID is 1 to 100 ASCII characters".into()));
            }
        }
        Ok(())
    }
}

/// A message to send, read from `reader`. `size` (when known) lets a
/// message over the server's SIZE limit fail before any byte is sent;
/// `eight_bit` says whether it has bytes over 127 (unknown: BODY=8BITMIME
/// is declared whenever the server offers it).
pub struct MessageSource<'a> {
    pub reader: &'a mut dyn Read,
    pub size: Option<u64>,
    pub eight_bit: Option<bool>,
}

impl<'a> MessageSource<'a> {
    pub fn from_bytes(bytes: &'a mut &[u8]) -> MessageSource<'a> {
        let size = Some(bytes.len() as u64);
        let eight_bit = Some(!bytes.is_ascii());
        MessageSource { reader: bytes, size, eight_bit }
    }
}

/// One message of [`SmtpClient::send_batch`].
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    pub from: &'a str,
    pub recipients: &'a [&'a str],
    /// The whole message (RFC 5322), encoded for DATA on the way.
    pub message: &'a [u8],
}

pub struct SmtpClient {
    conn: Connection,
    opts: ClientOptions,
    client_name: String,
    ext: Extensions,
    greeting: Reply,
    authenticated: bool,
    /// A transaction was left open by a failure: RSET before the next one.
    needs_rset: bool,
}

impl SmtpClient {
    /// Connect, read the greeting, say EHLO and secure the connection as
    /// `opts.security` says. `port` 0 means the mode's default (465 for
    /// implicit TLS, 587 otherwise).
    pub fn connect(host: &str, port: u16, opts: &ClientOptions) -> Result<SmtpClient> {
        let (security, port) = opts.endpoint(port, SMTPS_PORT, SUBMISSION_PORT);
        let client_name = match &opts.client_name {
            Some(name) => validate_client_name(name)?,
            None => default_client_name(),
        };
        let conn = Connection::open(host, port, security == Security::Tls, opts)?;
        let mut client = SmtpClient {
            conn,
            opts: opts.clone(),
            client_name,
            ext: Extensions::default(),
            greeting: Reply { code: 0, enhanced: None, lines: Vec::new() },
            authenticated: false,
            needs_rset: false,
        };
        client.read_greeting()?;
        client.hello()?;
        if security == Security::StartTls {
            client.starttls()?;
        }
        Ok(client)
    }

    fn read_greeting(&mut self) -> Result<()> {
        let in_clear = !self.conn.is_tls();
        let reply = self.read_reply().map_err(|e| if in_clear { e.hint_implicit_tls() } else { e })?;
        match reply.code {
            220 => {
                self.greeting = reply;
                Ok(())
            }
            _ => Err(reply.into_error()),
        }
    }

    /// EHLO, or HELO when the server refuses EHLO.
    fn hello(&mut self) -> Result<()> {
        let ehlo = format!("EHLO {}", self.client_name);
        self.conn.send_command(ehlo.as_bytes(), None)?;
        let reply = self.read_reply()?;
        if reply.code == 250 {
            self.ext = Extensions::from_ehlo_lines(&reply.lines);
            return Ok(());
        }
        if !(500..=504).contains(&reply.code) && reply.code != 550 {
            return Err(reply.into_error());
        }
        let helo = format!("HELO {}", self.client_name);
        self.conn.send_command(helo.as_bytes(), None)?;
        let reply = self.read_reply()?;
        if reply.code != 250 {
            return Err(reply.into_error());
        }
        self.ext = Extensions::default();
        Ok(())
    }

    fn starttls(&mut self) -> Result<()> {
        if !self.ext.starttls() {
            let detail = if self.ext.ehlo { "it is not among the EHLO extensions" } else { "the server refused EHLO" };
            return Err(Error::StartTlsUnavailable { command: "STARTTLS", detail: detail.into() });
        }
        self.conn.send_command(b"STARTTLS", None)?;
        let reply = self.read_reply()?;
        if reply.code != 220 {
            return Err(Error::StartTlsUnavailable { command: "STARTTLS", detail: reply.to_server_reply().text });
        }
        self.conn.start_tls(&self.opts)?;
        // RFC 3207: forget what was learned in clear and ask again.
        self.ext = Extensions::default();
        self.hello()
    }

    // ---- state ----

    pub fn extensions(&self) -> &Extensions {
        &self.ext
    }
    pub fn greeting(&self) -> &Reply {
        &self.greeting
    }
    pub fn client_name(&self) -> &str {
        &self.client_name
    }
    pub fn is_tls(&self) -> bool {
        self.conn.is_tls()
    }
    pub fn is_open(&self) -> bool {
        self.conn.is_open()
    }
    pub fn is_authenticated(&self) -> bool {
        self.authenticated
    }
    pub fn peer_cert_sha256(&self) -> Option<[u8; 32]> {
        self.conn.peer_sha256()
    }

    // ---- authentication ----

    /// AUTH with a password: `mechanism`, or the strongest one both sides
    /// support. A mechanism the server turns down as such (504, 534, or a
    /// refusal before any credential was sent) makes it try the next one; a
    /// refusal of the credentials is reported at once.
    pub fn login(&mut self, user: &str, password: &str, mechanism: Option<Mechanism>) -> Result<()> {
        let r = (|| {
            self.check_can_authenticate(user, password)?;
            let candidates: Vec<Mechanism> = match mechanism {
                Some(m) if m.is_oauth() => {
                    return Err(Error::InvalidArgument(format!("{} takes a token: use login_oauth2", m.name())));
                }
                Some(m) if !m.is_sasl() => {
                    return Err(Error::InvalidArgument(format!("{} is a POP3 mechanism", m.name())));
                }
                Some(m) => vec![m],
                None => Mechanism::password_preference(self.conn.server_verified())
                    .into_iter()
                    .filter(|m| m.is_sasl() && self.opts.allows(*m) && self.ext.auth(*m))
                    .collect(),
            };
            self.authenticate_first_that_works(&candidates, user, password)
        })();
        self.after(r)
    }

    /// AUTH with an OAuth 2 bearer token (OAUTHBEARER, else XOAUTH2).
    pub fn login_oauth2(&mut self, user: &str, token: &str) -> Result<()> {
        let r = (|| {
            self.check_can_authenticate(user, token)?;
            let candidates: Vec<Mechanism> = [Mechanism::OAuthBearer, Mechanism::XOAuth2]
                .into_iter()
                .filter(|m| self.opts.allows(*m) && self.ext.auth(*m))
                .collect();
            self.authenticate_first_that_works(&candidates, user, token)
        })();
        self.after(r)
    }

    fn check_can_authenticate(&self, user: &str, secret: &str) -> Result<()> {
        self.ensure_open()?;
        if self.authenticated {
            return Err(Error::InvalidArgument("already logged in".into()));
        }
        self.opts.check_login(user, secret, self.conn.is_tls())
    }

    fn authenticate_first_that_works(&mut self, candidates: &[Mechanism], user: &str, secret: &str) -> Result<()> {
        // AUTH is not allowed inside a mail transaction that a refused send
        // left open.
        if std::mem::take(&mut self.needs_rset) {
            self.conn.send_command(b"RSET", None)?;
            self.expect_code(250)?;
        }
        if candidates.is_empty() {
            let offered = self.ext.auth_mechanisms().join(" ");
            return Err(Error::NoCommonMechanism(if offered.is_empty() {
                "the server offers no AUTH here (it may require STARTTLS first)".into()
            } else {
                format!("the server offers {offered}")
            }));
        }
        let mut last = None;
        for &mechanism in candidates {
            match self.sasl(mechanism, user, secret) {
                Ok(()) => {
                    self.authenticated = true;
                    return Ok(());
                }
                Err(SaslFailure::MechanismRefused(reply)) => {
                    self.conn.tracer().info(format!("{} turned down; trying the next mechanism", mechanism.name()));
                    last = Some(reply);
                }
                Err(SaslFailure::Fatal(e)) => return Err(e),
            }
        }
        Err(Error::AuthFailed(last.expect("at least one candidate was tried").to_server_reply()))
    }

    fn sasl(&mut self, mechanism: Mechanism, user: &str, secret: &str) -> std::result::Result<(), SaslFailure> {
        self.conn.tracer().info(format!("authenticating with {}", mechanism.name()));
        let mut client = SaslClient::new(mechanism, Credentials { user, secret })?;
        let mut cmd = format!("AUTH {}", mechanism.name()).into_bytes();
        let secret_from = cmd.len() + 1;
        let mut credentials_sent = false;
        if let Some(ir) = client.initial_response() {
            cmd.push(b' ');
            cmd.extend_from_slice(if ir.is_empty() { "=".to_string() } else { sasl::encode(&ir) }.as_bytes());
            credentials_sent = true;
        }
        self.conn.send_command(&cmd, Some(secret_from))?;
        loop {
            let reply = self.read_reply()?;
            match reply.code {
                235 => return Ok(()),
                334 => {
                    let challenge = sasl::decode(reply.lines.first().map_or(&b""[..], |l| l.as_bytes()))?;
                    let response = client.respond(&challenge)?;
                    self.conn.send_command(sasl::encode(&response).as_bytes(), Some(0))?;
                    credentials_sent = true;
                }
                // 504: mechanism unknown; 534: too weak; 535 before any
                // credential went out: the server cannot serve it.
                504 | 534 => return Err(SaslFailure::MechanismRefused(reply)),
                535 if !credentials_sent => return Err(SaslFailure::MechanismRefused(reply)),
                _ => {
                    return Err(SaslFailure::Fatal(Error::AuthFailed(reply.to_server_reply())));
                }
            }
        }
    }

    // ---- sending ----

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
        let r = self.send_inner(from, recipients, &mut source, dsn);
        self.after(r)
    }

    /// Send a whole RFC 5322 message, the envelope taken from its headers
    /// (see [`envelope::derive`]); Bcc lines are not sent.
    pub fn send_message(&mut self, message: &[u8], dsn: Option<&Dsn>) -> Result<Vec<RecipientResult>> {
        let (envelope, stripped) = envelope::derive(message)?;
        let recipients: Vec<&str> = envelope.recipients.iter().map(String::as_str).collect();
        let mut bytes = stripped.as_slice();
        self.send(&envelope.from, &recipients, MessageSource::from_bytes(&mut bytes), dsn)
    }

    /// Send several in-memory messages, the common case of an outbox.
    /// With PIPELINING, one write carries a message's content and final
    /// dot together with the next message's envelope (RFC 2920), so each
    /// message costs one round trip. `on_result` gets every message's
    /// outcome, in order, as [`Self::send`] would return it. A failure of
    /// the session itself (dropped connection, timeout, 421) ends the batch
    /// with that error: the messages with no reported outcome may or may not
    /// have been delivered (at most the last one reported pending).
    pub fn send_batch(
        &mut self,
        messages: &[Outgoing<'_>],
        dsn: Option<&Dsn>,
        on_result: &mut dyn FnMut(usize, Result<Vec<RecipientResult>>),
    ) -> Result<()> {
        let r = if self.ext.pipelining() {
            self.send_batch_pipelined(messages, dsn, on_result)
        } else {
            self.send_batch_one_by_one(messages, dsn, on_result)
        };
        self.after(r)
    }

    fn send_batch_one_by_one(
        &mut self,
        messages: &[Outgoing<'_>],
        dsn: Option<&Dsn>,
        on_result: &mut dyn FnMut(usize, Result<Vec<RecipientResult>>),
    ) -> Result<()> {
        for (i, m) in messages.iter().enumerate() {
            let mut bytes = m.message;
            match self.send_inner(m.from, m.recipients, &mut MessageSource::from_bytes(&mut bytes), dsn) {
                Err(e) if ends_session(&e) => return Err(e),
                outcome => on_result(i, outcome),
            }
        }
        Ok(())
    }

    fn send_batch_pipelined(
        &mut self,
        messages: &[Outgoing<'_>],
        dsn: Option<&Dsn>,
        on_result: &mut dyn FnMut(usize, Result<Vec<RecipientResult>>),
    ) -> Result<()> {
        self.ensure_open()?;
        // The message whose content is written (or queued) but whose final
        // reply is not read yet.
        let mut awaiting: Option<(usize, Vec<RecipientResult>)> = None;
        for (i, m) in messages.iter().enumerate() {
            let size = Some(m.message.len() as u64);
            let commands = self.envelope_commands(m.from, m.recipients, size, Some(!m.message.is_ascii()), dsn);
            let (mail, rcpts) = match commands {
                Ok(c) => c,
                Err(e) => {
                    // Nothing of this message goes out; report in order.
                    if let Some((k, results)) = awaiting.take() {
                        self.conn.flush()?;
                        on_result(k, self.final_outcome(results)?);
                    }
                    on_result(i, Err(e));
                    continue;
                }
            };
            let rset_first = std::mem::take(&mut self.needs_rset);
            self.queue_envelope(rset_first, &mail, &rcpts)?;
            self.conn.flush()?;
            if let Some((k, results)) = awaiting.take() {
                on_result(k, self.final_outcome(results)?);
            }
            match self.read_envelope(rset_first, m.recipients) {
                Ok(results) => {
                    self.queue_content(m.message)?;
                    awaiting = Some((i, results));
                }
                Err(e) if ends_session(&e) => return Err(e),
                Err(e) => on_result(i, Err(e)),
            }
        }
        if let Some((k, results)) = awaiting {
            self.conn.flush()?;
            on_result(k, self.final_outcome(results)?);
        }
        Ok(())
    }

    fn send_inner(
        &mut self,
        from: &str,
        recipients: &[&str],
        source: &mut MessageSource<'_>,
        dsn: Option<&Dsn>,
    ) -> Result<Vec<RecipientResult>> {
        self.ensure_open()?;
        let (mail, rcpts) = self.envelope_commands(from, recipients, source.size, source.eight_bit, dsn)?;
        let results = self.run_envelope(&mail, &rcpts, recipients)?;
        if let Err(e) = self.queue_content_from(source) {
            // The server holds a partial message and DATA cannot be
            // aborted: only closing the connection discards it.
            self.conn.close();
            return Err(e);
        }
        self.conn.flush()?;
        self.read_final_reply(results)
    }

    /// Check a send against what the server announced and build its MAIL
    /// and RCPT commands. Nothing is sent yet.
    fn envelope_commands(
        &self,
        from: &str,
        recipients: &[&str],
        size: Option<u64>,
        eight_bit: Option<bool>,
        dsn: Option<&Dsn>,
    ) -> Result<(String, Vec<String>)> {
        check_address("the sender", from, true)?;
        if recipients.is_empty() {
            return Err(Error::InvalidArgument("no recipients".into()));
        }
        for r in recipients {
            check_address("a recipient", r, false)?;
        }
        if let Some(dsn) = dsn {
            dsn.validate()?;
        }
        let needs_utf8 = !from.is_ascii() || recipients.iter().any(|r| !r.is_ascii());
        if needs_utf8 && !self.ext.smtputf8() {
            return Err(Error::SmtpUtf8Unavailable(
                "an address is not ASCII and the server does not offer SMTPUTF8".into(),
            ));
        }
        if let (Some(size), Some(limit)) = (size, self.ext.size()) {
            if limit > 0 && size > limit {
                return Err(Error::MessageTooLarge { limit });
            }
        }
        let dsn = dsn.filter(|_| self.ext.dsn());

        let mut mail = format!("MAIL FROM:<{from}>");
        if let (Some(size), Some(_)) = (size, self.ext.size()) {
            mail.push_str(&format!(" SIZE={size}"));
        }
        if self.ext.eight_bit_mime() && eight_bit != Some(false) {
            mail.push_str(" BODY=8BITMIME");
        }
        if needs_utf8 {
            mail.push_str(" SMTPUTF8");
        }
        if let Some(dsn) = dsn {
            if let Some(ret) = &dsn.ret {
                mail.push_str(&format!(" RET={}", ret.to_ascii_uppercase()));
            }
            if let Some(envid) = &dsn.envid {
                mail.push_str(&format!(" ENVID={}", xtext(envid)));
            }
        }
        let rcpts = recipients
            .iter()
            .map(|r| {
                let mut line = format!("RCPT TO:<{r}>");
                if let Some(dsn) = dsn {
                    if let Some(notify) = &dsn.notify {
                        line.push_str(&format!(" NOTIFY={}", notify.to_ascii_uppercase().replace(' ', "")));
                    }
                    if dsn.orcpt {
                        let kind = if r.is_ascii() { "rfc822" } else { "utf-8" };
                        line.push_str(&format!(" ORCPT={kind};{}", xtext(r)));
                    }
                }
                line
            })
            .collect();
        Ok((mail, rcpts))
    }

    /// MAIL, each RCPT and DATA (after an RSET if a failed transaction is
    /// still open): in one write when the server pipelines, one by one
    /// otherwise. Returns each recipient's reply once the server said 354
    /// to DATA. When every recipient is refused, the content is not sent
    /// and the error is [`Error::RecipientsRefused`].
    fn run_envelope(&mut self, mail: &str, rcpts: &[String], recipients: &[&str]) -> Result<Vec<RecipientResult>> {
        let rset_first = std::mem::take(&mut self.needs_rset);
        if self.ext.pipelining() {
            self.queue_envelope(rset_first, mail, rcpts)?;
            self.conn.flush()?;
            self.read_envelope(rset_first, recipients)
        } else {
            if rset_first {
                self.conn.send_command(b"RSET", None)?;
                self.expect_code(250)?;
            }
            self.conn.send_command(mail.as_bytes(), None)?;
            let mail_reply = self.expect_code(250)?;
            let mut results = Vec::with_capacity(recipients.len());
            for (line, address) in rcpts.iter().zip(recipients) {
                self.conn.send_command(line.as_bytes(), None)?;
                let reply = self.read_reply()?;
                results.push(RecipientResult::new(address, reply));
            }
            let data_reply = if results.iter().any(|r| r.accepted) {
                self.conn.send_command(b"DATA", None)?;
                Some(self.read_reply()?)
            } else {
                None
            };
            self.conclude_envelope(mail_reply, results, data_reply)
        }
    }

    /// Queue the pipelined envelope: RSET if asked, MAIL, each RCPT, DATA.
    fn queue_envelope(&mut self, rset_first: bool, mail: &str, rcpts: &[String]) -> Result<()> {
        if rset_first {
            self.conn.queue_command(b"RSET", None)?;
        }
        self.conn.queue_command(mail.as_bytes(), None)?;
        for line in rcpts {
            self.conn.queue_command(line.as_bytes(), None)?;
        }
        self.conn.queue_command(b"DATA", None)
    }

    /// Read the replies to what [`Self::queue_envelope`] sent.
    fn read_envelope(&mut self, rset_first: bool, recipients: &[&str]) -> Result<Vec<RecipientResult>> {
        if rset_first {
            self.expect_code(250)?;
        }
        let mail_reply = self.read_reply()?;
        let mut results = Vec::with_capacity(recipients.len());
        for address in recipients {
            let reply = self.read_reply()?;
            results.push(RecipientResult::new(address, reply));
        }
        let data_reply = self.read_reply()?;
        self.conclude_envelope(mail_reply, results, Some(data_reply))
    }

    /// Decide from the envelope's replies whether the content goes out.
    fn conclude_envelope(
        &mut self,
        mail_reply: Reply,
        results: Vec<RecipientResult>,
        data_reply: Option<Reply>,
    ) -> Result<Vec<RecipientResult>> {
        let go_ahead = data_reply.as_ref().is_some_and(|r| r.code == 354);
        let mail_ok = mail_reply.code == 250;
        let any_accepted = results.iter().any(|r| r.accepted);
        if mail_ok && any_accepted && go_ahead {
            return Ok(results);
        }
        if go_ahead {
            // The server took DATA without a valid envelope: end it with an
            // empty message rather than send the content to nobody.
            self.conn.send_command(b".", None)?;
            self.read_reply()?;
        }
        self.needs_rset = true;
        Err(if !mail_ok {
            mail_reply.into_error()
        } else if !any_accepted {
            Error::RecipientsRefused(results)
        } else {
            data_reply.expect("DATA is sent once a recipient is accepted").into_error()
        })
    }

    /// Queue the message read from `source` through the DATA encoder, then
    /// the terminating dot. What exceeds a write chunk goes out on the way;
    /// the tail stays queued for the caller to flush (with the next
    /// message's envelope, in a batch).
    fn queue_content_from(&mut self, source: &mut MessageSource<'_>) -> Result<()> {
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
        self.conn.queue_with(|out| encoder.finish(out));
        Ok(())
    }

    /// As [`Self::queue_content_from`], for a message already in memory.
    fn queue_content(&mut self, message: &[u8]) -> Result<()> {
        let mut encoder = DataEncoder::new();
        for chunk in message.chunks(WRITE_CHUNK) {
            self.queue_encoded(&mut encoder, chunk)?;
        }
        self.conn.queue_with(|out| encoder.finish(out));
        Ok(())
    }

    fn queue_encoded(&mut self, encoder: &mut DataEncoder, input: &[u8]) -> Result<()> {
        self.conn.queue_with(|out| encoder.encode(input, out));
        if self.conn.queued_len() >= WRITE_CHUNK { self.conn.flush() } else { Ok(()) }
    }

    /// A batched message's outcome from its final reply: the outer error is
    /// one that ends the session, the inner one concerns this message only.
    fn final_outcome(&mut self, results: Vec<RecipientResult>) -> Result<Result<Vec<RecipientResult>>> {
        match self.read_final_reply(results) {
            Err(e) if ends_session(&e) => Err(e),
            outcome => Ok(outcome),
        }
    }

    /// The server's answer once the content is in: 250 or a refusal.
    fn read_final_reply(&mut self, results: Vec<RecipientResult>) -> Result<Vec<RecipientResult>> {
        let reply = self.read_reply()?;
        if reply.code == 250 {
            Ok(results)
        } else {
            // The server ended the transaction with its refusal.
            Err(reply.into_error())
        }
    }

    pub fn noop(&mut self) -> Result<()> {
        let r = (|| {
            self.ensure_open()?;
            self.conn.send_command(b"NOOP", None)?;
            self.expect_code(250).map(drop)
        })();
        self.after(r)
    }

    /// RSET: abandon any transaction in progress.
    pub fn rset(&mut self) -> Result<()> {
        let r = (|| {
            self.ensure_open()?;
            self.conn.send_command(b"RSET", None)?;
            self.expect_code(250)?;
            self.needs_rset = false;
            Ok(())
        })();
        self.after(r)
    }

    /// QUIT and close the connection (closed whatever the answer).
    pub fn quit(&mut self) -> Result<()> {
        let r = (|| {
            self.ensure_open()?;
            self.conn.send_command(b"QUIT", None)?;
            self.expect_code(221).map(drop)
        })();
        self.conn.close();
        r
    }

    pub fn close(&mut self) {
        self.conn.close();
    }

    // ---- plumbing ----

    fn after<T>(&mut self, r: Result<T>) -> Result<T> {
        if r.as_ref().is_err_and(ends_session) {
            self.conn.close();
        }
        r
    }

    fn ensure_open(&self) -> Result<()> {
        if self.conn.is_open() { Ok(()) } else { Err(Error::NotConnected("the connection is closed")) }
    }

    /// Read one reply. A 421 (the server is closing the connection, RFC
    /// 5321 section 3.8) can answer any command: it ends whatever was under
    /// way, so it becomes the error at once, before the replies still
    /// expected from a pipelined batch (which will never come).
    fn read_reply(&mut self) -> Result<Reply> {
        let reply = reply::read_reply(&mut self.conn, self.ext.enhanced_status_codes())?;
        if reply.code == 421 { Err(reply.into_error()) } else { Ok(reply) }
    }

    fn expect_code(&mut self, code: u16) -> Result<Reply> {
        let reply = self.read_reply()?;
        if reply.code == code { Ok(reply) } else { Err(reply.into_error()) }
    }
}

/// Whether `e` leaves the session unusable: the stream is in an unknown
/// state, or the server said 421 (it is closing, RFC 5321 section 3.8).
fn ends_session(e: &Error) -> bool {
    e.breaks_connection() || e.reply().is_some_and(|reply| reply.status == Some(421))
}

enum SaslFailure {
    /// The server turned the mechanism itself down: try another.
    MechanismRefused(Reply),
    Fatal(Error),
}

impl From<Error> for SaslFailure {
    fn from(e: Error) -> Self {
        SaslFailure::Fatal(e)
    }
}

fn source_error(e: std::io::Error) -> Error {
    let cancelled = e.get_ref().is_some_and(|inner| inner.is::<SourceCancelled>());
    if cancelled { Error::Cancelled } else { Error::LocalFile(format!("reading the message: {e}")) }
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

/// Mailbox syntax is the server's business; we only refuse what could
/// break out of the command: line breaks, NUL, angle brackets, spaces.
fn check_address(what: &str, address: &str, may_be_empty: bool) -> Result<()> {
    check_arg(what, address)?;
    if address.is_empty() && !may_be_empty {
        return Err(Error::InvalidArgument(format!("{what} is empty")));
    }
    if address.chars().any(|c| c == '<' || c == '>' || c.is_whitespace() || c.is_control()) {
        return Err(Error::InvalidArgument(format!("{what} {address:?} contains spaces, controls or angle brackets")));
    }
    Ok(())
}

/// RFC 3461 xtext: "+", "=" and characters outside 33..126 as "+XX".
fn xtext(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (33..=126).contains(&b) && b != b'+' && b != b'=' {
            out.push(b as char);
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

pub(crate) fn validate_client_name(name: &str) -> Result<String> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.[]:".contains(&b));
    if ok {
        Ok(name.to_string())
    } else {
        Err(Error::InvalidArgument(format!("the client name {name:?} is not a host name or address literal")))
    }
}

/// This host's name when it is a valid domain, else "localhost": never
/// empty or invalid, which servers may refuse.
fn default_client_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is writable for its length.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let name = if rc == 0 {
        let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).into_owned()
    } else {
        String::new()
    };
    let valid = !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if valid { name } else { "localhost".to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xtext_encodes_specials() {
        assert_eq!(xtext("a+b=c d"), "a+2Bb+3Dc+20d");
        assert_eq!(xtext("user@example.org"), "user@example.org");
    }

    #[test]
    fn addresses_cannot_break_out_of_the_command() {
        assert!(check_address("r", "a@b.org", false).is_ok());
        assert!(check_address("s", "", true).is_ok());
        assert!(check_address("r", "", false).is_err());
        for bad in ["a@b.org>\r\nRCPT TO:<c@d.org", "a b@c.org", "a@b.org> SIZE=1", "a\0@b"] {
            assert!(check_address("r", bad, false).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn client_names_are_valid() {
        assert!(!default_client_name().is_empty());
        assert!(validate_client_name("mail.example.org").is_ok());
        assert!(validate_client_name("[127.0.0.1]").is_ok());
        assert!(validate_client_name("bad name").is_err());
        assert!(validate_client_name("").is_err());
    }

    #[test]
    fn dsn_is_validated() {
        let ok = Dsn {
            notify: Some("success,failure".into()),
            ret: Some("hdrs".into()),
            envid: Some("x1".into()),
            orcpt: true,
        };
        assert!(ok.validate().is_ok());
        assert!(Dsn { notify: Some("NEVER,SUCCESS".into()), ..Default::default() }.validate().is_err());
        assert!(Dsn { ret: Some("ALL".into()), ..Default::default() }.validate().is_err());
    }
}
