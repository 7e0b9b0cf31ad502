//! The feedback form: built from a letter's events, and its canonical bytes —
//! deterministic, different for different forms, strict on decode.

use chrono::{DateTime, Duration, TimeZone, Utc};
use jsjb_core::calendar::WorkCalendar;
use jsjb_core::clock::{ClockKind, Policy};
use jsjb_core::form::{
    self, FORM_FORMAT, FeedbackForm, FormDelegation, FormError, FormExtension, FormFeedback,
    FormLetter, FormSigner, LetterFacts, Milestone, Names, Outcome, Party, SignOff, Stamp,
};
use jsjb_core::letter::{
    Category, Channel, ContactMethod, ContactOutcome, FormDecision, LetterId, LetterState,
};
use jsjb_core::org::{Role, Tier, UnitId, UserId};
use jsjb_core::workflow::EventPayload;
use proptest::prelude::*;

const STATION: UnitId = UnitId(11);
const BRANCH: UnitId = UnitId(10);
const HANDLER: UserId = UserId(111);
const CHIEF: UserId = UserId(112);

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0)
        .single()
        .expect("valid time")
}

fn mins(m: i64) -> DateTime<Utc> {
    t0() + Duration::minutes(m)
}

struct TestNames;

impl Names for TestNames {
    fn unit(&self, id: UnitId) -> String {
        match id {
            STATION => "福田派出所".to_owned(),
            BRANCH => "福田分局".to_owned(),
            _ => String::new(),
        }
    }
    fn user(&self, id: UserId) -> String {
        match id {
            HANDLER => "李警官".to_owned(),
            CHIEF => "王所长".to_owned(),
            _ => String::new(),
        }
    }
}

fn history() -> Vec<(DateTime<Utc>, EventPayload)> {
    vec![
        (
            mins(0),
            EventPayload::Received {
                unit: BRANCH,
                tier: Tier::Branch,
            },
        ),
        (
            mins(2),
            EventPayload::Dispatched {
                from: BRANCH,
                to: STATION,
                to_tier: Tier::Station,
                note: String::new(),
                ruling: None,
                return_upheld: None,
            },
        ),
        (
            mins(15),
            EventPayload::SignedFor {
                unit: STATION,
                handler: HANDLER,
            },
        ),
        (
            mins(20),
            EventPayload::ContactRecorded {
                method: ContactMethod::Phone,
                outcome: ContactOutcome::Reached,
                contacted_at: mins(20),
                note: String::new(),
                callback_at: None,
            },
        ),
        (
            mins(60),
            EventPayload::FirstFeedbackGiven {
                text: "已受理".to_owned(),
            },
        ),
        (
            mins(120),
            EventPayload::ExtensionRequested {
                reason: "需调取监控".to_owned(),
                legal_basis: "规定第三条".to_owned(),
                requested_due: mins(60 * 24 * 30),
                current_due: mins(60 * 24 * 15),
            },
        ),
        (
            mins(180),
            EventPayload::ExtensionDecided {
                approve: true,
                new_due: Some(mins(60 * 24 * 30)),
                note: String::new(),
            },
        ),
        (
            mins(600),
            EventPayload::FeedbackFormSubmitted {
                summary: "已核查".to_owned(),
                result: "已解决".to_owned(),
                reply: "您反映的问题已处理".to_owned(),
            },
        ),
    ]
}

fn signoff() -> SignOff {
    SignOff {
        decision: FormDecision::Approve,
        opinion: "  同意办结 ".to_owned(),
        signer: FormSigner {
            user: Party {
                id: CHIEF.0,
                name: "王所长".to_owned(),
            },
            unit: Party {
                id: STATION.0,
                name: "福田派出所".to_owned(),
            },
            role: Role::Chief,
            on_behalf_of: None,
        },
        handwriting_sha256: "ab".repeat(32),
        signed_at: mins(700) + Duration::nanoseconds(123_456_789),
    }
}

fn build(
    events: &[(DateTime<Utc>, EventPayload)],
    signoff: SignOff,
) -> Result<FeedbackForm, FormError> {
    let refs: Vec<(DateTime<Utc>, &EventPayload)> = events.iter().map(|(t, e)| (*t, e)).collect();
    let facts = LetterFacts {
        id: LetterId(7),
        tracking_code: "SZ20260302ABCD",
        channel: Channel::Web,
        category: Category::Help,
        received_at: mins(0),
        subject: "夜间施工噪音",
        writer_name: "张三丰",
        writer_phone: "13812345678",
        events: &refs,
    };
    form::build(
        &facts,
        &TestNames,
        &Policy::shenzhen(),
        &WorkCalendar::china(),
        signoff,
    )
}

