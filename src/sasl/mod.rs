//! Authentication mechanisms and the SASL client side (RFC 4422), shared by
//! POP3 and SMTP. Only bytes are produced here; the protocols add their own
//! framing (base64 and "+ " or "334 ").

pub mod scram;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};

use crate::error::{Error, Result};
use scram::{Binding, Scram};

/// An authentication method. `User` and `Apop` are POP3's own (not SASL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mechanism {
    User,
    Apop,
    Plain,
    Login,
    CramMd5,
    XOAuth2,
    OAuthBearer,
    ScramSha1,
    ScramSha1Plus,
    ScramSha256,
    ScramSha256Plus,
}

impl Mechanism {
    /// Password mechanisms, in the order of `password_preference(false)`.
    pub const PASSWORD_MECHANISMS: [Mechanism; 9] = [
        Mechanism::ScramSha256Plus,
        Mechanism::ScramSha256,
        Mechanism::ScramSha1Plus,
        Mechanism::ScramSha1,
        Mechanism::CramMd5,
        Mechanism::Plain,
        Mechanism::Login,
        Mechanism::Apop,
        Mechanism::User,
    ];

    /// The order in which a login without a named mechanism tries password
    /// mechanisms. SCRAM first, whoever the server is: the password never
    /// crosses the wire, the server proves that it knows it too, and the
    /// -PLUS variants bind the login to this TLS channel (an interceptor
    /// with a trusted certificate cannot relay it); SHA-256 before SHA-1
    /// (RFC 7677). Then, to a server whose certificate was verified (or
    /// pinned), PLAIN: one round trip, and it works however the server
    /// stores passwords (CRAM-MD5 fails for accounts whose password is
    /// stored hashed). To any other server, challenge-response first:
    /// CRAM-MD5 and APOP never reveal the password to a server that is not
    /// who it claims to be.
    pub fn password_preference(server_verified: bool) -> [Mechanism; 9] {
        if server_verified {
            [
                Mechanism::ScramSha256Plus,
                Mechanism::ScramSha256,
                Mechanism::ScramSha1Plus,
                Mechanism::ScramSha1,
                Mechanism::Plain,
                Mechanism::CramMd5,
                Mechanism::Login,
                Mechanism::Apop,
                Mechanism::User,
            ]
        } else {
            Mechanism::PASSWORD_MECHANISMS
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mechanism::User => "USER",
            Mechanism::Apop => "APOP",
            Mechanism::Plain => "PLAIN",
            Mechanism::Login => "LOGIN",
            Mechanism::CramMd5 => "CRAM-MD5",
            Mechanism::XOAuth2 => "XOAUTH2",
            Mechanism::OAuthBearer => "OAUTHBEARER",
            Mechanism::ScramSha1 => "SCRAM-SHA-1",
            Mechanism::ScramSha1Plus => "SCRAM-SHA-1-PLUS",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha256Plus => "SCRAM-SHA-256-PLUS",
        }
    }

    /// Every mechanism.
    pub const ALL: [Mechanism; 11] = [
        Mechanism::User,
        Mechanism::Apop,
        Mechanism::Plain,
        Mechanism::Login,
        Mechanism::CramMd5,
        Mechanism::XOAuth2,
        Mechanism::OAuthBearer,
        Mechanism::ScramSha1,
        Mechanism::ScramSha1Plus,
        Mechanism::ScramSha256,
        Mechanism::ScramSha256Plus,
    ];

    pub fn from_name(name: &str) -> Result<Mechanism> {
        Mechanism::ALL.into_iter().find(|m| m.name().eq_ignore_ascii_case(name.trim())).ok_or_else(|| {
            let known: Vec<&str> = Mechanism::ALL.iter().map(|m| m.name()).collect();
            Error::InvalidArgument(format!("unknown mechanism {name:?} (known: {})", known.join(", ")))
        })
    }

    /// Parse a list such as "PLAIN LOGIN" or "plain,cram-md5".
    pub fn parse_list(list: &str) -> Result<Vec<Mechanism>> {
        list.split([' ', ',', '\t']).filter(|s| !s.is_empty()).map(Mechanism::from_name).collect()
    }

