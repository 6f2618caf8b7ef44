//! Hostile servers against the C API (issue 8). A scripted server on
//! 127.0.0.1 plays sessions recorded from the project's Dovecot and Postfix
//! (tests/data/hostile/*.txt), mutated by a seeded PRNG: drops, stalls,
//! trickles, huge and unterminated lines, floods without a line end,
//! listings without end, invalid codes, stray continuations, non-UTF-8,
//! bit flips, edits and numbers that overflow. The client drives the
//! library only through its `extern "C"` entry points (`mailtls::ffi`), as a
//! C program would, over plaintext and over TLS.
//!
//! Each case checks: no MAILTLS_RESULT_PANIC; every call returns within a
//! bound set by the configured timeouts (a watchdog thread); a failed call
//! leaves a non-empty UTF-8 last_error without the password; the calls after
//! an error that closes the stream get NOT_CONNECTED; the client thread's
//! peak heap stays under a budget and every byte it allocated is freed once
//! the handles are freed (a counting global allocator). An unmutated case
//! also checks every result against the recording.
//!
//! MAILTLS_HOSTILE_SECONDS (default 45) is how long cases run;
//! MAILTLS_HOSTILE_SEED=<seed> replays the one case a failure printed.
//! The transcripts are recorded by the ignored test `record_transcripts`.

mod common;

use std::ffi::{CStr, c_char, c_int, c_void};
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mailtls::ffi::buffer::*;
use mailtls::ffi::capabilities::*;
use mailtls::ffi::listing::*;
use mailtls::ffi::options::*;
use mailtls::ffi::pop3::*;
use mailtls::ffi::smtp::*;
use mailtls::ffi::smtp_results::*;
use mailtls::ffi::*;

#[global_allocator]
static HEAP: heap::Counting = heap::Counting;

/// The in-memory limit every case sets (mailtls_options_set_max_message_bytes).
const MAX_MESSAGE_BYTES: u64 = 1 << 20;
/// What a case's client thread may hold at its peak: the two messages of a
/// retr_batch at the limit, plus the growth step of a buffer that reaches
/// it, plus fixed buffers (64 KiB reads, replies, listings of a few entries).
const PEAK_BUDGET: isize = 3 * (MAX_MESSAGE_BYTES as isize) + (2 << 20);
/// What a listing call may hold today: the library caps a listing at
/// 1,000,000 entries (pop3::MAX_LISTING_ENTRIES), which a server that never
/// ends its UIDL listing fills to about 77 MB. That is over PEAK_BUDGET: see
/// the ignored test endless_listings_stay_within_the_budget, which
/// asserts PEAK_BUDGET for it. This higher bound still catches a listing
/// without any cap.
const LISTING_BUDGET: isize = 160 << 20;
const LISTING_CALLS: [&str; 3] = ["list", "uidl", "list_uidl"];
/// A streaming sink of the test cancels after this many bytes, as a caller
/// with a disk quota would: streaming calls have no limit of their own.
const SINK_LIMIT: u64 = 4 << 20;
/// Beyond the configured timeouts, what a call may take on a loaded machine
/// (two cores shared, debug build, up to 16 MiB of flood to parse).
const SLACK: Duration = Duration::from_secs(6);
/// The longest a trickled reply takes to send.
const TRICKLE_TOTAL: Duration = Duration::from_millis(800);

const USER: &str = "user50";
/// Not the real servers' password: the hostile server accepts anything.
const PASSWORD: &str = "hostile-Pw-7qZ";

// ------------------------------------------------------------ counting heap

/// A global allocator that counts the bytes of the threads that ask for it
/// (the client thread of a case), live and peak. The server thread and the
/// harness are not counted, so only the library's (and the client's) use
/// shows. OpenSSL's buffers come from malloc directly and are not counted.
mod heap {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;
    use std::sync::atomic::AtomicIsize;
    use std::sync::atomic::Ordering::Relaxed;

    pub struct Counting;

    static LIVE: AtomicIsize = AtomicIsize::new(0);
    static PEAK: AtomicIsize = AtomicIsize::new(0);

    thread_local! {
        // const-initialised and without Drop: safe to read inside the allocator.
        static TRACKED: Cell<bool> = const { Cell::new(false) };
    }

    fn is_tracked() -> bool {
        TRACKED.try_with(Cell::get).unwrap_or(false)
    }

    fn grow(n: usize) {
        let live = LIVE.fetch_add(n as isize, Relaxed) + n as isize;
        PEAK.fetch_max(live, Relaxed);
    }

    fn shrink(n: usize) {
        LIVE.fetch_sub(n as isize, Relaxed);
    }

    // SAFETY: every call is forwarded to the system allocator unchanged.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: forwarded.
            let p = unsafe { System.alloc(layout) };
            if !p.is_null() && is_tracked() {
                grow(layout.size());
            }
            p
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            // SAFETY: forwarded.
            let p = unsafe { System.alloc_zeroed(layout) };
            if !p.is_null() && is_tracked() {
                grow(layout.size());
            }
            p
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: forwarded.
            unsafe { System.dealloc(ptr, layout) };
            if is_tracked() {
                shrink(layout.size());
            }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let tracked = is_tracked();
            // Old and new block may both exist while the bytes are copied.
            if tracked {
                grow(new_size);
            }
            // SAFETY: forwarded.
            let p = unsafe { System.realloc(ptr, layout, new_size) };
            if tracked {
                shrink(if p.is_null() { new_size } else { layout.size() });
            }
            p
        }
    }

    /// Count the current thread's heap while `body` runs; returns the bytes
    /// still live at the end that were not live at the start.
    pub fn measure(body: impl FnOnce()) -> isize {
        TRACKED.with(|t| t.set(true));
        let base = LIVE.load(Relaxed);
        PEAK.store(base, Relaxed);
        body();
        let end = LIVE.load(Relaxed);
        TRACKED.with(|t| t.set(false));
        end - base
    }

    /// Start a new peak period; returns the bytes live now.
    pub fn restart_peak() -> isize {
        let live = LIVE.load(Relaxed);
        PEAK.store(live, Relaxed);
        live
    }

    /// The most bytes live since the last restart_peak.
    pub fn peak() -> isize {
        PEAK.load(Relaxed)
    }

    pub fn live() -> isize {
        LIVE.load(Relaxed)
    }

    /// Run the test's own bookkeeping (what outlives a case) uncounted.
    pub fn uncounted<R>(body: impl FnOnce() -> R) -> R {
        let was = TRACKED.with(Cell::get);
        TRACKED.with(|t| t.set(false));
        let r = body();
        TRACKED.with(|t| t.set(was));
        r
    }
}

// ------------------------------------------------------------ PRNG

/// xorshift64*, seeded through splitmix64 so that neighbouring seeds differ.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in 0..n (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }
    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn pick_bytes(&mut self, items: &[&'static [u8]]) -> &'static [u8] {
        items[self.below(items.len())]
    }
}

// ------------------------------------------------------------ transcripts

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Protocol {
    Pop3,
    Smtp,
}

/// One client line and the server's reply to it (lines without CRLF).
#[derive(Clone, Debug)]
struct Turn {
    command: String,
    reply: Vec<Vec<u8>>,
}

/// A recorded session: the greeting, then the turns in order.
#[derive(Clone, Debug)]
struct Transcript {
    protocol: Protocol,
    greeting: Vec<Vec<u8>>,
    turns: Vec<Turn>,
}

/// What stands for a secret in a transcript: an AUTH argument, or the line
/// a client sends after a continuation.
const REDACTED: &str = "<redacted>";

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/hostile")
}

impl Transcript {
    fn file_name(protocol: Protocol) -> &'static str {
        match protocol {
            Protocol::Pop3 => "dovecot-pop3.txt",
            Protocol::Smtp => "postfix-smtp.txt",
        }
    }

    fn load(protocol: Protocol) -> Transcript {
        let path = data_dir().join(Self::file_name(protocol));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Transcript::parse(protocol, &text)
    }

    /// The file format: "S <line>" is a server line (sent with CRLF),
    /// "C <line>" the client line the following S lines answer; the S lines
    /// before the first C are the greeting; "#" starts a comment.
    fn parse(protocol: Protocol, text: &str) -> Transcript {
        let mut t = Transcript { protocol, greeting: Vec::new(), turns: Vec::new() };
        for line in text.lines() {
            if let Some(server) = line.strip_prefix("S ") {
                let reply = match t.turns.last_mut() {
                    Some(turn) => &mut turn.reply,
                    None => &mut t.greeting,
                };
                reply.push(server.as_bytes().to_vec());
            } else if let Some(client) = line.strip_prefix("C ") {
                t.turns.push(Turn { command: client.to_string(), reply: Vec::new() });
            } else {
                assert!(line.is_empty() || line.starts_with('#'), "bad transcript line {line:?}");
            }
        }
        t
    }

    fn render(&self, header: &str) -> String {
        let mut out = String::new();
        for line in header.lines() {
            out.push_str(&format!("# {line}\n"));
        }
        let text = |l: &[u8]| String::from_utf8(l.to_vec()).expect("recorded lines are UTF-8");
        for line in &self.greeting {
            out.push_str(&format!("S {}\n", text(line)));
        }
        for turn in &self.turns {
            out.push_str(&format!("C {}\n", turn.command));
            for line in &turn.reply {
                out.push_str(&format!("S {}\n", text(line)));
            }
        }
        out
    }

    /// The first turn whose command is exactly `command`.
    fn turn(&self, command: &str) -> Option<&Turn> {
        self.turns.iter().find(|t| t.command == command)
    }
}

fn verb(command: &str) -> String {
    command.split(' ').next().unwrap_or("").to_ascii_uppercase()
}

