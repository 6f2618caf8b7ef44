//! The command line, as clap derives it from these types.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use mailtls::Security;
use mailtls::probe::{Endpoint, Protocol};

use crate::exit::EXIT_CODES_HELP;

const AFTER_HELP: &str = "\
URLs:
  pop3s://USER@HOST[:PORT]   POP3 over TLS (port 995)
  pop3://USER@HOST[:PORT]    POP3 upgraded with STLS (port 110)
  smtps://USER@HOST[:PORT]   SMTP submission over TLS (port 465)
  smtp://USER@HOST[:PORT]    SMTP submission upgraded with STARTTLS (port 587)
  A user name with '@' in it is written with %40 or as is (the last '@' ends it).

The password comes from MAILTLS_PASSWORD, or else from a prompt on the
terminal (no echo); never from the command line: a password in the URL is
refused.
";

#[derive(Debug, Parser)]
#[command(
    name = "mailtls",
    version,
    about = "Check a mail account's server, list or fetch a POP3 mailbox, send a message: over verified TLS",
    after_help = format!("{AFTER_HELP}\n{EXIT_CODES_HELP}"),
)]
pub struct Cli {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Connect and show TLS version, cipher, certificate, capabilities and whether login works.
    Check {
        /// pop3s://, pop3://, smtps:// or smtp:// URL; with a user, the login is tried too.
        url: String,
    },
    /// Show the number of messages and their sizes and unique ids (POP3).
    List {
        /// pop3s:// or pop3:// URL with the user.
        url: String,
    },
    /// Download what is new in a POP3 mailbox into a Maildir, remembering what was saved.
    #[command(after_help = FETCH_HELP)]
    Fetch {
        /// pop3s:// or pop3:// URL with the user.
        url: String,
        /// The Maildir to save into (tmp/, new/, cur/ created if missing).
        #[arg(long, value_name = "DIR")]
        maildir: PathBuf,
        /// The account's sync state [default: DIR/.mailtls-sync-USER@HOST-PORT].
        #[arg(long, value_name = "FILE")]
        state: Option<PathBuf>,
        /// Delete each message on the server once it is safely saved.
        #[arg(long, conflicts_with = "keep_days")]
        delete: bool,
        /// Delete a saved message on the server N days after it was first downloaded.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(0..=36500))]
        keep_days: Option<u64>,
        /// Leave messages larger than this on the server (listed, never deleted).
        #[arg(long, value_name = "BYTES")]
        max_size: Option<u64>,
        /// Record every message now on the server as already saved; download nothing.
        #[arg(long)]
        mark_seen: bool,
    },
    /// Send a message, showing each recipient's result.
    Send {
        /// smtps:// or smtp:// URL, with the user to log in as.
        url: String,
        /// The envelope sender (MAIL FROM).
        #[arg(long, value_name = "ADDRESS")]
        from: String,
        /// The recipients (RCPT TO): repeat --to, or separate with commas.
        #[arg(long, value_name = "ADDRESS", required = true, value_delimiter = ',')]
        to: Vec<String>,
        /// The message (RFC 5322, headers and body) from this file, or '-' for standard input.
        #[arg(value_name = "FILE|-")]
        message: PathBuf,
    },
    /// Try a host's standard POP3 and SMTP ports and security modes at once and show what works.
    #[command(after_help = PROBE_HELP)]
    Probe {
        /// The server's host name or address.
        host: String,
        /// Log in as this user where the connection is verified (the password as for the other commands).
        #[arg(long, value_name = "USER")]
        user: Option<String>,
        /// Only this protocol (repeat for both) [default: both].
        #[arg(long = "protocol", value_enum, value_name = "PROTOCOL")]
        protocols: Vec<ProtocolArg>,
        /// Try exactly this instead of the standard ports, e.g. pop3:995:tls (repeat, in order of preference).
        #[arg(long = "port", value_name = "PROTOCOL:PORT:SECURITY", value_parser = parse_endpoint)]
        ports: Vec<Endpoint>,
    },
}

const PROBE_HELP: &str = "\
The standard ports: POP3 995 (SSL/TLS) and 110 (STARTTLS); SMTP 465
(SSL/TLS), then 587, 26 and 25 (STARTTLS). All are tried at once; the
probe ends within about --timeout (default 5 s). A password is sent only
over TLS to a server whose certificate was verified (or matches --pin).
The recommended setting per protocol is the first that works in that
order (SSL/TLS before STARTTLS, RFC 8314). --security and --verbose do
not apply. Exit code 0 when every protocol has a working setting (and,
with --user, a login that succeeded), 4 when only the login failed, 3
otherwise.";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProtocolArg {
    Pop3,
    Smtp,
}

impl ProtocolArg {
    pub fn protocol(self) -> Protocol {
        match self {
            ProtocolArg::Pop3 => Protocol::Pop3,
            ProtocolArg::Smtp => Protocol::Smtp,
        }
    }
}