    pub fn is_sasl(self) -> bool {
        !matches!(self, Mechanism::User | Mechanism::Apop)
    }

    pub fn is_oauth(self) -> bool {
        matches!(self, Mechanism::XOAuth2 | Mechanism::OAuthBearer)
    }

    /// The hash of a SCRAM mechanism; `None` for the others.
    pub fn scram_hash(self) -> Option<scram::Hash> {
        match self {
            Mechanism::ScramSha1 | Mechanism::ScramSha1Plus => Some(scram::Hash::Sha1),
            Mechanism::ScramSha256 | Mechanism::ScramSha256Plus => Some(scram::Hash::Sha256),
            _ => None,
        }
    }

    pub fn is_scram(self) -> bool {
        self.scram_hash().is_some()
    }

    /// A SCRAM variant with channel binding.
    pub fn is_plus(self) -> bool {
        matches!(self, Mechanism::ScramSha1Plus | Mechanism::ScramSha256Plus)
    }

    /// The -PLUS variant of a SCRAM mechanism without channel binding.
    pub fn plus_variant(self) -> Option<Mechanism> {
        match self {
            Mechanism::ScramSha1 => Some(Mechanism::ScramSha1Plus),
            Mechanism::ScramSha256 => Some(Mechanism::ScramSha256Plus),
            _ => None,
        }
    }
}

/// What a SASL exchange authenticates with. `secret` is a password or an
/// OAuth 2 bearer token.
pub struct Credentials<'a> {
    pub user: &'a str,
    pub secret: &'a str,
}

/// The client side of one SASL exchange.
pub struct SaslClient<'a> {
    mechanism: Mechanism,
    creds: Credentials<'a>,
    step: u32,
    /// The SCRAM exchange, for SCRAM mechanisms.
    scram: Option<Scram>,
}

impl<'a> SaslClient<'a> {
    /// A client for `mechanism`; for SCRAM, one on a connection that gives
    /// no channel binding (see [`Self::with_binding`]).
    pub fn new(mechanism: Mechanism, creds: Credentials<'a>) -> Result<Self> {
        SaslClient::with_binding(mechanism, creds, Binding::Unsupported)
    }

    /// A client for `mechanism`, with what the connection and the server
    /// allow for SCRAM's channel binding (ignored by other mechanisms).
    pub fn with_binding(mechanism: Mechanism, creds: Credentials<'a>, binding: Binding) -> Result<Self> {
        if !mechanism.is_sasl() {
            return Err(Error::InvalidArgument(format!("{} is not a SASL mechanism", mechanism.name())));
        }
        if mechanism.is_oauth() {
            check_oauth_field(mechanism, "user name", creds.user)?;
            check_oauth_field(mechanism, "token", creds.secret)?;
        }
        let scram = match mechanism.scram_hash() {
            Some(hash) => {
                if mechanism.is_plus() != matches!(binding, Binding::Bound(_)) {
                    return Err(Error::InvalidArgument(format!(
                        "{} {} channel binding",
                        mechanism.name(),
                        if mechanism.is_plus() { "needs" } else { "is the variant without" }
                    )));
                }
                Some(Scram::new(hash, scram::prepare(creds.user, creds.secret)?, binding)?)
            }
            None => None,
        };
        Ok(SaslClient { mechanism, creds, step: 0, scram })
    }

    /// Called when the server says the login succeeded: SCRAM checks that
    /// the server proved it knows the password.
    pub fn finish(&self) -> Result<()> {
        self.scram.as_ref().map_or(Ok(()), Scram::finish)
    }

    /// The error a SCRAM server reported in its final message (`e=`).
    pub fn server_error(&self) -> Option<&str> {
        self.scram.as_ref()?.server_error()
    }

    /// The response sent with the AUTH command itself, for mechanisms where
    /// the client speaks first.
    pub fn initial_response(&mut self) -> Option<Vec<u8>> {
        if let Some(scram) = &mut self.scram {
            self.step = 1;
            return Some(scram.client_first());
        }
        let r = match self.mechanism {
            Mechanism::Plain => Some(self.plain()),
            Mechanism::XOAuth2 => Some(self.xoauth2()),
            Mechanism::OAuthBearer => Some(self.oauthbearer()),
            _ => None,
        };
        if r.is_some() {
            self.step = 1;
        }
        r
    }

