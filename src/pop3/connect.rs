//! Opening a POP3 session: greeting (with the APOP timestamp), CAPA, STLS
//! (RFC 2595) and UTF8 (RFC 6856).

use super::body::read_listing;
use super::reply::Status;
use super::{Capabilities, POP3_PORT, POP3S_PORT, Pop3Client, unexpected_continuation};
use crate::capabilities::CapabilitySet;
use crate::error::{Error, Result};
use crate::options::{ClientOptions, Security};
use crate::session::{Ports, Session};

const MAX_CAPA_LINES: usize = 1024;

pub(super) fn connect(host: &str, port: u16, opts: &ClientOptions) -> Result<Pop3Client> {
    let ports = Ports { protocol: "POP3", implicit_tls: POP3S_PORT, starttls: POP3_PORT };
    let (session, security) = Session::open(host, port, opts, ports)?;
    let mut client = Pop3Client {
        session,
        greeting: String::new(),
        apop_timestamp: None,
        caps: Capabilities::default(),
        utf8_active: false,
        sizes: None,
    };
    client.read_greeting()?;
    client.caps = client.capa()?;
    if security == Security::StartTls {
        client.stls()?;
    }
    if client.session.opts.utf8 && client.caps.utf8() {
        client.utf8()?;
    }
    Ok(client)
}

impl Pop3Client {
    fn read_greeting(&mut self) -> Result<()> {
        self.session.check_silent_port()?;
        let status = self.read_status();
        match self.session.hint_on_greeting(status)? {
            Status::Ok(text) => {
                self.apop_timestamp = super::capa::apop_timestamp(&text);
                self.greeting = text;
                Ok(())
            }
            Status::Err(reply) => Err(Error::Server(reply)),
            Status::Continue(_) => Err(Error::Protocol("malformed greeting: '+' continuation".into())),
        }
    }

    fn capa(&mut self) -> Result<Capabilities> {
        self.session.conn.send_command(b"CAPA", None)?;
        match self.read_status()? {
            Status::Ok(_) => {}
            // An RFC 1939-only server: nothing advertised.
            Status::Err(_) => return Ok(Capabilities::unsupported()),
            Status::Continue(_) => return Err(unexpected_continuation()),
        }
        let mut set = CapabilitySet::default();
        read_listing(&mut self.session.conn, MAX_CAPA_LINES, |line| {
            set.add_line(&String::from_utf8_lossy(line));
            Ok(())
        })?;
        Ok(Capabilities::from_set(set))
    }

    fn stls(&mut self) -> Result<()> {
        let tls_port = self.session.ports.implicit_tls;
        let unavailable = |detail: String| Error::StartTlsUnavailable { command: "STLS", detail, tls_port };
        if !self.caps.stls() {
            return Err(unavailable("it is not among the server's capabilities".into()));
        }
        self.session.conn.send_command(b"STLS", None)?;
        match self.read_status()? {
            Status::Ok(_) => {}
            Status::Err(reply) => return Err(unavailable(reply.text)),
            Status::Continue(_) => return Err(unexpected_continuation()),
        }
        self.session.start_tls()?;
        // RFC 2595: forget what was learned in clear and ask again.
        self.caps = self.capa()?;
        Ok(())
    }

    /// Ask for UTF-8 mode. A server that refuses it is used without it: the
    /// option asks for UTF-8 where available, it does not require it.
    fn utf8(&mut self) -> Result<()> {
        match self.command(b"UTF8") {
            Ok(_) => {
                self.utf8_active = true;
                Ok(())
            }
            Err(Error::Server(reply)) => {
                self.session.tracer().info(format!("going on without UTF8 mode: {reply}"));
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}
