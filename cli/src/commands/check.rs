//! `mailtls check URL`: what the server is, how the connection is secured,
//! what it offers, and whether the login works.

use mailtls::pop3::Pop3Client;
use mailtls::smtp::SmtpClient;
use mailtls::transport::TlsInfo;
use mailtls::{Client, ClientOptions, Security};

use crate::account::{Account, Protocol};
use crate::certificate;
use crate::connect::{connect, password};
use crate::exit::Failure;

pub fn run(account: &Account, opts: &ClientOptions) -> Result<(), Failure> {
    // Asked before connecting, so the server does not wait on a person.
    let password = account.user.as_ref().map(|_| password(account)).transpose()?;
    match account.protocol {
        Protocol::Pop3 => {
            let mut client: Pop3Client = connect(account, opts)?;
            show_server(account, opts, &client, client.greeting());
            let login = try_login(account, password.as_deref(), |user, pw| client.login(user, pw, None));
            finish(login, client)
        }
        Protocol::Smtp => {
            let mut client: SmtpClient = connect(account, opts)?;
            let greeting = client.greeting().to_server_reply().text;
            show_server(account, opts, &client, &greeting);
            let login = try_login(account, password.as_deref(), |user, pw| client.login(user, pw, None));
            finish(login, client)
        }
    }
}

fn show_server(account: &Account, opts: &ClientOptions, client: &impl Client, greeting: &str) {
    let (protocol, offers) = match account.protocol {
        Protocol::Pop3 => ("POP3", "capabilities (CAPA):"),
        Protocol::Smtp => ("SMTP submission", "extensions (EHLO):"),
    };
    let security = match opts.security {
        Security::Tls => "TLS from the first byte",
        Security::StartTls => "upgraded with STARTTLS",
        Security::None | Security::Auto => "not encrypted",
    };
    println!("server:       {} ({protocol}, {security})", account.display());
    println!("greeting:     {greeting}");
    match client.tls_info() {
        Some(info) => show_tls(info, opts),
        None => println!("TLS:          none: the connection is not encrypted"),
    }
    println!("{offers}");
    for (name, args) in client.capability_set().iter() {
        println!("  {name}{}{}", if args.is_empty() { "" } else { " " }, args.join(" "));
    }
}

fn show_tls(info: &TlsInfo, opts: &ClientOptions) {
    let known = |v: Option<&str>| v.unwrap_or("unknown").to_string();
    println!("TLS:          {}, cipher {}", known(info.version), known(info.cipher));
    let trust = if opts.tls.pin_sha256.is_some() {
        "pinned: the certificate is the one --pin names (chain and names not checked)"
    } else {
        "verified: a trusted chain, for this host name"
    };
    println!("trust:        {trust}");
    println!("certificate:");
    match info.peer_certificate_der.as_deref().map(certificate::describe) {
        Some(Ok(cert)) => {
            println!("  subject:    {}", cert.subject);
            println!("  issuer:     {}", cert.issuer);
            println!("  names:      {}", if cert.names.is_empty() { "(none)".into() } else { cert.names.join(", ") });
            println!("  valid:      {} to {} ({})", cert.not_before, cert.not_after, cert.validity);
        }
        Some(Err(e)) => println!("  {e}"),
        None => println!("  (the TLS library did not give it)"),
    }
    if let Some(digest) = &info.peer_sha256 {
        println!("  SHA-256:    {}", mailtls::fingerprint::sha256_hex(digest));
    }
}

/// Log in if a user was given, and say how it went.
fn try_login(
    account: &Account,
    password: Option<&str>,
    login: impl FnOnce(&str, &str) -> mailtls::Result<()>,
) -> Result<(), Failure> {
    let (Some(user), Some(password)) = (&account.user, password) else {
        println!("login:        not tried (no user in the URL)");
        return Ok(());
    };
    match login(user, password) {
        Ok(()) => {
            println!("login:        ok, as {user}");
            Ok(())
        }
        Err(e) => {
            println!("login:        FAILED, as {user}");
            Err(e.into())
        }
    }
}

/// Say goodbye (if the connection is still up); a failed login is the
/// result even so.
fn finish(login: Result<(), Failure>, mut client: impl Client) -> Result<(), Failure> {
    let quit = if client.is_open() { client.quit() } else { Ok(()) };
    login?;
    Ok(quit?)
}
