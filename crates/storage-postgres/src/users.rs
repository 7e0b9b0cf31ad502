//! Users, passwords and notices in PostgreSQL: a port of the SQLite backend's, with the
//! same refusals, audit entries and notices.

use crate::cached::Cached;
use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use jsjb_core::org::{Role, UnitId, UserId};
use jsjb_proto::{Notice, NoticeKind};
use jsjb_storage::{Actor, NewUser, StorageError, UserChange, UserChanged, UserRecord};
use serde_json::json;

use crate::audit::{self, NewEntry};
use crate::notices::{NewNotice, acknowledge, add_notice, open_notices};
use crate::{Db, PgStore, begin_write, corrupt, is_unique_violation, signoff};

/// A user with their roles, as columns of `users u`, read in one statement (so one
/// snapshot: a user's roles never come from another moment than the user's row).
/// [`user_from_row`] reads them; more columns may follow them.
pub(crate) const USER_COLUMNS: &str = "u.id, u.unit_id, u.username, u.display_name,
     u.active, u.must_change_password,
     ARRAY(SELECT role FROM user_roles r WHERE r.user_id = u.id ORDER BY role)";

/// How many of a row's columns [`USER_COLUMNS`] are.
pub(crate) const USER_WIDTH: usize = 7;

/// A user from a row beginning with [`USER_COLUMNS`].
pub(crate) fn user_from_row(r: &tokio_postgres::Row) -> Result<UserRecord, StorageError> {
    let id: i64 = r.get(0);
    let roles = r
        .get::<_, Vec<String>>(6)
        .iter()
        .map(|role| {
            Role::parse(role).ok_or_else(|| corrupt(format!("user {id} has unknown role {role:?}")))
        })
        .collect::<Result<BTreeSet<Role>, StorageError>>()?;
    Ok(UserRecord {
        id: UserId(id),
        unit_id: UnitId(r.get(1)),
        username: r.get(2),
        display_name: r.get(3),
        active: r.get(4),
        must_change_password: r.get(5),
        roles,
    })
}

pub(crate) async fn load_user(
    c: &impl GenericClient,
    id: UserId,
) -> Result<Option<UserRecord>, StorageError> {
    let row = c
        .query_opt_c(
            &format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1"),
            &[&id.0],
        )
        .await
        .db()?;
    row.as_ref().map(user_from_row).transpose()
}

/// A count of rows as the seam's `usize`.
fn count(n: u64) -> Result<usize, StorageError> {
    usize::try_from(n).map_err(|_| corrupt(format!("{n} rows")))
}

fn no_user(user: UserId) -> StorageError {
    StorageError::NotFound(format!("there is no user {}", user.0))
}

fn role_names(roles: &BTreeSet<Role>) -> Vec<&'static str> {
    roles.iter().map(|r| r.as_str()).collect()
}

/// Whether `unit` has an active chief other than `except`: a unit has one chief (a
/// second one could enrol a key and sign the unit's forms in their own right; deputies
/// sign through the chief's 代签 grant).
async fn other_active_chief(
    c: &impl GenericClient,
    unit: UnitId,
    except: Option<UserId>,
) -> Result<bool, StorageError> {
    Ok(c.query_one_c(
        "SELECT EXISTS (SELECT 1 FROM users u JOIN user_roles r ON r.user_id = u.id
             WHERE u.unit_id = $1 AND u.active AND r.role = 'chief' AND u.id IS DISTINCT FROM $2)",
        &[&unit.0, &except.map(|u| u.0)],
    )
    .await
    .db()?
    .get(0))
}

fn chief_exists() -> StorageError {
    StorageError::Conflict {
        code: "chief_exists",
        detail: "this unit has a chief already; a unit has one chief, and others sign only under the chief's delegation (代签)".to_owned(),
    }
}

async fn insert_roles(
    c: &impl GenericClient,
    user: UserId,
    roles: &BTreeSet<Role>,
) -> Result<(), StorageError> {
    for role in roles {
        c.execute_c(
            "INSERT INTO user_roles (user_id, role) VALUES ($1, $2)",
            &[&user.0, &role.as_str()],
        )
        .await
        .db()?;
    }
    Ok(())
}

