//! Letters in PostgreSQL: intake, the desktop record, actions in one transaction, sync
//! pages, and the idempotency answers' housekeeping. A port of the SQLite backend's
//! `letters.rs`, `maintenance.rs` and letter methods: the same rows, errors and audit
//! entries.

use crate::cached::Cached;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use jsjb_core::letter::{self, Category, Channel, FormDecision, LetterId, LetterState};
use jsjb_core::org::{UnitId, UserId};
use jsjb_core::workflow::{EventPayload, LetterStatus};
use jsjb_proto::{
    ActionResponse, AttachmentKind, Change, EventRecord, LetterRecord, SignedForm, Writer,
};
use jsjb_storage::signoff::NewSignedForm;
use jsjb_storage::{
    ActionCommit, ActionOutcome, Actor, CreatedLetter, DecideFn, IdempotencyClaim,
    MAX_EVENTS_PER_LETTER, ProgressRecord, StorageError, StoredAnswer, SyncBatch,
};
use serde_json::json;

use crate::audit::{self, NewEntry};
use crate::{Db, PgStore, begin_read, begin_write, corrupt, parse_enum};

/// The stored form of an event payload: the serde JSON of `EventPayload`, canonical.
pub(crate) fn payload_json(event: &EventPayload) -> Result<String, StorageError> {
    let value = serde_json::to_value(event).map_err(|e| corrupt(format!("event payload: {e}")))?;
    Ok(audit::canonical_json(&value))
}

fn status_of(status: i32) -> Result<u16, StorageError> {
    u16::try_from(status).map_err(|_| corrupt(format!("stored answer status {status}")))
}

// --- the desktop record ---------------------------------------------------------------

/// The letters `ids` as desktops see them, with their folded status, by id (ids that do
/// not exist are absent). The writer is masked: the real name and phone leave the server
/// only through an explicit, logged reveal. Four queries whatever the number of letters,
/// so a sync page costs the same round trips for one letter as for fifty; call it inside
/// one snapshot (`begin_read`) or the write transaction so the four agree.
async fn load_records(
    c: &impl GenericClient,
    ids: &[i64],
) -> Result<HashMap<i64, (LetterRecord, LetterStatus)>, StorageError> {
    let mut out = HashMap::with_capacity(ids.len());
    if ids.is_empty() {
        return Ok(out);
    }
    let ids = ids.to_vec();
    let rows = c
        .query_c(
            "SELECT id, tracking_code, channel, category, problem_tags, subject, body, writer_name,
                    writer_phone, received_at, state, unit_id, handler_id, version
             FROM letters WHERE id = ANY($1)",
            &[&ids],
        )
        .await
        .db()?;
    if rows.is_empty() {
        return Ok(out);
    }
    let mut events = load_events(c, &ids).await?;
    let mut attachments = load_attachments(c, &ids).await?;
    let mut forms = load_signed_forms(c, &ids).await?;
    let mut notices = crate::writer_notices::load(c, &ids).await?;
    for r in &rows {
        let id: i64 = r.get(0);
        let category = parse_enum("category", r.get(3), Category::parse)?;
        let events = events.remove(&id).unwrap_or_default();
        let status = LetterStatus::from_events(category, events.iter().map(|e| (e.at, &e.payload)))
            .ok_or_else(|| corrupt(format!("letter {id} does not start with `received`")))?;
        let tags: &str = r.get(4);
        let writer_name: &str = r.get(7);
        let writer_phone: &str = r.get(8);
        let version: i64 = r.get(13);
        let record = LetterRecord {
            id: LetterId(id),
            tracking_code: r.get(1),
            channel: parse_enum("channel", r.get(2), Channel::parse)?,
            category,
            problem_tags: serde_json::from_str(tags)
                .map_err(|e| corrupt(format!("letter {id} tags: {e}")))?,
            subject: r.get(5),
            body: r.get(6),
            writer: Writer {
                name: letter::mask_name(writer_name),
                phone: letter::mask_phone(writer_phone),
                masked: true,
            },
            received_at: r.get(9),
            state: parse_enum("state", r.get(10), LetterState::parse)?,
            unit_id: UnitId(r.get(11)),
            handler_id: r.get::<_, Option<i64>>(12).map(UserId),
            version: u32::try_from(version).map_err(|_| corrupt("version out of range"))?,
            events,
            attachments: attachments.remove(&id).unwrap_or_default(),
            signed_forms: forms.remove(&id).unwrap_or_default(),
            writer_notices: notices.remove(&id).unwrap_or_default(),
        };
        out.insert(id, (record, status));
    }
    Ok(out)
}

