//! Guarantee 1 of Pop3Client::sync shown by the system calls: a child
//! process syncs a mailbox of the project's Dovecot (tests/servers/
//! dovecot.sh) in delete-after-saving mode over plaintext POP3, so that its
//! DELE commands can be read in its socket writes, under strace. For every
//! message deleted the trace must show, before the write that carries its
//! DELE: the message's file flushed after its last write (fsync or
//! fdatasync of it, or a syncfs of its file system), its rename (or link)
//! into new/, new/ flushed after that, and its record written to the state
//! file and flushed after that. Uses the user order01 only; needs strace
//! (Debian package strace).

mod common;

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{password, plain_options, port, seed};
use mailtls::pop3::Pop3Client;
use mailtls::sync::{Maildir, Retention, SyncOptions};
use mailtls::{Client, Security};

const USER: &str = "order01";
const MESSAGES: usize = 40;
const CHILD_ENV: &str = "MAILTLS_SYNC_STRACE_CHILD";
/// The child is slowed down by ptrace (every traced call stops it twice).
const CHILD_DEADLINE: Duration = Duration::from_secs(300);

/// What strace records: the calls that write, flush, move and remove
/// (those not on every architecture prefixed `?`, which strace skips
/// there), file descriptors shown as paths and sockets (-yy), strings long
/// enough for the pipelined DELEs and the state's records.
const STRACE_ARGS: &[&str] = &[
    "-f",
    "-tt",
    "-yy",
    "-s",
    "65536",
    "-e",
    "trace=?open,openat,close,write,writev,pwrite64,pwritev,pwritev2,sendto,sendmsg,fsync,fdatasync,syncfs,sync,\
     ?rename,renameat,renameat2,?link,linkat,?unlink,unlinkat",
];

/// A plaintext session with the test password (no secret): this test is
/// about seeing the commands.
fn plain_session() -> Pop3Client {
    let mut opts = plain_options();
    opts.security = Security::None;
    // Under ptrace a slow moment must not end the sync.
    opts.io_timeout = Duration::from_secs(60);
    opts.connect_timeout = Duration::from_secs(20);
    let mut client = Pop3Client::connect("127.0.0.1", port("MAILTLS_TEST_POP3_PORT"), &opts).expect("connect");
    client.login(USER, &password(), None).expect("login");
    client
}

fn message(i: usize) -> Vec<u8> {
    format!("From: a@example.org\nSubject: message {i}\n\nbody {i}\n.a dotted line\n{}\n", "x".repeat(i * 37))
        .into_bytes()
}

/// The child: one sync, deleting after saving. Run only by the test below
/// (ignored otherwise).
#[test]
#[ignore = "the strace test's child process"]
fn strace_child() {
    let Ok(spec) = std::env::var(CHILD_ENV) else { return };
    let (md, state) = spec.split_once('\n').expect("Maildir and state");
    let options = SyncOptions { retention: Retention::DeleteAfterSaving, ..SyncOptions::new(state) };
    let mut destination = Maildir::open(Path::new(md)).expect("open the Maildir");
    plain_session().sync(&options, &mut destination, None).expect("the traced sync");
}

