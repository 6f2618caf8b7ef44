//! Blocking POP3 client (RFC 1939, 2449, 2595, 3206, 5034, 6856).

pub(crate) mod body;
pub(crate) mod capa;
pub(crate) mod listing;
pub(crate) mod reply;

use std::io::Write;
use std::ops::ControlFlow;
use std::path::Path;

pub use capa::Capabilities;

use crate::capabilities::CapabilitySet;
use crate::error::{Error, Result, ServerReply};
use crate::options::{ClientOptions, Security};
use crate::sasl::{self, Credentials, Mechanism, SaslClient};
use crate::transport::Connection;
use listing::{parse_two_numbers, parse_uid_line};
use reply::{Status, parse_status};

pub(crate) const POP3_PORT: u16 = 110;
pub(crate) const POP3S_PORT: u16 = 995;

/// Most commands kept in flight when pipelining. Small enough that the
/// commands always fit in the socket buffer (so a write never blocks while
/// the server waits for us to read), large enough to hide the round trip.
const PIPELINE_WINDOW: usize = 128;
/// Most entries accepted in one LIST or UIDL listing: far beyond any real
/// POP3 mailbox, and at most about 100 MB of UIDs held for a server that
/// sends listings without end.
pub(crate) const MAX_LISTING_ENTRIES: usize = 1_000_000;
const MAX_CAPA_LINES: usize = 1024;
/// RFC 5034: an AUTH command with initial response stays within 255 octets.
const MAX_AUTH_COMMAND: usize = 255;

/// One piece of a message delivered by [`Pop3Client::retr_many`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part<'a> {
    Data(&'a [u8]),
    End,
}

/// Messages retrieved into memory by [`Pop3Client::retr_many_to_vec`]:
/// message `i` is `data[ends[i - 1]..ends[i]]` (from 0 for the first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Retrieved {
    pub data: Vec<u8>,
    pub ends: Vec<usize>,
}

/// One mailbox entry of LIST and/or UIDL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub number: u32,
    pub octets: Option<u64>,
    pub uid: Option<String>,
}

pub struct Pop3Client {
    conn: Connection,
    opts: ClientOptions,
    greeting: String,
    apop_timestamp: Option<String>,
    caps: Capabilities,
    authenticated: bool,
    utf8_active: bool,
}

impl Pop3Client {
    /// Connect, read the greeting and capabilities, and secure the
    /// connection as `opts.security` says. `port` 0 means the default port
    /// of the mode (995 for implicit TLS, 110 otherwise).
    pub fn connect(host: &str, port: u16, opts: &ClientOptions) -> Result<Pop3Client> {
        let (security, port) = opts.endpoint(port, POP3S_PORT, POP3_PORT);
        let conn = Connection::open(host, port, security == Security::Tls, opts)?;
        let mut client = Pop3Client {
            conn,
            opts: opts.clone(),
            greeting: String::new(),
            apop_timestamp: None,
            caps: Capabilities::default(),
            authenticated: false,
            utf8_active: false,
        };
        client.read_greeting()?;
        client.caps = client.capa()?;
        if security == Security::StartTls {
            client.stls()?;
        }
        if client.opts.utf8 && client.caps.utf8() {
            client.command(b"UTF8", None)?;
            client.utf8_active = true;
        }
        Ok(client)
    }

    fn read_greeting(&mut self) -> Result<()> {
        let in_clear = !self.conn.is_tls();
        let status = self.conn.read_line(parse_status).map_err(|e| if in_clear { e.hint_implicit_tls() } else { e })?;
        match status? {
            Status::Ok(text) => {
                self.apop_timestamp = capa::apop_timestamp(&text);
                self.greeting = text;
                Ok(())
            }
            Status::Err(reply) => Err(Error::Server(reply)),
            Status::Continue(_) => Err(Error::Protocol("malformed greeting: '+' continuation".into())),
        }
    }

    fn capa(&mut self) -> Result<Capabilities> {
        self.conn.send_command(b"CAPA", None)?;
        match self.read_status()? {
            Status::Ok(_) => {}
            // An RFC 1939-only server: nothing advertised.
            Status::Err(_) => return Ok(Capabilities::unsupported()),
            Status::Continue(_) => return Err(unexpected_continuation()),
        }
        let mut set = CapabilitySet::default();
        body::read_listing(&mut self.conn, MAX_CAPA_LINES, |line| {
            set.add_line(&String::from_utf8_lossy(line));
            Ok(())
        })?;
        Ok(Capabilities::from_set(set))
    }

