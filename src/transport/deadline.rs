//! A point in time the library stops waiting at, and how waiting times read
//! in messages.

use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline {
    at: Instant,
    /// The whole time granted, for messages ("no answer within 30 s").
    budget: Duration,
}

impl Deadline {
    pub fn after(budget: Duration) -> Deadline {
        Deadline { at: Instant::now() + budget, budget }
    }

    pub fn at(&self) -> Instant {
        self.at
    }

    pub fn budget(&self) -> Duration {
        self.budget
    }

    pub fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    pub fn passed(&self) -> bool {
        self.remaining().is_zero()
    }
}

/// A duration as a person reads it: "30 s", "0.3 s" (to a tenth of a
/// second; below that, in milliseconds).
pub(crate) fn seconds(d: Duration) -> String {
    let millis = d.as_millis();
    if millis < 100 {
        return format!("{millis} ms");
    }
    let tenths = (millis + 50) / 100;
    if tenths.is_multiple_of(10) { format!("{} s", tenths / 10) } else { format!("{}.{} s", tenths / 10, tenths % 10) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_seconds() {
        assert_eq!(seconds(Duration::from_secs(30)), "30 s");
        assert_eq!(seconds(Duration::from_millis(300)), "0.3 s");
        assert_eq!(seconds(Duration::from_millis(299_999)), "300 s");
        assert_eq!(seconds(Duration::from_millis(1250)), "1.3 s");
        assert_eq!(seconds(Duration::from_millis(20)), "20 ms");
    }
}
