//! The outbox: officer actions applied locally and waiting to be accepted by the server.
//!
//! Each entry carries an idempotency key made once, at enqueue, and stored with it: every
//! retry — after a timeout, a restart, a `kill -9` — sends the same key, so the server
//! applies the action at most once.

use chrono::{DateTime, Utc};
use jsjb_core::letter::LetterId;
use jsjb_core::workflow::{Action, Actor, DecisionContext, decide};
use jsjb_proto::{ActionRequest, LetterRecord};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::letters::{self, Arrival};
use crate::{Store, StoreError, time};

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
    fn as_str(self) -> &'static str {
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

const COLUMNS: &str = "id, idempotency_key, letter_id, expected_version, action, actor, \
                       workstation, created_at, attempts, last_error_code, last_error_message, status, signature";

fn entry_from_row(row: &Row<'_>) -> Result<OutboxEntry, StoreError> {
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

fn query_entries(
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

fn entry(conn: &Connection, id: i64) -> Result<OutboxEntry, StoreError> {
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

impl Store {
    /// Takes an officer's action: checks it with core's rules against the letter as the
    /// desktop sees it (server state + earlier pending actions), then queues it with a
    /// fresh idempotency key and shows it in the letter's view — one transaction, so an
    /// action the UI showed is never lost and never queued twice.
    ///
    /// `expected_version` is the view's version the officer acted on
    /// ([`crate::InboxRow::version`]); a different one is refused as a stale view.
    pub fn enqueue_action(
        &mut self,
        letter_id: LetterId,
        expected_version: u32,
        action: &Action,
        ctx: &ActionContext,
    ) -> Result<OutboxEntry, StoreError> {
        self.enqueue(letter_id, expected_version, action, None, ctx)
    }

    /// Queues a chief's signed decision with its signature envelope, which is sent as
    /// `ActionRequest.signature` (the server verifies it).
    pub fn enqueue_signed_action(
        &mut self,
        letter_id: LetterId,
        expected_version: u32,
        action: &Action,
        signature: &serde_json::Value,
        ctx: &ActionContext,
    ) -> Result<OutboxEntry, StoreError> {
        self.enqueue(letter_id, expected_version, action, Some(signature), ctx)
    }

    fn enqueue(
        &mut self,
        letter_id: LetterId,
        expected_version: u32,
        action: &Action,
        signature: Option<&serde_json::Value>,
        ctx: &ActionContext,
    ) -> Result<OutboxEntry, StoreError> {
        let tree = self.ctx.tree.as_ref().ok_or(StoreError::NotSignedIn)?;
        let tx = self.conn.transaction()?;
        let record =
            letters::load_record(&tx, letter_id)?.ok_or(StoreError::LetterNotFound(letter_id))?;
        let view = letters::optimistic_view(&tx, &self.ctx, &record)?;
        if view.status.version != expected_version {
            return Err(StoreError::StaleView {
                expected: expected_version,
                current: view.status.version,
            });
        }
        let decision = DecisionContext {
            actor: &ctx.actor,
            tree,
            policy: &self.ctx.policy,
            calendar: &self.ctx.calendar,
            now: ctx.now,
        };
        decide(&decision, &view.status, action)?;
        let key = uuid::Uuid::new_v4().to_string();
        tx.execute(
            "INSERT INTO outbox (idempotency_key, letter_id, expected_version, action, actor,
                                 workstation, created_at, signature)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                key,
                letter_id.0,
                expected_version,
                serde_json::to_string(action)?,
                serde_json::to_string(&ctx.actor)?,
                ctx.workstation,
                time::to_db(ctx.now),
                signature.map(serde_json::Value::to_string),
            ],
        )?;
        let id = tx.last_insert_rowid();
        letters::refresh_view(&tx, &self.ctx, letter_id)?;
        let entry = entry(&tx, id)?;
        tx.commit()?;
        Ok(entry)
    }

    /// The oldest pending entry: the next to send. Entries go strictly in order, so a
    /// letter's second action never overtakes its first.
    pub fn next_pending(&self) -> Result<Option<OutboxEntry>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM outbox WHERE status = 'pending' ORDER BY id LIMIT 1"
        ))?;
        let mut rows = stmt.query([])?;
        rows.next()?.map(entry_from_row).transpose()
    }

    /// Every pending entry, oldest first.
    pub fn pending_actions(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        query_entries(&self.conn, "status = 'pending'", [])
    }

    /// The server accepted the entry: forget it and store the letter as the server
    /// returned it (the view re-applies whatever else is still pending).
    pub fn mark_sent(&mut self, id: i64, server_letter: &LetterRecord) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        let deleted = tx.execute(
            "DELETE FROM outbox WHERE id = ?1 AND status = 'pending'",
            [id],
        )?;
        if deleted == 0 {
            return Err(StoreError::OutboxEntryNotFound(id));
        }
        letters::store_server_letter(&tx, &self.ctx, server_letter, Arrival::quiet())?;
        tx.commit()?;
        Ok(())
    }

    /// The server refused the entry (403, 409, a rule): keep it as failed with the
    /// reason for the officer, and return the letter's view to the server's state —
    /// `current` when the server sent it (a 409 does), else the cached server record.
    pub fn mark_refused(
        &mut self,
        id: i64,
        code: &str,
        message: &str,
        current: Option<&LetterRecord>,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        let letter_id: Option<i64> = tx
            .query_row(
                "UPDATE outbox SET status = 'failed', attempts = attempts + 1,
                        last_error_code = ?2, last_error_message = ?3
                 WHERE id = ?1 AND status = 'pending' RETURNING letter_id",
                params![id, code, message],
                |r| r.get(0),
            )
            .optional()?;
        let letter_id = LetterId(letter_id.ok_or(StoreError::OutboxEntryNotFound(id))?);
        match current {
            Some(record) => {
                letters::store_server_letter(&tx, &self.ctx, record, Arrival::quiet())?;
            }
            None => letters::refresh_view(&tx, &self.ctx, letter_id)?,
        }
        tx.commit()?;
        Ok(())
    }

    /// A transient failure (offline, timeout, 5xx): the entry stays pending, to be
    /// retried with the same key.
    pub fn note_attempt_failed(
        &mut self,
        id: i64,
        code: &str,
        message: &str,
    ) -> Result<(), StoreError> {
        let updated = self.conn.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error_code = ?2,
                    last_error_message = ?3
             WHERE id = ?1 AND status = 'pending'",
            params![id, code, message],
        )?;
        if updated == 0 {
            return Err(StoreError::OutboxEntryNotFound(id));
        }
        Ok(())
    }

    /// The refused entries, oldest first, for the officer to read and dismiss.
    pub fn failed_actions(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        query_entries(&self.conn, "status = 'failed'", [])
    }

    /// The officer has read why an action was refused: forget it.
    pub fn dismiss_failed(&mut self, id: i64) -> Result<(), StoreError> {
        let deleted = self.conn.execute(
            "DELETE FROM outbox WHERE id = ?1 AND status = ?2",
            params![id, OutboxStatus::Failed.as_str()],
        )?;
        if deleted == 0 {
            return Err(StoreError::OutboxEntryNotFound(id));
        }
        Ok(())
    }
}