/// One letter as [`load_records`] gives it.
async fn load_record(
    c: &impl GenericClient,
    id: LetterId,
) -> Result<Option<(LetterRecord, LetterStatus)>, StorageError> {
    Ok(load_records(c, &[id.0]).await?.remove(&id.0))
}

async fn load_events(
    c: &impl GenericClient,
    ids: &[i64],
) -> Result<HashMap<i64, Vec<EventRecord>>, StorageError> {
    let rows = c
        .query_c(
            "SELECT letter_id, seq, at, actor_user_id, actor_unit_id, workstation, payload
             FROM letter_events WHERE letter_id = ANY($1) ORDER BY letter_id, seq",
            &[&ids],
        )
        .await
        .db()?;
    let mut out: HashMap<i64, Vec<EventRecord>> = HashMap::new();
    for r in &rows {
        let letter: i64 = r.get(0);
        let seq: i64 = r.get(1);
        let payload: &str = r.get(6);
        out.entry(letter).or_default().push(EventRecord {
            seq: u32::try_from(seq).map_err(|_| corrupt("event seq out of range"))?,
            at: r.get(2),
            actor_user: r.get::<_, Option<i64>>(3).map(UserId),
            actor_unit: r.get::<_, Option<i64>>(4).map(UnitId),
            workstation: r.get(5),
            payload: serde_json::from_str(payload)
                .map_err(|e| corrupt(format!("letter {letter} event {seq} payload: {e}")))?,
        });
    }
    Ok(out)
}

async fn load_attachments(
    c: &impl GenericClient,
    ids: &[i64],
) -> Result<HashMap<i64, Vec<jsjb_proto::AttachmentMeta>>, StorageError> {
    let rows = c
        .query_c(
            "SELECT la.letter_id, a.sha256, a.kind, a.mime, a.size FROM letter_attachments la
             JOIN attachments a ON a.sha256 = la.sha256
             WHERE la.letter_id = ANY($1) ORDER BY la.letter_id, la.position",
            &[&ids],
        )
        .await
        .db()?;
    let mut out: HashMap<i64, Vec<jsjb_proto::AttachmentMeta>> = HashMap::new();
    for r in &rows {
        let kind: &str = r.get(2);
        let size: i64 = r.get(4);
        out.entry(r.get(0))
            .or_default()
            .push(jsjb_proto::AttachmentMeta {
                sha256: r.get(1),
                kind: AttachmentKind::parse(kind)
                    .ok_or_else(|| corrupt(format!("attachment kind {kind:?}")))?,
                mime: r.get(3),
                size: u64::try_from(size).map_err(|_| corrupt("negative attachment size"))?,
            });
    }
    Ok(out)
}

/// The signed forms of the letters, for their `LetterRecord`s (oldest first): the
/// SQLite backend's `signed_forms::load`.
async fn load_signed_forms(
    c: &impl GenericClient,
    ids: &[i64],
) -> Result<HashMap<i64, Vec<SignedForm>>, StorageError> {
    let rows = c
        .query_c(
            "SELECT f.letter_id, f.event_seq, f.key_id, f.signer_user_id, f.on_behalf_of, f.decision,
                    f.signed_at, f.form_bytes, f.signature_der, k.public_key_pem, f.handwriting_sha256
             FROM signed_forms f JOIN signing_keys k ON k.id = f.key_id
             WHERE f.letter_id = ANY($1) ORDER BY f.letter_id, f.event_seq",
            &[&ids],
        )
        .await
        .db()?;
    let mut out: HashMap<i64, Vec<SignedForm>> = HashMap::new();
    for r in &rows {
        let seq: i64 = r.get(1);
        let seq = u32::try_from(seq).map_err(|_| corrupt("signed form seq"))?;
        let decision: &str = r.get(5);
        let form: &[u8] = r.get(7);
        let sig: &[u8] = r.get(8);
        out.entry(r.get(0)).or_default().push(SignedForm {
            event_seq: seq,
            letter_version: seq.saturating_sub(1),
            key_id: r.get(2),
            signer: UserId(r.get(3)),
            on_behalf_of: r.get::<_, Option<i64>>(4).map(UserId),
            decision: FormDecision::parse(decision)
                .ok_or_else(|| corrupt(format!("decision {decision:?}")))?,
            signed_at: r.get(6),
            form_b64: jsjb_signoff::b64::encode(form),
            signature_der_b64: jsjb_signoff::b64::encode(sig),
            public_key_pem: r.get(9),
            handwriting_sha256: r.get(10),
        });
    }
    Ok(out)
}