/// `pop3:995:tls`, `smtp:587:starttls`.
fn parse_endpoint(text: &str) -> Result<Endpoint, String> {
    let mut parts = text.split(':');
    let (Some(protocol), Some(port), Some(security), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("write PROTOCOL:PORT:SECURITY, e.g. pop3:995:tls or smtp:587:starttls".into());
    };
    let protocol = match protocol.to_ascii_lowercase().as_str() {
        "pop3" => Protocol::Pop3,
        "smtp" => Protocol::Smtp,
        other => return Err(format!("unknown protocol '{other}': pop3 or smtp")),
    };
    let port: u16 = port.parse().ok().filter(|&p| p != 0).ok_or_else(|| format!("'{port}' is not a port number"))?;
    let security = match security.to_ascii_lowercase().as_str() {
        "tls" => Security::Tls,
        "starttls" => Security::StartTls,
        other => return Err(format!("the probe tries only tls and starttls, not '{other}'")),
    };
    Ok(Endpoint { protocol, port, security })
}

const FETCH_HELP: &str = "\
Without --delete or --keep-days every message stays on the server: a
second fetch downloads only what is new. A message is deleted on the
server only once it is on disk and recorded in the state file; a Maildir
never gets a message twice. One state file per account; a second fetch of
the same account while one runs stops at once (exit code 1).";

#[derive(Debug, Args)]
pub struct ConnectionArgs {
    /// Trust the CA certificates in this PEM file too (besides the system's).
    #[arg(long, global = true, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Accept exactly the server certificate with this SHA-256 (hex, colons allowed) instead of checking its chain and names.
    #[arg(long, global = true, value_name = "SHA256")]
    pub pin: Option<String>,
    /// Override the URL's security: tls (from the first byte), starttls, or none (no encryption; no login then).
    #[arg(long, global = true, value_enum, value_name = "MODE")]
    pub security: Option<SecurityArg>,
    /// Seconds to wait for the connection and for each answer.
    #[arg(long, global = true, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: Option<u64>,
    /// Connect through this proxy: socks5h://, socks5:// (both: the proxy resolves the server's name), socks4a://, http:// or https://, with optional user:password@.
    #[arg(long, global = true, value_name = "URL")]
    pub proxy: Option<String>,
    /// With no --proxy: use the proxy ALL_PROXY names, except for NO_PROXY's hosts (as curl does).
    #[arg(long, global = true)]
    pub proxy_from_env: bool,
    /// Print the protocol trace to standard error, passwords and tokens redacted.
    #[arg(long, short, global = true)]
    pub verbose: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SecurityArg {
    Tls,
    Starttls,
    None,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn recipients_by_comma_or_repeated() {
        let cli =
            Cli::try_parse_from(["mailtls", "send", "smtp://u@h", "--from", "a", "--to", "b,c", "--to", "d", "-"])
                .unwrap();
        let Command::Send { to, .. } = cli.command else { panic!() };
        assert_eq!(to, ["b", "c", "d"]);
    }

    #[test]
    fn there_is_no_password_option() {
        assert!(Cli::try_parse_from(["mailtls", "--password", "x", "check", "pop3s://h"]).is_err());
    }

    #[test]
    fn fetch_needs_a_maildir_and_takes_one_deletion_policy() {
        assert!(Cli::try_parse_from(["mailtls", "fetch", "pop3s://u@h"]).is_err());
        let cli =
            Cli::try_parse_from(["mailtls", "fetch", "pop3s://u@h", "--maildir", "m", "--keep-days", "7"]).unwrap();
        let Command::Fetch { delete, keep_days, state, .. } = cli.command else { panic!() };
        assert_eq!((delete, keep_days, state), (false, Some(7), None));
        let both = ["mailtls", "fetch", "pop3s://u@h", "--maildir", "m", "--delete", "--keep-days", "7"];
        assert!(Cli::try_parse_from(both).is_err());
    }

    #[test]
    fn probe_ports_are_protocol_port_security() {
        let cli =
            Cli::try_parse_from(["mailtls", "probe", "h", "--port", "pop3:995:tls", "--port", "SMTP:587:StartTLS"])
                .unwrap();
        let Command::Probe { ports, .. } = cli.command else { panic!() };
        assert_eq!(
            ports,
            [
                Endpoint { protocol: Protocol::Pop3, port: 995, security: Security::Tls },
                Endpoint { protocol: Protocol::Smtp, port: 587, security: Security::StartTls },
            ]
        );
        for bad in ["pop3:995", "imap:993:tls", "pop3:0:tls", "pop3:995:none", "pop3:99999:tls", "a:1:tls:x"] {
            assert!(Cli::try_parse_from(["mailtls", "probe", "h", "--port", bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_help_documents_the_exit_codes() {
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("Exit codes:") && help.contains("4  authentication"), "{help}");
    }
}
