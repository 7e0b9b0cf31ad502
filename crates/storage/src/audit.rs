//! The append-only, hash-chained audit log.
//!
//! Each entry's `hash` is SHA-256 over its canonical encoding, which includes the
//! previous entry's hash, so changing, inserting or deleting any row breaks the chain
//! at that row. The canonical encoding (version `jsjb-audit-v1`) is:
//!
//! ```text
//! "jsjb-audit-v1;" then, for each field in this order:
//!   seq, at, actor, actor_user, actor_unit, action, letter_id, unit_id, user_id, payload, prev_hash
//! either  <byte length in decimal> ":" <UTF-8 bytes> ";"   for a present value
//! or      "~;"                                             for an absent (NULL) one
//! ```
//!
//! Integers are written in decimal, `at` as stored (RFC 3339, UTC, microseconds, `Z`),
//! `payload` as canonical JSON (object keys sorted by code point, no whitespace), and
//! `prev_hash` as 64 lowercase hex digits (all zeros for the first entry). The length
//! prefixes make the encoding unambiguous whatever the fields contain. Anyone can
//! re-check the chain from a copy of the table with a few lines of any language.
//!
//! The chain alone cannot tell a deleted tail, or an entry rewritten and every later
//! hash recomputed, from an honest shorter chain. That is what the witnessed head is
//! for (the server's `witness` module): desktops keep the newest signed head they saw, and
//! the backend's `check_head` compares the chain with one; its `verify_events` holds `letter_events`
//! to the audit entries that recorded them, so an event edited under the chain is
//! caught too.

use chrono::{DateTime, Utc};
use jsjb_core::letter::LetterId;
use jsjb_core::org::{UnitId, UserId};
use jsjb_core::workflow::EventPayload;
use jsjb_proto::AuditEntryHash;
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

/// Who did something, as the audit log and the letter's events record it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user: Option<UserId>,
    pub unit: Option<UnitId>,
    pub role: Option<Role>,
    /// A readable name for the audit log: `user:12`, `cli`, `public:web`.
    pub label: String,
    /// The workstation the request came from, when the client says.
    pub workstation: Option<String>,
}

impl Actor {
    /// The admin CLI, run by whoever has the database file.
    pub fn cli() -> Self {
        Actor {
            user: None,
            unit: None,
            role: Some(Role::Admin),
            label: "cli".to_owned(),
            workstation: None,
        }
    }

    /// The server itself (what it does at start-up from its configuration).
    pub fn server() -> Self {
        Actor {
            user: None,
            unit: None,
            role: None,
            label: "server".to_owned(),
            workstation: None,
        }
    }

    /// A citizen writing in through a public channel.
    pub fn public(channel: Channel) -> Self {
        Actor {
            user: None,
            unit: None,
            role: None,
            label: format!("public:{}", channel.as_str()),
            workstation: None,
        }
    }
}

use jsjb_core::letter::Channel;
use jsjb_core::org::Role;

/// The `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One stored entry, as read back for verification.
#[derive(Debug, Clone)]
pub struct AuditRow {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub actor_user: Option<i64>,
    pub actor_unit: Option<i64>,
    pub action: String,
    pub letter_id: Option<i64>,
    pub unit_id: Option<i64>,
    pub user_id: Option<i64>,
    pub payload: String,
    pub prev_hash: String,
    pub hash: String,
}

/// An entry to append.
#[derive(Debug, Clone)]
pub struct NewEntry<'a> {
    pub at: DateTime<Utc>,
    pub actor: &'a Actor,
    /// Dotted verb: `unit.create`, `user.create`, `auth.login`, `letter.receive`, …
    pub action: &'a str,
    pub letter: Option<LetterId>,
    pub unit: Option<UnitId>,
    pub user: Option<UserId>,
    pub payload: serde_json::Value,
}

/// The outcome of checking the whole chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Verification {
    /// True when every entry checks out, every letter event matches its audit entry,
    /// and the chain agrees with every head it was checked against.
    pub ok: bool,
    /// How many entries were checked.
    pub entries: u64,
    /// The first entry that does not check out, if any.
    pub first_broken: Option<BrokenEntry>,
    /// How many letter events were checked against their audit entries.
    pub events: u64,
    /// The first letter event that does not match its audit entry, if any.
    pub first_bad_event: Option<BadEvent>,
    /// Each head (a desktop's kept `seq:hash`) the chain was checked against.
    pub heads: Vec<HeadCheck>,
}

