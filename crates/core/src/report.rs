//! Reports (统计): what one letter contributes to the 三率, the overdue counts and the
//! time held, defined once here for the server's authoritative report and the
//! desktop's offline estimate alike.
//!
//! A letter's history is folded once into [`LetterFacts`]: one fact per dispatch (响应率),
//! one for the closure deadline (解决率), one per return visit (满意率), one per clock
//! that was or may become late (超时), and its holdings (time held). A fact whose
//! outcome is not decided yet carries the deadline after which it is a miss
//! ([`Outcome::Open`]): between two events nothing but the passing of a deadline can
//! change a letter's facts, so facts kept from the last event stay true until the next
//! one, and a store may keep them (the server does, in a table refreshed per change).
//!
//! Where the rules come from: DOMAIN.md's "Measures (三率)", with core's clocks
//! (`clock::evaluate`, `clock::due_time`), so a deadline here is the one the inbox
//! colours. The 退单 rule ([`response_outcome`]) is the one place a returned letter is
//! scored.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::calendar::WorkCalendar;
use crate::clock::{
    ClockKind, ClockReading, ClockState, DispatchSpan, Holding, Policy, due_time, evaluate,
};
use crate::letter::{Category, Satisfaction};
use crate::org::{Tier, UnitId, UserId};
use crate::workflow::{EventPayload, LetterStatus};

/// The numerators and denominators of the three rates (三率), so that a screen can show
/// both the rate and the counts behind it, and sum them over units.
///
/// - **响应率 (response rate)** = `signed_on_time / dispatched`.
///   `dispatched`: dispatches (派发, each dispatch of a letter to a unit counts once)
///   made in the period whose outcome is known — signed for, returned (退单), or
///   unsigned past the sign-for deadline; a dispatch still inside its sign-for clock is
///   not counted yet. `signed_on_time`: those signed for at or before the deadline (a
///   desk forwarding the letter counts as signing for it) or returned at or before it,
///   unless the desk then ruled the return unfounded (see [`response_outcome`]).
/// - **解决率 (resolution rate)** = `closed_on_time / due`.
///   `due`: letters whose closure deadline in force (after an approved extension, the
///   extended one; after a 重办, the new run's) falls in the period and whose closure
///   has an outcome (closed, or not closed by a deadline now past). `closed_on_time`:
///   those whose feedback form was approved at or before the deadline.
/// - **满意率 (satisfaction rate)** = `satisfied / visits`.
///   `visits`: return visits (回访) recorded in the period; `satisfied`: those recorded
///   as satisfied or basically satisfied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RateCounts {
    pub dispatched: u32,
    pub signed_on_time: u32,
    pub due: u32,
    pub closed_on_time: u32,
    pub visits: u32,
    pub satisfied: u32,
}

impl RateCounts {
    /// Adds another unit's counts (a subtree's rates are the sums of its units' counts).
    pub fn add(&mut self, other: &RateCounts) {
        self.dispatched = self.dispatched.saturating_add(other.dispatched);
        self.signed_on_time = self.signed_on_time.saturating_add(other.signed_on_time);
        self.due = self.due.saturating_add(other.due);
        self.closed_on_time = self.closed_on_time.saturating_add(other.closed_on_time);
        self.visits = self.visits.saturating_add(other.visits);
        self.satisfied = self.satisfied.saturating_add(other.satisfied);
    }

    /// Adds `counted` facts of `rate`, `met` of them met.
    pub fn count(&mut self, rate: Rate, counted: u32, met: u32) {
        let (den, num) = match rate {
            Rate::Response => (&mut self.dispatched, &mut self.signed_on_time),
            Rate::Resolution => (&mut self.due, &mut self.closed_on_time),
            Rate::Satisfaction => (&mut self.visits, &mut self.satisfied),
        };
        *den = den.saturating_add(counted);
        *num = num.saturating_add(met);
    }

