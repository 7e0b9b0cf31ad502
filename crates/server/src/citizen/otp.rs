//! Phone verification: one-time codes sent by SMS, and the short-lived ticket a
//! verified writer carries through the letter form.
//!
//! Both are kept in the database (`jsjb_storage::citizen_tokens`), not in this process:
//! behind the load balancer a writer's requests may reach different server nodes, and
//! the node that checks a code or honours a ticket need not be the one that issued it.
//! Only SHA-256 digests are stored — of each code with the key it was issued under, of
//! each ticket — so neither is there to read in the database, a dump or a backup. (A
//! 6-digit code's digest can still be searched, 10⁶ tries, by whoever reads the table
//! within the code's 5 minutes; a ticket's, of 192 random bits, cannot.) The store
//! checks a guess atomically, so concurrent guesses, on one node or several, each cost
//! an attempt.
//! Expired codes and tickets are pruned by the housekeeping (`maintenance.rs`).
//!
//! The log SMS sender below stays in memory: it stands in for a gateway in development
//! and demos, and only tests read back what it "sent".

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use jsjb_storage::Storage;
use jsjb_storage::citizen_tokens::{CodeCheck, NewCode, NewTicket};
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// How long a code is valid.
pub const CODE_TTL_MINUTES: i64 = 5;
/// Wrong guesses before a code is void.
pub const CODE_ATTEMPTS: u32 = 5;
/// How long a verified writer has to write the letter.
pub const TICKET_TTL_MINUTES: i64 = 60;
/// Texts the log sender keeps before it forgets them all.
const SWEEP_AT: usize = 10_000;

#[derive(Debug, thiserror::Error)]
#[error("the SMS could not be sent: {0}")]
pub struct SmsError(pub String);

/// Which of the platform's messages an SMS is. Chinese gateways send only templates
/// registered (and approved) with them beforehand, each under a code the bureau
/// configures; the text here is what the template says, for a sender that sends text
/// and for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SmsTemplate {
    /// A code to verify the phone before writing a letter.
    LetterCode,
    /// A code to rate the handling of a letter.
    RatingCode,
    /// A step of the writer's letter (告知, `crate::writer_notices`).
    Notice,
}

/// One SMS: its template, the template's values, and the whole text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsMessage {
    pub template: SmsTemplate,
    /// The template's variables, e.g. `("code", "123456")`.
    pub params: Vec<(&'static str, String)>,
    pub text: String,
}

impl SmsMessage {
    /// A verification code: templates `您的验证码是${code}，5 分钟内有效。请勿告诉他人。`
    /// and `您评价办理结果的验证码是${code}，…` as registered with the gateway.
    pub fn code(template: SmsTemplate, code: &str) -> SmsMessage {
        let what = match template {
            SmsTemplate::LetterCode => "您的验证码",
            SmsTemplate::RatingCode => "您评价办理结果的验证码",
            SmsTemplate::Notice => "",
        };
        SmsMessage {
            template,
            params: vec![("code", code.to_owned())],
            text: format!(
                "【深圳公安局长信箱】{what}是 {code}，{CODE_TTL_MINUTES} 分钟内有效。请勿告诉他人。"
            ),
        }
    }
}

impl SmsMessage {
    /// A notice of a step of the letter `code`: template `${content}` (a notification
    /// template, 通知短信, with the whole text as its one variable) as registered with
    /// the gateway, with `code` beside it for templates that quote it.
    pub fn notice(code: &str, text: &str) -> SmsMessage {
        SmsMessage {
            template: SmsTemplate::Notice,
            params: vec![("code", code.to_owned()), ("content", text.to_owned())],
            text: format!("【深圳公安局长信箱】{text}"),
        }
    }
}

/// Sending an SMS: a boundary (a gateway contract the bureau signs).
#[async_trait]
pub trait SmsSender: Send + Sync + 'static {
    async fn send(&self, phone: &str, message: &SmsMessage) -> Result<(), SmsError>;
    /// True when nothing reaches a phone (the log sender): the portal then says where
    /// the code went.
    fn simulated(&self) -> bool {
        false
    }
    /// The last verification code's text sent to `phone`, for senders that can tell
    /// (the log sender; notices to writers are not kept).
    fn last_sent(&self, _phone: &str) -> Option<String> {
        None
    }
}

/// The demo/development sender: writes the text to the log (target `jsjb::sms`) and
/// keeps the last text per phone in memory.
#[derive(Debug, Default)]
pub struct LogSms {
    sent: Mutex<HashMap<String, String>>,
}

#[async_trait]
impl SmsSender for LogSms {
    async fn send(&self, phone: &str, message: &SmsMessage) -> Result<(), SmsError> {
        let text = &message.text;
        tracing::info!(target: "jsjb::sms", phone = %mask_phone(phone), %text, "SMS (not sent: no gateway is configured)");
        if message.template == SmsTemplate::Notice {
            return Ok(());
        }
        let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        if sent.len() >= SWEEP_AT {
            sent.clear();
        }
        sent.insert(phone.to_owned(), text.clone());
        Ok(())
    }