/// Two traced syncs with one state file: the first writes the new state
/// whole (temporary file, flush, rename, directory flush), the second
/// appends to it (write, flush).
#[test]
fn strace_shows_every_message_flushed_renamed_and_recorded_before_its_dele() {
    let strace = Command::new("strace").arg("-V").output();
    assert!(
        strace.is_ok_and(|o| o.status.success()),
        "this test needs strace (Debian package strace; tests/install-deps.sh installs it)"
    );
    let root = std::env::temp_dir().join(format!("mailtls-sync-strace-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    // Paths as the kernel shows them (-y resolves symbolic links).
    let root = root.canonicalize().unwrap();
    let state = root.join("state");
    traced_sync(&root.join("first"), &state, 0..MESSAGES / 2);
    assert!(state.exists());
    traced_sync(&root.join("second"), &state, MESSAGES / 2..MESSAGES);
    std::fs::remove_dir_all(&root).unwrap();
}

/// Seed the mailbox with `messages`, sync it into `dir`/Maildir under
/// strace, and check the trace for each message.
fn traced_sync(dir: &Path, state: &Path, messages: std::ops::Range<usize>) {
    std::fs::create_dir_all(dir).unwrap();
    let (md, trace) = (dir.join("Maildir"), dir.join("strace.txt"));
    let originals: Vec<Vec<u8>> = messages.map(message).collect();
    seed(USER, &originals.iter().map(Vec::as_slice).collect::<Vec<_>>());
    // Number, UID, size and content (as stored: LF), from the server.
    let mut client = plain_session();
    let listing: Vec<(u32, String, u64, Vec<u8>)> = client
        .list_uidl()
        .unwrap()
        .into_iter()
        .map(|e| {
            let served = client.retr_to_vec(e.number).unwrap();
            let stored = String::from_utf8(served).unwrap().replace("\r\n", "\n").into_bytes();
            (e.number, e.uid.unwrap(), e.octets.unwrap(), stored)
        })
        .collect();
    client.quit().unwrap();
    assert_eq!(listing.len(), originals.len());

    run_traced_child(&md, state, &trace, &dir.join("child.err"));

    // The sync did its job: each message in new/ once, the server empty.
    let mut saved: HashMap<Vec<u8>, PathBuf> = HashMap::new();
    for entry in std::fs::read_dir(md.join("new")).unwrap() {
        let path = entry.unwrap().path();
        assert!(saved.insert(std::fs::read(&path).unwrap(), path).is_none(), "a message saved twice");
    }
    assert_eq!(saved.len(), originals.len());
    let mut client = plain_session();
    assert_eq!(client.stat().unwrap().0, 0, "the sync emptied the server");
    client.quit().unwrap();

    let calls = parse_trace(&std::fs::read_to_string(&trace).unwrap());
    let pop3_port = port("MAILTLS_TEST_POP3_PORT");
    let mut by_syncfs = 0;
    for (number, uid, size, stored) in &listing {
        let file = saved.get(stored).unwrap_or_else(|| panic!("message {number} is not in the Maildir as served"));
        let what = format!("message {number} (UID {uid}, {})", file.display());
        let file_flush = check_message(&calls, pop3_port, *number, &format!("+ {uid} {size} "), file, &md, state)
            .unwrap_or_else(|why| panic!("{what}: {why} (trace: {})", trace.display()));
        by_syncfs += usize::from(file_flush != "fsync" && file_flush != "fdatasync");
    }
    eprintln!(
        "{}: {} traced calls; {} DELEs, each after its file's flush ({by_syncfs} of them by syncfs/sync), its \
         rename, the flush of new/ and its record's flush in the state",
        dir.display(),
        calls.len(),
        listing.len()
    );
}

/// Check in the trace that, before the socket write that carries DELE
/// `number`: `file` (the message's final path in `md`/new) was moved there
/// (renamed or linked), flushed after its last write, new/ flushed after
/// the move, and `record` written to `state` (directly, or into a file
/// then moved onto it, whose directory is then flushed too) and flushed.
/// Returns the call that flushed the file.
fn check_message(
    calls: &[Call],
    pop3_port: u16,
    number: u32,
    record: &str,
    file: &Path,
    md: &Path,
    state: &Path,
) -> Result<String, String> {
    let dele = calls
        .iter()
        .find(|c| c.is_socket_write(pop3_port) && c.args.contains(&format!("DELE {number}\\r\\n")))
        .ok_or("no socket write carries its DELE")?;
    let before_dele = |c: &&Call| c.exit < dele.entry;
    let last = |filter: &dyn Fn(&Call) -> bool| calls.iter().filter(before_dele).rfind(|c| filter(c));
    let moved_to = |target: &Path| last(&|c| c.moved().is_some_and(|(_, to)| to == target));

    // Moved into new/ (its last move there, if several) ...
    let moved = moved_to(file).ok_or("not renamed or linked into new/ before its DELE")?;
    let temporary = moved.moved().unwrap().0;
    let is_the_file = |p: &Path| p == file || p == temporary;
    // ... its data flushed after its last write ...
    let written = last(&|c| c.is_write() && c.fd_path().is_some_and(|p| is_the_file(&p)))
        .ok_or("no write of its file before its DELE")?;
    let file_flush = flush_between(calls, written.exit, dele.entry, &is_the_file, file)
        .ok_or("its file not flushed between its last write and its DELE")?;
    // ... new/ flushed after the move ...
    let new_dir = md.join("new");
    flush_between(calls, moved.exit, dele.entry, &|p: &Path| p == new_dir, &new_dir)
        .ok_or("new/ not flushed between its rename and its DELE")?;

    // ... and its record written into the state, or into a file moved onto
    // the state afterwards ...
    let state_move = moved_to(state);
    let state_source = state_move.map(|m| m.moved().unwrap().0);
    let is_state = |p: &Path| p == state || state_source.as_deref() == Some(p);
    let recorded = last(&|c| c.is_write() && c.fd_path().is_some_and(|p| is_state(&p)) && c.args.contains(record))
        .ok_or_else(|| format!("its record {record:?} not written to the state before its DELE"))?;
    // ... flushed after that ...
    flush_between(calls, recorded.exit, dele.entry, &is_state, state)
        .ok_or("the state not flushed between its record and its DELE")?;
    // ... and, written under another name, the move onto the state after
    // the record and flushed in its directory.
    if let Some(m) = state_move.filter(|m| m.entry > recorded.exit) {
        let dir = state.parent().unwrap();
        flush_between(calls, m.exit, dele.entry, &|p: &Path| p == dir, dir)
            .ok_or("the state's directory not flushed between the state's rename and its DELE")?;
    }
    Ok(file_flush.name.clone())
}

/// Run the child sync under strace, writing the trace to `trace`; fails
/// the test if it fails or outlives [`CHILD_DEADLINE`].
fn run_traced_child(md: &Path, state: &Path, trace: &Path, stderr: &Path) {
    let mut child = Command::new("strace")
        .args(STRACE_ARGS)
        .arg("-o")
        .arg(trace)
        .arg("--")
        .arg(std::env::current_exe().unwrap())
        .args(["strace_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, format!("{}\n{}", md.display(), state.display()))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(stderr).unwrap())
        .spawn()
        .expect("run strace");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > CHILD_DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the traced sync took over {CHILD_DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let err = std::fs::read_to_string(stderr).unwrap_or_default();
    assert!(status.success(), "the traced sync failed ({status}): {err}");
}

/// A flush that covers `target` (an fsync or fdatasync of a descriptor
/// whose path `is_target` accepts, or a syncfs of its file system, or a
/// sync) begun after `after` and finished before `before` (trace lines).
fn flush_between<'c>(
    calls: &'c [Call],
    after: usize,
    before: usize,
    is_target: &dyn Fn(&Path) -> bool,
    target: &Path,
) -> Option<&'c Call> {
    let file_system = device(target);
    calls.iter().filter(|c| c.entry > after && c.exit < before && c.succeeded()).find(|c| match c.name.as_str() {
        "fsync" | "fdatasync" => c.fd_path().is_some_and(|p| is_target(&p)),
        "syncfs" => c.fd_path().is_some_and(|p| file_system.is_some() && device(&p) == file_system),
        "sync" => true,
        _ => false,
    })
}

/// The file system of `path`, or of its nearest ancestor that exists (a
/// temporary file is gone after its rename).
fn device(path: &Path) -> Option<u64> {
    path.ancestors().find_map(|p| std::fs::metadata(p).ok()).map(|m| m.dev())
}

// ---------------------------------------------------------------- the trace

/// One system call of the trace. `entry` and `exit` are the trace lines
/// where it began and ended (they differ when strace printed it in two
/// parts, another thread's call in between); the trace's order is the
/// order things happened in.
#[derive(Debug)]
struct Call {
    entry: usize,
    exit: usize,
    name: String,
    /// The arguments as strace printed them, strings still escaped.
    args: String,
    result: String,
}

impl Call {
    fn succeeded(&self) -> bool {
        !self.result.starts_with('-') && !self.result.starts_with('?')
    }

    fn is_write(&self) -> bool {
        matches!(self.name.as_str(), "write" | "writev" | "pwrite64" | "pwritev" | "pwritev2" | "sendto" | "sendmsg")
            && self.succeeded()
    }

    /// A write to a TCP connection to `port` on loopback.
    fn is_socket_write(&self, port: u16) -> bool {
        self.is_write()
            && split_args(&self.args)
                .first()
                .and_then(|fd| annotation(fd))
                .is_some_and(|a| a.starts_with("TCP:[") && a.ends_with(&format!("->127.0.0.1:{port}]")))
    }

    /// The path of the descriptor in the first argument (-y).
    fn fd_path(&self) -> Option<PathBuf> {
        let args = split_args(&self.args);
        let a = annotation(args.first()?)?;
        a.starts_with('/').then(|| PathBuf::from(a.trim_end_matches(" (deleted)")))
    }

    /// For a successful rename or link: the path moved from and to.
    fn moved(&self) -> Option<(PathBuf, PathBuf)> {
        if !self.succeeded() {
            return None;
        }
        let args = split_args(&self.args);
        let (from, to) = match self.name.as_str() {
            "rename" | "link" => (resolve(None, args.first()?)?, resolve(None, args.get(1)?)?),
            "renameat" | "renameat2" | "linkat" => {
                (resolve(Some(args.first()?), args.get(1)?)?, resolve(Some(args.get(2)?), args.get(3)?)?)
            }
            _ => return None,
        };
        Some((from, to))
    }
}

/// A path argument (a quoted string), relative to the directory `dirfd`
/// (an `N</dir>` or `AT_FDCWD</dir>` argument) unless absolute.
fn resolve(dirfd: Option<&String>, quoted: &str) -> Option<PathBuf> {
    let path = PathBuf::from(unquote(quoted)?);
    if path.is_absolute() {
        return Some(path);
    }
    Some(Path::new(annotation(dirfd?)?).join(path))
}

/// The text in `<...>` after a descriptor number (-y, -yy).
fn annotation(arg: &str) -> Option<&str> {
    let start = arg.find('<')?;
    arg[start + 1..].strip_suffix('>')
}

/// A string argument without its quotes and escapes.
fn unquote(arg: &str) -> Option<String> {
    let inner = arg.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        out.push(if c == '\\' { chars.next()? } else { c });
    }
    Some(out)
}

/// Split strace's argument list at its top-level commas: not within a
/// string, nor within (), [], {} or a descriptor's <...> (whose
/// "TCP:[a->b]" holds a '>' inside brackets).
fn split_args(args: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut stack: Vec<char> = Vec::new();
    let mut in_string = false;
    let mut escaped = false;
    for c in args.chars() {
        if in_string {
            current.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '(' | '[' | '{' | '<' => stack.push(c),
            ')' | ']' | '}' => {
                stack.pop();
            }
            '>' if stack.last() == Some(&'<') => {
                stack.pop();
            }
            ',' if stack.is_empty() => {
                out.push(current.trim().to_string());
                current.clear();
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_string());
    }
    out
}

/// Parse `strace -f -tt` output: `PID TIME name(args) = result`, or a call
/// in two lines, `name(args <unfinished ...>` and later, from the same
/// PID, `<... name resumed>args) = result`. Signals and exits are skipped.
fn parse_trace(text: &str) -> Vec<Call> {
    const UNFINISHED: &str = " <unfinished ...>";
    let mut calls = Vec::new();
    let mut pending: HashMap<&str, (usize, String)> = HashMap::new();
    for (index, line) in text.lines().enumerate() {
        // strace pads the PID to five columns: "5976  05:16:17.718586 ...".
        let Some((pid, rest)) = line.trim_start().split_once(' ') else { continue };
        let Some((_time, rest)) = rest.trim_start().split_once(' ') else { continue };
        let (entry, whole) = if let Some(start) = rest.strip_suffix(UNFINISHED) {
            pending.insert(pid, (index, start.to_string()));
            continue;
        } else if let Some(resumed) = rest.strip_prefix("<... ") {
            let Some((_, tail)) = resumed.split_once(" resumed>") else { continue };
            let Some((entry, start)) = pending.remove(pid) else { continue };
            (entry, format!("{start}{tail}"))
        } else {
            (index, rest.to_string())
        };
        if let Some(call) = parse_call(&whole, entry, index) {
            calls.push(call);
        }
    }
    calls
}

/// `name(args) = result`, with the closing parenthesis found outside the
/// strings (a message's text can hold anything).
fn parse_call(text: &str, entry: usize, exit: usize) -> Option<Call> {
    let open = text.find('(')?;
    let name = &text[..open];
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, c) in text[open..].char_indices() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    let close = open + i;
                    let result = text[close + 1..].trim_start().strip_prefix("= ")?.trim().to_string();
                    let args = text[open + 1..close].to_string();
                    return Some(Call { entry, exit, name: name.to_string(), args, result });
                }
            }
            _ => {}
        }
    }
    None
}

