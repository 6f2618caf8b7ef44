//! Progress of a fetch, on standard error: an indicatif bar on a terminal
//! (messages and bytes done of the total, rate, time left); elsewhere (a
//! log, a pipe) a plain line each time another `step` messages are done,
//! and one at the end. Nothing when there is nothing to download.

use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressStyle};
use mailtls::sync::Progress;

/// The plain lines' step: often enough for a log to show life, rarely
/// enough that a mailbox of thousands stays a screenful.
pub const STEP_MESSAGES: u64 = 100;

pub struct SyncProgress {
    shown: Shown,
    last: Option<Progress>,
}

enum Shown {
    /// Made at the first report, which carries the totals.
    Bar(Option<ProgressBar>),
    Lines {
        next: u64,
        step: u64,
        out: Box<dyn Write>,
    },
}

impl SyncProgress {
    /// A bar when standard error is a terminal, else plain lines on it.
    pub fn on_stderr() -> SyncProgress {
        if std::io::stderr().is_terminal() {
            SyncProgress { shown: Shown::Bar(None), last: None }
        } else {
            SyncProgress::lines(STEP_MESSAGES, Box::new(std::io::stderr()))
        }
    }

    /// Plain lines to `out`, one per `step` messages and one at the end.
    pub fn lines(step: u64, out: Box<dyn Write>) -> SyncProgress {
        SyncProgress { shown: Shown::Lines { next: step, step, out }, last: None }
    }

    /// What the sync reports: called after each message, and within a
    /// large one.
    pub fn update(&mut self, now: Progress) {
        self.last = Some(now);
        if now.total_messages == 0 {
            return;
        }
        match &mut self.shown {
            Shown::Bar(bar) => {
                let bar = bar.get_or_insert_with(|| {
                    ProgressBar::new(now.total_bytes).with_style(
                        ProgressStyle::with_template(
                            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}, {eta} left",
                        )
                        .expect("a valid template")
                        .progress_chars("=> "),
                    )
                });
                bar.set_message(format!("fetching {}/{} messages", now.done_messages, now.total_messages));
                bar.set_position(now.done_bytes);
            }
            Shown::Lines { next, step, out } => {
                // Only whole messages count; the last is the final line's.
                if now.done_messages >= *next && now.done_messages < now.total_messages {
                    let _ = writeln!(out, "{}", line(&now));
                    while *next <= now.done_messages {
                        *next += *step;
                    }
                }
            }
        }
    }

    /// The sync is over (done or failed): the bar is cleared, the lines end
    /// with one for what was done.
    pub fn finish(&mut self) {
        match &mut self.shown {
            Shown::Bar(bar) => {
                if let Some(bar) = bar.take() {
                    bar.finish_and_clear();
                }
            }
            Shown::Lines { out, .. } => {
                if let Some(last) = self.last.filter(|p| p.total_messages > 0) {
                    let _ = writeln!(out, "{}", line(&last));
                }
            }
        }
        self.last = None;
    }
}

fn line(p: &Progress) -> String {
    format!(
        "fetching: {} of {} messages, {} of {} bytes",
        p.done_messages, p.total_messages, p.done_bytes, p.total_bytes
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn at(done_messages: u64, done_bytes: u64) -> Progress {
        Progress { done_messages, total_messages: 5, done_bytes, total_bytes: 50 }
    }

    #[test]
    fn a_line_per_step_of_messages_and_one_at_the_end() {
        let out = Shared::default();
        let mut progress = SyncProgress::lines(2, Box::new(out.clone()));
        // The start, a report within message 1, then each message.
        for (m, b) in [(0, 0), (0, 4), (1, 10), (2, 20), (2, 25), (3, 30), (4, 40), (5, 50)] {
            progress.update(at(m, b));
        }
        progress.finish();
        assert_eq!(
            String::from_utf8(out.0.lock().unwrap().clone()).unwrap(),
            "fetching: 2 of 5 messages, 20 of 50 bytes\nfetching: 4 of 5 messages, 40 of 50 bytes\n\
             fetching: 5 of 5 messages, 50 of 50 bytes\n"
        );
    }

    #[test]
    fn nothing_to_download_shows_nothing() {
        let out = Shared::default();
        let mut progress = SyncProgress::lines(2, Box::new(out.clone()));
        progress.update(Progress { done_messages: 0, total_messages: 0, done_bytes: 0, total_bytes: 0 });
        progress.finish();
        assert!(out.0.lock().unwrap().is_empty());
    }
}
