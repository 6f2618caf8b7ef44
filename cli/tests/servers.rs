//! `mailtls` against the project's Dovecot (POP3) and Postfix (SMTP
//! submission). Users: user56 (check), user57 (wrong password), user58
//! (list), user59 (send), fetch01 and fetch02 (fetch, a test each),
//! cliprobe01 (probe, also through the test tinyproxy).

mod common;

use common::{Run, Servers, base64, mailtls, mailtls_with_input, servers};

fn with_ca<'a>(s: &'a Servers, args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["--ca-file", s.ca.as_str(), "--timeout", "20"];
    all.extend_from_slice(args);
    all
}

/// The certificate lines `check` prints for the test server's certificate.
fn assert_shows_the_test_certificate(s: &Servers, run: &Run) {
    assert!(run.stdout.contains(&format!("SHA-256:    {}\n", s.sha256)), "{run:?}");
    assert!(run.stdout.contains("subject:    O=mailtls tests, CN=localhost\n"), "{run:?}");
    assert!(run.stdout.contains("names:      DNS:localhost, IP:127.0.0.1\n"), "{run:?}");
    assert!(run.stdout.contains("(valid now, "), "{run:?}");
    let tls = run.stdout.lines().find(|l| l.starts_with("TLS:")).expect("a TLS line");
    if cfg!(feature = "native-tls-backend") {
        assert_eq!(tls, "TLS:          unknown, cipher unknown");
    } else {
        assert!(tls.starts_with("TLS:          TLSv1.") && !tls.contains("unknown"), "{tls}");
    }
}

#[test]
fn check_pop3s_shows_the_certificate_capabilities_and_login() {
    let Some(s) = servers() else { return };
    let run = mailtls(&with_ca(&s, &["check", &s.pop3s_url("user56")]), Some(&s.password));
    assert_eq!(run.code, 0, "{run:?}");
    assert_shows_the_test_certificate(&s, &run);
    assert!(run.stdout.contains("(POP3, TLS from the first byte)"), "{run:?}");
    assert!(run.stdout.contains("\n  UIDL\n") && run.stdout.contains("\n  SASL PLAIN"), "{run:?}");
    assert!(run.stdout.contains("login:        ok, as user56"), "{run:?}");
}

#[test]
fn check_pop3_with_stls_and_without_a_user() {
    let Some(s) = servers() else { return };
    let url = format!("pop3://{}:{}", s.host, s.pop3);
    let run = mailtls(&with_ca(&s, &["check", &url]), None);
    assert_eq!(run.code, 0, "{run:?}");
    assert_shows_the_test_certificate(&s, &run);
    assert!(run.stdout.contains("(POP3, upgraded with STARTTLS)"), "{run:?}");
    assert!(run.stdout.contains("login:        not tried"), "{run:?}");
}

#[test]
fn check_smtp_submission_and_smtps() {
    let Some(s) = servers() else { return };
    for url in [s.submission_url("user56"), s.smtps_url("user56")] {
        let run = mailtls(&with_ca(&s, &["check", &url]), Some(&s.password));
        assert_eq!(run.code, 0, "{run:?}");
        assert_shows_the_test_certificate(&s, &run);
        assert!(run.stdout.contains("(SMTP submission, "), "{run:?}");
        assert!(run.stdout.contains("\n  AUTH PLAIN") && run.stdout.contains("\n  SIZE 1048576\n"), "{run:?}");
        assert!(run.stdout.contains("login:        ok, as user56"), "{run:?}");
    }
}

#[test]
fn a_pinned_certificate_needs_no_ca() {
    let Some(s) = servers() else { return };
    let run = mailtls(&["--pin", &s.sha256, "check", &s.pop3s_url("user56")], Some(&s.password));
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("trust:        pinned"), "{run:?}");
    let wrong = "00".repeat(32);
    let run = mailtls(&["--pin", &wrong, "check", &s.pop3s_url("user56")], Some(&s.password));
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains("is not the pinned certificate"), "{run:?}");
}

#[test]
fn an_untrusted_certificate_exits_3_and_says_what_to_do() {
    let Some(s) = servers() else { return };
    for url in [s.pop3s_url("user56"), s.submission_url("user56")] {
        let run = mailtls(&["check", &url], Some(&s.password));
        assert_eq!(run.code, 3, "{run:?}");
        assert!(run.stderr.contains("the server's certificate is not trusted"), "{run:?}");
        assert!(run.stderr.contains("--ca-file"), "{run:?}");
        assert!(!run.stdout.contains("login:"), "nothing was sent: {run:?}");
    }
}

