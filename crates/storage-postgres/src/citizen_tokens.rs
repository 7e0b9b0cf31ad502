//! The citizen side's codes, tickets and rate-limit buckets in PostgreSQL
//! (`jsjb_storage::citizen_tokens`; the tables are migration V3's, the buckets UNLOGGED
//! — why is written there).
//!
//! **Outside the write lock.** These writes do not take [`crate::WRITE_LOCK`]: the lock
//! orders the audit chain and the change sequence, and these rows touch neither. Taking
//! it would put every citizen request's rate-limit check in the one queue of the desks'
//! writes, across every node. Each operation is made atomic by PostgreSQL's row locks
//! instead:
//! - a token is taken by one `INSERT … ON CONFLICT … DO UPDATE … RETURNING` statement:
//!   concurrent takes of one key wait for each other's row lock, and each updates the
//!   row the one before it left (READ COMMITTED re-reads the newest version), so no two
//!   get the same token;
//! - a code is checked in a short transaction that reads its row `FOR UPDATE`: a second
//!   guess waits for the first to commit and then sees the guess it cost (or that the
//!   code is gone), so concurrent guesses each cost one attempt and a code is used once.
//!
//! Issuing a code is one upsert (the row lock orders it against a concurrent check);
//! tickets are inserted once, read, and deleted, each one statement.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio_postgres::IsolationLevel;

use jsjb_storage::StorageError;
use jsjb_storage::citizen_tokens::{
    BucketRule, CitizenTokenStore, CodeCheck, NewCode, NewTicket, Take, TicketRecord, same_digest,
};

use crate::cached::Cached;
use crate::{Db, PgStore, corrupt};

/// Takes a token in one statement: a key never seen starts full, less the token; a
/// known one is refilled to now (elapsed time in whole milliseconds and never negative,
/// as `BucketRule::refilled` counts it), then loses a token if it has one. `refused`
/// says which happened.
const TAKE: &str = "INSERT INTO citizen_buckets AS b (key, tokens, at, refused)
     VALUES ($1, $3::float8 - 1, $2::timestamptz, false)
     ON CONFLICT (key) DO UPDATE SET (tokens, at, refused) = (
         SELECT CASE WHEN r >= 1 THEN r - 1 ELSE r END, GREATEST(b.at, $2::timestamptz), r < 1
         FROM (SELECT LEAST($3::float8, b.tokens
                   + GREATEST(0, floor(extract(epoch FROM $2::timestamptz - b.at) * 1000))::float8
                     / 1000 * $4::float8) AS r) AS refill)
     RETURNING tokens, refused";

#[async_trait]
impl CitizenTokenStore for PgStore {
    async fn issue_code(&self, code: NewCode) -> Result<(), StorageError> {
        let attempts = i32::try_from(code.attempts).unwrap_or(i32::MAX);
        self.client()
            .await?
            .execute_c(
                "INSERT INTO citizen_codes (key, code_hash, expires_at, attempts_left)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (key) DO UPDATE SET code_hash = excluded.code_hash,
                     expires_at = excluded.expires_at, attempts_left = excluded.attempts_left",
                &[&code.key, &code.code_hash, &code.expires_at, &attempts],
            )
            .await
            .db()?;
        Ok(())
    }

    async fn check_code(
        &self,
        key: &str,
        code_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<CodeCheck, StorageError> {
        let mut client = self.client().await?;
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::ReadCommitted)
            .start()
            .await
            .db()?;
        let row = tx
            .query_opt_c(
                "SELECT code_hash, expires_at, attempts_left FROM citizen_codes
                 WHERE key = $1 FOR UPDATE",
                &[&key],
            )
            .await
            .db()?;
        let Some(row) = row else {
            return Ok(CodeCheck::NoCode);
        };
        let (stored, expires_at, left): (&str, DateTime<Utc>, i32) =
            (row.get(0), row.get(1), row.get(2));
        let left = u32::try_from(left).map_err(|_| corrupt("a code with negative attempts"))?;
        let delete = "DELETE FROM citizen_codes WHERE key = $1";
        let check = if now > expires_at {
            tx.execute_c(delete, &[&key]).await.db()?;
            CodeCheck::Expired
        } else if left == 0 {
            CodeCheck::TooManyTries
        } else if same_digest(stored, code_hash) {
            tx.execute_c(delete, &[&key]).await.db()?;
            CodeCheck::Right
        } else {
            let left = left - 1;
            tx.execute_c(
                "UPDATE citizen_codes SET attempts_left = $2 WHERE key = $1",
                &[&key, &i32::try_from(left).unwrap_or(0)],
            )
            .await
            .db()?;
            if left == 0 {
                CodeCheck::TooManyTries
            } else {
                CodeCheck::Wrong { left }
            }
        };
        // A wrong guess counts only once committed: until then the caller is not told.
        self.commit(tx).await?;
        Ok(check)
    }