fn lines_of(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut lines: Vec<Vec<u8>> =
        bytes.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l).to_vec()).collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
}

/// Cut the two recorded byte streams of a session into turns, knowing how
/// each protocol delimits a reply.
fn segment(protocol: Protocol, client: &[u8], server: &[u8]) -> Transcript {
    let server = lines_of(server);
    let mut next = server.into_iter();
    let mut reply_for = |multi_line: bool| -> Vec<Vec<u8>> {
        let mut reply = Vec::new();
        for line in next.by_ref() {
            let last = match protocol {
                Protocol::Pop3 => {
                    (!multi_line && reply.is_empty()) || (reply.is_empty() && !line.starts_with(b"+OK")) || line == b"."
                }
                Protocol::Smtp => line.len() < 4 || line[3] == b' ',
            };
            reply.push(line);
            if last {
                break;
            }
        }
        reply
    };
    let mut t = Transcript { protocol, greeting: reply_for(false), turns: Vec::new() };
    let (mut in_data, mut after_continuation) = (false, false);
    for line in lines_of(client) {
        let line = String::from_utf8(line).expect("the client sends UTF-8");
        let command = if in_data {
            if line != "." {
                continue; // message content: the hostile server skips it
            }
            line
        } else if after_continuation {
            REDACTED.to_string()
        } else if verb(&line) == "AUTH" && line.split(' ').count() > 2 {
            let mut words: Vec<&str> = line.split(' ').take(2).collect();
            words.push(REDACTED);
            words.join(" ")
        } else {
            line
        };
        let args = command.split(' ').count();
        let multi_line = protocol == Protocol::Pop3
            && (matches!(verb(&command).as_str(), "CAPA" | "RETR" | "TOP")
                || (matches!(verb(&command).as_str(), "LIST" | "UIDL") && args == 1));
        let reply = reply_for(multi_line);
        let first = reply.first().cloned().unwrap_or_default();
        after_continuation = match protocol {
            Protocol::Pop3 => first.starts_with(b"+ ") || first == b"+",
            Protocol::Smtp => first.starts_with(b"334"),
        };
        in_data = protocol == Protocol::Smtp && verb(&command) == "DATA" && first.starts_with(b"354");
        t.turns.push(Turn { command, reply });
    }
    t
}

/// A message body as the client delivers it: the lines of a recorded
/// RETR/TOP reply between the status and ".", dot-unstuffed, CRLF each.
fn body_of(turn: &Turn) -> Vec<u8> {
    let mut body = Vec::new();
    for line in &turn.reply[1..turn.reply.len() - 1] {
        body.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
        body.extend_from_slice(b"\r\n");
    }
    body
}

/// The numbers of a recorded status line ("+OK 4 1234"), in order.
fn numbers_in(line: &[u8]) -> Vec<u64> {
    String::from_utf8_lossy(line).split(' ').filter_map(|w| w.parse().ok()).collect()
}

// ------------------------------------------------------------ mutations

/// What a case does to the session it plays.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// The recording unchanged: every result is checked against it.
    Control,
    /// Close the connection at a random byte of a reply.
    Drop,
    /// Stop sending at a random byte (the client's timeout must fire).
    Stall,
    /// Send a reply one byte at a time.
    Trickle,
    /// A line far over 8 KiB, terminated.
    HugeLine,
    /// A reply without its final line end (or "." line), then silence or EOF.
    Unterminated,
    /// Megabytes without a line end.
    Flood,
    /// A multi-line reply whose lines never end: listings, CAPA, EHLO.
    EndlessListing,
    /// Invalid or inconsistent status and reply codes.
    BadCode,
    /// A continuation ("+ " / "334") where none belongs.
    Continuation,
    /// Bytes 0x80..0xFF inside lines.
    NonUtf8,
    /// A few bits flipped anywhere in a reply (line ends included).
    BitFlip,
    /// Bytes inserted into or deleted from lines (CR, LF, NUL, dots...).
    InsertDelete,
    /// Numbers replaced by 2^64-1, 2^64, 2^32, -1, 0 and longer ones.
    HugeNumbers,
}

const KINDS: [Kind; 14] = [
    Kind::Control,
    Kind::Drop,
    Kind::Stall,
    Kind::Trickle,
    Kind::HugeLine,
    Kind::Unterminated,
    Kind::Flood,
    Kind::EndlessListing,
    Kind::BadCode,
    Kind::Continuation,
    Kind::NonUtf8,
    Kind::BitFlip,
    Kind::InsertDelete,
    Kind::HugeNumbers,
];

/// How the server sends one (possibly mutated) reply.
enum Action {
    Send(Vec<u8>),
    /// One byte at a time with this pause between bytes.
    Trickle(Vec<u8>, Duration),
    /// Send, then close the connection.
    ThenClose(Vec<u8>),
    /// Send, then send nothing more (reading on until the client leaves).
    ThenStall(Vec<u8>),
    /// Send `head`, then `unit` again and again up to `total` bytes; then
    /// stall or close.
    Flood {
        head: Vec<u8>,
        unit: Vec<u8>,
        total: usize,
        then_stall: bool,
    },
}

fn joined(lines: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in lines {
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    out
}

const HUGE_NUMBERS: [&str; 10] = [
    "18446744073709551615",
    "18446744073709551616",
    "4294967295",
    "4294967296",
    "9223372036854775808",
    "999999999999999999999999999999",
    "-1",
    "0",
    "00000000000000000000000000000001",
    "+5",
];

fn mutate(spec: &CaseSpec, lines: &[Vec<u8>], rng: &mut Rng) -> Action {
    let (kind, protocol) = (spec.kind, spec.protocol);
    let mut lines = lines.to_vec();
    if lines.is_empty() {
        lines.push(Vec::new());
    }
    let bytes = joined(&lines);
    let any_line = |rng: &mut Rng, lines: &[Vec<u8>]| rng.below(lines.len());
    match kind {
        Kind::Control => Action::Send(bytes),
        Kind::Drop => Action::ThenClose(bytes[..rng.below(bytes.len() + 1)].to_vec()),
        Kind::Stall => Action::ThenStall(bytes[..rng.below(bytes.len() + 1)].to_vec()),
        Kind::Trickle => {
            let pause = (TRICKLE_TOTAL / bytes.len().max(1) as u32).min(Duration::from_millis(5));
            Action::Trickle(bytes, pause)
        }
        Kind::HugeLine => {
            let i = any_line(rng, &lines);
            let len = rng.range(8 * 1024 + 1, 600 * 1024);
            let filler = *rng.pick(b"x .9");
            let mut line = lines[i].clone();
            line.resize(len.max(line.len()), filler);
            if rng.chance(2) {
                lines[i] = line;
            } else {
                lines.insert(i, line);
            }
            Action::Send(joined(&lines))
        }
        Kind::Unterminated => {
            let mut cut = bytes.clone();
            cut.truncate(cut.len().saturating_sub(2));
            if lines.len() > 1 && rng.chance(2) {
                cut = joined(&lines[..lines.len() - 1]); // a multi-line reply without its "."
            }
            if rng.chance(2) { Action::ThenStall(cut) } else { Action::ThenClose(cut) }
        }
        Kind::Flood => {
            let head = match protocol {
                Protocol::Pop3 => rng.pick_bytes(&[&b"+OK "[..], b"-ERR ", b"", b"+OK\r\n"]).to_vec(),
                Protocol::Smtp => rng.pick_bytes(&[&b"250 "[..], b"250-", b"", b"354 "]).to_vec(),
            };
            let unit = rng.pick_bytes(&[&b"A"[..], b"\x00", b"\xff\xfe", b" ", b"\r"]).to_vec();
            Action::Flood { head, unit, total: rng.range(2 << 20, 16 << 20), then_stall: rng.chance(2) }
        }
        Kind::EndlessListing => {
            let (head, unit) = match protocol {
                _ if spec.listing_line.is_some() => (joined(&lines[..1]), spec.listing_line.unwrap().to_vec()),
                Protocol::Pop3 => {
                    let unit = rng.pick_bytes(&[
                        &b"1 100\r\n"[..],
                        b"7 0000000000000000000000000001\r\n",
                        b"2 uid\r\n",
                        b"X\r\n",
                    ]);
                    (joined(&lines[..1]), unit.to_vec())
                }
                Protocol::Smtp => {
                    let code = lines[0].get(..3).unwrap_or(b"250").to_vec();
                    let mut unit = code.clone();
                    unit.extend_from_slice(rng.pick_bytes(&[&b"-PIPELINING\r\n"[..], b"-X\r\n", b"-\r\n"]));
                    (unit.clone(), unit)
                }
            };
            Action::Flood { head, unit, total: rng.range(2 << 20, 16 << 20), then_stall: true }
        }
        Kind::BadCode => {
            let i = if rng.chance(2) { 0 } else { any_line(rng, &lines) };
            let line = &mut lines[i];
            match protocol {
                Protocol::Pop3 => {
                    let status_len = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
                    let bad = rng.pick_bytes(&[
                        &b""[..],
                        b"+",
                        b"-",
                        b"+OKAY",
                        b"+ok",
                        b"OK",
                        b"-ERR",
                        b"+OK+OK",
                        b"*",
                        b"250",
                        b"\x00OK",
                        b"+\xffOK",
                        b"+ ",
                    ]);
                    line.splice(..status_len, bad.to_vec());
                }
                Protocol::Smtp => {
                    let code_len = line.len().min(3);
                    let bad = rng.pick_bytes(&[
                        &b""[..],
                        b"2",
                        b"25",
                        b"2500",
                        b"099",
                        b"600",
                        b"999",
                        b"abc",
                        b"-250",
                        b"550",
                        b"421",
                        b"354",
                        b"334",
                        b"25 0",
                        b"\xff50",
                    ]);
                    line.splice(..code_len, bad.to_vec());
                    if rng.chance(3) && line.len() > 3 {
                        line[3] = *rng.pick(b"- x\t"); // a continuation that never ends, or none
                    }
                }
            }
            Action::Send(joined(&lines))
        }
        Kind::Continuation => {
            let stray: &[u8] = match protocol {
                Protocol::Pop3 => rng.pick_bytes(&[&b"+ "[..], b"+", b"+ dGVzdA==", b"+ \xff\xfe"]),
                Protocol::Smtp => rng.pick_bytes(&[&b"334 "[..], b"334 VXNlcm5hbWU6", b"334-x", b"354 go ahead"]),
            };
            let at = rng.below(lines.len() + 1);
            lines.insert(at, stray.to_vec());
            Action::Send(joined(&lines))
        }
        Kind::NonUtf8 => {
            let i = any_line(rng, &lines);
            for _ in 0..rng.range(1, 8) {
                let at = rng.below(lines[i].len() + 1);
                lines[i].insert(at, 0x80 + rng.below(0x80) as u8);
            }
            Action::Send(joined(&lines))
        }
        Kind::BitFlip => {
            let mut bytes = bytes;
            for _ in 0..rng.range(1, 4) {
                let at = rng.below(bytes.len());
                bytes[at] ^= 1 << rng.below(8);
            }
            Action::Send(bytes)
        }
        Kind::InsertDelete => {
            for _ in 0..rng.range(1, 4) {
                let i = any_line(rng, &lines);
                let line = &mut lines[i];
                if rng.chance(2) && !line.is_empty() {
                    line.remove(rng.below(line.len()));
                } else {
                    let random = rng.below(256) as u8;
                    let byte = *rng.pick(&[b'\r', b'\n', 0, b'.', b' ', b'-', b'+', b'0', random]);
                    line.insert(rng.below(line.len() + 1), byte);
                }
            }
            Action::Send(joined(&lines))
        }
        Kind::HugeNumbers => {
            for line in &mut lines {
                // SMTP's reply code stays: the numbers after it are the target.
                let keep = if protocol == Protocol::Smtp { line.len().min(4) } else { 0 };
                let mut out = line[..keep].to_vec();
                let mut rest = &line[keep..];
                while !rest.is_empty() {
                    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
                    if digits > 0 {
                        if rng.chance(2) {
                            out.extend_from_slice(rng.pick(&HUGE_NUMBERS).as_bytes());
                        } else {
                            out.extend_from_slice(&rest[..digits]);
                        }
                        rest = &rest[digits..];
                    } else {
                        out.push(rest[0]);
                        rest = &rest[1..];
                    }
                }
                *line = out;
            }
            Action::Send(joined(&lines))
        }
    }
}

// ------------------------------------------------------------ the hostile server

/// The server's end of a connection, plain or TLS.
enum Conn {
    Plain(TcpStream),
    Tls(Box<native_tls::TlsStream<TcpStream>>),
}

impl Conn {
    fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(s) => s,
            Conn::Tls(s) => s.get_ref(),
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}

/// Client lines, read with a deadline for the whole case.
struct LineReader {
    buf: Vec<u8>,
    deadline: Instant,
}

impl LineReader {
    /// The next line without CRLF; None when the client is gone (EOF, an
    /// error, or the case deadline).
    fn next(&mut self, conn: &mut Conn) -> Option<Vec<u8>> {
        loop {
            if let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Some(line);
            }
            if Instant::now() > self.deadline {
                return None;
            }
            let mut chunk = [0u8; 16 * 1024];
            match conn.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    if self.buf.len() > 1 << 20 {
                        self.buf.clear(); // a client line this long is content we do not read
                    }
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {}
                Err(_) => return None,
            }
        }
    }
}