pub(crate) async fn letter(
    store: &PgStore,
    id: LetterId,
) -> Result<Option<LetterRecord>, StorageError> {
    let mut client = store.client().await?;
    let tx = begin_read(&mut client).await?;
    Ok(load_record(&tx, id).await?.map(|(record, _)| record))
}

// --- intake ---------------------------------------------------------------------------

/// The letter a desk's idempotency key created before, when the key was seen with the
/// same request; a key seen with another request is refused.
pub(crate) async fn replayed_letter(
    tx: &impl GenericClient,
    claim: &IdempotencyClaim,
) -> Result<Option<CreatedLetter>, StorageError> {
    let seen = tx
        .query_opt_c(
            "SELECT request_hash, response_body FROM idempotency_keys WHERE user_id = $1 AND key = $2",
            &[&claim.user.0, &claim.key],
        )
        .await
        .db()?;
    let Some(seen) = seen else {
        return Ok(None);
    };
    let hash: &str = seen.get(0);
    if hash != claim.request_hash {
        return Err(StorageError::Conflict {
            code: "idempotency_key_reused",
            detail: "this Idempotency-Key was already used for a different request; use a fresh key per action".to_owned(),
        });
    }
    let first: serde_json::Value = serde_json::from_str(seen.get(1))
        .map_err(|e| corrupt(format!("idempotency answer: {e}")))?;
    let field = |name: &str| {
        first
            .get(name)
            .and_then(serde_json::Value::as_i64)
            .ok_or_else(|| corrupt(format!("idempotency answer lacks {name}")))
    };
    let id = LetterId(field("id")?);
    let unit = UnitId(field("unit_id")?);
    let row = tx
        .query_one_c(
            "SELECT tracking_code, received_at FROM letters WHERE id = $1",
            &[&id.0],
        )
        .await
        .db()?;
    Ok(Some(CreatedLetter {
        id,
        unit,
        change_seq: 0,
        tracking_code: row.get(0),
        received_at: row.get(1),
        replayed: true,
    }))
}

pub(crate) async fn progress(
    store: &PgStore,
    tracking_code: &str,
) -> Result<Option<ProgressRecord>, StorageError> {
    let mut client = store.client().await?;
    let tx = begin_read(&mut client).await?;
    let Some(found) = tx
        .query_opt_c(
            "SELECT id, writer_phone, state, category, received_at FROM letters WHERE tracking_code = $1",
            &[&tracking_code],
        )
        .await
        .db()?
    else {
        return Ok(None);
    };
    let id: i64 = found.get(0);
    let rows = tx
        .query_c(
            "SELECT at, payload FROM letter_events WHERE letter_id = $1 ORDER BY seq",
            &[&id],
        )
        .await
        .db()?;
    let mut events = Vec::with_capacity(rows.len());
    for r in &rows {
        let payload: &str = r.get(1);
        let event = serde_json::from_str(payload)
            .map_err(|e| corrupt(format!("letter {id} event payload: {e}")))?;
        events.push((r.get(0), event));
    }
    let state: &str = found.get(2);
    let category: &str = found.get(3);
    Ok(Some(ProgressRecord {
        tracking_code: tracking_code.to_owned(),
        writer_phone: found.get(1),
        state: LetterState::parse(state)
            .ok_or_else(|| corrupt(format!("letter {id} has unknown state {state:?}")))?,
        category: Category::parse(category)
            .ok_or_else(|| corrupt(format!("letter {id} has unknown category {category:?}")))?,
        received_at: found.get(4),
        events,
    }))
}

