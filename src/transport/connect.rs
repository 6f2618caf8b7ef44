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
use super::os_errors::{self, ConnectCause};
use crate::trace::Tracer;

/// RFC 8305 §5's recommended "Connection Attempt Delay".
pub(crate) const ATTEMPT_DELAY: Duration = Duration::from_millis(250);

/// What became of one address that gave no connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub ip: IpAddr,
    pub why: Why,
}

/// Why an address gave no connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Why {
    /// The OS said what happened, with its error number when it gave one.
    Os { cause: ConnectCause, code: Option<i32> },
    /// An OS error none of the causes covers: its own text.
    Other(String),
    /// No answer by the deadline.
    NoAnswer,
    /// The deadline came before this address's turn.
    NotTried,
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
        return attempt(only, deadline).map_err(|why| {
            tracer.info(format!("{only}: {}", why.short(deadline.budget())));
            vec![Failure { ip: only.ip(), why }]
        });
    }
    race(&order, deadline, tracer)
}

fn race(order: &[SocketAddr], deadline: Deadline, tracer: &Tracer) -> Result<TcpStream, Vec<Failure>> {
    let (tx, rx) = mpsc::channel::<(usize, Result<TcpStream, Why>)>();
    let mut outcome: Vec<Option<Why>> = vec![None; order.len()];
    let mut started = 0;
    let mut running = 0;
    let mut next_start = Instant::now();
    let mut failed = |index: usize, why: Why| {
        tracer.info(format!("{}: {}", order[index], why.short(deadline.budget())));
        outcome[index] = Some(why);
    };
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
                Err(e) => failed(index, Why::Other(format!("could not start the attempt: {e}"))),
            }
            continue;
        }
        if running == 0 {
            break;
        }
        let wake = if started < order.len() { next_start.min(deadline.at()) } else { deadline.at() };
        match rx.recv_timeout(wake.saturating_duration_since(now)) {
            Ok((_, Ok(stream))) => return Ok(stream),
            Ok((index, Err(why))) => {
                failed(index, why);
                running -= 1;
                // A failure frees the way for the next address at once.
                next_start = Instant::now();
            }
            Err(_) if deadline.passed() => break,
            Err(_) => {}
        }
    }
    let failures = order
        .iter()
        .zip(outcome)
        .enumerate()
        .map(|(i, (addr, why))| Failure {
            ip: addr.ip(),
            why: why.unwrap_or(if i < started { Why::NoAnswer } else { Why::NotTried }),
        })
        .collect();
    Err(failures)
}

/// One blocking connect, ending by the deadline.
fn attempt(addr: SocketAddr, deadline: Deadline) -> Result<TcpStream, Why> {
    let left = deadline.remaining();
    // connect_timeout refuses a zero timeout.
    if left.is_zero() {
        return Err(Why::NoAnswer);
    }
    TcpStream::connect_timeout(&addr, left).map_err(|e| why_of(&e, os_errors::CONNECT_HERE))
}

/// What a connect error means; `codes` is the platform's table of error
/// numbers.
fn why_of(err: &io::Error, codes: &[(i32, ConnectCause)]) -> Why {
    let code = err.raw_os_error();
    match os_errors::connect_cause(err, codes) {
        // std's own timeout, without a number: the deadline passed.
        Some(ConnectCause::TimedOut) if code.is_none() => Why::NoAnswer,
        Some(cause) => Why::Os { cause, code },
        None => Why::Other(err.to_string()),
    }
}

impl Why {
    /// A few words, for the trace and for one of several addresses
    /// ("connection refused (os error 111)").
    fn short(&self, budget: Duration) -> String {
        match self {
            Why::Os { cause, code: Some(n) } => format!("{} (os error {n})", words(*cause)),
            Why::Os { cause, code: None } => words(*cause).into(),
            Why::Other(text) => text.clone(),
            Why::NoAnswer => format!("no answer within {}", seconds(budget)),
            Why::NotTried => "not tried in time".into(),
        }
    }

