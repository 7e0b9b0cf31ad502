//! Logins, lock-outs and sessions in PostgreSQL (the SQLite backend's `logins.rs` and
//! its session methods).
//!
//! A name is counted whether or not an account has it: an unknown name locks after the
//! same failures, for the same time, as a real one, so no answer tells which names
//! exist. Each lock-out of a name lasts twice the one before (up to the policy's
//! longest), and a name's history is forgotten a day after its last failure.
//! Lock-outs are keyed by `lower(name)`, as SQLite's `COLLATE NOCASE` keys them.

use crate::cached::Cached;
use chrono::{DateTime, Duration, Utc};
use deadpool_postgres::GenericClient;
use jsjb_core::org::UserId;
use jsjb_storage::time::to_db;
use jsjb_storage::{
    Actor, Credentials, LockoutPolicy, LoginAttempt, NewSession, SessionRecord, StorageError,
};
use serde_json::json;

use crate::audit::{self, NewEntry};
use crate::users::{USER_COLUMNS, USER_WIDTH, load_user, user_from_row};
use crate::{Db, PgStore, corrupt};

/// How long a name's failures and lock count are remembered after its last failure.
const MEMORY: Duration = Duration::days(1);

/// The first 8 hex digits of a session's hash: they identify the session in the log
/// without giving anything usable away (the hash is not the token).
fn session_label(token_hash: &str) -> &str {
    token_hash.get(..8).unwrap_or_default()
}

pub(crate) async fn credentials(
    store: &PgStore,
    username: &str,
) -> Result<Option<Credentials>, StorageError> {
    // lower(username) is what the unique index holds: names match regardless of case.
    // One statement: the password hash and the user it checks in for agree.
    let found = store
        .client()
        .await?
        .query_opt_c(
            &format!(
                "SELECT {USER_COLUMNS}, u.password_hash FROM users u
                 WHERE lower(u.username) = lower($1)"
            ),
            &[&username],
        )
        .await
        .db()?;
    let Some(row) = found else {
        return Ok(None);
    };
    Ok(Some(Credentials {
        user: user_from_row(&row)?,
        password_hash: row.get(USER_WIDTH),
    }))
}