pub(crate) async fn attachment(
    store: &PgStore,
    sha256: &str,
) -> Result<Option<(jsjb_storage::AttachmentMeta, Vec<UnitId>)>, StorageError> {
    let mut client = store.client().await?;
    let tx = begin_read(&mut client).await?;
    let Some(found) = tx
        .query_opt_c(
            "SELECT mime, size, kind FROM attachments WHERE sha256 = $1",
            &[&sha256],
        )
        .await
        .db()?
    else {
        return Ok(None);
    };
    let units = tx
        .query_c(
            "SELECT DISTINCT l.unit_id FROM letter_attachments a JOIN letters l ON l.id = a.letter_id
             WHERE a.sha256 = $1",
            &[&sha256],
        )
        .await
        .db()?
        .iter()
        .map(|r| UnitId(r.get(0)))
        .collect();
    let size: i64 = found.get(1);
    let kind: &str = found.get(2);
    let meta = jsjb_storage::AttachmentMeta {
        sha256: sha256.to_owned(),
        mime: found.get(0),
        size: u64::try_from(size).map_err(|_| corrupt("negative attachment size"))?,
        kind: AttachmentKind::parse(kind)
            .ok_or_else(|| corrupt(format!("attachment kind {kind:?}")))?,
    };
    Ok(Some((meta, units)))
}

pub(crate) async fn latest_change_seq(store: &PgStore) -> Result<i64, StorageError> {
    let client = store.client().await?;
    Ok(client
        .query_one_c("SELECT coalesce(max(seq), 0) FROM changes", &[])
        .await
        .db()?
        .get(0))
}

// --- actions --------------------------------------------------------------------------

fn answer_for(record: &LetterRecord) -> Result<StoredAnswer, StorageError> {
    let body = serde_json::to_string(&ActionResponse {
        letter: record.clone(),
    })
    .map_err(|e| corrupt(format!("response: {e}")))?;
    Ok(StoredAnswer { status: 200, body })
}

/// Keeps the answer under the action's idempotency key, in the action's transaction.
async fn remember(
    tx: &impl GenericClient,
    commit: &ActionCommit,
    answer: &StoredAnswer,
) -> Result<(), StorageError> {
    if let (Some((key, hash)), Some(user)) = (&commit.idempotency, commit.actor.user) {
        tx.execute_c(
            "INSERT INTO idempotency_keys (user_id, key, request_hash, response_status, response_body, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[&user.0, key, hash, &i32::from(answer.status), &answer.body, &commit.at],
        )
        .await
        .db()?;
    }
    Ok(())
}

/// Refuses (and remembers under the idempotency key) an action on a letter whose
/// history is full. Counting uses the (letter_id, seq) index and stops at the cap.
async fn refuse_when_history_full(
    tx: &impl GenericClient,
    commit: &ActionCommit,
) -> Result<Option<ActionOutcome>, StorageError> {
    let events: i64 = tx
        .query_one_c(
            "SELECT count(*) FROM (SELECT 1 FROM letter_events WHERE letter_id = $1 LIMIT $2) e",
            &[&commit.letter.0, &MAX_EVENTS_PER_LETTER],
        )
        .await
        .db()?
        .get(0);
    if events < MAX_EVENTS_PER_LETTER {
        return Ok(None);
    }
    let refusal = commit.history_full.clone();
    remember(tx, commit, &refusal).await?;
    Ok(Some(ActionOutcome::Refused(refusal)))
}

