//! SQL of the notices to writers (jsjb_storage::writer_notices; migration 17): the
//! queue, its feed cursor, and the notices a `LetterRecord` carries.

use chrono::{DateTime, Utc};
use jsjb_core::letter::{LetterId, NoticeRoute, NoticeState, NoticeStep};
use jsjb_core::org::UnitId;
use jsjb_proto::WriterNotice;
use jsjb_storage::StorageError;
use jsjb_storage::time::to_db;
use jsjb_storage::writer_notices::{
    ClaimedNotice, NewWriterNotice, NoticeAttempt, RecordedAttempt,
};
use rusqlite::{Connection, OptionalExtension, params};

use crate::{Db, corrupt, time_col};

fn parse<T>(what: &str, text: &str, f: fn(&str) -> Option<T>) -> Result<T, StorageError> {
    f(text).ok_or_else(|| corrupt(format!("writer notice {what} {text:?}")))
}

fn count(n: i64) -> Result<u32, StorageError> {
    u32::try_from(n).map_err(|_| corrupt("writer notice count out of range"))
}

pub fn feed(conn: &Connection) -> Result<(i64, Option<DateTime<Utc>>), StorageError> {
    let row: Option<(i64, Option<String>)> = conn
        .query_row(
            "SELECT cursor, since FROM writer_notice_feed WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .db()?;
    let Some((cursor, since)) = row else {
        return Ok((0, None));
    };
    Ok((cursor, since.as_deref().map(time_col).transpose()?))
}

/// A change row for the letter, where it is now.
fn change(
    conn: &Connection,
    letter: LetterId,
    now: DateTime<Utc>,
) -> Result<RecordedAttempt, StorageError> {
    let unit: i64 = conn
        .query_row(
            "SELECT unit_id FROM letters WHERE id = ?1",
            [letter.0],
            |r| r.get(0),
        )
        .db()?;
    conn.execute(
        "INSERT INTO changes (letter_id, unit_id, prev_unit_id, at) VALUES (?1, ?2, NULL, ?3)",
        params![letter.0, unit, to_db(now)],
    )
    .db()?;
    Ok(RecordedAttempt {
        change_seq: conn.last_insert_rowid(),
        unit: UnitId(unit),
    })
}

pub fn enqueue(
    conn: &Connection,
    notices: &[NewWriterNotice],
    cursor: i64,
    now: DateTime<Utc>,
) -> Result<Vec<RecordedAttempt>, StorageError> {
    let at = to_db(now);
    let mut touched: Vec<LetterId> = Vec::new();
    {
        let mut insert = conn
            .prepare_cached(
                "INSERT INTO writer_notices (letter_id, step, trigger_seq, route, state, attempts, text,
                                             next_try_at, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?5, ?6, ?6, ?6)
                 ON CONFLICT (letter_id, step, trigger_seq) DO NOTHING",
            )
            .db()?;
        for n in notices {
            let added = insert
                .execute(params![
                    n.letter.0,
                    n.step.as_str(),
                    n.trigger_seq,
                    n.route.as_str(),
                    n.text,
                    at
                ])
                .db()?;
            if added > 0 && !touched.contains(&n.letter) {
                touched.push(n.letter);
            }
        }
    }
    conn.execute(
        "INSERT INTO writer_notice_feed (id, cursor) VALUES (1, ?1)
         ON CONFLICT (id) DO UPDATE SET cursor = max(cursor, excluded.cursor)",
        [cursor],
    )
    .db()?;
    touched.into_iter().map(|l| change(conn, l, now)).collect()
}

pub fn claim(
    conn: &Connection,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<ClaimedNotice>, StorageError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT n.id, n.letter_id, l.tracking_code, n.step, n.route, n.text, n.attempts,
                    l.writer_phone, json_extract(l.writer_extra, '$.wechat_openid')
             FROM writer_notices n JOIN letters l ON l.id = n.letter_id
             WHERE n.state = 'pending' AND n.next_try_at <= ?1
             ORDER BY n.next_try_at, n.id LIMIT ?2",
        )
        .db()?;
    let rows = stmt
        .query_map(params![to_db(now), limit], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, i64>(6)?,
                r.get::<_, String>(7)?,
                r.get::<_, Option<String>>(8)?,
            ))
        })
        .db()?;
    let mut out = Vec::new();
    for row in rows {
        let (id, letter, code, step, route, text, attempts, phone, openid) = row.db()?;
        out.push(ClaimedNotice {
            id,
            letter: LetterId(letter),
            tracking_code: code,
            step: parse("step", &step, NoticeStep::parse)?,
            route: parse("route", &route, NoticeRoute::parse)?,
            text,
            attempts: count(attempts)?,
            writer_phone: phone,
            wechat_openid: openid.filter(|o| !o.is_empty()),
        });
    }
    drop(stmt);
    let mut lease = conn
        .prepare_cached("UPDATE writer_notices SET next_try_at = ?2 WHERE id = ?1")
        .db()?;
    for n in &out {
        lease.execute(params![n.id, to_db(lease_until)]).db()?;
    }
    Ok(out)
}

pub fn record(
    conn: &Connection,
    id: i64,
    attempt: &NoticeAttempt,
    now: DateTime<Utc>,
) -> Result<Option<RecordedAttempt>, StorageError> {
    let at = to_db(now);
    let (state, route, error, next) = match attempt {
        NoticeAttempt::Sent { route } => (NoticeState::Sent, *route, None, at.clone()),
        NoticeAttempt::Retry {
            route,
            error,
            next_try_at,
        } => (
            NoticeState::Pending,
            *route,
            Some(error.as_str()),
            to_db(*next_try_at),
        ),
        NoticeAttempt::Failed { route, error } => (
            NoticeState::Failed,
            *route,
            Some(error.as_str()),
            at.clone(),
        ),
    };
    let letter: Option<i64> = conn
        .query_row(
            "UPDATE writer_notices
             SET state = ?2, route = ?3, last_error = ?4, next_try_at = ?5, updated_at = ?6,
                 attempts = attempts + 1
             WHERE id = ?1 AND state = 'pending'
             RETURNING letter_id",
            params![id, state.as_str(), route.as_str(), error, next, at],
            |r| r.get(0),
        )
        .optional()
        .db()?;
    letter.map(|l| change(conn, LetterId(l), now)).transpose()
}

/// The notices of a letter, for its `LetterRecord` (oldest first).
pub fn load(conn: &Connection, letter: LetterId) -> Result<Vec<WriterNotice>, StorageError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, step, trigger_seq, route, state, attempts, text, created_at, updated_at, last_error
             FROM writer_notices WHERE letter_id = ?1 ORDER BY id",
        )
        .db()?;
    let rows = stmt
        .query_map([letter.0], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, String>(7)?,
                r.get::<_, String>(8)?,
                r.get::<_, Option<String>>(9)?,
            ))
        })
        .db()?;
    let mut out = Vec::new();
    for row in rows {
        let (id, step, trigger, route, state, attempts, text, created, updated, error) =
            row.db()?;
        out.push(WriterNotice {
            id,
            step: parse("step", &step, NoticeStep::parse)?,
            trigger_seq: count(trigger)?,
            route: parse("route", &route, NoticeRoute::parse)?,
            state: parse("state", &state, NoticeState::parse)?,
            attempts: count(attempts)?,
            text,
            created_at: time_col(&created)?,
            updated_at: time_col(&updated)?,
            last_error: error,
        });
    }
    Ok(out)
}