    /// The whole message when every address of `target` failed this way.
    fn sentence(&self, target: &str, budget: Duration) -> String {
        use ConnectCause::*;
        let (cause, code) = match self {
            Why::Os { cause, code } => (*cause, *code),
            Why::Other(text) => return format!("could not connect to {target}: {text}"),
            Why::NoAnswer => {
                return format!("no answer from {target} within {}: {NO_ANSWER_HINT}", seconds(budget));
            }
            Why::NotTried => {
                return format!(
                    "could not connect to {target}: the connect timeout of {} ended before an attempt began",
                    seconds(budget)
                );
            }
        };
        // The cause in the usual words a person can search for, with the
        // OS's number once.
        let tag = match code {
            Some(n) => format!("{}, os error {n}", words(cause)),
            None => words(cause).into(),
        };
        match cause {
            Refused => format!(
                "nothing accepts connections on {target} ({tag}): check the port number, or whether the server is running"
            ),
            TimedOut => format!("no answer from {target} ({tag}): {NO_ANSWER_HINT}"),
            HostUnreachable => format!(
                "{target} cannot be reached ({tag}): check the server name, and this machine's network connection"
            ),
            NetworkUnreachable => {
                format!("this machine has no route to the network of {target} ({tag}): check the network connection")
            }
            NetworkDown => {
                format!(
                    "this machine's network is down, so {target} cannot be reached ({tag}): check the network connection"
                )
            }
            AddrNotAvailable => {
                format!("this machine cannot connect to {target} ({tag}): check the server name or address")
            }
            PermissionDenied => format!(
                "this machine does not allow connecting to {target} ({tag}): a firewall or security program may block it"
            ),
            Reset => format!(
                "{target} dropped the connection while it was being made ({tag}): the server may be overloaded, or not accept this machine"
            ),
        }
    }
}

const NO_ANSWER_HINT: &str = "check the server name and port, or whether a firewall drops the connection";

