//! Login, shared by POP3 and SMTP: which mechanism to use, the SASL
//! exchange (RFC 4422), and going on to the next mechanism when the server
//! turns one down as such. A protocol supplies only its framing, through
//! [`Authenticate`].

use super::Client;
use crate::error::{Error, Result, ServerReply};
use crate::sasl::scram::{self, Binding};
use crate::sasl::{self, Credentials, Mechanism, SaslClient};

/// What the server answered to an AUTH command or to a SASL response.
pub enum Step {
    Success,
    /// A challenge, already base64-decoded.
    Challenge(Vec<u8>),
    Refused {
        reply: ServerReply,
        meaning: Refusal,
    },
}

/// What a refusal says about the mechanism.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The mechanism is not available, whatever was sent (SMTP 504, 534).
    OfMechanism,
    /// Of the credentials once some were sent; before that, of the
    /// mechanism (POP3 -ERR, SMTP 535).
    OfCredentialsIfSent,
    /// The login failed; another mechanism would not help.
    Final,
}

/// How one attempt with one mechanism ended, when not in an error.
enum Attempt {
    Success,
    /// The server cannot serve this mechanism: try the next one.
    MechanismRefused(ServerReply),
}

/// A protocol's side of login (implemented by the POP3 and SMTP clients;
/// not for use outside the crate).
pub trait Authenticate: Client {
    /// Whether this protocol can use `m` at all (SMTP has no USER or APOP).
    fn can_use(m: Mechanism) -> bool;
    /// Whether the server offers `m`.
    fn offers(&self, m: Mechanism) -> bool;
    /// Whether a caller may ask for `m` by name: the server offers it, or
    /// announces nothing at all (an RFC 1939 POP3 server without CAPA).
    fn may_offer(&self, m: Mechanism) -> bool {
        self.offers(m)
    }
    /// The names of what the server offers, for messages.
    fn offered(&self) -> Vec<String>;
    /// Called once before the first AUTH (SMTP: end a transaction a failed
    /// send left open, since AUTH is not allowed inside one).
    fn before_auth(&mut self) -> Result<()> {
        Ok(())
    }
    /// Send the AUTH command, carrying `initial` (the initial response) if
    /// the protocol allows it here. Returns whether it was carried.
    fn send_auth(&mut self, m: Mechanism, initial: Option<&[u8]>) -> Result<bool>;
    /// Read the server's answer to the AUTH command or to a response.
    fn read_step(&mut self) -> Result<Step>;
    /// Log in with a mechanism that is not SASL (POP3's USER and APOP).
    fn login_without_sasl(&mut self, m: Mechanism, user: &str, secret: &str) -> Result<()>;
}

/// Log in with a password (see [`Client::login`]).
pub(crate) fn login<C: Authenticate>(
    client: &mut C,
    user: &str,
    password: &str,
    requested: Option<Mechanism>,
) -> Result<()> {
    client.run(|c| {
        check_can_authenticate(c, user, password)?;
        let candidates: Vec<Mechanism> = match requested {
            Some(m) if m.is_oauth() => {
                return Err(Error::InvalidArgument(format!("{} takes a token: use login_oauth2", m.name())));
            }
            Some(m) if !C::can_use(m) => {
                return Err(Error::InvalidArgument(format!("{} is not a mechanism of this protocol", m.name())));
            }
            // Sent anyway, it would come back as a refusal that reads like
            // a wrong password.
            Some(m) if !c.may_offer(m) => return Err(no_common(c, m.name())),
            Some(m) if m.is_plus() && c.session().conn.channel_binding().is_none() => {
                return Err(Error::NoCommonMechanism(format!(
                    "{} binds the login to the TLS channel, and this connection cannot give the binding data (no \
                     TLS, or a TLS library that does not export it)",
                    m.name()
                )));
            }
            Some(m) => vec![m],
            None => {
                let can_bind = c.session().conn.channel_binding().is_some();
                // A password SASLprep refuses cannot be used by SCRAM; the
                // other mechanisms send it as it is.
                let scram_ok = scram::prepare(user, password).is_ok();
                if !scram_ok {
                    c.session()
                        .tracer()
                        .info("the user name or password is not valid for SCRAM (SASLprep); skipping SCRAM");
                }
                Mechanism::password_preference(c.session().conn.server_verified())
                    .into_iter()
                    .filter(|m| !m.is_plus() || can_bind)
                    .filter(|m| !m.is_scram() || scram_ok)
                    .filter(|m| C::can_use(*m) && c.session().opts.allows(*m) && c.offers(*m))
                    .collect()
            }
        };
        let in_clear = !c.session().is_tls();
        first_that_works(c, &candidates, user, password, "any password mechanism")
            .map_err(|e| if in_clear { encryption_required(e) } else { e })
    })
}

