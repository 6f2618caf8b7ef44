//! POP3's framing of login: AUTH with "+ " challenges (RFC 5034), and the
//! pre-SASL USER/PASS and APOP (RFC 1939). What to try and in which order
//! is the session core's (`session::auth`).

use super::reply::Status;
use super::{Pop3Client, unexpected_continuation};
use crate::error::{Error, Result};
use crate::sasl::{self, Mechanism};
use crate::session::auth::{Authenticate, Refusal, Step, encode_initial};

/// RFC 5034: an AUTH command with initial response stays within 255 octets.
const MAX_AUTH_COMMAND: usize = 255;

impl Authenticate for Pop3Client {
    fn can_use(_: Mechanism) -> bool {
        true
    }

    fn offers(&self, m: Mechanism) -> bool {
        match m {
            Mechanism::User => self.caps.user(),
            Mechanism::Apop => self.apop_timestamp.is_some(),
            _ => self.caps.sasl_mechanism(m),
        }
    }

    fn may_offer(&self, m: Mechanism) -> bool {
        self.offers(m) || (!self.caps.capa_supported && m != Mechanism::Apop)
    }

    /// Every method the server names, also those this client lacks
    /// (GSSAPI, NTLM, ...): a message that says what the server has must
    /// not hide them.
    fn offered(&self) -> Vec<String> {
        let mut names: Vec<String> = self.caps.set().args("SASL").unwrap_or_default().to_vec();
        if self.caps.user() {
            names.push("USER".into());
        }
        if self.apop_timestamp.is_some() {
            names.push("APOP".into());
        }
        names
    }

    fn send_auth(&mut self, m: Mechanism, initial: Option<&[u8]>) -> Result<bool> {
        let mut cmd = format!("AUTH {}", m.name()).into_bytes();
        let secret_from = cmd.len() + 1;
        let mut carried = false;
        // Only a server that announces SASL takes an initial response, and
        // only within the command length limit.
        if let (Some(initial), true) = (initial, self.caps.sasl()) {
            let encoded = encode_initial(initial);
            if cmd.len() + 1 + encoded.len() + 2 <= MAX_AUTH_COMMAND {
                cmd.push(b' ');
                cmd.extend_from_slice(encoded.as_bytes());
                carried = true;
            }
        }
        self.session.conn.send_command(&cmd, Some(secret_from))?;
        Ok(carried)
    }

    fn read_step(&mut self) -> Result<Step> {
        Ok(match self.read_status()? {
            Status::Ok(_) => Step::Success,
            Status::Continue(challenge) => Step::Challenge(sasl::decode(&challenge)?),
            // POP3 has no code that tells a refused mechanism from refused
            // credentials: a refusal before any credential was sent is the
            // mechanism's (RFC 5034 section 4).
            Status::Err(reply) => Step::Refused { reply, meaning: Refusal::OfCredentialsIfSent },
        })
    }

    fn login_without_sasl(&mut self, m: Mechanism, user: &str, secret: &str) -> Result<()> {
        match m {
            Mechanism::User => {
                self.auth_step(format!("USER {user}").as_bytes(), None)?;
                self.auth_step(format!("PASS {secret}").as_bytes(), Some(5))
            }
            Mechanism::Apop => {
                // A space would start the digest early (RFC 1939 APOP).
                sasl::check_apop_user(user)?;
                let stamp = self.apop_timestamp.clone().unwrap_or_default();
                let cmd = format!("APOP {user} {}", sasl::apop_digest(&stamp, secret));
                self.auth_step(cmd.as_bytes(), Some(6 + user.len()))
            }
            _ => Err(Error::InvalidArgument(format!("{} is a SASL mechanism", m.name()))),
        }
    }
}

impl Pop3Client {
    /// Send one USER, PASS or APOP command and expect +OK.
    fn auth_step(&mut self, cmd: &[u8], secret_from: Option<usize>) -> Result<()> {
        self.session.conn.send_command(cmd, secret_from)?;
        match self.read_status()? {
            Status::Ok(_) => Ok(()),
            Status::Err(reply) => Err(Error::AuthFailed(reply)),
            Status::Continue(_) => Err(unexpected_continuation()),
        }
    }
}
