//! Connecting to the first of a host's addresses that answers, as Happy
//! Eyeballs (RFC 8305) does: the address families take turns (IPv6 first),
//! a further attempt starts when the previous one has not finished within
//! [`ATTEMPT_DELAY`] (at once when it fails), the first connection made
//! wins and the others are closed, and all attempts together end by one
//! deadline.
//!
//! Each attempt is a blocking connect on a thread of its own (portable, std
//! only); the attempts report over a channel, and the caller's thread does
//! all the tracing. A losing attempt that connects later finds the channel
//! gone and drops (closes) its stream; every attempt ends by the deadline.

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::deadline::{Deadline, seconds};
use crate::trace::Tracer;

/// RFC 8305 §5's recommended "Connection Attempt Delay".
pub(crate) const ATTEMPT_DELAY: Duration = Duration::from_millis(250);

/// What became of one address that gave no connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub ip: IpAddr,
    pub reason: String,
}

/// The first connection made to any of `addrs`, or what happened to each.
pub(crate) fn connect_first(
    addrs: &[SocketAddr],
    deadline: Deadline,
    tracer: &Tracer,
) -> Result<TcpStream, Vec<Failure>> {
    let order = interleave_families(addrs);
    if let [only] = order[..] {
        // Nothing to race: connect on this thread.
        tracer.info(format!("connecting to {only}"));
        return attempt(only, deadline).map_err(|reason| {
            tracer.info(format!("{only}: {reason}"));
            vec![Failure { ip: only.ip(), reason }]
        });
    }
    race(&order, deadline, tracer)
}

fn race(order: &[SocketAddr], deadline: Deadline, tracer: &Tracer) -> Result<TcpStream, Vec<Failure>> {
    let (tx, rx) = mpsc::channel::<(usize, Result<TcpStream, String>)>();
    let mut outcome: Vec<Option<String>> = vec![None; order.len()];
    let mut started = 0;
    let mut running = 0;
    let mut next_start = Instant::now();
    loop {
        let now = Instant::now();
        if started < order.len() && (running == 0 || now >= next_start) && !deadline.passed() {
            let addr = order[started];
            tracer.info(format!("connecting to {addr}"));
            let report = tx.clone();
            let index = started;
            let spawned = std::thread::Builder::new().name("mailtls-connect".into()).spawn(move || {
                // Nobody listens any more once another attempt has won.
                let _ = report.send((index, attempt(addr, deadline)));
            });
            started += 1;
            match spawned {
                Ok(_) => {
                    running += 1;
                    next_start = now + ATTEMPT_DELAY;
                }
                Err(e) => {
                    let reason = format!("could not start the attempt: {e}");
                    tracer.info(format!("{addr}: {reason}"));
                    outcome[index] = Some(reason);
                }
            }
            continue;
        }
        if running == 0 {
            break;
        }
        let wake = if started < order.len() { next_start.min(deadline.at()) } else { deadline.at() };
        match rx.recv_timeout(wake.saturating_duration_since(now)) {
            Ok((_, Ok(stream))) => return Ok(stream),
            Ok((index, Err(reason))) => {
                tracer.info(format!("{}: {reason}", order[index]));
                outcome[index] = Some(reason);
                running -= 1;
                // A failure frees the way for the next address at once.
                next_start = Instant::now();
            }
            Err(_) if deadline.passed() => break,
            Err(_) => {}
        }
    }
    let no_answer = format!("no answer within {}", seconds(deadline.budget()));
    let failures = order
        .iter()
        .zip(outcome)
        .enumerate()
        .map(|(i, (addr, reason))| Failure {
            ip: addr.ip(),
            reason: reason.unwrap_or_else(|| if i < started { no_answer.clone() } else { "not tried in time".into() }),
        })
        .collect();
    Err(failures)
}

/// One blocking connect, ending by the deadline.
fn attempt(addr: SocketAddr, deadline: Deadline) -> Result<TcpStream, String> {
    let left = deadline.remaining();
    // connect_timeout refuses a zero timeout.
    if left.is_zero() {
        return Err(format!("no answer within {}", seconds(deadline.budget())));
    }
    TcpStream::connect_timeout(&addr, left).map_err(|e| plain_reason(&e, deadline.budget()))
}