#[test]
fn a_wrong_password_exits_4_and_is_never_shown() {
    let Some(s) = servers() else { return };
    let wrong = "Wrong-Password-4711";
    for url in [s.pop3s_url("user57"), s.submission_url("user57")] {
        for verbose in [false, true] {
            let mut args = with_ca(&s, &["check", &url]);
            if verbose {
                args.insert(0, "--verbose");
            }
            let run = mailtls(&args, Some(wrong));
            assert_eq!(run.code, 4, "{run:?}");
            assert!(run.stdout.contains("login:        FAILED, as user57"), "{run:?}");
            assert!(run.stderr.contains("refused this user name or password"), "{run:?}");
            assert_no_secret(&run, "user57", wrong);
        }
    }
}

/// Neither the password nor any base64 form a SASL exchange would carry.
fn assert_no_secret(run: &Run, user: &str, password: &str) {
    let all = run.all();
    for secret in [
        password.to_string(),
        base64(format!("\0{user}\0{password}").as_bytes()),
        base64(format!("{user}\0{user}\0{password}").as_bytes()),
        base64(password.as_bytes()),
    ] {
        assert!(!all.contains(&secret), "{secret:?} appears in: {run:?}");
    }
}

#[test]
fn verbose_prints_the_redacted_trace_to_stderr() {
    let Some(s) = servers() else { return };
    for (url, greeting) in [(s.pop3s_url("user56"), "S: +OK"), (s.submission_url("user56"), "S: 220 ")] {
        let run = mailtls(&with_ca(&s, &["--verbose", "check", &url]), Some(&s.password));
        assert_eq!(run.code, 0, "{run:?}");
        assert!(run.stderr.contains(greeting) && run.stderr.contains("\nC: QUIT\n"), "{run:?}");
        assert!(run.stderr.contains("* TLS established"), "{run:?}");
        // The login happened, and its credentials were redacted.
        assert!(run.stderr.contains("C: AUTH PLAIN <redacted>"), "{run:?}");
        assert_no_secret(&run, "user56", &s.password);
        assert!(!run.stdout.contains("C: "), "the trace stays off stdout: {run:?}");
    }
}

#[test]
fn list_shows_stat_and_each_message() {
    let Some(s) = servers() else { return };
    let messages: [&[u8]; 3] =
        [b"Subject: one\n\nfirst\n", b"Subject: two\n\nsecond message\n", b"Subject: three\n\nthird\n"];
    s.seed("user58", &messages);
    let run = mailtls(&with_ca(&s, &["list", &s.pop3s_url("user58")]), Some(&s.password));
    assert_eq!(run.code, 0, "{run:?}");
    // Dovecot serves LF as CRLF.
    let sizes: Vec<usize> = messages.iter().map(|m| m.len() + m.iter().filter(|&&b| b == b'\n').count()).collect();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines[0], format!("3 messages, {} bytes", sizes.iter().sum::<usize>()), "{run:?}");
    assert_eq!(lines[1].split_whitespace().collect::<Vec<_>>(), ["number", "bytes", "uid"]);
    assert_eq!(lines.len(), 5, "{run:?}");
    for (i, line) in lines[2..].iter().enumerate() {
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words.len(), 3, "{line}");
        assert_eq!((words[0], words[1]), ((i + 1).to_string().as_str(), sizes[i].to_string().as_str()), "{line}");
    }

    s.seed("user58", &[]);
    let run = mailtls(&with_ca(&s, &["list", &s.pop3_url("user58")]), Some(&s.password));
    assert_eq!((run.code, run.stdout.as_str()), (0, "0 messages, 0 bytes\n"), "{run:?}");
}

#[test]
fn send_reports_each_recipient_and_exits_5_when_one_is_refused() {
    let Some(s) = servers() else { return };
    let marker = "cli-send-two-recipients";
    let message = format!("From: user59@localhost\nTo: user59@localhost\nSubject: {marker}\n\nhello\n");
    let path = std::env::temp_dir().join(format!("mailtls-cli-{}.eml", std::process::id()));
    std::fs::write(&path, &message).unwrap();
    let args = [
        "send",
        &s.submission_url("user59"),
        "--from",
        "user59@localhost",
        "--to",
        "user59@localhost,nobody@localhost",
        path.to_str().unwrap(),
    ];
    let run = mailtls(&with_ca(&s, &args), Some(&s.password));
    std::fs::remove_file(&path).unwrap();
    assert_eq!(run.code, 5, "{run:?}");
    assert!(run.stdout.contains("accepted  user59@localhost  250"), "{run:?}");
    assert!(run.stdout.contains("REFUSED   nobody@localhost  550 5.1.1"), "{run:?}");
    assert!(run.stderr.contains("1 of 2 recipients refused; the message went to the other 1"), "{run:?}");
    assert!(s.delivered("user59", marker), "the accepted recipient got the message");
    assert!(!run.stderr.contains("sending:"), "no progress for a small message: {run:?}");
}

