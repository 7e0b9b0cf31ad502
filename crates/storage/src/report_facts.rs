//! The derived table `report_facts`, which both backends keep the same way: one row per
//! fact of a letter's `jsjb_core::report::LetterFacts`, by kind. Defined once here so
//! that the two backends' rows, and so their reports, cannot drift apart (their
//! aggregates are compared in `storage-postgres/tests/reports.rs`).

use chrono::{DateTime, Utc};
use jsjb_core::org::{Tier, UnitId, UserId};
use jsjb_core::report::{LetterFacts, Outcome, Rate};

/// `report_facts.kind`.
pub const RESPONSE: i16 = 1;
pub const RESOLUTION: i16 = 2;
pub const VISIT: i16 = 3;
/// A clock deadline that is or may become late (met and void ones are not kept).
pub const DEADLINE: i16 = 4;
pub const HOLDING: i16 = 5;
pub const RECEIVED: i16 = 6;
pub const PROBLEM: i16 = 7;

/// The kind a rate's facts are kept under.
pub fn rate_kind(rate: Rate) -> i16 {
    match rate {
        Rate::Response => RESPONSE,
        Rate::Resolution => RESOLUTION,
        Rate::Satisfaction => VISIT,
    }
}

/// The rate a kind counts toward, if any.
pub fn kind_rate(kind: i16) -> Option<Rate> {
    match kind {
        RESPONSE => Some(Rate::Response),
        RESOLUTION => Some(Rate::Resolution),
        VISIT => Some(Rate::Satisfaction),
        _ => None,
    }
}

/// A time as `report_facts` keeps it: Unix microseconds.
pub fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

/// One row of `report_facts`.
pub struct FactRow {
    pub kind: i16,
    /// Unix microseconds.
    pub at: i64,
    pub unit: UnitId,
    pub tier: Tier,
    pub user: Option<UserId>,
    pub counts_after: Option<i64>,
    pub met: Option<bool>,
    pub until: Option<i64>,
    pub tag: Option<String>,
}

impl FactRow {
    pub fn new(kind: i16, at: DateTime<Utc>, unit: UnitId, tier: Tier) -> Self {
        FactRow {
            kind,
            at: micros(at),
            unit,
            tier,
            user: None,
            counts_after: None,
            met: None,
            until: None,
            tag: None,
        }
    }

    pub fn outcome(mut self, outcome: Outcome) -> Self {
        let (counts_after, met) = outcome.encode();
        self.counts_after = Some(counts_after);
        self.met = Some(met);
        self
    }
}

/// The rows of one letter's facts (`tier_of`: the tier of each unit, for the facts
/// that do not carry one).
pub fn rows(
    facts: &LetterFacts,
    tags: &[String],
    tier_of: impl Fn(UnitId) -> Tier,
) -> Vec<FactRow> {
    let mut out = Vec::new();
    let area_tier = tier_of(facts.area);
    out.push(FactRow::new(
        RECEIVED,
        facts.received_at,
        facts.area,
        area_tier,
    ));
    for tag in tags {
        out.push(FactRow {
            tag: Some(tag.clone()),
            ..FactRow::new(PROBLEM, facts.received_at, facts.area, area_tier)
        });
    }
    for r in &facts.responses {
        out.push(
            FactRow {
                user: r.officer,
                ..FactRow::new(RESPONSE, r.dispatched_at, r.unit, r.tier)
            }
            .outcome(r.outcome),
        );
    }
    let res = &facts.resolution;
    out.push(
        FactRow {
            user: res.officer,
            ..FactRow::new(RESOLUTION, res.due_at, res.unit, tier_of(res.unit))
        }
        .outcome(res.outcome),
    );
    for v in &facts.visits {
        let outcome = if v.satisfied {
            Outcome::Met
        } else {
            Outcome::Missed
        };
        out.push(
            FactRow {
                user: v.officer,
                ..FactRow::new(VISIT, v.at, v.unit, tier_of(v.unit))
            }
            .outcome(outcome),
        );
    }
    for d in &facts.deadlines {
        // Only a miss counts as overdue: met and void deadlines never will.
        if matches!(d.outcome, Outcome::Missed | Outcome::Open { .. }) {
            out.push(FactRow::new(DEADLINE, d.due_at, d.unit, d.tier).outcome(d.outcome));
        }
    }
    for h in &facts.holdings {
        out.push(FactRow {
            until: h.until.map(micros),
            ..FactRow::new(HOLDING, h.from, h.unit, h.tier)
        });
    }
    out
}
