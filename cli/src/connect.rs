//! From the command line to a connected client: the library's options
//! (trust, pin, security, timeouts, the trace) and the password.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use mailtls::trace::{TraceKind, Tracer};
use mailtls::{Client, ClientOptions, Proxy, Security};

use crate::account::Account;
use crate::args::{ConnectionArgs, SecurityArg};
use crate::exit::Failure;

/// The variable the password is read from.
pub const PASSWORD_VARIABLE: &str = "MAILTLS_PASSWORD";

pub fn options(args: &ConnectionArgs, account: &Account) -> Result<ClientOptions, Failure> {
    let mut opts = ClientOptions {
        security: match args.security {
            None => account.security,
            Some(SecurityArg::Tls) => Security::Tls,
            Some(SecurityArg::Starttls) => Security::StartTls,
            Some(SecurityArg::None) => Security::None,
        },
        ..ClientOptions::default()
    };
    if let Some(path) = &args.ca_file {
        opts.tls.add_ca_file(path)?;
    }
    if let Some(pin) = &args.pin {
        opts.tls.set_pin_sha256_hex(pin)?;
    }
    if let Some(seconds) = args.timeout {
        opts.connect_timeout = Duration::from_secs(seconds);
        opts.io_timeout = Duration::from_secs(seconds);
    }
    opts.proxy = proxy(args)?;
    opts.proxy_from_environment = args.proxy_from_env;
    if args.verbose {
        opts.tracer = stderr_tracer();
    }
    Ok(opts)
}

/// The proxy of --proxy, or of the environment with --proxy-from-env.
pub fn proxy(args: &ConnectionArgs) -> Result<Option<Proxy>, Failure> {
    Ok(match &args.proxy {
        Some(url) => Some(Proxy::parse(url)?),
        None => None,
    })
}

/// The library's trace on standard error: `C:` what was sent, `S:` what
/// the server answered, `*` the library's notes. The library has already
/// replaced every secret with `<redacted>`.
fn stderr_tracer() -> Tracer {
    Tracer::new(Arc::new(|kind, data| {
        let mark = match kind {
            TraceKind::Command => "C:",
            TraceKind::Reply => "S:",
            TraceKind::Info => "*",
        };
        eprintln!("{mark} {}", String::from_utf8_lossy(data));
    }))
}

pub fn connect<C: Client>(account: &Account, opts: &ClientOptions) -> Result<C, Failure> {
    C::connect(&account.host, account.port, opts).map_err(Failure::from)
}

/// The password: from MAILTLS_PASSWORD, else asked on the terminal
/// without echo. Never from the command line.
pub fn password(account: &Account) -> Result<String, Failure> {
    password_for(&account.display())
}

/// As [`password`], the prompt naming `who`.
pub fn password_for(who: &str) -> Result<String, Failure> {
    if let Some(password) = std::env::var_os(PASSWORD_VARIABLE).filter(|p| !p.is_empty()) {
        return password.into_string().map_err(|_| Failure::usage(format!("{PASSWORD_VARIABLE} is not valid UTF-8")));
    }
    // The prompt goes to the terminal; without one nobody could answer it.
    if !std::io::stderr().is_terminal() {
        return Err(Failure::usage(format!(
            "no password: set {PASSWORD_VARIABLE}, or run mailtls on a terminal to be asked for it"
        )));
    }
    rpassword::prompt_password(format!("Password for {who}: "))
        .map_err(|e| Failure::usage(format!("cannot read the password from the terminal: {e}")))
}