fn words(cause: ConnectCause) -> &'static str {
    match cause {
        ConnectCause::Refused => "connection refused",
        ConnectCause::TimedOut => "connection timed out",
        ConnectCause::HostUnreachable => "host unreachable",
        ConnectCause::NetworkUnreachable => "network unreachable",
        ConnectCause::NetworkDown => "network down",
        ConnectCause::AddrNotAvailable => "address not available",
        ConnectCause::PermissionDenied => "permission denied",
        ConnectCause::Reset => "connection reset",
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

/// The failures as one message, saying "could not connect" and the port
/// once: when every address failed the same way, that way's sentence about
/// the host (its addresses named when `host` is not that one address);
/// otherwise each distinct reason once, with the addresses it happened to.
pub(crate) fn describe(host: &str, port: u16, budget: Duration, failures: &[Failure]) -> String {
    let mut groups: Vec<(&Why, Vec<String>)> = Vec::new();
    for f in failures {
        match groups.iter_mut().find(|(why, _)| **why == f.why) {
            Some((_, ips)) => ips.push(f.ip.to_string()),
            None => groups.push((&f.why, vec![f.ip.to_string()])),
        }
    }
    if let [(why, ips)] = &groups[..] {
        let target = match failures {
            [only] if host.parse::<IpAddr>() == Ok(only.ip) => format!("{host} port {port}"),
            _ => format!("{host} ({}) port {port}", ips.join(", ")),
        };
        return why.sentence(&target, budget);
    }
    let each: Vec<String> = groups
        .iter()
        .map(|(why, ips)| match why {
            Why::NotTried => format!("no time left to try {}", ips.join(", ")),
            _ => format!("{} at {}", why.short(budget), ips.join(", ")),
        })
        .collect();
    format!("could not connect to {host} port {port}: {}", each.join("; "))
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
        assert!(log.iter().any(|l| l.contains(": connection refused (os error ")), "{log:?}");
    }

    const SECONDS_30: Duration = Duration::from_secs(30);

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn os(cause: ConnectCause, code: i32) -> Why {
        Why::Os { cause, code: Some(code) }
    }

    #[cfg(unix)]
    #[test]
    fn a_refused_address_is_said_once_in_plain_words() {
        let refused = refused_addr();
        let port = refused.port();
        let failures = connect_first(&[refused], within(Duration::from_secs(2)), &Tracer::default()).unwrap_err();
        assert_eq!(failures, [Failure { ip: refused.ip(), why: os(ConnectCause::Refused, libc::ECONNREFUSED) }]);
        let n = libc::ECONNREFUSED;
        assert_eq!(
            describe("127.0.0.1", port, SECONDS_30, &failures),
            format!(
                "nothing accepts connections on 127.0.0.1 port {port} (connection refused, os error {n}): \
                 check the port number, or whether the server is running"
            )
        );
        assert!(describe("localhost", port, SECONDS_30, &failures).starts_with(&format!(
            "nothing accepts connections on localhost (127.0.0.1) port {port} (connection refused, os error {n})"
        )));
    }

    /// The classification is by number, so Windows' numbers are checked
    /// here too; std's own timeout carries no number and is the deadline.
    #[test]
    fn winsock_errors_read_in_our_words_with_their_number_once() {
        let why = |code| why_of(&io::Error::from_raw_os_error(code), os_errors::WINSOCK_CONNECT);
        let refused = [Failure { ip: ip("127.0.0.1"), why: why(10061) }];
        assert_eq!(
            describe("127.0.0.1", 1, SECONDS_30, &refused),
            "nothing accepts connections on 127.0.0.1 port 1 (connection refused, os error 10061): \
             check the port number, or whether the server is running"
        );
        assert_eq!(why(10060), os(ConnectCause::TimedOut, 10060));
        assert_eq!(why(10013), os(ConnectCause::PermissionDenied, 10013));
        let deadline = io::Error::new(io::ErrorKind::TimedOut, "connection timed out");
        assert_eq!(why_of(&deadline, os_errors::WINSOCK_CONNECT), Why::NoAnswer);
        // Wine's text for a number it has none for, kept as it is when the
        // number means nothing to us.
        let odd = io::Error::other("OS Error 10022 (FormatMessageW() returned error 317) (os error 10022)");
        let failures = [Failure { ip: ip("192.0.2.1"), why: why_of(&odd, os_errors::WINSOCK_CONNECT) }];
        assert_eq!(
            describe("192.0.2.1", 25, SECONDS_30, &failures),
            "could not connect to 192.0.2.1 port 25: OS Error 10022 (FormatMessageW() returned error 317) (os error 10022)"
        );
    }

    /// Every cause's message names the target once, its usual words and
    /// its OS number once, and never says "could not connect" on top.
    #[test]
    fn every_cause_says_what_happened_once() {
        use ConnectCause::*;
        let causes = [
            Refused,
            TimedOut,
            HostUnreachable,
            NetworkUnreachable,
            NetworkDown,
            AddrNotAvailable,
            PermissionDenied,
            Reset,
        ];
        for cause in causes {
            let failures = [Failure { ip: ip("192.0.2.1"), why: os(cause, 10099) }];
            let text = describe("mail.example.org", 110, SECONDS_30, &failures);
            let count = |needle: &str| text.matches(needle).count();
            assert_eq!(count("mail.example.org (192.0.2.1) port 110"), 1, "{text}");
            assert_eq!(count("110"), 1, "{text}");
            assert_eq!(count(&format!("({}, os error 10099)", words(cause))), 1, "{text}");
            assert_eq!(count("os error"), 1, "{text}");
            assert_eq!(count("could not connect"), 0, "{text}");
        }
    }

    #[test]
    fn the_same_failure_of_every_address_is_one_sentence() {
        let failures = [
            Failure { ip: ip("::1"), why: os(ConnectCause::Refused, 111) },
            Failure { ip: ip("127.0.0.1"), why: os(ConnectCause::Refused, 111) },
        ];
        assert_eq!(
            describe("localhost", 995, SECONDS_30, &failures),
            "nothing accepts connections on localhost (::1, 127.0.0.1) port 995 (connection refused, os error 111): \
             check the port number, or whether the server is running"
        );
    }

    #[test]
    fn different_failures_are_grouped_by_reason_under_one_could_not_connect() {
        let failures = [
            Failure { ip: ip("2001:db8::1"), why: Why::NoAnswer },
            Failure { ip: ip("192.0.2.1"), why: os(ConnectCause::Refused, 111) },
            Failure { ip: ip("2001:db8::2"), why: Why::NoAnswer },
            Failure { ip: ip("192.0.2.2"), why: Why::NotTried },
        ];
        assert_eq!(
            describe("mail.example.org", 587, SECONDS_30, &failures),
            "could not connect to mail.example.org port 587: no answer within 30 s at 2001:db8::1, 2001:db8::2; \
             connection refused (os error 111) at 192.0.2.1; no time left to try 192.0.2.2"
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
        assert!(failures.iter().all(|f| f.why == Why::NoAnswer), "{failures:?}");
        assert_eq!(
            describe("mail.example.org", 110, Duration::from_millis(600), &failures),
            "no answer from mail.example.org (127.0.0.1, 127.0.0.1, 127.0.0.1) port 110 within 0.6 s: \
             check the server name and port, or whether a firewall drops the connection"
        );
    }

    #[cfg(unix)]
    #[test]
    fn addresses_left_when_time_runs_out_are_named_as_not_tried() {
        let dead = [Unanswering::new(), Unanswering::new(), Unanswering::new()];
        let addrs: Vec<SocketAddr> = dead.iter().map(|d| d.addr).collect();
        let failures = connect_first(&addrs, within(Duration::from_millis(400)), &Tracer::default()).unwrap_err();
        let whys: Vec<&Why> = failures.iter().map(|f| &f.why).collect();
        assert_eq!(whys, [&Why::NoAnswer, &Why::NoAnswer, &Why::NotTried]);
    }
}
