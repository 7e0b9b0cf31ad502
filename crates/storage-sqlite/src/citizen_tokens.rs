//! The citizen side's codes, tickets and rate-limit buckets in SQLite
//! (`jsjb_storage::citizen_tokens`).
//!
//! Every change runs as a job of the one writer thread, so a check-then-update (a
//! guess at a code, a token taken) is atomic without further locking: two concurrent
//! guesses are two jobs, one after the other. Tickets are read on the read pool.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use jsjb_storage::StorageError;
use jsjb_storage::citizen_tokens::{
    BucketRule, CitizenTokenStore, CodeCheck, NewCode, NewTicket, Take, TicketRecord, same_digest,
};
use jsjb_storage::time::to_db;

use crate::{Db, SqliteStore, time_col};

#[async_trait]
impl CitizenTokenStore for SqliteStore {
    async fn issue_code(&self, code: NewCode) -> Result<(), StorageError> {
        self.write(move |tx| {
            tx.prepare_cached(
                "INSERT INTO citizen_codes (key, code_hash, expires_at, attempts_left)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (key) DO UPDATE SET code_hash = excluded.code_hash,
                     expires_at = excluded.expires_at, attempts_left = excluded.attempts_left",
            )
            .db()?
            .execute(params![
                code.key,
                code.code_hash,
                to_db(code.expires_at),
                code.attempts
            ])
            .db()?;
            Ok(())
        })
        .await
    }

