//! Building one send's MAIL and RCPT commands, checked against its
//! arguments and what the server announced. Nothing is sent here.

use super::content::{eight_bit_refused, utf8_headers_refused};
use super::scan::EightBit;
use super::{Dsn, SmtpClient};
use crate::error::{Error, Result};
use crate::options::check_arg;

/// MAIL FROM and one RCPT TO per recipient, ready to send, with what MAIL
/// declared about the content.
pub(super) struct EnvelopeCommands {
    pub mail: String,
    pub rcpts: Vec<String>,
    pub declared: Declared,
}

/// What MAIL FROM announced, which the content must keep to.
#[derive(Debug, Clone, Copy)]
pub(super) struct Declared {
    /// BODY=8BITMIME: bytes over 127 may follow.
    pub eight_bit_mime: bool,
    /// SMTPUTF8: the header section may carry UTF-8.
    pub smtputf8: bool,
}

/// What is known about a message before its content is sent.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct ContentFacts {
    /// Its size as the DATA stream will carry it, when known.
    pub size: Option<u64>,
    /// What it needs beyond ASCII (`None`: unknown).
    pub eight_bit: Option<EightBit>,
}

impl SmtpClient {
    /// Check a send against what the server offers and build its commands.
    /// Content that is known to need an extension the server lacks is
    /// refused here, before anything is sent.
    pub(super) fn envelope_commands(
        &self,
        from: &str,
        recipients: &[&str],
        content: ContentFacts,
        dsn: Option<&Dsn>,
    ) -> Result<EnvelopeCommands> {
        check_parties(from, recipients)?;
        let utf8_addresses = !from.is_ascii() || recipients.iter().any(|r| !r.is_ascii());
        let utf8_headers = content.eight_bit == Some(EightBit::Utf8Headers);
        if !self.ext.smtputf8() {
            if utf8_addresses {
                return Err(Error::SmtpUtf8Unavailable(
                    "an address is not ASCII and the server does not offer SMTPUTF8".into(),
                ));
            }
            if utf8_headers {
                return Err(utf8_headers_refused(&self.ext, false));
            }
        }
        let known_8bit = matches!(content.eight_bit, Some(EightBit::Yes | EightBit::Utf8Headers));
        if known_8bit && !self.ext.eight_bit_mime() {
            return Err(eight_bit_refused(&self.ext, false));
        }
        if let (Some(size), Some(limit)) = (content.size, self.ext.size())
            && limit > 0
            && size > limit
        {
            return Err(Error::MessageTooLarge { limit });
        }
        let declared = Declared {
            // Unknown content may be 8-bit: declared whenever offered.
            eight_bit_mime: self.ext.eight_bit_mime() && content.eight_bit != Some(EightBit::No),
            smtputf8: utf8_addresses || utf8_headers,
        };
        let dsn = dsn.filter(|_| self.ext.dsn());
        let mail = self.mail_command(from, content.size, declared, dsn);
        let rcpts = recipients.iter().map(|r| rcpt_command(r, dsn)).collect();
        Ok(EnvelopeCommands { mail, rcpts, declared })
    }

    fn mail_command(&self, from: &str, size: Option<u64>, declared: Declared, dsn: Option<&Dsn>) -> String {
        let mut mail = format!("MAIL FROM:<{from}>");
        if let (Some(size), Some(_)) = (size, self.ext.size()) {
            mail.push_str(&format!(" SIZE={size}"));
        }
        if declared.eight_bit_mime {
            mail.push_str(" BODY=8BITMIME");
        }
        if declared.smtputf8 {
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
