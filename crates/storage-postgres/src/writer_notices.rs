//! The notices to writers in PostgreSQL (jsjb_storage::writer_notices; migration V6):
//! the SQLite backend's `writer_notices.rs`. Claims take rows `FOR UPDATE SKIP LOCKED`,
//! so nodes claiming at once take different notices; what adds a change row holds the
//! write lock like every other write (the cursor contract).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use jsjb_core::letter::{LetterId, NoticeRoute, NoticeState, NoticeStep};
use jsjb_core::org::UnitId;
use jsjb_proto::WriterNotice;
use jsjb_storage::StorageError;
use jsjb_storage::writer_notices::{
    ClaimedNotice, NewWriterNotice, NoticeAttempt, RecordedAttempt,
};

use crate::cached::Cached;
use crate::{Db, PgStore, corrupt};

fn parse<T>(what: &str, text: &str, f: fn(&str) -> Option<T>) -> Result<T, StorageError> {
    f(text).ok_or_else(|| corrupt(format!("writer notice {what} {text:?}")))
}

fn count(n: i64) -> Result<u32, StorageError> {
    u32::try_from(n).map_err(|_| corrupt("writer notice count out of range"))
}

pub(crate) async fn feed(store: &PgStore) -> Result<(i64, Option<DateTime<Utc>>), StorageError> {
    let client = store.client().await?;
    let row = client
        .query_opt_c(
            "SELECT cursor, since FROM writer_notice_feed WHERE id = 1",
            &[],
        )
        .await
        .db()?;
    Ok(row.map(|r| (r.get(0), r.get(1))).unwrap_or_default())
}

/// A change row for the letter, where it is now.
async fn change(
    tx: &impl GenericClient,
    letter: LetterId,
    now: DateTime<Utc>,
) -> Result<RecordedAttempt, StorageError> {
    let row = tx
        .query_one_c(
            "INSERT INTO changes (letter_id, unit_id, prev_unit_id, at)
             SELECT id, unit_id, NULL, $2 FROM letters WHERE id = $1
             RETURNING seq, unit_id",
            &[&letter.0, &now],
        )
        .await
        .db()?;
    Ok(RecordedAttempt {
        change_seq: row.get(0),
        unit: UnitId(row.get(1)),
    })
}

pub(crate) async fn enqueue(
    store: &PgStore,
    notices: Vec<NewWriterNotice>,
    cursor: i64,
    now: DateTime<Utc>,
) -> Result<Vec<RecordedAttempt>, StorageError> {
    let mut client = store.writer().await?;
    let tx = crate::begin_write(&mut client).await?;
    let mut touched: Vec<LetterId> = Vec::new();
    for n in &notices {
        let added = tx
            .execute_c(
                "INSERT INTO writer_notices (letter_id, step, trigger_seq, route, state, attempts, text,
                                             next_try_at, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, 'pending', 0, $5, $6, $6, $6)
                 ON CONFLICT (letter_id, step, trigger_seq) DO NOTHING",
                &[
                    &n.letter.0,
                    &n.step.as_str(),
                    &i64::from(n.trigger_seq),
                    &n.route.as_str(),
                    &n.text,
                    &now,
                ],
            )
            .await
            .db()?;
        if added > 0 && !touched.contains(&n.letter) {
            touched.push(n.letter);
        }
    }
    tx.execute_c(
        "INSERT INTO writer_notice_feed (id, cursor) VALUES (1, $1)
         ON CONFLICT (id) DO UPDATE SET cursor = GREATEST(writer_notice_feed.cursor, EXCLUDED.cursor)",
        &[&cursor],
    )
    .await
    .db()?;
    let mut out = Vec::new();
    for letter in touched {
        out.push(change(&tx, letter, now).await?);
    }
    store.commit(tx).await?;
    Ok(out)
}