    async fn issue_ticket(&self, ticket: NewTicket) -> Result<(), StorageError> {
        self.client()
            .await?
            .execute_c(
                "INSERT INTO citizen_tickets (ticket_hash, phone, name, expires_at)
                 VALUES ($1, $2, $3, $4)",
                &[
                    &ticket.ticket_hash,
                    &ticket.phone,
                    &ticket.name,
                    &ticket.expires_at,
                ],
            )
            .await
            .db()?;
        Ok(())
    }

    async fn ticket(
        &self,
        ticket_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<TicketRecord>, StorageError> {
        let row = self
            .client()
            .await?
            .query_opt_c(
                "SELECT phone, name, expires_at FROM citizen_tickets
                 WHERE ticket_hash = $1 AND expires_at >= $2",
                &[&ticket_hash, &now],
            )
            .await
            .db()?;
        Ok(row.map(|r| TicketRecord {
            phone: r.get(0),
            name: r.get(1),
            expires_at: r.get(2),
        }))
    }

    async fn take_ticket(
        &self,
        ticket_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<TicketRecord>, StorageError> {
        let row = self
            .client()
            .await?
            .query_opt_c(
                "DELETE FROM citizen_tickets WHERE ticket_hash = $1
                 RETURNING phone, name, expires_at",
                &[&ticket_hash],
            )
            .await
            .db()?;
        Ok(row
            .map(|r| TicketRecord {
                phone: r.get(0),
                name: r.get(1),
                expires_at: r.get(2),
            })
            .filter(|t| now <= t.expires_at))
    }

    async fn take_token(
        &self,
        key: &str,
        rule: BucketRule,
        now: DateTime<Utc>,
    ) -> Result<Take, StorageError> {
        let row = self
            .client()
            .await?
            .query_one_c(TAKE, &[&key, &now, &rule.capacity, &rule.per_sec])
            .await
            .db()?;
        let (tokens, refused): (f64, bool) = (row.get(0), row.get(1));
        Ok(if refused {
            Take::Empty {
                retry_after_secs: rule.retry_after_secs(tokens),
            }
        } else {
            Take::Taken
        })
    }

    async fn refund_token(&self, key: &str, rule: BucketRule) -> Result<(), StorageError> {
        self.client()
            .await?
            .execute_c(
                "UPDATE citizen_buckets SET tokens = LEAST(tokens + 1, $2::float8) WHERE key = $1",
                &[&key, &rule.capacity],
            )
            .await
            .db()?;
        Ok(())
    }

    async fn prune_citizen_tokens(
        &self,
        expired_before: DateTime<Utc>,
        idle_before: DateTime<Utc>,
        batch: u32,
    ) -> Result<u32, StorageError> {
        let client = self.client().await?;
        let mut gone = 0_u32;
        for (sql, before) in [
            (
                "DELETE FROM citizen_codes WHERE key IN (
                     SELECT key FROM citizen_codes WHERE expires_at < $1 LIMIT $2)",
                expired_before,
            ),
            (
                "DELETE FROM citizen_tickets WHERE ticket_hash IN (
                     SELECT ticket_hash FROM citizen_tickets WHERE expires_at < $1 LIMIT $2)",
                expired_before,
            ),
            (
                "DELETE FROM citizen_buckets WHERE key IN (
                     SELECT key FROM citizen_buckets WHERE at < $1 LIMIT $2)",
                idle_before,
            ),
        ] {
            let room = batch.saturating_sub(gone);
            if room == 0 {
                break;
            }
            let n = client
                .execute_c(sql, &[&before, &i64::from(room)])
                .await
                .db()?;
            // At most `room` rows went, which is a u32.
            gone += u32::try_from(n).unwrap_or(room);
        }
        Ok(gone)
    }
}
