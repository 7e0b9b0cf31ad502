//! Notices to users about their own account (key events, password resets), written in
//! the same transaction as the change they report, so a change cannot happen without
//! its owner being told at the next sign-in. Written by the account changes (users.rs)
//! and the sign-off (signoff.rs).

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use jsjb_core::org::UserId;
use jsjb_proto::{Notice, NoticeKind};
use jsjb_storage::StorageError;

use crate::cached::Cached;
use crate::{Db, corrupt};

/// A notice to write with [`add_notice`].
pub(crate) struct NewNotice {
    pub user: UserId,
    pub kind: NoticeKind,
    pub at: DateTime<Utc>,
    pub by: Option<UserId>,
    /// (key id, fingerprint)
    pub key: Option<(i64, String)>,
    pub detail: String,
}

/// The stored name of a notice kind (`user_notices.kind`).
pub(crate) fn notice_kind_str(kind: NoticeKind) -> &'static str {
    match kind {
        NoticeKind::KeyRegistered => "key_registered",
        NoticeKind::KeyActivated => "key_activated",
        NoticeKind::KeyRevoked => "key_revoked",
        NoticeKind::PasswordReset => "password_reset",
    }
}

fn notice_kind_of(text: &str) -> Option<NoticeKind> {
    [
        NoticeKind::KeyRegistered,
        NoticeKind::KeyActivated,
        NoticeKind::KeyRevoked,
        NoticeKind::PasswordReset,
    ]
    .into_iter()
    .find(|k| notice_kind_str(*k) == text)
}

/// Writes a notice inside the caller's write transaction (the SQLite backend's
/// `notices::add`).
pub(crate) async fn add_notice(
    tx: &impl GenericClient,
    notice: NewNotice,
) -> Result<(), StorageError> {
    let (key_id, fingerprint) = notice.key.unzip();
    tx.execute_c(
        "INSERT INTO user_notices (user_id, kind, at, by_user_id, key_id, fingerprint, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &notice.user.0,
            &notice_kind_str(notice.kind),
            &notice.at,
            &notice.by.map(|u| u.0),
            &key_id,
            &fingerprint,
            &notice.detail,
        ],
    )
    .await
    .db()?;
    Ok(())
}

/// The user's notices not acknowledged yet, oldest first.
pub(crate) async fn open_notices(
    c: &impl GenericClient,
    user: UserId,
) -> Result<Vec<Notice>, StorageError> {
    let rows = c
        .query_c(
            "SELECT id, kind, at, by_user_id, key_id, fingerprint, detail FROM user_notices
             WHERE user_id = $1 AND acknowledged_at IS NULL ORDER BY id",
            &[&user.0],
        )
        .await
        .db()?;
    rows.iter()
        .map(|r| {
            let kind: &str = r.get(1);
            Ok(Notice {
                id: r.get(0),
                kind: notice_kind_of(kind)
                    .ok_or_else(|| corrupt(format!("notice kind {kind:?}")))?,
                at: r.get(2),
                by: r.get::<_, Option<i64>>(3).map(UserId),
                key_id: r.get(4),
                fingerprint: r.get(5),
                detail: r.get(6),
            })
        })
        .collect()
}

/// Marks the user's notices up to and including `up_to` as read; returns how many.
/// Only the user's own notices: another user's id changes nothing.
pub(crate) async fn acknowledge(
    tx: &impl GenericClient,
    user: UserId,
    up_to: i64,
    now: DateTime<Utc>,
) -> Result<usize, StorageError> {
    let n = tx
        .execute_c(
            "UPDATE user_notices SET acknowledged_at = $3
             WHERE user_id = $1 AND id <= $2 AND acknowledged_at IS NULL",
            &[&user.0, &up_to, &now],
        )
        .await
        .db()?;
    usize::try_from(n).map_err(|_| corrupt(format!("{n} rows")))
}