#[test]
fn the_form_shows_what_the_domain_asks_for() {
    let form = build(&history(), signoff()).expect("form");
    assert_eq!(form.format, FORM_FORMAT);
    assert_eq!(form.letter.writer_name, "张**");
    assert_eq!(form.letter.writer_phone, "138********");
    assert_eq!(form.letter.version, 8);
    assert_eq!(form.handling_unit.name, "福田派出所");
    assert_eq!(
        form.handler.as_ref().map(|h| h.name.as_str()),
        Some("李警官")
    );
    assert_eq!(form.opinion, "同意办结", "trimmed as the rules store it");
    assert_eq!(form.extensions.len(), 1);
    assert!(
        form.extensions[0]
            .decision
            .as_ref()
            .is_some_and(|d| d.approved)
    );
    let kinds: Vec<(ClockKind, Outcome)> = form
        .milestones
        .iter()
        .map(|m| (m.clock, m.outcome))
        .collect();
    assert_eq!(
        kinds,
        [
            (ClockKind::SignFor, Outcome::MetLate), // 13 minutes > 10
            (ClockKind::Contact, Outcome::Met),
            (ClockKind::FirstFeedback, Outcome::Met),
            // 同意办结 closes it: met at the signature, well before the extended due.
            (ClockKind::Closure, Outcome::Met),
        ]
    );
    let closure = &form.milestones[3];
    assert_eq!(closure.met_at, Some(form.signed_at));
    assert_eq!(closure.due_at.time(), mins(60 * 24 * 30));
    assert_eq!(
        closure.original_due_at.map(Stamp::time),
        Some(mins(60 * 24 * 15))
    );
    // Nanoseconds are cut to microseconds, as the server stores times.
    assert_eq!(form.signed_at.to_string(), "2026-03-02T12:40:00.123456Z");
    let bytes = form.to_canonical().expect("encode");
    let text = String::from_utf8(bytes.clone()).expect("utf-8");
    assert!(text.starts_with("{\"decision\":\"approve\","), "{text}");
    assert!(!text.contains(": ") && !text.contains(", \"") && !text.contains('\n'));
    assert_eq!(FeedbackForm::from_canonical(&bytes).expect("decode"), form);
}

#[test]
fn a_form_sent_back_leaves_the_closure_running_and_a_late_approval_is_late() {
    let sent_back = build(
        &history(),
        SignOff {
            decision: FormDecision::SendBack,
            opinion: "请补充走访记录".to_owned(),
            ..signoff()
        },
    )
    .expect("form");
    let closure = &sent_back.milestones[3];
    assert_eq!((closure.outcome, closure.met_at), (Outcome::Running, None));

    // Signed after the (extended) 30-day deadline.
    let late = build(
        &history(),
        SignOff {
            signed_at: mins(60 * 24 * 31),
            ..signoff()
        },
    )
    .expect("form");
    let closure = &late.milestones[3];
    assert_eq!(closure.outcome, Outcome::MetLate);
    assert_eq!(closure.met_at, Some(late.signed_at));
}

#[test]
fn only_a_waiting_form_can_be_built() {
    let mut events = history();
    events.pop();
    assert_eq!(
        build(&events, signoff()),
        Err(FormError::NotAwaitingApproval(LetterState::Handling))
    );
    let mut send_back = signoff();
    send_back.decision = FormDecision::SendBack;
    send_back.opinion = " ".to_owned();
    assert!(matches!(
        build(&history(), send_back),
        Err(FormError::Invalid(_))
    ));
    let mut bad_hash = signoff();
    bad_hash.handwriting_sha256 = "AB".repeat(32);
    assert!(matches!(
        build(&history(), bad_hash),
        Err(FormError::Invalid(_))
    ));
}

#[test]
fn a_later_version_makes_a_different_form() {
    let before = build(&history(), signoff()).expect("form");
    let mut events = history();
    // Sent back and submitted again: two more events.
    events.push((
        mins(650),
        EventPayload::FeedbackFormDecided {
            decision: FormDecision::SendBack,
            opinion: "补充材料".to_owned(),
        },
    ));
    events.push((
        mins(690),
        EventPayload::FeedbackFormSubmitted {
            summary: "已核查".to_owned(),
            result: "已解决".to_owned(),
            reply: "您反映的问题已处理".to_owned(),
        },
    ));
    let after = build(&events, signoff()).expect("form");
    assert_eq!(after.letter.version, 10);
    assert_ne!(before.to_canonical().ok(), after.to_canonical().ok());
    assert_eq!(after.differences(&before), ["feedback", "letter"]);
}

#[test]
fn decoding_is_strict() {
    let form = build(&history(), signoff()).expect("form");
    let bytes = form.to_canonical().expect("encode");
    // Pretty-printed: the same form, not the canonical bytes.
    let pretty = serde_json::to_vec_pretty(&form).expect("pretty");
    assert!(FeedbackForm::from_canonical(&pretty).is_err());
    // An unknown member.
    let mut extra = bytes.clone();
    extra.pop();
    extra.extend_from_slice(b",\"zz\":1}");
    assert!(FeedbackForm::from_canonical(&extra).is_err());
    // Another format version.
    let other = String::from_utf8(bytes)
        .expect("utf-8")
        .replace(FORM_FORMAT, "jsjb-feedback-form/2");
    assert!(FeedbackForm::from_canonical(other.as_bytes()).is_err());
}

