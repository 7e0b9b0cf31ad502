//! Statistics over a period (统计): the 三率 per unit and per officer, letters by
//! category and problem tag, breached clocks and time held per tier.
//!
//! Every figure comes from the letters' **server** histories (the confirmed record;
//! actions still in the outbox are not counted) folded with core's
//! `LetterStatus::apply` and read with core's clock functions (`evaluate`,
//! `sign_for_met`, `due_time`, `tier_times`), so a deadline here is the deadline the
//! inbox colours and the server enforces. Nothing about a clock is decided in this file.
//!
//! The period is half-open, `[from, to)`. `now` is the server time: a clock still
//! running at `now` has no outcome yet and is left out of the rate it would score.
//!
//! Speed: one pass over the `events` table (its primary key is `(letter_id, seq)`, so
//! the rows come grouped by letter and in order) for letters received before `to` —
//! a letter received later cannot have anything in the period. The counts by
//! category and tag are SQL aggregates. See the `inbox` bench for the figures.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use jsjb_core::clock::{
    ClockInputs, ClockReading, ClockState, Holding, due_time, evaluate, sign_for_met, tier_times,
};
use jsjb_core::letter::{Category, Satisfaction};
use jsjb_core::org::{Tier, UnitId, UserId};
use jsjb_core::workflow::{EventPayload, LetterStatus};
use rusqlite::params;
use serde::Serialize;
use ts_rs::TS;

use crate::{Context, Store, StoreError, text_col, time};

/// The numerators and denominators of the three rates (三率), so that the UI can show
/// both the rate and the counts behind it, and sum them over units.
///
/// - **响应率 (response rate)** = `signed_on_time / dispatched`.
///   `dispatched`: dispatches (派发, each dispatch of a letter to a unit counts once)
///   made in the period whose outcome is known at `now` — signed for, left the unit
///   unsigned (退单, re-dispatched), or unsigned past the sign-for deadline; a dispatch
///   still inside its sign-for clock is not counted yet. `signed_on_time`: those of
///   them for which core's `clock::sign_for_met` is true (signed at or before the
///   deadline; a desk forwarding a letter counts as signing for it).
/// - **解决率 (resolution rate)** = `closed_on_time / due`.
///   `due`: letters whose closure deadline in force (after an approved extension, the
///   extended one; after a 重办, the new run's) falls in the period and whose closure
///   clock has an outcome at `now` (met, met late or breached; a deadline not reached
///   yet with the case still open is not counted yet). `closed_on_time`: those whose
///   closure clock is `met` (the feedback form approved at or before the deadline).
/// - **满意率 (satisfaction rate)** = `satisfied / visits`.
///   `visits`: return visits (回访) recorded in the period; `satisfied`: those recorded
///   as satisfied or basically satisfied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, TS)]
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
}

/// The rates of one unit. A dispatch counts for the unit it was dispatched to; a
/// closure deadline and a return visit for the unit handling the letter (at the
/// deadline's reading and at the visit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
pub struct UnitStats {
    pub unit_id: UnitId,
    #[serde(flatten)]
    #[ts(flatten)]
    pub counts: RateCounts,
}

/// The rates of one officer (承办人). A dispatch counts for the officer who signed for
/// it (an unsigned dispatch counts for no officer); a closure deadline and a return
/// visit for the letter's handler at the time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
pub struct OfficerStats {
    pub user_id: UserId,
    /// The unit the officer handled these letters for (their last one in the period).
    pub unit_id: Option<UnitId>,
    #[serde(flatten)]
    #[ts(flatten)]
    pub counts: RateCounts,
}

/// Letters received in the period, by category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
pub struct CategoryCount {
    pub key: Category,
    pub count: u32,
}

/// Letters received in the period carrying a problem tag (a letter with two tags
/// counts under both).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct TagCount {
    pub key: String,
    pub count: u32,
}