    fn stls(&mut self) -> Result<()> {
        if !self.caps.stls() {
            return Err(Error::StartTlsUnavailable {
                command: "STLS",
                detail: "it is not among the server's capabilities".into(),
            });
        }
        self.conn.send_command(b"STLS", None)?;
        match self.read_status()? {
            Status::Ok(_) => {}
            Status::Err(reply) => {
                return Err(Error::StartTlsUnavailable { command: "STLS", detail: reply.text });
            }
            Status::Continue(_) => return Err(unexpected_continuation()),
        }
        self.conn.start_tls(&self.opts)?;
        // RFC 2595: forget what was learned in clear and ask again.
        self.caps = self.capa()?;
        Ok(())
    }

    // ---- state ----

    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }
    pub fn greeting(&self) -> &str {
        &self.greeting
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
    pub fn utf8_active(&self) -> bool {
        self.utf8_active
    }
    /// SHA-256 of the server certificate's DER, once TLS is up.
    pub fn peer_cert_sha256(&self) -> Option<[u8; 32]> {
        self.conn.peer_sha256()
    }

    // ---- authentication ----

    /// Log in with a password, using `mechanism` or else the strongest one
    /// both sides support (and `allowed_mechanisms` permits).
    pub fn login(&mut self, user: &str, password: &str, mechanism: Option<Mechanism>) -> Result<()> {
        let r = self.login_inner(user, password, mechanism);
        self.after(r)
    }

    /// Log in with an OAuth 2 bearer token (XOAUTH2 or OAUTHBEARER, as the
    /// server offers; OAUTHBEARER is the standard one and preferred).
    pub fn login_oauth2(&mut self, user: &str, token: &str) -> Result<()> {
        let r = (|| {
            self.check_can_authenticate(user, token)?;
            let mechanism = [Mechanism::OAuthBearer, Mechanism::XOAuth2]
                .into_iter()
                .filter(|m| self.opts.allows(*m))
                .find(|m| self.caps.sasl_mechanism(*m))
                .ok_or_else(|| self.no_common("OAUTHBEARER or XOAUTH2"))?;
            self.authenticate(mechanism, user, token)
        })();
        self.after(r)
    }

    fn login_inner(&mut self, user: &str, password: &str, mechanism: Option<Mechanism>) -> Result<()> {
        self.check_can_authenticate(user, password)?;
        let mechanism = match mechanism {
            Some(m) if m.is_oauth() => {
                return Err(Error::InvalidArgument(format!("{} takes a token: use login_oauth2", m.name())));
            }
            Some(Mechanism::Apop) if self.apop_timestamp.is_none() => {
                return Err(self.no_common("APOP (the greeting has no valid timestamp)"));
            }
            Some(m) => m,
            None => Mechanism::password_preference(self.conn.server_verified())
                .into_iter()
                .filter(|m| self.opts.allows(*m))
                .find(|m| self.server_offers(*m))
                .ok_or_else(|| self.no_common("any password mechanism"))?,
        };
        self.authenticate(mechanism, user, password)
    }

    fn check_can_authenticate(&self, user: &str, secret: &str) -> Result<()> {
        self.ensure_open()?;
        if self.authenticated {
            return Err(Error::InvalidArgument("already logged in".into()));
        }
        self.opts.check_login(user, secret, self.conn.is_tls())
    }

    fn server_offers(&self, m: Mechanism) -> bool {
        match m {
            Mechanism::User => self.caps.user(),
            Mechanism::Apop => self.apop_timestamp.is_some(),
            _ => self.caps.sasl_mechanism(m),
        }
    }

    fn no_common(&self, wanted: &str) -> Error {
        let offered: Vec<&str> = Mechanism::PASSWORD_MECHANISMS
            .iter()
            .chain(&[Mechanism::OAuthBearer, Mechanism::XOAuth2])
            .filter(|m| self.server_offers(**m))
            .map(|m| m.name())
            .collect();
        Error::NoCommonMechanism(format!("wanted {wanted}; the server offers {}", offered.join(", ")))
    }

    fn authenticate(&mut self, mechanism: Mechanism, user: &str, secret: &str) -> Result<()> {
        self.conn.tracer().info(format!("authenticating with {}", mechanism.name()));
        match mechanism {
            Mechanism::User => {
                let cmd = format!("USER {user}");
                self.auth_step(cmd.as_bytes(), None)?;
                let cmd = format!("PASS {secret}");
                self.auth_step(cmd.as_bytes(), Some(5))?;
            }
            Mechanism::Apop => {
                let stamp = self.apop_timestamp.clone().unwrap_or_default();
                let cmd = format!("APOP {user} {}", sasl::apop_digest(&stamp, secret));
                self.auth_step(cmd.as_bytes(), Some(6 + user.len()))?;
            }
            _ => self.sasl(mechanism, user, secret)?,
        }
        self.authenticated = true;
        Ok(())
    }

    /// Send one authentication command and expect +OK.
    fn auth_step(&mut self, cmd: &[u8], secret_from: Option<usize>) -> Result<()> {
        self.conn.send_command(cmd, secret_from)?;
        match self.read_status()? {
            Status::Ok(_) => Ok(()),
            Status::Err(reply) => Err(Error::AuthFailed(reply)),
            Status::Continue(_) => Err(unexpected_continuation()),
        }
    }

    fn sasl(&mut self, mechanism: Mechanism, user: &str, secret: &str) -> Result<()> {
        let mut client = SaslClient::new(mechanism, Credentials { user, secret })?;
        let mut cmd = format!("AUTH {}", mechanism.name()).into_bytes();
        let secret_from = cmd.len() + 1;
        if self.caps.sasl() {
            if let Some(ir) = client.initial_response() {
                let encoded = if ir.is_empty() { "=".to_string() } else { sasl::encode(&ir) };
                if cmd.len() + 1 + encoded.len() + 2 <= MAX_AUTH_COMMAND {
                    cmd.push(b' ');
                    cmd.extend_from_slice(encoded.as_bytes());
                } else {
                    // Too long for the command line: answer the first
                    // challenge instead, from the start.
                    client = SaslClient::new(mechanism, Credentials { user, secret })?;
                }
            }
        }
        self.conn.send_command(&cmd, Some(secret_from))?;
        loop {
            match self.read_status()? {
                Status::Ok(_) => return Ok(()),
                Status::Err(reply) => return Err(Error::AuthFailed(reply)),
                Status::Continue(challenge) => {
                    let challenge = sasl::decode(&challenge)?;
                    let response = client.respond(&challenge)?;
                    self.conn.send_command(sasl::encode(&response).as_bytes(), Some(0))?;
                }
            }
        }
    }

    // ---- transaction commands ----

    /// STAT: number of messages and their total size in octets.
    pub fn stat(&mut self) -> Result<(u32, u64)> {
        let r = self.transaction(b"STAT").and_then(|text| parse_two_numbers(&text, "STAT"));
        self.after(r)
    }

    /// LIST: every message's number and size.
    pub fn list(&mut self) -> Result<Vec<(u32, u64)>> {
        let r = (|| {
            self.multi_line_command(b"LIST")?;
            let mut out = Vec::new();
            self.read_entries(|line| {
                let (n, size) = parse_two_numbers(&String::from_utf8_lossy(line), "LIST")?;
                out.push((n, size));
                Ok(())
            })?;
            Ok(out)
        })();
        self.after(r)
    }

    /// LIST for one message: its size.
    pub fn list_one(&mut self, number: u32) -> Result<u64> {
        let r = check_number(number)
            .and_then(|_| self.transaction(format!("LIST {number}").as_bytes()))
            .and_then(|text| parse_two_numbers(&text, "LIST").map(|(_, size)| size));
        self.after(r)
    }

    /// UIDL: every message's number and unique id.
    pub fn uidl(&mut self) -> Result<Vec<(u32, String)>> {
        let r = (|| {
            self.multi_line_command(b"UIDL")?;
            let mut out = Vec::new();
            self.read_entries(|line| {
                out.push(parse_uid_line(line)?);
                Ok(())
            })?;
            Ok(out)
        })();
        self.after(r)
    }

    /// UIDL for one message: its unique id.
    pub fn uidl_one(&mut self, number: u32) -> Result<String> {
        let r = check_number(number)
            .and_then(|_| self.transaction(format!("UIDL {number}").as_bytes()))
            .and_then(|text| parse_uid_line(text.as_bytes()).map(|(_, uid)| uid));
        self.after(r)
    }

    /// UIDL and LIST together, merged by message number; both commands go
    /// out in one write when the server allows pipelining.
    pub fn list_uidl(&mut self) -> Result<Vec<Entry>> {
        let r = (|| {
            self.ensure_transaction()?;
            let pipelined = self.caps.pipelining();
            self.conn.queue_command(b"UIDL", None)?;
            if pipelined {
                self.conn.queue_command(b"LIST", None)?;
            }
            self.conn.flush()?;
            // A refused UIDL or LIST is reported only once both replies
            // are read, so the session stays in step.
            let mut entries: Vec<Entry> = Vec::new();
            let uidl_refused = match self.expect_ok() {
                Ok(_) => {
                    self.read_entries(|line| {
                        let (number, uid) = parse_uid_line(line)?;
                        entries.push(Entry { number, octets: None, uid: Some(uid) });
                        Ok(())
                    })?;
                    None
                }
                Err(e) if pipelined => Some(e),
                Err(e) => return Err(e),
            };
            if !pipelined {
                self.conn.send_command(b"LIST", None)?;
            }
            let list_refused = match self.expect_ok() {
                Ok(_) => {
                    let mut i = 0;
                    self.read_entries(|line| {
                        let (number, size) = parse_two_numbers(&String::from_utf8_lossy(line), "LIST")?;
                        if uidl_refused.is_some() {
                            return Ok(());
                        }
                        // Both listings come in message order; search only
                        // if a server ever disagrees with itself.
                        if entries.get(i).is_none_or(|e| e.number != number) {
                            i = entries.iter().position(|e| e.number == number).ok_or_else(|| {
                                Error::Protocol(format!("LIST names message {number}, which UIDL did not"))
                            })?;
                        }
                        entries[i].octets = Some(size);
                        i += 1;
                        Ok(())
                    })?;
                    None
                }
                Err(e) => Some(e),
            };
            if let Some(e) = uidl_refused.or(list_refused) {
                return Err(e);
            }
            Ok(entries)
        })();
        self.after(r)
    }

    /// RETR: stream message `number` to `sink`, dot-unstuffed, CRLF kept.
    /// A sink that breaks cancels the transfer ([`Error::Cancelled`]) and
    /// closes the connection without QUIT, so no deletion is committed.
    pub fn retr(&mut self, number: u32, sink: &mut dyn FnMut(&[u8]) -> ControlFlow<()>) -> Result<()> {
        let r = check_number(number).and_then(|_| self.fetch(format!("RETR {number}").as_bytes(), sink));
        self.after(r)
    }

    /// TOP: the headers and the first `lines` body lines of a message.
    pub fn top(&mut self, number: u32, lines: u32, sink: &mut dyn FnMut(&[u8]) -> ControlFlow<()>) -> Result<()> {
        let r = check_number(number).and_then(|_| self.fetch(format!("TOP {number} {lines}").as_bytes(), sink));
        self.after(r)
    }

    /// RETR into memory, up to the `max_message_bytes` option.
    pub fn retr_to_vec(&mut self, number: u32) -> Result<Vec<u8>> {
        let limit = self.opts.max_message_bytes;
        let mut out = Vec::new();
        let mut too_large = false;
        let r = self.retr(number, &mut |chunk| {
            if (out.len() + chunk.len()) as u64 > limit {
                too_large = true;
                return ControlFlow::Break(());
            }
            out.extend_from_slice(chunk);
            ControlFlow::Continue(())
        });
        match r {
            Err(Error::Cancelled) if too_large => Err(Error::MessageTooLarge { limit }),
            r => r.map(|_| out),
        }
    }

    /// RETR for many messages into memory, pipelined as [`Self::retr_many`]:
    /// the messages are appended to `out.data` one after the other, each
    /// one's end offset to `out.ends`. Each message is held to the
    /// `max_message_bytes` option. On an error, `out` keeps the messages
    /// that arrived whole.
    pub fn retr_many_to_vec(&mut self, numbers: &[u32], out: &mut Retrieved) -> Result<()> {
        let limit = self.opts.max_message_bytes;
        let mut start = out.data.len();
        let mut too_large = false;
        let r = self.retr_many(numbers, &mut |_, part| match part {
            Part::Data(chunk) if (out.data.len() - start + chunk.len()) as u64 > limit => {
                too_large = true;
                ControlFlow::Break(())
            }
            Part::Data(chunk) => {
                out.data.extend_from_slice(chunk);
                ControlFlow::Continue(())
            }
            Part::End => {
                out.ends.push(out.data.len());
                start = out.data.len();
                ControlFlow::Continue(())
            }
        });
        out.data.truncate(start);
        match r {
            Err(Error::Cancelled) if too_large => Err(Error::MessageTooLarge { limit }),
            r => r,
        }
    }

    /// RETR into a file. The message is written to a temporary file beside
    /// `path` and renamed into place only when complete, so a failed
    /// transfer never leaves a truncated message under the final name.
    pub fn retr_to_file(&mut self, number: u32, path: &Path) -> Result<()> {
        let file_err = |e: std::io::Error| Error::LocalFile(format!("{}: {e}", path.display()));
        let name = path.file_name().ok_or_else(|| Error::InvalidArgument("the path names no file".into()))?;
        let mut part_name = std::ffi::OsString::from(".");
        part_name.push(name);
        part_name.push(".mailtls-part");
        let part = path.with_file_name(part_name);
        let file = std::fs::File::create(&part).map_err(file_err)?;
        let mut writer = std::io::BufWriter::with_capacity(64 * 1024, file);
        let mut write_error = None;
        let r = self.retr(number, &mut |chunk| match writer.write_all(chunk) {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                write_error = Some(e);
                ControlFlow::Break(())
            }
        });
        let r = match (r, write_error) {
            (_, Some(e)) => Err(file_err(e)),
            (Ok(()), None) => writer
                .into_inner()
                .map_err(|e| e.into_error())
                .and_then(|f| f.sync_all())
                .and_then(|_| std::fs::rename(&part, path))
                .map_err(file_err),
            (Err(e), None) => Err(e),
        };
        if r.is_err() {
            let _ = std::fs::remove_file(&part);
        }
        r
    }

    /// RETR for many messages, in order, pipelined when the server allows.
    /// `sink` gets each message's data and then [`Part::End`]. A negative
    /// reply stops the run: outstanding replies are read and dropped, and
    /// the error names the message.
    pub fn retr_many(&mut self, numbers: &[u32], sink: &mut dyn FnMut(u32, Part<'_>) -> ControlFlow<()>) -> Result<()> {
        let r = (|| {
            self.ensure_transaction()?;
            numbers.iter().try_for_each(|n| check_number(*n))?;
            self.pipeline(
                numbers,
                OnRefusal::StopSending,
                |n| format!("RETR {n}"),
                |conn, n, failed| {
                    if failed {
                        return body::read_body(conn, &mut |_| Ok(()));
                    }
                    body::read_body(conn, &mut |chunk| cancel_if_break(sink(n, Part::Data(chunk))))?;
                    cancel_if_break(sink(n, Part::End))
                },
            )
        })();
        self.after(r)
    }

    /// DELE: mark a message deleted; QUIT commits, RSET undoes.
    pub fn dele(&mut self, number: u32) -> Result<()> {
        let r = check_number(number).and_then(|_| self.transaction(format!("DELE {number}").as_bytes()).map(drop));
        self.after(r)
    }

    /// DELE for many messages, pipelined when the server allows. Every
    /// message is attempted; if some are refused, the error names them and
    /// all the others are marked deleted.
    pub fn dele_many(&mut self, numbers: &[u32]) -> Result<()> {
        let r = (|| {
            self.ensure_transaction()?;
            numbers.iter().try_for_each(|n| check_number(*n))?;
            self.pipeline(numbers, OnRefusal::KeepGoing, |n| format!("DELE {n}"), |_, _, _| Ok(()))
        })();
        self.after(r)
    }

    pub fn rset(&mut self) -> Result<()> {
        let r = self.transaction(b"RSET").map(drop);
        self.after(r)
    }

    pub fn noop(&mut self) -> Result<()> {
        let r = self.transaction(b"NOOP").map(drop);
        self.after(r)
    }

    /// QUIT: end the session; the server commits deletions. The connection
    /// is closed whatever the answer.
    pub fn quit(&mut self) -> Result<()> {
        let r = (|| {
            self.ensure_open()?;
            self.conn.send_command(b"QUIT", None)?;
            self.expect_ok().map(drop)
        })();
        self.conn.close();
        r
    }

    /// Drop the connection without QUIT (deletions are not committed).
    pub fn close(&mut self) {
        self.conn.close();
    }

    // ---- plumbing ----

    /// Close the connection after errors that leave it in an unknown state.
    fn after<T>(&mut self, r: Result<T>) -> Result<T> {
        if let Err(e) = &r {
            if e.breaks_connection() {
                self.conn.close();
            }
        }
        r
    }

    fn ensure_open(&self) -> Result<()> {
        if self.conn.is_open() { Ok(()) } else { Err(Error::NotConnected("the connection is closed")) }
    }

    fn ensure_transaction(&self) -> Result<()> {
        self.ensure_open()?;
        if !self.authenticated {
            return Err(Error::InvalidArgument("log in first".into()));
        }
        Ok(())
    }

    fn read_status(&mut self) -> Result<Status> {
        self.conn.read_line(parse_status)?
    }

    /// Read a status line that must be +OK; -ERR becomes [`Error::Server`].
    fn expect_ok(&mut self) -> Result<String> {
        match self.read_status()? {
            Status::Ok(text) => Ok(text),
            Status::Err(reply) => Err(Error::Server(reply)),
            Status::Continue(_) => Err(unexpected_continuation()),
        }
    }

    fn command(&mut self, line: &[u8], secret_from: Option<usize>) -> Result<String> {
        self.conn.send_command(line, secret_from)?;
        self.expect_ok()
    }

    /// A single-line command of the TRANSACTION state.
    fn transaction(&mut self, line: &[u8]) -> Result<String> {
        self.ensure_transaction()?;
        self.command(line, None)
    }

    fn multi_line_command(&mut self, line: &[u8]) -> Result<()> {
        self.transaction(line).map(drop)
    }

    fn read_entries(&mut self, each: impl FnMut(&[u8]) -> Result<()>) -> Result<()> {
        body::read_listing(&mut self.conn, MAX_LISTING_ENTRIES, each)
    }

    fn fetch(&mut self, line: &[u8], sink: &mut dyn FnMut(&[u8]) -> ControlFlow<()>) -> Result<()> {
        self.multi_line_command(line)?;
        body::read_body(&mut self.conn, &mut |chunk| cancel_if_break(sink(chunk)))
    }

    /// Send one command per message number, keeping up to
    /// [`PIPELINE_WINDOW`] in flight (one when the server does not pipeline),
    /// and hand each +OK to `on_ok` (which reads any multi-line body).
    /// After a -ERR, `on_refusal` says whether to stop sending (the commands
    /// in flight are still read, with `failed` set) or to go on; either way
    /// the error names the refused messages.
    fn pipeline(
        &mut self,
        numbers: &[u32],
        on_refusal: OnRefusal,
        command: impl Fn(u32) -> String,
        mut on_ok: impl FnMut(&mut Connection, u32, bool) -> Result<()>,
    ) -> Result<()> {
        let window = if self.caps.pipelining() { PIPELINE_WINDOW } else { 1 };
        let mut sent = 0usize;
        let mut limit = numbers.len();
        let mut first_refusal: Option<ServerReply> = None;
        let mut also_refused: Vec<u32> = Vec::new();
        for done in 0..numbers.len() {
            if done == limit {
                break;
            }
            // Refill once half the window has drained, in one write.
            if sent == done || (sent < limit && sent - done <= window / 2) {
                while sent < limit && sent - done < window {
                    self.conn.queue_command(command(numbers[sent]).as_bytes(), None)?;
                    sent += 1;
                }
                self.conn.flush()?;
            }
            let n = numbers[done];
            match self.read_status()? {
                Status::Ok(_) => on_ok(&mut self.conn, n, first_refusal.is_some())?,
                Status::Err(mut reply) => match first_refusal {
                    None => {
                        reply.text = format!("message {n}: {}", reply.text);
                        first_refusal = Some(reply);
                        if on_refusal == OnRefusal::StopSending {
                            limit = sent;
                        }
                    }
                    Some(_) => also_refused.push(n),
                },
                Status::Continue(_) => return Err(unexpected_continuation()),
            }
        }
        match first_refusal {
            None => Ok(()),
            Some(mut reply) => {
                if !also_refused.is_empty() {
                    let list: Vec<String> = also_refused.iter().map(u32::to_string).collect();
                    reply.text = format!("{} (also refused: {})", reply.text, list.join(", "));
                }
                Err(Error::Server(reply))
            }
        }
    }
}

/// What a pipelined run does after a refusal.
#[derive(PartialEq, Eq)]
enum OnRefusal {
    /// Send nothing more (RETR: nothing after the refusal is delivered).
    StopSending,
    /// Go on with every message (DELE: commands already in flight take
    /// effect anyway, so all are attempted and the refusals listed).
    KeepGoing,
}

fn cancel_if_break(flow: ControlFlow<()>) -> Result<()> {
    match flow {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(()) => Err(Error::Cancelled),
    }
}

fn unexpected_continuation() -> Error {
    Error::Protocol("unexpected '+' continuation outside authentication".into())
}

fn check_number(n: u32) -> Result<()> {
    if n == 0 { Err(Error::InvalidArgument("message numbers start at 1".into())) } else { Ok(()) }
}
