//! The append-only, hash-chained audit log.
//!
//! Each entry's `hash` is SHA-256 over its canonical encoding, which includes the
//! previous entry's hash, so changing, inserting or deleting any row breaks the chain
//! at that row. The canonical encoding (version `jsjb-audit-v1`) is:
//!
//! ```text
//! "jsjb-audit-v1;" then, for each field in this order:
//!   seq, at, actor, actor_user, actor_unit, action, letter_id, unit_id, user_id, payload, prev_hash
//! either  <byte length in decimal> ":" <UTF-8 bytes> ";"   for a present value
//! or      "~;"                                             for an absent (NULL) one
//! ```
//!
//! Integers are written in decimal, `at` as stored (RFC 3339, UTC, microseconds, `Z`),
//! `payload` as canonical JSON (object keys sorted by code point, no whitespace), and
//! `prev_hash` as 64 lowercase hex digits (all zeros for the first entry). The length
//! prefixes make the encoding unambiguous whatever the fields contain. Anyone can
//! re-check the chain from a copy of the table with a few lines of any language.

use chrono::{DateTime, Utc};
use jsjb_core::letter::LetterId;
use jsjb_core::org::{UnitId, UserId};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::storage::Actor;

/// The `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One stored entry, as read back for verification.
#[derive(Debug, Clone)]
pub struct AuditRow {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub actor_user: Option<i64>,
    pub actor_unit: Option<i64>,
    pub action: String,
    pub letter_id: Option<i64>,
    pub unit_id: Option<i64>,
    pub user_id: Option<i64>,
    pub payload: String,
    pub prev_hash: String,
    pub hash: String,
}

/// An entry to append.
#[derive(Debug, Clone)]
pub struct NewEntry<'a> {
    pub at: DateTime<Utc>,
    pub actor: &'a Actor,
    /// Dotted verb: `unit.create`, `user.create`, `auth.login`, `letter.receive`, …
    pub action: &'a str,
    pub letter: Option<LetterId>,
    pub unit: Option<UnitId>,
    pub user: Option<UserId>,
    pub payload: serde_json::Value,
}

/// The outcome of checking the whole chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Verification {
    /// True when every entry checks out.
    pub ok: bool,
    /// How many entries were checked.
    pub entries: u64,
    /// The first entry that does not check out, if any.
    pub first_broken: Option<BrokenEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct BrokenEntry {
    pub seq: i64,
    pub reason: String,
}

/// Canonical JSON: object keys sorted, no insignificant whitespace.
pub fn canonical_json(value: &serde_json::Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String(key.clone()).to_string());
                out.push(':');
                if let Some(v) = map.get(key) {
                    write_canonical(v, out);
                }
            }
            out.push('}');
        }
        serde_json::Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// The hash of an entry, per the encoding in the module documentation.
pub fn entry_hash(row: &AuditRow) -> String {
    fn field(h: &mut Sha256, value: Option<&str>) {
        match value {
            Some(v) => {
                h.update(v.len().to_string().as_bytes());
                h.update(b":");
                h.update(v.as_bytes());
                h.update(b";");
            }
            None => h.update(b"~;"),
        }
    }
    let num = |v: Option<i64>| v.map(|n| n.to_string());
    let mut h = Sha256::new();
    h.update(b"jsjb-audit-v1;");
    field(&mut h, Some(&row.seq.to_string()));
    field(&mut h, Some(&row.at));
    field(&mut h, Some(&row.actor));
    field(&mut h, num(row.actor_user).as_deref());
    field(&mut h, num(row.actor_unit).as_deref());
    field(&mut h, Some(&row.action));
    field(&mut h, num(row.letter_id).as_deref());
    field(&mut h, num(row.unit_id).as_deref());
    field(&mut h, num(row.user_id).as_deref());
    field(&mut h, Some(&row.payload));
    field(&mut h, Some(&row.prev_hash));
    hex(&h.finalize())
}

pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Checks a chain read in `seq` order and names the first entry that fails.
pub fn verify<E>(rows: impl IntoIterator<Item = Result<AuditRow, E>>) -> Result<Verification, E> {
    let mut expected_prev = GENESIS.to_owned();
    let mut entries = 0_u64;
    for (expected_seq, row) in (1_i64..).zip(rows) {
        let row = row?;
        entries += 1;
        let broken = if row.seq != expected_seq {
            Some(format!(
                "expected entry {expected_seq} next but found {}: entries are missing or renumbered",
                row.seq
            ))
        } else if row.prev_hash != expected_prev {
            Some("prev_hash does not match the hash of the entry before it".to_owned())
        } else if entry_hash(&row) != row.hash {
            Some("hash does not match the entry's content: the entry was altered".to_owned())
        } else {
            None
        };
        if let Some(reason) = broken {
            return Ok(Verification {
                ok: false,
                entries,
                first_broken: Some(BrokenEntry {
                    seq: row.seq,
                    reason,
                }),
            });
        }
        expected_prev = row.hash;
    }
    Ok(Verification {
        ok: true,
        entries,
        first_broken: None,
    })
}

/// Appends an entry inside the caller's transaction (`tx`), so the entry commits or
/// rolls back with the change it records. Relies on the single writer: nobody else
/// can append between reading the last hash and inserting.
pub fn append(tx: &rusqlite::Connection, entry: NewEntry<'_>) -> rusqlite::Result<i64> {
    let last: Option<(i64, String)> = tx
        .query_row(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (seq, prev_hash) = match last {
        Some((seq, hash)) => (seq + 1, hash),
        None => (1, GENESIS.to_owned()),
    };
    let mut row = AuditRow {
        seq,
        at: crate::time::to_db(entry.at),
        actor: entry.actor.label.clone(),
        actor_user: entry.actor.user.map(|u| u.0),
        actor_unit: entry.actor.unit.map(|u| u.0),
        action: entry.action.to_owned(),
        letter_id: entry.letter.map(|l| l.0),
        unit_id: entry.unit.map(|u| u.0),
        user_id: entry.user.map(|u| u.0),
        payload: canonical_json(&entry.payload),
        prev_hash,
        hash: String::new(),
    };
    row.hash = entry_hash(&row);
    tx.execute(
        "INSERT INTO audit_log (seq, at, actor, actor_user_id, actor_unit_id, action, letter_id, unit_id, user_id, payload, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![
            row.seq, row.at, row.actor, row.actor_user, row.actor_unit, row.action,
            row.letter_id, row.unit_id, row.user_id, row.payload, row.prev_hash, row.hash
        ],
    )?;
    Ok(seq)
}

/// Reads the whole chain in order and verifies it.
pub fn verify_sqlite(conn: &rusqlite::Connection) -> rusqlite::Result<Verification> {
    let mut stmt = conn.prepare(
        "SELECT seq, at, actor, actor_user_id, actor_unit_id, action, letter_id, unit_id, user_id, payload, prev_hash, hash
         FROM audit_log ORDER BY seq",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(AuditRow {
            seq: r.get(0)?,
            at: r.get(1)?,
            actor: r.get(2)?,
            actor_user: r.get(3)?,
            actor_unit: r.get(4)?,
            action: r.get(5)?,
            letter_id: r.get(6)?,
            unit_id: r.get(7)?,
            user_id: r.get(8)?,
            payload: r.get(9)?,
            prev_hash: r.get(10)?,
            hash: r.get(11)?,
        })
    })?;
    verify(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_recursively() {
        let v = serde_json::json!({"b": 1, "a": {"z": [1, {"y": 2, "x": "文"}], "c": null}});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"c":null,"z":[1,{"x":"文","y":2}]},"b":1}"#
        );
    }

    #[test]
    fn encoding_is_unambiguous_between_null_and_text() {
        let base = AuditRow {
            seq: 1,
            at: "2025-01-01T00:00:00.000000Z".into(),
            actor: "cli".into(),
            actor_user: None,
            actor_unit: None,
            action: "x".into(),
            letter_id: None,
            unit_id: None,
            user_id: None,
            payload: "{}".into(),
            prev_hash: GENESIS.into(),
            hash: String::new(),
        };
        let mut other = base.clone();
        other.actor_user = Some(1);
        assert_ne!(entry_hash(&base), entry_hash(&other));
        let mut shifted = base.clone();
        shifted.actor = "cl".into();
        shifted.action = "ix".into();
        assert_ne!(entry_hash(&base), entry_hash(&shifted));
    }
}
