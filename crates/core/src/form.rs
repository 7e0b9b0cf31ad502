//! The feedback form (反馈表) the chief signs, and its canonical bytes.
//!
//! The server and the desktop both build the form with [`build`] from the same letter
//! (its events fold into the same status) and encode it with [`FeedbackForm::to_canonical`],
//! so the bytes the chief signs on the workstation are the bytes the server re-creates
//! and verifies. The byte format is specified in `docs/signoff.md`: a profile of
//! canonical JSON (RFC 8785): UTF-8, object keys sorted, no whitespace, integers only,
//! times as fixed-width UTC text with microseconds, with a `format` member naming the
//! version. JSON rather than a binary layout so that anyone holding an exported form
//! can read what was signed with nothing more than a text viewer.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::calendar::WorkCalendar;
use crate::clock::{self, ClockKind, ClockState, Policy};
use crate::letter::{self, Category, Channel, FormDecision, LetterId, LetterState};
use crate::org::{Role, UnitId, UserId};
use crate::workflow::{EventPayload, LetterStatus, MAX_TEXT_CHARS};

/// The `format` member of every form of this version.
pub const FORM_FORMAT: &str = "jsjb-feedback-form/1";

/// The form's printed title: on the PDF and, in Chinese, on the screen (the UI imports
/// it from the generated `limits.ts`), so that the two read the same.
pub const FORM_TITLE: &str = "局长信箱来信办理反馈表";

/// A unit or a person on the form: the id for machines, the name for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct Party {
    #[ts(type = "number")]
    pub id: i64,
    pub name: String,
}

/// The letter as the printout shows it (the writer masked: 张**, 138********).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct FormLetter {
    pub id: LetterId,
    /// The tracking code (受理编号).
    pub code: String,
    pub channel: Channel,
    pub category: Category,
    pub received_at: Stamp,
    pub subject: String,
    pub writer_name: String,
    pub writer_phone: String,
    /// The letter version the chief decided on: a signature over an older version
    /// does not verify against the letter as it is now.
    pub version: u32,
}

/// How a milestone stood against its clock when the form was signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// 按时
    Met,
    /// 超时完成
    MetLate,
    /// 进行中, not yet due
    Running,
    /// 已超时, not done
    Breached,
    /// The unit passed the letter on (returned it) without signing for it.
    LeftUnsigned,
}

impl From<ClockState> for Outcome {
    fn from(state: ClockState) -> Self {
        match state {
            ClockState::Met => Outcome::Met,
            ClockState::MetLate => Outcome::MetLate,
            ClockState::Running => Outcome::Running,
            ClockState::Breached => Outcome::Breached,
        }
    }
}

/// One clock of the letter on the form: when it started, when it was due, when it was met.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct Milestone {
    pub clock: ClockKind,
    /// For 签收: the unit the letter was dispatched to.
    pub unit: Option<Party>,
    pub started_at: Stamp,
    pub due_at: Stamp,
    /// The deadline before an extension, when extended.
    pub original_due_at: Option<Stamp>,
    pub met_at: Option<Stamp>,
    pub outcome: Outcome,
}

/// A decided extension request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct ExtensionDecision {
    pub decided_at: Stamp,
    pub approved: bool,
    pub new_due: Option<Stamp>,
    pub note: String,
}

/// An extension request (申请延期) and its decision, if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct FormExtension {
    pub requested_at: Stamp,
    pub reason: String,
    pub legal_basis: String,
    pub requested_due: Stamp,
    pub decision: Option<ExtensionDecision>,
}

/// What the handler submitted (提交反馈表).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct FormFeedback {
    pub submitted_at: Stamp,
    /// 办理情况
    pub summary: String,
    /// 办理结果
    pub result: String,
    /// 答复来信人
    pub reply: String,
}

/// A 代签: the deputy signs under a grant from the unit's chief.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct FormDelegation {
    #[ts(type = "number")]
    pub grant_id: i64,
    /// The chief who granted it.
    pub chief: Party,
}

