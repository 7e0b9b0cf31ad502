//! The citizen side in PostgreSQL: duplicates, ratings, conversation drafts.

#![allow(unused_imports)]
use chrono::{DateTime, Utc};
use jsjb_core::letter::{Channel, LetterId};
use jsjb_core::org::{Unit, UnitId, UserId};
use jsjb_storage::*;

use crate::PgStore;

pub(crate) async fn recent_duplicate(_store: &PgStore, _phone: &str, _body: &str, _since: DateTime<Utc>) -> Result<Option<(String, DateTime<Utc>)>, StorageError> {
    Err(crate::not_ported("recent_duplicate"))
}

pub(crate) async fn rate_letter(_store: &PgStore, _tracking_code: &str, _rating: Rating, _actor: Actor) -> Result<(), StorageError> {
    Err(crate::not_ported("rate_letter"))
}

pub(crate) async fn rating(_store: &PgStore, _tracking_code: &str) -> Result<Option<Rating>, StorageError> {
    Err(crate::not_ported("rating"))
}

pub(crate) async fn draft(_store: &PgStore, _channel: Channel, _sender: &str) -> Result<Option<Draft>, StorageError> {
    Err(crate::not_ported("draft"))
}

pub(crate) async fn message_seen(_store: &PgStore, _channel: Channel, _msg_id: &str) -> Result<bool, StorageError> {
    Err(crate::not_ported("message_seen"))
}

pub(crate) async fn apply_message(_store: &PgStore, _message: DraftMessage) -> Result<DraftOutcome, StorageError> {
    Err(crate::not_ported("apply_message"))
}
