//! The audit chain in SQLite: appending an entry inside the caller's transaction, and
//! reading the chain back to verify it, with the letter events and kept heads. The
//! chain's encoding and checks are `jsjb_storage::audit`, re-exported here.

pub use jsjb_storage::audit::*;

use jsjb_proto::AuditEntryHash;
use rusqlite::{OptionalExtension, params};

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
        at: jsjb_storage::time::to_db(entry.at),
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

/// The chain, the letter events against it, and the chain against each kept head.
pub fn verify_all(
    conn: &rusqlite::Connection,
    heads: &[AuditEntryHash],
) -> rusqlite::Result<Verification> {
    let mut v = verify_sqlite(conn)?;
    let (events, bad) = verify_events(conn)?;
    v.events = events;
    v.first_bad_event = bad;
    v.heads = heads
        .iter()
        .map(|h| check_head(conn, h))
        .collect::<rusqlite::Result<_>>()?;
    v.ok = v.first_broken.is_none() && v.first_bad_event.is_none() && v.heads.iter().all(|h| h.ok);
    Ok(v)
}

/// The last entry's `seq` and hash (`0` and [`GENESIS`] for an empty chain), and the
/// stored hash of entry `known` when asked and present. One read, so the two agree.
pub fn tip(
    conn: &rusqlite::Connection,
    known: Option<i64>,
) -> rusqlite::Result<(AuditEntryHash, Option<AuditEntryHash>)> {
    let last = conn
        .query_row(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
            [],
            |r| {
                Ok(AuditEntryHash {
                    seq: r.get(0)?,
                    hash: r.get(1)?,
                })
            },
        )
        .optional()?
        .unwrap_or_else(|| AuditEntryHash {
            seq: 0,
            hash: GENESIS.to_owned(),
        });
    let known = match known {
        Some(0) => Some(AuditEntryHash {
            seq: 0,
            hash: GENESIS.to_owned(),
        }),
        Some(seq) => entry_hash_at(conn, seq)?.map(|hash| AuditEntryHash { seq, hash }),
        None => None,
    };
    Ok((last, known))
}

fn entry_hash_at(conn: &rusqlite::Connection, seq: i64) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT hash FROM audit_log WHERE seq = ?1", [seq], |r| {
        r.get(0)
    })
    .optional()
}

/// Whether the chain still holds the entry a kept head names. Each entry's hash covers
/// the one before it, so the same hash at `seq` means the same chain up to `seq` (short
/// of a SHA-256 collision); run with [`verify_sqlite`], which checks the stored hashes
/// are the entries' own.
pub fn check_head(
    conn: &rusqlite::Connection,
    held: &AuditEntryHash,
) -> rusqlite::Result<HeadCheck> {
    let (last, found) = tip(conn, Some(held.seq))?;
    let reason = match found {
        None => Some(format!(
            "truncated: the chain has {} entries, fewer than the {} of the head; entries were deleted",
            last.seq, held.seq
        )),
        Some(found) if found.hash != held.hash => Some(format!(
            "forked: entry {} has hash {}, not the head's; the chain was rewritten",
            held.seq, found.hash
        )),
        Some(_) => None,
    };
    Ok(HeadCheck {
        seq: held.seq,
        hash: held.hash.clone(),
        ok: reason.is_none(),
        reason,
    })
}

/// Holds every `letter_events` row to the audit entry that recorded it: same time,
/// actor and event, and no event without its entry or the other way round. The
/// triggers that make `letter_events` append-only stop the server, not someone with
/// the file; the chain covers the audit entries, so this covers the events.
///
/// Both sides are read in (letter, seq) order and merged, so memory stays flat however
/// long the history is.
pub fn verify_events(conn: &rusqlite::Connection) -> rusqlite::Result<(u64, Option<BadEvent>)> {
    let mut events_stmt = conn.prepare(
        "SELECT letter_id, seq, at, actor, actor_user_id, actor_unit_id, kind, payload
         FROM letter_events ORDER BY letter_id, seq",
    )?;
    let events = events_stmt.query_map([], |r| {
        Ok(EventRow {
            letter_id: r.get(0)?,
            seq: r.get(1)?,
            at: r.get(2)?,
            actor: r.get(3)?,
            actor_user: r.get(4)?,
            actor_unit: r.get(5)?,
            kind: r.get(6)?,
            payload: r.get(7)?,
        })
    })?;
    let mut audit_stmt = conn.prepare(
        "SELECT letter_id,
                CASE WHEN action = 'letter.receive' THEN 1 ELSE json_extract(payload, '$.seq') END AS event_seq,
                seq, at, actor, actor_user_id, actor_unit_id, unit_id, payload
         FROM audit_log
         WHERE letter_id IS NOT NULL
           AND (action = 'letter.receive'
                OR (json_type(payload, '$.event') IS NOT NULL AND json_type(payload, '$.seq') = 'integer'))
         ORDER BY letter_id, event_seq, seq",
    )?;
    let recorded = audit_stmt.query_map([], |r| {
        Ok(RecordedEvent {
            letter_id: r.get(0)?,
            event_seq: r.get(1)?,
            audit_seq: r.get(2)?,
            at: r.get(3)?,
            actor: r.get(4)?,
            actor_user: r.get(5)?,
            actor_unit: r.get(6)?,
            unit_id: r.get(7)?,
            payload: r.get(8)?,
        })
    })?;
    merge_events(events, recorded)
}
