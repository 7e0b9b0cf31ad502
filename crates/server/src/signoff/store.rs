//! What the sign-off keeps, behind a trait like the rest of storage.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jsjb_core::letter::{Category, FormDecision, LetterId};
use jsjb_core::org::{UnitId, UserId};
use jsjb_proto::{Delegation, KeyState, SigningKey};

use crate::storage::{ActionCommit, ActionOutcome, Actor, DecideFn, StorageError, StoredAnswer};

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
    /// `pending → active` or `* → revoked`, with its audit entry; anything else is
    /// `Conflict { code: "key_state" }`.
    async fn set_key_state(
        &self,
        id: i64,
        to: KeyState,
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
