//! The sign-off's keys, delegations and signed forms in PostgreSQL.

#![allow(unused_imports)]
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jsjb_storage::StorageError;
use crate::PgStore;
use jsjb_core::letter::LetterId;
use jsjb_core::org::UserId;
use jsjb_proto::{Delegation, KeyActivation, SigningKey};
use jsjb_storage::signoff::{NewDelegation, NewKey, NewSignedForm, SignoffStore};
use jsjb_storage::{ActionCommit, ActionOutcome, Actor, DecideFn, StoredAnswer};

#[async_trait]
impl SignoffStore for PgStore {
    async fn register_key(&self, _key: NewKey, _actor: Actor, _now: DateTime<Utc>) -> Result<SigningKey, StorageError> {
        Err(crate::not_ported("register_key"))
    }

    async fn keys(&self) -> Result<Vec<SigningKey>, StorageError> {
        Err(crate::not_ported("keys"))
    }

    async fn key(&self, _id: i64) -> Result<Option<SigningKey>, StorageError> {
        Err(crate::not_ported("key"))
    }

    async fn key_approvals(&self, _id: i64) -> Result<Vec<UserId>, StorageError> {
        Err(crate::not_ported("key_approvals"))
    }

    async fn approve_key(&self, _id: i64, _approver: Actor, _now: DateTime<Utc>) -> Result<KeyActivation, StorageError> {
        Err(crate::not_ported("approve_key"))
    }

    async fn endorse_key(&self, _id: i64, _by_key: i64, _actor: Actor, _now: DateTime<Utc>) -> Result<KeyActivation, StorageError> {
        Err(crate::not_ported("endorse_key"))
    }

    async fn revoke_key(&self, _id: i64, _reason: String, _actor: Actor, _now: DateTime<Utc>) -> Result<SigningKey, StorageError> {
        Err(crate::not_ported("revoke_key"))
    }

    async fn grant_delegation(&self, _grant: NewDelegation, _actor: Actor, _now: DateTime<Utc>) -> Result<Delegation, StorageError> {
        Err(crate::not_ported("grant_delegation"))
    }

    async fn delegations(&self) -> Result<Vec<Delegation>, StorageError> {
        Err(crate::not_ported("delegations"))
    }

    async fn revoke_delegation(&self, _id: i64, _actor: Actor, _now: DateTime<Utc>) -> Result<Delegation, StorageError> {
        Err(crate::not_ported("revoke_delegation"))
    }

    async fn stored_answer(&self, _user: UserId, _key: String) -> Result<Option<(String, StoredAnswer)>, StorageError> {
        Err(crate::not_ported("stored_answer"))
    }

    async fn apply_signed_action(&self, _commit: ActionCommit, _decide: DecideFn, _signed: NewSignedForm) -> Result<ActionOutcome, StorageError> {
        Err(crate::not_ported("apply_signed_action"))
    }

    async fn signed_form_bytes(&self, _letter: LetterId, _seq: u32) -> Result<Option<(Vec<u8>, Vec<u8>, String)>, StorageError> {
        Err(crate::not_ported("signed_form_bytes"))
    }
}