/// Per tier (市局, 分局, 派出所):
/// - `overdue`: clocks whose deadline fell in the period and that were breached (not
///   met by then: `breached`, or `met_late`) while this tier held the letter — the
///   holder at the deadline is charged, so lateness goes to the tier that spent the
///   time. Every sign-for clock counts (one per dispatch; a dispatch returned unsigned
///   before its deadline is not late), and the contact, first-feedback and closure
///   clocks of every letter.
/// - `held_secs`: seconds the tier held letters within `[from, min(to, now))`
///   (core's `tier_times` over the holdings clipped to the period).
/// - `letters_held`: the letters the tier held for some of that time, so that the
///   screen can say how long a letter stays at each tier on average.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
pub struct TierStats {
    pub tier: Tier,
    pub overdue: u32,
    #[ts(type = "number")]
    pub held_secs: i64,
    pub letters_held: u32,
}

/// The answer to `statistics` (docs/ipc.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct StatsReport {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Letters received in the period.
    pub letters: u32,
    /// By unit id.
    pub units: Vec<UnitStats>,
    /// By user id.
    pub officers: Vec<OfficerStats>,
    /// Most first, then by name.
    pub by_category: Vec<CategoryCount>,
    /// Most first, then by tag.
    pub by_problem: Vec<TagCount>,
    /// City, branch, station.
    pub tiers: Vec<TierStats>,
}

/// The accumulators of one report.
struct Tally {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
    units: BTreeMap<UnitId, RateCounts>,
    officers: BTreeMap<UserId, (Option<UnitId>, RateCounts)>,
    /// Per tier: overdue clocks, seconds held, letters held.
    tiers: BTreeMap<Tier, (u32, i64, u32)>,
}

impl Tally {
    fn in_period(&self, t: DateTime<Utc>) -> bool {
        self.from <= t && t < self.to
    }

    fn unit(&mut self, unit: UnitId) -> &mut RateCounts {
        self.units.entry(unit).or_default()
    }

    fn officer(&mut self, user: UserId, unit: UnitId) -> &mut RateCounts {
        let entry = self.officers.entry(user).or_default();
        entry.0 = Some(unit);
        &mut entry.1
    }

    fn overdue(&mut self, tier: Tier) {
        let entry = self.tiers.entry(tier).or_default();
        entry.0 = entry.0.saturating_add(1);
    }
}

/// What the fold of one letter observed on the way (the status alone forgets it).
#[derive(Default)]
struct Observed {
    /// Per dispatch (same index as `ClockInputs::dispatches`): who signed for it.
    signers: Vec<Option<UserId>>,
    /// Return visits in the period: (unit, handler, satisfied).
    visits: Vec<(UnitId, Option<UserId>, bool)>,
}

/// Folds one letter's events with core's `LetterStatus::apply`, noting who signed for
/// each dispatch and who held the letter at each return visit in the period.
fn fold(
    category: Category,
    events: &[(DateTime<Utc>, EventPayload)],
    tally: &Tally,
) -> Option<(LetterStatus, Observed)> {
    let (first, rest) = events.split_first()?;
    let mut status = LetterStatus::from_events(category, [(first.0, &first.1)])?;
    let mut seen = Observed::default();
    for (at, event) in rest {
        if let EventPayload::ReturnVisitRecorded { satisfaction, .. } = event
            && tally.in_period(*at)
        {
            seen.visits.push((
                status.unit,
                status.handler,
                *satisfaction != Satisfaction::Dissatisfied,
            ));
        }
        status.apply(*at, event);
        let dispatches = &status.clock_inputs.dispatches;
        seen.signers.resize(dispatches.len(), None);
        if let EventPayload::SignedFor { handler, .. } = event
            && let Some(last) = dispatches.last()
            && last.signed_at == Some(*at)
            && let Some(slot) = seen.signers.last_mut()
        {
            *slot = Some(*handler);
        }
    }
    Some((status, seen))
}

fn late(reading: &ClockReading) -> bool {
    matches!(reading.state, ClockState::Breached | ClockState::MetLate)
}

/// The tier holding the letter at `at`.
fn holder_at(holdings: &[Holding], at: DateTime<Utc>) -> Option<Tier> {
    holdings
        .iter()
        .find(|h| h.from <= at && h.until.is_none_or(|until| until > at))
        .map(|h| h.tier)
}

