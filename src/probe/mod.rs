//! The account probe: which of a provider's standard ports and security
//! modes work for a host, tried in parallel, with what each one offers
//! (TLS version, certificate, login methods), whether a login succeeds,
//! and the setting to recommend per protocol (implicit TLS before
//! STARTTLS, RFC 8314 §3).
//!
//! A password goes only to a connection that is encrypted and whose
//! certificate was verified (or pinned by the caller): the probe has no
//! certificate callback and no switch that sends one in clear.

mod attempt;
mod plan;

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::certificate::Certificate;
use crate::error::{Error, Result};
use crate::options::{Proxy, Security, TlsOptions};

pub use plan::{check_endpoints, standard_endpoints};

/// The mail protocols the probe knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Pop3,
    Smtp,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Pop3 => "POP3",
            Protocol::Smtp => "SMTP",
        }
    }
}

/// One combination to try: a protocol on a port, secured one way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    pub protocol: Protocol,
    pub port: u16,
    /// [`Security::Tls`] or [`Security::StartTls`] (the probe never tries
    /// an unencrypted session).
    pub security: Security,
}

/// What to probe and how.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    /// The protocols whose standard endpoints are tried (ignored when
    /// `endpoints` is set).
    pub protocols: Vec<Protocol>,
    /// Exactly these combinations instead of the standard ones, tried in
    /// this order of preference.
    pub endpoints: Option<Vec<Endpoint>>,
    /// How long the whole probe may take; each combination's connect and
    /// each of its reads are bounded by it as well.
    pub timeout: Duration,
    /// Trusted roots, pin and minimum version, as for any session. The
    /// danger switch is ignored: the probe reports what verification says.
    pub tls: TlsOptions,
    /// Try every combination through this proxy (see
    /// [`ClientOptions::proxy`](crate::ClientOptions::proxy)).
    pub proxy: Option<Proxy>,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        ProbeOptions {
            protocols: vec![Protocol::Pop3, Protocol::Smtp],
            endpoints: None,
            timeout: Duration::from_secs(5),
            tls: TlsOptions::default(),
            proxy: None,
        }
    }
}

/// How the login went on one combination.
#[derive(Debug)]
pub enum Login {
    /// No credentials were given.
    NotAsked,
    /// Not tried: the connection failed, so no password was sent.
    NotTried,
    Succeeded,
    /// Refused, or failed; the error says why and what to change.
    Failed(Error),
}

/// The outcome of one combination.
#[derive(Debug)]
pub struct Attempt {
    pub endpoint: Endpoint,
    /// Why the combination does not work; `None`: it connected, TLS is up
    /// and the certificate was verified (or pinned).
    pub error: Option<Error>,
    /// The TLS version agreed, e.g. `TLSv1.3`.
    pub tls_version: Option<String>,
    /// The server's certificate: the one of the session, or the one a
    /// failed verification refused.
    pub certificate: Option<Certificate>,
    /// The login methods the server offers over the encrypted connection
    /// (SASL names, and for POP3 USER and APOP).
    pub mechanisms: Vec<String>,
    pub login: Login,
}

impl Attempt {
    /// The combination connected with a verified certificate.
    pub fn works(&self) -> bool {
        self.error.is_none()
    }
}

/// Every combination's outcome, in the order of preference, and the one to
/// recommend per protocol.
#[derive(Debug)]
pub struct ProbeReport {
    pub attempts: Vec<Attempt>,
}

impl ProbeReport {
    /// The setting to use for `protocol`: the first combination in order of
    /// preference whose login succeeded, else (no credentials, or refused
    /// everywhere) the first that works. `None`: nothing works.
    pub fn recommended(&self, protocol: Protocol) -> Option<&Attempt> {
        let of_protocol = || self.attempts.iter().filter(move |a| a.endpoint.protocol == protocol);
        of_protocol().find(|a| matches!(a.login, Login::Succeeded)).or_else(|| of_protocol().find(|a| a.works()))
    }
}

/// Try every combination `options` names on `host` at once, logging in
/// with `credentials` (user, password) where the connection is verified,
/// and return within about `options.timeout`. A combination still running
/// then is reported as timed out (its thread ends on its own timeouts).
pub fn probe(host: &str, credentials: Option<(&str, &str)>, options: &ProbeOptions) -> Result<ProbeReport> {
    crate::transport::validate_host(host)?;
    if options.timeout.is_zero() {
        return Err(Error::InvalidArgument("the probe's timeout must be more than zero".into()));
    }
    let endpoints = match &options.endpoints {
        Some(list) => check_endpoints(list)?,
        None => plan::standard_endpoints(&options.protocols),
    };
    let credentials = credentials.map(|(user, password)| (user.to_string(), password.to_string()));
    let (sender, receiver) = mpsc::channel();
    for (index, endpoint) in endpoints.iter().copied().enumerate() {
        let job = attempt::Job {
            host: host.to_string(),
            endpoint,
            credentials: credentials.clone(),
            timeout: options.timeout,
            tls: options.tls.clone(),
            proxy: options.proxy.clone(),
        };
        let sender = sender.clone();
        let spawned = thread::Builder::new().name("mailtls-probe".into()).spawn(move || {
            // The receiver may be gone (the probe returned at its deadline).
            let _ = sender.send((index, job.run()));
        });
        if let Err(e) = spawned {
            return Err(Error::from_io(e, "starting the probe's threads"));
        }
    }
    drop(sender);
    let mut outcomes: Vec<Option<Attempt>> = endpoints.iter().map(|_| None).collect();
    // A little slack over the timeout: an attempt that hits its own
    // timeout reports it in its own words.
    let deadline = Instant::now() + options.timeout + Duration::from_millis(500);
    while outcomes.iter().any(Option::is_none) {
        let left = deadline.saturating_duration_since(Instant::now());
        match receiver.recv_timeout(left) {
            Ok((index, outcome)) => outcomes[index] = Some(outcome),
            Err(_) => break,
        }
    }
    let attempts = outcomes
        .into_iter()
        .zip(&endpoints)
        .map(|(outcome, endpoint)| {
            outcome.unwrap_or_else(|| attempt::unanswered(host, *endpoint, options.timeout, credentials.is_some()))
        })
        .collect();
    Ok(ProbeReport { attempts })
}
