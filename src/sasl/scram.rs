//! SCRAM (RFC 5802; SHA-256 per RFC 7677), the client side, with channel
//! binding for the -PLUS variants (RFC 5929 tls-server-end-point, RFC 9266
//! tls-exporter). The password never crosses the wire, and the server must
//! prove that it knows the salted password too: a server that cannot, or
//! that asks for weak parameters, ends the login with an error before the
//! session goes on.

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Below RFC 5802's and RFC 7677's minimum (4096), the salted password is
/// cheap to attack from what a passive observer of a plaintext exchange, or
/// the server, sees: a server asking for fewer is refused.
const MIN_ITERATIONS: u32 = 4096;
/// Far beyond what any server uses (Dovecot, Cyrus and PostgreSQL default
/// to 4096; OWASP's 2023 advice for stored PBKDF2-HMAC-SHA256 is 600,000),
/// and still bearable: ten million rounds take about 2 s of one core
/// (SHA-256 or SHA-1, optimised build, measured at 0.19 s per million on
/// an x86-64 core with SHA extensions; several times that without them).
/// A server asking for more only makes the client burn CPU: refused.
const MAX_ITERATIONS: u32 = 10_000_000;
/// Client nonce: 24 random bytes, 32 printable characters in base64.
const NONCE_BYTES: usize = 24;
/// Longest server message accepted (a nonce and a salt are tens of bytes).
const MAX_SERVER_MESSAGE: usize = 4096;

/// The hash function of a SCRAM variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    Sha1,
    Sha256,
}

/// Channel binding data of a TLS connection (RFC 5056): its type as the
/// gs2 header names it, and the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct ChannelBinding {
    /// `tls-exporter` or `tls-server-end-point`.
    pub kind: &'static str,
    pub data: Vec<u8>,
}

impl std::fmt::Debug for ChannelBinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ChannelBinding({}, {} bytes)", self.kind, self.data.len())
    }
}

/// What the client tells the server about channel binding (the gs2
/// cbind-flag, RFC 5802 section 6), which is how a mechanism-list
/// downgrade is detected: a server that supports binding fails a login
/// whose flag is `y`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Binding {
    /// `n`: this connection gives no channel binding (no TLS, or a TLS
    /// backend that cannot export it).
    Unsupported,
    /// `n`: the client could bind and the server offers the -PLUS variant,
    /// but the caller chose the variant without binding.
    Declined,
    /// `y`: the client could bind, but the server did not offer -PLUS.
    ServerDidNotOffer,
    /// `p=<kind>`: a -PLUS mechanism, bound to this.
    Bound(ChannelBinding),
}

impl Binding {
    fn gs2_header(&self) -> String {
        match self {
            Binding::Unsupported | Binding::Declined => "n,,".to_string(),
            Binding::ServerDidNotOffer => "y,,".to_string(),
            Binding::Bound(cb) => format!("p={},,", cb.kind),
        }
    }

    fn data(&self) -> &[u8] {
        match self {
            Binding::Bound(cb) => &cb.data,
            _ => &[],
        }
    }
}

/// The user name and password as SCRAM sends and hashes them: SASLprep
/// (RFC 4013) of both, the user name escaped as a saslname.
pub struct Prepared {
    username: String,
    password: String,
}

/// SASLprep of the user name and password (RFC 5802 section 5.1). Neither
/// the password nor the character SASLprep objects to is ever put in the
/// message.
pub fn prepare(user: &str, password: &str) -> Result<Prepared> {
    let user = stringprep::saslprep(user).map_err(|_| {
        Error::InvalidArgument(
            "the user name contains a character that SCRAM's SASLprep (RFC 4013) prohibits (a control \
             character, or one Unicode 3.2 does not assign)"
                .into(),
        )
    })?;
    let password: Cow<str> = stringprep::saslprep(password).map_err(|_| {
        Error::InvalidArgument(
            "the password contains a character that SCRAM's SASLprep (RFC 4013) prohibits (a control \
             character, or one Unicode 3.2 does not assign); use a mechanism other than SCRAM"
                .into(),
        )
    })?;
    if user.is_empty() {
        return Err(Error::InvalidArgument("the user name for SCRAM is empty".into()));
    }
    Ok(Prepared { username: super::escape_saslname(&user), password: password.into_owned() })
}