/// Adds one letter's contribution to the report.
fn count_letter(ctx: &Context, tally: &mut Tally, status: LetterStatus, seen: Observed) {
    let (policy, calendar, now) = (&ctx.policy, &ctx.calendar, tally.now);
    let clocks = evaluate(&status.clock_inputs, policy, calendar, now);
    let inputs = &status.clock_inputs;

    // 响应率, and the sign-for clocks for `overdue`.
    let last = inputs.dispatches.len().saturating_sub(1);
    for (i, span) in inputs.dispatches.iter().enumerate() {
        let due = due_time(span.dispatched_at, &policy.sign_for, calendar);
        // Only the last dispatch can still be unsigned with its unit: its reading says
        // whether its deadline has passed.
        let breached_now = i == last
            && clocks
                .sign_for
                .as_ref()
                .is_some_and(|r| r.state == ClockState::Breached);
        let met = match sign_for_met(span, policy, calendar) {
            Some(met) => Some(met),
            None if breached_now => Some(false),
            None => None,
        };
        let was_late = match met {
            Some(false) => breached_now || span.ended_at.is_none_or(|ended| ended > due),
            _ => false,
        };
        if was_late && tally.in_period(due) {
            tally.overdue(span.tier);
        }
        let (Some(met), true) = (met, tally.in_period(span.dispatched_at)) else {
            continue;
        };
        let counts = tally.unit(span.unit);
        counts.dispatched += 1;
        counts.signed_on_time += u32::from(met);
        if let Some(Some(signer)) = seen.signers.get(i) {
            let counts = tally.officer(*signer, span.unit);
            counts.dispatched += 1;
            counts.signed_on_time += u32::from(met);
        }
    }

    // 解决率.
    let closure = &clocks.closure;
    if tally.in_period(closure.due_at) && closure.state != ClockState::Running {
        let met = closure.state == ClockState::Met;
        let counts = tally.unit(status.unit);
        counts.due += 1;
        counts.closed_on_time += u32::from(met);
        if let Some(handler) = status.handler {
            let counts = tally.officer(handler, status.unit);
            counts.due += 1;
            counts.closed_on_time += u32::from(met);
        }
    }

    // 满意率.
    for (unit, handler, satisfied) in seen.visits {
        let counts = tally.unit(unit);
        counts.visits += 1;
        counts.satisfied += u32::from(satisfied);
        if let Some(handler) = handler {
            let counts = tally.officer(handler, unit);
            counts.visits += 1;
            counts.satisfied += u32::from(satisfied);
        }
    }

    // The other clocks for `overdue`: charged to the holder at the deadline.
    for reading in [&clocks.contact, &clocks.first_feedback, &clocks.closure] {
        if late(reading)
            && tally.in_period(reading.due_at)
            && let Some(tier) = holder_at(&inputs.holdings, reading.due_at)
        {
            tally.overdue(tier);
        }
    }

    // Time held within the period: core's `tier_times` over the clipped holdings.
    let end = tally.to.min(now);
    let clipped: Vec<Holding> = inputs
        .holdings
        .iter()
        .filter_map(|h| {
            let from = h.from.max(tally.from);
            let until = h.until.unwrap_or(now).min(end);
            (until > from).then(|| Holding {
                from,
                until: Some(until),
                ..h.clone()
            })
        })
        .collect();
    if !clipped.is_empty() {
        let held = ClockInputs {
            holdings: clipped,
            ..status.clock_inputs
        };
        for t in tier_times(&held, end) {
            let entry = tally.tiers.entry(t.tier).or_default();
            entry.1 = entry.1.saturating_add(t.held_secs);
            if t.held_secs > 0 {
                entry.2 = entry.2.saturating_add(1);
            }
        }
    }
}