#[test]
fn the_trace_parser_reads_strace_lines() {
    let trace = "\
1 10:00:00.000001 openat(AT_FDCWD</w>, \"/m/tmp/.a\", O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC, 0666) = 5</m/tmp/.a>
1 10:00:00.000002 write(5</m/tmp/.a>, \"x) = 3, \\\"q\\\" (\", 9) = 9
2 10:00:00.000003 fsync(7</m/new> <unfinished ...>
1 10:00:00.000004 renameat2(AT_FDCWD</w>, \"/m/tmp/.a\", 6</m>, \"new/a\", 0) = 0
2 10:00:00.000005 <... fsync resumed>) = 0
1     10:00:00.000006 write(3<TCP:[127.0.0.1:5->127.0.0.1:110]>, \"DELE 1\\r\\n\", 8) = 8
1 10:00:00.000007 --- SIGCHLD {si_signo=SIGCHLD} ---
1 10:00:00.000008 +++ exited with 0 +++
";
    let calls = parse_trace(trace);
    let names: Vec<_> = calls.iter().map(|c| (c.name.as_str(), c.entry, c.exit)).collect();
    assert_eq!(names, [("openat", 0, 0), ("write", 1, 1), ("renameat2", 3, 3), ("fsync", 2, 4), ("write", 5, 5)]);
    assert_eq!(calls[1].fd_path().unwrap(), Path::new("/m/tmp/.a"));
    assert_eq!(calls[1].result, "9");
    assert_eq!(calls[2].moved().unwrap(), (PathBuf::from("/m/tmp/.a"), PathBuf::from("/m/new/a")));
    assert_eq!(calls[3].fd_path().unwrap(), Path::new("/m/new"));
    assert!(calls[4].is_socket_write(110) && !calls[4].is_socket_write(111));
    assert!(calls[4].args.contains("DELE 1\\r\\n"));
}

/// The check accepts a batch flushed by one syncfs of the Maildir's file
/// system after the renames (instead of an fsync per file and of new/),
/// and refuses the same trace with the DELE written before the syncfs.
#[test]
fn a_syncfs_after_the_last_write_counts_as_the_flush_and_must_come_before_the_dele() {
    let root = std::env::temp_dir().join(format!("mailtls-sync-strace-check-{}", std::process::id()));
    std::fs::create_dir_all(root.join("Maildir/new")).unwrap();
    let root = root.canonicalize().unwrap();
    let r = root.display();
    let (md, state, file) = (root.join("Maildir"), root.join("state"), root.join("Maildir/new/u1,W=5"));
    let lines = [
        format!("write(5<{r}/Maildir/tmp/.u1>, \"hello\", 5) = 5"),
        format!("rename(\"{r}/Maildir/tmp/.u1\", \"{r}/Maildir/new/u1,W=5\") = 0"),
        format!("write(6<{r}/state>, \"+ u1 5 1700000000\\n= 1 abcd\\n\", 28) = 28"),
        format!("syncfs(7<{r}/Maildir>) = 0"),
        "sendto(3<TCP:[127.0.0.1:4000->127.0.0.1:110]>, \"DELE 1\\r\\n\", 8, MSG_NOSIGNAL, NULL, 0) = 8".into(),
    ];
    let trace =
        |order: &[usize]| -> String { order.iter().map(|&i| format!("1 10:00:00.{i:06} {}\n", lines[i])).collect() };
    let check = |text: &str| check_message(&parse_trace(text), 110, 1, "+ u1 5 ", &file, &md, &state);
    assert_eq!(check(&trace(&[0, 1, 2, 3, 4])), Ok("syncfs".to_string()));
    let early = check(&trace(&[0, 1, 2, 4, 3])).unwrap_err();
    assert!(early.contains("not flushed"), "{early}");
    let unrecorded = check(&trace(&[0, 1, 3, 4])).unwrap_err();
    assert!(unrecorded.contains("record"), "{unrecorded}");
    std::fs::remove_dir_all(&root).unwrap();
}