/// Ends the user's open sessions (all but `keep`, if given); returns how many.
async fn revoke_sessions(
    c: &impl GenericClient,
    user: UserId,
    keep: Option<&str>,
    now: DateTime<Utc>,
) -> Result<usize, StorageError> {
    count(
        c.execute_c(
            "UPDATE sessions SET revoked_at = $2
             WHERE user_id = $1 AND revoked_at IS NULL AND token_hash IS DISTINCT FROM $3",
            &[&user.0, &now, &keep],
        )
        .await
        .db()?,
    )
}

// --- the trait's methods ---------------------------------------------------------

pub(crate) async fn users(store: &PgStore) -> Result<Vec<UserRecord>, StorageError> {
    let rows = store
        .client()
        .await?
        .query_c(
            &format!("SELECT {USER_COLUMNS} FROM users u ORDER BY u.id"),
            &[],
        )
        .await
        .db()?;
    rows.iter().map(user_from_row).collect()
}

pub(crate) async fn user(store: &PgStore, id: UserId) -> Result<Option<UserRecord>, StorageError> {
    load_user(&store.client().await?, id).await
}

pub(crate) async fn create_user(
    store: &PgStore,
    user: NewUser,
    actor: Actor,
    now: DateTime<Utc>,
) -> Result<UserRecord, StorageError> {
    let mut client = store.writer().await?;
    let tx = begin_write(&mut client).await?;
    let unit_exists: bool = tx
        .query_one_c(
            "SELECT EXISTS (SELECT 1 FROM units WHERE id = $1 AND active)",
            &[&user.unit_id.0],
        )
        .await
        .db()?
        .get(0);
    if !unit_exists {
        return Err(StorageError::Invalid {
            field: "unit_id",
            message: format!("there is no active unit {}", user.unit_id.0),
        });
    }
    if user.roles.contains(&Role::Chief) && other_active_chief(&tx, user.unit_id, None).await? {
        return Err(chief_exists());
    }
    // An initial password chosen by a signed-in admin is theirs to know: the user
    // replaces it at the first sign-in (the CLI's bootstrap accounts not).
    let inserted = tx
        .query_one_c(
            "INSERT INTO users (unit_id, username, display_name, password_hash, created_at, password_changed_at, password_set_by, must_change_password)
             VALUES ($1, $2, $3, $4, $5, $5, $6, $7) RETURNING id",
            &[
                &user.unit_id.0,
                &user.username,
                &user.display_name,
                &user.password_hash,
                &now,
                &actor.user.map(|u| u.0),
                &actor.user.is_some(),
            ],
        )
        .await;
    let id = match inserted {
        Err(e) if is_unique_violation(&e, Some("users_username")) => {
            return Err(StorageError::Conflict {
                code: "username_taken",
                detail: format!("the user name {:?} is taken; choose another", user.username),
            });
        }
        other => UserId(other.db()?.get(0)),
    };
    insert_roles(&tx, id, &user.roles).await?;
    audit::append(
        &tx,
        NewEntry {
            at: now,
            actor: &actor,
            action: "user.create",
            letter: None,
            unit: Some(user.unit_id),
            user: Some(id),
            payload: json!({
                "username": user.username,
                "display_name": user.display_name,
                "roles": role_names(&user.roles),
            }),
        },
    )
    .await?;
    let created = load_user(&tx, id)
        .await?
        .ok_or_else(|| corrupt("user vanished after insert"))?;
    store.commit(tx).await?;
    Ok(created)
}

pub(crate) async fn set_password(
    store: &PgStore,
    user: UserId,
    password_hash: String,
    actor: Actor,
    now: DateTime<Utc>,
) -> Result<(), StorageError> {
    let mut client = store.writer().await?;
    let tx = begin_write(&mut client).await?;
    // Whoever sets a password may know it: remembered, so that they do not count as
    // independent of this account in the dual control of signing keys.
    let set_by = actor.user.filter(|by| *by != user).map(|u| u.0);
    // A password another signed-in user chose must be changed at the next sign-in.
    // (SQLite also clears the old per-account failure columns; this schema has none.)
    let changed = tx
        .execute_c(
            "UPDATE users SET password_hash = $2, password_changed_at = $3,
                password_set_by = $4, must_change_password = $5
             WHERE id = $1",
            &[&user.0, &password_hash, &now, &set_by, &set_by.is_some()],
        )
        .await
        .db()?;
    if changed == 0 {
        return Err(no_user(user));
    }
    // A new password ends the name's lock-out and its history of failures (the
    // lock-outs are keyed by the lower-cased name).
    tx.execute_c(
        "DELETE FROM login_lockouts WHERE username = (SELECT lower(username) FROM users WHERE id = $1)",
        &[&user.0],
    )
    .await
    .db()?;
    // Whoever knew the old password may hold a session: end them all.
    let revoked = revoke_sessions(&tx, user, None, now).await?;
    audit::append(
        &tx,
        NewEntry {
            at: now,
            actor: &actor,
            action: "user.password_reset",
            letter: None,
            unit: None,
            user: Some(user),
            payload: json!({ "sessions_revoked": revoked }),
        },
    )
    .await?;
    // Nothing else changes (no key is activated or revoked), and the user is told at
    // their next sign-in, so a reset cannot be used unnoticed.
    add_notice(
        &tx,
        NewNotice {
            user,
            kind: NoticeKind::PasswordReset,
            at: now,
            by: actor.user,
            key: None,
            detail: String::new(),
        },
    )
    .await?;
    store.commit(tx).await
}

