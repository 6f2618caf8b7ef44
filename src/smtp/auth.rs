//! SMTP's framing of login (RFC 4954): AUTH with "334" challenges. What to
//! try and in which order is the session core's (`session::auth`).

use super::SmtpClient;
use crate::error::Result;
use crate::sasl::{self, Mechanism};
use crate::session::auth::{Authenticate, Refusal, Step, encode_initial};

impl Authenticate for SmtpClient {
    fn can_use(m: Mechanism) -> bool {
        m.is_sasl()
    }

    fn offers(&self, m: Mechanism) -> bool {
        self.ext.auth(m)
    }

    fn offered(&self) -> Vec<String> {
        self.ext.auth_mechanisms().to_vec()
    }

    /// AUTH is not allowed inside a mail transaction that a refused send
    /// left open.
    fn before_auth(&mut self) -> Result<()> {
        self.rset_if_needed()
    }

    fn send_auth(&mut self, m: Mechanism, initial: Option<&[u8]>) -> Result<bool> {
        let mut cmd = format!("AUTH {}", m.name()).into_bytes();
        let secret_from = cmd.len() + 1;
        if let Some(initial) = initial {
            cmd.push(b' ');
            cmd.extend_from_slice(encode_initial(initial).as_bytes());
        }
        self.session.conn.send_command(&cmd, Some(secret_from))?;
        Ok(initial.is_some())
    }

    fn read_step(&mut self) -> Result<Step> {
        let reply = self.read_reply()?;
        Ok(match reply.code {
            235 => Step::Success,
            334 => Step::Challenge(sasl::decode(reply.lines.first().map_or(&b""[..], |l| l.as_bytes()))?),
            code => {
                let meaning = match code {
                    // Mechanism unknown; too weak for this account.
                    504 | 534 => Refusal::OfMechanism,
                    535 => Refusal::OfCredentialsIfSent,
                    _ => Refusal::Final,
                };
                Step::Refused { reply: reply.to_server_reply(), meaning }
            }
        })
    }

    fn login_without_sasl(&mut self, m: Mechanism, _: &str, _: &str) -> Result<()> {
        Err(crate::error::Error::InvalidArgument(format!("{} is a POP3 mechanism", m.name())))
    }
}
