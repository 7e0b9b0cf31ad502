//! Letters taken in together: group commit on PostgreSQL (issue 16, item 6).
//!
//! Every write holds the one write lock through its commit (lib.rs), so a letter per
//! transaction costs one commit's fsync and a dozen round trips with the lock held, for
//! every node together: about 500 letters/s however many clients wait. Here the letters
//! that arrive while a batch is being written wait and go together in the next one: one
//! transaction, one lock, one fsync for all of them, and their statements pipelined
//! (sent without waiting for each answer), so a batch costs a few round trips whatever
//! its size. A letter is answered only after its batch's commit has returned.
//!
//! Combining, not a background task: a request queues its letter, then waits for its
//! answer or the batch turn, whichever comes first. Whoever gets the turn takes every
//! letter queued (but those whose request went away) and writes them in a task of its
//! own, which holds the turn until the batch ends: a request that goes away mid-batch
//! cannot cut it short, and two batches never overlap. A quiet platform writes batches
//! of one.
//!
//! A batch commits whole or not at all. A letter refused before anything of it is
//! written — an idempotency key reused for another request, a tracking code taken, no
//! such unit, no city unit — is answered with its refusal while the others go on. An
//! error about one letter's data (SQLSTATE classes 22 and 23) rolls the batch back and
//! its letters are written again one per transaction, so a bad letter fails only
//! itself. Any other error (the connection, a lock's time limit, a commit whose outcome
//! is unknown) is every letter's answer: none is to blame, and writing them again could
//! store one twice when a failed commit was in fact made. Two letters of one batch under
//! the same idempotency key would each miss the other's claim, so the second waits for
//! the next batch and is answered as the replay it is.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use jsjb_core::letter::LetterId;
use jsjb_core::org::UnitId;
use jsjb_core::workflow::EventPayload;
use jsjb_storage::{Actor, CreatedLetter, NewLetter, StorageError};
use serde_json::json;
use tokio::sync::oneshot;
use tokio_postgres::types::ToSql;

use crate::audit::{self, NewEntry};
use crate::cached::Cached;
use crate::letters::{payload_json, replayed_letter};
use crate::{Db, PgStore, begin_write, corrupt, parse_tier};

/// The most letters one transaction takes; more wait for the next.
const MAX_BATCH: usize = 256;

/// The letter, its first event, its change, and the desk's idempotency answer, in one
/// statement. `ON CONFLICT DO NOTHING` on the tracking code leaves a colliding letter
/// out with no error, so the transaction (and the batch) goes on without it.
const INSERT_LETTER: &str = "WITH l AS (
    INSERT INTO letters (tracking_code, channel, category, problem_tags, subject, body,
        writer_name, writer_phone, writer_extra, received_at, state, unit_id, version, updated_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'received', $11, 1, $10)
    ON CONFLICT (tracking_code) DO NOTHING
    RETURNING id, received_at),
e AS (
    INSERT INTO letter_events (letter_id, seq, at, actor_user_id, actor_unit_id, actor_role,
        actor, workstation, kind, payload)
    SELECT id, 1, received_at, $12::bigint, $13::bigint, $14::text, $15::text, $16::text,
        'received', $17::text FROM l),
k AS (
    INSERT INTO idempotency_keys (user_id, key, request_hash, response_status, response_body, created_at)
    SELECT $18::bigint, $19::text, $20::text, 201,
        '{\"id\":' || id || ',\"unit_id\":' || $11::bigint || '}', $10::timestamptz
    FROM l WHERE $18::bigint IS NOT NULL),
c AS (
    INSERT INTO changes (letter_id, unit_id, prev_unit_id, at)
    SELECT id, $11::bigint, NULL, received_at FROM l RETURNING seq)
SELECT l.id, l.received_at, c.seq FROM l, c";

/// The letters waiting for a batch, and the turn to write one (held by the batch's
/// task, so that two batches never run at once).
#[derive(Default)]
pub(crate) struct IntakeQueue {
    waiting: Mutex<Vec<Job>>,
    turn: Arc<tokio::sync::Mutex<()>>,
}

struct Job {
    letter: NewLetter,
    actor: Actor,
    reply: oneshot::Sender<Result<CreatedLetter, StorageError>>,
}

type Answer = Result<CreatedLetter, StorageError>;

