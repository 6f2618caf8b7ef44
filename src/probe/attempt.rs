//! One combination of the probe, on a thread of its own: connect as the
//! endpoint says, note what the server offers, log in if credentials were
//! given and the certificate was verified, and say goodbye.

use std::time::Duration;

use super::{Attempt, Endpoint, Login, Protocol};
use crate::certificate::Certificate;
use crate::error::Error;
use crate::options::{ClientOptions, Proxy, TlsOptions};
use crate::pop3::Pop3Client;
use crate::session::Client;
use crate::session::auth::Authenticate;
use crate::smtp::SmtpClient;
use crate::transport::seconds;

pub(super) struct Job {
    pub host: String,
    pub endpoint: Endpoint,
    pub credentials: Option<(String, String)>,
    pub timeout: Duration,
    pub tls: TlsOptions,
    pub proxy: Option<Proxy>,
}

impl Job {
    pub fn run(self) -> Attempt {
        match self.endpoint.protocol {
            Protocol::Pop3 => self.run_as::<Pop3Client>(),
            Protocol::Smtp => self.run_as::<SmtpClient>(),
        }
    }

    fn options(&self) -> ClientOptions {
        let mut tls = self.tls.clone();
        // What verification says is what the probe reports.
        tls.danger_accept_invalid_certs = false;
        ClientOptions {
            security: self.endpoint.security,
            tls,
            connect_timeout: self.timeout,
            io_timeout: self.timeout,
            proxy: self.proxy.clone(),
            ..ClientOptions::default()
        }
    }

    fn run_as<C: Client + Authenticate>(self) -> Attempt {
        let mut attempt = Attempt {
            endpoint: self.endpoint,
            error: None,
            tls_version: None,
            certificate: None,
            mechanisms: Vec::new(),
            login: if self.credentials.is_some() { Login::NotTried } else { Login::NotAsked },
        };
        let mut client = match C::connect(&self.host, self.endpoint.port, &self.options()) {
            Ok(client) => client,
            Err(e) => {
                attempt.certificate = refused_certificate(&e);
                attempt.error = Some(e);
                return attempt;
            }
        };
        if let Some(info) = client.tls_info() {
            attempt.tls_version = info.version.map(str::to_string);
            attempt.certificate = info.peer_certificate_der.as_deref().and_then(Certificate::from_der);
        }
        attempt.mechanisms = client.offered();
        // Only over TLS with a verified (or pinned) certificate: the
        // options above allow nothing else, and this says so where the
        // password is sent.
        let verified = client.is_tls() && client.session().conn.server_verified();
        if let (Some((user, password)), true) = (&self.credentials, verified) {
            attempt.login = match client.login(user, password, None) {
                Ok(()) => Login::Succeeded,
                Err(e) => Login::Failed(e),
            };
        }
        // The goodbye's answer changes nothing in the report.
        let _ = client.quit();
        attempt
    }
}

/// The certificate a failed verification (or pin) refused, when known.
fn refused_certificate(e: &Error) -> Option<Certificate> {
    match e {
        Error::Certificate(failure) => failure.certificate.clone(),
        Error::CertificatePinMismatch { certificate, .. } => certificate.as_deref().cloned(),
        _ => None,
    }
}

/// The report of a combination that had not finished at the probe's
/// deadline.
pub(super) fn unanswered(host: &str, endpoint: Endpoint, timeout: Duration, with_credentials: bool) -> Attempt {
    let message = format!(
        "{host}:{} did not finish answering within the probe's {}: a wrong port, a firewall, or a slow server",
        endpoint.port,
        seconds(timeout)
    );
    Attempt {
        endpoint,
        error: Some(Error::Timeout(message)),
        tls_version: None,
        certificate: None,
        mechanisms: Vec::new(),
        login: if with_credentials { Login::NotTried } else { Login::NotAsked },
    }
}
