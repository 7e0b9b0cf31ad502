//! Where the server learns the time. Handlers and storage take `now` from here, never
//! from the system clock directly, so tests can move time (session expiry, lock-out)
//! to the second and demo mode can replay history.

use std::sync::Mutex;

use chrono::{DateTime, Utc};

pub trait TimeSource: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemTime;

impl TimeSource for SystemTime {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to: for tests and for seeding history.
#[derive(Debug)]
pub struct ManualTime(Mutex<DateTime<Utc>>);

impl ManualTime {
    pub fn new(at: DateTime<Utc>) -> Self {
        ManualTime(Mutex::new(at))
    }

    pub fn set(&self, at: DateTime<Utc>) {
        // A poisoned lock only means another thread panicked while holding a plain
        // value; the value itself is still valid.
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = at;
    }

    pub fn advance(&self, by: chrono::Duration) {
        let mut guard = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *guard += by;
    }
}

impl TimeSource for ManualTime {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}