/// Picks the recorded reply for each client line.
struct Responder<'a> {
    transcript: &'a Transcript,
    used: Vec<bool>,
}

impl Responder<'_> {
    /// The first unused turn with this exact command, else with the same
    /// verb, else the last turn with that verb again, else a refusal.
    fn reply_for(&mut self, command: &str) -> Vec<Vec<u8>> {
        let turns = &self.transcript.turns;
        let v = verb(command);
        let found = (0..turns.len())
            .find(|&i| !self.used[i] && turns[i].command == command)
            .or_else(|| (0..turns.len()).find(|&i| !self.used[i] && verb(&turns[i].command) == v))
            .or_else(|| (0..turns.len()).rev().find(|&i| verb(&turns[i].command) == v));
        match found {
            Some(i) => {
                self.used[i] = true;
                turns[i].reply.clone()
            }
            None => match self.transcript.protocol {
                Protocol::Pop3 => vec![b"-ERR Unknown command.".to_vec()],
                Protocol::Smtp => vec![b"502 5.5.2 Error: command not recognized".to_vec()],
            },
        }
    }
}

/// Send what `action` says. Returns false when the session is over
/// (closed, stalled to the end, or the client went away).
fn perform(conn: &mut Conn, action: Action, lines: &mut LineReader) -> bool {
    let stall = |conn: &mut Conn, lines: &mut LineReader| while lines.next(conn).is_some() {};
    match action {
        Action::Send(bytes) => conn.write_all(&bytes).and_then(|_| conn.flush()).is_ok(),
        Action::Trickle(bytes, pause) => {
            for b in bytes {
                if conn.write_all(&[b]).and_then(|_| conn.flush()).is_err() {
                    return false;
                }
                std::thread::sleep(pause);
            }
            true
        }
        Action::ThenClose(bytes) => {
            let _ = conn.write_all(&bytes).and_then(|_| conn.flush());
            false
        }
        Action::ThenStall(bytes) => {
            let _ = conn.write_all(&bytes).and_then(|_| conn.flush());
            stall(conn, lines);
            false
        }
        Action::Flood { head, unit, total, then_stall } => {
            let mut chunk = Vec::with_capacity(64 * 1024 + unit.len());
            while chunk.len() < 64 * 1024 {
                chunk.extend_from_slice(&unit);
            }
            if conn.write_all(&head).is_err() {
                return false;
            }
            let mut sent = 0;
            while sent < total {
                if conn.write_all(&chunk).is_err() || Instant::now() > lines.deadline {
                    return false;
                }
                sent += chunk.len();
            }
            let _ = conn.flush();
            if then_stall {
                stall(conn, lines);
            }
            false
        }
    }
}

/// Play `transcript` on `conn`, mutating reply number `target` (0 is the
/// greeting) as `kind` says.
fn play(mut conn: Conn, transcript: &Transcript, spec: &CaseSpec, deadline: Instant) {
    let rng = &mut Rng::new(spec.seed ^ 0x5e7e);
    let _ = conn.tcp().set_read_timeout(Some(Duration::from_millis(50)));
    let _ = conn.tcp().set_write_timeout(Some(Duration::from_secs(10)));
    let mut lines = LineReader { buf: Vec::new(), deadline };
    let mut responder = Responder { transcript, used: vec![false; transcript.turns.len()] };
    let protocol = transcript.protocol;
    let mut reply = transcript.greeting.clone();
    let mut index = 0;
    let mut command = String::new();
    loop {
        let action = if index == spec.target { mutate(spec, &reply, rng) } else { Action::Send(joined(&reply)) };
        let sent_first = match &action {
            Action::Send(b) | Action::Trickle(b, _) | Action::ThenClose(b) | Action::ThenStall(b) => b.clone(),
            Action::Flood { head, .. } => head.clone(),
        };
        if !perform(&mut conn, action, &mut lines) || verb(&command) == "QUIT" {
            break;
        }
        let continuation = match protocol {
            Protocol::Pop3 => sent_first.starts_with(b"+ ") || sent_first.starts_with(b"+\r"),
            Protocol::Smtp => sent_first.starts_with(b"334"),
        };
        // After a 354, the message content up to its "." is skipped.
        let in_data = protocol == Protocol::Smtp && verb(&command) == "DATA" && sent_first.starts_with(b"354");
        let Some(line) = (loop {
            let Some(line) = lines.next(&mut conn) else { break None };
            if in_data && line != b"." {
                continue;
            }
            break Some(line);
        }) else {
            break;
        };
        command = if continuation { REDACTED.to_string() } else { String::from_utf8_lossy(&line).into_owned() };
        reply = responder.reply_for(&command);
        index += 1;
    }
    let _ = conn.tcp().shutdown(std::net::Shutdown::Both);
}

/// The test's TLS identity (tests/data/hostile: a CA and a localhost
/// certificate it signed, made once with openssl, valid for 100 years).
struct Tls {
    acceptor: native_tls::TlsAcceptor,
    ca_pem: Vec<u8>,
    pin: String,
}

impl Tls {
    fn load() -> Tls {
        let read = |name: &str| std::fs::read(data_dir().join(name)).unwrap();
        let identity = native_tls::Identity::from_pkcs8(&read("server.pem"), &read("server.key")).unwrap();
        let acceptor = native_tls::TlsAcceptor::new(identity).unwrap();
        let pin = String::from_utf8(read("server.sha256")).unwrap().trim().to_string();
        Tls { acceptor, ca_pem: read("ca.pem"), pin }
    }
}

/// A hostile server for one connection of one case.
struct Server {
    port: u16,
    thread: JoinHandle<()>,
}

impl Server {
    fn start(transcript: Transcript, tls: Option<native_tls::TlsAcceptor>, spec: CaseSpec) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            let tcp = loop {
                match listener.accept() {
                    Ok((tcp, _)) => break tcp,
                    Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(2)),
                    Err(_) => return,
                }
            };
            tcp.set_nonblocking(false).unwrap();
            let _ = tcp.set_nodelay(true);
            let conn = match tls {
                None => Conn::Plain(tcp),
                Some(acceptor) => {
                    let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
                    match acceptor.accept(tcp) {
                        Ok(s) => Conn::Tls(Box::new(s)),
                        Err(_) => return,
                    }
                }
            };
            play(conn, &transcript, &spec, deadline);
        });
        Server { port, thread }
    }
}