async fn locked_until(
    c: &impl GenericClient,
    username: &str,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, StorageError> {
    let until: Option<DateTime<Utc>> = c
        .query_opt_c(
            "SELECT locked_until FROM login_lockouts WHERE username = lower($1)",
            &[&username],
        )
        .await
        .db()?
        .and_then(|r| r.get(0));
    Ok(until.filter(|u| *u > now))
}

pub(crate) async fn login_lock(
    store: &PgStore,
    username: &str,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, StorageError> {
    let client = store.client().await?;
    locked_until(&client, username, now).await
}

pub(crate) async fn ip_failures_since(
    store: &PgStore,
    ip_bucket: &str,
    since: DateTime<Utc>,
) -> Result<u32, StorageError> {
    let client = store.client().await?;
    let n: i64 = client
        .query_one_c(
            "SELECT count(*) FROM login_attempts WHERE ip_bucket = $1 AND at >= $2 AND NOT success",
            &[&ip_bucket, &since],
        )
        .await
        .db()?
        .get(0);
    // More than u32::MAX failures from one address is still "too many".
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

async fn insert_attempt(
    tx: &impl GenericClient,
    attempt: &LoginAttempt,
    success: bool,
) -> Result<(), StorageError> {
    tx.execute_c(
        "INSERT INTO login_attempts (at, username, user_id, ip, ip_bucket, success)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &attempt.at,
            &attempt.username,
            &attempt.user.map(|u| u.0),
            &attempt.ip,
            &attempt.ip_bucket,
            &success,
        ],
    )
    .await
    .db()?;
    Ok(())
}

/// A count column (`CHECK (… >= 0)`) as the policy counts it.
fn count_col(value: i32, what: &str) -> Result<u32, StorageError> {
    u32::try_from(value).map_err(|_| corrupt(format!("login_lockouts.{what} is {value}")))
}

/// A count to store: the counts stay far below i32::MAX (a lock-out resets failures,
/// and lock-outs are forgotten after a day), so saturating loses nothing real.
fn count_param(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

pub(crate) async fn record_login_failure(
    store: &PgStore,
    attempt: LoginAttempt,
    count_for_name: bool,
    policy: LockoutPolicy,
) -> Result<Option<DateTime<Utc>>, StorageError> {
    let mut client = store.writer().await?;
    let tx = crate::begin_write(&mut client).await?;
    let now = attempt.at;
    insert_attempt(&tx, &attempt, false).await?;
    if let Some(until) = locked_until(&tx, &attempt.username, now).await? {
        // Trying a locked name must not extend its lock (the attempt is still recorded).
        store.commit(tx).await?;
        return Ok(Some(until));
    }
    if !count_for_name {
        store.commit(tx).await?;
        return Ok(None);
    }
    // Forget names idle for a day (the table must not grow with every name a guesser
    // invents); the index on last_failure_at keeps this to the rows it deletes.
    tx.execute_c(
        "DELETE FROM login_lockouts WHERE last_failure_at < $1
         AND (locked_until IS NULL OR locked_until <= $2)",
        &[&(now - MEMORY), &now],
    )
    .await
    .db()?;
    let (failures, lockouts) = match tx
        .query_opt_c(
            "SELECT failures, lockouts FROM login_lockouts WHERE username = lower($1)",
            &[&attempt.username],
        )
        .await
        .db()?
    {
        Some(r) => (
            count_col(r.get(0), "failures")?,
            count_col(r.get(1), "lockouts")?,
        ),
        None => (0, 0),
    };
    let failures = failures.saturating_add(1);
    let (failures_after, lockouts, until) = if failures >= policy.threshold {
        let nth = lockouts.saturating_add(1);
        (0, nth, Some(now + policy.lock_for(nth)))
    } else {
        (failures, lockouts, None)
    };
    tx.execute_c(
        "INSERT INTO login_lockouts (username, failures, lockouts, locked_until, last_failure_at)
         VALUES (lower($1), $2, $3, $4, $5)
         ON CONFLICT (username) DO UPDATE SET failures = $2, lockouts = $3,
             locked_until = coalesce($4, login_lockouts.locked_until), last_failure_at = $5",
        &[
            &attempt.username,
            &count_param(failures_after),
            &count_param(lockouts),
            &until,
            &now,
        ],
    )
    .await
    .db()?;
    if let (Some(until), Some(user)) = (until, attempt.user) {
        // Only real accounts' lock-outs go to the audit log: a guesser inventing
        // names must not be able to grow the append-only log at will.
        let actor = Actor {
            user: None,
            unit: None,
            role: None,
            label: format!("login:{}", attempt.ip),
            workstation: None,
        };
        audit::append(
            &tx,
            NewEntry {
                at: now,
                actor: &actor,
                action: "auth.lockout",
                letter: None,
                unit: None,
                user: Some(user),
                payload: json!({ "failures": failures, "lockout": lockouts, "until": to_db(until) }),
            },
        )
        .await?;
    }
    store.commit(tx).await?;
    Ok(until)
}

pub(crate) async fn record_login_success(
    store: &PgStore,
    attempt: LoginAttempt,
    session: NewSession,
) -> Result<Option<DateTime<Utc>>, StorageError> {
    let mut client = store.writer().await?;
    let tx = crate::begin_write(&mut client).await?;
    // The check before the password was verified may have raced failures that locked
    // the name since; the write lock serialises, so this one is final.
    // (Not recorded as an attempt: the password was right, it counts against nothing.)
    if let Some(until) = locked_until(&tx, &attempt.username, attempt.at).await? {
        return Ok(Some(until));
    }
    insert_attempt(&tx, &attempt, true).await?;
    tx.execute_c(
        "DELETE FROM login_lockouts WHERE username = lower($1)",
        &[&attempt.username],
    )
    .await
    .db()?;
    tx.execute_c(
        "INSERT INTO sessions (token_hash, user_id, created_at, expires_at, ip, workstation)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &session.token_hash,
            &session.user_id.0,
            &session.created_at,
            &session.expires_at,
            &session.ip,
            &session.workstation,
        ],
    )
    .await
    .db()?;
    let actor = Actor {
        user: Some(session.user_id),
        unit: None,
        role: None,
        label: format!("user:{}", session.user_id.0),
        workstation: session.workstation.clone(),
    };
    audit::append(
        &tx,
        NewEntry {
            at: session.created_at,
            actor: &actor,
            action: "auth.login",
            letter: None,
            unit: None,
            user: Some(session.user_id),
            payload: json!({
                "ip": session.ip,
                "session": session_label(&session.token_hash),
            }),
        },
    )
    .await?;
    store.commit(tx).await?;
    Ok(None)
}

pub(crate) async fn session(
    store: &PgStore,
    token_hash: &str,
) -> Result<Option<SessionRecord>, StorageError> {
    // One statement, one snapshot: the session and its user as they stood together.
    let found = store
        .client()
        .await?
        .query_opt_c(
            &format!(
                "SELECT {USER_COLUMNS}, s.expires_at, coalesce(s.last_seen_at, s.created_at),
                        s.revoked_at IS NOT NULL
                 FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1"
            ),
            &[&token_hash],
        )
        .await
        .db()?;
    let Some(row) = found else {
        return Ok(None);
    };
    Ok(Some(SessionRecord {
        user: user_from_row(&row)?,
        expires_at: row.get(USER_WIDTH),
        last_seen_at: row.get(USER_WIDTH + 1),
        revoked: row.get(USER_WIDTH + 2),
    }))
}

pub(crate) async fn revoke_session(
    store: &PgStore,
    token_hash: &str,
    actor: Actor,
    now: DateTime<Utc>,
) -> Result<(), StorageError> {
    let mut client = store.writer().await?;
    let tx = crate::begin_write(&mut client).await?;
    let changed = tx
        .execute_c(
            "UPDATE sessions SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL",
            &[&token_hash, &now],
        )
        .await
        .db()?;
    if changed > 0 {
        audit::append(
            &tx,
            NewEntry {
                at: now,
                actor: &actor,
                action: "auth.logout",
                letter: None,
                unit: None,
                user: actor.user,
                payload: json!({ "session": session_label(token_hash) }),
            },
        )
        .await?;
    }
    store.commit(tx).await
}

pub(crate) async fn touch_session(
    store: &PgStore,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<(), StorageError> {
    let mut client = store.writer().await?;
    // Under the write lock like every write (the house rule), though this one touches
    // neither the audit chain nor the changes.
    let tx = crate::begin_write(&mut client).await?;
    tx.execute_c(
        "UPDATE sessions SET last_seen_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL",
        &[&token_hash, &now],
    )
    .await
    .db()?;
    store.commit(tx).await
}

pub(crate) async fn revoke_user_sessions(
    store: &PgStore,
    user: UserId,
    reason: String,
    actor: Actor,
    now: DateTime<Utc>,
) -> Result<usize, StorageError> {
    let mut client = store.writer().await?;
    let tx = crate::begin_write(&mut client).await?;
    if load_user(&tx, user).await?.is_none() {
        return Err(StorageError::NotFound(format!(
            "there is no user {}",
            user.0
        )));
    }
    let revoked = tx
        .execute_c(
            "UPDATE sessions SET revoked_at = $2
             WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2",
            &[&user.0, &now],
        )
        .await
        .db()?;
    let revoked = usize::try_from(revoked).map_err(|_| corrupt("sessions revoked overflow"))?;
    audit::append(
        &tx,
        NewEntry {
            at: now,
            actor: &actor,
            action: "user.sessions_revoke",
            letter: None,
            unit: None,
            user: Some(user),
            payload: json!({ "sessions_revoked": revoked, "reason": reason }),
        },
    )
    .await?;
    store.commit(tx).await?;
    Ok(revoked)
}