// --- properties ---------------------------------------------------------------

fn stamp() -> impl Strategy<Value = Stamp> {
    (0_i64..4_000_000_000, 0_u32..1_000_000).prop_map(|(secs, micros)| {
        Stamp::new(DateTime::from_timestamp(secs, micros * 1000).unwrap_or_else(t0))
    })
}

fn text() -> impl Strategy<Value = String> {
    // Chinese, ASCII, quotes, backslashes and control characters: everything escaping touches.
    prop::collection::vec(
        prop::sample::select(vec![
            'a', 'Z', '0', ' ', '"', '\\', '\n', '\t', '\u{1}', '\u{7f}', '张', '丰', '/', '<',
            '&', '😀',
        ]),
        0..12,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

fn party() -> impl Strategy<Value = Party> {
    (any::<i64>(), text()).prop_map(|(id, name)| Party { id, name })
}

fn milestone() -> impl Strategy<Value = Milestone> {
    (
        prop::sample::select(ClockKind::ALL.to_vec()),
        prop::option::of(party()),
        stamp(),
        stamp(),
        prop::option::of(stamp()),
        prop::option::of(stamp()),
        prop::sample::select(vec![
            Outcome::Met,
            Outcome::MetLate,
            Outcome::Running,
            Outcome::Breached,
            Outcome::LeftUnsigned,
        ]),
    )
        .prop_map(
            |(clock, unit, started_at, due_at, original_due_at, met_at, outcome)| Milestone {
                clock,
                unit,
                started_at,
                due_at,
                original_due_at,
                met_at,
                outcome,
            },
        )
}

fn feedback_form() -> impl Strategy<Value = FeedbackForm> {
    let letter = (
        any::<i64>(),
        text(),
        prop::sample::select(Channel::ALL.to_vec()),
        prop::sample::select(Category::ALL.to_vec()),
        stamp(),
        text(),
        text(),
        text(),
        any::<u32>(),
    )
        .prop_map(
            |(id, code, channel, category, received_at, subject, name, phone, version)| {
                FormLetter {
                    id: LetterId(id),
                    code,
                    channel,
                    category,
                    received_at,
                    subject,
                    writer_name: name,
                    writer_phone: phone,
                    version,
                }
            },
        );
    let extension =
        (text(), text(), stamp(), stamp()).prop_map(|(reason, basis, at, due)| FormExtension {
            requested_at: at,
            reason,
            legal_basis: basis,
            requested_due: due,
            decision: None,
        });
    let signer = (
        party(),
        party(),
        prop::sample::select(vec![Role::Chief, Role::Officer]),
        prop::option::of((any::<i64>(), party())),
    )
        .prop_map(|(user, unit, role, delegation)| FormSigner {
            user,
            unit,
            role,
            on_behalf_of: delegation.map(|(grant_id, chief)| FormDelegation { grant_id, chief }),
        });
    (
        letter,
        party(),
        prop::option::of(party()),
        prop::collection::vec(milestone(), 0..5),
        prop::collection::vec(extension, 0..3),
        (stamp(), text(), text(), text()),
        prop::sample::select(vec![FormDecision::Approve, FormDecision::SendBack]),
        text(),
        signer,
        "[0-9a-f]{64}",
        stamp(),
    )
        .prop_map(
            |(
                letter,
                handling_unit,
                handler,
                milestones,
                extensions,
                (submitted_at, summary, result, reply),
                decision,
                opinion,
                signer,
                handwriting_sha256,
                signed_at,
            )| FeedbackForm {
                format: FORM_FORMAT.to_owned(),
                letter,
                handling_unit,
                handler,
                milestones,
                extensions,
                feedback: FormFeedback {
                    submitted_at,
                    summary,
                    result,
                    reply,
                },
                decision,
                opinion,
                signer,
                handwriting_sha256,
                signed_at,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn encoding_is_deterministic_and_round_trips(form in feedback_form()) {
        let a = form.to_canonical().expect("encode");
        let b = form.clone().to_canonical().expect("encode again");
        prop_assert_eq!(&a, &b);
        prop_assert_eq!(FeedbackForm::from_canonical(&a).expect("decode"), form);
    }

    #[test]
    fn different_forms_have_different_bytes(a in feedback_form(), b in feedback_form()) {
        let (ea, eb) = (a.to_canonical().expect("a"), b.to_canonical().expect("b"));
        prop_assert_eq!(a == b, ea == eb);
    }

    #[test]
    fn a_changed_field_changes_the_bytes(form in feedback_form(), opinion in text(), version in any::<u32>()) {
        let mut other = form.clone();
        other.opinion = opinion;
        other.letter.version = version;
        let same = other == form;
        prop_assert_eq!(same, other.to_canonical().expect("o") == form.to_canonical().expect("f"));
    }
}
