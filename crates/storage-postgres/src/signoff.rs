//! The sign-off's keys, delegations and signed forms in PostgreSQL: a port of the
//! SQLite backend's `signoff.rs`, with the same refusals, audit entries and notices.

use crate::cached::Cached;
use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use jsjb_core::letter::{Category, LetterId};
use jsjb_core::org::{UnitId, UserId};
use jsjb_proto::{Delegation, KeyActivation, KeyState, NoticeKind, SigningKey};
use jsjb_storage::signoff::{
    APPROVALS_REQUIRED, NewDelegation, NewKey, NewSignedForm, SignoffStore,
};
use jsjb_storage::time::to_db;
use jsjb_storage::{ActionCommit, ActionOutcome, Actor, DecideFn, StorageError, StoredAnswer};
use serde_json::json;

use crate::audit::{self, NewEntry};
use crate::{Db, PgStore, begin_write, corrupt, is_unique_violation, letters, notices};

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

fn key_from_row(r: &tokio_postgres::Row) -> Result<SigningKey, StorageError> {
    Ok(SigningKey {
        id: r.get(0),
        user_id: UserId(r.get(1)),
        unit_id: UnitId(r.get(2)),
        public_key_pem: r.get(3),
        fingerprint: r.get(4),
        label: r.get(5),
        state: key_state(r.get(6))?,
        created_at: r.get(7),
        activated_at: r.get(8),
        revoked_at: r.get(9),
    })
}

/// Every key, by id.
async fn load_keys(c: &impl GenericClient) -> Result<Vec<SigningKey>, StorageError> {
    c.query_c(
        &format!("SELECT {KEY_COLUMNS} FROM signing_keys ORDER BY id"),
        &[],
    )
    .await
    .db()?
    .iter()
    .map(key_from_row)
    .collect()
}

async fn load_key(c: &impl GenericClient, id: i64) -> Result<Option<SigningKey>, StorageError> {
    c.query_opt_c(
        &format!("SELECT {KEY_COLUMNS} FROM signing_keys WHERE id = $1"),
        &[&id],
    )
    .await
    .db()?
    .as_ref()
    .map(key_from_row)
    .transpose()
}

/// The delegations (`id` alone, or all), by id.
async fn load_delegations(
    c: &impl GenericClient,
    id: Option<i64>,
) -> Result<Vec<Delegation>, StorageError> {
    let rows = c
        .query_c(
            "SELECT id, unit_id, chief_user_id, deputy_user_id, category, valid_from, valid_until, note, created_at, revoked_at
             FROM delegations WHERE $1::bigint IS NULL OR id = $1 ORDER BY id",
            &[&id],
        )
        .await
        .db()?;
    rows.iter()
        .map(|r| {
            let category: Option<&str> = r.get(4);
            Ok(Delegation {
                id: r.get(0),
                unit_id: UnitId(r.get(1)),
                chief: UserId(r.get(2)),
                deputy: UserId(r.get(3)),
                valid_from: r.get(5),
                valid_until: r.get(6),
                category: category
                    .map(|c| Category::parse(c).ok_or_else(|| corrupt(format!("category {c:?}"))))
                    .transpose()?,
                note: r.get(7),
                created_at: r.get(8),
                revoked_at: r.get(9),
            })
        })
        .collect()
}

async fn audit_key(
    tx: &impl GenericClient,
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
    .await?;
    Ok(())
}

fn conflict(code: &'static str, detail: impl Into<String>) -> StorageError {
    StorageError::Conflict {
        code,
        detail: detail.into(),
    }
}