/// `Storage::create_letter` on PostgreSQL: queued, written with whatever else is queued.
pub(crate) async fn create_letter(
    store: &PgStore,
    letter: NewLetter,
    actor: Actor,
) -> Result<CreatedLetter, StorageError> {
    let (reply, mut answer) = oneshot::channel();
    waiting(store).push(Job {
        letter,
        actor,
        reply,
    });
    loop {
        // Answered by a batch, or the turn to write one: whichever comes first.
        let turn = tokio::select! {
            biased;
            answered = &mut answer => return answered.unwrap_or_else(|_| Err(unanswered())),
            turn = Arc::clone(&store.intake.turn).lock_owned() => turn,
        };
        let jobs: Vec<Job> = {
            let mut queue = waiting(store);
            let n = queue.len().min(MAX_BATCH);
            // A request that went away is not written: nobody would hear of it.
            queue
                .drain(..n)
                .filter(|job| !job.reply.is_closed())
                .collect()
        };
        if jobs.is_empty() {
            // This letter is in a batch already; its answer comes.
            drop(turn);
            continue;
        }
        let writer = store.clone();
        // The batch keeps the turn until it ends, and runs on if this request goes
        // away meanwhile; this request's answer comes from it or from a later batch.
        tokio::spawn(async move {
            run(&writer, jobs).await;
            drop(turn);
        });
    }
}

fn waiting(store: &PgStore) -> std::sync::MutexGuard<'_, Vec<Job>> {
    match store.intake.waiting.lock() {
        Ok(queue) => queue,
        // Pushing and draining cannot leave the vector half-made.
        Err(poisoned) => poisoned.into_inner(),
    }
}

fn unanswered() -> StorageError {
    StorageError::Commit(
        "the batch writing this letter ended without an answer; it may not be stored".to_owned(),
    )
}

/// Writes `jobs` as one batch (then, after a failure, one by one) and answers each.
async fn run(store: &PgStore, jobs: Vec<Job>) {
    let mut claims = HashSet::new();
    let (now, later): (Vec<Job>, Vec<Job>) =
        jobs.into_iter()
            .partition(|job| match &job.letter.idempotency {
                Some(claim) => claims.insert((claim.user, claim.key.clone())),
                None => true,
            });
    let letters: Vec<(&NewLetter, &Actor)> = now.iter().map(|j| (&j.letter, &j.actor)).collect();
    match write(store, &letters).await {
        Ok(answers) => {
            for (job, answer) in now.into_iter().zip(answers) {
                let _ = job.reply.send(answer);
            }
        }
        // One letter's data broke a statement: the others are written without it.
        Err(e) if now.len() > 1 && about_one_letter(&e) => {
            tracing::warn!(%e, letters = now.len(), "a batch of letters was rolled back; writing them one by one");
            for job in now {
                let answer = match write(store, &[(&job.letter, &job.actor)]).await {
                    Ok(mut answers) => answers.pop().unwrap_or_else(|| Err(unanswered())),
                    Err(e) => Err(e),
                };
                let _ = job.reply.send(answer);
            }
        }
        // The connection, a lock, the server, or a commit whose outcome is unknown: no
        // letter is to blame, and writing them again one by one could store one twice
        // (a commit that failed on the way back may have been made).
        Err(e) => {
            for job in now {
                let _ = job.reply.send(Err(same_error(&e)));
            }
        }
    }
    if !later.is_empty() {
        Box::pin(run(store, later)).await;
    }
}

/// Whether `e`, which rolled a batch back, is about one letter's data (so the others
/// can be written without it) rather than the database's state.
fn about_one_letter(e: &StorageError) -> bool {
    match e {
        StorageError::Invalid { .. } => true,
        StorageError::Backend(cause) => cause
            .downcast_ref::<crate::PgError>()
            .is_some_and(crate::PgError::is_about_the_data),
        _ => false,
    }
}

/// The error that ended a batch, for each of its letters.
fn same_error(e: &StorageError) -> StorageError {
    match e {
        StorageError::Commit(what) => StorageError::Commit(what.clone()),
        StorageError::Conflict { code, detail } => StorageError::Conflict {
            code,
            detail: detail.clone(),
        },
        other => StorageError::Backend(Box::new(crate::PgError::new(other.to_string()))),
    }
}