enum State {
    /// Nothing sent yet.
    Start,
    /// client-first sent.
    SentFirst,
    /// client-final sent; the server must answer with this signature.
    SentFinal { server_signature: Vec<u8> },
    /// The server proved it knows the salted password.
    Verified,
    /// The server answered the proof with `e=`: only its refusal may follow.
    ServerError(String),
}

/// One SCRAM exchange, client side.
pub struct Scram {
    hash: Hash,
    creds: Prepared,
    binding: Binding,
    nonce: String,
    client_first_bare: String,
    state: State,
}

impl Scram {
    pub fn new(hash: Hash, creds: Prepared, binding: Binding) -> Result<Scram> {
        let mut random = [0u8; NONCE_BYTES];
        getrandom::fill(&mut random).map_err(|e| Error::Io {
            doing: "getting random bytes for the SCRAM nonce",
            source: std::io::Error::other(e.to_string()),
        })?;
        Ok(Scram::with_nonce(hash, creds, binding, BASE64.encode(random)))
    }

    /// With a given nonce: the RFC test vectors (a real exchange gets a
    /// random one from `new`).
    fn with_nonce(hash: Hash, creds: Prepared, binding: Binding, nonce: String) -> Scram {
        let client_first_bare = format!("n={},r={nonce}", creds.username);
        Scram { hash, creds, binding, nonce, client_first_bare, state: State::Start }
    }

    /// The client-first message (RFC 5802 section 7): gs2 header, user
    /// name, nonce.
    pub fn client_first(&mut self) -> Vec<u8> {
        self.state = State::SentFirst;
        format!("{}{}", self.binding.gs2_header(), self.client_first_bare).into_bytes()
    }

    /// Answer one server message.
    pub fn respond(&mut self, challenge: &[u8]) -> Result<Vec<u8>> {
        match std::mem::replace(&mut self.state, State::Start) {
            // The server asked for the client-first message with an empty
            // challenge (no initial response on the AUTH command).
            State::Start if challenge.is_empty() => Ok(self.client_first()),
            State::Start => Err(malformed("its first challenge is not empty, but SCRAM starts with the client")),
            State::SentFirst => self.client_final(challenge),
            State::SentFinal { server_signature } => self.check_server_final(challenge, &server_signature),
            State::Verified | State::ServerError(_) => {
                Err(Error::Protocol("the server sent another SCRAM challenge after its final message".into()))
            }
        }
    }

    /// Called when the server says the login succeeded: only after it
    /// proved that it knows the salted password.
    pub fn finish(&self) -> Result<()> {
        match &self.state {
            State::Verified => Ok(()),
            State::ServerError(e) => Err(Error::Protocol(format!(
                "the server reported the SCRAM error {e:?} and then said the login succeeded"
            ))),
            _ => Err(Error::Protocol(
                "the server said the SCRAM login succeeded without proving that it knows the password (no server \
                 signature): it may not be the server it claims to be; the connection was closed"
                    .into(),
            )),
        }
    }

    /// The `e=` value of the server's final message, if it sent one.
    pub fn server_error(&self) -> Option<&str> {
        match &self.state {
            State::ServerError(e) => Some(e),
            _ => None,
        }
    }

