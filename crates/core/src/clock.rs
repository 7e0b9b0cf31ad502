//! The SLA clocks (签收 10 分钟, 联系 30 分钟, 首次反馈 4 日, 办结 15 日) under a policy.
//!
//! Everything here is a pure function of the letter's clock inputs, the policy and `now`:
//! the server and every desktop compute the same deadlines from the same events.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::calendar::WorkCalendar;
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

/// The colour of a clock not yet met at `now`: overdue strictly after its due time, amber
/// from its warn time on, green before. The one statement of the rule; generic so that the
/// desktop cache applies it to its stored instants (`jsjb_store`'s inbox) exactly as the
/// clocks here apply it to theirs.
pub fn running_band<T: PartialOrd>(now: T, due: T, warn_from: T) -> Band {
    if now > due {
        Band::Overdue
    } else if now >= warn_from {
        Band::Warning
    } else {
        Band::Ok
    }
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
#[serde(deny_unknown_fields)]
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
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub sign_for: ClockRule,
    pub contact: ClockRule,
    pub first_feedback: ClockRule,
    /// The closure rule for categories without their own entry.
    pub closure: ClockRule,
    /// Per-category closure rules, overriding `closure`.
    pub closure_by_category: Vec<(Category, ClockRule)>,
    /// 派发时限: how long a desk may keep a letter in `received` (new, returned, reopened
    /// to it) before it must dispatch or rule on it. Drives the desk's arrival alarm; not
    /// one of the scored clocks. Absent from an older stored policy: the default applies.
    #[serde(default = "default_desk_dispatch")]
    pub desk_dispatch: ClockRule,
    /// 逐级上报: which breached clocks the desks above the holder hear of, and when.
    /// Absent from an older stored policy: the default applies.
    #[serde(default)]
    pub escalation: EscalationRule,
}

/// Escalation upward (issue 12 item 5): when a clock that can still be saved breaches
/// at a unit, the desks of the tiers that dispatched the letter down are told, so that a
/// station asleep at its post is noticed by its branch (and, at `tiers_up: 2`, by the
/// city). Configuration, not code: a bureau may escalate later or further.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct EscalationRule {
    /// The clocks whose breach is escalated; none: escalation is off.
    pub clocks: Vec<ClockKind>,
    /// How long after the breach the tier above is told, in seconds (0: at once).
    #[ts(type = "number")]
    pub grace_secs: i64,
    /// How many tiers above the holder are told (1: the desk that dispatched it there).
    pub tiers_up: u8,
}

/// The Shenzhen default: a breached 签收 or 联系 clock is the desk above's business at once.
impl Default for EscalationRule {
    fn default() -> Self {
        EscalationRule {
            clocks: vec![ClockKind::SignFor, ClockKind::Contact],
            grace_secs: 0,
            tiers_up: 1,
        }
    }
}

/// The desk's default: dispatch or rule within 10 minutes, amber for the last 3.
fn default_desk_dispatch() -> ClockRule {
    ClockRule::calendar(10 * MINUTE, 3 * MINUTE)
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
    /// The current dispatch's sign-for clock; `None` before the first dispatch and
    /// when the last dispatch left its unit unsigned (the letter is back at a desk).
    pub sign_for: Option<ClockReading>,
    pub contact: ClockReading,
    pub first_feedback: ClockReading,
    pub closure: ClockReading,
    /// The unmet (running or breached) clock with the least time left, ties going to
    /// the earlier clock in [`ClockKind::ALL`]; `None` when every clock is met.
    pub most_urgent: Option<ClockKind>,
}

/// Time a tier held the letter, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct TierTime {
    pub tier: Tier,
    #[ts(type = "number")]
    pub held_secs: i64,
}

impl ClockKind {
    /// Every clock, in the order used to break ties between equally urgent clocks.
    pub const ALL: [ClockKind; 4] = [
        ClockKind::SignFor,
        ClockKind::Contact,
        ClockKind::FirstFeedback,
        ClockKind::Closure,
    ];