    /// The rate as a fraction in `[0, 1]`, `None` when there is nothing to rate.
    pub fn rate(&self, rate: Rate) -> Option<f64> {
        let (num, den) = match rate {
            Rate::Response => (self.signed_on_time, self.dispatched),
            Rate::Resolution => (self.closed_on_time, self.due),
            Rate::Satisfaction => (self.satisfied, self.visits),
        };
        (den > 0).then(|| f64::from(num) / f64::from(den))
    }
}

/// One of the three rates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Rate {
    Response,
    Resolution,
    Satisfaction,
}

impl Rate {
    pub const ALL: [Rate; 3] = [Rate::Response, Rate::Resolution, Rate::Satisfaction];
}

/// The outcome of one fact, as far as the history tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// Met (on time).
    Met,
    /// Missed (late, or not at all by a deadline already past).
    Missed,
    /// Not decided: a miss strictly after `due` unless an event decides it first.
    Open { due: DateTime<Utc> },
    /// Never scored (a clock stopped by the closure before its deadline).
    Void,
}

impl Outcome {
    /// At `now` (server time, never before the letter's last event): `Some(met)` when
    /// the fact counts, `None` when it does not (yet).
    pub fn at(self, now: DateTime<Utc>) -> Option<bool> {
        let (counts_after, met) = self.encode();
        Outcome::counted(counts_after, met, now)
    }

    /// [`Outcome::at`] of an encoded outcome (as a store keeps it).
    pub fn counted(counts_after: i64, met: bool, now: DateTime<Utc>) -> Option<bool> {
        (counts_after < now.timestamp_micros()).then_some(met)
    }

    /// The outcome as two plain values a store can keep: the fact counts at `now` iff
    /// `counts_after < now` (Unix microseconds, the precision times are stored at), and
    /// then as met iff `met` ([`Outcome::counted`], which [`Outcome::at`] is too).
    pub fn encode(self) -> (i64, bool) {
        match self {
            Outcome::Met => (i64::MIN, true),
            Outcome::Missed => (i64::MIN, false),
            // Breached only strictly after the due time: counts once now > due.
            Outcome::Open { due } => (due.timestamp_micros(), false),
            Outcome::Void => (i64::MAX, false),
        }
    }
}

/// A dispatch to a unit, for the response rate: counted in the period of its dispatch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseFact {
    pub unit: UnitId,
    pub tier: Tier,
    /// The officer who signed for it (none for an unsigned dispatch).
    pub officer: Option<UserId>,
    pub dispatched_at: DateTime<Utc>,
    pub outcome: Outcome,
}

/// The closure deadline in force, for the resolution rate: counted in the period of
/// the deadline, for the unit handling the letter and its handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolutionFact {
    pub unit: UnitId,
    pub officer: Option<UserId>,
    pub due_at: DateTime<Utc>,
    pub outcome: Outcome,
}

/// A return visit, for the satisfaction rate: counted in the period of the visit, for
/// the unit holding the letter then and its handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitFact {
    pub unit: UnitId,
    pub officer: Option<UserId>,
    pub at: DateTime<Utc>,
    pub satisfied: bool,
}

/// A clock's deadline, for the overdue counts (超时): late when its outcome is a miss,
/// charged to the unit (and tier) holding the letter at the deadline — lateness goes to
/// the tier that spent the time. Every sign-for clock (one per dispatch; a dispatch
/// returned unsigned before its deadline is not late) and the contact, first-feedback
/// and closure clocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadlineFact {
    pub clock: ClockKind,
    pub unit: UnitId,
    pub tier: Tier,
    pub due_at: DateTime<Utc>,
    pub outcome: Outcome,
}