/// Who signed, in which capacity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct FormSigner {
    pub user: Party,
    pub unit: Party,
    pub role: Role,
    /// Set when the signer is a deputy signing for the chief (shown as 代).
    pub on_behalf_of: Option<FormDelegation>,
}

/// The feedback form as signed. Every field is part of the signed bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct FeedbackForm {
    /// Always [`FORM_FORMAT`] for this version.
    pub format: String,
    pub letter: FormLetter,
    /// 承办单位
    pub handling_unit: Party,
    /// 承办人
    pub handler: Option<Party>,
    pub milestones: Vec<Milestone>,
    pub extensions: Vec<FormExtension>,
    pub feedback: FormFeedback,
    pub decision: FormDecision,
    /// 签批意见 (required to send back).
    pub opinion: String,
    pub signer: FormSigner,
    /// Lower-case hex SHA-256 of the handwritten signature image (PNG bytes), so the
    /// image cannot be moved to another form.
    pub handwriting_sha256: String,
    pub signed_at: Stamp,
}

/// The chief's part of the form: filled in on the workstation at signing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignOff {
    pub decision: FormDecision,
    pub opinion: String,
    pub signer: FormSigner,
    pub handwriting_sha256: String,
    pub signed_at: DateTime<Utc>,
}

/// The letter's facts the form is built from, as both sides hold them.
pub struct LetterFacts<'a> {
    pub id: LetterId,
    pub tracking_code: &'a str,
    pub channel: Channel,
    pub category: Category,
    pub received_at: DateTime<Utc>,
    pub subject: &'a str,
    /// Masked or not: the form masks it either way.
    pub writer_name: &'a str,
    pub writer_phone: &'a str,
    /// The events, oldest first, with their times.
    pub events: &'a [(DateTime<Utc>, &'a EventPayload)],
}

/// Names for the ids on the form. An unknown id gets an empty name rather than an
/// error: the id is on the form all the same.
pub trait Names {
    fn unit(&self, id: UnitId) -> String;
    fn user(&self, id: UserId) -> String;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    #[error("the letter has no history")]
    NoHistory,
    #[error("the feedback form can only be signed while it waits for the chief, not while {0}")]
    NotAwaitingApproval(LetterState),
    #[error("no feedback form was submitted")]
    NoFeedback,
    #[error("{0}")]
    Invalid(&'static str),
    #[error("the canonical bytes are not a form of this version: {0}")]
    Decode(String),
    #[error("a form cannot be encoded: {0}")]
    Encode(String),
}

/// A time on the form: UTC with microseconds (as the server stores times), written
/// fixed-width as `2026-03-02T01:02:03.000000Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, TS)]
#[ts(type = "string")]
pub struct Stamp(DateTime<Utc>);

impl Stamp {
    /// The time, cut to whole microseconds.
    pub fn new(at: DateTime<Utc>) -> Stamp {
        let nanos = at.timestamp_subsec_nanos();
        Stamp(at - chrono::Duration::nanoseconds(i64::from(nanos % 1000)))
    }

    pub fn time(self) -> DateTime<Utc> {
        self.0
    }
}

impl std::fmt::Display for Stamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&canonical_time(self.0))
    }
}

impl Serialize for Stamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&canonical_time(self.0))
    }
}

impl<'de> Deserialize<'de> for Stamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Stamp, D::Error> {
        let text = String::deserialize(d)?;
        let at = DateTime::parse_from_rfc3339(&text)
            .map_err(serde::de::Error::custom)?
            .with_timezone(&Utc);
        let stamp = Stamp::new(at);
        // One spelling per time: anything else is not canonical.
        if canonical_time(stamp.0) != text {
            return Err(serde::de::Error::custom(format!(
                "time {text:?} is not written as YYYY-MM-DDTHH:MM:SS.ffffffZ"
            )));
        }
        Ok(stamp)
    }
}

