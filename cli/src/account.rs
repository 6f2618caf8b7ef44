//! The account a command works on, from a URL: `pop3s://user@host[:port]`,
//! `pop3://` (STLS), `smtp://` (submission, STARTTLS) or `smtps://`.
//!
//! A password in the URL is refused: it would sit in the shell's history
//! and in every process listing.

use mailtls::Security;

use crate::exit::Failure;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Pop3,
    Smtp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub protocol: Protocol,
    /// What the scheme says: TLS from the first byte, or STARTTLS.
    pub security: Security,
    /// The user name, percent-decoded (`user%40example.org`).
    pub user: Option<String>,
    pub host: String,
    pub port: u16,
}

impl Account {
    pub fn parse(url: &str) -> Result<Account, Failure> {
        let (scheme, rest) = url.split_once("://").ok_or_else(|| usage("it has no scheme"))?;
        let (protocol, security, default_port) = match scheme.to_ascii_lowercase().as_str() {
            "pop3s" => (Protocol::Pop3, Security::Tls, 995),
            "pop3" => (Protocol::Pop3, Security::StartTls, 110),
            "smtp" => (Protocol::Smtp, Security::StartTls, 587),
            "smtps" => (Protocol::Smtp, Security::Tls, 465),
            other => return Err(usage(&format!("the scheme {other:?} is not one of pop3s, pop3, smtps, smtp"))),
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains(['/', '?', '#']) {
            return Err(usage("only scheme://user@host:port is understood, without a path or query"));
        }
        let (user, host_port) = match authority.rsplit_once('@') {
            Some((userinfo, host_port)) => (Some(user_name(userinfo)?), host_port),
            None => (None, authority),
        };
        let (host, port) = host_and_port(host_port)?;
        Ok(Account { protocol, security, user, host, port: port.unwrap_or(default_port) })
    }

    /// `user@host:port`, for messages and the prompt.
    pub fn display(&self) -> String {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        match &self.user {
            Some(user) => format!("{user}@{host}:{}", self.port),
            None => format!("{host}:{}", self.port),
        }
    }
}

fn usage(why: &str) -> Failure {
    Failure::usage(format!("the URL is not understood: {why} (example: pop3s://alice@mail.example.org)"))
}

fn user_name(userinfo: &str) -> Result<String, Failure> {
    if userinfo.contains(':') {
        // Not a word of the URL in the message: it holds the password.
        return Err(Failure::usage(
            "the URL contains a password, which mailtls never takes from the command line \
             (it would stay in the shell history and process list): leave it out and set \
             MAILTLS_PASSWORD, or let mailtls ask for it on the terminal",
        ));
    }
    let user = percent_decode(userinfo).ok_or_else(|| usage("the user name has a bad %-escape"))?;
    if user.is_empty() {
        return Err(usage("the user name before '@' is empty"));
    }
    Ok(user)
}

fn host_and_port(text: &str) -> Result<(String, Option<u16>), Failure> {
    let (host, port) = if let Some(bracketed) = text.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']').ok_or_else(|| usage("an IPv6 address lacks its ']'"))?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':').ok_or_else(|| usage("junk after the IPv6 address"))?)),
        }
    } else {
        match text.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    if host.is_empty() {
        return Err(usage("the host name is empty"));
    }
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => Some(n),
            _ => return Err(usage(&format!("the port {p:?} is not a number from 1 to 65535"))),
        },
    };
    Ok((host.to_string(), port))
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::Exit;

    fn parse(url: &str) -> Account {
        Account::parse(url).unwrap_or_else(|f| panic!("{url}: {}", f.message))
    }

    #[test]
    fn schemes_give_protocol_security_and_default_port() {
        let a = parse("pop3s://alice@mail.example.org");
        assert_eq!(
            (a.protocol, a.security, a.user.as_deref(), a.host.as_str(), a.port),
            (Protocol::Pop3, Security::Tls, Some("alice"), "mail.example.org", 995)
        );
        assert_eq!((parse("pop3://h").security, parse("pop3://h").port), (Security::StartTls, 110));
        assert_eq!((parse("smtp://h").protocol, parse("smtp://h").port), (Protocol::Smtp, 587));
        assert_eq!((parse("SMTPS://h/").security, parse("smtps://h").port), (Security::Tls, 465));
        assert_eq!(parse("smtp://h:2525").port, 2525);
    }

    #[test]
    fn user_names_are_decoded_and_the_last_at_sign_ends_them() {
        assert_eq!(parse("pop3s://a%40example.org@h").user.as_deref(), Some("a@example.org"));
        assert_eq!(parse("pop3s://a@example.org@h:1").user.as_deref(), Some("a@example.org"));
        assert_eq!(parse("pop3s://h").user, None);
    }

    #[test]
    fn ipv6_hosts_in_brackets() {
        let a = parse("pop3s://u@[::1]:9995");
        assert_eq!((a.host.as_str(), a.port), ("::1", 9995));
        assert_eq!(a.display(), "u@[::1]:9995");
        assert_eq!(parse("pop3s://[::1]").port, 995);
    }

    #[test]
    fn a_password_in_the_url_is_refused_without_repeating_it() {
        let failure = Account::parse("pop3s://alice:s3cret@h").unwrap_err();
        assert_eq!(failure.exit, Exit::Usage);
        assert!(failure.message.contains("password"), "{}", failure.message);
        assert!(!failure.message.contains("s3cret"), "{}", failure.message);
    }

    #[test]
    fn malformed_urls_are_usage_errors() {
        for url in [
            "mail.example.org",
            "imap://h",
            "pop3s://h:0",
            "pop3s://h:x",
            "pop3s://@h",
            "pop3s://h/INBOX",
            "pop3s://[::1",
        ] {
            assert_eq!(Account::parse(url).unwrap_err().exit, Exit::Usage, "{url}");
        }
    }
}
