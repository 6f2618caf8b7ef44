//! Protocol trace: what was sent and received, with secrets already removed.
//!
//! Redaction happens where a command is built (the caller marks where the
//! secret part starts), so no pattern matching over traffic is needed and a
//! secret never reaches the callback.

use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceKind {
    /// A note from the library (connecting, TLS established, ...).
    Info,
    /// A command line sent to the server, without CRLF.
    Command,
    /// A status or continuation line received from the server, without CRLF.
    Reply,
}

/// The text shown in place of a secret.
pub const REDACTED: &[u8] = b"<redacted>";

pub type TraceFn = dyn Fn(TraceKind, &[u8]) + Send + Sync;

/// A cheap, clonable handle to an optional trace function.
#[derive(Clone, Default)]
pub struct Tracer(Option<Arc<TraceFn>>);

impl Tracer {
    pub fn new(f: Arc<TraceFn>) -> Self {
        Tracer(Some(f))
    }

    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    pub fn emit(&self, kind: TraceKind, data: &[u8]) {
        if let Some(f) = &self.0 {
            f(kind, data);
        }
    }

    pub fn info(&self, text: impl AsRef<str>) {
        self.emit(TraceKind::Info, text.as_ref().as_bytes());
    }

    /// Trace a command, replacing everything from `secret_from` on.
    pub fn command(&self, line: &[u8], secret_from: Option<usize>) {
        let Some(f) = &self.0 else { return };
        match secret_from {
            Some(at) if at < line.len() => {
                let mut shown = line[..at].to_vec();
                shown.extend_from_slice(REDACTED);
                f(TraceKind::Command, &shown);
            }
            _ => f(TraceKind::Command, line),
        }
    }
}

impl std::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_on() { "Tracer(on)" } else { "Tracer(off)" })
    }
}
