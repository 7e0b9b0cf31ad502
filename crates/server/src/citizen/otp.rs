//! Phone verification: one-time codes sent by SMS, and the short-lived ticket a
//! verified writer carries through the letter form.
//!
//! Codes live in memory only: they last 5 minutes, so a restart costs a writer one
//! "send again". Only a SHA-256 of each code is kept.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};

/// How long a code is valid.
pub const CODE_TTL_MINUTES: i64 = 5;
/// Wrong guesses before a code is void.
pub const CODE_ATTEMPTS: u32 = 5;
/// How long a verified writer has to write the letter.
pub const TICKET_TTL_MINUTES: i64 = 60;
/// Entries kept before expired ones are swept out.
const SWEEP_AT: usize = 10_000;

#[derive(Debug, thiserror::Error)]
#[error("the SMS could not be sent: {0}")]
pub struct SmsError(pub String);

/// Sending an SMS: a boundary (a gateway contract the bureau signs).
#[async_trait]
pub trait SmsSender: Send + Sync + 'static {
    async fn send(&self, phone: &str, text: &str) -> Result<(), SmsError>;
    /// True when nothing reaches a phone (the log sender): the portal then says where
    /// the code went.
    fn simulated(&self) -> bool {
        false
    }
    /// The last text sent to `phone`, for senders that can tell (the log sender).
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
    async fn send(&self, phone: &str, text: &str) -> Result<(), SmsError> {
        tracing::info!(target: "jsjb::sms", phone = %mask_phone(phone), %text, "SMS (not sent: no gateway is configured)");
        let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        if sent.len() >= SWEEP_AT {
            sent.clear();
        }
        sent.insert(phone.to_owned(), text.to_owned());
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

#[derive(Debug, Clone)]
struct CodeEntry {
    hash: [u8; 32],
    expires: DateTime<Utc>,
    attempts_left: u32,
}

/// A map that drops its expired entries only once it has doubled since the last sweep,
/// so a map full of live entries is not walked on every insert (the sweep's cost is
/// spread over the inserts that filled it).
#[derive(Debug)]
struct Expiring<V> {
    map: HashMap<String, V>,
    sweep_at: usize,
}

impl<V> Default for Expiring<V> {
    fn default() -> Self {
        Expiring {
            map: HashMap::new(),
            sweep_at: SWEEP_AT,
        }
    }
}

impl<V> Expiring<V> {
    fn insert_sweeping(&mut self, key: String, value: V, live: impl Fn(&V) -> bool) {
        if self.map.len() >= self.sweep_at {
            self.map.retain(|_, v| live(v));
            self.sweep_at = (self.map.len() * 2).max(SWEEP_AT);
        }
        self.map.insert(key, value);
    }
}

impl<V> std::ops::Deref for Expiring<V> {
    type Target = HashMap<String, V>;
    fn deref(&self) -> &Self::Target {
        &self.map
    }
}

impl<V> std::ops::DerefMut for Expiring<V> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.map
    }
}

/// The outstanding code of each phone number (a new code replaces the old one).
#[derive(Debug, Default)]
pub struct OtpCodes {
    entries: Mutex<Expiring<CodeEntry>>,
}

fn digest(phone: &str, code: &str) -> [u8; 32] {
    Sha256::digest(format!("{phone}:{code}").as_bytes()).into()
}

impl OtpCodes {
    /// A fresh 6-digit code for `phone`, valid for 5 minutes.
    pub fn issue(&self, phone: &str, now: DateTime<Utc>) -> String {
        // 10⁶ does not divide 2³², so draw again above the last whole multiple.
        let code = loop {
            let n = OsRng.next_u32();
            if n < 4_294_000_000 {
                break n % 1_000_000;
            }
        };
        let code = format!("{code:06}");
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.insert_sweeping(
            phone.to_owned(),
            CodeEntry {
                hash: digest(phone, &code),
                expires: now + Duration::minutes(CODE_TTL_MINUTES),
                attempts_left: CODE_ATTEMPTS,
            },
            |e| e.expires > now,
        );
        code
    }

