//! What an SMTP refusal means for the person sending: whether trying again
//! later can help, and what to change. Read from the reply codes (RFC 5321
//! section 4.2.1, RFC 3463's enhanced codes) and from what the session
//! knows (encrypted? logged in?); the server's words decide only one case,
//! the relay refusal, where servers agree on no code of their own.

use crate::reply::Reply;

/// What the session was when the server refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Context {
    pub encrypted: bool,
    pub logged_in: bool,
}

impl Context {
    /// Before the session is set up (greeting, EHLO): nothing to log in to
    /// yet, so no advice about logging in.
    pub(crate) const SETTING_UP: Context = Context { encrypted: true, logged_in: true };
}

/// Which command the server refused, where the advice depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Command {
    /// RCPT TO: a refusal is about one recipient.
    Recipient,
    /// Any other command.
    Other,
}

/// The advice for a refusal, or `None` when there is nothing to say (a
/// positive reply).
pub(crate) fn advice(reply: &Reply, command: Command, context: Context) -> Option<&'static str> {
    let code = reply.code;
    if code < 400 {
        return None;
    }
    let enhanced = reply.enhanced_code.as_deref().unwrap_or("");
    let class = |prefix: &str| enhanced.starts_with(prefix);
    // 530 is RFC 4954's "authentication required" (also sent for "STARTTLS
    // first"); Microsoft 365 adds 5.7.57 "client not authenticated".
    let wants_login = code == 530 || enhanced == "5.7.57";
    if wants_login && !context.logged_in {
        return Some(if context.encrypted {
            "the server accepts mail only from a logged-in user: log in with the account's user name and \
             password before sending"
        } else {
            "the server accepts mail only from a logged-in user over an encrypted connection: choose STARTTLS \
             or SSL/TLS and log in with the account's user name and password"
        });
    }
    if command == Command::Recipient && !context.logged_in && is_relay_refusal(reply) {
        return Some(
            "the server passes mail on to other domains only for a logged-in user: log in with the account's \
             user name and password before sending",
        );
    }
    if code < 500 || class("4.") {
        return Some("a temporary refusal: trying again later can help");
    }
    Some(match enhanced {
        "5.2.2" => "the recipient's mailbox is full: trying again much later may help, or reach them another way",
        "5.3.4" | "5.2.3" => "the message is too large for the server: send it smaller (fewer or smaller attachments)",
        "5.1.1" => "the recipient's address does not exist: check it; trying again will not help",
        _ if class("5.1.") => {
            "an address was not accepted (wrong, unknown, or not allowed for this account): \
                                check it; trying again as it is will not help"
        }
        _ if class("5.7.") && !context.logged_in => {
            "refused for security or policy reasons; the program did not log in, so first: log in with the \
             account's user name and password before sending"
        }
        _ if class("5.7.") => {
            "refused for security or policy reasons (a sender address this account may not use, or mail \
             judged as spam): trying again will not help; check the sender address, or ask the provider"
        }
        _ => "a permanent refusal: trying again as it is will not help",
    })
}

/// A refusal to pass mail on to another domain. Postfix: "554 5.7.1
/// <x@y>: Relay access denied"; Exim: "550 relay not permitted"; Sendmail:
/// "550 5.7.1 ... Relaying denied". 5.7.1 alone also means "policy", so the
/// words decide.
fn is_relay_refusal(reply: &Reply) -> bool {
    reply.code >= 500 && reply.lines.iter().any(|line| line.to_ascii_lowercase().contains("relay"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(code: u16, enhanced: Option<&str>, text: &str) -> Reply {
        Reply { code, enhanced_code: enhanced.map(str::to_string), lines: vec![text.to_string()] }
    }

    const ANON_PLAIN: Context = Context { encrypted: false, logged_in: false };
    const ANON_TLS: Context = Context { encrypted: true, logged_in: false };
    const LOGGED_IN: Context = Context { encrypted: true, logged_in: true };

    fn say(r: &Reply, command: Command, context: Context) -> &'static str {
        advice(r, command, context).unwrap_or("")
    }

    #[test]
    fn a_530_asks_for_a_login_and_in_clear_for_encryption_too() {
        let starttls_first = reply(530, Some("5.7.0"), "Must issue a STARTTLS command first");
        assert!(say(&starttls_first, Command::Other, ANON_PLAIN).contains("choose STARTTLS or SSL/TLS and log in"));
        let auth = reply(530, Some("5.7.0"), "Authentication required");
        assert!(
            say(&auth, Command::Other, ANON_TLS).starts_with("the server accepts mail only from a logged-in user:")
        );
        assert!(
            say(&reply(550, Some("5.7.57"), "Client not authenticated"), Command::Other, ANON_TLS).contains("log in")
        );
    }

    #[test]
    fn a_relay_refusal_asks_for_a_login_only_when_not_logged_in() {
        let relay = reply(554, Some("5.7.1"), "<x@example.com>: Relay access denied");
        assert!(say(&relay, Command::Recipient, ANON_TLS).contains("only for a logged-in user"));
        let logged_in = say(&relay, Command::Recipient, LOGGED_IN);
        assert!(logged_in.contains("policy") && !logged_in.contains("log in with"), "{logged_in}");
        // Without an enhanced code, the words tell (Exim).
        let exim = reply(550, None, "relay not permitted");
        assert!(say(&exim, Command::Recipient, ANON_PLAIN).contains("only for a logged-in user"));
    }

    #[test]
    fn the_class_says_whether_trying_again_helps() {
        let temporary = say(&reply(451, Some("4.3.0"), "try later"), Command::Other, LOGGED_IN);
        assert!(temporary.contains("trying again later can help"), "{temporary}");
        let greylisted = say(&reply(450, None, "greylisted"), Command::Recipient, ANON_TLS);
        assert!(greylisted.contains("trying again later can help"), "{greylisted}");
        let unknown = say(&reply(550, Some("5.1.1"), "User unknown"), Command::Recipient, LOGGED_IN);
        assert!(unknown.contains("does not exist") && unknown.contains("will not help"), "{unknown}");
        let sender = say(&reply(553, Some("5.1.8"), "Sender domain rejected"), Command::Other, LOGGED_IN);
        assert!(sender.contains("check it") && sender.contains("will not help"), "{sender}");
        let spam = say(&reply(554, Some("5.7.1"), "Message rejected as spam"), Command::Other, LOGGED_IN);
        assert!(spam.contains("policy") && spam.contains("will not help"), "{spam}");
        let other = say(&reply(554, None, "no"), Command::Other, LOGGED_IN);
        assert!(other.contains("permanent") && other.contains("will not help"), "{other}");
        assert_eq!(advice(&reply(250, None, "ok"), Command::Other, LOGGED_IN), None);
    }
}