    /// The stable name used on the wire and in the databases.
    pub fn as_str(self) -> &'static str {
        match self {
            ClockKind::SignFor => "sign_for",
            ClockKind::Contact => "contact",
            ClockKind::FirstFeedback => "first_feedback",
            ClockKind::Closure => "closure",
        }
    }
}

impl std::fmt::Display for ClockKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

const MINUTE: i64 = 60;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// A working-day count above this (about a century of working days) saturates the
/// deadline to the end of time instead of walking the calendar day by day.
const MAX_WORKING_DAYS: i64 = 36_600;

impl ClockRule {
    /// A rule counted in calendar time.
    pub const fn calendar(due_after_secs: i64, warn_before_secs: i64) -> ClockRule {
        ClockRule {
            due_after_secs,
            warn_before_secs,
            counting: Counting::Calendar,
        }
    }

    /// A rule counted in whole working days.
    pub const fn working_days(days: i64, warn_before_secs: i64) -> ClockRule {
        ClockRule {
            due_after_secs: days.saturating_mul(DAY),
            warn_before_secs,
            counting: Counting::WorkingDays,
        }
    }
}

/// Which rule of a policy an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleRef {
    pub clock: ClockKind,
    /// Set for a per-category closure rule.
    pub category: Option<Category>,
}

impl std::fmt::Display for RuleRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.category {
            None => write!(f, "the {} clock", self.clock),
            Some(category) => write!(f, "the {} clock for {category}", self.clock),
        }
    }
}

/// Why a clock policy was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("{rule}: the time allowed must be positive, not {secs} s")]
    NonPositiveDuration { rule: RuleRef, secs: i64 },
    #[error("{rule}: the warn window must not be negative, not {secs} s")]
    NegativeWarnWindow { rule: RuleRef, secs: i64 },
    #[error(
        "{rule}: the warn window ({warn_secs} s) must be shorter than the time allowed ({due_secs} s)"
    )]
    WarnWindowTooLong {
        rule: RuleRef,
        warn_secs: i64,
        due_secs: i64,
    },
    #[error(
        "{rule}: counted in working days, the time allowed must be a whole number of days, not {secs} s"
    )]
    FractionalWorkingDays { rule: RuleRef, secs: i64 },
    #[error("the closure rule for {0} is given more than once")]
    DuplicateCategory(Category),
    /// The desk's dispatch rule is wrong; the inner error names the sign-for clock, whose
    /// checks it shares.
    #[error("the desk dispatch rule: {0}")]
    DeskDispatch(Box<PolicyError>),
    /// The escalation rule waits a negative time, or tells no tier at all.
    #[error("the escalation rule needs a grace of 0 s or more and at least one tier up")]
    Escalation,
}

impl Policy {
    /// The Shenzhen defaults (DOMAIN.md): 签收 10 min, 联系 30 min, 首次反馈 4 days,
    /// 办结 15 days, all in calendar time because the desks work 7×24.
    pub fn shenzhen() -> Policy {
        Policy {
            sign_for: ClockRule::calendar(10 * MINUTE, 3 * MINUTE),
            contact: ClockRule::calendar(30 * MINUTE, 10 * MINUTE),
            first_feedback: ClockRule::calendar(4 * DAY, 24 * HOUR),
            closure: ClockRule::calendar(15 * DAY, 48 * HOUR),
            closure_by_category: Vec::new(),
            desk_dispatch: default_desk_dispatch(),
            escalation: EscalationRule::default(),
        }
    }

    /// The closure rule for a category: its own entry, else the general one.
    pub fn closure_rule(&self, category: Category) -> ClockRule {
        self.closure_by_category
            .iter()
            .find(|(c, _)| *c == category)
            .map_or(self.closure, |(_, rule)| *rule)
    }

