//! Abuse limits of the citizen endpoints.
//!
//! Rate limits are token buckets keyed by client address (an IPv6 client by its /64,
//! see [`crate::client_addr`]), by phone number or by tracking code, kept in the
//! database (`jsjb_storage::citizen_tokens`, one row per key): every server node behind
//! the load balancer takes from the same buckets, so spreading requests over the nodes
//! buys a client nothing. Taking a token is one short write, atomic in the store (on
//! PostgreSQL one statement, outside the desks' write lock: see that backend's
//! `citizen_tokens.rs`). The buckets run on the server's [`crate::time::TimeSource`] —
//! tests move time to the second, as they do for sessions and lock-outs. Buckets left
//! idle long enough to be full again are pruned by the housekeeping (`maintenance.rs`,
//! after [`RateLimits::full_after`]), which changes nothing: a bucket never seen is full.
//! The limits blunt floods; the SMS gateway and duplicate detection are the durable
//! defences.
//!
//! The concurrency limit is a semaphore taken by the `PublicSlot` extractor (`guards.rs`): when
//! every citizen slot is busy a request is shed at once with 503 instead of queueing,
//! so a flood on the citizen side cannot take the workers, the database writer's queue
//! or the memory that the desks' requests need. It stays in memory, per node, on purpose:
//! what it protects is this node's own workers and memory.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use jsjb_storage::Storage;
use jsjb_storage::citizen_tokens::{BucketRule, Take};

use super::config::CitizenConfig;
use crate::error::ApiError;

/// Wrong "last 4 digits" a tracking code takes in a burst, and per hour after it. With
/// the code known the digits are 10⁴ guesses; per-address limits alone would let many
/// addresses share the work, so the code itself is limited too.
pub const LAST4_GUESSES: u32 = 5;

/// The limits by name: the prefix of their keys in the store, so that an address, a
/// phone and a tracking code never share a bucket.
const IP: &str = "ip";
const PHONE: &str = "phone";
const LAST4: &str = "last4";

/// The per-address, per-phone and per-tracking-code limits.
pub struct RateLimits {
    store: Arc<dyn Storage>,
    ip: BucketRule,
    phone: BucketRule,
    last4: BucketRule,
}

impl RateLimits {
    pub fn new(config: &CitizenConfig, store: Arc<dyn Storage>) -> Self {
        RateLimits {
            store,
            ip: BucketRule::new(
                config.rate_ip_burst,
                f64::from(config.rate_ip_per_minute) / 60.0,
            ),
            phone: BucketRule::new(
                config.rate_phone_burst,
                f64::from(config.rate_phone_per_hour) / 3600.0,
            ),
            last4: BucketRule::new(LAST4_GUESSES, f64::from(LAST4_GUESSES) / 3600.0),
        }
    }

    /// Takes one token of limit `limit` for `key`, or says in how many seconds one will
    /// be there.
    async fn take(
        &self,
        limit: &str,
        rule: BucketRule,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        let take = self
            .store
            .citizen_tokens()
            .take_token(&format!("{limit}:{key}"), rule, now)
            .await?;
        match take {
            Take::Taken => Ok(()),
            Take::Empty { retry_after_secs } => Err(ApiError::RateLimited { retry_after_secs }),
        }
    }

    pub async fn check_ip(&self, ip: &str, now: DateTime<Utc>) -> Result<(), ApiError> {
        self.take(IP, self.ip, ip, now).await
    }

    /// `key` names what is limited, e.g. `sms:13812345678` or `wechat:<openid>`.
    pub async fn check_phone(&self, key: &str, now: DateTime<Utc>) -> Result<(), ApiError> {
        self.take(PHONE, self.phone, key, now).await
    }

    /// Takes one guess at the last 4 digits of the writer of `tracking_code`; give it
    /// back with [`Self::refund_last4`] when the guess was right, so that only wrong
    /// guesses count. Taken before the check, so concurrent guesses cannot overshoot.
    pub async fn take_last4(
        &self,
        tracking_code: &str,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        self.take(LAST4, self.last4, tracking_code, now).await
    }

