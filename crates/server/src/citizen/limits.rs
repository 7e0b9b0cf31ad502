//! Abuse limits of the citizen endpoints.
//!
//! Rate limits are token buckets keyed by client address (an IPv6 client by its /64,
//! see [`crate::client_addr`]) or by phone number, kept in memory. Hand-rolled (≈60 lines) rather than `governor` because the buckets must run
//! on the server's [`crate::time::TimeSource`] — tests move time to the second, as they
//! do for sessions and lock-outs — and because the whole need is one map and one
//! formula. A restart forgets the buckets, which is acceptable: the limits blunt
//! floods, the SMS gateway and duplicate detection are the durable defences.
//!
//! The concurrency limit is a semaphore taken by the `PublicSlot` extractor (`guards.rs`): when
//! every citizen slot is busy a request is shed at once with 503 instead of queueing,
//! so a flood on the citizen side cannot take the workers, the database writer's queue
//! or the memory that the desks' requests need.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use super::config::CitizenConfig;
use crate::error::ApiError;

/// The maps are split in shards, each behind its own lock, so that concurrent
/// requests for different keys rarely wait for each other.
const SHARDS: usize = 16;
/// A shard is not swept below this many keys.
const SWEEP_AT: usize = 1_024;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: DateTime<Utc>,
}

#[derive(Debug)]
struct Shard {
    map: HashMap<String, Bucket>,
    /// The size at which this shard is next swept of full (idle) buckets: twice what
    /// the last sweep left. A sweep costs its shard's size, so doubling makes it
    /// amortised constant per request — a map full of live buckets is not swept again
    /// and again on every request, as it was with one fixed threshold.
    sweep_at: usize,
}

/// Token buckets: `capacity` requests at once, refilled at `per_sec`.
#[derive(Debug)]
pub struct TokenBuckets {
    capacity: f64,
    per_sec: f64,
    shards: Vec<Mutex<Shard>>,
}

impl TokenBuckets {
    pub fn new(capacity: u32, per_sec: f64) -> Self {
        TokenBuckets {
            capacity: f64::from(capacity.max(1)),
            per_sec: per_sec.max(1e-6),
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        map: HashMap::new(),
                        sweep_at: SWEEP_AT,
                    })
                })
                .collect(),
        }
    }

    fn shard(&self, key: &str) -> &Mutex<Shard> {
        let mut h = DefaultHasher::new();
        key.hash(&mut h);
        // SHARDS divides evenly; the modulo keeps the index in range.
        &self.shards[(h.finish() as usize) % self.shards.len()]
    }

    /// Keys currently held (for tests and metrics).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).map.len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes one token for `key`, or says in how many seconds one will be there.
    pub fn take(&self, key: &str, now: DateTime<Utc>) -> Result<(), u64> {
        let mut shard = self.shard(key).lock().unwrap_or_else(|e| e.into_inner());
        if shard.map.len() >= shard.sweep_at {
            let (capacity, per_sec) = (self.capacity, self.per_sec);
            shard
                .map
                .retain(|_, b| refilled(*b, now, capacity, per_sec) < capacity);
            shard.sweep_at = (shard.map.len() * 2).max(SWEEP_AT);
        }
        let bucket = shard.map.entry(key.to_owned()).or_insert(Bucket {
            tokens: self.capacity,
            at: now,
        });
        let tokens = refilled(*bucket, now, self.capacity, self.per_sec);
        if tokens >= 1.0 {
            *bucket = Bucket {
                tokens: tokens - 1.0,
                at: now,
            };
            Ok(())
        } else {
            *bucket = Bucket { tokens, at: now };
            Err(((1.0 - tokens) / self.per_sec).ceil().max(1.0) as u64)
        }
    }
}

impl TokenBuckets {
    /// Gives back the token a request took (it turned out not to count).
    pub fn refund(&self, key: &str) {
        let mut shard = self.shard(key).lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = shard.map.get_mut(key) {
            b.tokens = (b.tokens + 1.0).min(self.capacity);
        }
    }
}

fn refilled(b: Bucket, now: DateTime<Utc>, capacity: f64, per_sec: f64) -> f64 {
    let elapsed = (now - b.at).num_milliseconds().max(0) as f64 / 1000.0;
    (b.tokens + elapsed * per_sec).min(capacity)
}

