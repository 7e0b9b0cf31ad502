//! The audit chain in PostgreSQL: appending an entry inside the caller's write
//! transaction, and reading the chain back to verify it, with the letter events and
//! kept heads. The encoding and the checks are `jsjb_storage::audit`, shared with SQLite.

pub use jsjb_storage::audit::*;

use crate::cached::Cached;
use deadpool_postgres::GenericClient;
use jsjb_proto::AuditEntryHash;
use jsjb_storage::StorageError;
use jsjb_storage::time::to_db;

use crate::{Db, PgStore, begin_read};

/// Where the chain goes on: the next entry's number and the hash it links to.
pub(crate) struct Tip {
    pub next_seq: i64,
    pub prev_hash: String,
}

/// The chain's end, read inside a write transaction (the write lock keeps it the end).
pub(crate) async fn chain_end(tx: &impl GenericClient) -> Result<Tip, StorageError> {
    let last = tx
        .query_opt_c(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
            &[],
        )
        .await
        .db()?;
    Ok(match last {
        Some(r) => Tip {
            next_seq: r.get::<_, i64>(0) + 1,
            prev_hash: r.get(1),
        },
        None => Tip {
            next_seq: 1,
            prev_hash: GENESIS.to_owned(),
        },
    })
}

/// The stored row of `entry` as the next after `tip`, hashed; `tip` moves past it. For
/// several entries in one transaction (a batch of letters), each linked to the one
/// before without reading the chain again.
pub(crate) fn next_row(tip: &mut Tip, entry: NewEntry<'_>) -> AuditRow {
    let mut row = AuditRow {
        seq: tip.next_seq,
        at: to_db(entry.at),
        actor: entry.actor.label.clone(),
        actor_user: entry.actor.user.map(|u| u.0),
        actor_unit: entry.actor.unit.map(|u| u.0),
        action: entry.action.to_owned(),
        letter_id: entry.letter.map(|l| l.0),
        unit_id: entry.unit.map(|u| u.0),
        user_id: entry.user.map(|u| u.0),
        payload: canonical_json(&entry.payload),
        prev_hash: std::mem::take(&mut tip.prev_hash),
        hash: String::new(),
    };
    row.hash = entry_hash(&row);
    tip.next_seq += 1;
    tip.prev_hash = row.hash.clone();
    row
}

/// Writes a row made by [`next_row`].
pub(crate) async fn insert_row(
    tx: &impl GenericClient,
    row: &AuditRow,
) -> Result<(), StorageError> {
    tx.execute_c(
        "INSERT INTO audit_log (seq, at, actor, actor_user_id, actor_unit_id, action, letter_id, unit_id, user_id, payload, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        &[
            &row.seq, &row.at, &row.actor, &row.actor_user, &row.actor_unit, &row.action,
            &row.letter_id, &row.unit_id, &row.user_id, &row.payload, &row.prev_hash, &row.hash,
        ],
    )
    .await
    .db()?;
    Ok(())
}

/// Writes rows made by [`next_row`], several in one statement (a batch of letters):
/// one statement's parse, plan and index maintenance for all of them.
pub(crate) async fn insert_rows(
    tx: &impl GenericClient,
    rows: &[AuditRow],
) -> Result<(), StorageError> {
    if rows.is_empty() {
        return Ok(());
    }
    let column = |f: fn(&AuditRow) -> String| rows.iter().map(f).collect::<Vec<_>>();
    let number = |f: fn(&AuditRow) -> Option<i64>| rows.iter().map(f).collect::<Vec<_>>();
    let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
    let (at, actor, action, payload, prev_hash, hash) = (
        column(|r| r.at.clone()),
        column(|r| r.actor.clone()),
        column(|r| r.action.clone()),
        column(|r| r.payload.clone()),
        column(|r| r.prev_hash.clone()),
        column(|r| r.hash.clone()),
    );
    let (actor_user, actor_unit, letter_id, unit_id, user_id) = (
        number(|r| r.actor_user),
        number(|r| r.actor_unit),
        number(|r| r.letter_id),
        number(|r| r.unit_id),
        number(|r| r.user_id),
    );
    tx.execute_c(
        "INSERT INTO audit_log (seq, at, actor, actor_user_id, actor_unit_id, action, letter_id, unit_id, user_id, payload, prev_hash, hash)
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[],
                              $7::bigint[], $8::bigint[], $9::bigint[], $10::text[], $11::text[], $12::text[])",
        &[
            &seqs, &at, &actor, &actor_user, &actor_unit, &action, &letter_id, &unit_id, &user_id,
            &payload, &prev_hash, &hash,
        ],
    )
    .await
    .db()?;
    Ok(())
}

/// Appends an entry inside the caller's write transaction, so the entry commits or rolls
/// back with the change it records. Relies on the write lock (`begin_write`): nobody
/// else can append between reading the last hash and inserting.
pub async fn append(tx: &impl GenericClient, entry: NewEntry<'_>) -> Result<i64, StorageError> {
    let mut end = chain_end(tx).await?;
    let row = next_row(&mut end, entry);
    insert_row(tx, &row).await?;
    Ok(row.seq)
}

