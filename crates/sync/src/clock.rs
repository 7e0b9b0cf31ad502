//! The workstation's clock and the server time derived from it.
//!
//! Every SLA clock is computed in server time (DOMAIN.md: a workstation whose clock is
//! wrong must still colour correctly). The engine measures the offset between the two
//! at each sync; [`ServerClock::now`] adds it to the local time. The local clock is a
//! trait so tests can put a workstation 15 minutes off without touching the OS clock.
//! Timers (backoff, polling) use tokio's monotonic clock, which a wrong wall clock
//! cannot disturb.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, TimeDelta, Utc};

/// Where the engine reads the workstation's wall-clock time.
pub trait LocalClock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The operating system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl LocalClock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// The system clock shifted by a fixed amount: a workstation whose clock is wrong
/// (tests, demos of the offset correction).
#[derive(Debug, Clone, Copy)]
pub struct SkewedClock {
    pub skew: TimeDelta,
}

impl LocalClock for SkewedClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.skew
    }
}

/// The server's time as this workstation estimates it: local time plus the measured
/// offset. Cheap to clone; every clone sees the engine's latest estimate.
#[derive(Clone)]
pub struct ServerClock {
    local: Arc<dyn LocalClock>,
    offset_ms: Arc<AtomicI64>,
}

impl ServerClock {
    /// A clock that starts from a previously stored offset (so an app started offline
    /// still computes deadlines in server time).
    pub fn new(local: Arc<dyn LocalClock>, offset_ms: i64) -> ServerClock {
        ServerClock {
            local,
            offset_ms: Arc::new(AtomicI64::new(offset_ms)),
        }
    }

    /// The estimated server time now.
    pub fn now(&self) -> DateTime<Utc> {
        self.local.now() + TimeDelta::milliseconds(self.offset_ms())
    }

    /// The workstation's own time (for measuring round trips).
    pub fn local_now(&self) -> DateTime<Utc> {
        self.local.now()
    }

    /// Server clock minus workstation clock, in milliseconds.
    pub fn offset_ms(&self) -> i64 {
        // Relaxed: the offset is a standalone number; no other memory hangs on it.
        self.offset_ms.load(Ordering::Relaxed)
    }

    pub(crate) fn set_offset_ms(&self, offset_ms: i64) {
        self.offset_ms.store(offset_ms, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for ServerClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerClock")
            .field("offset_ms", &self.offset_ms())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_now_adds_the_offset_to_a_skewed_clock() {
        let skew = TimeDelta::minutes(-15);
        let clock = ServerClock::new(Arc::new(SkewedClock { skew }), 0);
        // The engine learnt that the server is 15 minutes ahead of this workstation.
        clock.set_offset_ms(15 * 60 * 1000);
        let diff = (clock.now() - Utc::now()).num_milliseconds().abs();
        assert!(
            diff < 1_000,
            "server_now is within a second of true time: {diff} ms"
        );
        assert_eq!(clock.offset_ms(), 900_000);
    }
}