/// A login refused in clear because the server accepts logins only over an
/// encrypted connection is not a wrong password: it gets its own error, so
/// a program asks for encryption, not for a new password. Told by SMTP's
/// 538 or enhanced code x.7.11 (RFC 4954, 5248), or by a POP3 refusal that
/// says so (Dovecot: "Plaintext authentication disallowed on non-secure
/// (SSL/TLS) connections"; RFC 3206 has no code for it).
fn encryption_required(e: Error) -> Error {
    let Error::AuthFailed(reply) = e else { return e };
    let text = reply.text.to_ascii_lowercase();
    let says_so = reply.code == Some(538)
        || reply.enhanced_code.as_deref().is_some_and(|c| c.ends_with(".7.11"))
        || [
            "non-secure",
            "plaintext authentication disallowed",
            "encryption required",
            "requires ssl",
            "requires tls",
            "must issue a starttls",
            "tls required",
        ]
        .iter()
        .any(|phrase| text.contains(phrase));
    if says_so { Error::EncryptionRequired(reply) } else { Error::AuthFailed(reply) }
}

/// Log in with an OAuth 2 bearer token (see [`Client::login_oauth2`]).
pub(crate) fn login_oauth2<C: Authenticate>(client: &mut C, user: &str, token: &str) -> Result<()> {
    client.run(|c| {
        check_can_authenticate(c, user, token)?;
        let candidates: Vec<Mechanism> = [Mechanism::OAuthBearer, Mechanism::XOAuth2]
            .into_iter()
            .filter(|m| c.session().opts.allows(*m) && c.offers(*m))
            .collect();
        first_that_works(c, &candidates, user, token, "OAUTHBEARER or XOAUTH2")
    })
}

fn check_can_authenticate<C: Client>(c: &C, user: &str, secret: &str) -> Result<()> {
    let session = c.session();
    session.ensure_open()?;
    if session.authenticated {
        return Err(Error::InvalidArgument("already logged in".into()));
    }
    session.opts.check_login(user, secret, session.conn.is_tls())
}

/// What each side has, for a login with nothing in common: the server's
/// methods (all it names), and the ones this client would use here.
fn no_common<C: Authenticate>(c: &C, wanted: &str) -> Error {
    let offered = c.offered();
    let server = if offered.is_empty() {
        "the server offers no login method on this connection".to_string()
    } else {
        format!("the server offers {}", offered.join(", "))
    };
    let session = c.session();
    let ours: Vec<&str> = Mechanism::password_preference(session.conn.server_verified())
        .into_iter()
        .chain([Mechanism::OAuthBearer, Mechanism::XOAuth2])
        .filter(|m| C::can_use(*m) && session.opts.allows(*m))
        .map(Mechanism::name)
        .collect();
    let client = if ours.is_empty() {
        "the program allows this client no login method".to_string()
    } else {
        format!("this client can use {}", ours.join(", "))
    };
    let known = || {
        Mechanism::PASSWORD_MECHANISMS
            .into_iter()
            .chain([Mechanism::OAuthBearer, Mechanism::XOAuth2])
            .filter(|m| C::can_use(*m) && c.offers(*m))
    };
    // A method asked for by name that the server lacks, while it has others.
    let usable: Vec<&str> = known().filter(|m| session.opts.allows(*m)).map(Mechanism::name).collect();
    let known_but_not_allowed: Vec<&str> = known().filter(|m| !session.opts.allows(*m)).map(Mechanism::name).collect();
    let remedy = if offered.is_empty() && !session.is_tls() {
        ": choose SSL/TLS or STARTTLS, since many servers offer logins only over an encrypted connection".into()
    } else if offered.is_empty() {
        ": the server takes no logins here; check the port with the provider".into()
    } else if !usable.is_empty() {
        format!(": ask for {} instead, or leave the choice to mailtls", usable.join(" or "))
    } else if !known_but_not_allowed.is_empty() {
        format!(": allow {} in the program's login settings", known_but_not_allowed.join(" or "))
    } else {
        ": ask the provider to enable a password login (PLAIN or LOGIN over TLS)".to_string()
    };
    Error::NoCommonMechanism(format!("wanted {wanted}; {server}, {client}{remedy}"))
}

