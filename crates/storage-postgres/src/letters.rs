//! Letters in PostgreSQL: intake, the desktop record, actions in one transaction, sync pages.

#![allow(unused_imports)]
use chrono::{DateTime, Utc};
use jsjb_core::letter::{Channel, LetterId};
use jsjb_core::org::{Unit, UnitId, UserId};
use jsjb_storage::*;

use crate::PgStore;

pub(crate) async fn prune_idempotency(_store: &PgStore, _before: DateTime<Utc>, _per_user: u32, _batch: u32) -> Result<u32, StorageError> {
    Err(crate::not_ported("prune_idempotency"))
}

pub(crate) async fn create_letter(_store: &PgStore, _letter: NewLetter, _actor: Actor) -> Result<CreatedLetter, StorageError> {
    Err(crate::not_ported("create_letter"))
}

pub(crate) async fn progress(_store: &PgStore, _tracking_code: &str) -> Result<Option<ProgressRecord>, StorageError> {
    Err(crate::not_ported("progress"))
}

pub(crate) async fn attachment(_store: &PgStore, _sha256: &str) -> Result<Option<(jsjb_storage::AttachmentMeta, Vec<UnitId>)>, StorageError> {
    Err(crate::not_ported("attachment"))
}

pub(crate) async fn latest_change_seq(_store: &PgStore) -> Result<i64, StorageError> {
    Err(crate::not_ported("latest_change_seq"))
}

pub(crate) async fn letter(_store: &PgStore, _id: LetterId) -> Result<Option<jsjb_proto::LetterRecord>, StorageError> {
    Err(crate::not_ported("letter"))
}

pub(crate) async fn apply_action(_store: &PgStore, _commit: ActionCommit, _decide: DecideFn, _signed: Option<jsjb_storage::signoff::NewSignedForm>) -> Result<ActionOutcome, StorageError> {
    Err(crate::not_ported("apply_action"))
}

pub(crate) async fn sync_page(_store: &PgStore, _scope: Vec<UnitId>, _cursor: i64, _limit: u32) -> Result<SyncBatch, StorageError> {
    Err(crate::not_ported("sync_page"))
}

pub(crate) async fn latest_change_in_scope(_store: &PgStore, _scope: Vec<UnitId>, _after: i64) -> Result<Option<i64>, StorageError> {
    Err(crate::not_ported("latest_change_in_scope"))
}

pub(crate) async fn reveal_writer(_store: &PgStore, _letter: LetterId, _actor: Actor, _now: DateTime<Utc>) -> Result<jsjb_proto::Writer, StorageError> {
    Err(crate::not_ported("reveal_writer"))
}