#[test]
fn send_from_stdin_to_refused_recipients_only_sends_nothing() {
    let Some(s) = servers() else { return };
    let args = ["send", &s.smtps_url("user59"), "--from", "user59@localhost", "--to", "nobody@localhost", "-"];
    let run = mailtls_with_input(&with_ca(&s, &args), Some(&s.password), b"Subject: x\n\nnothing\n");
    assert_eq!(run.code, 5, "{run:?}");
    assert!(run.stdout.contains("REFUSED   nobody@localhost"), "{run:?}");
    assert!(run.stderr.contains("every recipient was refused"), "{run:?}");
}

#[test]
fn a_large_message_shows_plain_progress_lines_when_not_on_a_terminal() {
    let Some(s) = servers() else { return };
    let marker = "cli-send-large-with-progress";
    // 900 KiB: under Postfix's 1 MiB limit, three steps of 256 KiB.
    let mut message = format!("From: user59@localhost\nSubject: {marker}\n\n").into_bytes();
    let line = b"0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\n";
    while message.len() + line.len() <= 900 * 1024 {
        message.extend_from_slice(line);
    }
    let total = message.len();
    let args = ["send", &s.submission_url("user59"), "--from", "user59@localhost", "--to", "user59@localhost", "-"];
    let run = mailtls_with_input(&with_ca(&s, &args), Some(&s.password), &message);
    assert_eq!(run.code, 0, "{run:?}");
    let progress: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with("sending: ")).collect();
    let expected: Vec<String> = [262_144, 524_288, 786_432, total]
        .iter()
        .map(|&done| format!("sending: {done} of {total} bytes ({}%)", done * 100 / total))
        .collect();
    assert_eq!(progress, expected, "{run:?}");
    assert!(run.stdout.contains(&format!("sent {total} bytes to 1 recipients")), "{run:?}");
    assert!(s.delivered("user59", marker));
}

