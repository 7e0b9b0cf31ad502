//! The outbox, the queue from the user: officer actions checked, applied locally and
//! waiting to be accepted by the server (its table is `outbox_rows.rs`).
//!
//! Each entry carries an idempotency key made once, at enqueue, and stored with it: every
//! retry — after a timeout, a restart, a `kill -9` — sends the same key, so the server
//! applies the action at most once.

use jsjb_core::letter::LetterId;
use jsjb_core::workflow::{Action, DecisionContext, decide};
use jsjb_proto::LetterRecord;
use rusqlite::{OptionalExtension, params};

use crate::letters::{self, Arrival};
use crate::outbox_rows::{
    ActionContext, COLUMNS, OutboxEntry, OutboxStatus, entry, entry_from_row, query_entries,
};
use crate::view;
use crate::{Store, StoreError, time};

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
            view::load_record(&tx, letter_id)?.ok_or(StoreError::LetterNotFound(letter_id))?;
        let view = view::optimistic_view(&tx, &self.ctx, &record)?;
        if view.status.version != expected_version {
            return Err(StoreError::StaleView {
                expected: expected_version,
                current: view.status.version,
            });
        }
        let policy = self.ctx.rules.policy_for(&view.status.clock_inputs);
        let decision = DecisionContext {
            actor: &ctx.actor,
            tree,
            policy: &policy,
            calendar: self.ctx.rules.calendar(),
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
        view::refresh_view(&tx, &self.ctx, letter_id)?;
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
            None => view::refresh_view(&tx, &self.ctx, letter_id)?,
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
