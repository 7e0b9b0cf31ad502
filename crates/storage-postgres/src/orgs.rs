//! Units, the clock rules and the routing rules in PostgreSQL.

#![allow(unused_imports)]
use chrono::{DateTime, Utc};
use jsjb_core::letter::{Channel, LetterId};
use jsjb_core::org::{Unit, UnitId, UserId};
use jsjb_storage::*;

use crate::PgStore;

pub(crate) async fn create_unit(_store: &PgStore, _unit: NewUnit, _actor: Actor, _now: DateTime<Utc>) -> Result<Unit, StorageError> {
    Err(crate::not_ported("create_unit"))
}

pub(crate) async fn rename_unit(_store: &PgStore, _unit: UnitId, _name: String, _reason: String, _actor: Actor, _now: DateTime<Utc>) -> Result<Unit, StorageError> {
    Err(crate::not_ported("rename_unit"))
}

pub(crate) async fn move_unit(_store: &PgStore, _unit: UnitId, _parent: UnitId, _reason: String, _actor: Actor, _now: DateTime<Utc>) -> Result<UnitMoved, StorageError> {
    Err(crate::not_ported("move_unit"))
}

pub(crate) async fn set_unit_active(_store: &PgStore, _unit: UnitId, _active: bool, _reason: String, _actor: Actor, _now: DateTime<Utc>) -> Result<Unit, StorageError> {
    Err(crate::not_ported("set_unit_active"))
}

pub(crate) async fn clock_rules(_store: &PgStore) -> Result<Option<SavedClockRules>, StorageError> {
    Err(crate::not_ported("clock_rules"))
}

pub(crate) async fn apply_clock_rules(_store: &PgStore, _version: String, _doc_json: String, _now: DateTime<Utc>) -> Result<SavedClockRules, StorageError> {
    Err(crate::not_ported("apply_clock_rules"))
}

pub(crate) async fn routing_rules(_store: &PgStore) -> Result<Option<SavedRoutingRules>, StorageError> {
    Err(crate::not_ported("routing_rules"))
}

pub(crate) async fn save_routing_rules(_store: &PgStore, _rules_json: String, _expected_version: i64, _reason: String, _actor: Actor, _now: DateTime<Utc>) -> Result<SavedRoutingRules, StorageError> {
    Err(crate::not_ported("save_routing_rules"))
}