/// A fresh directory for a fetch's Maildir (not created: fetch makes it).
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("mailtls-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The contents of the files in a Maildir's new/ and cur/, sorted.
fn maildir_contents(dir: &std::path::Path) -> Vec<Vec<u8>> {
    let mut all = Vec::new();
    for sub in ["new", "cur"] {
        for entry in std::fs::read_dir(dir.join(sub)).expect("a Maildir") {
            all.push(std::fs::read(entry.unwrap().path()).unwrap());
        }
    }
    all.sort();
    all
}

/// The size POP3 gives a message stored with LF line ends: Dovecot serves
/// them as CRLF.
fn served_size(message: &[u8]) -> usize {
    message.len() + message.iter().filter(|&&b| b == b'\n').count()
}

#[test]
fn fetch_saves_each_message_as_stored_then_only_what_is_new() {
    let Some(s) = servers() else { return };
    let large = format!("Subject: large\n\n{}", "0123456789abcdef\n".repeat(200)).into_bytes();
    let small: [&[u8]; 3] = [
        b"Subject: one\n\nfirst\n",
        b"Subject: dots\n\n.a line starting with a dot\n..two\n.\nFrom the start\n",
        // (Not one without a final newline: POP3 cannot carry that, Dovecot
        // adds a CRLF.)
        b"Subject: three\n\n\n\nblank lines above\n",
    ];
    s.seed("fetch01", &[small[0], small[1], &large, small[2]]);
    // Nested and missing: fetch creates it.
    let maildir = scratch("fetch01").join("mail");
    let url = s.pop3s_url("fetch01");
    let fetch = |extra: &[&str]| {
        let mut args = vec!["fetch", url.as_str(), "--maildir", maildir.to_str().unwrap()];
        args.extend_from_slice(extra);
        mailtls(&with_ca(&s, &args), Some(&s.password))
    };

    let run = fetch(&["--max-size", "2000"]);
    assert_eq!(run.code, 0, "{run:?}");
    let small_bytes: usize = small.iter().map(|m| served_size(m)).sum();
    assert!(run.stdout.contains(&format!("downloaded:   3 messages, {small_bytes} bytes\n")), "{run:?}");
    assert!(run.stdout.contains("already had:  0\n") && run.stdout.contains("deleted:      0 on"), "{run:?}");
    assert!(run.stdout.contains("too large:    1, left on the server:\n  "), "{run:?}");
    assert!(run.stdout.contains(&format!("  {} bytes\n", served_size(&large))), "{run:?}");
    let mut expected: Vec<Vec<u8>> = small.iter().map(|m| m.to_vec()).collect();
    expected.sort();
    assert_eq!(maildir_contents(&maildir), expected, "byte for byte, LF line ends as stored");
    let state = maildir.join(".mailtls-sync-fetch01@localhost");
    assert!(state.is_file(), "the default state file");
    assert!(!run.stderr.contains("fetching:") || run.stderr.contains("fetching: 3 of 3 messages"), "{run:?}");

    let run = fetch(&["--max-size", "2000"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.starts_with("downloaded:   0 messages, 0 bytes\nalready had:  3\ntoo large:    1,"), "{run:?}");
    assert!(!run.stderr.contains("fetching:"), "nothing to download, no progress: {run:?}");

    // A state held by another sync: its own message, exit 1, nothing done.
    let lock = format!("{}.lock", state.display());
    // One process holds it (flock -c would leave a child holding it too).
    let mut holder = std::process::Command::new("sh")
        .args(["-c", "exec 9>\"$1\" && flock 9 && echo held && exec sleep 60", "sh", lock.as_str()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("flock(1) from util-linux");
    let mut held = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(holder.stdout.take().unwrap()), &mut held).unwrap();
    assert_eq!(held, "held\n");
    let run = fetch(&[]);
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("is in use by another sync of the same account; nothing was done"), "{run:?}");
    assert_eq!(run.stdout, "", "{run:?}");

    let run = fetch(&[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.starts_with(&format!("downloaded:   1 messages, {} bytes\nalready had:  3\n", served_size(&large)))
    );
    expected.push(large);
    expected.sort();
    assert_eq!(maildir_contents(&maildir), expected);
    std::fs::remove_dir_all(maildir.parent().unwrap()).unwrap();
}

#[test]
fn fetch_delete_empties_the_server_with_progress_lines_and_no_password_in_the_trace() {
    let Some(s) = servers() else { return };
    let messages: Vec<Vec<u8>> =
        (0..250).map(|i| format!("Subject: message {i}\n\nbody of message {i}\n").into_bytes()).collect();
    let seeded: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    s.seed("fetch02", &seeded);
    let maildir = scratch("fetch02");
    let args = ["--verbose", "fetch", &s.pop3_url("fetch02"), "--maildir", maildir.to_str().unwrap(), "--delete"];
    let run = mailtls(&with_ca(&s, &args), Some(&s.password));
    assert_eq!(run.code, 0, "{run:?}");
    let sizes: Vec<usize> = messages.iter().map(|m| served_size(m)).collect();
    let total: usize = sizes.iter().sum();
    let progress: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with("fetching: ")).collect();
    let expected: Vec<String> = [100, 200, 250]
        .iter()
        .map(|&n| format!("fetching: {n} of 250 messages, {} of {total} bytes", sizes[..n].iter().sum::<usize>()))
        .collect();
    assert_eq!(progress, expected, "{run:?}");
    assert!(run.stdout.contains(&format!("downloaded:   250 messages, {total} bytes\n")), "{run:?}");
    assert!(run.stdout.contains("deleted:      250 on the server\n"), "{run:?}");
    let mut expected = messages.clone();
    expected.sort();
    assert_eq!(maildir_contents(&maildir), expected);
    assert_eq!(maildir_contents(&s.maildir("fetch02")), Vec::<Vec<u8>>::new(), "the server's mailbox is empty");
    assert!(run.stderr.contains("C: AUTH PLAIN <redacted>"), "{run:?}");
    assert_no_secret(&run, "fetch02", &s.password);

    let run = mailtls(&with_ca(&s, &["list", &s.pop3s_url("fetch02")]), Some(&s.password));
    assert_eq!((run.code, run.stdout.as_str()), (0, "0 messages, 0 bytes\n"), "{run:?}");
    std::fs::remove_dir_all(&maildir).unwrap();
}

/// `--port` arguments for the four real endpoints, implicit TLS first.
fn probe_ports(s: &Servers) -> Vec<String> {
    [
        format!("pop3:{}:tls", s.pop3s),
        format!("pop3:{}:starttls", s.pop3),
        format!("smtp:{}:tls", s.smtps),
        format!("smtp:{}:starttls", s.submission),
    ]
    .into_iter()
    .flat_map(|p| ["--port".to_string(), p])
    .collect()
}

#[test]
fn probe_prints_the_table_and_recommends_implicit_tls() {
    let Some(s) = servers() else { return };
    let ports = probe_ports(&s);
    let mut args = with_ca(&s, &["probe", &s.host, "--user", "cliprobe01"]);
    args.extend(ports.iter().map(String::as_str));
    let run = mailtls(&args, Some(&s.password));
    assert_eq!(run.code, 0, "{run:?}");
    for (protocol, port, security) in [
        ("POP3", s.pop3s, "SSL/TLS"),
        ("POP3", s.pop3, "STARTTLS"),
        ("SMTP", s.smtps, "SSL/TLS"),
        ("SMTP", s.submission, "STARTTLS"),
    ] {
        let line = run
            .stdout
            .lines()
            .find(|l| l.starts_with(protocol) && l.contains(&format!(" {port}  {security}")))
            .unwrap_or_else(|| panic!("a line for {protocol} {port}: {run:?}"));
        assert!(line.contains(" ok ") && line.contains("login: ok") && line.contains("PLAIN"), "{line}");
    }
    assert!(run.stdout.contains(&format!("certificate {}\n", s.sha256)), "{run:?}");
    assert!(run.stdout.contains(&format!("  POP3  port {}, SSL/TLS\n", s.pop3s)), "{run:?}");
    assert!(run.stdout.contains(&format!("  SMTP  port {}, SSL/TLS\n", s.smtps)), "{run:?}");
}

#[test]
fn probe_without_the_ca_exits_3_and_says_what_to_do() {
    let Some(s) = servers() else { return };
    let port = format!("pop3:{}:tls", s.pop3s);
    let run = mailtls(&["--timeout", "20", "probe", &s.host, "--port", &port], None);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stdout.contains("FAILED  the server's certificate is not trusted"), "{run:?}");
    assert!(run.stdout.contains("--ca-file FILE"), "{run:?}");
    assert!(run.stdout.contains("POP3  nothing works"), "{run:?}");
    assert!(run.stderr.contains("nothing works for POP3"), "{run:?}");
}

#[test]
fn probe_with_a_wrong_password_exits_4() {
    let Some(s) = servers() else { return };
    let port = format!("smtp:{}:tls", s.smtps);
    let run = mailtls(&with_ca(&s, &["probe", &s.host, "--user", "cliprobe01", "--port", &port]), Some("wrong"));
    assert_eq!(run.code, 4, "{run:?}");
    assert!(run.stdout.contains("login: FAILED"), "{run:?}");
    assert!(run.stdout.contains("user name or password"), "{run:?}");
}

/// The test tinyproxy's URL with its credentials (tests/servers/proxies.sh),
/// and its password.
fn http_proxy_url() -> (String, String) {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: start tests/servers/proxies.sh"))
    };
    let password = var("MAILTLS_TEST_HTTP_PROXY_PASSWORD");
    let url = format!(
        "http://{}:{password}@127.0.0.1:{}",
        var("MAILTLS_TEST_HTTP_PROXY_USER"),
        var("MAILTLS_TEST_HTTP_PROXY_PORT")
    );
    (url, password)
}

#[test]
fn check_and_probe_go_through_a_proxy() {
    let Some(s) = servers() else { return };
    let (proxy, proxy_password) = http_proxy_url();
    let run = mailtls(&with_ca(&s, &["--proxy", &proxy, "-v", "check", &s.pop3s_url("cliprobe01")]), Some(&s.password));
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("login:        ok, as cliprobe01"), "{run:?}");
    assert!(run.stderr.contains("C: CONNECT localhost:"), "{run:?}");
    assert!(!run.stdout.contains(&proxy_password) && !run.stderr.contains(&proxy_password), "{run:?}");

    let ports = probe_ports(&s);
    let mut args = with_ca(&s, &["--proxy", &proxy, "probe", &s.host, "--user", "cliprobe01"]);
    args.extend(ports.iter().map(String::as_str));
    let run = mailtls(&args, Some(&s.password));
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout.lines().filter(|l| l.contains("login: ok")).count(), 4, "{run:?}");

    let run = mailtls(&with_ca(&s, &["--proxy", "gopher://x", "check", &s.pop3s_url("cliprobe01")]), None);
    assert_ne!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("unknown proxy scheme"), "{run:?}");
}
