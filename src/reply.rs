//! What servers answer, as the core's errors and results carry it: a
//! refusal in either protocol ([`ServerReply`]), an SMTP reply ([`Reply`])
//! and the answer to one recipient ([`RecipientResult`]). Below `error`, so
//! errors can carry them without depending on a protocol module.

use std::fmt;

/// A status reply from the server that was not a success.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerReply {
    /// The reply line(s) as the server sent them, without the final CRLF
    /// (lossy UTF-8).
    pub text: String,
    /// SMTP's three-digit reply code; `None` for POP3.
    pub code: Option<u16>,
    /// POP3's bracketed response code (RFC 2449/3206, e.g. `SYS/TEMP`).
    pub response_code: Option<String>,
    /// SMTP's enhanced status code (RFC 3463, e.g. `5.1.1`).
    pub enhanced_code: Option<String>,
    /// What the refusal means for the person (whether trying again helps,
    /// what to change), added to the error's message; not the server's.
    pub(crate) advice: Option<&'static str>,
}

impl fmt::Display for ServerReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// One complete SMTP reply: its code, its enhanced status code if the
/// server sent one, and the text of each line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub enhanced_code: Option<String>,
    pub lines: Vec<String>,
}

impl Reply {
    pub fn is_positive(&self) -> bool {
        (200..400).contains(&self.code)
    }

    /// The text of all lines, joined with spaces, without the enhanced code.
    pub fn text(&self) -> String {
        self.lines.join(" ")
    }

    pub fn to_server_reply(&self) -> ServerReply {
        let mut text = self.code.to_string();
        for (i, line) in self.lines.iter().enumerate() {
            if i > 0 {
                text.push_str(" /");
            }
            text.push(' ');
            if let (0, Some(e)) = (i, &self.enhanced_code) {
                text.push_str(e);
                text.push(' ');
            }
            text.push_str(line);
        }
        ServerReply {
            text: text.trim_end().to_string(),
            code: Some(self.code),
            response_code: None,
            enhanced_code: self.enhanced_code.clone(),
            advice: None,
        }
    }
}

/// The server's answer to one RCPT TO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientResult {
    pub address: String,
    pub accepted: bool,
    pub reply: Reply,
}

impl RecipientResult {
    pub(crate) fn new(address: &str, reply: Reply) -> Self {
        RecipientResult { address: address.to_string(), accepted: reply.code / 100 == 2, reply }
    }
}