    /// Checks that every rule makes sense: a positive time allowed, a warn window that
    /// is not negative and shorter than the time allowed, whole days when counted in
    /// working days, and at most one closure rule per category.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let general = [
            (ClockKind::SignFor, &self.sign_for),
            (ClockKind::Contact, &self.contact),
            (ClockKind::FirstFeedback, &self.first_feedback),
            (ClockKind::Closure, &self.closure),
        ];
        for (clock, rule) in general {
            check_rule(
                RuleRef {
                    clock,
                    category: None,
                },
                rule,
            )?;
        }
        let mut seen = std::collections::BTreeSet::new();
        for (category, rule) in &self.closure_by_category {
            if !seen.insert(*category) {
                return Err(PolicyError::DuplicateCategory(*category));
            }
            check_rule(
                RuleRef {
                    clock: ClockKind::Closure,
                    category: Some(*category),
                },
                rule,
            )?;
        }
        check_rule(
            RuleRef {
                clock: ClockKind::SignFor,
                category: None,
            },
            &self.desk_dispatch,
        )
        .map_err(|e| PolicyError::DeskDispatch(Box::new(e)))?;
        let escalation = &self.escalation;
        if escalation.grace_secs < 0 || escalation.tiers_up == 0 {
            return Err(PolicyError::Escalation);
        }
        Ok(())
    }
}

/// When a desk holding a letter in `received` must have dispatched or ruled on it: the
/// policy's [`Policy::desk_dispatch`] counted from when the desk began holding it (the
/// open holding: receipt for a new letter, the 退单 for a returned one), else receipt.
pub fn desk_dispatch_due(
    inputs: &ClockInputs,
    policy: &Policy,
    calendar: &WorkCalendar,
) -> DateTime<Utc> {
    let since = inputs
        .holdings
        .last()
        .filter(|h| h.until.is_none())
        .map_or(inputs.received_at, |h| h.from);
    due_time(since, &policy.desk_dispatch, calendar)
}

fn check_rule(rule_ref: RuleRef, rule: &ClockRule) -> Result<(), PolicyError> {
    let (due_secs, warn_secs) = (rule.due_after_secs, rule.warn_before_secs);
    if due_secs <= 0 {
        return Err(PolicyError::NonPositiveDuration {
            rule: rule_ref,
            secs: due_secs,
        });
    }
    if warn_secs < 0 {
        return Err(PolicyError::NegativeWarnWindow {
            rule: rule_ref,
            secs: warn_secs,
        });
    }
    if warn_secs >= due_secs {
        return Err(PolicyError::WarnWindowTooLong {
            rule: rule_ref,
            warn_secs,
            due_secs,
        });
    }
    if rule.counting == Counting::WorkingDays && due_secs % DAY != 0 {
        return Err(PolicyError::FractionalWorkingDays {
            rule: rule_ref,
            secs: due_secs,
        });
    }
    Ok(())
}

/// The deadline of a clock started at `start` under `rule`.
///
/// - `Counting::Calendar`: `start` + the time allowed.
/// - `Counting::WorkingDays` with N days: the **first instant by which N × 24 h of
///   working time have passed since `start`**, where working time is the time that
///   falls on working days of `calendar`, days being cut at midnight China Standard
///   Time (UTC+8). In practice:
///   - a start inside a working day, at time of day T: due at T on the N-th working
///     day after the start day (received Thu 2026-02-12 15:00, 3 working days → the
///     Spring Festival 15–23 Feb is skipped and the 调休 Saturday 14 Feb counts:
///     Fri 13th, Sat 14th, Tue 24th → due Tue 2026-02-24 15:00);
///   - a start on a rest day (weekend, holiday) or at exactly 00:00: the count begins
///     at 00:00 of the first working day on or after it, and the clock is due at the
///     end (24:00, i.e. 00:00 of the next calendar day) of the N-th working day counted
///     from that one (received Sat 10:00, 1 working day → due at the end of Monday).
///
///   A time allowed that is not a whole number of days (rejected by
///   [`Policy::validate`]) is rounded up to whole days; zero or negative gives `start`.
///
/// Never panics: a deadline beyond what `DateTime` can hold saturates to its maximum.
pub fn due_time(start: DateTime<Utc>, rule: &ClockRule, calendar: &WorkCalendar) -> DateTime<Utc> {
    match rule.counting {
        Counting::Calendar => add_secs(start, rule.due_after_secs),
        Counting::WorkingDays => {
            add_working_days(start, whole_days_rounded_up(rule.due_after_secs), calendar)
        }
    }
}

