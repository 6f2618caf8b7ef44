//! Pipelining with a bounded number of commands in flight. Writing every
//! command before reading any reply can block both sides at once: the
//! server stops reading while its replies fill our receive buffer (RFC
//! 2920 section 3.1). So commands go out in windows, and the next window
//! is written once half of the previous one has been answered.

use crate::error::Result;
use crate::transport::Connection;

/// Most commands kept in flight. Small enough that the commands always fit
/// in the socket buffers (so a write never blocks while the server waits
/// for us to read), large enough to hide the round trip.
pub(crate) const PIPELINE_WINDOW: usize = 128;

/// Which of `total` commands have been sent, for a reader that reads their
/// replies in order.
pub(crate) struct Window {
    sent: usize,
    /// Commands are sent up to here; lowered by [`Window::stop_sending`].
    limit: usize,
    size: usize,
}

impl Window {
    /// A window over `total` commands; `pipelined` false means one command
    /// at a time.
    pub(crate) fn new(total: usize, pipelined: bool) -> Window {
        Window { sent: 0, limit: total, size: if pipelined { PIPELINE_WINDOW } else { 1 } }
    }

    /// Before reading the reply to command `done`: when nothing is in
    /// flight, or only half a window, queue the next commands (`queue`
    /// queues command `i`) and write them in one go.
    pub(crate) fn refill(
        &mut self,
        conn: &mut Connection,
        done: usize,
        mut queue: impl FnMut(&mut Connection, usize) -> Result<()>,
    ) -> Result<()> {
        if self.sent == done || (self.sent < self.limit && self.sent - done <= self.size / 2) {
            while self.sent < self.limit && self.sent - done < self.size {
                queue(conn, self.sent)?;
                self.sent += 1;
            }
            conn.flush()?;
        }
        Ok(())
    }

    /// Whether the reply to command `done` is still to be read.
    pub(crate) fn expects(&self, done: usize) -> bool {
        done < self.limit
    }

    /// Send nothing after what is already in flight.
    pub(crate) fn stop_sending(&mut self) {
        self.limit = self.sent;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::Tracer;
    use crate::transport::ScriptedStream;

    #[test]
    fn at_most_a_window_is_in_flight_and_refills_at_half() -> Result<()> {
        let mut conn = Connection::scripted(ScriptedStream::new(Vec::new(), Vec::new()), Tracer::default());
        let total = 300;
        let mut window = Window::new(total, true);
        let mut sent = Vec::new();
        let mut in_flight_max = 0;
        for done in 0..total {
            window.refill(&mut conn, done, |_, i| {
                sent.push(i);
                Ok(())
            })?;
            in_flight_max = in_flight_max.max(sent.len() - done);
        }
        assert_eq!(sent, (0..total).collect::<Vec<_>>());
        assert_eq!(in_flight_max, PIPELINE_WINDOW);

        let mut one_by_one = Window::new(3, false);
        let mut count = 0;
        one_by_one.refill(&mut conn, 0, |_, _| {
            count += 1;
            Ok(())
        })?;
        assert_eq!(count, 1);
        one_by_one.stop_sending();
        assert!(one_by_one.expects(0) && !one_by_one.expects(1));
        Ok(())
    }
}