    /// Answer one server challenge (already base64-decoded).
    pub fn respond(&mut self, challenge: &[u8]) -> Result<Vec<u8>> {
        if let Some(scram) = &mut self.scram {
            return scram.respond(challenge);
        }
        let step = self.step;
        self.step += 1;
        match (self.mechanism, step) {
            (Mechanism::Plain, 0) => Ok(self.plain()),
            (Mechanism::XOAuth2, 0) => Ok(self.xoauth2()),
            (Mechanism::OAuthBearer, 0) => Ok(self.oauthbearer()),
            // After a failed OAuth exchange the server sends an error
            // description (JSON) and expects a dummy reply before its final
            // negative answer (RFC 7628 section 3.2.3; Google's XOAUTH2).
            (Mechanism::XOAuth2, _) => Ok(Vec::new()),
            (Mechanism::OAuthBearer, _) => Ok(vec![0x01]),
            (Mechanism::Login, 0) => Ok(self.creds.user.as_bytes().to_vec()),
            (Mechanism::Login, 1) => Ok(self.creds.secret.as_bytes().to_vec()),
            (Mechanism::CramMd5, 0) => Ok(cram_md5(self.creds.user, self.creds.secret, challenge)),
            _ => {
                Err(Error::Protocol(format!("unexpected extra challenge in {} authentication", self.mechanism.name())))
            }
        }
    }

    fn plain(&self) -> Vec<u8> {
        // authzid (empty) NUL authcid NUL password
        let mut v = Vec::with_capacity(self.creds.user.len() + self.creds.secret.len() + 2);
        v.push(0);
        v.extend_from_slice(self.creds.user.as_bytes());
        v.push(0);
        v.extend_from_slice(self.creds.secret.as_bytes());
        v
    }

    fn xoauth2(&self) -> Vec<u8> {
        format!("user={}\x01auth=Bearer {}\x01\x01", self.creds.user, self.creds.secret).into_bytes()
    }

    fn oauthbearer(&self) -> Vec<u8> {
        // RFC 7628: gs2 header with the authzid, then kvpairs.
        format!("n,a={},\x01auth=Bearer {}\x01\x01", escape_saslname(self.creds.user), self.creds.secret).into_bytes()
    }
}

/// XOAUTH2 and OAUTHBEARER (RFC 7628) separate their fields with \x01: one
/// inside a user name or token would end its field and start another that
/// the caller never meant to send.
fn check_oauth_field(mechanism: Mechanism, what: &str, value: &str) -> Result<()> {
    if value.contains('\x01') {
        return Err(Error::InvalidArgument(format!(
            "the {what} for {} contains the character \\x01, which separates its fields",
            mechanism.name()
        )));
    }
    Ok(())
}

/// An APOP command is `APOP user digest` on one line (RFC 1939 section 7):
/// a user name with a space would shift the digest into another argument,
/// and one with a control character is no name a server accepts.
pub fn check_apop_user(user: &str) -> Result<()> {
    if user.is_empty() {
        return Err(Error::InvalidArgument("the user name for APOP is empty".into()));
    }
    if user.chars().any(|c| c == ' ' || c.is_control()) {
        return Err(Error::InvalidArgument("the user name for APOP contains spaces or control characters".into()));
    }
    Ok(())
}

/// RFC 5801 saslname escaping (RFC 5802's too): ',' and '=' become "=2C" and "=3D".
fn escape_saslname(s: &str) -> String {
    s.replace('=', "=3D").replace(',', "=2C")
}

/// RFC 2195: user SP hex(HMAC-MD5(password, challenge)).
pub fn cram_md5(user: &str, password: &str, challenge: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Md5> as KeyInit>::new_from_slice(password.as_bytes()).expect("HMAC accepts any key length");
    mac.update(challenge);
    let digest = mac.finalize().into_bytes();
    let mut out = format!("{user} ").into_bytes();
    out.extend(hex_lower(&digest).into_bytes());
    out
}