    async fn check_code(
        &self,
        key: &str,
        code_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<CodeCheck, StorageError> {
        let (key, given) = (key.to_owned(), code_hash.to_owned());
        self.write(move |tx| {
            let row: Option<(String, String, u32)> = tx
                .prepare_cached(
                    "SELECT code_hash, expires_at, attempts_left FROM citizen_codes WHERE key = ?1",
                )
                .db()?
                .query_row([&key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()
                .db()?;
            let Some((stored, expires_at, left)) = row else {
                return Ok(CodeCheck::NoCode);
            };
            let delete = || {
                tx.prepare_cached("DELETE FROM citizen_codes WHERE key = ?1")
                    .db()?
                    .execute([&key])
                    .db()
            };
            if now > time_col(&expires_at)? {
                delete()?;
                return Ok(CodeCheck::Expired);
            }
            if left == 0 {
                return Ok(CodeCheck::TooManyTries);
            }
            if same_digest(&stored, &given) {
                delete()?;
                return Ok(CodeCheck::Right);
            }
            let left = left - 1;
            tx.prepare_cached("UPDATE citizen_codes SET attempts_left = ?2 WHERE key = ?1")
                .db()?
                .execute(params![key, left])
                .db()?;
            Ok(if left == 0 {
                CodeCheck::TooManyTries
            } else {
                CodeCheck::Wrong { left }
            })
        })
        .await
    }

    async fn issue_ticket(&self, ticket: NewTicket) -> Result<(), StorageError> {
        self.write(move |tx| {
            tx.prepare_cached(
                "INSERT INTO citizen_tickets (ticket_hash, phone, name, expires_at)
                 VALUES (?1, ?2, ?3, ?4)",
            )
            .db()?
            .execute(params![
                ticket.ticket_hash,
                ticket.phone,
                ticket.name,
                to_db(ticket.expires_at)
            ])
            .db()?;
            Ok(())
        })
        .await
    }

    async fn ticket(
        &self,
        ticket_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<TicketRecord>, StorageError> {
        let hash = ticket_hash.to_owned();
        self.read(move |conn| {
            let row: Option<(String, String, String)> = conn
                .prepare_cached(
                    "SELECT phone, name, expires_at FROM citizen_tickets
                     WHERE ticket_hash = ?1 AND expires_at >= ?2",
                )
                .db()?
                .query_row(params![hash, to_db(now)], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()
                .db()?;
            row.map(|(phone, name, expires_at)| {
                Ok(TicketRecord {
                    phone,
                    name,
                    expires_at: time_col(&expires_at)?,
                })
            })
            .transpose()
        })
        .await
    }

    async fn take_ticket(
        &self,
        ticket_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<TicketRecord>, StorageError> {
        let hash = ticket_hash.to_owned();
        self.write(move |tx| {
            let row: Option<(String, String, String)> = tx
                .prepare_cached(
                    "DELETE FROM citizen_tickets WHERE ticket_hash = ?1
                     RETURNING phone, name, expires_at",
                )
                .db()?
                .query_row([&hash], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()
                .db()?;
            let Some((phone, name, expires_at)) = row else {
                return Ok(None);
            };
            let expires_at = time_col(&expires_at)?;
            Ok((now <= expires_at).then_some(TicketRecord {
                phone,
                name,
                expires_at,
            }))
        })
        .await
    }

    async fn take_token(
        &self,
        key: &str,
        rule: BucketRule,
        now: DateTime<Utc>,
    ) -> Result<Take, StorageError> {
        let key = key.to_owned();
        self.write(move |tx| {
            let row: Option<(f64, String)> = tx
                .prepare_cached("SELECT tokens, at FROM citizen_buckets WHERE key = ?1")
                .db()?
                .query_row([&key], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
                .db()?;
            // The bucket's time never goes back (a clock stepped back, or a node behind
            // another): refilling from the later time again would count some twice.
            let (tokens, at) = match row {
                Some((tokens, at)) => {
                    let at = time_col(&at)?;
                    (rule.refilled(tokens, at, now), at.max(now))
                }
                None => (rule.capacity, now),
            };
            let (left, take) = if tokens >= 1.0 {
                (tokens - 1.0, Take::Taken)
            } else {
                let retry_after_secs = rule.retry_after_secs(tokens);
                (tokens, Take::Empty { retry_after_secs })
            };
            tx.prepare_cached(
                "INSERT INTO citizen_buckets (key, tokens, at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (key) DO UPDATE SET tokens = excluded.tokens, at = excluded.at",
            )
            .db()?
            .execute(params![key, left, to_db(at)])
            .db()?;
            Ok(take)
        })
        .await
    }

    async fn refund_token(&self, key: &str, rule: BucketRule) -> Result<(), StorageError> {
        let key = key.to_owned();
        self.write(move |tx| {
            tx.prepare_cached(
                "UPDATE citizen_buckets SET tokens = min(tokens + 1, ?2) WHERE key = ?1",
            )
            .db()?
            .execute(params![key, rule.capacity])
            .db()?;
            Ok(())
        })
        .await
    }

    async fn prune_citizen_tokens(
        &self,
        expired_before: DateTime<Utc>,
        idle_before: DateTime<Utc>,
        batch: u32,
    ) -> Result<u32, StorageError> {
        self.write(move |tx| {
            let mut gone = 0_u32;
            for (sql, before) in [
                (
                    "DELETE FROM citizen_codes WHERE key IN (
                         SELECT key FROM citizen_codes WHERE expires_at < ?1 LIMIT ?2)",
                    expired_before,
                ),
                (
                    "DELETE FROM citizen_tickets WHERE ticket_hash IN (
                         SELECT ticket_hash FROM citizen_tickets WHERE expires_at < ?1 LIMIT ?2)",
                    expired_before,
                ),
                (
                    "DELETE FROM citizen_buckets WHERE key IN (
                         SELECT key FROM citizen_buckets WHERE at < ?1 LIMIT ?2)",
                    idle_before,
                ),
            ] {
                let room = batch.saturating_sub(gone);
                if room == 0 {
                    break;
                }
                let n = tx
                    .prepare_cached(sql)
                    .db()?
                    .execute(params![to_db(before), room])
                    .db()?;
                // At most `room` rows went, which is a u32.
                gone += u32::try_from(n).unwrap_or(room);
            }
            Ok(gone)
        })
        .await
    }
}
