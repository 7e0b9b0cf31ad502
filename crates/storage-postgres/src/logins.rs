//! Logins, lock-outs and sessions in PostgreSQL.

#![allow(unused_imports)]
use chrono::{DateTime, Utc};
use jsjb_core::letter::{Channel, LetterId};
use jsjb_core::org::{Unit, UnitId, UserId};
use jsjb_storage::*;

use crate::PgStore;

pub(crate) async fn credentials(_store: &PgStore, _username: &str) -> Result<Option<Credentials>, StorageError> {
    Err(crate::not_ported("credentials"))
}

pub(crate) async fn login_lock(_store: &PgStore, _username: &str, _now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, StorageError> {
    Err(crate::not_ported("login_lock"))
}

pub(crate) async fn ip_failures_since(_store: &PgStore, _ip_bucket: &str, _since: DateTime<Utc>) -> Result<u32, StorageError> {
    Err(crate::not_ported("ip_failures_since"))
}

pub(crate) async fn record_login_failure(_store: &PgStore, _attempt: LoginAttempt, _count_for_name: bool, _policy: LockoutPolicy) -> Result<Option<DateTime<Utc>>, StorageError> {
    Err(crate::not_ported("record_login_failure"))
}

pub(crate) async fn record_login_success(_store: &PgStore, _attempt: LoginAttempt, _session: NewSession) -> Result<Option<DateTime<Utc>>, StorageError> {
    Err(crate::not_ported("record_login_success"))
}

pub(crate) async fn session(_store: &PgStore, _token_hash: &str) -> Result<Option<SessionRecord>, StorageError> {
    Err(crate::not_ported("session"))
}

pub(crate) async fn revoke_session(_store: &PgStore, _token_hash: &str, _actor: Actor, _now: DateTime<Utc>) -> Result<(), StorageError> {
    Err(crate::not_ported("revoke_session"))
}

pub(crate) async fn touch_session(_store: &PgStore, _token_hash: &str, _now: DateTime<Utc>) -> Result<(), StorageError> {
    Err(crate::not_ported("touch_session"))
}

pub(crate) async fn revoke_user_sessions(_store: &PgStore, _user: UserId, _reason: String, _actor: Actor, _now: DateTime<Utc>) -> Result<usize, StorageError> {
    Err(crate::not_ported("revoke_user_sessions"))
}
