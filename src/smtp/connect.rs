//! Opening an SMTP session: greeting, EHLO (HELO when refused) and
//! STARTTLS (RFC 3207).

use super::advice::{Command, Context};
use super::{Extensions, Reply, SMTPS_PORT, SUBMISSION_PORT, SmtpClient};
use crate::error::{Error, Result};
use crate::options::{ClientOptions, Security};
use crate::session::{Ports, Session};

pub(super) fn connect(host: &str, port: u16, opts: &ClientOptions) -> Result<SmtpClient> {
    let client_name = opts.client_name.as_ref().map_or_else(default_client_name, |name| name.as_str().to_string());
    let ports = Ports { protocol: "SMTP", implicit_tls: SMTPS_PORT, starttls: SUBMISSION_PORT };
    let (session, security) = Session::open(host, port, opts, ports)?;
    let mut client = SmtpClient {
        session,
        client_name,
        ext: Extensions::default(),
        greeting: Reply { code: 0, enhanced_code: None, lines: Vec::new() },
        needs_rset: false,
    };
    client.greeting = client.read_greeting()?;
    client.hello()?;
    if security == Security::StartTls {
        client.starttls()?;
    }
    Ok(client)
}

impl SmtpClient {
    fn read_greeting(&mut self) -> Result<Reply> {
        self.session.check_silent_port()?;
        let reply = self.read_reply();
        let reply = self.session.hint_on_greeting(reply)?;
        if reply.code == 220 { Ok(reply) } else { Err(reply.into_error(Command::Other, Context::SETTING_UP)) }
    }

    /// EHLO, or HELO when the server refuses EHLO.
    fn hello(&mut self) -> Result<()> {
        let ehlo = format!("EHLO {}", self.client_name);
        self.session.conn.send_command(ehlo.as_bytes(), None)?;
        let reply = self.read_reply()?;
        if reply.code == 250 {
            self.ext = Extensions::from_ehlo_lines(&reply.lines);
            return Ok(());
        }
        if !(500..=504).contains(&reply.code) && reply.code != 550 {
            return Err(reply.into_error(Command::Other, Context::SETTING_UP));
        }
        let helo = format!("HELO {}", self.client_name);
        self.command(helo.as_bytes(), 250)?;
        self.ext = Extensions::default();
        Ok(())
    }

    fn starttls(&mut self) -> Result<()> {
        let tls_port = self.session.ports.implicit_tls;
        let unavailable = |detail: String| Error::StartTlsUnavailable { command: "STARTTLS", detail, tls_port };
        if !self.ext.starttls() {
            let detail = if self.ext.ehlo { "it is not among the EHLO extensions" } else { "the server refused EHLO" };
            return Err(unavailable(detail.into()));
        }
        self.session.conn.send_command(b"STARTTLS", None)?;
        let reply = self.read_reply()?;
        if reply.code != 220 {
            return Err(unavailable(reply.to_server_reply().text));
        }
        self.session.start_tls()?;
        // RFC 3207: forget what was learned in clear and ask again.
        self.ext = Extensions::default();
        self.hello()
    }
}

/// This host's name when it is a valid domain, else "localhost": never
/// empty or invalid, which servers may refuse.
fn default_client_name() -> String {
    let name = host_name().unwrap_or_default();
    let valid = !name.is_empty()
        && name.len() <= 255
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if valid { name } else { "localhost".to_string() }
}

#[cfg(unix)]
fn host_name() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is writable for its length.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    Some(String::from_utf8_lossy(&buf[..end]).into_owned())
}

/// Windows sets COMPUTERNAME for every process (the NetBIOS name, which is
/// the host name's first label on a domain-joined machine).
#[cfg(not(unix))]
fn host_name() -> Option<String> {
    std::env::var("COMPUTERNAME").ok().map(|n| n.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_client_name_is_valid() {
        let name = default_client_name();
        assert!(crate::options::ClientName::new(&name).is_ok(), "{name:?}");
    }
}
