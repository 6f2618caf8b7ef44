//! Blocking POP3 client (RFC 1939, 2449, 2595, 3206, 5034, 6856).
//!
//! The client is a [`Session`] plus what POP3 learns about the server. Its
//! commands are spread by subject: `connect` (greeting, CAPA, STLS, UTF8),
//! `auth` (POP3's framing of login), `mailbox` (STAT, LIST, UIDL, DELE,
//! RSET, NOOP), `retrieve` (RETR and TOP, one or many), `pipeline` (many
//! commands in flight).

mod auth;
pub(crate) mod body;
pub(crate) mod capa;
mod connect;
pub(crate) mod listing;
mod mailbox;
mod pipeline;
pub(crate) mod reply;
mod retrieve;

pub use capa::Capabilities;
pub use retrieve::{Part, RETR_BATCH_BUDGET, Retrieved};

use crate::capabilities::CapabilitySet;
use crate::error::{Error, Result};
use crate::options::ClientOptions;
use crate::session::{Client, Session};
use reply::{Status, parse_status};

pub(crate) const POP3_PORT: u16 = 110;
pub(crate) const POP3S_PORT: u16 = 995;

/// Most entries accepted in one LIST or UIDL listing: far beyond any real
/// POP3 mailbox, and at most about 100 MB of UIDs held for a server that
/// sends listings without end.
pub(crate) const MAX_LISTING_ENTRIES: usize = 1_000_000;

/// One mailbox entry of LIST and/or UIDL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub number: u32,
    pub octets: Option<u64>,
    pub uid: Option<String>,
}

#[derive(Debug)]
pub struct Pop3Client {
    session: Session,
    greeting: String,
    apop_timestamp: Option<String>,
    caps: Capabilities,
    utf8_active: bool,
    /// Message sizes from this session's LIST, sorted by number.
    sizes: Option<Vec<(u32, u64)>>,
}

impl Client for Pop3Client {
    /// Connect, read the greeting and capabilities, and secure the
    /// connection as `opts.security` says. `port` 0 means the default port
    /// of the mode (995 for implicit TLS, 110 otherwise).
    fn connect(host: &str, port: u16, opts: &ClientOptions) -> Result<Pop3Client> {
        crate::session::connect_with_second_look(host, port, opts, connect::connect)
    }
    fn session(&self) -> &Session {
        &self.session
    }
    fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }
    fn capability_set(&self) -> &CapabilitySet {
        self.caps.set()
    }
    fn send_quit(&mut self) -> Result<()> {
        self.command(b"QUIT").map(drop)
    }
}

impl Pop3Client {
    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }
    pub fn greeting(&self) -> &str {
        &self.greeting
    }
    pub fn utf8_active(&self) -> bool {
        self.utf8_active
    }

    // ---- plumbing shared by the command files ----

    fn read_status(&mut self) -> Result<Status> {
        self.session.conn.read_line(parse_status)?
    }

    /// Read a status line that must be +OK; -ERR becomes [`Error::Server`].
    fn expect_ok(&mut self) -> Result<String> {
        match self.read_status()? {
            Status::Ok(text) => Ok(text),
            Status::Err(reply) => Err(Error::Server(reply)),
            Status::Continue(_) => Err(unexpected_continuation()),
        }
    }

    /// Send a command and expect +OK.
    fn command(&mut self, line: &[u8]) -> Result<String> {
        self.session.conn.send_command(line, None)?;
        self.expect_ok()
    }

    /// A single-line command of the TRANSACTION state (after login).
    fn transaction(&mut self, line: &[u8]) -> Result<String> {
        self.session.ensure_logged_in()?;
        self.command(line)
    }
}

fn unexpected_continuation() -> Error {
    Error::Protocol("unexpected '+' continuation outside authentication".into())
}

fn check_number(n: u32) -> Result<()> {
    if n == 0 { Err(Error::InvalidArgument("message numbers start at 1".into())) } else { Ok(()) }
}
