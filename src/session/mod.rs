//! The session core that the POP3 and SMTP clients share: the connection
//! and its options, the login state, the connect sequence (port choice,
//! greeting, STARTTLS), login ([`auth`]), windowed pipelining
//! ([`window`]), and the one rule for errors: an error that leaves the
//! stream in an unknown state closes the connection ([`Client::run`]).

#[doc(hidden)]
pub mod auth;
mod second_look;
pub(crate) mod window;

pub(crate) use second_look::connect as connect_with_second_look;

use crate::capabilities::CapabilitySet;
use crate::error::{Error, Result};
use crate::options::{ClientOptions, Security};
use crate::sasl::Mechanism;
use crate::trace::Tracer;
use std::time::Duration;

use crate::transport::{Connection, TlsInfo, speaks_tls};

/// A protocol's well-known ports: the implicit-TLS one (995, 465) and the
/// one that upgrades with STARTTLS (110, 587), for the port choice and for
/// messages that tell which port to try.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ports {
    pub protocol: &'static str,
    pub implicit_tls: u16,
    pub starttls: u16,
}

/// How long a server may stay silent in clear before the client asks
/// whether the port speaks TLS from the first byte: servers greet at once,
/// an implicit-TLS port never does.
const GREETING_PATIENCE: Duration = Duration::from_secs(2);
/// How long the TLS probe's own connection and answer may take.
const TLS_PROBE_WAIT: Duration = Duration::from_secs(3);
/// SMTP's port 25 is left alone: servers there may delay their greeting on
/// purpose (Postfix's postscreen), and a second connection that talks
/// first would be taken for a spammer.
const SMTP_RELAY_PORT: u16 = 25;

/// One connection to a server, with what both protocols track about it.
pub struct Session {
    pub(crate) conn: Connection,
    pub(crate) opts: ClientOptions,
    pub(crate) authenticated: bool,
    pub(crate) ports: Ports,
    /// The port connected to.
    port: u16,
}

/// Shows the state, never the options' secrets (there are none in them, but
/// a trace function or a pin is nobody's business in a log either).
impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("open", &self.is_open())
            .field("tls", &self.is_tls())
            .field("authenticated", &self.authenticated)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Connect as `opts.security` says on `port` (0: the mode's default
    /// port), with TLS from the first byte when that is the mode. Returns
    /// the session and the mode chosen (AUTO resolved by the port).
    pub(crate) fn open(host: &str, port: u16, opts: &ClientOptions, ports: Ports) -> Result<(Session, Security)> {
        let (security, port) = opts.endpoint(port, ports.implicit_tls, ports.starttls);
        let conn = Connection::open(host, port, security == Security::Tls, opts)?;
        Ok((Session { conn, opts: opts.clone(), authenticated: false, ports, port }, security))
    }

    /// Before reading the greeting in clear: a server silent for a few
    /// seconds is asked, on a second connection, whether it speaks TLS (a
    /// ClientHello, nothing else); if it does, the port expects TLS from
    /// the first byte, which is said at once instead of after the whole I/O
    /// timeout.
    pub(crate) fn check_silent_port(&mut self) -> Result<()> {
        let probe_worthy = self.port != self.ports.starttls && self.port != SMTP_RELAY_PORT;
        // A caller's short I/O timeout shortens the waits too.
        let io_timeout = self.opts.io_timeout;
        if self.conn.is_tls() || !probe_worthy || self.conn.sends_within(GREETING_PATIENCE.min(io_timeout / 2))? {
            return Ok(());
        }
        let Some(addr) = self.conn.peer_addr() else { return Ok(()) };
        self.tracer().info("no greeting yet: asking the port whether it speaks TLS from the first byte");
        // A greeting that came meanwhile on the first connection wins (a
        // port that tells TLS from plain by the first bytes it reads).
        if speaks_tls(addr, self.conn.host(), TLS_PROBE_WAIT.min(io_timeout))
            && !self.conn.sends_within(Duration::from_millis(1))?
        {
            self.close();
            return Err(Error::ImplicitTlsPort {
                host_port: host_port(self.conn.host(), self.port),
                port: self.port,
                starttls_port: self.ports.starttls,
            });
        }
        Ok(())
    }

    /// How reading the greeting went. In clear, a greeting that never came
    /// is a wrong port or a firewall (an implicit-TLS port was found by
    /// [`Self::check_silent_port`]): say which host and port kept silent.
    pub(crate) fn hint_on_greeting<T>(&self, greeting: Result<T>) -> Result<T> {
        let in_clear = !self.conn.is_tls();
        greeting.map_err(|e| match e {
            Error::Timeout(detail) if in_clear => Error::Timeout(format!(
                "no greeting from {} ({detail}): check the port ({} normally uses {} with SSL/TLS and {} with \
                 STARTTLS), and that no firewall is in the way",
                host_port(self.conn.host(), self.port),
                self.ports.protocol,
                self.ports.implicit_tls,
                self.ports.starttls
            )),
            e => e,
        })
    }

    /// Upgrade to TLS once the server has agreed to STARTTLS/STLS.
    pub(crate) fn start_tls(&mut self) -> Result<()> {
        self.conn.start_tls(&self.opts)
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
    /// SHA-256 of the server certificate's DER, once TLS is up.
    pub fn peer_cert_sha256(&self) -> Option<[u8; 32]> {
        self.conn.peer_sha256()
    }
    /// The TLS version, cipher and server certificate, once TLS is up.
    pub fn tls_info(&self) -> Option<&TlsInfo> {
        self.conn.tls_info()
    }
    pub(crate) fn tracer(&self) -> &Tracer {
        self.conn.tracer()
    }

    pub(crate) fn ensure_open(&self) -> Result<()> {
        if self.conn.is_open() { Ok(()) } else { Err(Error::NotConnected("the connection is closed")) }
    }

    /// For commands that need a logged-in session.
    pub(crate) fn ensure_logged_in(&self) -> Result<()> {
        self.ensure_open()?;
        if !self.authenticated {
            return Err(Error::InvalidArgument("log in first".into()));
        }
        Ok(())
    }

    /// Drop the connection without a goodbye.
    pub(crate) fn close(&mut self) {
        self.conn.close();
    }
}

/// `host:port` as a person types it: an IPv6 address in brackets.
fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}