impl Store {
    /// The statistics of `[from, to)` read at `now` (server time), over every letter in
    /// the cache (the user's scope). The definitions are on [`RateCounts`] and
    /// [`TierStats`].
    pub fn statistics(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<StatsReport, StoreError> {
        let (from_db, to_db) = (time::to_db(from), time::to_db(to));
        let mut tally = Tally {
            from,
            to,
            now,
            units: BTreeMap::new(),
            officers: BTreeMap::new(),
            tiers: BTreeMap::new(),
        };

        let mut by_category = Vec::new();
        let mut letters = 0u32;
        let mut stmt = self.conn.prepare_cached(
            "SELECT category, count(*) FROM letters
             WHERE received_at >= ?1 AND received_at < ?2
             GROUP BY category ORDER BY count(*) DESC, category",
        )?;
        let mut rows = stmt.query(params![from_db, to_db])?;
        while let Some(row) = rows.next()? {
            let name: String = row.get(0)?;
            let count = u32::try_from(row.get::<_, i64>(1)?).unwrap_or(u32::MAX);
            let key = Category::parse(&name)
                .ok_or_else(|| StoreError::Corrupt(format!("category {name:?}")))?;
            letters = letters.saturating_add(count);
            by_category.push(CategoryCount { key, count });
        }

        let mut by_problem = Vec::new();
        let mut stmt = self.conn.prepare_cached(
            "SELECT tag.value, count(*)
             FROM letters l JOIN letter_records r ON r.id = l.id,
                  json_each(r.record, '$.problem_tags') AS tag
             WHERE l.received_at >= ?1 AND l.received_at < ?2
             GROUP BY tag.value ORDER BY count(*) DESC, tag.value",
        )?;
        let mut rows = stmt.query(params![from_db, to_db])?;
        while let Some(row) = rows.next()? {
            by_problem.push(TagCount {
                key: row.get(0)?,
                count: u32::try_from(row.get::<_, i64>(1)?).unwrap_or(u32::MAX),
            });
        }

        // One pass over the events of every letter received before `to`.
        let mut stmt = self.conn.prepare_cached(
            "SELECT l.id, l.category, e.at, e.payload
             FROM letters l JOIN events e ON e.letter_id = l.id
             WHERE l.received_at < ?1
             ORDER BY e.letter_id, e.seq",
        )?;
        let mut rows = stmt.query([to_db])?;
        let mut current: Option<(i64, Category)> = None;
        let mut events: Vec<(DateTime<Utc>, EventPayload)> = Vec::new();
        let finish = |letter: Option<(i64, Category)>,
                      events: &mut Vec<(DateTime<Utc>, EventPayload)>,
                      tally: &mut Tally|
         -> Result<(), StoreError> {
            if let Some((id, category)) = letter {
                let (status, seen) = fold(category, events, tally)
                    .ok_or(StoreError::InvalidRecord(jsjb_core::letter::LetterId(id)))?;
                count_letter(&self.ctx, tally, status, seen);
            }
            events.clear();
            Ok(())
        };
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            if current.is_none_or(|(c, _)| c != id) {
                finish(current.take(), &mut events, &mut tally)?;
                let name = text_col(row, 1)?;
                let category = Category::parse(name)
                    .ok_or_else(|| StoreError::Corrupt(format!("category {name:?}")))?;
                current = Some((id, category));
            }
            let at = time::from_db(row.get(2)?)?;
            let payload: EventPayload = serde_json::from_str(text_col(row, 3)?)?;
            events.push((at, payload));
        }
        finish(current.take(), &mut events, &mut tally)?;

        Ok(StatsReport {
            from,
            to,
            letters,
            units: tally
                .units
                .iter()
                .map(|(unit_id, counts)| UnitStats {
                    unit_id: *unit_id,
                    counts: *counts,
                })
                .collect(),
            officers: tally
                .officers
                .iter()
                .map(|(user_id, (unit_id, counts))| OfficerStats {
                    user_id: *user_id,
                    unit_id: *unit_id,
                    counts: *counts,
                })
                .collect(),
            by_category,
            by_problem,
            tiers: Tier::ALL
                .iter()
                .map(|&tier| {
                    let (overdue, held_secs, letters_held) =
                        tally.tiers.get(&tier).copied().unwrap_or_default();
                    TierStats {
                        tier,
                        overdue,
                        held_secs,
                        letters_held,
                    }
                })
                .collect(),
        })
    }
}