    /// Gives back a right guess's token. A failure is logged, not answered: the writer
    /// proved who they are, and a guess too many counted only makes the limit stricter.
    pub async fn refund_last4(&self, tracking_code: &str) {
        let key = format!("{LAST4}:{tracking_code}");
        if let Err(e) = self
            .store
            .citizen_tokens()
            .refund_token(&key, self.last4)
            .await
        {
            tracing::warn!(%e, "a right guess's token could not be given back");
        }
    }

    /// How long a bucket of any of these limits takes to refill from empty: one left
    /// untouched for longer is full, and forgetting it changes nothing.
    pub fn full_after(&self) -> Duration {
        [self.ip, self.phone, self.last4]
            .iter()
            .map(BucketRule::full_after)
            .max()
            .unwrap_or_else(Duration::zero)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> (tempfile::TempDir, Arc<dyn Storage>) {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("limits.sqlite3");
        let store =
            tokio::task::spawn_blocking(move || jsjb_storage_sqlite::SqliteStore::open(&path))
                .await
                .expect("open task")
                .expect("open");
        (dir, Arc::new(store))
    }

    fn retry(result: Result<(), ApiError>) -> Option<u64> {
        match result {
            Ok(()) => None,
            Err(ApiError::RateLimited { retry_after_secs }) => Some(retry_after_secs),
            Err(other) => panic!("not a rate limit: {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_bucket_allows_its_burst_then_refills_at_its_rate_on_every_node() {
        let (_dir, store) = store().await;
        let config = CitizenConfig {
            rate_ip_burst: 3,
            rate_ip_per_minute: 1,
            ..CitizenConfig::default()
        };
        // Two server nodes on one database take from the same buckets.
        let node_a = RateLimits::new(&config, Arc::clone(&store));
        let node_b = RateLimits::new(&config, store);
        let t0 = Utc::now();
        assert_eq!(retry(node_a.check_ip("a", t0).await), None);
        assert_eq!(retry(node_b.check_ip("a", t0).await), None);
        assert_eq!(retry(node_a.check_ip("a", t0).await), None);
        assert_eq!(retry(node_b.check_ip("a", t0).await), Some(60));
        // Another key has its own bucket, and so has another limit of the same key.
        assert_eq!(retry(node_a.check_ip("b", t0).await), None);
        assert_eq!(retry(node_a.check_phone("a", t0).await), None);
        assert_eq!(
            retry(node_b.check_ip("a", t0 + Duration::seconds(30)).await),
            Some(30)
        );
        assert_eq!(
            retry(node_a.check_ip("a", t0 + Duration::seconds(61)).await),
            None
        );
        assert!(retry(node_b.check_ip("a", t0 + Duration::seconds(62)).await).is_some());
        // A refunded guess can be taken again at once, from any node.
        for _ in 0..LAST4_GUESSES {
            assert_eq!(retry(node_a.take_last4("SZ1", t0).await), None);
        }
        assert!(retry(node_b.take_last4("SZ1", t0).await).is_some());
        node_b.refund_last4("SZ1").await;
        assert_eq!(retry(node_a.take_last4("SZ1", t0).await), None);
    }

    #[tokio::test]
    async fn buckets_are_full_again_after_the_slowest_refill() {
        let (_dir, store) = store().await;
        // The defaults: 20 at 10/min (2 min), 5 at 10/h (30 min), 5 guesses at 5/h (1 h).
        let limits = RateLimits::new(&CitizenConfig::default(), store);
        let full = limits.full_after();
        // Rounded up to the second: a bucket is pruned late rather than early.
        assert!(
            full >= Duration::hours(1) && full <= Duration::hours(1) + Duration::seconds(1),
            "{full}"
        );
    }
}
