//! The SLA clocks (签收 10 分钟, 联系 30 分钟, 首次反馈 4 日, 办结 15 日) under a policy.
//!
//! Everything here is a pure function of the letter's clock inputs, the policy and `now`:
//! the server and every desktop compute the same deadlines from the same events.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::letter::Category;
use crate::org::{Tier, UnitId};

/// The four clocks a letter runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ClockKind {
    /// 签收: from each dispatch to a unit until that unit signs for it.
    SignFor,
    /// 联系来信人: from receipt until the first contact that reached the writer.
    Contact,
    /// 首次反馈: from receipt until the first feedback.
    FirstFeedback,
    /// 办结: from receipt until the chief approves the feedback form.
    Closure,
}

/// The state of one clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ClockState {
    /// Not yet met, not yet due (or due exactly now).
    Running,
    /// Met at or before the due time.
    Met,
    /// Met, but strictly after the due time.
    MetLate,
    /// Not met and strictly past the due time.
    Breached,
}

/// The colour band of a clock: green, amber, red, grey.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Band {
    /// Green: running, outside its warn window.
    Ok,
    /// Amber: running, inside its warn window.
    Warning,
    /// Red: breached.
    Overdue,
    /// Grey: met (on time or late); nothing left to do.
    Done,
}

/// How a clock's duration is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Counting {
    /// Calendar time (the desks work 7×24). The default for every clock.
    Calendar,
    /// Whole working days on China's public-holiday calendar, 调休 make-up days included.
    WorkingDays,
}

/// The rule for one clock: how long it runs, when it turns amber, how it counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ClockRule {
    /// Time allowed, in seconds (with `Counting::WorkingDays`, a whole number of days × 86 400).
    #[ts(type = "number")]
    pub due_after_secs: i64,
    /// The amber window before the due time, in seconds.
    #[ts(type = "number")]
    pub warn_before_secs: i64,
    pub counting: Counting,
}

/// The clock policy: the Shenzhen defaults unless configured otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Policy {
    pub sign_for: ClockRule,
    pub contact: ClockRule,
    pub first_feedback: ClockRule,
    /// The closure rule for categories without their own entry.
    pub closure: ClockRule,
    /// Per-category closure rules, overriding `closure`.
    pub closure_by_category: Vec<(Category, ClockRule)>,
}

/// One dispatch of the letter to a unit, and what that unit did with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct DispatchSpan {
    pub unit: UnitId,
    pub tier: Tier,
    pub dispatched_at: DateTime<Utc>,
    /// When the unit signed for it (a dispatcher forwarding it further down also counts).
    pub signed_at: Option<DateTime<Utc>>,
    /// When the letter left the unit unsigned (returned, re-dispatched elsewhere).
    pub ended_at: Option<DateTime<Utc>>,
}

/// An approved extension of the closure deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ExtensionGrant {
    pub decided_at: DateTime<Utc>,
    pub new_due: DateTime<Utc>,
}

/// A stretch of time during which one unit held the letter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Holding {
    pub unit: UnitId,
    pub tier: Tier,
    pub from: DateTime<Utc>,
    /// `None` while the unit still holds it.
    pub until: Option<DateTime<Utc>>,
}

/// Everything the clocks need to know about a letter, folded from its events
/// (see `workflow::LetterStatus::clock_inputs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ClockInputs {
    /// Receipt on the platform: the contact, first-feedback and closure clocks start here.
    pub received_at: DateTime<Utc>,
    pub category: Category,
    /// Every dispatch, oldest first; the last one runs the current sign-for clock.
    pub dispatches: Vec<DispatchSpan>,
    /// The first contact whose outcome was `reached`.
    pub first_contact_reached_at: Option<DateTime<Utc>>,
    pub first_feedback_at: Option<DateTime<Utc>>,
    /// The latest approved extension, if any.
    pub extension: Option<ExtensionGrant>,
    /// When the chief approved the feedback form (cleared again by a reopen).
    pub closed_at: Option<DateTime<Utc>>,
    /// The latest reopen (重办) after a dissatisfied return visit: the closure clock restarts here.
    pub reopened_at: Option<DateTime<Utc>>,
    /// Who held the letter when, oldest first.
    pub holdings: Vec<Holding>,
}

/// One clock, read at `now`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ClockReading {
    pub kind: ClockKind,
    pub started_at: DateTime<Utc>,
    /// The deadline in force (after an approved extension, the new one).
    pub due_at: DateTime<Utc>,
    /// The deadline before any extension, kept for scoring; `None` when not extended.
    pub original_due_at: Option<DateTime<Utc>>,
    pub state: ClockState,
    pub band: Band,
    /// Seconds left until `due_at` at `now` (negative when late); for a met clock,
    /// the margin it was met with (negative when met late).
    #[ts(type = "number")]
    pub remaining_secs: i64,
    pub met_at: Option<DateTime<Utc>>,
}

/// All of a letter's clocks, read at `now`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct LetterClocks {
    /// The current dispatch's sign-for clock; `None` before the first dispatch.
    pub sign_for: Option<ClockReading>,
    pub contact: ClockReading,
    pub first_feedback: ClockReading,
    pub closure: ClockReading,
    /// The running clock that is most urgent (least time left); `None` when none runs.
    pub most_urgent: Option<ClockKind>,
}

/// Time a tier held the letter, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct TierTime {
    pub tier: Tier,
    #[ts(type = "number")]
    pub held_secs: i64,
}
