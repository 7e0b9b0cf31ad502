//! Shift handover acknowledgements in PostgreSQL.

#![allow(unused_imports)]
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jsjb_storage::StorageError;
use crate::PgStore;
use jsjb_core::org::{UnitId, UserId};
use jsjb_proto::HandoverAck;
use jsjb_storage::Actor;
use jsjb_storage::handovers::{HandoverOutcome, HandoverStore, NewHandover};

#[async_trait]
impl HandoverStore for PgStore {
    async fn record_handover(&self, _new: NewHandover, _actor: Actor) -> Result<HandoverOutcome, StorageError> {
        Err(crate::not_ported("record_handover"))
    }

    async fn handovers(&self, _unit: UnitId, _limit: u32) -> Result<Vec<HandoverAck>, StorageError> {
        Err(crate::not_ported("handovers"))
    }
}