async fn pending_key(tx: &impl GenericClient, id: i64) -> Result<SigningKey, StorageError> {
    let key = load_key(tx, id)
        .await?
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
async fn approvals(c: &impl GenericClient, id: i64) -> Result<Vec<UserId>, StorageError> {
    Ok(c
        .query_c(
            "SELECT admin_user_id FROM key_approvals WHERE key_id = $1 ORDER BY approved_at, admin_user_id",
            &[&id],
        )
        .await
        .db()?
        .iter()
        .map(|r| UserId(r.get(0)))
        .collect())
}

/// The user and everyone who may know their password: who set it (at creation or by a
/// reset), who set that one's, and so on up to the admin CLI. Two approvals count as
/// two people only when these sets are disjoint — else one admin could approve twice,
/// once through an account whose password they chose.
async fn controllers(
    tx: &impl GenericClient,
    user: UserId,
) -> Result<BTreeSet<UserId>, StorageError> {
    let mut seen = BTreeSet::from([user]);
    let mut at = user;
    loop {
        let by: Option<i64> = tx
            .query_opt_c("SELECT password_set_by FROM users WHERE id = $1", &[&at.0])
            .await
            .db()?
            .and_then(|r| r.get(0));
        match by.map(UserId) {
            // A cycle (two admins reset each other) ends the walk like the CLI does.
            Some(next) if seen.insert(next) => at = next,
            _ => return Ok(seen),
        }
    }
}

async fn activate(
    tx: &impl GenericClient,
    key: &SigningKey,
    actor: &Actor,
    now: DateTime<Utc>,
    extra: serde_json::Value,
) -> Result<SigningKey, StorageError> {
    tx.execute_c(
        "UPDATE signing_keys SET state = 'active', activated_at = $2, activated_by = $3 WHERE id = $1 AND state = 'pending'",
        &[&key.id, &now, &actor.user.map(|u| u.0)],
    )
    .await
    .db()?;
    let stored = load_key(tx, key.id)
        .await?
        .ok_or_else(|| corrupt("key vanished"))?;
    audit_key(tx, actor, now, "key.activate", &stored, extra).await?;
    notify_key(
        tx,
        &stored,
        NoticeKind::KeyActivated,
        actor,
        now,
        String::new(),
    )
    .await?;
    Ok(stored)
}

/// Tells the key's owner at their next sign-in (「您的签名密钥于 … 被激活/吊销」), in the
/// same transaction as the key's change.
async fn notify_key(
    tx: &impl GenericClient,
    key: &SigningKey,
    kind: NoticeKind,
    actor: &Actor,
    now: DateTime<Utc>,
    detail: String,
) -> Result<(), StorageError> {
    notices::add_notice(
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
    .await
}

/// Revokes a key not revoked yet, inside the caller's transaction: the row, its audit
/// entry and the notice to its owner.
async fn revoke_in(
    tx: &impl GenericClient,
    id: i64,
    reason: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<SigningKey, StorageError> {
    tx.execute_c(
        "UPDATE signing_keys SET state = 'revoked', revoked_at = $2, revoked_by = $3, revoke_reason = $4 WHERE id = $1",
        &[&id, &now, &actor.user.map(|u| u.0), &reason],
    )
    .await
    .db()?;
    let stored = load_key(tx, id)
        .await?
        .ok_or_else(|| corrupt("key vanished"))?;
    audit_key(
        tx,
        actor,
        now,
        "key.revoke",
        &stored,
        json!({ "reason": reason }),
    )
    .await?;
    notify_key(
        tx,
        &stored,
        NoticeKind::KeyRevoked,
        actor,
        now,
        reason.to_owned(),
    )
    .await?;
    Ok(stored)
}

/// Ends every signing right of `user` inside the caller's write transaction (they left
/// the unit or the chief's role): their keys not yet revoked are revoked, and the 代签
/// delegations they granted or hold end now; each logged, each key told to its owner.
/// Returns (keys revoked, delegations ended). For `update_user` (users.rs).
pub(crate) async fn end_signing_rights(
    tx: &impl GenericClient,
    user: UserId,
    reason: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(usize, usize), StorageError> {
    let keys: Vec<SigningKey> = load_keys(tx)
        .await?
        .into_iter()
        .filter(|k| k.user_id == user && k.state != KeyState::Revoked)
        .collect();
    for key in &keys {
        revoke_in(tx, key.id, reason, actor, now).await?;
    }
    let delegations: Vec<Delegation> = load_delegations(tx, None)
        .await?
        .into_iter()
        .filter(|d| {
            (d.chief == user || d.deputy == user) && d.revoked_at.is_none() && d.valid_until > now
        })
        .collect();
    for d in &delegations {
        tx.execute_c(
            "UPDATE delegations SET revoked_at = $2, revoked_by = $3 WHERE id = $1",
            &[&d.id, &now, &actor.user.map(|u| u.0)],
        )
        .await
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
        .await?;
    }
    Ok((keys.len(), delegations.len()))
}

#[async_trait]
impl SignoffStore for PgStore {
    async fn register_key(
        &self,
        key: NewKey,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<SigningKey, StorageError> {
        let mut client = self.writer().await?;
        let tx = begin_write(&mut client).await?;
        let inserted = tx
            .query_one_c(
                "INSERT INTO signing_keys (user_id, unit_id, public_key_pem, fingerprint, label, state, created_at)
                 VALUES ($1, $2, $3, $4, $5, 'pending', $6) RETURNING id",
                &[&key.user.0, &key.unit.0, &key.public_key_pem, &key.fingerprint, &key.label, &now],
            )
            .await;
        let id: i64 = match inserted {
            Err(e) if is_unique_violation(&e, Some("signing_keys_fingerprint_key")) => {
                return Err(conflict(
                    "key_exists",
                    "this public key is registered already",
                ));
            }
            other => other.db()?.get(0),
        };
        let stored = load_key(&tx, id)
            .await?
            .ok_or_else(|| corrupt("key vanished"))?;
        audit_key(
            &tx,
            &actor,
            now,
            "key.register",
            &stored,
            json!({ "label": stored.label }),
        )
        .await?;
        notify_key(
            &tx,
            &stored,
            NoticeKind::KeyRegistered,
            &actor,
            now,
            String::new(),
        )
        .await?;
        self.commit(tx).await?;
        Ok(stored)
    }

    async fn keys(&self) -> Result<Vec<SigningKey>, StorageError> {
        load_keys(&self.client().await?).await
    }

    async fn key(&self, id: i64) -> Result<Option<SigningKey>, StorageError> {
        load_key(&self.client().await?, id).await
    }

    async fn key_approvals(&self, id: i64) -> Result<Vec<UserId>, StorageError> {
        approvals(&self.client().await?, id).await
    }

    async fn approve_key(
        &self,
        id: i64,
        approver: Actor,
        now: DateTime<Utc>,
    ) -> Result<KeyActivation, StorageError> {
        let mut client = self.writer().await?;
        let tx = begin_write(&mut client).await?;
        let key = pending_key(&tx, id).await?;
        let Some(admin) = approver.user else {
            return Err(conflict(
                "approver_unknown",
                "a key is approved by signed-in admins, each on their own account",
            ));
        };
        if admin == key.user_id {
            return Err(conflict("own_key", "nobody approves their own signing key"));
        }
        let before = approvals(&tx, id).await?;
        if before.contains(&admin) {
            return Err(conflict(
                "already_approved",
                "you approved this key already: a second, independent admin must approve it too",
            ));
        }
        let mine = controllers(&tx, admin).await?;
        if mine.contains(&key.user_id) {
            return Err(conflict(
                "approver_not_independent",
                "the key's owner set your password: approve with an account whose password they do not know",
            ));
        }
        for other in &before {
            if !controllers(&tx, *other).await?.is_disjoint(&mine) {
                return Err(conflict(
                    "approver_not_independent",
                    "you and the admin who approved first are not independent (one set the other's password, or the same person set both): another admin must approve",
                ));
            }
        }
        tx.execute_c(
            "INSERT INTO key_approvals (key_id, admin_user_id, approved_at) VALUES ($1, $2, $3)",
            &[&id, &admin.0, &now],
        )
        .await
        .db()?;
        let approvals = approvals(&tx, id).await?;
        let count = u32::try_from(approvals.len()).unwrap_or(u32::MAX);
        audit_key(
            &tx,
            &approver,
            now,
            "key.approve",
            &key,
            json!({ "approvals": count, "required": APPROVALS_REQUIRED }),
        )
        .await?;
        let key = if count >= APPROVALS_REQUIRED {
            activate(
                &tx,
                &key,
                &approver,
                now,
                json!({ "approved_by": approvals.iter().map(|u| u.0).collect::<Vec<_>>() }),
            )
            .await?
        } else {
            key
        };
        self.commit(tx).await?;
        Ok(KeyActivation {
            key,
            approvals,
            approvals_required: APPROVALS_REQUIRED,
        })
    }

    async fn endorse_key(
        &self,
        id: i64,
        by_key: i64,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<KeyActivation, StorageError> {
        let mut client = self.writer().await?;
        let tx = begin_write(&mut client).await?;
        let key = pending_key(&tx, id).await?;
        // Checked here, in the transaction: the old key may have been revoked since.
        let endorser = load_key(&tx, by_key).await?;
        let valid = endorser.as_ref().is_some_and(|k| {
            k.id != key.id && k.user_id == key.user_id && k.state == KeyState::Active
        });
        if !valid {
            return Err(conflict(
                "endorsement_invalid",
                "the endorsing key must be an active key of the same user",
            ));
        }
        let key = activate(&tx, &key, &actor, now, json!({ "endorsed_by_key": by_key })).await?;
        let approvals = approvals(&tx, id).await?;
        self.commit(tx).await?;
        Ok(KeyActivation {
            key,
            approvals,
            approvals_required: APPROVALS_REQUIRED,
        })
    }

    async fn revoke_key(
        &self,
        id: i64,
        reason: String,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<SigningKey, StorageError> {
        let mut client = self.writer().await?;
        let tx = begin_write(&mut client).await?;
        let key = load_key(&tx, id)
            .await?
            .ok_or_else(|| StorageError::NotFound(format!("there is no key {id}")))?;
        if key.state == KeyState::Revoked {
            return Err(conflict(
                "key_state",
                format!("key {id} is revoked already"),
            ));
        }
        let stored = revoke_in(&tx, id, &reason, &actor, now).await?;
        self.commit(tx).await?;
        Ok(stored)
    }

    async fn grant_delegation(
        &self,
        grant: NewDelegation,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Delegation, StorageError> {
        let mut client = self.writer().await?;
        let tx = begin_write(&mut client).await?;
        let id: i64 = tx
            .query_one_c(
                "INSERT INTO delegations (unit_id, chief_user_id, deputy_user_id, category, valid_from, valid_until, note, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                &[
                    &grant.unit.0,
                    &grant.chief.0,
                    &grant.deputy.0,
                    &grant.category.map(|c| c.as_str()),
                    &grant.valid_from,
                    &grant.valid_until,
                    &grant.note,
                    &now,
                ],
            )
            .await
            .db()?
            .get(0);
        let stored = load_delegations(&tx, Some(id))
            .await?
            .pop()
            .ok_or_else(|| corrupt("delegation vanished"))?;
        audit::append(
            &tx,
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
        .await?;
        self.commit(tx).await?;
        Ok(stored)
    }

    async fn delegations(&self) -> Result<Vec<Delegation>, StorageError> {
        load_delegations(&self.client().await?, None).await
    }

    async fn revoke_delegation(
        &self,
        id: i64,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Delegation, StorageError> {
        let mut client = self.writer().await?;
        let tx = begin_write(&mut client).await?;
        let changed = tx
            .execute_c(
                "UPDATE delegations SET revoked_at = $2, revoked_by = $3 WHERE id = $1 AND revoked_at IS NULL",
                &[&id, &now, &actor.user.map(|u| u.0)],
            )
            .await
            .db()?;
        let stored = load_delegations(&tx, Some(id))
            .await?
            .pop()
            .ok_or_else(|| StorageError::NotFound(format!("there is no delegation {id}")))?;
        if changed > 0 {
            audit::append(
                &tx,
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
            .await?;
        }
        self.commit(tx).await?;
        Ok(stored)
    }

    async fn stored_answer(
        &self,
        user: UserId,
        key: String,
    ) -> Result<Option<(String, StoredAnswer)>, StorageError> {
        let client = self.client().await?;
        let Some(r) = client
            .query_opt_c(
                "SELECT request_hash, response_status, response_body FROM idempotency_keys WHERE user_id = $1 AND key = $2",
                &[&user.0, &key],
            )
            .await
            .db()?
        else {
            return Ok(None);
        };
        let status: i32 = r.get(1);
        let status =
            u16::try_from(status).map_err(|_| corrupt(format!("stored answer status {status}")))?;
        Ok(Some((
            r.get(0),
            StoredAnswer {
                status,
                body: r.get(2),
            },
        )))
    }

    async fn apply_signed_action(
        &self,
        commit: ActionCommit,
        decide: DecideFn,
        signed: NewSignedForm,
    ) -> Result<ActionOutcome, StorageError> {
        letters::apply_action(self, commit, decide, Some(signed)).await
    }

    async fn signed_form_bytes(
        &self,
        letter: LetterId,
        seq: u32,
    ) -> Result<Option<(Vec<u8>, Vec<u8>, String)>, StorageError> {
        let client = self.client().await?;
        Ok(client
            .query_opt_c(
                "SELECT f.form_bytes, f.signature_der, k.public_key_pem FROM signed_forms f
                 JOIN signing_keys k ON k.id = f.key_id WHERE f.letter_id = $1 AND f.event_seq = $2",
                &[&letter.0, &i64::from(seq)],
            )
            .await
            .db()?
            .map(|r| (r.get(0), r.get(1), r.get(2))))
    }
}