    /// Checks a code; a right code is used up, a wrong one costs a try.
    pub fn verify(&self, phone: &str, code: &str, now: DateTime<Utc>) -> Result<(), CodeError> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let entry = entries.get_mut(phone).ok_or(CodeError::NoCode)?;
        if now > entry.expires {
            entries.remove(phone);
            return Err(CodeError::Expired);
        }
        if entry.attempts_left == 0 {
            return Err(CodeError::TooManyTries);
        }
        let given = digest(phone, code.trim());
        // Compare all 32 bytes without an early exit.
        let same = given
            .iter()
            .zip(entry.hash.iter())
            .fold(0_u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
        if same {
            entries.remove(phone);
            return Ok(());
        }
        entry.attempts_left -= 1;
        if entry.attempts_left == 0 {
            Err(CodeError::TooManyTries)
        } else {
            Err(CodeError::Wrong {
                left: entry.attempts_left,
            })
        }
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
#[derive(Debug, Default)]
pub struct Tickets {
    entries: Mutex<Expiring<Verified>>,
}

impl Tickets {
    pub fn issue(&self, phone: &str, name: &str, now: DateTime<Utc>) -> String {
        let mut raw = [0_u8; 24];
        OsRng.fill_bytes(&mut raw);
        let token = hex::encode(raw);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.insert_sweeping(
            token.clone(),
            Verified {
                phone: phone.to_owned(),
                name: name.to_owned(),
                expires: now + Duration::minutes(TICKET_TTL_MINUTES),
            },
            |v| v.expires > now,
        );
        token
    }

    pub fn get(&self, token: &str, now: DateTime<Utc>) -> Option<Verified> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.get(token).filter(|v| v.expires >= now).cloned()
    }

    pub fn consume(&self, token: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.remove(token);
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_full_map_of_live_entries_is_not_swept_on_every_insert() {
        use std::cell::Cell;
        let sweeps = Cell::new(0_usize);
        let mut map: Expiring<u32> = Expiring::default();
        // Every entry stays live: a sweep removes nothing.
        for n in 0..(SWEEP_AT * 4) {
            map.insert_sweeping(format!("k{n}"), 0, |_| {
                sweeps.set(sweeps.get() + 1);
                true
            });
        }
        // Each sweep walks the whole map; with the threshold doubling the walks add up
        // to about twice the inserts, not inserts × size.
        assert!(
            sweeps.get() <= SWEEP_AT * 8,
            "{} liveness checks for {} inserts",
            sweeps.get(),
            SWEEP_AT * 4
        );
        // Expired entries still go once the map has doubled.
        let mut map: Expiring<bool> = Expiring::default();
        for n in 0..=SWEEP_AT {
            map.insert_sweeping(format!("k{n}"), false, |live| *live);
        }
        assert_eq!(map.len(), 1);
    }
    use super::*;

    #[test]
    fn codes_are_single_use_expire_and_limit_tries() {
        let codes = OtpCodes::default();
        let t0 = Utc::now();
        let code = codes.issue("13812345678", t0);
        assert_eq!(code.len(), 6);
        let wrong = if code == "000000" { "111111" } else { "000000" };
        assert_eq!(
            codes.verify("13812345678", wrong, t0),
            Err(CodeError::Wrong { left: 4 })
        );
        assert_eq!(codes.verify("13812345678", &code, t0), Ok(()));
        assert_eq!(
            codes.verify("13812345678", &code, t0),
            Err(CodeError::NoCode)
        );

        let code = codes.issue("13812345678", t0);
        assert_eq!(
            codes.verify("13812345678", &code, t0 + Duration::seconds(301)),
            Err(CodeError::Expired)
        );

        let code = codes.issue("13812345678", t0);
        let wrong = if code == "000000" { "111111" } else { "000000" };
        for _ in 0..4 {
            assert!(matches!(
                codes.verify("13812345678", wrong, t0),
                Err(CodeError::Wrong { .. })
            ));
        }
        assert_eq!(
            codes.verify("13812345678", wrong, t0),
            Err(CodeError::TooManyTries)
        );
        // Even the right code is refused now.
        assert_eq!(
            codes.verify("13812345678", &code, t0),
            Err(CodeError::TooManyTries)
        );
    }

    #[test]
    fn phones_are_masked_in_logs() {
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_phone("123"), "***");
    }
}
