//! `mailtls`: check a mail account's server, list or fetch a POP3 mailbox,
//! send a message, all over verified TLS, with the mailtls library.

mod account;
mod args;
mod certificate;
mod commands;
mod connect;
mod exit;
mod progress;
mod sync_progress;

use std::process::ExitCode;

use clap::Parser;
use mailtls::ClientOptions;

use account::Account;
use args::{Cli, Command};
use exit::{Exit, Failure};

fn main() -> ExitCode {
    // clap prints help and usage errors itself and exits 0 or 2.
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::from(Exit::Ok as u8),
        Err(failure) => {
            eprintln!("mailtls: {}", failure.message);
            ExitCode::from(failure.exit as u8)
        }
    }
}

fn run(cli: &Cli) -> Result<(), Failure> {
    // Every command but the probe works on one account, given as a URL.
    let account = |url: &str| -> Result<(Account, ClientOptions), Failure> {
        let account = Account::parse(url)?;
        let opts = connect::options(&cli.connection, &account)?;
        Ok((account, opts))
    };
    match &cli.command {
        Command::Check { url } => {
            let (account, opts) = account(url)?;
            commands::check::run(&account, &opts)
        }
        Command::List { url } => {
            let (account, opts) = account(url)?;
            commands::list::run(&account, &opts)
        }
        Command::Fetch { url, maildir, state, delete, keep_days, max_size, mark_seen } => {
            let (account, opts) = account(url)?;
            let request = commands::fetch::Request {
                maildir,
                state: state.as_deref(),
                delete: *delete,
                keep_days: *keep_days,
                max_size: *max_size,
                mark_seen: *mark_seen,
            };
            commands::fetch::run(&account, &opts, &request)
        }
        Command::Send { url, from, to, message } => {
            let (account, opts) = account(url)?;
            commands::send::run(&account, &opts, &commands::send::Envelope { from, to }, message)
        }
        Command::Probe { host, user, protocols, ports } => {
            let request = commands::probe::Request { host, user: user.as_deref(), protocols, ports };
            commands::probe::run(&cli.connection, &request)
        }
    }
}