/// What every protocol client offers on top of its [`Session`]: the C layer
/// drives POP3 and SMTP handles through this one trait.
pub trait Client: Sized {
    /// Connect, read the greeting and capabilities, and secure the
    /// connection as `opts.security` says. `port` 0 means the default port
    /// of the mode.
    fn connect(host: &str, port: u16, opts: &ClientOptions) -> Result<Self>;

    fn session(&self) -> &Session;
    fn session_mut(&mut self) -> &mut Session;

    /// The capability (POP3 CAPA) or extension (SMTP EHLO) lines.
    fn capability_set(&self) -> &CapabilitySet;

    /// Log in with a password, using `mechanism` or else the best one both
    /// sides support (and `allowed_mechanisms` permits): to a server whose
    /// certificate was verified or pinned PLAIN first, otherwise
    /// challenge-response first. A mechanism the server turns down before
    /// any credential was sent (or as such: SMTP 504, 534) makes it try the
    /// next one; refused credentials end the login at once.
    fn login(&mut self, user: &str, password: &str, mechanism: Option<Mechanism>) -> Result<()>
    where
        Self: auth::Authenticate,
    {
        auth::login(self, user, password, mechanism)
    }

    /// Log in with an OAuth 2 bearer token (OAUTHBEARER, else XOAUTH2).
    fn login_oauth2(&mut self, user: &str, token: &str) -> Result<()>
    where
        Self: auth::Authenticate,
    {
        auth::login_oauth2(self, user, token)
    }

    /// Send the protocol's QUIT and read its answer.
    fn send_quit(&mut self) -> Result<()>;

    /// End the session politely (POP3: the server commits deletions); the
    /// connection is closed whatever the answer.
    fn quit(&mut self) -> Result<()> {
        let r = self.session().ensure_open().and_then(|_| self.send_quit());
        self.session_mut().close();
        r
    }

    /// Run one operation; if it fails in a way that leaves the stream
    /// unknown (see [`Error::ends_session`]), close the connection, so no
    /// later call reads replies out of step.
    fn run<T>(&mut self, body: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        let r = body(self);
        if r.as_ref().is_err_and(Error::ends_session) {
            self.session_mut().close();
        }
        r
    }

    fn is_tls(&self) -> bool {
        self.session().is_tls()
    }
    fn is_open(&self) -> bool {
        self.session().is_open()
    }
    fn is_authenticated(&self) -> bool {
        self.session().is_authenticated()
    }
    /// SHA-256 of the server certificate's DER, once TLS is up.
    fn peer_cert_sha256(&self) -> Option<[u8; 32]> {
        self.session().peer_cert_sha256()
    }
    /// The TLS version, cipher and server certificate, once TLS is up.
    fn tls_info(&self) -> Option<&TlsInfo> {
        self.session().tls_info()
    }
    /// Drop the connection without a goodbye (POP3: deletions are not
    /// committed).
    fn close(&mut self) {
        self.session_mut().close();
    }
}