/// Try each candidate in turn until one logs in. A mechanism the server
/// turns down as such makes it try the next; refused credentials end the
/// login at once (trying others would only send them again).
fn first_that_works<C: Authenticate>(
    c: &mut C,
    candidates: &[Mechanism],
    user: &str,
    secret: &str,
    wanted: &str,
) -> Result<()> {
    if candidates.is_empty() {
        return Err(no_common(c, wanted));
    }
    c.before_auth()?;
    let mut last_refusal = None;
    for &mechanism in candidates {
        c.session().tracer().info(format!("authenticating with {}", mechanism.name()));
        let attempt = if mechanism.is_sasl() {
            exchange(c, mechanism, user, secret)?
        } else {
            c.login_without_sasl(mechanism, user, secret)?;
            Attempt::Success
        };
        match attempt {
            Attempt::Success => {
                c.session_mut().authenticated = true;
                return Ok(());
            }
            Attempt::MechanismRefused(reply) => {
                c.session().tracer().info(format!("{} turned down; trying the next mechanism", mechanism.name()));
                last_refusal = Some(reply);
            }
        }
    }
    Err(Error::AuthFailed(last_refusal.expect("at least one candidate was tried")))
}

/// One SASL exchange. A refusal before any credential went out means the
/// server cannot serve the mechanism.
fn exchange<C: Authenticate>(c: &mut C, mechanism: Mechanism, user: &str, secret: &str) -> Result<Attempt> {
    let credentials = || Credentials { user, secret };
    let binding = scram_binding(c, mechanism);
    let mut sasl_client = SaslClient::with_binding(mechanism, credentials(), binding.clone())?;
    let initial = sasl_client.initial_response();
    let mut credentials_sent = c.send_auth(mechanism, initial.as_deref())?;
    if initial.is_some() && !credentials_sent {
        // Not carried by AUTH: answer the first challenge from the start.
        sasl_client = SaslClient::with_binding(mechanism, credentials(), binding)?;
    }
    loop {
        match c.read_step()? {
            Step::Success => {
                // SCRAM: only once the server proved it knows the password.
                sasl_client.finish()?;
                return Ok(Attempt::Success);
            }
            Step::Challenge(challenge) => {
                let response = sasl_client.respond(&challenge)?;
                c.session_mut().conn.send_command(sasl::encode(&response).as_bytes(), Some(0))?;
                credentials_sent = true;
            }
            Step::Refused { reply, meaning }
                if meaning == Refusal::OfMechanism
                    || (meaning == Refusal::OfCredentialsIfSent && !credentials_sent) =>
            {
                return Ok(Attempt::MechanismRefused(reply));
            }
            Step::Refused { reply, .. } => {
                if let Some(e) = sasl_client.server_error() {
                    c.session().tracer().info(format!("the server reported the SCRAM error {e:?}"));
                }
                return Err(Error::AuthFailed(reply));
            }
        }
    }
}

/// What a SCRAM exchange tells the server about channel binding (RFC 5802
/// section 6): bound for -PLUS; otherwise whether this connection could
/// bind and whether the server offered the -PLUS variant, so that a server
/// that does bind detects a mechanism list stripped of -PLUS on the way.
fn scram_binding<C: Authenticate>(c: &C, mechanism: Mechanism) -> Binding {
    if !mechanism.is_scram() {
        return Binding::Unsupported;
    }
    match c.session().conn.channel_binding() {
        None => Binding::Unsupported,
        Some(cb) if mechanism.is_plus() => Binding::Bound(cb),
        Some(_) if mechanism.plus_variant().is_some_and(|plus| c.offers(plus)) => Binding::Declined,
        Some(_) => Binding::ServerDidNotOffer,
    }
}

/// The initial response as it goes on an AUTH command line (RFC 4954,
/// 5034): base64, or "=" for an empty one.
pub(crate) fn encode_initial(initial: &[u8]) -> String {
    if initial.is_empty() { "=".to_string() } else { sasl::encode(initial) }
}