impl Verification {
    /// Why it failed, in one line; `None` when it did not.
    pub fn failure(&self) -> Option<String> {
        if let Some(b) = &self.first_broken {
            return Some(format!(
                "audit chain broken at entry {}: {}",
                b.seq, b.reason
            ));
        }
        if let Some(e) = &self.first_bad_event {
            return Some(format!(
                "letter {} event {} does not match the audit log: {}",
                e.letter_id, e.seq, e.reason
            ));
        }
        self.heads.iter().find(|h| !h.ok).map(|h| {
            format!(
                "the chain disagrees with the head {}:{}: {}",
                h.seq,
                h.hash,
                h.reason.as_deref().unwrap_or_default()
            )
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct BadEvent {
    pub letter_id: i64,
    pub seq: i64,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct HeadCheck {
    pub seq: i64,
    pub hash: String,
    pub ok: bool,
    /// `truncated` or `forked`, with the detail.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct BrokenEntry {
    pub seq: i64,
    pub reason: String,
}

/// Canonical JSON: object keys sorted, no insignificant whitespace.
pub fn canonical_json(value: &serde_json::Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String(key.clone()).to_string());
                out.push(':');
                if let Some(v) = map.get(key) {
                    write_canonical(v, out);
                }
            }
            out.push('}');
        }
        serde_json::Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// The hash of an entry, per the encoding in the module documentation.
pub fn entry_hash(row: &AuditRow) -> String {
    fn field(h: &mut Sha256, value: Option<&str>) {
        match value {
            Some(v) => {
                h.update(v.len().to_string().as_bytes());
                h.update(b":");
                h.update(v.as_bytes());
                h.update(b";");
            }
            None => h.update(b"~;"),
        }
    }
    let num = |v: Option<i64>| v.map(|n| n.to_string());
    let mut h = Sha256::new();
    h.update(b"jsjb-audit-v1;");
    field(&mut h, Some(&row.seq.to_string()));
    field(&mut h, Some(&row.at));
    field(&mut h, Some(&row.actor));
    field(&mut h, num(row.actor_user).as_deref());
    field(&mut h, num(row.actor_unit).as_deref());
    field(&mut h, Some(&row.action));
    field(&mut h, num(row.letter_id).as_deref());
    field(&mut h, num(row.unit_id).as_deref());
    field(&mut h, num(row.user_id).as_deref());
    field(&mut h, Some(&row.payload));
    field(&mut h, Some(&row.prev_hash));
    hex::encode(h.finalize())
}

/// Checks a chain read in `seq` order and names the first entry that fails.
pub fn verify<E>(rows: impl IntoIterator<Item = Result<AuditRow, E>>) -> Result<Verification, E> {
    let mut expected_prev = GENESIS.to_owned();
    let mut entries = 0_u64;
    for (expected_seq, row) in (1_i64..).zip(rows) {
        let row = row?;
        entries += 1;
        let broken = if row.seq != expected_seq {
            Some(format!(
                "expected entry {expected_seq} next but found {}: entries are missing or renumbered",
                row.seq
            ))
        } else if row.prev_hash != expected_prev {
            Some("prev_hash does not match the hash of the entry before it".to_owned())
        } else if entry_hash(&row) != row.hash {
            Some("hash does not match the entry's content: the entry was altered".to_owned())
        } else {
            None
        };
        if let Some(reason) = broken {
            return Ok(Verification {
                ok: false,
                entries,
                first_broken: Some(BrokenEntry {
                    seq: row.seq,
                    reason,
                }),
                events: 0,
                first_bad_event: None,
                heads: Vec::new(),
            });
        }
        expected_prev = row.hash;
    }
    Ok(Verification {
        ok: true,
        entries,
        first_broken: None,
        events: 0,
        first_bad_event: None,
        heads: Vec::new(),
    })
}

/// One `letter_events` row, as compared with its audit entry.
pub struct EventRow {
    pub letter_id: i64,
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub actor_user: Option<i64>,
    pub actor_unit: Option<i64>,
    pub kind: String,
    pub payload: String,
}

/// An audit entry that recorded a letter event: `letter.receive` (event 1) or an
/// action (`{seq, event}`).
pub struct RecordedEvent {
    pub letter_id: i64,
    pub event_seq: i64,
    pub audit_seq: i64,
    pub at: String,
    pub actor: String,
    pub actor_user: Option<i64>,
    pub actor_unit: Option<i64>,
    pub unit_id: Option<i64>,
    pub payload: String,
}

/// Merges `letter_events` rows read in (letter, seq) order with the audit entries that
/// recorded events, read in (letter, event seq, audit seq) order: every event must have
/// exactly one entry, with the same time, actor and event (`verify_events` of each
/// backend reads the two sides; this holds them to each other, so memory stays flat
/// however long the history is). Returns how many events were checked and the first bad one.
pub fn merge_events<E>(
    events: impl IntoIterator<Item = Result<EventRow, E>>,
    recorded: impl IntoIterator<Item = Result<RecordedEvent, E>>,
) -> Result<(u64, Option<BadEvent>), E> {
    let mut events = events.into_iter();
    let mut recorded = recorded.into_iter();
    let mut checked = 0_u64;
    let mut event = events.next().transpose()?;
    let mut entry = recorded.next().transpose()?;
    let bad = |letter_id: i64, seq: i64, reason: String| {
        Some(BadEvent {
            letter_id,
            seq,
            reason,
        })
    };
    loop {
        let (e, a) = match (&event, &entry) {
            (None, None) => return Ok((checked, None)),
            (Some(e), a)
                if a.as_ref()
                    .is_none_or(|a| (e.letter_id, e.seq) < (a.letter_id, a.event_seq)) =>
            {
                return Ok((
                    checked,
                    bad(
                        e.letter_id,
                        e.seq,
                        "the event has no audit entry: it was added behind the server's back"
                            .to_owned(),
                    ),
                ));
            }
            (e, Some(a))
                if e.as_ref()
                    .is_none_or(|e| (a.letter_id, a.event_seq) < (e.letter_id, e.seq)) =>
            {
                return Ok((
                    checked,
                    bad(
                        a.letter_id,
                        a.event_seq,
                        format!(
                            "audit entry {} records this event but letter_events has none: it was deleted",
                            a.audit_seq
                        ),
                    ),
                ));
            }
            (Some(e), Some(a)) => (e, a),
            // Covered by the arms above; kept for the compiler.
            _ => return Ok((checked, None)),
        };
        checked += 1;
        if let Some(reason) = event_mismatch(e, a) {
            return Ok((checked, bad(e.letter_id, e.seq, reason)));
        }
        let (key, audit_seq) = ((a.letter_id, a.event_seq), a.audit_seq);
        event = events.next().transpose()?;
        entry = recorded.next().transpose()?;
        if let Some(next) = &entry
            && (next.letter_id, next.event_seq) == key
        {
            return Ok((
                checked,
                bad(
                    key.0,
                    key.1,
                    format!(
                        "audit entries {audit_seq} and {} both record this event",
                        next.audit_seq
                    ),
                ),
            ));
        }
    }
}

/// Why an event differs from its audit entry, if it does.
fn event_mismatch(e: &EventRow, a: &RecordedEvent) -> Option<String> {
    if e.at != a.at {
        return Some(format!(
            "its time {} is not the audit entry's {}",
            e.at, a.at
        ));
    }
    if e.actor != a.actor || e.actor_user != a.actor_user || e.actor_unit != a.actor_unit {
        return Some(format!(
            "its actor is not the one audit entry {} names",
            a.audit_seq
        ));
    }
    let Ok(stored) = serde_json::from_str::<serde_json::Value>(&e.payload) else {
        return Some("its payload is not JSON".to_owned());
    };
    let Ok(parsed) = serde_json::from_value::<EventPayload>(stored.clone()) else {
        return Some("its payload is not an event this server writes".to_owned());
    };
    if parsed.kind() != e.kind {
        return Some(format!(
            "its kind {:?} is not its payload's {:?}",
            e.kind,
            parsed.kind()
        ));
    }
    let audit: serde_json::Value = serde_json::from_str(&a.payload).unwrap_or_default();
    match audit.get("event") {
        Some(recorded) if *recorded != stored => Some(format!(
            "its payload is not the event audit entry {} recorded",
            a.audit_seq
        )),
        Some(_) => None,
        // A `letter.receive` entry written before receipts recorded their event: the
        // unit it names must be the one the `received` event names.
        None => match parsed {
            EventPayload::Received { unit, .. } if Some(unit.0) == a.unit_id => None,
            _ => Some(format!(
                "it is not the receipt audit entry {} recorded",
                a.audit_seq
            )),
        },
    }
}

/// Parses `seq:hash` (as a desktop shows its kept head).
pub fn parse_head(text: &str) -> Result<AuditEntryHash, String> {
    let (seq, hash) = text
        .trim()
        .split_once(':')
        .ok_or_else(|| format!("{text:?} is not <seq>:<hash>"))?;
    let seq: i64 = seq
        .parse()
        .ok()
        .filter(|s| *s >= 0)
        .ok_or_else(|| format!("{seq:?} is not an entry number"))?;
    let hash = hash.to_ascii_lowercase();
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("{hash:?} is not a 64-digit hex hash"));
    }
    Ok(AuditEntryHash { seq, hash })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_recursively() {
        let v = serde_json::json!({"b": 1, "a": {"z": [1, {"y": 2, "x": "文"}], "c": null}});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"c":null,"z":[1,{"x":"文","y":2}]},"b":1}"#
        );
    }

    #[test]
    fn encoding_is_unambiguous_between_null_and_text() {
        let base = AuditRow {
            seq: 1,
            at: "2025-01-01T00:00:00.000000Z".into(),
            actor: "cli".into(),
            actor_user: None,
            actor_unit: None,
            action: "x".into(),
            letter_id: None,
            unit_id: None,
            user_id: None,
            payload: "{}".into(),
            prev_hash: GENESIS.into(),
            hash: String::new(),
        };
        let mut other = base.clone();
        other.actor_user = Some(1);
        assert_ne!(entry_hash(&base), entry_hash(&other));
        let mut shifted = base.clone();
        shifted.actor = "cl".into();
        shifted.action = "ix".into();
        assert_ne!(entry_hash(&base), entry_hash(&shifted));
    }
}