    fn client_final(&mut self, server_first: &[u8]) -> Result<Vec<u8>> {
        let text = message_text(server_first)?;
        let mut attrs = Attributes::new(text);
        if text.starts_with("m=") {
            return Err(malformed("it requires a SCRAM extension (m=) this client does not know"));
        }
        if let Some(e) = text.strip_prefix("e=") {
            return Err(Error::Protocol(format!("the server answered SCRAM's first message with the error {e:?}")));
        }
        let nonce = attrs.expect('r')?;
        let salt = attrs.expect('s')?;
        let iterations = attrs.expect('i')?;
        // Extensions may follow (RFC 5802 section 7); none is mandatory.
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            return Err(Error::Protocol(
                "the server's SCRAM nonce does not extend the client's (a replayed or forged exchange); the \
                 connection was closed"
                    .into(),
            ));
        }
        if !nonce.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            return Err(malformed("its nonce has characters outside printable ASCII"));
        }
        let salt = BASE64.decode(salt).map_err(|_| malformed("its salt is not valid base64"))?;
        if salt.is_empty() {
            return Err(malformed("its salt is empty"));
        }
        let iterations: u32 = match iterations.parse() {
            Ok(i) if iterations.bytes().all(|b| b.is_ascii_digit()) => i,
            _ => return Err(malformed("its iteration count is not a number")),
        };
        if iterations < MIN_ITERATIONS {
            return Err(Error::Protocol(format!(
                "the server asked for a SCRAM iteration count of {iterations}, below the minimum of {MIN_ITERATIONS} \
                 (RFC 7677): refused, the salted password would be too cheap to attack; the connection was closed"
            )));
        }
        if iterations > MAX_ITERATIONS {
            return Err(Error::Protocol(format!(
                "the server asked for a SCRAM iteration count of {iterations}, above this client's limit of \
                 {MAX_ITERATIONS}: refused (it would take seconds of CPU per login); the connection was closed"
            )));
        }

        let mut channel_binding = self.binding.gs2_header().into_bytes();
        channel_binding.extend_from_slice(self.binding.data());
        let without_proof = format!("c={},r={nonce}", BASE64.encode(&channel_binding));
        let auth_message = format!("{},{text},{without_proof}", self.client_first_bare);
        let keys = match self.hash {
            Hash::Sha1 => derive::<Hmac<Sha1>, Sha1>(&self.creds.password, &salt, iterations, &auth_message),
            Hash::Sha256 => derive::<Hmac<Sha256>, Sha256>(&self.creds.password, &salt, iterations, &auth_message),
        };
        self.state = State::SentFinal { server_signature: keys.server_signature };
        Ok(format!("{without_proof},p={}", BASE64.encode(&keys.client_proof)).into_bytes())
    }

    fn check_server_final(&mut self, server_final: &[u8], expected: &[u8]) -> Result<Vec<u8>> {
        let text = message_text(server_final)?;
        if let Some(e) = text.strip_prefix("e=") {
            // The refusal follows the (empty) answer to this message.
            let e = e.split(',').next().unwrap_or_default();
            self.state = State::ServerError(e.chars().take(100).collect());
            return Ok(Vec::new());
        }
        let signature = Attributes::new(text).expect('v')?;
        let signature = BASE64.decode(signature).map_err(|_| malformed("its signature is not valid base64"))?;
        // Comparing fixed-length MACs; the server knows both anyway, but
        // constant time costs nothing here.
        if signature.len() != expected.len()
            || signature.iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) != 0
        {
            return Err(Error::Protocol(
                "the server's SCRAM signature is wrong: it could not prove that it knows the password, so it may \
                 not be the server it claims to be; the connection was closed"
                    .into(),
            ));
        }
        self.state = State::Verified;
        Ok(Vec::new())
    }
}

/// A server message as text: SCRAM messages are UTF-8 and short.
fn message_text(message: &[u8]) -> Result<&str> {
    if message.len() > MAX_SERVER_MESSAGE {
        return Err(malformed("a message is too long"));
    }
    std::str::from_utf8(message).map_err(|_| malformed("a message is not UTF-8"))
}

fn malformed(why: &str) -> Error {
    Error::Protocol(format!("malformed SCRAM message from the server: {why}"))
}

/// The `a=value` attributes of a SCRAM message, read in their required
/// order.
struct Attributes<'a> {
    rest: std::str::Split<'a, char>,
}

impl<'a> Attributes<'a> {
    fn new(text: &'a str) -> Self {
        Attributes { rest: text.split(',') }
    }

    fn expect(&mut self, name: char) -> Result<&'a str> {
        let found = self.rest.next().unwrap_or_default();
        match found.strip_prefix(name).and_then(|v| v.strip_prefix('=')) {
            Some(value) if !value.is_empty() => Ok(value),
            _ => Err(Error::Protocol(format!(
                "malformed SCRAM message from the server: the attribute {name}= is missing or empty"
            ))),
        }
    }
}

struct Keys {
    client_proof: Vec<u8>,
    server_signature: Vec<u8>,
}

