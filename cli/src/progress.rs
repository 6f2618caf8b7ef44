//! Progress for long transfers, on standard error: an indicatif bar on a
//! terminal; elsewhere (a log, a pipe) a plain line each time another
//! `step` bytes are done, and one at the end.

use std::io::{IsTerminal, Read, Write};

use indicatif::{ProgressBar, ProgressStyle};

/// The plain lines' step, and the smallest transfer shown at all: a
/// smaller one is over before a bar would tell anything.
pub const STEP_BYTES: u64 = 256 * 1024;

pub struct Progress {
    shown: Shown,
    done: u64,
    total: u64,
}

enum Shown {
    Bar(ProgressBar),
    Lines { label: &'static str, next: u64, step: u64, out: Box<dyn Write> },
    Nothing,
}

impl Progress {
    /// Progress of `total` bytes, shown only for transfers of at least
    /// [`STEP_BYTES`]: as a bar when standard error is a terminal.
    pub fn bytes(label: &'static str, total: u64) -> Progress {
        let shown = if total < STEP_BYTES {
            Shown::Nothing
        } else if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(total).with_style(
                ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}, {eta} left")
                    .expect("a valid template")
                    .progress_chars("=> "),
            );
            Shown::Bar(bar.with_message(label))
        } else {
            return Progress::lines(label, total, STEP_BYTES, Box::new(std::io::stderr()));
        };
        Progress { shown, done: 0, total }
    }

    /// Plain lines to `out`, one per `step` bytes and one at the end.
    pub fn lines(label: &'static str, total: u64, step: u64, out: Box<dyn Write>) -> Progress {
        Progress { shown: Shown::Lines { label, next: step, step, out }, done: 0, total }
    }

    pub fn advance(&mut self, n: u64) {
        self.done += n;
        match &mut self.shown {
            Shown::Bar(bar) => bar.set_position(self.done),
            Shown::Lines { label, next, step, out } => {
                while self.done >= *next && self.done < self.total {
                    let _ =
                        writeln!(out, "{label}: {} of {} bytes ({}%)", next, self.total, percent(*next, self.total));
                    *next += *step;
                }
            }
            Shown::Nothing => {}
        }
    }

    /// The transfer is over: the bar is cleared, the lines end with one
    /// for the whole.
    pub fn finish(&mut self) {
        match std::mem::replace(&mut self.shown, Shown::Nothing) {
            Shown::Bar(bar) => bar.finish_and_clear(),
            Shown::Lines { label, mut out, .. } => {
                let _ = writeln!(
                    out,
                    "{label}: {} of {} bytes ({}%)",
                    self.done,
                    self.total,
                    percent(self.done, self.total)
                );
            }
            Shown::Nothing => {}
        }
    }
}

fn percent(done: u64, total: u64) -> u64 {
    done.saturating_mul(100).checked_div(total).unwrap_or(100)
}

/// A reader that reports what it read: the library reads a message chunk
/// by chunk as it sends it, so what was read is what went out (within a
/// chunk), and the library's send loop stays as it is.
pub struct Counting<'a, R> {
    pub inner: R,
    pub progress: &'a mut Progress,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.advance(n as u64);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A writer the test can read back.
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

    #[test]
    fn a_line_per_step_and_one_at_the_end() {
        let out = Shared::default();
        let mut progress = Progress::lines("sending", 1000, 300, Box::new(out.clone()));
        let mut reader = Counting { inner: &[0u8; 1000][..], progress: &mut progress };
        let mut buf = [0u8; 128];
        while reader.read(&mut buf).unwrap() > 0 {}
        progress.finish();
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        // The read that crossed 900 reached the end: the final line says it.
        assert_eq!(
            text,
            "sending: 300 of 1000 bytes (30%)\nsending: 600 of 1000 bytes (60%)\n\
             sending: 1000 of 1000 bytes (100%)\n"
        );
    }

    #[test]
    fn a_big_read_crossing_several_steps_prints_each() {
        let out = Shared::default();
        let mut progress = Progress::lines("x", 10, 2, Box::new(out.clone()));
        progress.advance(7);
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
    }

    #[test]
    fn small_transfers_show_nothing() {
        assert!(matches!(Progress::bytes("x", STEP_BYTES - 1).shown, Shown::Nothing));
    }
}
