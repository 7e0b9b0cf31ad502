//! The citizen side's short-lived state, kept in the database so that every server node
//! behind the load balancer sees the same (issue 16): the SMS verification codes, the
//! tickets of verified writers, and the rate limits' token buckets.
//!
//! Only digests of codes and tickets are stored (the server hashes them; this store
//! compares what it is given). None of it is audit-logged or synced to desktops: it
//! touches neither the audit chain nor the changes, so a backend may write it outside
//! its global write order (see each backend's `citizen_tokens.rs`).
//!
//! Each method is atomic on its own: two nodes checking the same code, or taking from
//! the same bucket, at the same moment are served one after the other, never both from
//! the same state.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::StorageError;

/// Whether a stored digest and a given one are the same, in time that does not depend
/// on where they differ: a backend compares codes' digests with this, never with `==`,
/// so an attacker timing guesses learns nothing about the stored digest's prefix.
pub fn same_digest(stored: &str, given: &str) -> bool {
    use subtle::ConstantTimeEq;
    stored.len() == given.len() && bool::from(stored.as_bytes().ct_eq(given.as_bytes()))
}

/// A fresh code for `key`; it replaces the key's outstanding code, if any (one live
/// code per key: a phone and what the code is for).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCode {
    /// What the code is issued under, e.g. `letter:13812345678`.
    pub key: String,
    /// The server's digest of the code (hex); never the code itself.
    pub code_hash: String,
    pub expires_at: DateTime<Utc>,
    /// Wrong guesses allowed before the code is void.
    pub attempts: u32,
}

/// What checking a code found. Every outcome but [`CodeCheck::Right`] leaves the key
/// without a usable code or with one guess fewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    /// The code was right; it is used up.
    Right,
    /// No code is outstanding for the key (never sent, used, or pruned).
    NoCode,
    /// The code expired (`now` past its expiry); it is gone now.
    Expired,
    /// Wrong; `left` guesses remain.
    Wrong { left: u32 },
    /// Wrong, and no guesses remain (this one was the last, or there were none left);
    /// the code stays void until it is replaced or expires.
    TooManyTries,
}

/// A verified writer's ticket to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTicket {
    /// The server's digest of the ticket (hex); never the ticket itself.
    pub ticket_hash: String,
    pub phone: String,
    pub name: String,
    pub expires_at: DateTime<Utc>,
}

/// A live ticket, as [`CitizenTokenStore::ticket`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketRecord {
    pub phone: String,
    pub name: String,
    pub expires_at: DateTime<Utc>,
}

/// A token bucket's shape: `capacity` requests at once, refilled at `per_sec`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketRule {
    pub capacity: f64,
    pub per_sec: f64,
}

impl BucketRule {
    /// At least one token, and a refill rate above zero (so a retry time exists).
    pub fn new(capacity: u32, per_sec: f64) -> BucketRule {
        BucketRule {
            capacity: f64::from(capacity.max(1)),
            per_sec: per_sec.max(1e-6),
        }
    }

    /// The tokens a bucket left with `tokens` at `at` holds at `now`. Elapsed time counts
    /// in whole milliseconds, never backwards (a node whose clock is behind adds none).
    pub fn refilled(&self, tokens: f64, at: DateTime<Utc>, now: DateTime<Utc>) -> f64 {
        let elapsed = (now - at).num_milliseconds().max(0) as f64 / 1000.0;
        (tokens + elapsed * self.per_sec).min(self.capacity)
    }

    /// Whole seconds until a bucket holding `tokens` (< 1) has one, at least 1.
    pub fn retry_after_secs(&self, tokens: f64) -> u64 {
        ((1.0 - tokens) / self.per_sec).ceil().max(1.0) as u64
    }

    /// How long an emptied bucket takes to be full again: a bucket untouched for longer
    /// is full, and forgetting it changes nothing.
    pub fn full_after(&self) -> chrono::Duration {
        let secs = (self.capacity / self.per_sec).ceil();
        // Beyond any real limit; keeps the conversion in range.
        chrono::Duration::seconds(secs.min(1e12) as i64)
    }
}

/// What taking a token found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    Taken,
    /// The bucket is empty; a token will be there in this many seconds.
    Empty {
        retry_after_secs: u64,
    },
}

#[async_trait]
pub trait CitizenTokenStore: Send + Sync {
    /// Stores a code for `code.key`, replacing the key's outstanding one.
    async fn issue_code(&self, code: NewCode) -> Result<(), StorageError>;

    /// Checks `code_hash` against the key's code at `now`, atomically: a right code is
    /// used up, a wrong one costs a guess (concurrent guesses each cost their own), an
    /// expired one is removed.
    async fn check_code(
        &self,
        key: &str,
        code_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<CodeCheck, StorageError>;

    /// Stores a ticket.
    async fn issue_ticket(&self, ticket: NewTicket) -> Result<(), StorageError>;

    /// The ticket, while `now` is not past its expiry.
    async fn ticket(
        &self,
        ticket_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<TicketRecord>, StorageError>;

    /// Uses the ticket up and gives back what it stood for, if it was live at `now`:
    /// atomically, so of two requests with one ticket (on two nodes at once) exactly one
    /// gets it. A ticket already gone, or expired, gives `None` (and is gone after).
    async fn take_ticket(
        &self,
        ticket_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<TicketRecord>, StorageError>;

    /// Takes one token from `key`'s bucket at `now`, atomically (a bucket never seen is
    /// full). The bucket is left refilled to `now`, less the token if one was taken.
    async fn take_token(
        &self,
        key: &str,
        rule: BucketRule,
        now: DateTime<Utc>,
    ) -> Result<Take, StorageError>;

    /// Gives a token back to `key`'s bucket (never beyond its capacity).
    async fn refund_token(&self, key: &str, rule: BucketRule) -> Result<(), StorageError>;

    /// Forgets codes and tickets that expired before `expired_before`, and buckets last
    /// touched before `idle_before` — at most `batch` rows; returns how many went. The
    /// caller loops while it returns `batch`.
    async fn prune_citizen_tokens(
        &self,
        expired_before: DateTime<Utc>,
        idle_before: DateTime<Utc>,
        batch: u32,
    ) -> Result<u32, StorageError>;
}
