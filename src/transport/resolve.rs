//! Host name lookup that ends by a deadline.
//!
//! The system's lookup (getaddrinfo) blocks and cannot be interrupted, so,
//! like curl's threaded resolver, it runs on a helper thread and the caller
//! stops waiting at the deadline; the thread finishes on its own later and
//! its answer is dropped. At most [`MAX_RUNNING_LOOKUPS`] such threads exist
//! at once, so a DNS server that never answers cannot make the library
//! start threads without limit: a lookup that finds no free slot waits for
//! one, within the same deadline.

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::{Condvar, Mutex, PoisonError, mpsc};

use super::deadline::{Deadline, seconds};
use super::os_errors::{self, LookupCause};
use crate::error::{Error, Result};

/// Lookups that may be running at once, abandoned ones included.
pub(crate) const MAX_RUNNING_LOOKUPS: usize = 8;

static LOOKUP_SLOTS: Slots = Slots::new(MAX_RUNNING_LOOKUPS);

/// The system's resolver.
pub fn system_lookup(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    (host, port).to_socket_addrs().map(Iterator::collect)
}

/// The addresses of `host`, looked up with `lookup` on a helper thread; an
/// IP address literal is taken as it is.
pub(crate) fn resolve<L>(host: &str, port: u16, deadline: Deadline, lookup: L) -> Result<Vec<SocketAddr>>
where
    L: FnOnce(&str, u16) -> io::Result<Vec<SocketAddr>> + Send + 'static,
{
    resolve_in(&LOOKUP_SLOTS, host, port, deadline, lookup)
}

