//! The clock rules a platform runs under, as data: the policy's eras (each in force from
//! a stated moment) and the working-day calendar's years. The server loads them from its
//! configuration and serves them with a version; every desktop uses the server's rules
//! once it has connected (issue 14 item 2).
//!
//! **A change never rewrites the past.** A rule change is a new era from a stated moment
//! on, and each clock of a letter follows the era in force when *that clock started*:
//! 联系 and 首次反馈 at receipt, 办结 at receipt (or at the latest 重办), 签收 at the
//! latest dispatch, the desk's 派发时限 when the desk began holding the letter. So a
//! letter received before the change keeps the deadlines it was given, and a clock that
//! starts after the change runs under the new rule. [`check_successor`] refuses new rules
//! that would alter an era or a calendar day already begun.

use std::borrow::Cow;
use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::calendar::{CalendarError, WorkCalendar, YearData};
use crate::clock::{ClockInputs, Policy, PolicyError};
use crate::letter::Category;
use crate::workflow::{EventPayload, LetterStatus};

/// One era of the policy: the rules of every clock that starts at or after `from`
/// (until the next era).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct PolicyEra {
    pub from: DateTime<Utc>,
    pub policy: Policy,
}

/// One year of the working-day calendar, as a State Council notice states it: the days
/// off (放假) and the weekend days worked (调休上班).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct CalendarYear {
    pub year: i32,
    /// Only the statutory holidays are known; the notice was not out yet.
    #[serde(default)]
    pub provisional: bool,
    pub holidays: Vec<NaiveDate>,
    pub makeup_days: Vec<NaiveDate>,
}

/// The rules as configured and served: the eras, oldest first (the first applies to
/// everything before it too), and the calendar's years.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct RulesDoc {
    pub eras: Vec<PolicyEra>,
    pub calendar: Vec<CalendarYear>,
}

/// Why rules were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesError {
    #[error("the rules need at least one era")]
    NoEra,
    #[error("the eras must start at strictly increasing moments ({0} is out of order)")]
    EraOrder(DateTime<Utc>),
    #[error("the era from {from}: {error}")]
    Policy {
        from: DateTime<Utc>,
        error: PolicyError,
    },
    #[error("the calendar gives {0} twice")]
    DuplicateYear(i32),
    #[error("the calendar for {year}: {error}")]
    Calendar { year: i32, error: CalendarError },
    #[error(
        "the era from {0} has begun: it cannot be changed or removed, only followed by a new era"
    )]
    PastEraChanged(DateTime<Utc>),
    #[error("a new era must start in the future, not at {0}")]
    EraInThePast(DateTime<Utc>),
    #[error("{0} is already past: its place in the working-day calendar cannot change")]
    PastDayChanged(NaiveDate),
}

/// Validated rules, with the calendar built from them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    doc: RulesDoc,
    calendar: WorkCalendar,
}

impl Rules {
    /// Checks the document: eras in strictly increasing order, each policy valid, each
    /// calendar year given once with days inside it and no day both off and worked.
    pub fn new(doc: RulesDoc) -> Result<Rules, RulesError> {
        if doc.eras.is_empty() {
            return Err(RulesError::NoEra);
        }
        for pair in doc.eras.windows(2) {
            if pair[1].from <= pair[0].from {
                return Err(RulesError::EraOrder(pair[1].from));
            }
        }
        for era in &doc.eras {
            era.policy.validate().map_err(|error| RulesError::Policy {
                from: era.from,
                error,
            })?;
        }
        let mut calendar = WorkCalendar::default();
        let mut seen = BTreeSet::new();
        for year in &doc.calendar {
            if !seen.insert(year.year) {
                return Err(RulesError::DuplicateYear(year.year));
            }
            calendar = calendar
                .with_year(
                    year.year,
                    year.holidays.iter().copied(),
                    year.makeup_days.iter().copied(),
                )
                .map(|c| {
                    if year.provisional {
                        c.mark_provisional(year.year)
                    } else {
                        c
                    }
                })
                .map_err(|error| RulesError::Calendar {
                    year: year.year,
                    error,
                })?;
        }
        Ok(Rules { doc, calendar })
    }

    /// The built-in rules: the Shenzhen policy since the beginning of time and China's
    /// calendar as compiled in (2027 provisional). What a server serves when it is not
    /// configured otherwise, and what a desktop uses before it first connects.
    pub fn shenzhen() -> Rules {
        let calendar = WorkCalendar::china();
        let doc = RulesDoc {
            eras: vec![PolicyEra {
                from: DateTime::<Utc>::UNIX_EPOCH,
                policy: Policy::shenzhen(),
            }],
            calendar: calendar_years(&calendar),
        };
        Rules { doc, calendar }
    }

