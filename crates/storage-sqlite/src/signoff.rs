//! The sign-off's tables in SQLite (migration "signing keys, delegations, signed forms").

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jsjb_core::letter::{Category, LetterId};
use jsjb_core::org::{UnitId, UserId};
use jsjb_proto::{ActionResponse, Delegation, KeyActivation, KeyState, NoticeKind, SigningKey};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::json;

use crate::Db;
use crate::SqliteStore;
use crate::audit::{self, NewEntry};
use crate::{letters, notices};
use jsjb_storage::signoff::{
    APPROVALS_REQUIRED, NewDelegation, NewKey, NewSignedForm, SignoffStore,
};
use jsjb_storage::time::{from_db, to_db};
use jsjb_storage::{ActionCommit, ActionOutcome, Actor, DecideFn, StorageError, StoredAnswer};

fn corrupt(what: impl Into<String>) -> StorageError {
    StorageError::Corrupt(what.into())
}

fn time(text: &str) -> Result<DateTime<Utc>, StorageError> {
    from_db(text).map_err(|e| corrupt(format!("bad timestamp {text:?}: {e}")))
}

fn opt_time(text: Option<String>) -> Result<Option<DateTime<Utc>>, StorageError> {
    text.as_deref().map(time).transpose()
}

fn key_state(text: &str) -> Result<KeyState, StorageError> {
    match text {
        "pending" => Ok(KeyState::Pending),
        "active" => Ok(KeyState::Active),
        "revoked" => Ok(KeyState::Revoked),
        other => Err(corrupt(format!("key state {other:?}"))),
    }
}

fn key_state_str(state: KeyState) -> &'static str {
    match state {
        KeyState::Pending => "pending",
        KeyState::Active => "active",
        KeyState::Revoked => "revoked",
    }
}

const KEY_COLUMNS: &str = "id, user_id, unit_id, public_key_pem, fingerprint, label, state, created_at, activated_at, revoked_at";

fn load_keys(conn: &Connection, id: Option<i64>) -> Result<Vec<SigningKey>, StorageError> {
    let sql = match id {
        Some(_) => format!("SELECT {KEY_COLUMNS} FROM signing_keys WHERE id = ?1"),
        None => format!("SELECT {KEY_COLUMNS} FROM signing_keys WHERE ?1 IS NULL ORDER BY id"),
    };
    let mut stmt = conn.prepare_cached(&sql).db()?;
    let rows = stmt
        .query_map([id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, String>(7)?,
                r.get::<_, Option<String>>(8)?,
                r.get::<_, Option<String>>(9)?,
            ))
        })
        .db()?;
    let mut out = Vec::new();
    for row in rows {
        let (id, user, unit, pem, fingerprint, label, state, created, activated, revoked) =
            row.db()?;
        out.push(SigningKey {
            id,
            user_id: UserId(user),
            unit_id: UnitId(unit),
            public_key_pem: pem,
            fingerprint,
            label,
            state: key_state(&state)?,
            created_at: time(&created)?,
            activated_at: opt_time(activated)?,
            revoked_at: opt_time(revoked)?,
        });
    }
    Ok(out)
}

fn load_delegations(conn: &Connection, id: Option<i64>) -> Result<Vec<Delegation>, StorageError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, unit_id, chief_user_id, deputy_user_id, category, valid_from, valid_until, note, created_at, revoked_at
         FROM delegations WHERE ?1 IS NULL OR id = ?1 ORDER BY id",
    )
    .db()?;
    let rows = stmt
        .query_map([id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, String>(7)?,
                r.get::<_, String>(8)?,
                r.get::<_, Option<String>>(9)?,
            ))
        })
        .db()?;
    let mut out = Vec::new();
    for row in rows {
        let (id, unit, chief, deputy, category, from, until, note, created, revoked) = row.db()?;
        out.push(Delegation {
            id,
            unit_id: UnitId(unit),
            chief: UserId(chief),
            deputy: UserId(deputy),
            valid_from: time(&from)?,
            valid_until: time(&until)?,
            category: category
                .as_deref()
                .map(|c| Category::parse(c).ok_or_else(|| corrupt(format!("category {c:?}"))))
                .transpose()?,
            note,
            created_at: time(&created)?,
            revoked_at: opt_time(revoked)?,
        });
    }
    Ok(out)
}

