//! The outbox table: its rows and the queries on them. No transactions and no views here
//! (the queue from the user is `outbox.rs`; the optimistic view is `view.rs`).

use chrono::{DateTime, Utc};
use jsjb_core::letter::LetterId;
use jsjb_core::workflow::{Action, Actor};
use jsjb_proto::ActionRequest;
use rusqlite::{Connection, Row, params};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::{StoreError, time};

/// Who acts, from which workstation, and when (in server time: the workstation's clock
/// corrected by the offset the sync engine measured).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ActionContext {
    pub actor: Actor,
    pub workstation: Option<String>,
    pub now: DateTime<Utc>,
}

/// Whether an entry still waits to be sent or was refused by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum OutboxStatus {
    Pending,
    /// Refused (or out of scope): kept, with its reason, until the officer dismisses it.
    Failed,
}

impl OutboxStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            OutboxStatus::Pending => "pending",
            OutboxStatus::Failed => "failed",
        }
    }
}

/// Why the last attempt failed: the server's problem `code` (which the UI translates)
/// and its message (for the log, not for the officer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct OutboxError {
    pub code: String,
    pub message: String,
}

/// One queued action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct OutboxEntry {
    /// Local order: entries are sent oldest first.
    #[ts(type = "number")]
    pub id: i64,
    /// Sent as the `Idempotency-Key` header; the same across every retry.
    pub idempotency_key: String,
    pub letter_id: LetterId,
    pub expected_version: u32,
    pub action: Action,
    pub actor: Actor,
    pub workstation: Option<String>,
    pub created_at: DateTime<Utc>,
    pub attempts: u32,
    pub last_error: Option<OutboxError>,
    pub status: OutboxStatus,
    /// The signature envelope of a chief's signed decision (`ActionRequest.signature`).
    #[ts(type = "unknown")]
    pub signature: Option<serde_json::Value>,
}

impl OutboxEntry {
    /// The body to POST for this entry.
    pub fn request(&self) -> ActionRequest {
        ActionRequest {
            expected_version: self.expected_version,
            action: self.action.clone(),
            signature: self.signature.clone(),
        }
    }
}

/// The error code of an entry whose letter left the user's scope before it was sent.
pub const OUT_OF_SCOPE: &str = "out_of_scope";

pub(crate) const COLUMNS: &str = "id, idempotency_key, letter_id, expected_version, action, actor, \
                       workstation, created_at, attempts, last_error_code, last_error_message, status, signature";

pub(crate) fn entry_from_row(row: &Row<'_>) -> Result<OutboxEntry, StoreError> {
    let action: String = row.get(4)?;
    let actor: String = row.get(5)?;
    let code: Option<String> = row.get(9)?;
    let message: Option<String> = row.get(10)?;
    let status: String = row.get(11)?;
    let signature: Option<String> = row.get(12)?;
    Ok(OutboxEntry {
        id: row.get(0)?,
        idempotency_key: row.get(1)?,
        letter_id: LetterId(row.get(2)?),
        expected_version: row.get(3)?,
        action: serde_json::from_str(&action)?,
        actor: serde_json::from_str(&actor)?,
        workstation: row.get(6)?,
        created_at: time::from_db(row.get(7)?)?,
        attempts: row.get(8)?,
        last_error: code.map(|code| OutboxError {
            code,
            message: message.unwrap_or_default(),
        }),
        status: match status.as_str() {
            "pending" => OutboxStatus::Pending,
            "failed" => OutboxStatus::Failed,
            other => return Err(StoreError::Corrupt(format!("outbox status {other}"))),
        },
        signature: signature.as_deref().map(serde_json::from_str).transpose()?,
    })
}

pub(crate) fn query_entries(
    conn: &Connection,
    filter: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<OutboxEntry>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM outbox WHERE {filter} ORDER BY id"
    ))?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(entry_from_row(row)?);
    }
    Ok(out)
}

/// The pending entries of one letter, in the order they were taken.
pub(crate) fn pending_for(
    conn: &Connection,
    letter_id: LetterId,
) -> Result<Vec<OutboxEntry>, StoreError> {
    query_entries(conn, "letter_id = ?1 AND status = 'pending'", [letter_id.0])
}

pub(crate) fn failed_for(
    conn: &Connection,
    letter_id: LetterId,
) -> Result<Vec<OutboxEntry>, StoreError> {
    query_entries(conn, "letter_id = ?1 AND status = 'failed'", [letter_id.0])
}

pub(crate) fn entry(conn: &Connection, id: i64) -> Result<OutboxEntry, StoreError> {
    query_entries(conn, "id = ?1", [id])?
        .pop()
        .ok_or(StoreError::OutboxEntryNotFound(id))
}

/// Marks the pending entries of a letter that left the scope as failed.
pub(crate) fn fail_out_of_scope(conn: &Connection, letter_id: LetterId) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE outbox SET status = 'failed', last_error_code = ?2, last_error_message = ?3
         WHERE letter_id = ?1 AND status = 'pending'",
    )?
    .execute(params![
        letter_id.0,
        OUT_OF_SCOPE,
        "the letter left the user's scope before the action was sent"
    ])?;
    Ok(())
}
