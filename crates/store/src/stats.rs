//! Statistics over a period (统计): the 三率 per unit and per officer, letters by
//! category and problem tag, breached clocks and time held per tier — the desktop's
//! **offline estimate**, over the letters in its own cache. The authoritative report
//! is the server's (`GET /api/v1/reports`); the screen shows this one only when the
//! server cannot be reached, and says so.
//!
//! Every rule is core's (`jsjb_core::report`): each letter's **server** history (the
//! confirmed record; actions still in the outbox are not counted) is folded into its
//! report facts with `report::letter_facts` and tallied with `report::Tally`, the same
//! facts the server keeps and aggregates. Nothing about a rate is decided in this file.
//!
//! The period is half-open, `[from, to)`. `now` is the server time: a clock still
//! running at `now` has no outcome yet and is left out of the rate it would score.
//!
//! Speed: one pass over the `events` table (its primary key is `(letter_id, seq)`, so
//! the rows come grouped by letter and in order) for letters received before `to` —
//! a letter received later cannot have anything in the period — and not done with
//! before `from` (the `counts_until` column, core's `LetterFacts::counts_until` kept at
//! write time). The counts by
//! category and tag are SQL aggregates. See the `inbox` bench for the figures.

use chrono::{DateTime, Utc};
use jsjb_core::letter::Category;
use jsjb_core::org::{Tier, UnitId, UserId};
use jsjb_core::report::{Period, Tally, letter_facts};
use jsjb_core::workflow::EventPayload;
use rusqlite::params;
use serde::Serialize;
use ts_rs::TS;

/// The 三率's counts (definitions on the type, in core).
pub use jsjb_core::report::RateCounts;

use crate::{Store, StoreError, text_col, time};

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

/// Which letters the statistics fold.
#[derive(Debug, Clone, Copy)]
enum Reading {
    /// Those whose `counts_until` reaches the period (or is unknown).
    WhatThePeriodCanSee,
    /// All of them (the tests' reference).
    #[cfg_attr(not(feature = "test-support"), allow(dead_code))]
    Everything,
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
        self.statistics_reading(from, to, now, Reading::WhatThePeriodCanSee)
    }

    /// [`Store::statistics`] folding every letter received before `to`, skipping none:
    /// the reference the skip is held to by a test.
    #[cfg(feature = "test-support")]
    pub fn statistics_folding_every_letter(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<StatsReport, StoreError> {
        self.statistics_reading(from, to, now, Reading::Everything)
    }

    fn statistics_reading(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        now: DateTime<Utc>,
        reading: Reading,
    ) -> Result<StatsReport, StoreError> {
        let (from_db, to_db) = (time::to_db(from), time::to_db(to));
        let period = Period { from, to, now };
        let mut tally = Tally::default();

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
             FROM letters l, json_each(l.problem_tags) AS tag
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

        // One pass over the events of every letter received before `to` that can still
        // count at `from` (`counts_until`, derived at write time: a letter closed and
        // done with long before the period adds nothing to it).
        let skip_before = match reading {
            Reading::WhatThePeriodCanSee => from_db,
            Reading::Everything => i64::MIN,
        };
        let mut stmt = self.conn.prepare_cached(
            "SELECT l.id, l.category, e.at, e.payload
             FROM letters l JOIN events e ON e.letter_id = l.id
             WHERE l.received_at < ?1 AND (l.counts_until IS NULL OR l.counts_until >= ?2)
             ORDER BY e.letter_id, e.seq",
        )?;
        let mut rows = stmt.query(params![to_db, skip_before])?;
        let mut current: Option<(i64, Category)> = None;
        let mut events: Vec<(DateTime<Utc>, EventPayload)> = Vec::new();
        let finish = |letter: Option<(i64, Category)>,
                      events: &mut Vec<(DateTime<Utc>, EventPayload)>,
                      tally: &mut Tally|
         -> Result<(), StoreError> {
            if let Some((id, category)) = letter {
                let rules = &self.ctx.rules;
                let policy = rules.letter_policy(category, events.iter().map(|(at, e)| (*at, e)));
                let facts = letter_facts(category, events, &policy, rules.calendar())
                    .ok_or(StoreError::InvalidRecord(jsjb_core::letter::LetterId(id)))?;
                tally.add(&facts, &period);
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
                    let held = tally.tiers.get(&tier).copied().unwrap_or_default();
                    TierStats {
                        tier,
                        overdue: held.overdue,
                        held_secs: held.held_secs,
                        letters_held: held.letters_held,
                    }
                })
                .collect(),
        })
    }
}