fn audit_key(
    tx: &Connection,
    actor: &Actor,
    now: DateTime<Utc>,
    action: &str,
    key: &SigningKey,
    extra: serde_json::Value,
) -> Result<(), StorageError> {
    audit::append(
        tx,
        NewEntry {
            at: now,
            actor,
            action,
            letter: None,
            unit: Some(key.unit_id),
            user: Some(key.user_id),
            payload: json!({ "key_id": key.id, "fingerprint": key.fingerprint, "extra": extra }),
        },
    )
    .db()?;
    Ok(())
}

fn conflict(code: &'static str, detail: impl Into<String>) -> StorageError {
    StorageError::Conflict {
        code,
        detail: detail.into(),
    }
}

fn pending_key(tx: &Connection, id: i64) -> Result<SigningKey, StorageError> {
    let key = load_keys(tx, Some(id))?
        .pop()
        .ok_or_else(|| StorageError::NotFound(format!("there is no key {id}")))?;
    if key.state != KeyState::Pending {
        return Err(conflict(
            "key_state",
            format!(
                "key {id} is {} and cannot become active",
                key_state_str(key.state)
            ),
        ));
    }
    Ok(key)
}

/// The admins who approved a key, oldest first.
fn approvals(tx: &Connection, id: i64) -> Result<Vec<UserId>, StorageError> {
    let mut stmt = tx.prepare_cached(
        "SELECT admin_user_id FROM key_approvals WHERE key_id = ?1 ORDER BY approved_at, admin_user_id",
    )
    .db()?;
    let rows = stmt.query_map([id], |r| r.get::<_, i64>(0)).db()?;
    let mut out = Vec::new();
    for row in rows {
        out.push(UserId(row.db()?));
    }
    Ok(out)
}

/// The user and everyone who may know their password: who set it (at creation or by a
/// reset), who set that one's, and so on up to the admin CLI. Two approvals count as
/// two people only when these sets are disjoint — else one admin could approve twice,
/// once through an account whose password they chose.
fn controllers(tx: &Connection, user: UserId) -> Result<BTreeSet<UserId>, StorageError> {
    let mut seen = BTreeSet::from([user]);
    let mut at = user;
    loop {
        let by: Option<i64> = tx
            .query_row(
                "SELECT password_set_by FROM users WHERE id = ?1",
                [at.0],
                |r| r.get(0),
            )
            .optional()
            .db()?
            .flatten();
        match by.map(UserId) {
            // A cycle (two admins reset each other) ends the walk like the CLI does.
            Some(next) if seen.insert(next) => at = next,
            _ => return Ok(seen),
        }
    }
}

fn activate(
    tx: &Connection,
    key: &SigningKey,
    actor: &Actor,
    now: DateTime<Utc>,
    extra: serde_json::Value,
) -> Result<SigningKey, StorageError> {
    tx.execute(
        "UPDATE signing_keys SET state = 'active', activated_at = ?2, activated_by = ?3 WHERE id = ?1 AND state = 'pending'",
        params![key.id, to_db(now), actor.user.map(|u| u.0)],
    )
    .db()?;
    let stored = load_keys(tx, Some(key.id))?
        .pop()
        .ok_or_else(|| corrupt("key vanished"))?;
    audit_key(tx, actor, now, "key.activate", &stored, extra)?;
    notify_key(
        tx,
        &stored,
        NoticeKind::KeyActivated,
        actor,
        now,
        String::new(),
    )?;
    Ok(stored)
}

/// Tells the key's owner at their next sign-in (「您的签名密钥于 … 被激活/吊销」).
fn notify_key(
    tx: &Connection,
    key: &SigningKey,
    kind: NoticeKind,
    actor: &Actor,
    now: DateTime<Utc>,
    detail: String,
) -> Result<(), StorageError> {
    notices::add(
        tx,
        notices::NewNotice {
            user: key.user_id,
            kind,
            at: now,
            by: actor.user,
            key: Some((key.id, key.fingerprint.clone())),
            detail,
        },
    )
}