/// `s` is a SHA-256 as 64 lower-case hex digits (the one form this platform writes).
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Builds the form of a letter waiting for the chief.
pub fn build(
    facts: &LetterFacts<'_>,
    names: &dyn Names,
    policy: &Policy,
    calendar: &WorkCalendar,
    signoff: SignOff,
) -> Result<FeedbackForm, FormError> {
    let status = LetterStatus::from_events(facts.category, facts.events.iter().copied())
        .ok_or(FormError::NoHistory)?;
    if status.state != LetterState::AwaitingApproval {
        return Err(FormError::NotAwaitingApproval(status.state));
    }
    if !is_sha256_hex(&signoff.handwriting_sha256) {
        return Err(FormError::Invalid(
            "handwriting_sha256 must be 64 lower-case hex digits",
        ));
    }
    let opinion = signoff.opinion.trim().to_owned();
    if opinion.chars().count() > MAX_TEXT_CHARS {
        return Err(FormError::Invalid("the opinion is too long"));
    }
    if signoff.decision == FormDecision::SendBack && opinion.is_empty() {
        return Err(FormError::Invalid("sending back needs an opinion"));
    }
    let signed_at = Stamp::new(signoff.signed_at);
    let party_unit = |id: UnitId| Party {
        id: id.0,
        name: names.unit(id),
    };
    let party_user = |id: UserId| Party {
        id: id.0,
        name: names.user(id),
    };

    // The latest submission is the one waiting for the chief.
    let feedback = facts
        .events
        .iter()
        .rev()
        .find_map(|(at, e)| match e {
            EventPayload::FeedbackFormSubmitted {
                summary,
                result,
                reply,
            } => Some(FormFeedback {
                submitted_at: Stamp::new(*at),
                summary: summary.clone(),
                result: result.clone(),
                reply: reply.clone(),
            }),
            _ => None,
        })
        .ok_or(FormError::NoFeedback)?;

    let mut extensions: Vec<FormExtension> = Vec::new();
    for (at, event) in facts.events {
        match event {
            EventPayload::ExtensionRequested {
                reason,
                legal_basis,
                requested_due,
                ..
            } => extensions.push(FormExtension {
                requested_at: Stamp::new(*at),
                reason: reason.clone(),
                legal_basis: legal_basis.clone(),
                requested_due: Stamp::new(*requested_due),
                decision: None,
            }),
            EventPayload::ExtensionDecided {
                approve,
                new_due,
                note,
            } => {
                if let Some(open) = extensions.iter_mut().rev().find(|x| x.decision.is_none()) {
                    open.decision = Some(ExtensionDecision {
                        decided_at: Stamp::new(*at),
                        approved: *approve,
                        new_due: new_due.map(Stamp::new),
                        note: note.clone(),
                    });
                }
            }
            _ => {}
        }
    }

    let inputs = &status.clock_inputs;
    let mut milestones = Vec::new();
    for span in &inputs.dispatches {
        let due = clock::due_time(span.dispatched_at, &policy.sign_for, calendar);
        let signed = span
            .signed_at
            .filter(|s| span.ended_at.is_none_or(|ended| *s <= ended));
        let outcome = match (signed, span.ended_at) {
            (Some(s), _) if s <= due => Outcome::Met,
            (Some(_), _) => Outcome::MetLate,
            (None, Some(_)) => Outcome::LeftUnsigned,
            (None, None) if signed_at.time() > due => Outcome::Breached,
            (None, None) => Outcome::Running,
        };
        milestones.push(Milestone {
            clock: ClockKind::SignFor,
            unit: Some(party_unit(span.unit)),
            started_at: Stamp::new(span.dispatched_at),
            due_at: Stamp::new(due),
            original_due_at: None,
            met_at: signed.map(Stamp::new),
            outcome,
        });
    }
    let clocks = status.clocks(policy, calendar, signed_at.time());
    for reading in [&clocks.contact, &clocks.first_feedback, &clocks.closure] {
        let (met_at, outcome) = match (reading.met_at, reading.kind, signoff.decision) {
            // 同意办结 is what closes the case: the form records the closure at its own
            // moment, not as still running (the PDF said 进行中 for a closed case).
            (None, ClockKind::Closure, FormDecision::Approve) => {
                let at = signed_at.time();
                let outcome = if at <= reading.due_at {
                    Outcome::Met
                } else {
                    Outcome::MetLate
                };
                (Some(at), outcome)
            }
            (met, _, _) => (met, reading.state.into()),
        };
        milestones.push(Milestone {
            clock: reading.kind,
            unit: None,
            started_at: Stamp::new(reading.started_at),
            due_at: Stamp::new(reading.due_at),
            original_due_at: reading.original_due_at.map(Stamp::new),
            met_at: met_at.map(Stamp::new),
            outcome,
        });
    }

    Ok(FeedbackForm {
        format: FORM_FORMAT.to_owned(),
        letter: FormLetter {
            id: facts.id,
            code: facts.tracking_code.to_owned(),
            channel: facts.channel,
            category: facts.category,
            received_at: Stamp::new(facts.received_at),
            subject: facts.subject.to_owned(),
            writer_name: letter::mask_name(facts.writer_name),
            writer_phone: letter::mask_phone(facts.writer_phone),
            version: status.version,
        },
        handling_unit: party_unit(status.unit),
        handler: status.handler.map(party_user),
        milestones,
        extensions,
        feedback,
        decision: signoff.decision,
        opinion,
        signer: signoff.signer,
        handwriting_sha256: signoff.handwriting_sha256,
        signed_at,
    })
}