/// Everything one letter contributes to reports, from its history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LetterFacts {
    pub received_at: DateTime<Utc>,
    pub category: Category,
    /// The area the letter concerns: the jurisdiction of the last unit it was
    /// dispatched to (the desk that received it, when never dispatched). Letters carry
    /// no address; the unit whose 辖区 the desk sent it to is the area it is about.
    pub area: UnitId,
    pub responses: Vec<ResponseFact>,
    pub resolution: ResolutionFact,
    pub visits: Vec<VisitFact>,
    pub deadlines: Vec<DeadlineFact>,
    /// Who held the letter when (a holding still open runs until now).
    pub holdings: Vec<Holding>,
}

impl LetterFacts {
    /// The last moment this letter can count in a period: the latest of its facts' times
    /// and of its holdings' ends; `None` while a holding is open (it adds time held up to
    /// `now`). A period `[from, to)` with `from` after this moment gets nothing from the
    /// letter ([`Tally::add`] adds nothing), so a reader may skip it without folding it.
    pub fn counts_until(&self) -> Option<DateTime<Utc>> {
        let mut last = self.received_at.max(self.resolution.due_at);
        for r in &self.responses {
            last = last.max(r.dispatched_at);
        }
        for v in &self.visits {
            last = last.max(v.at);
        }
        for d in &self.deadlines {
            last = last.max(d.due_at);
        }
        for h in &self.holdings {
            last = last.max(h.until?);
        }
        Some(last)
    }
}

/// The response outcome of one dispatch — the rule for 响应率, DOMAIN.md:
/// - signed for (by the unit, or forwarded on by its desk) at or before the sign-for
///   deadline: met; later: missed;
/// - returned (退单) unsigned at or before the deadline: a timely response, met —
///   unless the desk then ruled the return unfounded and sent the letter back to the
///   same unit (`ruled_unfounded`), which makes it missed; returned after it: missed;
/// - still with the unit, unsigned: open until the deadline;
/// - left the unit some other way, unsigned: never scored.
///
/// A return ruled unfounded counts against the returning unit even when it had signed
/// for the letter first: it sent back a letter that was its own.
pub fn response_outcome(
    span: &DispatchSpan,
    is_last: bool,
    ruled_unfounded: bool,
    policy: &Policy,
    calendar: &WorkCalendar,
) -> Outcome {
    let due = due_time(span.dispatched_at, &policy.sign_for, calendar);
    let signed = span
        .signed_at
        .filter(|signed| span.ended_at.is_none_or(|ended| *signed <= ended));
    let decided = match (signed, span.ended_at) {
        (Some(signed), _) => Some(signed <= due),
        (None, Some(returned)) => Some(returned <= due),
        (None, None) if is_last => None,
        (None, None) => return Outcome::Void,
    };
    match decided {
        _ if ruled_unfounded => Outcome::Missed,
        Some(true) => Outcome::Met,
        Some(false) => Outcome::Missed,
        None => Outcome::Open { due },
    }
}

/// Whether the sign-for clock of a dispatch was late, for the overdue counts: signed
/// for, or returned unsigned, after its deadline (a timely return is not late even when
/// ruled unfounded: the unit did not sit on it).
fn sign_for_deadline(span: &DispatchSpan, is_last: bool, due: DateTime<Utc>) -> Outcome {
    let signed = span
        .signed_at
        .filter(|signed| span.ended_at.is_none_or(|ended| *signed <= ended));
    match signed.or(span.ended_at) {
        Some(at) if at <= due => Outcome::Met,
        Some(_) => Outcome::Missed,
        None if is_last => Outcome::Open { due },
        None => Outcome::Void,
    }
}

/// The outcome of a clock read after the letter's last event: decided, stopped by the
/// closure, or open until its deadline.
fn clock_outcome(reading: &ClockReading) -> Outcome {
    match reading.state {
        ClockState::Met => Outcome::Met,
        ClockState::MetLate | ClockState::Breached => Outcome::Missed,
        ClockState::Running if reading.band == crate::clock::Band::Done => Outcome::Void,
        ClockState::Running => Outcome::Open {
            due: reading.due_at,
        },
    }
}