/// Ends every signing right of `user` inside the caller's transaction (they left the
/// unit or the chief's role): their keys not yet revoked are revoked, and the 代签
/// delegations they granted or hold end now; each logged, each key told to its owner.
/// Returns (keys revoked, delegations ended).
pub(crate) fn end_signing_rights(
    tx: &Connection,
    user: UserId,
    reason: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(usize, usize), StorageError> {
    let keys: Vec<SigningKey> = load_keys(tx, None)?
        .into_iter()
        .filter(|k| k.user_id == user && k.state != KeyState::Revoked)
        .collect();
    for key in &keys {
        tx.execute(
            "UPDATE signing_keys SET state = 'revoked', revoked_at = ?2, revoked_by = ?3, revoke_reason = ?4 WHERE id = ?1",
            params![key.id, to_db(now), actor.user.map(|u| u.0), reason],
        )
        .db()?;
        let stored = load_keys(tx, Some(key.id))?
            .pop()
            .ok_or_else(|| corrupt("key vanished"))?;
        audit_key(
            tx,
            actor,
            now,
            "key.revoke",
            &stored,
            json!({ "reason": reason }),
        )?;
        notify_key(
            tx,
            &stored,
            NoticeKind::KeyRevoked,
            actor,
            now,
            reason.to_owned(),
        )?;
    }
    let delegations: Vec<Delegation> = load_delegations(tx, None)?
        .into_iter()
        .filter(|d| {
            (d.chief == user || d.deputy == user) && d.revoked_at.is_none() && d.valid_until > now
        })
        .collect();
    for d in &delegations {
        tx.execute(
            "UPDATE delegations SET revoked_at = ?2, revoked_by = ?3 WHERE id = ?1",
            params![d.id, to_db(now), actor.user.map(|u| u.0)],
        )
        .db()?;
        audit::append(
            tx,
            NewEntry {
                at: now,
                actor,
                action: "delegation.revoke",
                letter: None,
                unit: Some(d.unit_id),
                user: Some(d.deputy),
                payload: json!({ "delegation_id": d.id, "reason": reason }),
            },
        )
        .db()?;
    }
    Ok((keys.len(), delegations.len()))
}

#[async_trait]
impl SignoffStore for SqliteStore {
    async fn register_key(
        &self,
        key: NewKey,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<SigningKey, StorageError> {
        self.write(move |tx| {
            let inserted = tx.execute(
                "INSERT INTO signing_keys (user_id, unit_id, public_key_pem, fingerprint, label, state, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6)",
                params![key.user.0, key.unit.0, key.public_key_pem, key.fingerprint, key.label, to_db(now)],
            );
            match inserted {
                Err(rusqlite::Error::SqliteFailure(f, _))
                    if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
                {
                    return Err(StorageError::Conflict {
                        code: "key_exists",
                        detail: "this public key is registered already".to_owned(),
                    });
                }
                other => other.db()?,
            };
            let id = tx.last_insert_rowid();
            let stored = load_keys(tx, Some(id))?.pop().ok_or_else(|| corrupt("key vanished"))?;
            audit_key(tx, &actor, now, "key.register", &stored, json!({ "label": stored.label }))?;
            notify_key(tx, &stored, NoticeKind::KeyRegistered, &actor, now, String::new())?;
            Ok(stored)
        })
        .await
    }

    async fn keys(&self) -> Result<Vec<SigningKey>, StorageError> {
        self.read(|conn| load_keys(conn, None)).await
    }

    async fn key(&self, id: i64) -> Result<Option<SigningKey>, StorageError> {
        self.read(move |conn| Ok(load_keys(conn, Some(id))?.pop()))
            .await
    }

    async fn key_approvals(&self, id: i64) -> Result<Vec<UserId>, StorageError> {
        self.read(move |conn| approvals(conn, id)).await
    }

    async fn approve_key(
        &self,
        id: i64,
        approver: Actor,
        now: DateTime<Utc>,
    ) -> Result<KeyActivation, StorageError> {
        self.write(move |tx| {
            let key = pending_key(tx, id)?;
            let Some(admin) = approver.user else {
                return Err(conflict(
                    "approver_unknown",
                    "a key is approved by signed-in admins, each on their own account",
                ));
            };
            if admin == key.user_id {
                return Err(conflict("own_key", "nobody approves their own signing key"));
            }
            let before = approvals(tx, id)?;
            if before.contains(&admin) {
                return Err(conflict(
                    "already_approved",
                    "you approved this key already: a second, independent admin must approve it too",
                ));
            }
            let mine = controllers(tx, admin)?;
            if mine.contains(&key.user_id) {
                return Err(conflict(
                    "approver_not_independent",
                    "the key's owner set your password: approve with an account whose password they do not know",
                ));
            }
            for other in &before {
                if !controllers(tx, *other)?.is_disjoint(&mine) {
                    return Err(conflict(
                        "approver_not_independent",
                        "you and the admin who approved first are not independent (one set the other's password, or the same person set both): another admin must approve",
                    ));
                }
            }
            tx.execute(
                "INSERT INTO key_approvals (key_id, admin_user_id, approved_at) VALUES (?1, ?2, ?3)",
                params![id, admin.0, to_db(now)],
            )
            .db()?;
            let approvals = approvals(tx, id)?;
            let count = u32::try_from(approvals.len()).unwrap_or(u32::MAX);
            audit_key(
                tx,
                &approver,
                now,
                "key.approve",
                &key,
                json!({ "approvals": count, "required": APPROVALS_REQUIRED }),
            )?;
            let key = if count >= APPROVALS_REQUIRED {
                activate(tx, &key, &approver, now, json!({
                    "approved_by": approvals.iter().map(|u| u.0).collect::<Vec<_>>(),
                }))?
            } else {
                key
            };
            Ok(KeyActivation { key, approvals, approvals_required: APPROVALS_REQUIRED })
        })
        .await
    }

    async fn endorse_key(
        &self,
        id: i64,
        by_key: i64,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<KeyActivation, StorageError> {
        self.write(move |tx| {
            let key = pending_key(tx, id)?;
            // Checked here, in the transaction: the old key may have been revoked since.
            let endorser = load_keys(tx, Some(by_key))?.pop();
            let valid = endorser.as_ref().is_some_and(|k| {
                k.id != key.id && k.user_id == key.user_id && k.state == KeyState::Active
            });
            if !valid {
                return Err(conflict(
                    "endorsement_invalid",
                    "the endorsing key must be an active key of the same user",
                ));
            }
            let key = activate(tx, &key, &actor, now, json!({ "endorsed_by_key": by_key }))?;
            let approvals = approvals(tx, id)?;
            Ok(KeyActivation {
                key,
                approvals,
                approvals_required: APPROVALS_REQUIRED,
            })
        })
        .await
    }

    async fn revoke_key(
        &self,
        id: i64,
        reason: String,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<SigningKey, StorageError> {
        self.write(move |tx| {
            let key = load_keys(tx, Some(id))?
                .pop()
                .ok_or_else(|| StorageError::NotFound(format!("there is no key {id}")))?;
            if key.state == KeyState::Revoked {
                return Err(conflict("key_state", format!("key {id} is revoked already")));
            }
            tx.execute(
                "UPDATE signing_keys SET state = 'revoked', revoked_at = ?2, revoked_by = ?3, revoke_reason = ?4 WHERE id = ?1",
                params![id, to_db(now), actor.user.map(|u| u.0), reason],
            )
            .db()?;
            let stored = load_keys(tx, Some(id))?.pop().ok_or_else(|| corrupt("key vanished"))?;
            audit_key(tx, &actor, now, "key.revoke", &stored, json!({ "reason": reason }))?;
            notify_key(tx, &stored, NoticeKind::KeyRevoked, &actor, now, reason)?;
            Ok(stored)
        })
        .await
    }

    async fn grant_delegation(
        &self,
        grant: NewDelegation,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Delegation, StorageError> {
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO delegations (unit_id, chief_user_id, deputy_user_id, category, valid_from, valid_until, note, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    grant.unit.0,
                    grant.chief.0,
                    grant.deputy.0,
                    grant.category.map(|c| c.as_str()),
                    to_db(grant.valid_from),
                    to_db(grant.valid_until),
                    grant.note,
                    to_db(now)
                ],
            )
            .db()?;
            let id = tx.last_insert_rowid();
            let stored = load_delegations(tx, Some(id))?.pop().ok_or_else(|| corrupt("delegation vanished"))?;
            audit::append(
                tx,
                NewEntry {
                    at: now,
                    actor: &actor,
                    action: "delegation.grant",
                    letter: None,
                    unit: Some(stored.unit_id),
                    user: Some(stored.deputy),
                    payload: json!({
                        "delegation_id": id,
                        "chief": stored.chief.0,
                        "deputy": stored.deputy.0,
                        "valid_from": to_db(stored.valid_from),
                        "valid_until": to_db(stored.valid_until),
                        "category": stored.category.map(|c| c.as_str()),
                    }),
                },
            )
            .db()?;
            Ok(stored)
        })
        .await
    }

    async fn delegations(&self) -> Result<Vec<Delegation>, StorageError> {
        self.read(|conn| load_delegations(conn, None)).await
    }

    async fn revoke_delegation(
        &self,
        id: i64,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Delegation, StorageError> {
        self.write(move |tx| {
            let changed = tx.execute(
                "UPDATE delegations SET revoked_at = ?2, revoked_by = ?3 WHERE id = ?1 AND revoked_at IS NULL",
                params![id, to_db(now), actor.user.map(|u| u.0)],
            )
            .db()?;
            let stored = load_delegations(tx, Some(id))?
                .pop()
                .ok_or_else(|| StorageError::NotFound(format!("there is no delegation {id}")))?;
            if changed > 0 {
                audit::append(
                    tx,
                    NewEntry {
                        at: now,
                        actor: &actor,
                        action: "delegation.revoke",
                        letter: None,
                        unit: Some(stored.unit_id),
                        user: Some(stored.deputy),
                        payload: json!({ "delegation_id": id }),
                    },
                )
                .db()?;
            }
            Ok(stored)
        })
        .await
    }

    async fn stored_answer(
        &self,
        user: UserId,
        key: String,
    ) -> Result<Option<(String, StoredAnswer)>, StorageError> {
        self.read(move |conn| {
            conn
                .query_row(
                    "SELECT request_hash, response_status, response_body FROM idempotency_keys WHERE user_id = ?1 AND key = ?2",
                    params![user.0, key],
                    |r| Ok((r.get(0)?, StoredAnswer { status: r.get(1)?, body: r.get(2)? })),
                )
                .optional()
                .db()
        })
        .await
    }

    async fn apply_signed_action(
        &self,
        commit: ActionCommit,
        decide: DecideFn,
        signed: NewSignedForm,
    ) -> Result<ActionOutcome, StorageError> {
        self.write(move |tx| {
            // The key may have been revoked since the request was checked.
            let state: Option<String> = tx
                .query_row("SELECT state FROM signing_keys WHERE id = ?1", [signed.key_id], |r| r.get(0))
                .optional()
                .db()?;
            if state.as_deref() != Some("active") {
                return Err(StorageError::Conflict {
                    code: "key_not_active",
                    detail: format!("key {} is not active", signed.key_id),
                });
            }
            let letter = commit.letter;
            let user = commit.actor.user;
            let key = commit.idempotency.as_ref().map(|(k, _)| k.clone());
            let outcome = letters::apply_action(tx, commit, decide)?;
            let ActionOutcome::Applied {
                change_seq,
                prev_unit,
                ..
            } = outcome
            else {
                return Ok(outcome);
            };
            let (record, _) = letters::load_record(tx, letter)?
                .ok_or_else(|| corrupt("the letter vanished inside its own transaction"))?;
            tx.execute(
                "INSERT INTO signed_forms (letter_id, event_seq, key_id, signer_user_id, delegation_id, on_behalf_of,
                    decision, form_bytes, signature_der, handwriting_sha256, signed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    letter.0,
                    i64::from(record.version),
                    signed.key_id,
                    signed.signer.0,
                    signed.delegation.map(|(id, _)| id),
                    signed.delegation.map(|(_, chief)| chief.0),
                    signed.decision.as_str(),
                    signed.form_bytes,
                    signed.signature_der,
                    signed.handwriting_sha256,
                    to_db(signed.signed_at),
                ],
            )
            .db()?;
            // The answer (and what a replay of the key returns) carries the signed form.
            let (record, _) = letters::load_record(tx, letter)?
                .ok_or_else(|| corrupt("the letter vanished inside its own transaction"))?;
            let body = serde_json::to_string(&ActionResponse { letter: record.clone() })
                .map_err(|e| corrupt(format!("response: {e}")))?;
            if let (Some(key), Some(user)) = (key, user) {
                tx.execute(
                    "UPDATE idempotency_keys SET response_body = ?3 WHERE user_id = ?1 AND key = ?2",
                    params![user.0, key, body],
                )
                .db()?;
            }
            Ok(ActionOutcome::Applied {
                change_seq,
                prev_unit,
                letter: Box::new(record),
                answer: StoredAnswer { status: 200, body },
            })
        })
        .await
    }

    async fn signed_form_bytes(
        &self,
        letter: LetterId,
        seq: u32,
    ) -> Result<Option<(Vec<u8>, Vec<u8>, String)>, StorageError> {
        self.read(move |conn| {
            conn
                .query_row(
                    "SELECT f.form_bytes, f.signature_der, k.public_key_pem FROM signed_forms f
                     JOIN signing_keys k ON k.id = f.key_id WHERE f.letter_id = ?1 AND f.event_seq = ?2",
                    params![letter.0, seq],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
                .db()
        })
        .await
    }
}
