//! Shift handover acknowledgements (交接班) as stored: append-only, audit-logged, and
//! idempotent under the desktop's `Idempotency-Key`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jsjb_core::org::{UnitId, UserId};
use jsjb_proto::{HandoverAck, HandoverAckRequest};

use crate::{Actor, StorageError};

/// A validated acknowledgement to store.
#[derive(Debug, Clone)]
pub struct NewHandover {
    pub request: HandoverAckRequest,
    pub user: UserId,
    pub recorded_at: DateTime<Utc>,
    pub idempotency_key: String,
    pub request_hash: String,
}

#[derive(Debug, Clone)]
pub enum HandoverOutcome {
    Recorded(HandoverAck),
    /// The key was used before for the same request: the first record.
    Replayed(HandoverAck),
    /// The key was used before for a different request.
    KeyReused,
}

#[async_trait]
pub trait HandoverStore: Send + Sync {
    /// Stores the acknowledgement and its audit entry in one transaction.
    async fn record_handover(
        &self,
        new: NewHandover,
        actor: Actor,
    ) -> Result<HandoverOutcome, StorageError>;
    /// The unit's acknowledgements, newest first.
    async fn handovers(&self, unit: UnitId, limit: u32) -> Result<Vec<HandoverAck>, StorageError>;
}