/// The holding covering `at` (the unit and tier that held the letter then); after the
/// last holding ended (a closed case), the last holder.
fn holder_at(holdings: &[Holding], at: DateTime<Utc>) -> Option<&Holding> {
    holdings
        .iter()
        .find(|h| h.from <= at && h.until.is_none_or(|until| until > at))
        .or_else(|| holdings.last())
}

/// Folds a letter's history (oldest first) into its report facts; `None` when the
/// history does not start with `received`.
pub fn letter_facts(
    category: Category,
    events: &[(DateTime<Utc>, EventPayload)],
    policy: &Policy,
    calendar: &WorkCalendar,
) -> Option<LetterFacts> {
    let (first, rest) = events.split_first()?;
    let mut status = LetterStatus::from_events(category, [(first.0, &first.1)])?;
    // Per dispatch: who signed for it, and whether its return was ruled unfounded.
    let mut signers: Vec<Option<UserId>> = Vec::new();
    let mut unfounded: Vec<bool> = Vec::new();
    // The dispatch whose return waits for the desk's ruling.
    let mut returned: Option<usize> = None;
    let mut visits = Vec::new();
    for (at, event) in rest {
        match event {
            EventPayload::ReturnVisitRecorded { satisfaction, .. } => visits.push(VisitFact {
                unit: status.unit,
                officer: status.handler,
                at: *at,
                satisfied: *satisfaction != Satisfaction::Dissatisfied,
            }),
            EventPayload::Returned { from, .. } => {
                let last = status.clock_inputs.dispatches.len().checked_sub(1);
                returned = last.filter(|&i| status.clock_inputs.dispatches[i].unit == *from);
            }
            EventPayload::Dispatched { to, ruling, .. } => {
                // The desk's ruling that sends the letter back to the unit that returned it.
                if let Some(i) = returned.take()
                    && ruling.is_some()
                    && status.returned_from == Some(*to)
                    && let Some(slot) = unfounded.get_mut(i)
                {
                    *slot = true;
                }
            }
            _ => {}
        }
        status.apply(*at, event);
        let n = status.clock_inputs.dispatches.len();
        signers.resize(n, None);
        unfounded.resize(n, false);
        if let EventPayload::SignedFor { handler, .. } = event
            && status
                .clock_inputs
                .dispatches
                .last()
                .and_then(|d| d.signed_at)
                == Some(*at)
            && let Some(slot) = signers.last_mut()
        {
            *slot = Some(*handler);
        }
    }
    let last_at = events.last().map_or(first.0, |e| e.0);
    let inputs = &status.clock_inputs;
    let clocks = evaluate(inputs, policy, calendar, last_at);

    let last = inputs.dispatches.len().saturating_sub(1);
    let mut responses = Vec::new();
    let mut deadlines = Vec::new();
    for (i, span) in inputs.dispatches.iter().enumerate() {
        let is_last = i == last;
        responses.push(ResponseFact {
            unit: span.unit,
            tier: span.tier,
            officer: signers.get(i).copied().flatten(),
            dispatched_at: span.dispatched_at,
            outcome: response_outcome(
                span,
                is_last,
                unfounded.get(i).copied().unwrap_or(false),
                policy,
                calendar,
            ),
        });
        let due = due_time(span.dispatched_at, &policy.sign_for, calendar);
        deadlines.push(DeadlineFact {
            clock: ClockKind::SignFor,
            unit: span.unit,
            tier: span.tier,
            due_at: due,
            outcome: sign_for_deadline(span, is_last, due),
        });
    }
    for reading in [&clocks.contact, &clocks.first_feedback, &clocks.closure] {
        if let Some(holder) = holder_at(&inputs.holdings, reading.due_at) {
            deadlines.push(DeadlineFact {
                clock: reading.kind,
                unit: holder.unit,
                tier: holder.tier,
                due_at: reading.due_at,
                outcome: clock_outcome(reading),
            });
        }
    }
    let area = inputs
        .dispatches
        .last()
        .map_or(status.unit, |span| span.unit);
    Some(LetterFacts {
        received_at: inputs.received_at,
        // After a 重新分类, the category in force.
        category: status.category,
        area,
        resolution: ResolutionFact {
            unit: status.unit,
            officer: status.handler,
            due_at: clocks.closure.due_at,
            outcome: clock_outcome(&clocks.closure),
        },
        responses,
        visits,
        deadlines,
        holdings: inputs.holdings.clone(),
    })
}