impl FeedbackForm {
    /// The canonical bytes: what is hashed and signed (see `docs/signoff.md`).
    pub fn to_canonical(&self) -> Result<Vec<u8>, FormError> {
        let value = serde_json::to_value(self).map_err(|e| FormError::Encode(e.to_string()))?;
        let mut out = Vec::new();
        write_canonical(&value, &mut out)?;
        Ok(out)
    }

    /// Reads canonical bytes back. Only the canonical encoding of a form of this version
    /// is accepted: re-encoding the result gives exactly `bytes`.
    pub fn from_canonical(bytes: &[u8]) -> Result<FeedbackForm, FormError> {
        let form: FeedbackForm =
            serde_json::from_slice(bytes).map_err(|e| FormError::Decode(e.to_string()))?;
        if form.format != FORM_FORMAT {
            return Err(FormError::Decode(format!(
                "format {:?}, expected {FORM_FORMAT:?}",
                form.format
            )));
        }
        if form.to_canonical()? != bytes {
            return Err(FormError::Decode(
                "the bytes are a form but not in canonical form".to_owned(),
            ));
        }
        Ok(form)
    }

    /// The names of the top-level members whose values differ, for telling a signer
    /// what changed between the form they signed and the one the server built.
    pub fn differences(&self, other: &FeedbackForm) -> Vec<String> {
        let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) =
            (serde_json::to_value(self), serde_json::to_value(other))
        else {
            return vec!["*".to_owned()];
        };
        let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
        keys.sort();
        keys.dedup();
        keys.into_iter()
            .filter(|k| a.get(*k) != b.get(*k))
            .cloned()
            .collect()
    }
}

/// Canonical JSON of a value that holds no floats: keys sorted by their UTF-8 bytes
/// (the same order as RFC 8785's UTF-16 order for the ASCII keys used here), no
/// whitespace, strings escaped as RFC 8785 says (which is what serde_json writes:
/// `\"`, `\\`, `\b \f \n \r \t`, other controls as `\u00xx`, nothing else escaped).
fn write_canonical(value: &serde_json::Value, out: &mut Vec<u8>) -> Result<(), FormError> {
    use serde_json::Value;
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.extend_from_slice(i.to_string().as_bytes());
            } else if let Some(u) = n.as_u64() {
                out.extend_from_slice(u.to_string().as_bytes());
            } else {
                return Err(FormError::Encode("a form holds no floats".to_owned()));
            }
        }
        Value::String(s) => {
            let quoted = serde_json::to_string(s).map_err(|e| FormError::Encode(e.to_string()))?;
            out.extend_from_slice(quoted.as_bytes());
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let quoted =
                    serde_json::to_string(key).map_err(|e| FormError::Encode(e.to_string()))?;
                out.extend_from_slice(quoted.as_bytes());
                out.push(b':');
                write_canonical(item, out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

/// Times in canonical bytes: `2026-03-02T01:02:03.000000Z` (fixed width, UTC, micros).
pub fn canonical_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}