/// Wrong "last 4 digits" a tracking code takes in a burst, and per hour after it. With
/// the code known the digits are 10⁴ guesses; per-address limits alone would let many
/// addresses share the work, so the code itself is limited too.
pub const LAST4_GUESSES: u32 = 5;

/// The per-address, per-phone and per-tracking-code limits.
#[derive(Debug)]
pub struct RateLimits {
    ip: TokenBuckets,
    phone: TokenBuckets,
    last4: TokenBuckets,
}

impl RateLimits {
    pub fn new(config: &CitizenConfig) -> Self {
        RateLimits {
            ip: TokenBuckets::new(
                config.rate_ip_burst,
                f64::from(config.rate_ip_per_minute) / 60.0,
            ),
            phone: TokenBuckets::new(
                config.rate_phone_burst,
                f64::from(config.rate_phone_per_hour) / 3600.0,
            ),
            last4: TokenBuckets::new(LAST4_GUESSES, f64::from(LAST4_GUESSES) / 3600.0),
        }
    }

    pub fn check_ip(&self, ip: &str, now: DateTime<Utc>) -> Result<(), ApiError> {
        self.ip
            .take(ip, now)
            .map_err(|retry_after_secs| ApiError::RateLimited { retry_after_secs })
    }

    /// `key` names what is limited, e.g. `sms:13812345678` or `wechat:<openid>`.
    pub fn check_phone(&self, key: &str, now: DateTime<Utc>) -> Result<(), ApiError> {
        self.phone
            .take(key, now)
            .map_err(|retry_after_secs| ApiError::RateLimited { retry_after_secs })
    }
}

impl RateLimits {
    /// Takes one guess at the last 4 digits of the writer of `tracking_code`; give it
    /// back with [`Self::refund_last4`] when the guess was right, so that only wrong
    /// guesses count. Taken before the check, so concurrent guesses cannot overshoot.
    pub fn take_last4(&self, tracking_code: &str, now: DateTime<Utc>) -> Result<(), ApiError> {
        self.last4
            .take(tracking_code, now)
            .map_err(|retry_after_secs| ApiError::RateLimited { retry_after_secs })
    }

    pub fn refund_last4(&self, tracking_code: &str) {
        self.last4.refund(tracking_code);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn a_bucket_allows_its_burst_then_refills_at_its_rate() {
        let t0 = Utc::now();
        let b = TokenBuckets::new(3, 1.0 / 60.0);
        for _ in 0..3 {
            assert_eq!(b.take("a", t0), Ok(()));
        }
        assert_eq!(b.take("a", t0), Err(60));
        // Another key has its own bucket.
        assert_eq!(b.take("b", t0), Ok(()));
        assert_eq!(b.take("a", t0 + Duration::seconds(30)), Err(30));
        assert_eq!(b.take("a", t0 + Duration::seconds(61)), Ok(()));
        assert!(b.take("a", t0 + Duration::seconds(62)).is_err());
        // A refunded token can be taken again at once.
        for _ in 0..3 {
            assert_eq!(b.take("c", t0), Ok(()));
        }
        assert!(b.take("c", t0).is_err());
        b.refund("c");
        assert_eq!(b.take("c", t0), Ok(()));
    }

    #[test]
    fn live_buckets_are_not_swept_on_every_request_and_idle_ones_go() {
        let t0 = Utc::now();
        let b = TokenBuckets::new(2, 1.0);
        // Many keys, each with a token taken (not full, so a sweep keeps them all).
        let n = SWEEP_AT * SHARDS * 2;
        for i in 0..n {
            assert_eq!(b.take(&format!("k{i}"), t0), Ok(()));
        }
        assert_eq!(b.len(), n);
        // After each shard's sweep its threshold doubled: the next sweep is far away.
        for shard in &b.shards {
            let shard = shard.lock().expect("lock");
            assert!(
                shard.sweep_at >= shard.map.len(),
                "{} < {}",
                shard.sweep_at,
                shard.map.len()
            );
        }
        // Once they have refilled, the next sweep of a shard drops its idle buckets.
        let later = t0 + Duration::seconds(10);
        for i in 0..3 * n {
            let _ = b.take(&format!("fresh{i}"), later);
        }
        assert!(b.len() < 4 * n, "idle buckets were swept: {}", b.len());
    }
}
