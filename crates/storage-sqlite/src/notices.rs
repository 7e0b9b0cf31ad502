//! Notices to users about their own account (key events, password resets), written in
//! the same transaction as the change they report, so a change cannot happen without
//! its owner being told at the next sign-in.

use chrono::{DateTime, Utc};
use jsjb_core::org::UserId;
use jsjb_proto::{Notice, NoticeKind};
use rusqlite::{Connection, params};

use jsjb_storage::StorageError;
use jsjb_storage::time::{from_db, to_db};

use crate::Db;

pub struct NewNotice {
    pub user: UserId,
    pub kind: NoticeKind,
    pub at: DateTime<Utc>,
    pub by: Option<UserId>,
    /// (key id, fingerprint)
    pub key: Option<(i64, String)>,
    pub detail: String,
}

fn kind_str(kind: NoticeKind) -> &'static str {
    match kind {
        NoticeKind::KeyRegistered => "key_registered",
        NoticeKind::KeyActivated => "key_activated",
        NoticeKind::KeyRevoked => "key_revoked",
        NoticeKind::PasswordReset => "password_reset",
    }
}

fn kind_of(text: &str) -> Option<NoticeKind> {
    [
        NoticeKind::KeyRegistered,
        NoticeKind::KeyActivated,
        NoticeKind::KeyRevoked,
        NoticeKind::PasswordReset,
    ]
    .into_iter()
    .find(|k| kind_str(*k) == text)
}

pub fn add(tx: &Connection, notice: NewNotice) -> Result<(), StorageError> {
    let (key_id, fingerprint) = notice.key.unzip();
    tx.execute(
        "INSERT INTO user_notices (user_id, kind, at, by_user_id, key_id, fingerprint, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            notice.user.0,
            kind_str(notice.kind),
            to_db(notice.at),
            notice.by.map(|u| u.0),
            key_id,
            fingerprint,
            notice.detail
        ],
    )
    .db()?;
    Ok(())
}

/// The user's notices not acknowledged yet, oldest first.
pub fn open(conn: &Connection, user: UserId) -> Result<Vec<Notice>, StorageError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, kind, at, by_user_id, key_id, fingerprint, detail FROM user_notices
         WHERE user_id = ?1 AND acknowledged_at IS NULL ORDER BY id",
        )
        .db()?;
    let rows = stmt
        .query_map([user.0], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<i64>>(3)?,
                r.get::<_, Option<i64>>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, String>(6)?,
            ))
        })
        .db()?;
    let mut out = Vec::new();
    for row in rows {
        let (id, kind, at, by, key_id, fingerprint, detail) = row.db()?;
        out.push(Notice {
            id,
            kind: kind_of(&kind)
                .ok_or_else(|| StorageError::Corrupt(format!("notice kind {kind:?}")))?,
            at: from_db(&at)
                .map_err(|e| StorageError::Corrupt(format!("bad timestamp {at:?}: {e}")))?,
            by: by.map(UserId),
            key_id,
            fingerprint,
            detail,
        });
    }
    Ok(out)
}

/// Marks the user's notices up to and including `up_to` as read; returns how many.
/// Only the user's own notices: another user's id changes nothing.
pub fn acknowledge(
    tx: &Connection,
    user: UserId,
    up_to: i64,
    now: DateTime<Utc>,
) -> Result<usize, StorageError> {
    tx.execute(
        "UPDATE user_notices SET acknowledged_at = ?3
         WHERE user_id = ?1 AND id <= ?2 AND acknowledged_at IS NULL",
        params![user.0, up_to, to_db(now)],
    )
    .db()
}
