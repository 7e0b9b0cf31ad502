//! Housekeeping while the server runs: old idempotency answers are forgotten after
//! the retention (`--idempotency-retention-days`), and each user keeps at most
//! `--idempotency-per-user`, so the table cannot grow without bound.
//!
//! The work goes to the database writer in batches of [`PRUNE_BATCH`] rows, each its
//! own small job, so the desks' writes interleave with it instead of waiting behind
//! one huge delete.

use crate::state::AppState;

/// Rows one pruning job deletes at most.
pub const PRUNE_BATCH: u32 = 1000;

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
