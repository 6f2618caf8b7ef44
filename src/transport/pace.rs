//! How long reading may take when a server sends slowly.
//!
//! The socket's read timeout restarts with every byte, so on its own it
//! never stops a server that trickles one byte just inside it. Two rules
//! close that gap:
//!
//! - A reply line (status or listing line) must be complete within the I/O
//!   timeout after the library starts waiting for it (`Connection::read_line`).
//! - Bulk data (message bodies, read through `Connection::fill`) has a
//!   low-speed limit like curl's: within each I/O timeout spent waiting for
//!   the server, at least [`MIN_BULK_BYTES_PER_SECOND`] times its seconds
//!   must arrive (60 KiB per minute at the default 60 s). That stops a
//!   trickle but not a slow link: a 56 kbit/s modem moves about 7 KB/s, and
//!   a long pause (a server reading from slow storage) is fine as long as
//!   the window's bytes arrive. Only time spent waiting in a read counts, so
//!   a slow consumer of the data (a callback writing to a slow disk) never
//!   looks like a slow server.
//!
//! Neither rule costs a system call on the fast path: the socket's timeout
//! is shortened only when the time left is shorter than the normal timeout
//! (see `Connection::arm`), which happens only when the server is slow, and
//! the clock reads are vDSO calls.

use std::time::Duration;

/// The low-speed limit for bulk data.
pub(crate) const MIN_BULK_BYTES_PER_SECOND: u64 = 1024;

/// Bytes and waiting time in the current low-speed window.
#[derive(Debug, Default)]
pub(crate) struct LowSpeedLimit {
    waited: Duration,
    bytes: u64,
}

impl LowSpeedLimit {
    /// Start a fresh window (a new reply begins).
    pub fn restart(&mut self) {
        *self = LowSpeedLimit::default();
    }

    /// How long the next read may wait: the rest of the window while its
    /// quota is not met, else `window` (the normal timeout).
    pub fn wait_allowed(&self, window: Duration) -> Duration {
        if self.bytes >= quota(window) { window } else { window.saturating_sub(self.waited) }
    }

    /// Count one read; `false` when a window ended short of its quota.
    pub fn record(&mut self, waited: Duration, bytes: usize, window: Duration) -> bool {
        self.waited += waited;
        self.bytes += bytes as u64;
        if self.waited < window {
            return true;
        }
        let fast_enough = self.bytes >= quota(window);
        self.restart();
        fast_enough
    }
}

/// The bytes a window of this length must bring.
pub(crate) fn quota(window: Duration) -> u64 {
    (window.as_millis() as u64).saturating_mul(MIN_BULK_BYTES_PER_SECOND) / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn a_trickle_fails_its_window() {
        let mut limit = LowSpeedLimit::default();
        assert_eq!(limit.wait_allowed(MINUTE), MINUTE);
        assert!(limit.record(Duration::from_secs(59), 1, MINUTE));
        // The next read may only wait for what is left of the window.
        assert_eq!(limit.wait_allowed(MINUTE), Duration::from_secs(1));
        assert!(!limit.record(Duration::from_secs(1), 1, MINUTE));
    }

    #[test]
    fn a_slow_link_and_a_long_pause_pass() {
        let mut limit = LowSpeedLimit::default();
        // 2 KiB/s, one read a second, for ten minutes.
        for _ in 0..600 {
            assert!(limit.record(Duration::from_secs(1), 2048, MINUTE));
        }
        // A 50 s pause, then data at speed.
        assert!(limit.record(Duration::from_secs(50), 0, MINUTE));
        assert!(limit.record(Duration::from_millis(10), 64 * 1024, MINUTE));
        // Met quota: the normal timeout applies again.
        assert_eq!(limit.wait_allowed(MINUTE), MINUTE);
        assert!(limit.record(Duration::from_secs(10), 1, MINUTE));
    }

    #[test]
    fn the_quota_scales_with_the_timeout() {
        assert_eq!(quota(MINUTE), 60 * 1024);
        assert_eq!(quota(Duration::from_secs(1)), 1024);
        assert_eq!(quota(Duration::from_millis(500)), 512);
    }
}