    fn simulated(&self) -> bool {
        true
    }

    fn last_sent(&self, phone: &str) -> Option<String> {
        let sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        sent.get(phone).cloned()
    }
}

/// `138****5678`: enough to tell numbers apart in a log, not enough to call.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() < 7 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}****{tail}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("no code was sent to this number, or it was used or replaced")]
    NoCode,
    #[error("the code has expired")]
    Expired,
    #[error("the code is wrong; {left} tries left")]
    Wrong { left: u32 },
    #[error("too many wrong tries; ask for a new code")]
    TooManyTries,
}

/// The digest a code is stored and checked by: salted with its key (what it is for and
/// the phone), so equal codes for two phones differ.
fn code_digest(key: &str, code: &str) -> String {
    hex::encode(Sha256::digest(format!("{key}:{code}").as_bytes()))
}

fn ticket_digest(ticket: &str) -> String {
    hex::encode(Sha256::digest(ticket.as_bytes()))
}

/// The outstanding code of each key (a new code replaces the old one), in the database.
pub struct OtpCodes {
    store: Arc<dyn Storage>,
}

impl OtpCodes {
    pub fn new(store: Arc<dyn Storage>) -> OtpCodes {
        OtpCodes { store }
    }

    /// A fresh 6-digit code for `key`, valid for 5 minutes.
    pub async fn issue(&self, key: &str, now: DateTime<Utc>) -> Result<String, ApiError> {
        // 10⁶ does not divide 2³², so draw again above the last whole multiple.
        let code = loop {
            let n = OsRng.next_u32();
            if n < 4_294_000_000 {
                break n % 1_000_000;
            }
        };
        let code = format!("{code:06}");
        self.store
            .citizen_tokens()
            .issue_code(NewCode {
                key: key.to_owned(),
                code_hash: code_digest(key, &code),
                expires_at: now + Duration::minutes(CODE_TTL_MINUTES),
                attempts: CODE_ATTEMPTS,
            })
            .await?;
        Ok(code)
    }

    /// Checks a code; a right code is used up, a wrong one costs a try. The outer error
    /// is the database's; the inner one is the writer's answer.
    pub async fn verify(
        &self,
        key: &str,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<Result<(), CodeError>, ApiError> {
        // Digests are compared, not codes: how long a comparison takes tells nothing
        // about the code.
        let check = self
            .store
            .citizen_tokens()
            .check_code(key, &code_digest(key, code.trim()), now)
            .await?;
        Ok(match check {
            CodeCheck::Right => Ok(()),
            CodeCheck::NoCode => Err(CodeError::NoCode),
            CodeCheck::Expired => Err(CodeError::Expired),
            CodeCheck::Wrong { left } => Err(CodeError::Wrong { left }),
            CodeCheck::TooManyTries => Err(CodeError::TooManyTries),
        })
    }
}

/// A verified writer, as the ticket in the letter form stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub phone: String,
    pub name: String,
    pub expires: DateTime<Utc>,
}

/// Tickets: random tokens carried in a hidden field of the letter form, standing for
/// "this browser verified this phone". Being unguessable, a ticket is also the form's
/// CSRF token. Used up when the letter is stored.
pub struct Tickets {
    store: Arc<dyn Storage>,
}

impl Tickets {
    pub fn new(store: Arc<dyn Storage>) -> Tickets {
        Tickets { store }
    }