pub(crate) async fn set_user_active(
    store: &PgStore,
    user: UserId,
    active: bool,
    reason: String,
    actor: Actor,
    now: DateTime<Utc>,
) -> Result<UserRecord, StorageError> {
    let mut client = store.writer().await?;
    let tx = begin_write(&mut client).await?;
    let before = load_user(&tx, user).await?.ok_or_else(|| no_user(user))?;
    if before.active == active {
        return Err(StorageError::Conflict {
            code: "already_done",
            detail: format!(
                "the user is {} already",
                if active { "active" } else { "inactive" }
            ),
        });
    }
    // One chief per unit holds for a returning chief too.
    if active
        && before.roles.contains(&Role::Chief)
        && other_active_chief(&tx, before.unit_id, Some(user)).await?
    {
        return Err(chief_exists());
    }
    tx.execute_c(
        "UPDATE users SET active = $2 WHERE id = $1",
        &[&user.0, &active],
    )
    .await
    .db()?;
    let revoked = if active {
        0
    } else {
        revoke_sessions(&tx, user, None, now).await?
    };
    audit::append(
        &tx,
        NewEntry {
            at: now,
            actor: &actor,
            action: if active {
                "user.reactivate"
            } else {
                "user.deactivate"
            },
            letter: None,
            unit: Some(before.unit_id),
            user: Some(user),
            payload: json!({ "reason": reason, "sessions_revoked": revoked }),
        },
    )
    .await?;
    let after = load_user(&tx, user)
        .await?
        .ok_or_else(|| corrupt("user vanished after update"))?;
    store.commit(tx).await?;
    Ok(after)
}