/// A letter ready to be written: its values, owned, for the statements to borrow.
struct Ready<'a> {
    letter: &'a NewLetter,
    actor: &'a Actor,
    unit: UnitId,
    received: EventPayload,
    tags: String,
    extra: String,
    event: String,
}

/// One transaction for `letters`: `Err` when it was rolled back (nothing of any letter
/// is stored), else each letter's answer.
async fn write(
    store: &PgStore,
    letters: &[(&NewLetter, &Actor)],
) -> Result<Vec<Answer>, StorageError> {
    let mut client = store.writer().await?;
    let tx = begin_write(&mut client).await?;
    let named: Vec<i64> = letters
        .iter()
        .filter_map(|(l, _)| l.unit.map(|u| u.0))
        .collect();
    let unit_params: [&(dyn ToSql + Sync); 1] = [&named];
    let (units, end, replays) = tokio::join!(
        tx.query_c(
            "SELECT id, tier, parent_id IS NULL FROM units WHERE parent_id IS NULL OR id = ANY($1)",
            &unit_params,
        ),
        audit::chain_end(&tx),
        join_all(letters.iter().map(|(letter, _)| {
            let tx = &tx;
            async move {
                match &letter.idempotency {
                    Some(claim) => replayed_letter(tx, claim).await,
                    None => Ok(None),
                }
            }
        })),
    );
    let (mut root, mut tiers) = (None, HashMap::new());
    for r in units.db()? {
        let id: i64 = r.get(0);
        tiers.insert(id, parse_tier(r.get(1))?);
        if r.get::<_, bool>(2) {
            root = Some(UnitId(id));
        }
    }
    let mut end = end?;

    // Each letter's answer where it is known before writing; the rest made ready.
    let mut answers: Vec<Option<Answer>> = Vec::with_capacity(letters.len());
    let mut ready: Vec<(usize, Ready<'_>)> = Vec::new();
    for (i, ((letter, actor), replay)) in letters.iter().zip(replays).enumerate() {
        match replay {
            Ok(Some(first)) => {
                answers.push(Some(Ok(first)));
                continue;
            }
            // Refused before anything was written: the key was used for another request.
            Err(e @ StorageError::Conflict { .. }) => {
                answers.push(Some(Err(e)));
                continue;
            }
            Err(e) => return Err(e),
            Ok(None) => {}
        }
        let Some(unit) = letter.unit.or(root) else {
            answers.push(Some(Err(StorageError::Conflict {
                code: "no_city_unit",
                detail: "the platform has no city unit yet; an admin must create it before letters can be received".to_owned(),
            })));
            continue;
        };
        let Some(&tier) = tiers.get(&unit.0) else {
            answers.push(Some(Err(StorageError::NotFound(format!(
                "there is no unit {}",
                unit.0
            )))));
            continue;
        };
        // The first event of every letter: what `LetterStatus::from_events` folds from.
        let received = EventPayload::Received { unit, tier };
        answers.push(None);
        ready.push((
            i,
            Ready {
                letter,
                actor,
                unit,
                tags: serde_json::to_string(&letter.problem_tags)
                    .map_err(|e| corrupt(format!("tags: {e}")))?,
                extra: letter.writer_extra.to_string(),
                event: payload_json(&received)?,
                received,
            },
        ));
    }

    // The letters, their events, changes and claims: pipelined, one round trip in all.
    let insert = tx.prepare_cached(INSERT_LETTER).await.db()?;
    let inserted = join_all(ready.iter().map(|(_, r)| {
        let claim = r.letter.idempotency.as_ref();
        let (claim_user, claim_key, claim_hash) = (
            claim.map(|c| c.user.0),
            claim.map(|c| c.key.as_str()),
            claim.map(|c| c.request_hash.as_str()),
        );
        let (tx, insert) = (&tx, &insert);
        async move {
            let params: [&(dyn ToSql + Sync); 20] = [
                &r.letter.tracking_code,
                &r.letter.channel.as_str(),
                &r.letter.category.as_str(),
                &r.tags,
                &r.letter.subject,
                &r.letter.body,
                &r.letter.writer_name,
                &r.letter.writer_phone,
                &r.extra,
                &r.letter.received_at,
                &r.unit.0,
                &r.actor.user.map(|u| u.0),
                &r.actor.unit.map(|u| u.0),
                &r.actor.role.map(|role| role.as_str()),
                &r.actor.label,
                &r.actor.workstation,
                &r.event,
                &claim_user,
                &claim_key,
                &claim_hash,
            ];
            tx.query_opt(insert, &params).await
        }
    }))
    .await;

    // Then what needs each letter's id: attachments, pipelined, and the audit entries,
    // all in one statement.
    let mut created: Vec<(usize, &Ready<'_>, LetterId, DateTime<Utc>, i64)> = Vec::new();
    for ((i, r), row) in ready.iter().zip(inserted) {
        match row.db()? {
            Some(row) => created.push((*i, r, LetterId(row.get(0)), row.get(1), row.get(2))),
            None => {
                answers[*i] = Some(Err(StorageError::Conflict {
                    code: "tracking_code_taken",
                    detail: "tracking code collision; retry".to_owned(),
                }));
            }
        }
    }
    let mut entries = Vec::with_capacity(created.len());
    for (_, r, id, _, _) in &created {
        entries.push(audit::next_row(
            &mut end,
            NewEntry {
                at: r.letter.received_at,
                actor: r.actor,
                action: "letter.receive",
                letter: Some(*id),
                unit: Some(r.unit),
                user: None,
                payload: json!({
                    "tracking_code": r.letter.tracking_code,
                    "channel": r.letter.channel.as_str(),
                    "category": r.letter.category.as_str(),
                    "attachments": r.letter.attachments.iter().map(|(m, _)| m.sha256.clone()).collect::<Vec<_>>(),
                    // The first event itself, so that `audit::verify_events` holds it to
                    // this entry like every later one.
                    "event": serde_json::to_value(&r.received).map_err(|e| corrupt(format!("event payload: {e}")))?,
                }),
            },
        ));
    }
    let attachments = created
        .iter()
        .flat_map(|(_, r, id, at, _)| {
            r.letter
                .attachments
                .iter()
                .enumerate()
                .map(move |(position, attachment)| (*id, *at, position, attachment))
        })
        .collect::<Vec<_>>();
    let (stored_attachments, stored_entries) = tokio::join!(
        join_all(
            attachments
                .iter()
                .map(|(id, at, position, (meta, name))| add_attachment(
                    &tx,
                    *id,
                    *at,
                    *position,
                    meta,
                    name.as_deref()
                ))
        ),
        audit::insert_rows(&tx, &entries),
    );
    for stored in stored_attachments {
        stored?;
    }
    stored_entries?;
    store.commit(tx).await?;
    for (i, r, id, received_at, change_seq) in created {
        answers[i] = Some(Ok(CreatedLetter {
            id,
            unit: r.unit,
            change_seq,
            tracking_code: r.letter.tracking_code.clone(),
            // As stored (to the microsecond), so a replay answers with the same time.
            received_at,
            replayed: false,
        }));
    }
    Ok(answers
        .into_iter()
        .map(|a| a.unwrap_or_else(|| Err(unanswered())))
        .collect())
}

/// One attachment of a new letter; the same bytes sent twice (or in two letters) are
/// stored once.
async fn add_attachment(
    tx: &deadpool_postgres::Transaction<'_>,
    letter: LetterId,
    at: DateTime<Utc>,
    position: usize,
    meta: &jsjb_storage::AttachmentMeta,
    original_name: Option<&str>,
) -> Result<(), StorageError> {
    let size = i64::try_from(meta.size).map_err(|_| StorageError::Invalid {
        field: "attachments",
        message: "attachment too large".to_owned(),
    })?;
    let position = i32::try_from(position).map_err(|_| StorageError::Invalid {
        field: "attachments",
        message: "too many attachments".to_owned(),
    })?;
    tx.execute_c(
        "INSERT INTO attachments (sha256, mime, size, kind, created_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (sha256) DO NOTHING",
        &[&meta.sha256, &meta.mime, &size, &meta.kind.as_str(), &at],
    )
    .await
    .db()?;
    tx.execute_c(
        "INSERT INTO letter_attachments (letter_id, position, sha256, original_name) VALUES ($1, $2, $3, $4)",
        &[&letter.0, &position, &meta.sha256, &original_name],
    )
    .await
    .db()?;
    Ok(())
}