/// A half-open period `[from, to)` read at `now` (server time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub now: DateTime<Utc>,
}

impl Period {
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.from <= t && t < self.to
    }

    /// Seconds of `holding` inside the period, up to `now` (an open holding runs until
    /// `now`): `[max(from, h.from), min(to, now, h.until))`, 0 when that is empty.
    pub fn held_secs(&self, holding: &Holding) -> i64 {
        let start = holding.from.max(self.from);
        let end = holding.until.unwrap_or(self.now).min(self.to).min(self.now);
        (end - start).num_seconds().max(0)
    }
}

/// Overdue clocks and time held, by tier or by unit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Held {
    pub overdue: u32,
    pub held_secs: i64,
    pub letters_held: u32,
}

/// An in-memory tally of letters' facts over one period: what the desktop's offline
/// estimate folds letter by letter (the server aggregates the same facts in SQL).
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub letters: u32,
    pub units: BTreeMap<UnitId, RateCounts>,
    /// By officer: the unit they handled these letters for (the last one seen) and
    /// their counts.
    pub officers: BTreeMap<UserId, (Option<UnitId>, RateCounts)>,
    pub categories: BTreeMap<Category, RateCounts>,
    /// Letters received in the period, by category.
    pub received: BTreeMap<Category, u32>,
    pub tiers: BTreeMap<Tier, Held>,
    pub held_by_unit: BTreeMap<UnitId, Held>,
}

impl Tally {
    fn rate(
        &mut self,
        rate: Rate,
        unit: UnitId,
        officer: Option<UserId>,
        category: Category,
        met: bool,
    ) {
        let met = u32::from(met);
        self.units.entry(unit).or_default().count(rate, 1, met);
        self.categories
            .entry(category)
            .or_default()
            .count(rate, 1, met);
        if let Some(officer) = officer {
            let entry = self.officers.entry(officer).or_default();
            entry.0 = Some(unit);
            entry.1.count(rate, 1, met);
        }
    }

    /// Adds one letter's facts.
    pub fn add(&mut self, facts: &LetterFacts, period: &Period) {
        let now = period.now;
        if period.contains(facts.received_at) {
            self.letters = self.letters.saturating_add(1);
            let n = self.received.entry(facts.category).or_default();
            *n = n.saturating_add(1);
        }
        for r in &facts.responses {
            if period.contains(r.dispatched_at)
                && let Some(met) = r.outcome.at(now)
            {
                self.rate(Rate::Response, r.unit, r.officer, facts.category, met);
            }
        }
        let res = &facts.resolution;
        if period.contains(res.due_at)
            && let Some(met) = res.outcome.at(now)
        {
            self.rate(Rate::Resolution, res.unit, res.officer, facts.category, met);
        }
        for v in &facts.visits {
            if period.contains(v.at) {
                self.rate(
                    Rate::Satisfaction,
                    v.unit,
                    v.officer,
                    facts.category,
                    v.satisfied,
                );
            }
        }
        for d in &facts.deadlines {
            if period.contains(d.due_at) && d.outcome.at(now) == Some(false) {
                for held in [
                    self.tiers.entry(d.tier).or_default(),
                    self.held_by_unit.entry(d.unit).or_default(),
                ] {
                    held.overdue = held.overdue.saturating_add(1);
                }
            }
        }
        // Time held: a letter counts once per tier (and per unit) it was held at.
        let mut tiers: BTreeMap<Tier, i64> = BTreeMap::new();
        let mut units: BTreeMap<UnitId, i64> = BTreeMap::new();
        for h in &facts.holdings {
            let secs = period.held_secs(h);
            if secs > 0 {
                *tiers.entry(h.tier).or_default() += secs;
                *units.entry(h.unit).or_default() += secs;
            }
        }
        for (tier, secs) in tiers {
            let held = self.tiers.entry(tier).or_default();
            held.held_secs = held.held_secs.saturating_add(secs);
            held.letters_held = held.letters_held.saturating_add(1);
        }
        for (unit, secs) in units {
            let held = self.held_by_unit.entry(unit).or_default();
            held.held_secs = held.held_secs.saturating_add(secs);
            held.letters_held = held.letters_held.saturating_add(1);
        }
    }
}

