//! Users, passwords and notices in PostgreSQL.

#![allow(unused_imports)]
use chrono::{DateTime, Utc};
use jsjb_core::letter::{Channel, LetterId};
use jsjb_core::org::{Unit, UnitId, UserId};
use jsjb_storage::*;

use std::collections::BTreeSet;

use deadpool_postgres::GenericClient;
use jsjb_core::org::Role;

use crate::{Db, PgStore, corrupt};

/// The columns [`user_from_row`] reads, in its order.
pub(crate) const USER_COLUMNS: &str =
    "id, unit_id, username, display_name, active, must_change_password";

pub(crate) async fn load_roles(
    c: &impl GenericClient,
    user: i64,
) -> Result<BTreeSet<Role>, StorageError> {
    let rows = c
        .query("SELECT role FROM user_roles WHERE user_id = $1", &[&user])
        .await
        .db()?;
    rows.iter()
        .map(|r| {
            let role: &str = r.get(0);
            Role::parse(role)
                .ok_or_else(|| corrupt(format!("user {user} has unknown role {role:?}")))
        })
        .collect()
}

/// A user from a row of [`USER_COLUMNS`], with their roles.
pub(crate) async fn user_from_row(
    c: &impl GenericClient,
    r: &tokio_postgres::Row,
) -> Result<UserRecord, StorageError> {
    let id: i64 = r.get(0);
    Ok(UserRecord {
        id: UserId(id),
        unit_id: UnitId(r.get(1)),
        username: r.get(2),
        display_name: r.get(3),
        active: r.get(4),
        must_change_password: r.get(5),
        roles: load_roles(c, id).await?,
    })
}

pub(crate) async fn load_user(
    c: &impl GenericClient,
    id: UserId,
) -> Result<Option<UserRecord>, StorageError> {
    let row = c
        .query_opt(
            &format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"),
            &[&id.0],
        )
        .await
        .db()?;
    match row {
        Some(r) => Ok(Some(user_from_row(c, &r).await?)),
        None => Ok(None),
    }
}

pub(crate) async fn users(_store: &PgStore) -> Result<Vec<UserRecord>, StorageError> {
    Err(crate::not_ported("users"))
}

pub(crate) async fn user(_store: &PgStore, _id: UserId) -> Result<Option<UserRecord>, StorageError> {
    Err(crate::not_ported("user"))
}

pub(crate) async fn create_user(_store: &PgStore, _user: NewUser, _actor: Actor, _now: DateTime<Utc>) -> Result<UserRecord, StorageError> {
    Err(crate::not_ported("create_user"))
}

pub(crate) async fn set_password(_store: &PgStore, _user: UserId, _password_hash: String, _actor: Actor, _now: DateTime<Utc>) -> Result<(), StorageError> {
    Err(crate::not_ported("set_password"))
}

pub(crate) async fn set_user_active(_store: &PgStore, _user: UserId, _active: bool, _reason: String, _actor: Actor, _now: DateTime<Utc>) -> Result<UserRecord, StorageError> {
    Err(crate::not_ported("set_user_active"))
}

pub(crate) async fn update_user(_store: &PgStore, _user: UserId, _change: UserChange, _reason: String, _actor: Actor, _now: DateTime<Utc>) -> Result<UserChanged, StorageError> {
    Err(crate::not_ported("update_user"))
}

pub(crate) async fn change_own_password(_store: &PgStore, _user: UserId, _password_hash: String, _keep_session: String, _actor: Actor, _now: DateTime<Utc>) -> Result<(), StorageError> {
    Err(crate::not_ported("change_own_password"))
}

pub(crate) async fn last_sign_ins(_store: &PgStore) -> Result<Vec<(UserId, DateTime<Utc>)>, StorageError> {
    Err(crate::not_ported("last_sign_ins"))
}

pub(crate) async fn notices(_store: &PgStore, _user: UserId) -> Result<Vec<jsjb_proto::Notice>, StorageError> {
    Err(crate::not_ported("notices"))
}

pub(crate) async fn acknowledge_notices(_store: &PgStore, _user: UserId, _up_to: i64, _actor: Actor, _now: DateTime<Utc>) -> Result<usize, StorageError> {
    Err(crate::not_ported("acknowledge_notices"))
}
