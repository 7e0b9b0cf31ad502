//! Where the sync stands, who is signed in, and the settings.

use chrono::{DateTime, Utc};
use jsjb_core::org::UnitTree;
use jsjb_proto::{AuditHead, Me, UserSummary};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde::de::DeserializeOwned;
use ts_rs::TS;

use crate::{Store, StoreError, time};

/// The sync engine's bookmark and what it learnt about the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct SyncState {
    /// The cursor to pull from next; 0 before the first sync.
    #[ts(type = "number")]
    pub cursor: i64,
    /// The server's time of the last page applied.
    pub last_synced_at: Option<DateTime<Utc>>,
    /// Server clock minus workstation clock, in milliseconds: add it to the local
    /// time to get the server's `now` that every clock is computed in.
    #[ts(type = "number")]
    pub clock_offset_ms: i64,
}

pub(crate) fn load_me(conn: &Connection) -> Result<Option<Me>, StoreError> {
    let json: Option<String> =
        conn.query_row("SELECT me FROM sync_state WHERE id = 1", [], |r| r.get(0))?;
    Ok(json.map(|j| serde_json::from_str(&j)).transpose()?)
}

pub(crate) fn tree_of(me: &Me) -> Result<UnitTree, StoreError> {
    Ok(UnitTree::new(me.units.iter().cloned())?)
}

/// The cache has caught up with the server at least once (see migration 7).
pub(crate) fn caught_up(conn: &Connection) -> Result<bool, StoreError> {
    Ok(
        conn.query_row("SELECT caught_up FROM sync_state WHERE id = 1", [], |r| {
            r.get(0)
        })?,
    )
}

impl Store {
    pub fn sync_state(&self) -> Result<SyncState, StoreError> {
        let (cursor, last, offset): (i64, Option<i64>, i64) = self.conn.query_row(
            "SELECT cursor, last_synced_at, clock_offset_ms FROM sync_state WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        Ok(SyncState {
            cursor,
            last_synced_at: last.map(time::from_db).transpose()?,
            clock_offset_ms: offset,
        })
    }

    /// Records the estimated server clock offset (see [`SyncState::clock_offset_ms`]).
    pub fn set_clock_offset_ms(&mut self, offset_ms: i64) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE sync_state SET clock_offset_ms = ?1 WHERE id = 1",
            [offset_ms],
        )?;
        Ok(())
    }

    /// The newest signed audit head kept from this server (witnessed audit); its key is
    /// the pinned one. `None` before the first.
    pub fn audit_head(&self) -> Result<Option<AuditHead>, StoreError> {
        let json: Option<String> =
            self.conn
                .query_row("SELECT audit_head FROM sync_state WHERE id = 1", [], |r| {
                    r.get(0)
                })?;
        Ok(json.map(|j| serde_json::from_str(&j)).transpose()?)
    }

    /// Keeps `head` as the newest seen, unless the kept one is further along (a head
    /// never moves backwards here: an older one is what the check exists to catch).
    /// The caller has checked that `head` extends the kept one. True when kept.
    pub fn keep_audit_head(&mut self, head: &AuditHead) -> Result<bool, StoreError> {
        let tx = self.conn.transaction()?;
        let kept: Option<String> =
            tx.query_row("SELECT audit_head FROM sync_state WHERE id = 1", [], |r| {
                r.get(0)
            })?;
        let kept: Option<AuditHead> = kept.map(|j| serde_json::from_str(&j)).transpose()?;
        if kept.is_some_and(|k| k.seq > head.seq) {
            return Ok(false);
        }
        tx.execute(
            "UPDATE sync_state SET audit_head = ?1 WHERE id = 1",
            [serde_json::to_string(head)?],
        )?;
        tx.commit()?;
        Ok(true)
    }

    /// The signed-in user, as the server last described them.
    pub fn me(&self) -> Option<&Me> {
        self.ctx.me.as_ref()
    }

    /// Stores who is signed in and their unit tree: the arrival alarm needs their unit,
    /// the optimistic view needs the tree to check actions with core's rules.
    /// Every letter's view is recomputed, as pending actions may now apply differently.
    pub fn set_me(&mut self, me: &Me) -> Result<(), StoreError> {
        let tree = tree_of(me)?;
        let before = self
            .ctx
            .me
            .as_ref()
            .map(|m| m.unit_id)
            .or(load_me(&self.conn)?.map(|m| m.unit_id));
        let tx = self.conn.transaction()?;
        // The cache holds the scope of the user's unit. An admin moved the user to
        // another unit: the letters start over from cursor 0 in the new scope. The
        // outbox stays: what the officer did is sent, and the server refuses what is
        // no longer theirs, visibly. The new scope's first sync is history like any
        // first sync (nothing of it is highlighted as new).
        if before.is_some_and(|unit| unit != me.unit_id) {
            crate::forget::forget_every_letter(&tx)?;
            tx.execute(
                "UPDATE sync_state SET cursor = 0, last_synced_at = NULL, caught_up = 0
                 WHERE id = 1",
                [],
            )?;
        }
        tx.execute(
            "UPDATE sync_state SET me = ?1 WHERE id = 1",
            [serde_json::to_string(me)?],
        )?;
        self.ctx.me = Some(me.clone());
        self.ctx.tree = Some(tree);
        crate::view::refresh_pending_views(&tx, &self.ctx)?;
        tx.commit()?;
        Ok(())
    }

    /// The colleagues directory (pickers, handler names).
    pub fn set_directory(&mut self, users: &[UserSummary]) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE sync_state SET directory = ?1 WHERE id = 1",
            [serde_json::to_string(users)?],
        )?;
        Ok(())
    }

    pub fn directory(&self) -> Result<Vec<UserSummary>, StoreError> {
        let json: Option<String> =
            self.conn
                .query_row("SELECT directory FROM sync_state WHERE id = 1", [], |r| {
                    r.get(0)
                })?;
        Ok(json
            .map(|j| serde_json::from_str(&j))
            .transpose()?
            .unwrap_or_default())
    }

    /// A setting, `None` when never set.
    pub fn setting<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        let json: Option<String> = self
            .conn
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?;
        Ok(json.map(|j| serde_json::from_str(&j)).transpose()?)
    }

    pub fn set_setting<T: Serialize + ?Sized>(
        &mut self,
        key: &str,
        value: &T,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![key, serde_json::to_string(value)?],
        )?;
        Ok(())
    }
}