// ------------------------------------------------------------ the C client

/// Where the client thread is, for the watchdog: the call running and
/// since when.
#[derive(Default)]
struct Progress {
    current: Mutex<Option<(&'static str, Instant)>>,
}

/// What a case found, kept outside the counted heap.
#[derive(Default)]
struct Findings {
    problems: Vec<String>,
    /// (call, result, peak heap of the call, last_error) of every call made.
    results: Vec<(&'static str, mailtls_result, isize, String)>,
}

/// The settings of a case, all drawn from its seed.
#[derive(Clone, Copy, Debug)]
struct CaseSpec {
    seed: u64,
    protocol: Protocol,
    kind: Kind,
    /// Which reply is mutated (0: the greeting).
    target: usize,
    tls: Option<TlsTrust>,
    io_timeout_ms: u32,
    connect_timeout_ms: u32,
    /// Log in with the automatic mechanism choice instead of PLAIN.
    auto_mechanism: bool,
    trace: bool,
    /// For the deterministic tests of findings: the line an EndlessListing
    /// repeats, instead of one drawn from the seed.
    listing_line: Option<&'static [u8]>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TlsTrust {
    Ca,
    Pin,
}

impl CaseSpec {
    fn from_seed(seed: u64, pop3_turns: usize, smtp_turns: usize) -> CaseSpec {
        let mut rng = Rng::new(seed);
        let protocol = if rng.chance(2) { Protocol::Pop3 } else { Protocol::Smtp };
        let kind = *rng.pick(&KINDS);
        let turns = if protocol == Protocol::Pop3 { pop3_turns } else { smtp_turns };
        CaseSpec {
            seed,
            protocol,
            kind,
            target: rng.below(turns + 1),
            tls: match rng.below(8) {
                0 => Some(TlsTrust::Ca),
                1 => Some(TlsTrust::Pin),
                _ => None,
            },
            io_timeout_ms: rng.range(300, 1000) as u32,
            connect_timeout_ms: 1000,
            auto_mechanism: rng.chance(8),
            trace: rng.chance(2),
            listing_line: None,
        }
    }