/// Why a connect failed, in plain words (the address is said elsewhere).
fn plain_reason(err: &io::Error, budget: Duration) -> String {
    use io::ErrorKind::*;
    match err.kind() {
        ConnectionRefused => "connection refused".into(),
        TimedOut | WouldBlock => format!("no answer within {}", seconds(budget)),
        HostUnreachable => "host unreachable".into(),
        NetworkUnreachable => "network unreachable".into(),
        ConnectionReset => "connection reset".into(),
        AddrNotAvailable => "address not available on this machine".into(),
        _ => err.to_string(),
    }
}

/// The order RFC 8305 §4 asks for: families alternate, IPv6 first when
/// there is any; within a family the resolver's order stays.
pub(crate) fn interleave_families(addrs: &[SocketAddr]) -> Vec<SocketAddr> {
    let (mut v6, mut v4): (VecDeque<SocketAddr>, VecDeque<SocketAddr>) = addrs.iter().partition(|a| a.is_ipv6());
    let mut order = Vec::with_capacity(addrs.len());
    loop {
        match (v6.pop_front(), v4.pop_front()) {
            (None, None) => return order,
            (a, b) => order.extend(a.into_iter().chain(b)),
        }
    }
}

/// The failures as one sentence: each distinct reason once, with the
/// addresses it happened to (left out when the host is that one address).
pub(crate) fn describe(host: &str, failures: &[Failure]) -> String {
    if let [only] = failures
        && host.parse::<IpAddr>() == Ok(only.ip)
    {
        return only.reason.clone();
    }
    let mut groups: Vec<(&str, Vec<String>)> = Vec::new();
    for f in failures {
        match groups.iter_mut().find(|(reason, _)| *reason == f.reason) {
            Some((_, ips)) => ips.push(f.ip.to_string()),
            None => groups.push((&f.reason, vec![f.ip.to_string()])),
        }
    }
    groups.iter().map(|(reason, ips)| format!("{reason} ({})", ips.join(", "))).collect::<Vec<_>>().join("; ")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    /// A loopback listener whose accept queue is full: a connect to it gets
    /// no answer, as from a server that is down behind a firewall.
    #[cfg(unix)]
    pub(crate) struct Unanswering {
        pub addr: SocketAddr,
        fd: i32,
        _queued: TcpStream,
    }

    #[cfg(unix)]
    impl Unanswering {
        pub fn new() -> Unanswering {
            // SAFETY: plain socket calls on a descriptor this function owns;
            // `addr` is a properly sized sockaddr_in.
            let (port, fd) = unsafe {
                let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
                assert!(fd >= 0);
                let mut addr: libc::sockaddr_in = std::mem::zeroed();
                addr.sin_family = libc::AF_INET as libc::sa_family_t;
                addr.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
                let mut size = std::mem::size_of_val(&addr) as libc::socklen_t;
                assert_eq!(libc::bind(fd, &addr as *const _ as *const libc::sockaddr, size), 0);
                // A backlog of 0 holds one connection: fill it.
                assert_eq!(libc::listen(fd, 0), 0);
                libc::getsockname(fd, &mut addr as *mut _ as *mut libc::sockaddr, &mut size);
                (u16::from_be(addr.sin_port), fd)
            };
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let queued = TcpStream::connect(addr).unwrap();
            Unanswering { addr, fd, _queued: queued }
        }
    }

    #[cfg(unix)]
    impl Drop for Unanswering {
        fn drop(&mut self) {
            // SAFETY: the descriptor from `new`, closed once.
            unsafe { libc::close(self.fd) };
        }
    }

    fn refused_addr() -> SocketAddr {
        // Bound, then closed: nothing listens there.
        TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
    }

    fn within(budget: Duration) -> Deadline {
        Deadline::after(budget)
    }

    fn recording() -> (Tracer, Arc<Mutex<Vec<String>>>) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        let tracer =
            Tracer::new(Arc::new(move |_, d: &[u8]| sink.lock().unwrap().push(String::from_utf8_lossy(d).into())));
        (tracer, log)
    }

    #[test]
    fn families_take_turns_starting_with_ipv6() {
        let v4 = |n: u8| SocketAddr::from(([192, 0, 2, n], 25));
        let v6 = |n: u16| SocketAddr::from(([0x2001, 0xdb8, 0, 0, 0, 0, 0, n], 25));
        let order = interleave_families(&[v4(1), v4(2), v6(1), v6(2), v4(3)]);
        assert_eq!(order, [v6(1), v4(1), v6(2), v4(2), v4(3)]);
        assert_eq!(interleave_families(&[v4(1), v4(2)]), [v4(1), v4(2)]);
    }

    #[test]
    fn a_refusal_moves_on_to_the_next_address_at_once() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let open = listener.local_addr().unwrap();
        let (tracer, log) = recording();
        let started = Instant::now();
        let stream = connect_first(&[refused_addr(), open], within(Duration::from_secs(2)), &tracer).unwrap();
        assert!(started.elapsed() < ATTEMPT_DELAY, "{:?}", started.elapsed());
        assert_eq!(stream.peer_addr().unwrap(), open);
        let log = log.lock().unwrap();
        assert_eq!(log.iter().filter(|l| l.starts_with("connecting to ")).count(), 2, "{log:?}");
        assert!(log.iter().any(|l| l.ends_with(": connection refused")), "{log:?}");
    }

    #[test]
    fn a_refused_address_is_said_once_in_plain_words() {
        let refused = refused_addr();
        let failures = connect_first(&[refused], within(Duration::from_secs(2)), &Tracer::default()).unwrap_err();
        assert_eq!(failures, [Failure { ip: refused.ip(), reason: "connection refused".into() }]);
        assert_eq!(describe("127.0.0.1", &failures), "connection refused");
        assert_eq!(describe("localhost", &failures), "connection refused (127.0.0.1)");
    }

    #[test]
    fn failures_are_grouped_by_reason() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let failures = [
            Failure { ip: ip("2001:db8::1"), reason: "no answer within 30 s".into() },
            Failure { ip: ip("192.0.2.1"), reason: "connection refused".into() },
            Failure { ip: ip("2001:db8::2"), reason: "no answer within 30 s".into() },
        ];
        assert_eq!(
            describe("mail.example.org", &failures),
            "no answer within 30 s (2001:db8::1, 2001:db8::2); connection refused (192.0.2.1)"
        );
    }

    #[cfg(unix)]
    #[test]
    fn an_address_that_never_answers_delays_the_next_by_the_attempt_delay_only() {
        let dead = Unanswering::new();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let open = listener.local_addr().unwrap();
        let started = Instant::now();
        let stream = connect_first(&[dead.addr, open], within(Duration::from_secs(5)), &Tracer::default()).unwrap();
        let took = started.elapsed();
        assert!(took >= ATTEMPT_DELAY && took < ATTEMPT_DELAY * 6, "{took:?}");
        assert_eq!(stream.peer_addr().unwrap(), open);
    }

    #[cfg(unix)]
    #[test]
    fn all_attempts_together_end_by_the_deadline() {
        let dead = [Unanswering::new(), Unanswering::new(), Unanswering::new()];
        let addrs: Vec<SocketAddr> = dead.iter().map(|d| d.addr).collect();
        let started = Instant::now();
        let failures = connect_first(&addrs, within(Duration::from_millis(600)), &Tracer::default()).unwrap_err();
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(590) && took < Duration::from_millis(1200), "{took:?}");
        assert_eq!(failures.len(), 3);
        assert!(failures.iter().all(|f| f.reason == "no answer within 0.6 s"), "{failures:?}");
        assert_eq!(describe("mail.example.org", &failures), "no answer within 0.6 s (127.0.0.1, 127.0.0.1, 127.0.0.1)");
    }

    #[cfg(unix)]
    #[test]
    fn addresses_left_when_time_runs_out_are_named_as_not_tried() {
        let dead = [Unanswering::new(), Unanswering::new(), Unanswering::new()];
        let addrs: Vec<SocketAddr> = dead.iter().map(|d| d.addr).collect();
        let failures = connect_first(&addrs, within(Duration::from_millis(400)), &Tracer::default()).unwrap_err();
        let reasons: Vec<&str> = failures.iter().map(|f| f.reason.as_str()).collect();
        assert_eq!(reasons, ["no answer within 0.4 s", "no answer within 0.4 s", "not tried in time"]);
    }
}