pub(crate) async fn update_user(
    store: &PgStore,
    user: UserId,
    change: UserChange,
    reason: String,
    actor: Actor,
    now: DateTime<Utc>,
) -> Result<UserChanged, StorageError> {
    let mut client = store.writer().await?;
    let tx = begin_write(&mut client).await?;
    let before = load_user(&tx, user).await?.ok_or_else(|| no_user(user))?;
    let display_name = change
        .display_name
        .unwrap_or_else(|| before.display_name.clone());
    let roles = change.roles.unwrap_or_else(|| before.roles.clone());
    let unit_id = change.unit_id.unwrap_or(before.unit_id);
    if roles.is_empty() {
        return Err(StorageError::Invalid {
            field: "roles",
            message: "a user needs at least one role".to_owned(),
        });
    }
    if (display_name.as_str(), &roles, unit_id)
        == (before.display_name.as_str(), &before.roles, before.unit_id)
    {
        return Err(StorageError::Conflict {
            code: "already_done",
            detail: "nothing would change".to_owned(),
        });
    }
    let unit_exists: bool = tx
        .query_one_c(
            // Staying in a unit deactivated meanwhile is allowed; moving into one not.
            "SELECT EXISTS (SELECT 1 FROM units WHERE id = $1 AND (active OR id = $2))",
            &[&unit_id.0, &before.unit_id.0],
        )
        .await
        .db()?
        .get(0);
    if !unit_exists {
        return Err(StorageError::Invalid {
            field: "unit_id",
            message: format!("there is no unit {}", unit_id.0),
        });
    }
    if before.active
        && roles.contains(&Role::Chief)
        && other_active_chief(&tx, unit_id, Some(user)).await?
    {
        return Err(chief_exists());
    }
    tx.execute_c(
        "UPDATE users SET display_name = $2, unit_id = $3 WHERE id = $1",
        &[&user.0, &display_name, &unit_id.0],
    )
    .await
    .db()?;
    if roles != before.roles {
        tx.execute_c("DELETE FROM user_roles WHERE user_id = $1", &[&user.0])
            .await
            .db()?;
        insert_roles(&tx, user, &roles).await?;
    }
    // A new scope or new powers: the desktop signs in again and sees them.
    let sessions_revoked = if unit_id != before.unit_id || roles != before.roles {
        revoke_sessions(&tx, user, None, now).await?
    } else {
        0
    };
    // Signing rights belong to the chief of one unit: they end when either goes.
    let left_chief_post = before.roles.contains(&Role::Chief)
        && (!roles.contains(&Role::Chief) || unit_id != before.unit_id);
    let deputy_moved = unit_id != before.unit_id;
    let (keys_revoked, delegations_revoked) = if left_chief_post || deputy_moved {
        signoff::end_signing_rights(&tx, user, &reason, &actor, now).await?
    } else {
        (0, 0)
    };
    audit::append(
        &tx,
        NewEntry {
            at: now,
            actor: &actor,
            action: "user.update",
            letter: None,
            unit: Some(unit_id),
            user: Some(user),
            payload: json!({
                "before": {
                    "display_name": before.display_name,
                    "unit": before.unit_id.0,
                    "roles": role_names(&before.roles),
                },
                "after": {
                    "display_name": display_name,
                    "unit": unit_id.0,
                    "roles": role_names(&roles),
                },
                "sessions_revoked": sessions_revoked,
                "keys_revoked": keys_revoked,
                "delegations_revoked": delegations_revoked,
                "reason": reason,
            }),
        },
    )
    .await?;
    let after = load_user(&tx, user)
        .await?
        .ok_or_else(|| corrupt("user vanished"))?;
    store.commit(tx).await?;
    Ok(UserChanged {
        user: after,
        sessions_revoked,
        keys_revoked,
        delegations_revoked,
    })
}

pub(crate) async fn change_own_password(
    store: &PgStore,
    user: UserId,
    password_hash: String,
    keep_session: String,
    actor: Actor,
    now: DateTime<Utc>,
) -> Result<(), StorageError> {
    let mut client = store.writer().await?;
    let tx = begin_write(&mut client).await?;
    // Set by the user themself: the chain of who may know it ends here.
    let changed = tx
        .execute_c(
            "UPDATE users SET password_hash = $2, password_changed_at = $3, password_set_by = $1,
                must_change_password = false
             WHERE id = $1 AND active",
            &[&user.0, &password_hash, &now],
        )
        .await
        .db()?;
    if changed == 0 {
        return Err(StorageError::NotFound(format!(
            "there is no active user {}",
            user.0
        )));
    }
    let revoked = revoke_sessions(&tx, user, Some(&keep_session), now).await?;
    audit::append(
        &tx,
        NewEntry {
            at: now,
            actor: &actor,
            action: "user.password_change",
            letter: None,
            unit: None,
            user: Some(user),
            payload: json!({ "sessions_revoked": revoked }),
        },
    )
    .await?;
    store.commit(tx).await
}

pub(crate) async fn last_sign_ins(
    store: &PgStore,
) -> Result<Vec<(UserId, DateTime<Utc>)>, StorageError> {
    let rows = store
        .client()
        .await?
        .query_c(
            "SELECT user_id, max(created_at) FROM sessions GROUP BY user_id",
            &[],
        )
        .await
        .db()?;
    Ok(rows.iter().map(|r| (UserId(r.get(0)), r.get(1))).collect())
}

pub(crate) async fn notices(store: &PgStore, user: UserId) -> Result<Vec<Notice>, StorageError> {
    open_notices(&store.client().await?, user).await
}

pub(crate) async fn acknowledge_notices(
    store: &PgStore,
    user: UserId,
    up_to: i64,
    actor: Actor,
    now: DateTime<Utc>,
) -> Result<usize, StorageError> {
    let mut client = store.writer().await?;
    let tx = begin_write(&mut client).await?;
    let n = acknowledge(&tx, user, up_to, now).await?;
    if n > 0 {
        audit::append(
            &tx,
            NewEntry {
                at: now,
                actor: &actor,
                action: "notice.acknowledge",
                letter: None,
                unit: None,
                user: Some(user),
                payload: json!({ "up_to": up_to, "count": n }),
            },
        )
        .await?;
    }
    store.commit(tx).await?;
    Ok(n)
}