pub(crate) async fn claim(
    store: &PgStore,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<ClaimedNotice>, StorageError> {
    let client = store.client().await?;
    let rows = client
        .query_c(
            "WITH taken AS (
                 UPDATE writer_notices n SET next_try_at = $2
                 WHERE n.id IN (SELECT id FROM writer_notices
                                WHERE state = 'pending' AND next_try_at <= $1
                                ORDER BY next_try_at, id LIMIT $3
                                FOR UPDATE SKIP LOCKED)
                 RETURNING n.id, n.letter_id, n.step, n.route, n.text, n.attempts)
             SELECT t.id, t.letter_id, l.tracking_code, t.step, t.route, t.text, t.attempts,
                    l.writer_phone, ((l.writer_extra::jsonb) ->> 'wechat_openid')
             FROM taken t JOIN letters l ON l.id = t.letter_id ORDER BY t.id",
            &[&now, &lease_until, &i64::from(limit)],
        )
        .await
        .db()?;
    rows.iter()
        .map(|r| {
            Ok(ClaimedNotice {
                id: r.get(0),
                letter: LetterId(r.get(1)),
                tracking_code: r.get(2),
                step: parse("step", r.get(3), NoticeStep::parse)?,
                route: parse("route", r.get(4), NoticeRoute::parse)?,
                text: r.get(5),
                attempts: count(r.get(6))?,
                writer_phone: r.get(7),
                wechat_openid: r.get::<_, Option<String>>(8).filter(|o| !o.is_empty()),
            })
        })
        .collect()
}

pub(crate) async fn record(
    store: &PgStore,
    id: i64,
    attempt: NoticeAttempt,
    now: DateTime<Utc>,
) -> Result<Option<RecordedAttempt>, StorageError> {
    let (state, route, error, next) = match &attempt {
        NoticeAttempt::Sent { route } => (NoticeState::Sent, *route, None, now),
        NoticeAttempt::Retry {
            route,
            error,
            next_try_at,
        } => (
            NoticeState::Pending,
            *route,
            Some(error.as_str()),
            *next_try_at,
        ),
        NoticeAttempt::Failed { route, error } => {
            (NoticeState::Failed, *route, Some(error.as_str()), now)
        }
    };
    let mut client = store.writer().await?;
    let tx = crate::begin_write(&mut client).await?;
    let letter = tx
        .query_opt_c(
            "UPDATE writer_notices
             SET state = $2, route = $3, last_error = $4, next_try_at = $5, updated_at = $6,
                 attempts = attempts + 1
             WHERE id = $1 AND state = 'pending'
             RETURNING letter_id",
            &[&id, &state.as_str(), &route.as_str(), &error, &next, &now],
        )
        .await
        .db()?;
    let Some(letter) = letter else {
        return Ok(None);
    };
    let recorded = change(&tx, LetterId(letter.get(0)), now).await?;
    store.commit(tx).await?;
    Ok(Some(recorded))
}

/// The notices of the letters, for their `LetterRecord`s (oldest first).
pub(crate) async fn load(
    c: &impl GenericClient,
    ids: &[i64],
) -> Result<HashMap<i64, Vec<WriterNotice>>, StorageError> {
    let rows = c
        .query_c(
            "SELECT letter_id, id, step, trigger_seq, route, state, attempts, text, created_at,
                    updated_at, last_error
             FROM writer_notices WHERE letter_id = ANY($1) ORDER BY letter_id, id",
            &[&ids],
        )
        .await
        .db()?;
    let mut out: HashMap<i64, Vec<WriterNotice>> = HashMap::new();
    for r in &rows {
        out.entry(r.get(0)).or_default().push(WriterNotice {
            id: r.get(1),
            step: parse("step", r.get(2), NoticeStep::parse)?,
            trigger_seq: count(r.get(3))?,
            route: parse("route", r.get(4), NoticeRoute::parse)?,
            state: parse("state", r.get(5), NoticeState::parse)?,
            attempts: count(r.get(6))?,
            text: r.get(7),
            created_at: r.get(8),
            updated_at: r.get(9),
            last_error: r.get(10),
        });
    }
    Ok(out)
}