/// `Storage::apply_action` in one write transaction; with `signed`, also the sign-off's
/// `apply_signed_action`: the key must still be active (checked first, in the
/// transaction: it may have been revoked since the request was checked), and the signed
/// form is kept with the event, the answer and its replay carrying it.
pub(crate) async fn apply_action(
    store: &PgStore,
    commit: ActionCommit,
    decide: DecideFn,
    signed: Option<NewSignedForm>,
) -> Result<ActionOutcome, StorageError> {
    let mut client = store.writer().await?;
    let tx = begin_write(&mut client).await?;
    if let Some(signed) = &signed {
        let state = tx
            .query_opt_c(
                "SELECT state FROM signing_keys WHERE id = $1",
                &[&signed.key_id],
            )
            .await
            .db()?;
        if state.as_ref().map(|r| r.get::<_, &str>(0)) != Some("active") {
            return Err(StorageError::Conflict {
                code: "key_not_active",
                detail: format!("key {} is not active", signed.key_id),
            });
        }
    }
    let letter = commit.letter;
    let user = commit.actor.user;
    let key = commit.idempotency.as_ref().map(|(k, _)| k.clone());
    let outcome = apply_in(&tx, commit, decide).await?;
    let outcome = match (outcome, signed) {
        (
            ActionOutcome::Applied {
                change_seq,
                prev_unit,
                letter: record,
                ..
            },
            Some(signed),
        ) => {
            tx.execute_c(
                "INSERT INTO signed_forms (letter_id, event_seq, key_id, signer_user_id, delegation_id, on_behalf_of,
                    decision, form_bytes, signature_der, handwriting_sha256, signed_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                &[
                    &letter.0,
                    &i64::from(record.version),
                    &signed.key_id,
                    &signed.signer.0,
                    &signed.delegation.map(|(id, _)| id),
                    &signed.delegation.map(|(_, chief)| chief.0),
                    &signed.decision.as_str(),
                    &signed.form_bytes,
                    &signed.signature_der,
                    &signed.handwriting_sha256,
                    &signed.signed_at,
                ],
            )
            .await
            .db()?;
            // The answer (and what a replay of the key returns) carries the signed form.
            let (record, _) = load_record(&tx, letter)
                .await?
                .ok_or_else(|| corrupt("the letter vanished inside its own transaction"))?;
            let answer = answer_for(&record)?;
            if let (Some(key), Some(user)) = (key, user) {
                tx.execute_c(
                    "UPDATE idempotency_keys SET response_body = $3 WHERE user_id = $1 AND key = $2",
                    &[&user.0, &key, &answer.body],
                )
                .await
                .db()?;
            }
            ActionOutcome::Applied {
                change_seq,
                prev_unit,
                letter: Box::new(record),
                answer,
            }
        }
        (outcome, _) => outcome,
    };
    // A refusal is committed too: it is kept under the key for the retry.
    store.commit(tx).await?;
    Ok(outcome)
}

/// The action itself, inside the caller's write transaction (the SQLite backend's
/// `letters::apply_action`).
async fn apply_in(
    tx: &impl GenericClient,
    commit: ActionCommit,
    decide: DecideFn,
) -> Result<ActionOutcome, StorageError> {
    if let (Some((key, hash)), Some(user)) = (&commit.idempotency, commit.actor.user) {
        let seen = tx
            .query_opt_c(
                "SELECT request_hash, response_status, response_body FROM idempotency_keys
                 WHERE user_id = $1 AND key = $2",
                &[&user.0, key],
            )
            .await
            .db()?;
        if let Some(seen) = seen {
            let seen_hash: &str = seen.get(0);
            return Ok(if seen_hash == hash {
                ActionOutcome::Replayed(StoredAnswer {
                    status: status_of(seen.get(1))?,
                    body: seen.get(2),
                })
            } else {
                ActionOutcome::KeyReused
            });
        }
    }
    if let Some(refused) = refuse_when_history_full(tx, &commit).await? {
        return Ok(refused);
    }
    let (record, mut status) = load_record(tx, commit.letter).await?.ok_or_else(|| {
        StorageError::NotFound(format!("letter {} does not exist", commit.letter.0))
    })?;
    let event = match decide(&record, &status) {
        Ok(event) => event,
        Err(refusal) => {
            remember(tx, &commit, &refusal).await?;
            return Ok(ActionOutcome::Refused(refusal));
        }
    };
    let prev_unit = status.unit;
    status.apply(commit.at, &event);
    // 重新分类 changes what the record says the letter is: the listing columns follow.
    if let EventPayload::Reclassified {
        category,
        problem_tags,
        ..
    } = &event
    {
        let tags = serde_json::to_string(problem_tags)
            .map_err(|e| corrupt(format!("problem tags: {e}")))?;
        tx.execute_c(
            "UPDATE letters SET category = $2, problem_tags = $3 WHERE id = $1",
            &[&commit.letter.0, &category.as_str(), &tags],
        )
        .await
        .db()?;
    }
    let seq = i64::from(status.version);
    let actor = &commit.actor;
    tx.execute_c(
        "INSERT INTO letter_events (letter_id, seq, at, actor_user_id, actor_unit_id, actor_role, actor, workstation, kind, payload)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &[
            &commit.letter.0,
            &seq,
            &commit.at,
            &actor.user.map(|u| u.0),
            &actor.unit.map(|u| u.0),
            &actor.role.map(|r| r.as_str()),
            &actor.label,
            &actor.workstation,
            &event.kind(),
            &payload_json(&event)?,
        ],
    )
    .await
    .db()?;
    tx.execute_c(
        "UPDATE letters SET state = $2, unit_id = $3, handler_id = $4, version = $5, updated_at = $6
         WHERE id = $1",
        &[
            &commit.letter.0,
            &status.state.as_str(),
            &status.unit.0,
            &status.handler.map(|h| h.0),
            &seq,
            &commit.at,
        ],
    )
    .await
    .db()?;
    let change_seq: i64 = tx
        .query_one_c(
            "INSERT INTO changes (letter_id, unit_id, prev_unit_id, at) VALUES ($1, $2, $3, $4) RETURNING seq",
            &[&commit.letter.0, &status.unit.0, &prev_unit.0, &commit.at],
        )
        .await
        .db()?
        .get(0);
    audit::append(
        tx,
        NewEntry {
            at: commit.at,
            actor,
            action: commit.audit_action,
            letter: Some(commit.letter),
            unit: Some(status.unit),
            user: None,
            payload: json!({ "seq": seq, "event": serde_json::to_value(&event).unwrap_or_default() }),
        },
    )
    .await?;
    let (record, _) = load_record(tx, commit.letter)
        .await?
        .ok_or_else(|| corrupt("the letter vanished inside its own transaction"))?;
    let answer = answer_for(&record)?;
    remember(tx, &commit, &answer).await?;
    Ok(ActionOutcome::Applied {
        change_seq,
        prev_unit,
        letter: Box::new(record),
        answer,
    })
}

