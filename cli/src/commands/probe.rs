//! `mailtls probe HOST`: which of the host's standard ports and security
//! modes work, what each offers, whether the login works, and the setting
//! to use per protocol.

use std::time::Duration;

use mailtls::probe::{Attempt, Endpoint, Login, Protocol};
use mailtls::{Certificate, ProbeOptions, ProbeReport, Security};

use crate::args::{ConnectionArgs, ProtocolArg};
use crate::certificate::utc_seconds;
use crate::connect::password_for;
use crate::exit::{Exit, Failure, hint};

pub struct Request<'a> {
    pub host: &'a str,
    pub user: Option<&'a str>,
    pub protocols: &'a [ProtocolArg],
    pub ports: &'a [Endpoint],
}

pub fn run(args: &ConnectionArgs, request: &Request<'_>) -> Result<(), Failure> {
    let mut options = ProbeOptions::default();
    if !request.protocols.is_empty() {
        options.protocols = request.protocols.iter().map(|p| p.protocol()).collect();
    }
    if !request.ports.is_empty() {
        options.endpoints = Some(request.ports.to_vec());
    }
    if let Some(seconds) = args.timeout {
        options.timeout = Duration::from_secs(seconds);
    }
    if let Some(path) = &args.ca_file {
        options.tls.add_ca_file(path)?;
    }
    if let Some(pin) = &args.pin {
        options.tls.set_pin_sha256_hex(pin)?;
    }
    options.proxy = match crate::connect::proxy(args)? {
        Some(proxy) => Some(proxy),
        None if args.proxy_from_env => mailtls::Proxy::from_environment(request.host)?,
        None => None,
    };
    // Asked before the probe starts, so no server waits on a person.
    let password = request.user.map(|user| password_for(&format!("{user} at {}", request.host))).transpose()?;
    let credentials = request.user.zip(password.as_deref());
    let report = mailtls::probe(request.host, credentials, &options)?;
    print!("{}", table(request.host, &report));
    verdict(&report, &probed(&report), credentials.is_some())
}

fn probed(report: &ProbeReport) -> Vec<Protocol> {
    let mut protocols: Vec<Protocol> = Vec::new();
    for a in &report.attempts {
        if !protocols.contains(&a.endpoint.protocol) {
            protocols.push(a.endpoint.protocol);
        }
    }
    protocols
}

fn security_name(security: Security) -> &'static str {
    if security == Security::Tls { "SSL/TLS" } else { "STARTTLS" }
}

/// The report as a person reads it: one line per combination (and the
/// reason under a failed one), the certificates seen, the recommendation.
fn table(host: &str, report: &ProbeReport) -> String {
    let mut out = format!("probe of {host}\n\n");
    for a in &report.attempts {
        let e = a.endpoint;
        let head = format!("{:<5} {:>5}  {:<8}  ", e.protocol.name(), e.port, security_name(e.security));
        match &a.error {
            None => {
                let version = a.tls_version.as_deref().unwrap_or("TLS");
                let methods = if a.mechanisms.is_empty() { "(none)".to_string() } else { a.mechanisms.join(" ") };
                out += &format!("{head}ok      {version:<8} login: {:<10} methods: {methods}\n", login_word(&a.login));
                if let Login::Failed(why) = &a.login {
                    out += &format!("{:23}{why}\n", "");
                }
            }
            Some(why) => out += &format!("{head}FAILED  {why}{}\n", hint(why)),
        }
    }
    let mut seen: Vec<&Certificate> = Vec::new();
    for cert in report.attempts.iter().filter_map(|a| a.certificate.as_ref()) {
        if !seen.iter().any(|c| c.sha256 == cert.sha256) {
            seen.push(cert);
        }
    }
    for cert in seen {
        out += &format!(
            "\ncertificate {}\n  subject: {}\n  issuer:  {}\n  names:   {}\n  valid:   {} to {}\n",
            cert.sha256_hex(),
            cert.subject,
            cert.issuer,
            if cert.names.is_empty() { "(none)".into() } else { cert.names.join(", ") },
            utc_seconds(cert.not_before),
            utc_seconds(cert.not_after),
        );
    }
    out += "\nrecommended:\n";
    for protocol in probed(report) {
        out += &match report.recommended(protocol) {
            Some(a) => {
                format!("  {:<5} port {}, {}\n", protocol.name(), a.endpoint.port, security_name(a.endpoint.security))
            }
            None => format!("  {:<5} nothing works: see the reasons above\n", protocol.name()),
        };
    }
    out
}

fn login_word(login: &Login) -> &'static str {
    match login {
        Login::NotAsked => "not asked",
        Login::NotTried => "not tried",
        Login::Succeeded => "ok",
        Login::Failed(_) => "FAILED",
    }
}

/// Exit 0 when every protocol probed has a working setting (with a
/// successful login when a user was given), 4 when only logins failed, 3
/// when some protocol has nothing that works.
fn verdict(report: &ProbeReport, protocols: &[Protocol], with_login: bool) -> Result<(), Failure> {
    let names = |pick: &dyn Fn(Option<&Attempt>) -> bool| -> Vec<&str> {
        protocols.iter().filter(|&&p| pick(report.recommended(p))).map(|p| p.name()).collect()
    };
    let broken = names(&|chosen| chosen.is_none());
    if !broken.is_empty() {
        let message = format!("nothing works for {}: see the reasons above", broken.join(" and "));
        return Err(Failure { exit: Exit::Connection, message });
    }
    let refused = names(&|chosen| chosen.is_some_and(|a| !matches!(a.login, Login::Succeeded)));
    if with_login && !refused.is_empty() {
        let message = format!("the {} server is reachable, but the login failed: see above", refused.join(" and "));
        return Err(Failure { exit: Exit::Authentication, message });
    }
    Ok(())
}