    pub fn doc(&self) -> &RulesDoc {
        &self.doc
    }

    pub fn calendar(&self) -> &WorkCalendar {
        &self.calendar
    }

    /// The era in force at `at` (the first era before it begins).
    pub fn policy_at(&self, at: DateTime<Utc>) -> &Policy {
        let later = self.doc.eras.partition_point(|era| era.from <= at);
        &self.doc.eras[later.saturating_sub(1)].policy
    }

    /// The policy in force now (what the portal promises a writer today).
    pub fn current(&self, now: DateTime<Utc>) -> &Policy {
        self.policy_at(now)
    }

    /// The policy a letter's clocks run under: each clock's rule from the era in force
    /// when that clock started (see the module docs). Borrowed when one era covers them
    /// all, which is every letter of a platform whose rules never changed.
    pub fn policy_for(&self, inputs: &ClockInputs) -> Cow<'_, Policy> {
        let received = inputs.received_at;
        let closure_start = inputs.reopened_at.unwrap_or(received);
        let dispatched = inputs
            .dispatches
            .last()
            .map_or(received, |d| d.dispatched_at);
        let held = inputs
            .holdings
            .last()
            .filter(|h| h.until.is_none())
            .map_or(received, |h| h.from);
        let base = self.policy_at(received);
        let starts = [closure_start, dispatched, held];
        if starts
            .iter()
            .all(|at| std::ptr::eq(self.policy_at(*at), base))
        {
            return Cow::Borrowed(base);
        }
        let closure = self.policy_at(closure_start);
        let mut policy = base.clone();
        policy.closure = closure.closure;
        policy.closure_by_category = closure.closure_by_category.clone();
        policy.sign_for = self.policy_at(dispatched).sign_for;
        policy.desk_dispatch = self.policy_at(held).desk_dispatch;
        Cow::Owned(policy)
    }

    /// [`Rules::policy_for`] of a letter given by its history (oldest first); the one
    /// era's policy without folding it when the rules never changed.
    pub fn letter_policy<'a, 'e>(
        &'a self,
        category: Category,
        events: impl IntoIterator<Item = (DateTime<Utc>, &'e EventPayload)>,
    ) -> Cow<'a, Policy> {
        if let [only] = self.doc.eras.as_slice() {
            return Cow::Borrowed(&only.policy);
        }
        match LetterStatus::from_events(category, events) {
            Some(status) => self.policy_for(&status.clock_inputs),
            // Not a letter's history: the first era, as for anything before the rules.
            None => Cow::Borrowed(&self.doc.eras[0].policy),
        }
    }
}

/// The calendar's years as data (what `Rules::shenzhen` serves).
fn calendar_years(calendar: &WorkCalendar) -> Vec<CalendarYear> {
    calendar
        .covered_years()
        .map(|year| {
            let days = |pick: fn(&WorkCalendar, NaiveDate) -> bool| -> Vec<NaiveDate> {
                year_days(year).filter(|d| pick(calendar, *d)).collect()
            };
            CalendarYear {
                year,
                provisional: calendar.year_data(year) == Some(YearData::Provisional),
                holidays: days(WorkCalendar::is_holiday),
                makeup_days: days(WorkCalendar::is_makeup_day),
            }
        })
        .collect()
}

fn year_days(year: i32) -> impl Iterator<Item = NaiveDate> {
    NaiveDate::from_ymd_opt(year, 1, 1)
        .into_iter()
        .flat_map(|first| first.iter_days())
        .take_while(move |d| d.year() == year)
}

/// Whether `new` may replace `old` at `now` without rewriting the past: every era of
/// `old` that has begun is in `new` unchanged, every era `new` adds starts after `now`,
/// and every calendar day before today (CST) is a working day or not exactly as before.
pub fn check_successor(old: &Rules, new: &Rules, now: DateTime<Utc>) -> Result<(), RulesError> {
    for era in old.doc.eras.iter().filter(|e| e.from <= now) {
        if !new.doc.eras.contains(era) {
            return Err(RulesError::PastEraChanged(era.from));
        }
    }
    for era in &new.doc.eras {
        if era.from <= now && !old.doc.eras.contains(era) {
            return Err(RulesError::EraInThePast(era.from));
        }
    }
    let today = now.with_timezone(&crate::CST).date_naive();
    let years = old
        .calendar
        .covered_years()
        .chain(new.calendar.covered_years())
        .filter(|y| *y <= today.year())
        .collect::<BTreeSet<_>>();
    for year in years {
        for day in year_days(year).take_while(|d| *d < today) {
            if old.calendar.is_working_day(day) != new.calendar.is_working_day(day) {
                return Err(RulesError::PastDayChanged(day));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