    /// The longest any one call may take.
    fn call_bound(&self) -> Duration {
        Duration::from_millis((self.io_timeout_ms + self.connect_timeout_ms).into()) + TRICKLE_TOTAL + SLACK
    }
}

/// What the trace callback saw.
#[derive(Default)]
struct TraceSeen {
    events: u64,
    secret_shown: bool,
    bad_kind: bool,
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The secrets that must never show: the password and the AUTH PLAIN
/// payload that carries it.
fn secrets() -> &'static [Vec<u8>] {
    static SECRETS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SECRETS.get_or_init(|| {
        use base64::Engine;
        let plain = format!("\0{USER}\0{PASSWORD}");
        vec![PASSWORD.as_bytes().to_vec(), base64::engine::general_purpose::STANDARD.encode(plain).into_bytes()]
    })
}

unsafe extern "C" fn on_trace(userdata: *mut c_void, kind: mailtls_trace_kind, data: *const u8, len: usize) {
    // SAFETY: userdata is the case's TraceSeen, alive while the handle is.
    let seen = unsafe { &mut *userdata.cast::<TraceSeen>() };
    seen.events += 1;
    seen.bad_kind |= kind > MAILTLS_TRACE_REPLY;
    if len > 0 {
        // SAFETY: the library passes `len` readable bytes.
        let bytes = unsafe { std::slice::from_raw_parts(data, len) };
        seen.secret_shown |= secrets().iter().any(|s| contains(bytes, s));
    }
}

/// A streaming sink: a running hash and length, without allocating (the
/// client thread's heap is what is measured).
#[derive(Clone, Copy)]
struct Sink {
    len: u64,
    hash: u64,
    null_data: bool,
}

impl Default for Sink {
    fn default() -> Sink {
        Sink { len: 0, hash: 0xcbf2_9ce4_8422_2325, null_data: false }
    }
}

impl Sink {
    fn feed(&mut self, bytes: &[u8]) {
        self.len += bytes.len() as u64;
        for &b in bytes {
            self.hash = (self.hash ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn of(bytes: &[u8]) -> Sink {
        let mut s = Sink::default();
        s.feed(bytes);
        s
    }
    fn same(&self, other: &Sink) -> bool {
        self.len == other.len && self.hash == other.hash
    }
}

unsafe extern "C" fn on_data(userdata: *mut c_void, data: *const u8, len: usize) -> c_int {
    // SAFETY: userdata is a Sink on the client's stack for the call.
    let sink = unsafe { &mut *userdata.cast::<Sink>() };
    if data.is_null() {
        sink.null_data = true;
        return 1;
    }
    // SAFETY: the library passes `len` readable bytes.
    sink.feed(unsafe { std::slice::from_raw_parts(data, len) });
    c_int::from(sink.len > SINK_LIMIT)
}

/// What retr_many delivered: a sink per requested message, in order.
#[derive(Default)]
struct ManySeen {
    numbers: [u32; 4],
    sinks: [Sink; 4],
    ended: usize,
    out_of_order: bool,
}

unsafe extern "C" fn on_message(userdata: *mut c_void, number: u32, data: *const u8, len: usize) -> c_int {
    // SAFETY: userdata is a ManySeen on the client's stack for the call.
    let seen = unsafe { &mut *userdata.cast::<ManySeen>() };
    if seen.ended >= seen.numbers.len() || seen.numbers[seen.ended] != number {
        seen.out_of_order = true;
        return 1;
    }
    if data.is_null() {
        seen.ended += 1; // the end marker of this message
        return 0;
    }
    let sink = &mut seen.sinks[seen.ended];
    // SAFETY: the library passes `len` readable bytes.
    sink.feed(unsafe { std::slice::from_raw_parts(data, len) });
    c_int::from(sink.len > SINK_LIMIT)
}

/// A message source for mailtls_smtp_send.
struct Source {
    data: &'static [u8],
    pos: usize,
}

unsafe extern "C" fn read_source(userdata: *mut c_void, buf: *mut u8, len: usize) -> i64 {
    // SAFETY: userdata is a Source on the client's stack for the call.
    let source = unsafe { &mut *userdata.cast::<Source>() };
    let n = len.min(source.data.len() - source.pos);
    // SAFETY: the library's buffer holds `len` >= n bytes.
    unsafe { std::ptr::copy_nonoverlapping(source.data[source.pos..].as_ptr(), buf, n) };
    source.pos += n;
    n as i64
}

/// What send_batch reported, message by message.
#[derive(Default)]
struct BatchSeen {
    outcomes: [Option<mailtls_result>; 4],
    reported: usize,
    problems: u32,
    accepted: [u32; 4],
}

unsafe extern "C" fn on_batch(
    userdata: *mut c_void,
    index: usize,
    result: mailtls_result,
    results: *const mailtls_smtp_results,
    _smtp_code: u32,
    error: *const c_char,
) {
    // SAFETY: userdata is a BatchSeen on the client's stack for the call.
    let seen = unsafe { &mut *userdata.cast::<BatchSeen>() };
    if index != seen.reported || index >= seen.outcomes.len() || error.is_null() {
        seen.problems += 1;
        return;
    }
    // SAFETY: a NUL-terminated string borrowed for the call.
    let error = unsafe { CStr::from_ptr(error) }.to_bytes();
    let bad_text = std::str::from_utf8(error).is_err() || (result != MAILTLS_RESULT_OK) == error.is_empty();
    seen.problems += u32::from(bad_text || result == MAILTLS_RESULT_PANIC || !results_are_valid(results));
    seen.accepted[index] =
        (0..mailtls_smtp_results_count(results)).filter(|&i| mailtls_smtp_results_accepted(results, i)).count() as u32;
    seen.outcomes[index] = Some(result);
    seen.reported += 1;
}

/// Every string of per-recipient results is readable UTF-8.
fn results_are_valid(results: *const mailtls_smtp_results) -> bool {
    let text_ok =
        |p: *const c_char| p.is_null() || unsafe { std::str::from_utf8(CStr::from_ptr(p).to_bytes()) }.is_ok();
    (0..mailtls_smtp_results_count(results)).all(|i| {
        !mailtls_smtp_results_address(results, i).is_null()
            && text_ok(mailtls_smtp_results_address(results, i))
            && text_ok(mailtls_smtp_results_enhanced(results, i))
            && text_ok(mailtls_smtp_results_text(results, i))
    })
}

/// The results that leave the stream in an unknown state and so close it
/// (the handle's documented contract).
fn closes_the_stream(protocol: Protocol, rc: mailtls_result) -> bool {
    matches!(
        rc,
        MAILTLS_RESULT_TIMEOUT
            | MAILTLS_RESULT_CONNECTION_CLOSED
            | MAILTLS_RESULT_IO_ERROR
            | MAILTLS_RESULT_PROTOCOL_ERROR
            | MAILTLS_RESULT_REPLY_TOO_LONG
            | MAILTLS_RESULT_CANCELLED
            | MAILTLS_RESULT_NOT_CONNECTED
    ) || (300..400).contains(&rc)
        || (protocol == Protocol::Pop3 && rc == MAILTLS_RESULT_MESSAGE_TOO_LARGE)
}

/// One case's client: the handle's calls, each timed and checked.
struct Client<'a> {
    spec: CaseSpec,
    progress: &'a Progress,
    findings: &'a Mutex<Findings>,
    /// The last call left the stream closed: the next must say NOT_CONNECTED.
    closed_by: Option<(&'static str, mailtls_result)>,
    /// PASSWORD, except when recording from the real servers.
    password: &'a str,
    /// The heap live when the case started, and the highest since.
    heap_base: isize,
    heap_peak: isize,
}

impl Client<'_> {
    fn problem(&self, text: impl FnOnce() -> String) {
        heap::uncounted(|| {
            let text = text();
            self.findings.lock().unwrap().problems.push(text);
        });
    }

    /// Run one C call: watchdog bookkeeping, the result checks, and the
    /// last_error text through `last_error` (mailtls_*_last_error).
    fn call(
        &mut self,
        name: &'static str,
        body: impl FnOnce() -> mailtls_result,
        last_error: impl Fn(*mut c_char, usize, *mut usize) -> mailtls_result,
    ) -> mailtls_result {
        *self.progress.current.lock().unwrap() = Some((name, Instant::now()));
        self.heap_peak = self.heap_peak.max(heap::peak());
        let live_before = heap::restart_peak();
        let started = Instant::now();
        let rc = body();
        let took = started.elapsed();
        let peak = heap::peak();
        *self.progress.current.lock().unwrap() = None;
        self.heap_peak = self.heap_peak.max(peak);
        let call_peak = peak - live_before;
        heap::uncounted(|| self.findings.lock().unwrap().results.push((name, rc, call_peak, String::new())));
        let budget = if LISTING_CALLS.contains(&name) { LISTING_BUDGET } else { PEAK_BUDGET };
        if call_peak > budget {
            self.problem(|| format!("{name} held {call_peak} bytes at its peak (budget {budget})"));
        }
        if rc == MAILTLS_RESULT_PANIC {
            self.problem(|| format!("{name} returned MAILTLS_RESULT_PANIC"));
        }
        if took > self.spec.call_bound() {
            self.problem(|| format!("{name} took {took:?} (bound {:?})", self.spec.call_bound()));
        }
        if let Some((before, before_rc)) = self.closed_by
            && !matches!(name, "connect" | "quit")
            && rc != MAILTLS_RESULT_NOT_CONNECTED
        {
            self.problem(|| format!("{name} returned {rc} after {before} closed the stream with {before_rc}"));
        }
        if rc != MAILTLS_RESULT_OK {
            self.check_last_error(name, rc, &last_error);
        }
        if closes_the_stream(self.spec.protocol, rc) || name == "quit" {
            self.closed_by = Some((name, rc));
        } else if name == "connect" && rc == MAILTLS_RESULT_OK {
            self.closed_by = None;
        }
        rc
    }

    fn check_last_error(
        &self,
        name: &'static str,
        rc: mailtls_result,
        last_error: &impl Fn(*mut c_char, usize, *mut usize) -> mailtls_result,
    ) {
        let mut len = 0usize;
        let probe = last_error(std::ptr::null_mut(), 0, &mut len);
        if len == 0 || probe != MAILTLS_RESULT_BUFFER_TOO_SMALL {
            self.problem(|| format!("{name} returned {rc} with an empty last_error (probe {probe}, len {len})"));
            return;
        }
        let mut buf = vec![0u8; len + 1];
        let copied = last_error(buf.as_mut_ptr().cast(), buf.len(), &mut len);
        let text = &buf[..len];
        heap::uncounted(|| {
            if let Some(last) = self.findings.lock().unwrap().results.last_mut() {
                last.3 = String::from_utf8_lossy(text).into_owned();
            }
        });
        if copied != MAILTLS_RESULT_OK || buf[len] != 0 || text.contains(&0) {
            self.problem(|| format!("{name}: last_error copy returned {copied} or is not NUL-terminated"));
        }
        if std::str::from_utf8(text).is_err() {
            self.problem(|| format!("{name}: last_error is not UTF-8: {:?}", String::from_utf8_lossy(text)));
        }
        if secrets().iter().any(|s| contains(text, s)) {
            self.problem(|| format!("{name}: last_error shows the password"));
        }
    }

    fn expect(&self, what: &str, ok: bool) {
        if !ok {
            self.problem(|| format!("control: {what}"));
        }
    }
}

/// Options for a case, through the C setters.
fn case_options(spec: &CaseSpec, tls: &Tls, trace: *mut TraceSeen) -> *mut mailtls_options {
    let opts = mailtls_options_new();
    let check = |rc: mailtls_result| assert_eq!(rc, MAILTLS_RESULT_OK, "an option setter failed");
    match spec.tls {
        None => {
            check(mailtls_options_set_security(opts, MAILTLS_SECURITY_NONE));
            check(mailtls_options_set_allow_plaintext_auth(opts, true));
        }
        Some(trust) => {
            check(mailtls_options_set_security(opts, MAILTLS_SECURITY_TLS));
            match trust {
                TlsTrust::Ca => check(mailtls_options_add_ca_pem(opts, tls.ca_pem.as_ptr(), tls.ca_pem.len())),
                TlsTrust::Pin => {
                    let pin = std::ffi::CString::new(tls.pin.clone()).unwrap();
                    check(mailtls_options_set_pin_sha256(opts, pin.as_ptr()));
                }
            }
        }
    }
    check(mailtls_options_set_io_timeout_ms(opts, spec.io_timeout_ms));
    check(mailtls_options_set_connect_timeout_ms(opts, spec.connect_timeout_ms));
    check(mailtls_options_set_max_message_bytes(opts, MAX_MESSAGE_BYTES));
    check(mailtls_options_set_client_name(opts, c"hostile.test".as_ptr()));
    if spec.trace {
        check(mailtls_options_set_trace(opts, Some(on_trace), trace.cast()));
    }
    opts
}

/// Every capability name and argument is readable UTF-8.
fn capabilities_are_valid(caps: *const mailtls_capabilities) -> bool {
    let text_ok =
        |p: *const c_char| !p.is_null() && unsafe { std::str::from_utf8(CStr::from_ptr(p).to_bytes()) }.is_ok();
    (0..mailtls_capabilities_count(caps)).all(|i| {
        text_ok(mailtls_capabilities_name(caps, i))
            && (0..mailtls_capabilities_arg_count(caps, i)).all(|a| text_ok(mailtls_capabilities_arg(caps, i, a)))
    })
}

/// A listing's entries: (number, octets, uid); the uid strings are checked
/// to be UTF-8 and only their presence kept (no allocation that outlives
/// the listing).
fn listing_entries(listing: *const mailtls_pop3_listing) -> Vec<(u32, u64, Option<Sink>, bool)> {
    (0..mailtls_pop3_listing_count(listing))
        .map(|i| {
            let uid = mailtls_pop3_listing_uid(listing, i);
            let (uid, utf8) = if uid.is_null() {
                (None, true)
            } else {
                // SAFETY: a NUL-terminated string owned by the listing.
                let bytes = unsafe { CStr::from_ptr(uid) }.to_bytes();
                (Some(Sink::of(bytes)), std::str::from_utf8(bytes).is_ok())
            };
            (mailtls_pop3_listing_number(listing, i), mailtls_pop3_listing_octets(listing, i), uid, utf8)
        })
        .collect()
}

const RETR_MANY: [u32; 4] = [1, 2, 3, 4];
const RETR_BATCH: [u32; 2] = [3, 4];
const DELE_MANY: [u32; 2] = [2, 3];
const TOP_LINES: u32 = 3;

/// The POP3 session of the recording, through the C API. With `control`,
/// every result is compared with the recording.
fn pop3_session(c: &mut Client<'_>, port: u16, tls: &Tls, control: Option<&Transcript>) {
    let mut trace = TraceSeen::default();
    let opts = case_options(&c.spec, tls, &mut trace);
    let h = mailtls_pop3_new(opts);
    mailtls_options_free(opts);
    assert!(!h.is_null());
    let last_error = |buf: *mut c_char, len: usize, out: *mut usize| mailtls_pop3_last_error(h, buf, len, out);
    let ok = |rc: mailtls_result| rc == MAILTLS_RESULT_OK;
    let expect_ok = |c: &Client<'_>, what: &str, rc: mailtls_result| {
        if control.is_some() {
            c.expect(&format!("{what} returned {rc}"), ok(rc));
        }
    };

    let rc = c.call("connect", || mailtls_pop3_connect(h, c"127.0.0.1".as_ptr(), port), last_error);
    expect_ok(c, "connect", rc);
    if ok(rc) {
        let caps = mailtls_pop3_capabilities(h);
        if !capabilities_are_valid(caps) {
            c.problem(|| "a capability name or argument is not UTF-8".into());
        }
    }
    let mechanism = if c.spec.auto_mechanism { std::ptr::null() } else { c"PLAIN".as_ptr() };
    let user = std::ffi::CString::new(USER).unwrap();
    let password = std::ffi::CString::new(c.password).unwrap();
    let rc = c.call("login", || mailtls_pop3_login(h, user.as_ptr(), password.as_ptr(), mechanism), last_error);
    if !c.spec.auto_mechanism {
        expect_ok(c, "login", rc);
    }

    let (mut count, mut octets) = (0u32, 0u64);
    let rc = c.call("stat", || mailtls_pop3_stat(h, &mut count, &mut octets), last_error);
    expect_ok(c, "stat", rc);
    if let Some(t) = control
        && ok(rc)
    {
        let recorded = numbers_in(&t.turn("STAT").unwrap().reply[0]);
        c.expect("stat differs from the recording", recorded == [u64::from(count), octets]);
    }

    for (name, fetch) in [
        ("list", mailtls_pop3_list as extern "C" fn(_, _) -> _),
        ("uidl", mailtls_pop3_uidl),
        ("list_uidl", mailtls_pop3_list_uidl),
    ] {
        let mut listing = std::ptr::null_mut();
        let rc = c.call(name, || fetch(h, &mut listing), last_error);
        expect_ok(c, name, rc);
        if !ok(rc) {
            continue;
        }
        let entries = listing_entries(listing);
        mailtls_pop3_listing_free(listing);
        if entries.iter().any(|e| !e.3) {
            c.problem(|| format!("{name}: a unique id is not UTF-8"));
        }
        // A size the library cannot represent must be an error, never the
        // "unknown" marker (issue 8, defect 15).
        if name == "list" && entries.iter().any(|e| e.1 == MAILTLS_OCTETS_UNKNOWN) {
            c.problem(|| "list returned OK with an entry of MAILTLS_OCTETS_UNKNOWN octets".into());
        }
        if let Some(t) = control {
            c.expect(&format!("{name}: {} entries, STAT said {count}", entries.len()), entries.len() == count as usize);
            for (number, size, uid, _) in &entries {
                if name != "uidl" {
                    let line = t.turn("LIST").unwrap().reply[1..]
                        .iter()
                        .find(|l| numbers_in(l).first() == Some(&u64::from(*number)));
                    c.expect(&format!("{name}: size of {number}"), line.map(|l| numbers_in(l)[1]) == Some(*size));
                }
                if name != "list" {
                    let line = t.turn("UIDL").unwrap().reply[1..]
                        .iter()
                        .find(|l| numbers_in(l).first() == Some(&u64::from(*number)));
                    let recorded = line.map(|l| Sink::of(l.splitn(2, |&b| b == b' ').nth(1).unwrap_or_default()));
                    c.expect(
                        &format!("{name}: uid of {number}"),
                        matches!((recorded, uid), (Some(r), Some(u)) if r.same(u)),
                    );
                }
            }
        }
    }

    let mut size = 0u64;
    let rc = c.call("list_one", || mailtls_pop3_list_one(h, 2, &mut size), last_error);
    expect_ok(c, "list_one", rc);
    let mut uid = [0 as c_char; 128];
    let mut uid_len = 0usize;
    let rc = c.call("uidl_one", || mailtls_pop3_uidl_one(h, 3, uid.as_mut_ptr(), uid.len(), &mut uid_len), last_error);
    expect_ok(c, "uidl_one", rc);

    let expected = |n: u32| control.map(|t| Sink::of(&body_of(t.turn(&format!("RETR {n}")).unwrap())));
    let mut sink = Sink::default();
    let rc = c.call("retr", || mailtls_pop3_retr(h, 1, Some(on_data), (&raw mut sink).cast()), last_error);
    expect_ok(c, "retr", rc);
    if let Some(e) = expected(1) {
        c.expect("retr 1 differs from the recording", sink.same(&e));
    }
    if sink.null_data {
        c.problem(|| "retr passed a NULL chunk".into());
    }

    let mut buffer = std::ptr::null_mut();
    let rc = c.call("retr_bytes", || mailtls_pop3_retr_bytes(h, 2, &mut buffer), last_error);
    expect_ok(c, "retr_bytes", rc);
    if ok(rc) {
        let len = mailtls_buffer_len(buffer);
        // SAFETY: the buffer's bytes, valid until it is freed.
        let got = Sink::of(unsafe { std::slice::from_raw_parts(mailtls_buffer_data(buffer), len) });
        if len as u64 > MAX_MESSAGE_BYTES {
            c.problem(|| format!("retr_bytes returned {len} bytes, over max_message_bytes"));
        }
        if let Some(e) = expected(2) {
            c.expect("retr_bytes 2 differs from the recording", got.same(&e));
        }
        mailtls_buffer_free(buffer);
    }

    let mut many = ManySeen { numbers: RETR_MANY, ..ManySeen::default() };
    let rc = c.call(
        "retr_many",
        || mailtls_pop3_retr_many(h, RETR_MANY.as_ptr(), RETR_MANY.len(), Some(on_message), (&raw mut many).cast()),
        last_error,
    );
    expect_ok(c, "retr_many", rc);
    if many.out_of_order {
        c.problem(|| "retr_many delivered a message out of order".into());
    }
    if ok(rc) && many.ended != RETR_MANY.len() {
        c.problem(|| format!("retr_many returned OK after {} of {} messages", many.ended, RETR_MANY.len()));
    }
    if control.is_some() {
        for (i, n) in RETR_MANY.iter().enumerate() {
            c.expect(&format!("retr_many message {n} differs"), many.sinks[i].same(&expected(*n).unwrap()));
        }
    }

    let (mut buffer, mut ends, mut got) = (std::ptr::null_mut(), [0u64; RETR_BATCH.len()], 0usize);
    let rc = c.call(
        "retr_batch",
        || mailtls_pop3_retr_batch(h, RETR_BATCH.as_ptr(), RETR_BATCH.len(), &mut buffer, ends.as_mut_ptr(), &mut got),
        last_error,
    );
    expect_ok(c, "retr_batch", rc);
    if matches!(rc, MAILTLS_RESULT_OK | MAILTLS_RESULT_SERVER_ERROR) && !buffer.is_null() {
        let len = mailtls_buffer_len(buffer);
        let sane = got <= RETR_BATCH.len()
            && ends[..got].windows(2).all(|w| w[0] <= w[1])
            && (got == 0 || ends[got - 1] == len as u64)
            && (rc != MAILTLS_RESULT_OK || got == RETR_BATCH.len());
        if !sane {
            c.problem(|| format!("retr_batch returned {rc} with count {got}, ends {ends:?}, {len} bytes"));
        }
        if control.is_some() && sane {
            // SAFETY: the buffer's bytes, valid until it is freed.
            let data = unsafe { std::slice::from_raw_parts(mailtls_buffer_data(buffer), len) };
            let first = ends[0] as usize;
            c.expect("retr_batch message 3", Sink::of(&data[..first]).same(&expected(3).unwrap()));
            c.expect("retr_batch message 4", Sink::of(&data[first..]).same(&expected(4).unwrap()));
        }
        mailtls_buffer_free(buffer);
    }

    let mut sink = Sink::default();
    let rc = c.call("top", || mailtls_pop3_top(h, 1, TOP_LINES, Some(on_data), (&raw mut sink).cast()), last_error);
    expect_ok(c, "top", rc);
    if let Some(t) = control {
        let recorded = Sink::of(&body_of(t.turn(&format!("TOP 1 {TOP_LINES}")).unwrap()));
        c.expect("top differs from the recording", sink.same(&recorded));
    }

    let rc = c.call("dele", || mailtls_pop3_dele(h, 1), last_error);
    expect_ok(c, "dele", rc);
    let rc = c.call("dele_many", || mailtls_pop3_dele_many(h, DELE_MANY.as_ptr(), DELE_MANY.len()), last_error);
    expect_ok(c, "dele_many", rc);
    let rc = c.call("quit", || mailtls_pop3_quit(h), last_error);
    expect_ok(c, "quit", rc);
    mailtls_pop3_free(h);
    check_trace(c, &trace);
}

fn check_trace(c: &Client<'_>, trace: &TraceSeen) {
    if trace.secret_shown {
        c.problem(|| "the trace callback was shown the password".into());
    }
    if trace.bad_kind {
        c.problem(|| "the trace callback got an unknown kind".into());
    }
    if c.spec.trace && c.spec.kind == Kind::Control && trace.events == 0 {
        c.problem(|| "control: no trace event".into());
    }
}

const FROM: &str = "user50@localhost";
const GOOD: &str = "user51@localhost";
const UNKNOWN: &str = "nobody@localhost";
const MESSAGE_ONE: &[u8] =
    b"From: user50@localhost\r\nTo: user51@localhost\r\nSubject: one\r\n\r\nHello.\r\n.leading dot\r\n";
const MESSAGE_TWO: &[u8] = b"From: user50@localhost\nTo: user52@localhost\nSubject: two\n\nbare LF lines\n";
const BATCH: [(&CStr, &[&CStr], &[u8]); 3] = [
    (c"user50@localhost", &[c"user53@localhost"], b"Subject: batch 1\r\n\r\nfirst\r\n"),
    (c"user50@localhost", &[c"user54@localhost", c"nobody@localhost"], b"Subject: batch 2\r\n\r\nsecond\r\n"),
    (c"user50@localhost", &[c"user55@localhost"], b"Subject: batch 3\r\n\r\n..third\r\n"),
];

/// The SMTP session of the recording, through the C API.
fn smtp_session(c: &mut Client<'_>, port: u16, tls: &Tls, control: bool) {
    let mut trace = TraceSeen::default();
    let opts = case_options(&c.spec, tls, &mut trace);
    let h = mailtls_smtp_new(opts);
    mailtls_options_free(opts);
    assert!(!h.is_null());
    let last_error = |buf: *mut c_char, len: usize, out: *mut usize| mailtls_smtp_last_error(h, buf, len, out);
    let ok = |rc: mailtls_result| rc == MAILTLS_RESULT_OK;
    let expect_ok = |c: &Client<'_>, what: &str, rc: mailtls_result| {
        if control {
            c.expect(&format!("{what} returned {rc}"), ok(rc));
        }
    };

