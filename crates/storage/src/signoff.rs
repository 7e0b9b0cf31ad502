//! What the sign-off keeps, behind a trait like the rest of storage.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jsjb_core::letter::{Category, FormDecision, LetterId};
use jsjb_core::org::{UnitId, UserId};
use jsjb_proto::{Delegation, KeyActivation, SigningKey};

use crate::{ActionCommit, ActionOutcome, Actor, DecideFn, StorageError, StoredAnswer};

/// How many distinct, independent admins must approve a key before it signs.
pub const APPROVALS_REQUIRED: u32 = 2;

#[derive(Debug, Clone)]
pub struct NewKey {
    pub user: UserId,
    pub unit: UnitId,
    pub public_key_pem: String,
    pub fingerprint: String,
    pub label: String,
}

#[derive(Debug, Clone)]
pub struct NewDelegation {
    pub unit: UnitId,
    pub chief: UserId,
    pub deputy: UserId,
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
    pub category: Option<Category>,
    pub note: String,
}

/// A signed form to keep with the decision's event, in the same transaction.
#[derive(Debug, Clone)]
pub struct NewSignedForm {
    pub key_id: i64,
    pub signer: UserId,
    pub delegation: Option<(i64, UserId)>,
    pub decision: FormDecision,
    pub form_bytes: Vec<u8>,
    pub signature_der: Vec<u8>,
    pub handwriting_sha256: String,
    pub signed_at: DateTime<Utc>,
}

#[async_trait]
pub trait SignoffStore: Send + Sync {
    /// Registers a key as `pending`; a fingerprint seen before is `Conflict { code: "key_exists" }`.
    async fn register_key(
        &self,
        key: NewKey,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<SigningKey, StorageError>;
    async fn keys(&self) -> Result<Vec<SigningKey>, StorageError>;
    async fn key(&self, id: i64) -> Result<Option<SigningKey>, StorageError>;
    /// The admins who approved a key so far, oldest first (the admin console shows where
    /// a pending key's dual control stands).
    async fn key_approvals(&self, id: i64) -> Result<Vec<UserId>, StorageError>;
    /// Records `approver`'s approval of a pending key (audit `key.approve`); with
    /// [`APPROVALS_REQUIRED`] approvals by distinct, independent admins the key becomes
    /// active in the same transaction (audit `key.activate`, a notice to the owner).
    /// Refusals (`Conflict`): `key_state` (not pending), `own_key`, `already_approved`,
    /// `approver_not_independent`, `approver_unknown` (no user: the CLI cannot approve).
    async fn approve_key(
        &self,
        id: i64,
        approver: Actor,
        now: DateTime<Utc>,
    ) -> Result<KeyActivation, StorageError>;
    /// Activates a pending key that its owner's active key `by_key` endorsed (the caller
    /// has verified the signature). `Conflict`: `key_state`, `endorsement_invalid` (not
    /// an active key of the same owner).
    async fn endorse_key(
        &self,
        id: i64,
        by_key: i64,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<KeyActivation, StorageError>;
    /// `pending | active → revoked`, with its audit entry and a notice to the owner;
    /// anything else is `Conflict { code: "key_state" }`.
    async fn revoke_key(
        &self,
        id: i64,
        reason: String,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<SigningKey, StorageError>;
    async fn grant_delegation(
        &self,
        grant: NewDelegation,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Delegation, StorageError>;
    async fn delegations(&self) -> Result<Vec<Delegation>, StorageError>;
    async fn revoke_delegation(
        &self,
        id: i64,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Delegation, StorageError>;
    /// The answer stored under an idempotency key: (request hash, answer).
    async fn stored_answer(
        &self,
        user: UserId,
        key: String,
    ) -> Result<Option<(String, StoredAnswer)>, StorageError>;
    /// `Storage::apply_action`, plus the signed form kept with the event — all in one
    /// transaction, and only while the key is still active.
    async fn apply_signed_action(
        &self,
        commit: ActionCommit,
        decide: DecideFn,
        signed: NewSignedForm,
    ) -> Result<ActionOutcome, StorageError>;
    /// The raw signed form of a letter's event: (form bytes, signature DER, public key PEM).
    async fn signed_form_bytes(
        &self,
        letter: LetterId,
        seq: u32,
    ) -> Result<Option<(Vec<u8>, Vec<u8>, String)>, StorageError>;
}