fn whole_days_rounded_up(secs: i64) -> i64 {
    if secs <= 0 {
        return 0;
    }
    secs / DAY + i64::from(secs % DAY != 0)
}

/// `t + secs`, saturating at the ends of time.
fn add_secs(t: DateTime<Utc>, secs: i64) -> DateTime<Utc> {
    TimeDelta::try_seconds(secs)
        .and_then(|delta| t.checked_add_signed(delta))
        .unwrap_or(if secs < 0 {
            DateTime::<Utc>::MIN_UTC
        } else {
            DateTime::<Utc>::MAX_UTC
        })
}

fn cst_offset() -> TimeDelta {
    TimeDelta::seconds(i64::from(crate::cst().local_minus_utc()))
}

/// The wall-clock time in China Standard Time.
fn to_cst(t: DateTime<Utc>) -> Option<NaiveDateTime> {
    t.naive_utc().checked_add_signed(cst_offset())
}

fn from_cst(local: NaiveDateTime) -> Option<DateTime<Utc>> {
    local
        .checked_sub_signed(cst_offset())
        .map(|utc| utc.and_utc())
}

fn add_working_days(start: DateTime<Utc>, days: i64, calendar: &WorkCalendar) -> DateTime<Utc> {
    if days <= 0 {
        return start;
    }
    if days > MAX_WORKING_DAYS {
        return DateTime::<Utc>::MAX_UTC;
    }
    let Some(local) = to_cst(start) else {
        return DateTime::<Utc>::MAX_UTC;
    };
    let (day, time) = (local.date(), local.time());
    let due = if time != NaiveTime::MIN && calendar.is_working_day(day) {
        // Inside a working day: the rest of today plus N − 1 whole days plus T on the
        // N-th working day make N days of working time.
        nth_working_day_after(day, days, calendar).map(|d| d.and_time(time))
    } else {
        // No working time accrues before the first working day's 00:00; N whole
        // working days from there end at 24:00 of the N-th one.
        first_working_day_from(day, calendar)
            .and_then(|first| nth_working_day_after(first, days - 1, calendar))
            .and_then(|last| last.succ_opt())
            .map(|next| next.and_time(NaiveTime::MIN))
    };
    due.and_then(from_cst).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The first working day on or after `day`; `None` only at the end of time.
fn first_working_day_from(mut day: NaiveDate, calendar: &WorkCalendar) -> Option<NaiveDate> {
    // Terminates: the calendar has finitely many holidays, and outside them every
    // Monday is a working day.
    while !calendar.is_working_day(day) {
        day = day.succ_opt()?;
    }
    Some(day)
}

/// The `n`-th working day after `day` (`day` itself when `n` is 0).
fn nth_working_day_after(mut day: NaiveDate, n: i64, calendar: &WorkCalendar) -> Option<NaiveDate> {
    let mut counted = 0;
    while counted < n {
        day = day.succ_opt()?;
        if calendar.is_working_day(day) {
            counted += 1;
        }
    }
    Some(day)
}

/// Whole seconds from `from` to `to`, rounded down (so 0.3 s late is −1 s), saturating.
fn secs_between(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    to.timestamp_micros()
        .saturating_sub(from.timestamp_micros())
        .div_euclid(1_000_000)
}

/// One clock's inputs, before reading it at `now`.
struct ClockRun {
    kind: ClockKind,
    started_at: DateTime<Utc>,
    due_at: DateTime<Utc>,
    original_due_at: Option<DateTime<Utc>>,
    met_at: Option<DateTime<Utc>>,
    warn_before_secs: i64,
}

impl ClockRun {
    fn from_rule(
        kind: ClockKind,
        started_at: DateTime<Utc>,
        rule: &ClockRule,
        met_at: Option<DateTime<Utc>>,
        calendar: &WorkCalendar,
    ) -> ClockRun {
        ClockRun {
            kind,
            started_at,
            due_at: due_time(started_at, rule, calendar),
            original_due_at: None,
            met_at,
            warn_before_secs: rule.warn_before_secs,
        }
    }

    fn read(self, now: DateTime<Utc>) -> ClockReading {
        let due = self.due_at;
        let (state, band, remaining_secs) = match self.met_at {
            // The event is a recorded fact: it meets the clock even if `now` (a
            // workstation's clock) lags behind the server's timestamp of it.
            Some(met) if met <= due => (ClockState::Met, Band::Done, secs_between(met, due)),
            Some(met) => (ClockState::MetLate, Band::Done, late_secs(met, due)),
            None if now > due => (ClockState::Breached, Band::Overdue, late_secs(now, due)),
            None => {
                let warn_from = add_secs(due, self.warn_before_secs.saturating_neg());
                (
                    ClockState::Running,
                    running_band(now, due, warn_from),
                    secs_between(now, due),
                )
            }
        };
        ClockReading {
            kind: self.kind,
            started_at: self.started_at,
            due_at: due,
            original_due_at: self.original_due_at,
            state,
            band,
            remaining_secs,
            met_at: self.met_at,
        }
    }
}

/// Seconds left at `at`, strictly after `due`: always negative, even when late by
/// less than the clock's resolution.
fn late_secs(at: DateTime<Utc>, due: DateTime<Utc>) -> i64 {
    secs_between(at, due).min(-1)
}

/// When the unit signed for the letter, if it did while it held it.
fn signed_at(span: &DispatchSpan) -> Option<DateTime<Utc>> {
    span.signed_at
        .filter(|signed| span.ended_at.is_none_or(|ended| *signed <= ended))
}

/// Whether a dispatch was signed for within its sign-for clock, for the response rate
/// (响应率): `Some(true)` signed at or before the due time, `Some(false)` signed late
/// or left the unit unsigned, `None` not signed and still with the unit.
pub fn sign_for_met(span: &DispatchSpan, policy: &Policy, calendar: &WorkCalendar) -> Option<bool> {
    match (signed_at(span), span.ended_at) {
        (Some(signed), _) => {
            Some(signed <= due_time(span.dispatched_at, &policy.sign_for, calendar))
        }
        (None, Some(_)) => Some(false),
        (None, None) => None,
    }
}

/// Reads every clock of a letter at `now`.
///
/// - 签收 runs for the **last** dispatch only (a re-dispatch restarts it); it is `None`
///   before the first dispatch and when the last dispatch left the unit unsigned (the
///   letter is back at a desk, and no unit owes a sign-for). Earlier dispatches are
///   scored with [`sign_for_met`].
/// - 联系, 首次反馈 and 办结 run from receipt; nothing a unit does restarts them.
/// - An approved extension moves the 办结 deadline to `new_due` (even when granted
///   after the policy deadline had passed) and keeps the policy deadline in
///   `original_due_at`.
/// - A reopen (重办) restarts 办结 at `reopened_at` with the category's full duration;
///   only an extension decided at or after the reopen, and only a closure at or after
///   it, count for the new run. 联系 and 首次反馈 keep their results.
///
/// A clock is met when its event is at or before the due time and breached only
/// strictly after it; at exactly the due time with no event it is still running.
pub fn evaluate(
    inputs: &ClockInputs,
    policy: &Policy,
    calendar: &WorkCalendar,
    now: DateTime<Utc>,
) -> LetterClocks {
    // A closed case stops every clock: what was not met by the closure stays as it was
    // then (a breach stays a breach) and no longer asks for anyone's attention.
    let closed_at = inputs
        .closed_at
        .filter(|c| inputs.reopened_at.is_none_or(|r| *c >= r));
    let read_at = closed_at.map_or(now, |c| c.min(now));
    let sign_for = inputs.dispatches.last().and_then(|span| {
        let signed = signed_at(span);
        if signed.is_none() && span.ended_at.is_some() {
            return None;
        }
        Some(
            ClockRun::from_rule(
                ClockKind::SignFor,
                span.dispatched_at,
                &policy.sign_for,
                signed,
                calendar,
            )
            .read(read_at),
        )
    });
    let contact = ClockRun::from_rule(
        ClockKind::Contact,
        inputs.received_at,
        &policy.contact,
        inputs.first_contact_reached_at,
        calendar,
    )
    .read(read_at);
    let first_feedback = ClockRun::from_rule(
        ClockKind::FirstFeedback,
        inputs.received_at,
        &policy.first_feedback,
        inputs.first_feedback_at,
        calendar,
    )
    .read(read_at);
    let closure = closure_run(inputs, policy, calendar).read(now);
    let (mut sign_for, mut contact, mut first_feedback) = (sign_for, contact, first_feedback);
    if closed_at.is_some() {
        for reading in [
            sign_for.as_mut(),
            Some(&mut contact),
            Some(&mut first_feedback),
        ]
        .into_iter()
        .flatten()
        {
            reading.band = Band::Done;
        }
    }
    let most_urgent = [
        sign_for.as_ref(),
        Some(&contact),
        Some(&first_feedback),
        Some(&closure),
    ]
    .into_iter()
    .flatten()
    .filter(|r| r.band != Band::Done)
    .min_by_key(|r| (r.remaining_secs, r.kind))
    .map(|r| r.kind);
    LetterClocks {
        sign_for,
        contact,
        first_feedback,
        closure,
        most_urgent,
    }
}

fn closure_run(inputs: &ClockInputs, policy: &Policy, calendar: &WorkCalendar) -> ClockRun {
    let rule = policy.closure_rule(inputs.category);
    let reopened = inputs.reopened_at;
    let counts = |at: DateTime<Utc>| reopened.is_none_or(|reopen| at >= reopen);
    let started_at = reopened.unwrap_or(inputs.received_at);
    let met_at = inputs.closed_at.filter(|closed| counts(*closed));
    let mut run = ClockRun::from_rule(ClockKind::Closure, started_at, &rule, met_at, calendar);
    if let Some(extension) = inputs.extension.filter(|e| counts(e.decided_at)) {
        run.original_due_at = Some(run.due_at);
        run.due_at = extension.new_due;
    }
    run
}

impl LetterClocks {
    /// The reading of one clock (`None` for 签收 when no sign-for clock runs).
    pub fn get(&self, kind: ClockKind) -> Option<&ClockReading> {
        match kind {
            ClockKind::SignFor => self.sign_for.as_ref(),
            ClockKind::Contact => Some(&self.contact),
            ClockKind::FirstFeedback => Some(&self.first_feedback),
            ClockKind::Closure => Some(&self.closure),
        }
    }

    /// Every clock of the letter: sign-for (when there is one), contact, first
    /// feedback, closure.
    pub fn readings(&self) -> impl Iterator<Item = &ClockReading> {
        [
            self.sign_for.as_ref(),
            Some(&self.contact),
            Some(&self.first_feedback),
            Some(&self.closure),
        ]
        .into_iter()
        .flatten()
    }

    /// The reading of the most urgent clock, which gives an inbox row its colour.
    pub fn most_urgent_reading(&self) -> Option<&ClockReading> {
        self.most_urgent.and_then(|kind| self.get(kind))
    }
}

/// How long each tier held the letter, from `holdings` (a holding still open counts
/// until `now`): always three entries, City, Branch, Station in that order.
pub fn tier_times(inputs: &ClockInputs, now: DateTime<Utc>) -> Vec<TierTime> {
    Tier::ALL
        .iter()
        .map(|&tier| TierTime {
            tier,
            held_secs: inputs
                .holdings
                .iter()
                .filter(|h| h.tier == tier)
                .map(|h| secs_between(h.from, h.until.unwrap_or(now)).max(0))
                .fold(0, i64::saturating_add),
        })
        .collect()
}
