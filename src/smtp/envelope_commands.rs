//! Building one send's MAIL and RCPT commands, checked against its
//! arguments and what the server announced. Nothing is sent here.

use super::{Dsn, SmtpClient};
use crate::error::{Error, Result};
use crate::options::check_arg;

/// MAIL FROM and one RCPT TO per recipient, ready to send.
pub(super) struct EnvelopeCommands {
    pub mail: String,
    pub rcpts: Vec<String>,
}

/// What is known about a message before its content is sent.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct ContentFacts {
    /// Its size as the DATA stream will carry it, when known.
    pub size: Option<u64>,
    /// Whether it has bytes over 127 (`None`: unknown).
    pub eight_bit: Option<bool>,
}

impl SmtpClient {
    pub(super) fn envelope_commands(
        &self,
        from: &str,
        recipients: &[&str],
        content: ContentFacts,
        dsn: Option<&Dsn>,
    ) -> Result<EnvelopeCommands> {
        check_parties(from, recipients)?;
        let needs_utf8 = !from.is_ascii() || recipients.iter().any(|r| !r.is_ascii());
        if needs_utf8 && !self.ext.smtputf8() {
            return Err(Error::SmtpUtf8Unavailable(
                "an address is not ASCII and the server does not offer SMTPUTF8".into(),
            ));
        }
        if let (Some(size), Some(limit)) = (content.size, self.ext.size()) {
            if limit > 0 && size > limit {
                return Err(Error::MessageTooLarge { limit });
            }
        }
        let dsn = dsn.filter(|_| self.ext.dsn());
        let mail = self.mail_command(from, content, needs_utf8, dsn);
        let rcpts = recipients.iter().map(|r| rcpt_command(r, dsn)).collect();
        Ok(EnvelopeCommands { mail, rcpts })
    }

    fn mail_command(&self, from: &str, content: ContentFacts, needs_utf8: bool, dsn: Option<&Dsn>) -> String {
        let mut mail = format!("MAIL FROM:<{from}>");
        if let (Some(size), Some(_)) = (content.size, self.ext.size()) {
            mail.push_str(&format!(" SIZE={size}"));
        }
        if self.ext.eight_bit_mime() && content.eight_bit != Some(false) {
            mail.push_str(" BODY=8BITMIME");
        }
        if needs_utf8 {
            mail.push_str(" SMTPUTF8");
        }
        if let Some(dsn) = dsn {
            mail.push_str(&dsn.mail_parameters());
        }
        mail
    }
}

fn rcpt_command(recipient: &str, dsn: Option<&Dsn>) -> String {
    let mut line = format!("RCPT TO:<{recipient}>");
    if let Some(dsn) = dsn {
        line.push_str(&dsn.rcpt_parameters(recipient));
    }
    line
}

fn check_parties(from: &str, recipients: &[&str]) -> Result<()> {
    check_address("the sender", from, true)?;
    if recipients.is_empty() {
        return Err(Error::InvalidArgument("no recipients".into()));
    }
    recipients.iter().try_for_each(|r| check_address("a recipient", r, false))
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_cannot_break_out_of_the_command() {
        assert!(check_address("r", "a@b.org", false).is_ok());
        assert!(check_address("s", "", true).is_ok());
        assert!(check_address("r", "", false).is_err());
        for bad in ["a@b.org>\r\nRCPT TO:<c@d.org", "a b@c.org", "a@b.org> SIZE=1", "a\0@b"] {
            assert!(check_address("r", bad, false).is_err(), "{bad:?}");
        }
    }
}
