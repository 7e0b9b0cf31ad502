//! Login attempts and lock-outs by user name (migration 5).
//!
//! A name is counted whether or not an account has it: an unknown name locks after the
//! same failures, for the same time, as a real one, so no answer tells which names
//! exist. Each lock-out of a name lasts twice the one before (up to the policy's
//! longest), and a name's history is forgotten a day after its last failure.

use chrono::{DateTime, Duration, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::json;

use crate::Db;
use crate::audit::{self, NewEntry};
use crate::time_col;
use jsjb_storage::time::to_db;
use jsjb_storage::{Actor, LockoutPolicy, LoginAttempt, NewSession, StorageError};

/// How long a name's failures and lock count are remembered after its last failure.
const MEMORY: Duration = Duration::days(1);

pub fn locked_until(
    conn: &Connection,
    username: &str,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, StorageError> {
    let until: Option<Option<String>> = conn
        .query_row(
            "SELECT locked_until FROM login_lockouts WHERE username = ?1",
            [username],
            |r| r.get(0),
        )
        .optional()
        .db()?;
    let until = until.flatten().as_deref().map(time_col).transpose()?;
    Ok(until.filter(|u| *u > now))
}

pub fn ip_failures_since(
    conn: &Connection,
    ip_bucket: &str,
    since: DateTime<Utc>,
) -> Result<u32, StorageError> {
    conn.query_row(
        "SELECT count(*) FROM login_attempts WHERE ip_bucket = ?1 AND at >= ?2 AND success = 0",
        params![ip_bucket, to_db(since)],
        |r| r.get(0),
    )
    .db()
}

fn insert_attempt(
    tx: &Connection,
    attempt: &LoginAttempt,
    success: bool,
) -> Result<(), StorageError> {
    tx.execute(
        "INSERT INTO login_attempts (at, username, user_id, ip, ip_bucket, success)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            to_db(attempt.at),
            attempt.username,
            attempt.user.map(|u| u.0),
            attempt.ip,
            attempt.ip_bucket,
            success
        ],
    )
    .db()?;
    Ok(())
}

pub fn record_failure(
    tx: &Connection,
    attempt: &LoginAttempt,
    count_for_name: bool,
    policy: LockoutPolicy,
) -> Result<Option<DateTime<Utc>>, StorageError> {
    let now = attempt.at;
    insert_attempt(tx, attempt, false)?;
    if let Some(until) = locked_until(tx, &attempt.username, now)? {
        // Trying a locked name must not extend its lock.
        return Ok(Some(until));
    }
    if !count_for_name {
        return Ok(None);
    }
    // Forget names idle for a day (the table must not grow with every name a guesser
    // invents); the index on last_failure_at keeps this to the rows it deletes.
    let at = to_db(now);
    tx.execute(
        "DELETE FROM login_lockouts WHERE last_failure_at < ?1
         AND (locked_until IS NULL OR locked_until <= ?2)",
        params![to_db(now - MEMORY), at],
    )
    .db()?;
    let (failures, lockouts): (u32, u32) = tx
        .query_row(
            "SELECT failures, lockouts FROM login_lockouts WHERE username = ?1",
            [&attempt.username],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .db()?
        .unwrap_or((0, 0));
    let failures = failures.saturating_add(1);
    let (failures_after, lockouts, until) = if failures >= policy.threshold {
        let nth = lockouts.saturating_add(1);
        (0, nth, Some(now + policy.lock_for(nth)))
    } else {
        (failures, lockouts, None)
    };
    tx.execute(
        "INSERT INTO login_lockouts (username, failures, lockouts, locked_until, last_failure_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (username) DO UPDATE SET failures = ?2, lockouts = ?3,
             locked_until = coalesce(?4, locked_until), last_failure_at = ?5",
        params![
            attempt.username,
            failures_after,
            lockouts,
            until.map(to_db),
            at
        ],
    )
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
            tx,
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
        .db()?;
    }
    Ok(until)
}

pub fn record_success(
    tx: &Connection,
    attempt: &LoginAttempt,
    session: &NewSession,
) -> Result<Option<DateTime<Utc>>, StorageError> {
    // The check before the password was verified may have raced failures that locked
    // the name since; the writer serialises, so this one is final.
    // (Not recorded as an attempt: the password was right, it counts against nothing.)
    if let Some(until) = locked_until(tx, &attempt.username, attempt.at)? {
        return Ok(Some(until));
    }
    insert_attempt(tx, attempt, true)?;
    tx.execute(
        "DELETE FROM login_lockouts WHERE username = ?1",
        [&attempt.username],
    )
    .db()?;
    let at = to_db(session.created_at);
    tx.execute(
        "INSERT INTO sessions (token_hash, user_id, created_at, expires_at, ip, workstation)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            session.token_hash,
            session.user_id.0,
            at,
            to_db(session.expires_at),
            session.ip,
            session.workstation
        ],
    )
    .db()?;
    let actor = Actor {
        user: Some(session.user_id),
        unit: None,
        role: None,
        label: format!("user:{}", session.user_id.0),
        workstation: session.workstation.clone(),
    };
    audit::append(
        tx,
        NewEntry {
            at: session.created_at,
            actor: &actor,
            action: "auth.login",
            letter: None,
            unit: None,
            user: Some(session.user_id),
            // The first 8 hex digits identify the session in the log without
            // giving anything usable away (the hash is not the token).
            payload: json!({
                "ip": session.ip,
                "session": session.token_hash.get(..8).unwrap_or_default(),
            }),
        },
    )
    .db()?;
    Ok(None)
}
