//! Delivery status notification requests (RFC 3461), checked once when they
//! are made, and xtext, their encoding.

use crate::error::{Error, Result};

/// What to ask of the server's delivery reports; sent only when the server
/// announces DSN. Made with [`Dsn::new`], which checks every value, so a
/// send never fails on it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dsn {
    /// NOTIFY, upper case without spaces: "NEVER" or a comma-separated list
    /// of SUCCESS, FAILURE, DELAY.
    notify: Option<String>,
    /// RET, upper case: "FULL" or "HDRS".
    ret: Option<String>,
    /// ENVID: an identifier of this message, returned in the reports.
    envid: Option<String>,
    /// Send ORCPT with each recipient.
    orcpt: bool,
}

impl Dsn {
    pub fn new(notify: Option<&str>, ret: Option<&str>, envid: Option<&str>, orcpt: bool) -> Result<Dsn> {
        let notify = notify.map(normalize_notify).transpose()?;
        let ret = ret
            .map(|r| match r.to_ascii_uppercase().as_str() {
                "FULL" | "HDRS" => Ok(r.to_ascii_uppercase()),
                _ => Err(Error::InvalidArgument("DSN RET is FULL or HDRS".into())),
            })
            .transpose()?;
        if let Some(envid) = envid
            && (envid.is_empty() || envid.len() > 100 || !envid.is_ascii())
        {
            return Err(Error::InvalidArgument("DSN ENVID is 1 to 100 ASCII characters".into()));
        }
        Ok(Dsn { notify, ret, envid: envid.map(str::to_string), orcpt })
    }

    /// Whether nothing is asked.
    pub fn is_empty(&self) -> bool {
        *self == Dsn::default()
    }

    /// The parameters MAIL FROM gets, each with its leading space.
    pub(crate) fn mail_parameters(&self) -> String {
        let mut out = String::new();
        if let Some(ret) = &self.ret {
            out.push_str(&format!(" RET={ret}"));
        }
        if let Some(envid) = &self.envid {
            out.push_str(&format!(" ENVID={}", xtext(envid)));
        }
        out
    }

    /// The parameters RCPT TO:<address> gets, each with its leading space.
    pub(crate) fn rcpt_parameters(&self, address: &str) -> String {
        let mut out = String::new();
        if let Some(notify) = &self.notify {
            out.push_str(&format!(" NOTIFY={notify}"));
        }
        if self.orcpt {
            out.push_str(&orcpt(address));
        }
        out
    }
}

fn normalize_notify(notify: &str) -> Result<String> {
    let words: Vec<String> = notify.split(',').map(|w| w.trim().to_ascii_uppercase()).collect();
    let known = words.iter().all(|w| matches!(w.as_str(), "SUCCESS" | "FAILURE" | "DELAY" | "NEVER"));
    if !known || (words.len() > 1 && words.iter().any(|w| w == "NEVER")) {
        return Err(Error::InvalidArgument("DSN NOTIFY is NEVER or a list of SUCCESS, FAILURE, DELAY".into()));
    }
    Ok(words.join(","))
}

/// ORCPT for `address`: "rfc822" in xtext for an ASCII address (RFC 3461),
/// "utf-8" in utf-8-addr-xtext for any other (RFC 6533 section 3).
fn orcpt(address: &str) -> String {
    if address.is_ascii() {
        format!(" ORCPT=rfc822;{}", xtext(address))
    } else {
        format!(" ORCPT=utf-8;{}", utf8_addr_xtext(address))
    }
}

/// RFC 3461 xtext: "+", "=" and characters outside 33..126 as "+XX".
pub(crate) fn xtext(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (33..=126).contains(&b) && b != b'+' && b != b'=' {
            out.push(b as char);
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

/// RFC 6533 utf-8-addr-xtext: UTF-8 characters as they are; "+", "=",
/// controls and space as "\x{HEX}" (the embedded-unicode form), so the
/// parameter stays one word without breaking the UTF-8.
fn utf8_addr_xtext(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii() && (!('!'..='~').contains(&c) || c == '+' || c == '=' || c == '\\') {
            out.push_str(&format!("\\x{{{:02X}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xtext_encodes_specials() {
        assert_eq!(xtext("a+b=c d"), "a+2Bb+3Dc+20d");
        assert_eq!(xtext("user@example.org"), "user@example.org");
    }

    #[test]
    fn dsn_is_validated_when_made() {
        let ok = Dsn::new(Some("success, failure"), Some("hdrs"), Some("x1"), true).unwrap();
        assert_eq!(ok.mail_parameters(), " RET=HDRS ENVID=x1");
        assert_eq!(ok.rcpt_parameters("a@b.org"), " NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a@b.org");
        assert!(Dsn::new(Some("NEVER,SUCCESS"), None, None, false).is_err());
        assert!(Dsn::new(None, Some("ALL"), None, false).is_err());
        assert!(Dsn::new(None, None, Some(""), false).is_err());
        assert!(Dsn::new(None, None, None, false).unwrap().is_empty());
    }

    #[test]
    fn orcpt_of_a_non_ascii_address_is_utf8_addr_xtext() {
        // RFC 6533: the UTF-8 stays as it is (xtext would split it into
        // "+C3+A9" bytes, which no server decodes back for a utf-8 type).
        assert_eq!(orcpt("josé@example.org"), " ORCPT=utf-8;josé@example.org");
        assert_eq!(orcpt("a+b=ü@example.org"), " ORCPT=utf-8;a\\x{2B}b\\x{3D}ü@example.org");
        assert_eq!(orcpt("a+b@example.org"), " ORCPT=rfc822;a+2Bb@example.org");
    }
}