    pub async fn issue(
        &self,
        phone: &str,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<String, ApiError> {
        let mut raw = [0_u8; 24];
        OsRng.fill_bytes(&mut raw);
        let token = hex::encode(raw);
        self.store
            .citizen_tokens()
            .issue_ticket(NewTicket {
                ticket_hash: ticket_digest(&token),
                phone: phone.to_owned(),
                name: name.to_owned(),
                expires_at: now + Duration::minutes(TICKET_TTL_MINUTES),
            })
            .await?;
        Ok(token)
    }

    /// The writer a ticket stands for, while it is not past its expiry.
    pub async fn get(&self, token: &str, now: DateTime<Utc>) -> Result<Option<Verified>, ApiError> {
        // No ticket given (a form or request without one): nothing to look up.
        if token.is_empty() {
            return Ok(None);
        }
        let found = self
            .store
            .citizen_tokens()
            .ticket(&ticket_digest(token), now)
            .await?;
        Ok(found.map(|t| Verified {
            phone: t.phone,
            name: t.name,
            expires: t.expires_at,
        }))
    }

    /// Uses the ticket up before its letter is stored, and gives back the writer it
    /// stood for: of two letters sent with one ticket at once (two tabs, two nodes) only
    /// one gets it, so one verification stands for one letter.
    pub async fn take(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Verified>, ApiError> {
        if token.is_empty() {
            return Ok(None);
        }
        let taken = self
            .store
            .citizen_tokens()
            .take_ticket(&ticket_digest(token), now)
            .await?;
        Ok(taken.map(|t| Verified {
            phone: t.phone,
            name: t.name,
            expires: t.expires_at,
        }))
    }

    /// Gives a taken ticket back when its letter was refused (the writer is shown the
    /// form again, with the same ticket, to correct it). A failure is logged: the writer
    /// then has to verify the phone again, and nothing they were told was received is lost.
    pub async fn give_back(&self, token: &str, verified: &Verified) {
        let ticket = NewTicket {
            ticket_hash: ticket_digest(token),
            phone: verified.phone.clone(),
            name: verified.name.clone(),
            expires_at: verified.expires,
        };
        if let Err(e) = self.store.citizen_tokens().issue_ticket(ticket).await {
            tracing::warn!(%e, "a refused letter's ticket could not be given back");
        }
    }
}

/// Whether a refused letter was surely not stored, so its ticket may be given back: a
/// refusal (bad input, a limit, a conflict) is, while a fault inside the database (a
/// commit whose outcome is unknown) may have stored it after all.
pub fn stored_nothing(e: &ApiError) -> bool {
    !matches!(e, ApiError::Internal(_) | ApiError::Unhealthy(_))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> (tempfile::TempDir, Arc<dyn Storage>) {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("otp.sqlite3");
        let store =
            tokio::task::spawn_blocking(move || jsjb_storage_sqlite::SqliteStore::open(&path))
                .await
                .expect("open task")
                .expect("open");
        (dir, Arc::new(store))
    }

    #[tokio::test]
    async fn codes_are_single_use_expire_and_limit_tries() {
        let (_dir, store) = store().await;
        let codes = OtpCodes::new(store);
        let t0 = Utc::now();
        let verify = |code: String, at: DateTime<Utc>| {
            let codes = &codes;
            async move { codes.verify("13812345678", &code, at).await.expect("db") }
        };
        let code = codes.issue("13812345678", t0).await.expect("issue");
        assert_eq!(code.len(), 6);
        let wrong = if code == "000000" { "111111" } else { "000000" }.to_owned();
        assert_eq!(
            verify(wrong.clone(), t0).await,
            Err(CodeError::Wrong { left: 4 })
        );
        // What the writer typed is trimmed.
        assert_eq!(verify(format!(" {code} "), t0).await, Ok(()));
        assert_eq!(verify(code.clone(), t0).await, Err(CodeError::NoCode));

        let code = codes.issue("13812345678", t0).await.expect("issue");
        assert_eq!(
            verify(code, t0 + Duration::seconds(301)).await,
            Err(CodeError::Expired)
        );

        let code = codes.issue("13812345678", t0).await.expect("issue");
        let wrong = if code == "000000" { "111111" } else { "000000" }.to_owned();
        for _ in 0..4 {
            assert!(matches!(
                verify(wrong.clone(), t0).await,
                Err(CodeError::Wrong { .. })
            ));
        }
        assert_eq!(verify(wrong, t0).await, Err(CodeError::TooManyTries));
        // Even the right code is refused now.
        assert_eq!(verify(code, t0).await, Err(CodeError::TooManyTries));
    }

    /// Two server nodes on one database: what one issues, the other checks.
    #[tokio::test]
    async fn another_node_checks_the_code_and_honours_the_ticket() {
        let (_dir, store) = store().await;
        let (node_a, node_b) = (
            (
                OtpCodes::new(Arc::clone(&store)),
                Tickets::new(Arc::clone(&store)),
            ),
            (OtpCodes::new(Arc::clone(&store)), Tickets::new(store)),
        );
        let t0 = Utc::now();
        let code = node_a
            .0
            .issue("letter:13812345678", t0)
            .await
            .expect("issue");
        assert_eq!(
            node_b
                .0
                .verify("letter:13812345678", &code, t0)
                .await
                .expect("db"),
            Ok(())
        );
        let ticket = node_b
            .1
            .issue("13812345678", "张三", t0)
            .await
            .expect("issue");
        let verified = node_a.1.get(&ticket, t0).await.expect("db").expect("found");
        assert_eq!(
            (verified.phone.as_str(), verified.name.as_str()),
            ("13812345678", "张三")
        );
        assert_eq!(node_a.1.get("", t0).await.expect("db"), None);
        assert_eq!(
            node_a
                .1
                .get(&ticket, t0 + Duration::minutes(61))
                .await
                .expect("db"),
            None,
            "expired"
        );
        let taken = node_a.1.take(&ticket, t0).await.expect("db");
        assert_eq!(taken.as_ref(), Some(&verified));
        assert_eq!(node_b.1.get(&ticket, t0).await.expect("db"), None);
        assert_eq!(
            node_b.1.take(&ticket, t0).await.expect("db"),
            None,
            "taken once"
        );
        node_b.1.give_back(&ticket, &verified).await;
        assert_eq!(node_a.1.get(&ticket, t0).await.expect("db"), Some(verified));
    }

    #[test]
    fn phones_are_masked_in_logs() {
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_phone("123"), "***");
    }
}