// --- sync -----------------------------------------------------------------------------

fn scope_ids(scope: &[UnitId]) -> Vec<i64> {
    scope.iter().map(|u| u.0).collect()
}

/// One page, in ONE snapshot: the page's changes, its `next_cursor` and the letters sent
/// all come from the same REPEATABLE READ transaction, which holds a prefix of the
/// change sequence (see the crate doc); a cursor read from a second snapshot could
/// skip a change committed between the two.
pub(crate) async fn sync_page(
    store: &PgStore,
    scope: Vec<UnitId>,
    cursor: i64,
    limit: u32,
) -> Result<SyncBatch, StorageError> {
    let mut client = store.client().await?;
    let tx = begin_read(&mut client).await?;
    let units = scope_ids(&scope);
    let rows = tx
        .query_c(
            "SELECT seq, letter_id FROM changes
             WHERE seq > $1 AND (unit_id = ANY($2) OR prev_unit_id = ANY($2))
             ORDER BY seq LIMIT $3",
            &[&cursor, &units, &(i64::from(limit) + 1)],
        )
        .await
        .db()?;
    let rows: Vec<(i64, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let has_more = rows.len() > limit as usize;
    let page = &rows[..rows.len().min(limit as usize)];
    let next_cursor = match page.last() {
        Some((seq, _)) => *seq,
        // Nothing in scope: move the cursor past everyone else's changes too, so the
        // next request does not scan them again. Same snapshot as the empty page.
        None => tx
            .query_one_c("SELECT coalesce(max(seq), 0) FROM changes", &[])
            .await
            .db()?
            .get::<_, i64>(0)
            .max(cursor),
    };
    // One entry per letter, in the order of its last change in the page.
    let mut last_position: HashMap<i64, usize> = HashMap::new();
    for (i, (_, letter)) in page.iter().enumerate() {
        last_position.insert(*letter, i);
    }
    let mut letters: Vec<(usize, i64)> = last_position.into_iter().map(|(l, i)| (i, l)).collect();
    letters.sort_unstable();
    let ids: Vec<i64> = letters.iter().map(|(_, l)| *l).collect();
    let mut records = load_records(&tx, &ids).await?;
    let mut changes = Vec::with_capacity(ids.len());
    for id in ids {
        // The letter as it is now decides: in scope → the whole letter; left → removal.
        match records.remove(&id) {
            Some((record, _)) if scope.contains(&record.unit_id) => changes.push(Change::Letter {
                letter: Box::new(record),
            }),
            _ => changes.push(Change::Removed {
                letter_id: LetterId(id),
            }),
        }
    }
    Ok(SyncBatch {
        changes,
        next_cursor,
        has_more,
    })
}

pub(crate) async fn latest_change_in_scope(
    store: &PgStore,
    scope: Vec<UnitId>,
    after: i64,
) -> Result<Option<i64>, StorageError> {
    let client = store.client().await?;
    let units = scope_ids(&scope);
    Ok(client
        .query_one_c(
            "SELECT max(seq) FROM changes
             WHERE seq > $1 AND (unit_id = ANY($2) OR prev_unit_id = ANY($2))",
            &[&after, &units],
        )
        .await
        .db()?
        .get(0))
}

pub(crate) async fn reveal_writer(
    store: &PgStore,
    letter: LetterId,
    actor: Actor,
    now: DateTime<Utc>,
) -> Result<Writer, StorageError> {
    let mut client = store.writer().await?;
    let tx = begin_write(&mut client).await?;
    let row = tx
        .query_opt_c(
            "SELECT writer_name, writer_phone FROM letters WHERE id = $1",
            &[&letter.0],
        )
        .await
        .db()?
        .ok_or_else(|| StorageError::NotFound(format!("letter {} does not exist", letter.0)))?;
    let (user, unit) = match (actor.user, actor.unit) {
        (Some(user), Some(unit)) => (user, unit),
        _ => return Err(corrupt("a reveal needs a signed-in user")),
    };
    tx.execute_c(
        "INSERT INTO writer_reveals (letter_id, user_id, unit_id, at) VALUES ($1, $2, $3, $4)",
        &[&letter.0, &user.0, &unit.0, &now],
    )
    .await
    .db()?;
    audit::append(
        &tx,
        NewEntry {
            at: now,
            actor: &actor,
            action: "letter.reveal_writer",
            letter: Some(letter),
            unit: Some(unit),
            user: None,
            payload: json!({ "fields": ["name", "phone"] }),
        },
    )
    .await?;
    store.commit(tx).await?;
    Ok(Writer {
        name: row.get(0),
        phone: row.get(1),
        masked: false,
    })
}

// --- housekeeping -----------------------------------------------------------------------

/// One batch of idempotency pruning: first rows older than `before` (oldest first, by
/// the `idempotency_keys_created` index), then, if the batch has room, each user's rows
/// beyond their newest `per_user`.
pub(crate) async fn prune_idempotency(
    store: &PgStore,
    before: DateTime<Utc>,
    per_user: u32,
    batch: u32,
) -> Result<u32, StorageError> {
    let mut client = store.writer().await?;
    let tx = begin_write(&mut client).await?;
    let old = tx
        .execute_c(
            "DELETE FROM idempotency_keys WHERE (user_id, key) IN (
                 SELECT user_id, key FROM idempotency_keys
                 WHERE created_at < $1 ORDER BY created_at LIMIT $2)",
            &[&before, &i64::from(batch)],
        )
        .await
        .db()?;
    // At most `batch` rows went, which is a u32.
    let old = u32::try_from(old).unwrap_or(batch);
    let room = batch.saturating_sub(old);
    let mut excess = 0;
    if room > 0 {
        // Only users over the cap are ranked, so the common case is one grouped scan of
        // the primary key.
        let deleted = tx
            .execute_c(
                "DELETE FROM idempotency_keys WHERE (user_id, key) IN (
                     SELECT user_id, key FROM (
                         SELECT user_id, key, row_number() OVER (
                             PARTITION BY user_id ORDER BY created_at DESC, key COLLATE \"C\" DESC) AS newer
                         FROM idempotency_keys
                         WHERE user_id IN (SELECT user_id FROM idempotency_keys
                                           GROUP BY user_id HAVING count(*) > $1)) ranked
                     WHERE newer > $1 LIMIT $2)",
                &[&i64::from(per_user), &i64::from(room)],
            )
            .await
            .db()?;
        excess = u32::try_from(deleted).unwrap_or(room);
    }
    store.commit(tx).await?;
    Ok(old + excess)
}
