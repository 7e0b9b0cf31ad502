//! Housekeeping while the server runs: old idempotency answers are forgotten after
//! the retention (`--idempotency-retention-days`), and each user keeps at most
//! `--idempotency-per-user`, so the table cannot grow without bound. The citizen side's
//! expired SMS codes and tickets, and its rate-limit buckets once full again, are
//! forgotten too (`jsjb_storage::citizen_tokens`).
//!
//! With several server nodes each runs this; the deletes are idempotent, so two nodes
//! pruning at once only share the work.
//!
//! The work goes to the database writer in batches of [`PRUNE_BATCH`] rows, each its
//! own small job, so the desks' writes interleave with it instead of waiting behind
//! one huge delete.

use chrono::Duration;

use crate::state::AppState;

/// Rows one pruning job deletes at most.
pub const PRUNE_BATCH: u32 = 1000;

/// How long codes and tickets are kept past their expiry: a writer who comes back late
/// with a code is told it expired, not that none was sent.
pub const EXPIRED_KEPT_MINUTES: i64 = 60;

/// Starts the periodic task; it runs once at start, then every maintenance interval.
pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(state.config.limits.maintenance_interval());
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            match prune_idempotency(&state).await {
                Ok(0) => {}
                Ok(gone) => tracing::info!(gone, "forgot old idempotency answers"),
                Err(e) => tracing::warn!(%e, "idempotency pruning failed; retrying next time"),
            }
            match prune_citizen_tokens(&state).await {
                Ok(0) => {}
                Ok(gone) => tracing::info!(gone, "forgot expired codes, tickets and idle buckets"),
                Err(e) => tracing::warn!(%e, "citizen token pruning failed; retrying next time"),
            }
        }
    })
}

/// One full pruning pass: batches until a batch comes back short. Returns the rows gone.
pub async fn prune_idempotency(state: &AppState) -> Result<u64, jsjb_storage::StorageError> {
    let limits = &state.config.limits;
    let before = state.time.now() - limits.idempotency_retention();
    let mut gone = 0u64;
    loop {
        let n = state
            .store
            .prune_idempotency(before, limits.idempotency_per_user, PRUNE_BATCH)
            .await?;
        gone += u64::from(n);
        if n < PRUNE_BATCH {
            return Ok(gone);
        }
        // Let other tasks' writes in between batches.
        tokio::task::yield_now().await;
    }
}

/// One full pass over the citizen side's codes, tickets and buckets, in batches like
/// [`prune_idempotency`]. Returns the rows gone.
pub async fn prune_citizen_tokens(state: &AppState) -> Result<u64, jsjb_storage::StorageError> {
    let now = state.time.now();
    let expired_before = now - Duration::minutes(EXPIRED_KEPT_MINUTES);
    // Untouched this long, a bucket is full: forgetting it changes no answer.
    let idle_before = now - state.citizen.limits.full_after();
    let mut gone = 0u64;
    loop {
        let n = state
            .store
            .citizen_tokens()
            .prune_citizen_tokens(expired_before, idle_before, PRUNE_BATCH)
            .await?;
        gone += u64::from(n);
        if n < PRUNE_BATCH {
            return Ok(gone);
        }
        tokio::task::yield_now().await;
    }
}