    let rc = c.call("connect", || mailtls_smtp_connect(h, c"127.0.0.1".as_ptr(), port), last_error);
    expect_ok(c, "connect", rc);
    if ok(rc) && !capabilities_are_valid(mailtls_smtp_extensions(h)) {
        c.problem(|| "an EHLO keyword or argument is not UTF-8".into());
    }
    let mechanism = if c.spec.auto_mechanism { std::ptr::null() } else { c"PLAIN".as_ptr() };
    let user = std::ffi::CString::new(USER).unwrap();
    let password = std::ffi::CString::new(c.password).unwrap();
    let rc = c.call("login", || mailtls_smtp_login(h, user.as_ptr(), password.as_ptr(), mechanism), last_error);
    if !c.spec.auto_mechanism {
        expect_ok(c, "login", rc);
    }

    let from = std::ffi::CString::new(FROM).unwrap();
    let to = [std::ffi::CString::new(GOOD).unwrap(), std::ffi::CString::new(UNKNOWN).unwrap()];
    let to: Vec<*const c_char> = to.iter().map(|s| s.as_ptr()).collect();
    let mut source = Source { data: MESSAGE_ONE, pos: 0 };
    let mut results = std::ptr::null_mut();
    let rc = c.call(
        "send",
        || {
            let ud = (&raw mut source).cast();
            let size = MESSAGE_ONE.len() as u64;
            mailtls_smtp_send(h, from.as_ptr(), to.as_ptr(), to.len(), Some(read_source), ud, size, &mut results)
        },
        last_error,
    );
    expect_ok(c, "send", rc);
    check_results(c, "send", rc, results, control.then_some(&[true, false][..]));

