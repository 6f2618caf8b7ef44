//! Running the built `mailtls` against the project's Dovecot and Postfix
//! (tests/servers/*.sh, described by the MAILTLS_TEST_* variables that
//! their env.sh exports; tests/run.sh starts them).

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// The test servers, or `None` (and a note on stderr) when they are not
/// running: the test then checks nothing and says so (outside CI).
pub struct Servers {
    pub host: String,
    pub pop3s: u16,
    pub pop3: u16,
    pub submission: u16,
    pub smtps: u16,
    pub ca: String,
    pub sha256: String,
    pub password: String,
    pub maildir_root: PathBuf,
}

pub fn servers() -> Option<Servers> {
    let var = |name: &str| std::env::var(name).ok();
    let port = |name: &str| var(name)?.parse().ok();
    let found = (|| {
        Some(Servers {
            host: "localhost".into(),
            pop3s: port("MAILTLS_TEST_POP3S_PORT")?,
            pop3: port("MAILTLS_TEST_POP3_PORT")?,
            submission: port("MAILTLS_TEST_SMTP_SUBMISSION_PORT")?,
            smtps: port("MAILTLS_TEST_SMTPS_PORT")?,
            ca: var("MAILTLS_TEST_CA")?,
            sha256: var("MAILTLS_TEST_SERVER_SHA256")?,
            password: var("MAILTLS_TEST_PASSWORD")?,
            maildir_root: var("MAILTLS_TEST_MAILDIR_ROOT")?.into(),
        })
    })();
    if found.is_none() {
        // CI always starts the servers: there a skip would hide a failure.
        assert!(std::env::var_os("CI").is_none(), "CI is set but the MAILTLS_TEST_* variables are not");
        eprintln!(
            "SKIPPED: the MAILTLS_TEST_* variables of the test servers are not set; start them with \
             tests/servers/dovecot.sh and postfix.sh and source their env.sh (tests/run.sh does)"
        );
    }
    found
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Both streams, for checks that something appears in neither.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}\n--- stdout\n{}--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

/// `mailtls ARGS`, with MAILTLS_PASSWORD set to `password` (or unset),
/// no terminal anywhere, and `stdin` as standard input.
pub fn mailtls_with_input(args: &[&str], password: Option<&str>, stdin: &[u8]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mailtls"));
    command
        .args(args)
        .env_remove("MAILTLS_PASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(password) = password {
        command.env("MAILTLS_PASSWORD", password);
    }
    let mut child = command.spawn().expect("run mailtls");
    {
        use std::io::Write;
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin).expect("write stdin");
    }
    let Output { status, stdout, stderr } = child.wait_with_output().expect("mailtls ends");
    Run {
        code: status.code().expect("an exit code, not a signal"),
        stdout: String::from_utf8(stdout).expect("UTF-8 stdout"),
        stderr: String::from_utf8(stderr).expect("UTF-8 stderr"),
    }
}

pub fn mailtls(args: &[&str], password: Option<&str>) -> Run {
    mailtls_with_input(args, password, b"")
}

impl Servers {
    pub fn pop3s_url(&self, user: &str) -> String {
        format!("pop3s://{user}@{}:{}", self.host, self.pop3s)
    }
    pub fn pop3_url(&self, user: &str) -> String {
        format!("pop3://{user}@{}:{}", self.host, self.pop3)
    }
    pub fn submission_url(&self, user: &str) -> String {
        format!("smtp://{user}@{}:{}", self.host, self.submission)
    }
    pub fn smtps_url(&self, user: &str) -> String {
        format!("smtps://{user}@{}:{}", self.host, self.smtps)
    }

    pub fn maildir(&self, user: &str) -> PathBuf {
        self.maildir_root.join(user).join("Maildir")
    }

    /// Empty `user`'s mailbox and put `messages` in it, in this order.
    pub fn seed(&self, user: &str, messages: &[&[u8]]) {
        let dir = self.maildir(user);
        for sub in ["new", "cur"] {
            for entry in std::fs::read_dir(dir.join(sub)).expect("maildir exists") {
                std::fs::remove_file(entry.unwrap().path()).unwrap();
            }
        }
        // Dovecot's index files would remember the old messages.
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                std::fs::remove_file(path).unwrap();
            }
        }
        for (i, body) in messages.iter().enumerate() {
            let path = dir.join("new").join(format!("{:010}.M{i}P1.mailtls-cli", 1_000_000_000 + i));
            std::fs::write(&path, body).unwrap();
            std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
        }
    }

    /// Wait (a few seconds at most) for a delivered message containing
    /// `marker` in `user`'s maildir.
    pub fn delivered(&self, user: &str, marker: &str) -> bool {
        for _ in 0..100 {
            for sub in ["new", "cur"] {
                let Ok(entries) = std::fs::read_dir(self.maildir(user).join(sub)) else { continue };
                for entry in entries.flatten() {
                    if std::fs::read(entry.path()).is_ok_and(|b| String::from_utf8_lossy(&b).contains(marker)) {
                        return true;
                    }
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        false
    }
}

/// Standard base64, to look for an encoded secret in a trace.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
