//! The mailbox commands of the TRANSACTION state: STAT, LIST, UIDL (and
//! both merged), DELE, RSET, NOOP.

use super::body::read_listing;
use super::listing::{parse_two_numbers, parse_uid_line};
use super::pipeline::OnRefusal;
use super::{Entry, MAX_LISTING_ENTRIES, Pop3Client, check_number};
use crate::error::{Error, Result};
use crate::session::Client;

impl Pop3Client {
    /// STAT: number of messages and their total size in octets.
    pub fn stat(&mut self) -> Result<(u32, u64)> {
        self.run(|c| parse_two_numbers(&c.transaction(b"STAT")?, "STAT"))
    }

    /// LIST: every message's number and size.
    pub fn list(&mut self) -> Result<Vec<(u32, u64)>> {
        self.run(|c| {
            c.transaction(b"LIST")?;
            let mut out = Vec::new();
            c.read_entries(|line| {
                out.push(parse_two_numbers(&String::from_utf8_lossy(line), "LIST")?);
                Ok(())
            })?;
            c.remember_sizes(out.clone());
            Ok(out)
        })
    }

    /// Every message's size, by number: from the last LIST of this session
    /// (a POP3 mailbox does not change during a session, RFC 1939), or a
    /// LIST now.
    pub(super) fn sizes(&mut self) -> Result<&[(u32, u64)]> {
        if self.sizes.is_none() {
            self.list()?;
        }
        Ok(self.sizes.as_deref().unwrap_or_default())
    }

    fn remember_sizes(&mut self, mut sizes: Vec<(u32, u64)>) {
        sizes.sort_unstable();
        self.sizes = Some(sizes);
    }

    /// LIST for one message: its size.
    pub fn list_one(&mut self, number: u32) -> Result<u64> {
        self.run(|c| {
            check_number(number)?;
            let text = c.transaction(format!("LIST {number}").as_bytes())?;
            Ok(parse_two_numbers(&text, "LIST")?.1)
        })
    }

    /// UIDL: every message's number and unique id.
    pub fn uidl(&mut self) -> Result<Vec<(u32, String)>> {
        self.run(|c| {
            c.transaction(b"UIDL")?;
            let mut out = Vec::new();
            c.read_entries(|line| {
                out.push(parse_uid_line(line)?);
                Ok(())
            })?;
            Ok(out)
        })
    }

    /// UIDL for one message: its unique id.
    pub fn uidl_one(&mut self, number: u32) -> Result<String> {
        self.run(|c| {
            check_number(number)?;
            let text = c.transaction(format!("UIDL {number}").as_bytes())?;
            Ok(parse_uid_line(text.as_bytes())?.1)
        })
    }

    /// UIDL and LIST together, merged by message number; both commands go
    /// out in one write when the server allows pipelining. A refused UIDL
    /// or LIST is reported only once both replies are read, so the session
    /// stays in step.
    pub fn list_uidl(&mut self) -> Result<Vec<Entry>> {
        self.run(|c| {
            c.session.ensure_logged_in()?;
            let pipelined = c.caps.pipelining();
            c.session.conn.queue_command(b"UIDL", None)?;
            if pipelined {
                c.session.conn.queue_command(b"LIST", None)?;
            }
            c.session.conn.flush()?;
            let mut entries = Vec::new();
            let uidl_refused = c.read_uid_listing(&mut entries)?;
            if !pipelined {
                if let Some(refusal) = uidl_refused {
                    return Err(refusal);
                }
                c.session.conn.send_command(b"LIST", None)?;
            }
            let list_refused = c.read_sizes_into(&mut entries, uidl_refused.is_none())?;
            if let Some(refusal) = uidl_refused.or(list_refused) {
                return Err(refusal);
            }
            if entries.iter().all(|e| e.octets.is_some()) {
                c.remember_sizes(entries.iter().map(|e| (e.number, e.octets.unwrap_or_default())).collect());
            }
            Ok(entries)
        })
    }

    /// DELE: mark a message deleted; QUIT commits, RSET undoes.
    pub fn dele(&mut self, number: u32) -> Result<()> {
        self.run(|c| {
            check_number(number)?;
            c.transaction(format!("DELE {number}").as_bytes()).map(drop)
        })
    }

    /// DELE for many messages, pipelined when the server allows. Every
    /// message is attempted; if some are refused, the error names them and
    /// all the others are marked deleted.
    pub fn dele_many(&mut self, numbers: &[u32]) -> Result<()> {
        self.run(|c| {
            c.session.ensure_logged_in()?;
            numbers.iter().try_for_each(|n| check_number(*n))?;
            c.pipeline(numbers, OnRefusal::KeepGoing, |n| format!("DELE {n}"), |_, _, _| Ok(()))
        })
    }

    pub fn rset(&mut self) -> Result<()> {
        self.run(|c| c.transaction(b"RSET").map(drop))
    }

    pub fn noop(&mut self) -> Result<()> {
        self.run(|c| c.transaction(b"NOOP").map(drop))
    }

    // ---- steps of the listings ----

    fn read_entries(&mut self, each: impl FnMut(&[u8]) -> Result<()>) -> Result<()> {
        read_listing(&mut self.session.conn, MAX_LISTING_ENTRIES, each)
    }

    /// Read the status of a listing command already sent and, after +OK,
    /// its lines. Returns the server's refusal, if it refused; errors that
    /// break the session are the outer error.
    fn read_listing_reply(&mut self, each: impl FnMut(&[u8]) -> Result<()>) -> Result<Option<Error>> {
        match self.expect_ok() {
            Ok(_) => self.read_entries(each).map(|_| None),
            Err(refusal @ Error::Server(_)) => Ok(Some(refusal)),
            Err(e) => Err(e),
        }
    }

    /// Read a UIDL reply into `entries`, one per message.
    fn read_uid_listing(&mut self, entries: &mut Vec<Entry>) -> Result<Option<Error>> {
        self.read_listing_reply(|line| {
            let (number, uid) = parse_uid_line(line)?;
            entries.push(Entry { number, octets: None, uid: Some(uid) });
            Ok(())
        })
    }

    /// Read a LIST reply and put each size into the entry of its message
    /// (when `merge`; otherwise the listing is only read, to stay in step).
    fn read_sizes_into(&mut self, entries: &mut [Entry], merge: bool) -> Result<Option<Error>> {
        let mut next = 0;
        self.read_listing_reply(|line| {
            let (number, size) = parse_two_numbers(&String::from_utf8_lossy(line), "LIST")?;
            if merge {
                next = merge_size(entries, next, number, size)? + 1;
            }
            Ok(())
        })
    }
}

/// Put `size` into the entry of message `number`, looking at index `guess`
/// first (both listings come in message order; search only if a server
/// ever disagrees with itself). Returns the entry's index.
fn merge_size(entries: &mut [Entry], guess: usize, number: u32, size: u64) -> Result<usize> {
    let at = match entries.get(guess) {
        Some(e) if e.number == number => guess,
        _ => entries
            .iter()
            .position(|e| e.number == number)
            .ok_or_else(|| Error::Protocol(format!("LIST names message {number}, which UIDL did not")))?,
    };
    entries[at].octets = Some(size);
    Ok(at)
}