    let to_two = [c"user52@localhost".as_ptr()];
    let mut results = std::ptr::null_mut();
    let rc = c.call(
        "send_bytes",
        || {
            mailtls_smtp_send_bytes(
                h,
                from.as_ptr(),
                to_two.as_ptr(),
                1,
                MESSAGE_TWO.as_ptr(),
                MESSAGE_TWO.len(),
                &mut results,
            )
        },
        last_error,
    );
    expect_ok(c, "send_bytes", rc);
    check_results(c, "send_bytes", rc, results, control.then_some(&[true][..]));

    let recipients: Vec<Vec<*const c_char>> = BATCH.iter().map(|m| m.1.iter().map(|r| r.as_ptr()).collect()).collect();
    let messages: Vec<mailtls_smtp_message> = BATCH
        .iter()
        .zip(&recipients)
        .map(|(m, to)| mailtls_smtp_message {
            from: m.0.as_ptr(),
            recipients: to.as_ptr(),
            recipient_count: to.len(),
            data: m.2.as_ptr(),
            len: m.2.len(),
        })
        .collect();
    let mut seen = BatchSeen::default();
    let rc = c.call(
        "send_batch",
        || mailtls_smtp_send_batch(h, messages.as_ptr(), messages.len(), Some(on_batch), (&raw mut seen).cast()),
        last_error,
    );
    expect_ok(c, "send_batch", rc);
    if seen.problems > 0 {
        c.problem(|| format!("send_batch: {} malformed outcome reports", seen.problems));
    }
    if ok(rc) && seen.reported != BATCH.len() {
        c.problem(|| format!("send_batch returned OK with {} of {} outcomes", seen.reported, BATCH.len()));
    }
    if control {
        c.expect("send_batch outcomes", seen.outcomes == [Some(0), Some(0), Some(0), None]);
        c.expect("send_batch accepted recipients", seen.accepted[..3] == [1, 1, 1]);
    }

    let rc = c.call("quit", || mailtls_smtp_quit(h), last_error);
    expect_ok(c, "quit", rc);
    mailtls_smtp_free(h);
    check_trace(c, &trace);
}

fn check_results(
    c: &Client<'_>,
    name: &str,
    rc: mailtls_result,
    results: *mut mailtls_smtp_results,
    accepted: Option<&[bool]>,
) {
    if !matches!(rc, MAILTLS_RESULT_OK | MAILTLS_RESULT_RECIPIENTS_REFUSED) {
        return;
    }
    if results.is_null() {
        c.problem(|| format!("{name} returned {rc} without results"));
        return;
    }
    if !results_are_valid(results) {
        c.problem(|| format!("{name}: a recipient result string is not UTF-8"));
    }
    if let Some(accepted) = accepted {
        let got: Vec<bool> =
            (0..mailtls_smtp_results_count(results)).map(|i| mailtls_smtp_results_accepted(results, i)).collect();
        c.expect(&format!("{name} accepted {got:?}"), got == accepted);
    }
    mailtls_smtp_results_free(results);
}

// ------------------------------------------------------------ cases

/// Everything the cases share, loaded once (outside the counted heap).
struct World {
    pop3: Transcript,
    smtp: Transcript,
    tls: Tls,
}

impl World {
    fn load() -> World {
        let _ = secrets();
        World { pop3: Transcript::load(Protocol::Pop3), smtp: Transcript::load(Protocol::Smtp), tls: Tls::load() }
    }
    fn spec(&self, seed: u64) -> CaseSpec {
        CaseSpec::from_seed(seed, self.pop3.turns.len(), self.smtp.turns.len())
    }
}

struct CaseReport {
    spec: CaseSpec,
    problems: Vec<String>,
    results: Vec<(&'static str, mailtls_result, isize, String)>,
    peak: isize,
    duration: Duration,
}

/// Run one case: the hostile server, the client in its own thread with its
/// heap counted, and the watchdog.
fn run_case(world: &'static World, spec: CaseSpec, measured: bool) -> CaseReport {
    let started = Instant::now();
    let transcript = match spec.protocol {
        Protocol::Pop3 => world.pop3.clone(),
        Protocol::Smtp => world.smtp.clone(),
    };
    let acceptor = spec.tls.map(|_| world.tls.acceptor.clone());
    let server = Server::start(transcript, acceptor, spec);
    let progress = Arc::new(Progress::default());
    let findings = Arc::new(Mutex::new(Findings::default()));
    let done = Arc::new(AtomicBool::new(false));
    let client = {
        let (progress, findings, done) = (progress.clone(), findings.clone(), done.clone());
        let port = server.port;
        std::thread::spawn(move || {
            let mut peak = 0;
            let leaked = heap::measure(|| {
                let base = heap::live();
                let mut c = Client {
                    spec,
                    progress: &progress,
                    findings: &findings,
                    closed_by: None,
                    password: PASSWORD,
                    heap_base: base,
                    heap_peak: base,
                };
                let control = spec.kind == Kind::Control;
                match spec.protocol {
                    Protocol::Pop3 => pop3_session(&mut c, port, &world.tls, control.then_some(&world.pop3)),
                    Protocol::Smtp => smtp_session(&mut c, port, &world.tls, control),
                }
                peak = c.heap_peak.max(heap::peak()) - c.heap_base;
            });
            if measured {
                let mut f = findings.lock().unwrap();
                if leaked != 0 {
                    f.problems.push(format!("{leaked} bytes allocated by the case are still live after every free"));
                }
            }
            done.store(true, Ordering::SeqCst);
            peak
        })
    };
    // The watchdog: no call may run past the bound.
    while !done.load(Ordering::SeqCst) && !client.is_finished() {
        if let Some((call, since)) = *progress.current.lock().unwrap()
            && since.elapsed() > spec.call_bound()
        {
            panic!(
                "HANG: seed {} ({:?} {:?}, target reply {}, tls {:?}, io timeout {} ms): {call} has not returned after \
                 {:?}; replay with MAILTLS_HOSTILE_SEED={}",
                spec.seed,
                spec.protocol,
                spec.kind,
                spec.target,
                spec.tls,
                spec.io_timeout_ms,
                since.elapsed(),
                spec.seed
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let peak = client.join().unwrap_or_else(|_| panic!("the client thread panicked (see above): {}", describe(&spec)));
    // The handle is freed: the server must see the connection end.
    let until = Instant::now() + Duration::from_secs(10);
    while !server.thread.is_finished() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut f = std::mem::take(&mut *findings.lock().unwrap());
    if !server.thread.is_finished() {
        f.problems.push("the server still sees the connection open 10 s after the handle was freed".into());
    }
    let _ = server.thread.join();
    CaseReport { spec, problems: f.problems, results: f.results, peak, duration: started.elapsed() }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| v.trim().parse().unwrap_or_else(|_| panic!("{name}={v:?} is not a number")))
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(World::load)
}

/// One-time allocations of the library and OpenSSL (the TLS context memo,
/// error strings): made here, uncounted, so that cases measure only what
/// they allocate.
fn warm_up(world: &'static World) {
    for (protocol, tls) in [Protocol::Pop3, Protocol::Smtp]
        .into_iter()
        .flat_map(|p| [None, Some(TlsTrust::Ca), Some(TlsTrust::Pin)].map(|t| (p, t)))
    {
        let spec = CaseSpec { protocol, kind: Kind::Control, tls, ..world.spec(0) };
        let report = run_case(world, spec, false);
        assert!(report.problems.is_empty(), "warm-up {protocol:?} tls {tls:?}: {:?}", report.problems);
    }
}

fn describe(spec: &CaseSpec) -> String {
    format!(
        "seed {} ({:?} {:?}, target reply {}, tls {:?}, io timeout {} ms, auto mechanism {}, trace {})",
        spec.seed, spec.protocol, spec.kind, spec.target, spec.tls, spec.io_timeout_ms, spec.auto_mechanism, spec.trace
    )
}

#[test]
fn hostile_servers_against_the_c_api() {
    let world = world();
    warm_up(world);
    if let Some(seed) = env_u64("MAILTLS_HOSTILE_SEED") {
        let report = run_case(world, world.spec(seed), true);
        println!("{} in {:?}, peak heap {} bytes", describe(&report.spec), report.duration, report.peak);
        for (call, rc, peak, error) in &report.results {
            println!("  {call}: {rc} (peak heap {peak} bytes) {error}");
        }
        assert!(report.problems.is_empty(), "{}:\n  {}", describe(&report.spec), report.problems.join("\n  "));
        return;
    }
    let budget = Duration::from_secs(env_u64("MAILTLS_HOSTILE_SECONDS").unwrap_or(45));
    let base = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    println!("hostile servers: base seed {base}, {budget:?}");
    let started = Instant::now();
    let mut per_kind: Vec<(Kind, usize, usize, isize)> = KINDS.iter().map(|&k| (k, 0, 0, 0)).collect();
    let mut per_result = std::collections::BTreeMap::<mailtls_result, usize>::new();
    let mut per_call_peak = std::collections::BTreeMap::<&str, isize>::new();
    let (mut cases, mut tls_cases) = (0usize, 0usize);
    let mut failures = Vec::new();
    let mut rng = Rng::new(base);
    while started.elapsed() < budget && failures.len() < 20 {
        let report = run_case(world, world.spec(rng.next()), true);
        cases += 1;
        tls_cases += usize::from(report.spec.tls.is_some());
        let row = per_kind.iter_mut().find(|r| r.0 == report.spec.kind).unwrap();
        row.1 += 1;
        row.2 += usize::from(!report.problems.is_empty());
        row.3 = row.3.max(report.peak);
        for (call, rc, peak, _) in &report.results {
            *per_result.entry(*rc).or_default() += 1;
            let max = per_call_peak.entry(call).or_default();
            *max = (*max).max(*peak);
        }
        if !report.problems.is_empty() {
            let text = format!(
                "{}: {}; replay with MAILTLS_HOSTILE_SEED={}",
                describe(&report.spec),
                report.problems.join("; "),
                report.spec.seed
            );
            println!("FAILED {text}");
            failures.push(text);
        }
    }
    println!("hostile servers: {cases} cases ({tls_cases} over TLS) in {:?}", started.elapsed());
    println!("  {:<15} {:>6} {:>7} {:>12}", "mutation", "cases", "failed", "peak heap");
    for (kind, n, failed, peak) in &per_kind {
        println!("  {:<15} {n:>6} {failed:>7} {peak:>12}", format!("{kind:?}"));
    }
    let described: Vec<String> = per_result.iter().map(|(rc, n)| format!("{rc}×{n}")).collect();
    println!("  results of all calls: {}", described.join(" "));
    let described: Vec<String> = per_call_peak.iter().map(|(call, peak)| format!("{call} {peak}")).collect();
    println!("  highest peak heap of each call (bytes): {}", described.join(", "));
    assert!(failures.is_empty(), "{} failing cases:\n{}", failures.len(), failures.join("\n"));
}

// ------------------------------------------------------------ findings

/// The reply index of the `nth` (from 0) recorded turn with this command
/// (0 is the greeting).
fn reply_index(transcript: &Transcript, command: &str, nth: usize) -> usize {
    let mut turns = transcript.turns.iter().enumerate().filter(|(_, t)| t.command == command);
    1 + turns.nth(nth).expect("a recorded command").0
}

/// Finding 1: a POP3 server that never ends its UIDL listing makes
/// mailtls_pop3_uidl (and list_uidl, list) hold up to 1,000,000 entries
/// (pop3::MAX_LISTING_ENTRIES) before it fails: about 77 MB of heap, where
/// every other call stays within max_message_bytes plus a few MiB. The
/// limit is a count of entries, not of bytes.
#[test]
#[ignore = "finding for the lead: an endless LIST/UIDL listing holds 25-77 MB (the cap is 1,000,000 entries, not a byte budget)"]
fn endless_listings_stay_within_the_budget() {
    let world = world();
    warm_up(world);
    let mut over = Vec::new();
    // The session calls list, uidl, then list_uidl (UIDL and LIST again).
    for (call, command, nth) in [("list", "LIST", 0), ("uidl", "UIDL", 0), ("list_uidl", "UIDL", 1)] {
        let spec = CaseSpec {
            protocol: Protocol::Pop3,
            kind: Kind::EndlessListing,
            target: reply_index(&world.pop3, command, nth),
            tls: None,
            listing_line: Some(b"1 100\r\n"),
            ..world.spec(1)
        };
        let report = run_case(world, spec, true);
        let (_, rc, peak, error) = report.results.iter().find(|r| r.0 == call).unwrap();
        println!("{call}: result {rc}, peak heap {peak} bytes: {error}");
        if *peak > PEAK_BUDGET {
            over.push(format!("{call} held {peak} bytes"));
        }
    }
    assert!(over.is_empty(), "over the budget of {PEAK_BUDGET} bytes: {}", over.join(", "));
}

// ------------------------------------------------------------ recording

/// A recording relay: the library talks plaintext to it, it talks TLS to
/// the real server's implicit-TLS port, and keeps both byte streams.
/// What a relay recorded: (bytes from the client, bytes from the server).
type Recorded = (Vec<u8>, Vec<u8>);

fn relay(real_port: u16, ca: Vec<u8>) -> (u16, JoinHandle<Recorded>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let thread = std::thread::spawn(move || {
        let (mut client, _) = listener.accept().unwrap();
        let connector = native_tls::TlsConnector::builder()
            .add_root_certificate(native_tls::Certificate::from_pem(&ca).unwrap())
            .build()
            .unwrap();
        let tcp = TcpStream::connect(("127.0.0.1", real_port)).unwrap();
        let mut server = connector.connect("localhost", tcp).unwrap();
        client.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
        server.get_ref().set_read_timeout(Some(Duration::from_millis(5))).unwrap();
        let (mut from_client, mut from_server) = (Vec::new(), Vec::new());
        let mut buf = [0u8; 64 * 1024];
        let idle = |e: &std::io::Error| matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut);
        loop {
            match client.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    from_client.extend_from_slice(&buf[..n]);
                    server.write_all(&buf[..n]).unwrap();
                }
                Err(e) if idle(&e) => {}
                Err(e) => panic!("relay, client side: {e}"),
            }
            match server.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    from_server.extend_from_slice(&buf[..n]);
                    client.write_all(&buf[..n]).unwrap();
                }
                Err(e) if idle(&e) => {}
                Err(e) => panic!("relay, server side: {e}"),
            }
        }
        (from_client, from_server)
    });
    (port, thread)
}