/// How the ranking (排名) weighs the three rates, in per cent. The default follows the
/// common 三率 考核 practice of weighting resolution and satisfaction above response
/// (10/45/45; local rules differ, e.g. 30/35/35).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RankingWeights {
    pub response: u32,
    pub resolution: u32,
    pub satisfaction: u32,
}

impl Default for RankingWeights {
    fn default() -> Self {
        RankingWeights {
            response: 10,
            resolution: 45,
            satisfaction: 45,
        }
    }
}

impl RankingWeights {
    fn weight(&self, rate: Rate) -> u32 {
        match rate {
            Rate::Response => self.response,
            Rate::Resolution => self.resolution,
            Rate::Satisfaction => self.satisfaction,
        }
    }

    /// The score (0–100) of a unit's counts: the weighted mean of the rates it has
    /// something to rate for (a rate with nothing to rate gives its weight to the
    /// others); `None` when it has none.
    pub fn score(&self, counts: &RateCounts) -> Option<f64> {
        let mut sum = 0.0;
        let mut weights = 0u32;
        for rate in Rate::ALL {
            if let Some(r) = counts.rate(rate) {
                let w = self.weight(rate);
                sum += f64::from(w) * r;
                weights = weights.saturating_add(w);
            }
        }
        (weights > 0).then(|| 100.0 * sum / f64::from(weights))
    }
}

/// Ranks units by score, best first; units with equal scores share a rank (1, 2, 2, 4)
/// and are listed by id; units with nothing to rate come last, unranked.
pub fn rank(
    units: &[(UnitId, RateCounts)],
    weights: &RankingWeights,
) -> Vec<(UnitId, Option<f64>, Option<u32>)> {
    // Scores rounded to 0.01 so that two units that look equal rank equal.
    let mut scored: Vec<(UnitId, Option<f64>)> = units
        .iter()
        .map(|(u, c)| (*u, weights.score(c).map(|s| (s * 100.0).round() / 100.0)))
        .collect();
    scored.sort_by(|a, b| match (a.1, b.1) {
        (Some(x), Some(y)) => y.total_cmp(&x).then(a.0.cmp(&b.0)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.0.cmp(&b.0),
    });
    let mut out = Vec::with_capacity(scored.len());
    let mut previous: Option<(f64, u32)> = None;
    for (i, (unit, score)) in scored.into_iter().enumerate() {
        let position = u32::try_from(i).unwrap_or(u32::MAX).saturating_add(1);
        let rank = score.map(|s| match previous {
            Some((p, r)) if p == s => r,
            _ => position,
        });
        if let (Some(s), Some(r)) = (score, rank) {
            previous = Some((s, r));
        }
        out.push((unit, score, rank));
    }
    out
}

/// The CST calendar day of `at`.
pub fn cst_day(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&crate::CST).date_naive()
}

/// The Monday that starts the (ISO) week of `day`.
pub fn week_start(day: NaiveDate) -> NaiveDate {
    day - Duration::days(i64::from(day.weekday().num_days_from_monday()))
}

/// The first day of the month of `day`.
pub fn month_start(day: NaiveDate) -> NaiveDate {
    day.with_day(1).unwrap_or(day)
}

#[cfg(test)]
mod tests;