/// RFC 1939 APOP digest: hex(MD5(timestamp password)).
pub fn apop_digest(timestamp: &str, password: &str) -> String {
    let mut md5 = Md5::new();
    md5.update(timestamp.as_bytes());
    md5.update(password.as_bytes());
    hex_lower(&md5.finalize())
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn encode(data: &[u8]) -> String {
    BASE64.encode(data)
}

pub fn decode(text: &[u8]) -> Result<Vec<u8>> {
    BASE64
        .decode(text.trim_ascii())
        .map_err(|_| Error::Protocol("the server's SASL challenge is not valid base64".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cram_md5_matches_rfc_2195_example() {
        let challenge = b"<1896.697170952@postoffice.reston.mci.net>";
        let r = cram_md5("tim", "tanstaaftanstaaf", challenge);
        assert_eq!(r, b"tim b913a602c7eda7a495b4e6e7334d3890".to_vec());
    }

    #[test]
    fn apop_matches_rfc_1939_example() {
        assert_eq!(apop_digest("<1896.697170952@dbc.mtview.ca.us>", "tanstaaf"), "c4c9334bac560ecc979e58001b3e22fb");
    }

    #[test]
    fn plain_and_oauth_initial_responses() {
        let creds = || Credentials { user: "u=,x", secret: "p" };
        let mut plain = SaslClient::new(Mechanism::Plain, creds()).unwrap();
        assert_eq!(plain.initial_response().unwrap(), b"\0u=,x\0p".to_vec());
        let mut bearer = SaslClient::new(Mechanism::OAuthBearer, creds()).unwrap();
        assert_eq!(bearer.initial_response().unwrap(), b"n,a=u=3D=2Cx,\x01auth=Bearer p\x01\x01".to_vec());
        assert_eq!(bearer.respond(b"{\"status\":\"invalid_token\"}").unwrap(), vec![1]);
    }

    #[test]
    fn login_answers_user_then_password_then_refuses() {
        let mut login = SaslClient::new(Mechanism::Login, Credentials { user: "u", secret: "p" }).unwrap();
        assert!(login.initial_response().is_none());
        assert_eq!(login.respond(b"Username:").unwrap(), b"u");
        assert_eq!(login.respond(b"Password:").unwrap(), b"p");
        assert!(login.respond(b"?").is_err());
    }

    #[test]
    fn oauth_refuses_a_field_separator_in_the_user_name_or_token() {
        for mechanism in [Mechanism::XOAuth2, Mechanism::OAuthBearer] {
            for (user, secret) in [("u\x01auth=Bearer forged", "t"), ("u", "t\x01host=evil")] {
                let err = SaslClient::new(mechanism, Credentials { user, secret }).err().expect("refused");
                assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
                assert!(!err.to_string().contains("forged") && !err.to_string().contains("evil"), "{err}");
            }
            assert!(SaslClient::new(mechanism, Credentials { user: "u@example.org", secret: "t" }).is_ok());
        }
        // Other mechanisms carry the bytes opaquely.
        assert!(SaslClient::new(Mechanism::Plain, Credentials { user: "u\x01", secret: "p\x01" }).is_ok());
    }

    #[test]
    fn apop_user_names_with_spaces_or_controls_are_refused() {
        assert!(check_apop_user("mrose").is_ok());
        assert!(check_apop_user("user@example.org").is_ok());
        for bad in ["", "mrose c4c9334bac560ecc979e58001b3e22fb", "a\tb", "a\r\nQUIT", "a\x01", "a\x7f"] {
            let err = check_apop_user(bad).unwrap_err();
            assert!(matches!(err, Error::InvalidArgument(_)), "{bad:?}: {err}");
        }
    }

    #[test]
    fn mechanism_lists_parse() {
        assert_eq!(
            Mechanism::parse_list("plain, CRAM-MD5 user").unwrap(),
            vec![Mechanism::Plain, Mechanism::CramMd5, Mechanism::User]
        );
        assert!(Mechanism::parse_list("PLAIN NTLM").is_err());
    }
}