/// The mailbox the POP3 recording reads: a plain message, one with lines
/// that start with dots (dot-stuffed on the wire), a longer one, a short
/// one.
fn recorded_mailbox() -> Vec<Vec<u8>> {
    let mut long = b"From: c@example.org\nTo: user50@localhost\nSubject: longer\n\n".to_vec();
    for i in 0..120 {
        long.extend_from_slice(format!("line {i} of a longer body, with some text to fill it up\n").as_bytes());
    }
    vec![
        b"From: a@example.org\nTo: user50@localhost\nSubject: one\nMessage-ID: <1@example.org>\n\nHello.\nSecond line.\nThird line.\nFourth line.\n".to_vec(),
        b"From: b@example.org\nTo: user50@localhost\nSubject: dots\n\n.leading dot\n..two dots\n.\nmid.dle\n. space\nend\n".to_vec(),
        long,
        b"From: d@example.org\nTo: user50@localhost\nSubject: short\n\nx\n".to_vec(),
    ]
}

/// Record tests/data/hostile/*.txt from the project's Dovecot and Postfix
/// through the relay, with the same C API sessions the hostile test plays:
///
/// ```sh
/// st=$(mktemp -d); bash tests/servers/dovecot.sh start $st; bash tests/servers/postfix.sh start $st; . $st/env.sh
/// cargo nextest run --test hostile_c_api --run-ignored only record_transcripts
/// ```
#[test]
#[ignore = "records the transcripts from the real servers (tests/servers); run by hand"]
fn record_transcripts() {
    let world_tls = Tls::load();
    let ca = std::fs::read(common::env("MAILTLS_TEST_CA")).unwrap();
    let mailbox = recorded_mailbox();
    common::seed(USER, &mailbox.iter().map(Vec::as_slice).collect::<Vec<_>>());
    let spec = CaseSpec {
        seed: 0,
        protocol: Protocol::Pop3,
        kind: Kind::Control,
        target: usize::MAX,
        tls: None,
        io_timeout_ms: 10_000,
        connect_timeout_ms: 5_000,
        auto_mechanism: false,
        trace: false,
        listing_line: None,
    };
    let real_password = common::password();
    for (protocol, port, header) in [
        (Protocol::Pop3, common::port("MAILTLS_TEST_POP3S_PORT"), "Dovecot POP3 (tests/servers/dovecot.sh, pop3s)"),
        (
            Protocol::Smtp,
            common::port("MAILTLS_TEST_SMTPS_PORT"),
            "Postfix submission (tests/servers/postfix.sh, smtps)",
        ),
    ] {
        let (relay_port, relay_thread) = relay(port, ca.clone());
        let progress = Progress::default();
        let findings = Mutex::new(Findings::default());
        // The real servers want the real password; every AUTH line is
        // redacted in the transcript.
        let spec = CaseSpec { protocol, ..spec };
        let mut c = Client {
            spec,
            progress: &progress,
            findings: &findings,
            closed_by: None,
            password: &real_password,
            heap_base: 0,
            heap_peak: 0,
        };
        match protocol {
            Protocol::Pop3 => pop3_session(&mut c, relay_port, &world_tls, None),
            Protocol::Smtp => smtp_session(&mut c, relay_port, &world_tls, false),
        }
        let (from_client, from_server) = relay_thread.join().unwrap();
        let transcript = segment(protocol, &from_client, &from_server);
        let rendered = transcript.render(&format!(
            "{header}: the server side of the session the hostile test plays,\nrecorded by the ignored test \
             record_transcripts in tests/hostile_c_api.rs. S: a server line, C: the client line it answers."
        ));
        assert!(!contains(rendered.as_bytes(), real_password.as_bytes()), "a secret would be recorded");
        std::fs::write(data_dir().join(Transcript::file_name(protocol)), rendered).unwrap();
        let f = findings.lock().unwrap();
        println!("{protocol:?}: {} turns; results {:?}; problems {:?}", transcript.turns.len(), f.results, f.problems);
    }
}