fn resolve_in<L>(slots: &'static Slots, host: &str, port: u16, deadline: Deadline, lookup: L) -> Result<Vec<SocketAddr>>
where
    L: FnOnce(&str, u16) -> io::Result<Vec<SocketAddr>> + Send + 'static,
{
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let within = seconds(deadline.budget());
    let Some(slot) = slots.acquire(deadline) else {
        return Err(Error::Timeout(format!(
            "earlier lookups still waiting for the DNS server left no room to look up the server name {host:?} \
             within {within}"
        )));
    };
    let (tx, rx) = mpsc::sync_channel(1);
    let name = host.to_string();
    std::thread::Builder::new()
        .name("mailtls-resolve".into())
        .spawn(move || {
            let _slot = slot;
            // The caller may have stopped waiting: then nobody reads this.
            let _ = tx.send(lookup(&name, port));
        })
        .map_err(|e| Error::Resolve { host: host.to_string(), reason: format!("could not start the lookup: {e}") })?;
    match rx.recv_timeout(deadline.remaining()) {
        Ok(Ok(addrs)) if addrs.is_empty() => {
            Err(Error::Resolve { host: host.to_string(), reason: "the name has no address".into() })
        }
        Ok(Ok(addrs)) => Ok(addrs),
        Ok(Err(e)) => Err(Error::Resolve { host: host.to_string(), reason: lookup_reason(&e, os_errors::LOOKUP_HERE) }),
        Err(mpsc::RecvTimeoutError::Timeout) => {
            Err(Error::Timeout(format!("no answer from the DNS server about the server name {host:?} within {within}")))
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            Err(Error::Resolve { host: host.to_string(), reason: "the lookup ended without an answer".into() })
        }
    }
}

/// Why a lookup failed, in our words when its number (in `codes`, the
/// platform's table) says, else the resolver's own text without std's
/// "failed to lookup address information: " in front of it (Unix: std
/// gives getaddrinfo's message and no number).
fn lookup_reason(err: &io::Error, codes: &[(i32, LookupCause)]) -> String {
    let words = match os_errors::lookup_cause(err, codes) {
        Some(LookupCause::NoSuchName) => "no such name is known; check its spelling, and the network connection",
        Some(LookupCause::TryAgain) => "the DNS server did not answer or could not be reached; try again later",
        Some(LookupCause::ServerFailed) => "the DNS server failed",
        Some(LookupCause::NoAddress) => "the name has no address",
        None => {
            let text = err.to_string();
            return match text.strip_prefix("failed to lookup address information: ") {
                Some(resolver_text) => resolver_text.to_string(),
                None => text,
            };
        }
    };
    match err.raw_os_error() {
        Some(n) => format!("{words} (os error {n})"),
        None => words.into(),
    }
}

/// A counting semaphore for lookup threads.
struct Slots {
    used: Mutex<usize>,
    freed: Condvar,
    max: usize,
}

/// One taken slot, given back when the lookup thread ends.
struct Slot(&'static Slots);

impl Slots {
    const fn new(max: usize) -> Slots {
        Slots { used: Mutex::new(0), freed: Condvar::new(), max }
    }

    /// A free slot, waiting for one until `deadline`.
    fn acquire(&'static self, deadline: Deadline) -> Option<Slot> {
        // Nothing panics while holding the lock, but a poisoned count is
        // still a valid count.
        let mut used = self.used.lock().unwrap_or_else(PoisonError::into_inner);
        while *used >= self.max {
            let left = deadline.remaining();
            if left.is_zero() {
                return None;
            }
            used = self.freed.wait_timeout(used, left).unwrap_or_else(PoisonError::into_inner).0;
        }
        *used += 1;
        Some(Slot(self))
    }

    #[cfg(test)]
    fn in_use(&self) -> usize {
        *self.used.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut used = self.0.used.lock().unwrap_or_else(PoisonError::into_inner);
        *used -= 1;
        self.0.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn leaked_slots(max: usize) -> &'static Slots {
        Box::leak(Box::new(Slots::new(max)))
    }

    fn loopback(port: u16) -> io::Result<Vec<SocketAddr>> {
        Ok(vec![SocketAddr::from(([127, 0, 0, 1], port))])
    }

    fn hanging(_: &str, _: u16) -> io::Result<Vec<SocketAddr>> {
        std::thread::sleep(Duration::from_secs(1));
        Ok(vec![])
    }

    #[test]
    fn a_lookup_that_does_not_answer_is_a_timeout_naming_the_host() {
        let slots = leaked_slots(4);
        let started = Instant::now();
        let err = resolve_in(slots, "slow.example", 25, Deadline::after(Duration::from_millis(200)), hanging)
            .expect_err("out of time");
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(190) && waited < Duration::from_millis(800), "{waited:?}");
        match err {
            Error::Timeout(m) => {
                assert_eq!(m, "no answer from the DNS server about the server name \"slow.example\" within 0.2 s")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn answers_and_failures_of_the_lookup_come_through() {
        let slots = leaked_slots(4);
        let deadline = || Deadline::after(Duration::from_secs(2));
        let addrs = resolve_in(slots, "mail.example", 110, deadline(), |_, port| loopback(port)).unwrap();
        assert_eq!(addrs, loopback(110).unwrap());
        // What std on Unix makes of getaddrinfo's EAI_NONAME.
        let failed =
            |_: &str, _: u16| Err(io::Error::other("failed to lookup address information: Name or service not known"));
        let err = resolve_in(slots, "nowhere.example", 110, deadline(), failed).unwrap_err();
        assert_eq!(err.to_string(), "could not find the server name \"nowhere.example\": Name or service not known");
        let err = resolve_in(slots, "empty.example", 110, deadline(), |_, _| Ok(vec![])).unwrap_err();
        assert_eq!(err.to_string(), "could not find the server name \"empty.example\": the name has no address");
    }

    /// Windows gives a number (std's text for it may be missing under
    /// Wine, or in the system's language): the number decides.
    #[test]
    fn winsock_lookup_failures_read_in_our_words() {
        let reason = |code| lookup_reason(&io::Error::from_raw_os_error(code), os_errors::WINSOCK_LOOKUP);
        assert_eq!(
            reason(11001),
            "no such name is known; check its spelling, and the network connection (os error 11001)"
        );
        assert_eq!(
            reason(11002),
            "the DNS server did not answer or could not be reached; try again later (os error 11002)"
        );
        assert_eq!(reason(11004), "the name has no address (os error 11004)");
        let other = io::Error::other("OS Error 11005 (FormatMessageW() returned error 317) (os error 11005)");
        assert_eq!(lookup_reason(&other, os_errors::WINSOCK_LOOKUP), other.to_string());
    }

    #[test]
    fn an_address_literal_needs_no_lookup() {
        let slots = leaked_slots(1);
        let addrs = resolve_in(slots, "::1", 995, Deadline::after(Duration::ZERO), hanging).unwrap();
        assert_eq!(addrs, vec![SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 995))]);
        assert_eq!(slots.in_use(), 0);
    }

    #[test]
    fn abandoned_lookups_are_bounded_and_their_slots_come_back() {
        let slots = leaked_slots(2);
        let short = || Deadline::after(Duration::from_millis(50));
        for _ in 0..2 {
            assert!(matches!(resolve_in(slots, "dead.example", 25, short(), hanging), Err(Error::Timeout(_))));
        }
        assert_eq!(slots.in_use(), 2, "both threads still wait for the DNS server");
        // No slot: no third thread, and the caller still stops at its deadline.
        let started = Instant::now();
        let err = resolve_in(slots, "dead.example", 25, short(), |_, port| loopback(port)).unwrap_err();
        assert!(matches!(&err, Error::Timeout(m) if m.contains("no room")), "{err:?}");
        assert!(started.elapsed() < Duration::from_millis(500));
        assert_eq!(slots.in_use(), 2);
        // Once the hanging lookups end, lookups run again.
        let addrs = resolve_in(slots, "mail.example", 25, Deadline::after(Duration::from_secs(5)), |_, p| loopback(p));
        assert_eq!(addrs.unwrap(), loopback(25).unwrap());
    }
}