/// The chain, the letter events against it, and the chain against each kept head, all
/// read from one snapshot so the three agree.
///
/// The rows are read whole before they are checked (the shared checks take iterators,
/// and this driver's rows arrive as a stream): memory grows with the history, about
/// 0.5 KiB per entry and event. Fine for years of a city's letters on a server; a
/// province would verify a chain in segments (docs/design.md).
pub async fn verify_all(
    store: &PgStore,
    heads: &[AuditEntryHash],
) -> Result<Verification, StorageError> {
    let mut client = store.client().await?;
    let tx = begin_read(&mut client).await?;
    verify_in(&tx, heads).await
}

/// [`verify_all`] on the caller's transaction: a snapshot, or a write transaction that
/// checks what it wrote before committing it (the SQLite import).
pub(crate) async fn verify_in(
    tx: &impl GenericClient,
    heads: &[AuditEntryHash],
) -> Result<Verification, StorageError> {
    let rows = tx
        .query_c(
            "SELECT seq, at, actor, actor_user_id, actor_unit_id, action, letter_id, unit_id, user_id, payload, prev_hash, hash
             FROM audit_log ORDER BY seq",
            &[],
        )
        .await
        .db()?;
    let mut v = verify(rows.iter().map(|r| {
        Ok::<_, StorageError>(AuditRow {
            seq: r.get(0),
            at: r.get(1),
            actor: r.get(2),
            actor_user: r.get(3),
            actor_unit: r.get(4),
            action: r.get(5),
            letter_id: r.get(6),
            unit_id: r.get(7),
            user_id: r.get(8),
            payload: r.get(9),
            prev_hash: r.get(10),
            hash: r.get(11),
        })
    }))?;
    drop(rows);
    let (events, bad) = verify_events(tx).await?;
    v.events = events;
    v.first_bad_event = bad;
    let mut checked = Vec::with_capacity(heads.len());
    for head in heads {
        checked.push(check_head(tx, head).await?);
    }
    v.heads = checked;
    v.ok = v.first_broken.is_none() && v.first_bad_event.is_none() && v.heads.iter().all(|h| h.ok);
    Ok(v)
}

/// The last entry's `seq` and hash (`0` and [`GENESIS`] for an empty chain), and the
/// stored hash of entry `known` when asked and present. Call it inside one snapshot
/// (`begin_read`) so the two agree.
pub async fn tip(
    c: &impl GenericClient,
    known: Option<i64>,
) -> Result<(AuditEntryHash, Option<AuditEntryHash>), StorageError> {
    let last = c
        .query_opt_c(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
            &[],
        )
        .await
        .db()?
        .map(|r| AuditEntryHash {
            seq: r.get(0),
            hash: r.get(1),
        })
        .unwrap_or_else(|| AuditEntryHash {
            seq: 0,
            hash: GENESIS.to_owned(),
        });
    let known = match known {
        Some(0) => Some(AuditEntryHash {
            seq: 0,
            hash: GENESIS.to_owned(),
        }),
        Some(seq) => c
            .query_opt_c("SELECT hash FROM audit_log WHERE seq = $1", &[&seq])
            .await
            .db()?
            .map(|r| AuditEntryHash {
                seq,
                hash: r.get(0),
            }),
        None => None,
    };
    Ok((last, known))
}

/// Whether the chain still holds the entry a kept head names (as the SQLite backend's
/// `check_head`: the same hash at `seq` means the same chain up to `seq`).
async fn check_head(
    c: &impl GenericClient,
    held: &AuditEntryHash,
) -> Result<HeadCheck, StorageError> {
    let (last, found) = tip(c, Some(held.seq)).await?;
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

/// Holds every `letter_events` row to the audit entry that recorded it
/// (`jsjb_storage::audit::merge_events`). An event's time is rendered in the text form
/// its audit entry hashed, so the two compare as text.
async fn verify_events(c: &impl GenericClient) -> Result<(u64, Option<BadEvent>), StorageError> {
    let events = c
        .query_c(
            "SELECT letter_id, seq, at, actor, actor_user_id, actor_unit_id, kind, payload
             FROM letter_events ORDER BY letter_id, seq",
            &[],
        )
        .await
        .db()?;
    let recorded = c
        .query_c(
            "SELECT letter_id, event_seq, seq, at, actor, actor_user_id, actor_unit_id, unit_id, payload
             FROM (SELECT a.*,
                          CASE WHEN action = 'letter.receive' THEN 1
                               ELSE (payload::jsonb ->> 'seq')::bigint END AS event_seq
                   FROM audit_log a
                   WHERE letter_id IS NOT NULL
                     AND (action = 'letter.receive'
                          OR (payload::jsonb ? 'event'
                              AND jsonb_typeof(payload::jsonb -> 'seq') = 'number'
                              AND (payload::jsonb ->> 'seq') ~ '^-?[0-9]+$'))) recorded
             ORDER BY letter_id, event_seq, seq",
            &[],
        )
        .await
        .db()?;
    merge_events(
        events.iter().map(|r| {
            Ok::<_, StorageError>(EventRow {
                letter_id: r.get(0),
                seq: r.get(1),
                at: to_db(r.get(2)),
                actor: r.get(3),
                actor_user: r.get(4),
                actor_unit: r.get(5),
                kind: r.get(6),
                payload: r.get(7),
            })
        }),
        recorded.iter().map(|r| {
            Ok(RecordedEvent {
                letter_id: r.get(0),
                event_seq: r.get(1),
                audit_seq: r.get(2),
                at: r.get(3),
                actor: r.get(4),
                actor_user: r.get(5),
                actor_unit: r.get(6),
                unit_id: r.get(7),
                payload: r.get(8),
            })
        }),
    )
}