/// RFC 5802 section 3: SaltedPassword = Hi(password, salt, i), then the
/// client proof and the signature the server must send.
fn derive<M, D>(password: &str, salt: &[u8], iterations: u32, auth_message: &str) -> Keys
where
    M: Mac + KeyInit + Clone,
    D: Digest,
{
    let salted = hi::<M>(password.as_bytes(), salt, iterations);
    let client_key = hmac::<M>(&salted, b"Client Key");
    let stored_key = D::digest(&client_key);
    let client_signature = hmac::<M>(&stored_key, auth_message.as_bytes());
    let client_proof = client_key.iter().zip(&client_signature).map(|(k, s)| k ^ s).collect();
    let server_key = hmac::<M>(&salted, b"Server Key");
    let server_signature = hmac::<M>(&server_key, auth_message.as_bytes());
    Keys { client_proof, server_signature }
}

fn hmac<M: Mac + KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = <M as KeyInit>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Hi() of RFC 5802: PBKDF2 (RFC 8018) with HMAC, one block of output.
/// The keyed HMAC state is cloned for each round instead of keyed again,
/// which halves the work.
fn hi<M: Mac + KeyInit + Clone>(password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
    let keyed = <M as KeyInit>::new_from_slice(password).expect("HMAC accepts any key length");
    let mut mac = keyed.clone();
    mac.update(salt);
    mac.update(&1u32.to_be_bytes());
    let mut u = mac.finalize().into_bytes();
    let mut result = u.to_vec();
    for _ in 1..iterations {
        let mut mac = keyed.clone();
        mac.update(&u);
        u = mac.finalize().into_bytes();
        result.iter_mut().zip(u.iter()).for_each(|(r, b)| *r ^= b);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(hash: Hash, user: &str, password: &str, nonce: &str) -> Scram {
        Scram::with_nonce(hash, prepare(user, password).unwrap(), Binding::Unsupported, nonce.into())
    }

    #[test]
    fn rfc_5802_scram_sha_1_example() {
        let mut s = exchange(Hash::Sha1, "user", "pencil", "fyko+d2lbbFgONRv9qkxdawL");
        assert_eq!(s.client_first(), b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL");
        let server_first = b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";
        assert_eq!(
            s.respond(server_first).unwrap(),
            b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
        );
        assert!(s.finish().is_err(), "not verified yet");
        assert_eq!(s.respond(b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=").unwrap(), b"");
        s.finish().unwrap();
        assert!(s.respond(b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=").is_err(), "nothing after the final message");
    }

    #[test]
    fn rfc_7677_scram_sha_256_example() {
        let mut s = exchange(Hash::Sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO");
        assert_eq!(s.client_first(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let server_first = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        assert_eq!(
            s.respond(server_first).unwrap(),
            b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
                as &[u8]
        );
        assert_eq!(s.respond(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=").unwrap(), b"");
        s.finish().unwrap();
    }

    #[test]
    fn a_wrong_server_signature_is_refused() {
        let mut s = exchange(Hash::Sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO");
        s.client_first();
        s.respond(b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096").unwrap();
        let err = s.respond(b"v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=").unwrap_err();
        assert!(matches!(err, Error::Protocol(_)) && err.to_string().contains("signature is wrong"), "{err}");
        assert!(s.finish().is_err());
    }

    #[test]
    fn the_gs2_header_tells_what_the_client_can_bind() {
        let prep = || prepare("u", "p").unwrap();
        let cb = ChannelBinding { kind: "tls-exporter", data: vec![1, 2, 3] };
        for (binding, header) in [
            (Binding::Unsupported, "n,,"),
            (Binding::Declined, "n,,"),
            (Binding::ServerDidNotOffer, "y,,"),
            (Binding::Bound(cb.clone()), "p=tls-exporter,,"),
        ] {
            let data = binding.data().to_vec();
            let mut s = Scram::with_nonce(Hash::Sha256, prep(), binding, "abc".into());
            assert_eq!(s.client_first(), format!("{header}n=u,r=abc").into_bytes());
            let last = s.respond(b"r=abcdef,s=c2FsdA==,i=4096").unwrap();
            let c = String::from_utf8(last).unwrap();
            let c = c.strip_prefix("c=").unwrap().split(',').next().unwrap();
            assert_eq!(BASE64.decode(c).unwrap(), [header.as_bytes(), &data].concat());
        }
    }

    #[test]
    fn user_names_are_saslprepped_and_escaped() {
        let mut s = exchange(Hash::Sha256, "a=b,c\u{00A0}I\u{00AD}X", "p", "n");
        // NO-BREAK SPACE maps to a space, SOFT HYPHEN to nothing.
        assert_eq!(s.client_first(), b"n,,n=a=3Db=2Cc IX,r=n");
        // RFC 4013 section 3's examples: IX, then the Roman numeral IX
        // (NFKC), then a prohibited control character.
        assert_eq!(prepare("u", "I\u{00AD}X").unwrap().password, "IX");
        assert_eq!(prepare("u", "\u{2168}").unwrap().password, "IX");
        let err = prepare("u", "s3cr3t\u{7}X9q").err().unwrap();
        assert!(matches!(err, Error::InvalidArgument(_)) && err.to_string().contains("password"), "{err}");
        assert!(!err.to_string().contains("s3cr3t") && !err.to_string().contains("X9q"), "{err}");
        assert!(matches!(prepare("a\u{7}", "p"), Err(Error::InvalidArgument(_))));
        assert!(matches!(prepare("", "p"), Err(Error::InvalidArgument(_))));
    }

    #[test]
    fn weak_or_forged_server_first_messages_are_refused() {
        let refused = |server_first: &str, expect: &str| {
            let mut s = exchange(Hash::Sha256, "u", "p", "abc");
            s.client_first();
            let err = s.respond(server_first.as_bytes()).unwrap_err();
            assert!(matches!(err, Error::Protocol(_)), "{server_first}: {err}");
            assert!(err.to_string().contains(expect), "{server_first}: {err}");
        };
        refused("r=abcdef,s=c2FsdA==,i=4095", "below the minimum");
        refused("r=abcdef,s=c2FsdA==,i=10000001", "above this client's limit");
        refused("r=abcdef,s=c2FsdA==,i=99999999999", "not a number");
        refused("r=abcdef,s=c2FsdA==,i=+4096", "not a number");
        refused("r=xyzdef,s=c2FsdA==,i=4096", "does not extend");
        refused("r=abc,s=c2FsdA==,i=4096", "does not extend");
        refused("m=ext,r=abcdef,s=c2FsdA==,i=4096", "m=");
        refused("r=abcdef,s=%%%,i=4096", "salt is not valid base64");
        refused("r=abcdef,i=4096", "s= is missing");
        refused("r=abcdef,s=c2FsdA==", "i= is missing");
        refused("s=c2FsdA==,r=abcdef,i=4096", "r= is missing");
        refused("", "r= is missing");
        refused("e=other-error", "other-error");
        // Extensions after the iteration count are allowed.
        let mut s = exchange(Hash::Sha256, "u", "p", "abc");
        s.client_first();
        s.respond(b"r=abcdef,s=c2FsdA==,i=4096,x=future").unwrap();
    }

    #[test]
    fn a_server_error_is_answered_and_remembered() {
        let mut s = exchange(Hash::Sha256, "u", "p", "abc");
        s.client_first();
        s.respond(b"r=abcdef,s=c2FsdA==,i=4096").unwrap();
        assert_eq!(s.respond(b"e=invalid-proof").unwrap(), b"");
        assert_eq!(s.server_error(), Some("invalid-proof"));
        assert!(s.finish().is_err(), "an error and then success is not a login");
        for bad in [&b"v=%%%"[..], b"x=1", b"", b"\xff"] {
            let mut t = exchange(Hash::Sha256, "u", "p", "abc");
            t.client_first();
            t.respond(b"r=abcdef,s=c2FsdA==,i=4096").unwrap();
            assert!(matches!(t.respond(bad), Err(Error::Protocol(_))), "{bad:?}");
        }
    }

    #[test]
    fn an_empty_first_challenge_asks_for_the_client_first_message() {
        let mut s = exchange(Hash::Sha1, "u", "p", "abc");
        assert_eq!(s.respond(b"").unwrap(), b"n,,n=u,r=abc");
        let mut s = exchange(Hash::Sha1, "u", "p", "abc");
        assert!(s.respond(b"r=abc").is_err());
    }

    #[test]
    fn nonces_are_random_and_printable() {
        let a = Scram::new(Hash::Sha256, prepare("u", "p").unwrap(), Binding::Unsupported).unwrap();
        let b = Scram::new(Hash::Sha256, prepare("u", "p").unwrap(), Binding::Unsupported).unwrap();
        assert_ne!(a.nonce, b.nonce);
        assert_eq!(a.nonce.len(), 32);
        assert!(a.nonce.bytes().all(|c| (0x21..=0x7e).contains(&c) && c != b','));
    }
}
