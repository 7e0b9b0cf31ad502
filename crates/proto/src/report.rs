//! The server's report (`GET /api/v1/reports`): the authoritative 三率 and the rest,
//! computed from every event on the server with `jsjb_core::report`'s rules.
//!
//! The fields the desktop's offline estimate also has (`letters`, `units`, `officers`,
//! `by_category`, `by_problem`, `tiers`) have its shapes, so the statistics screen reads
//! either the same way.

use chrono::{DateTime, Utc};
use jsjb_core::letter::Category;
use jsjb_core::org::{Tier, UnitId, UserId};
use jsjb_core::report::{RankingWeights, RateCounts};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// One unit of the report's subtree: its own counts (what was charged to the unit
/// itself) and those of its whole subtree, with its overdue clocks and time held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UnitReport {
    pub unit_id: UnitId,
    /// The unit's own counts.
    #[serde(flatten)]
    #[ts(flatten)]
    pub counts: RateCounts,
    /// The unit and every unit below it.
    pub subtree: RateCounts,
    /// Clocks late while this unit held the letter (deadline in the period).
    pub overdue: u32,
    /// Seconds the unit held letters within the period (until now).
    #[ts(type = "number")]
    pub held_secs: i64,
    /// Letters the unit held for some of that time.
    pub letters_held: u32,
}

/// One officer (承办人): dispatches they signed for, closures and visits of the letters
/// they handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OfficerReport {
    pub user_id: UserId,
    /// The unit they handled these letters for (the one charged).
    pub unit_id: Option<UnitId>,
    #[serde(flatten)]
    #[ts(flatten)]
    pub counts: RateCounts,
}

/// A category: letters received in the period, and the rates of letters of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CategoryReport {
    pub key: Category,
    /// Letters received in the period (the bar chart's figure).
    pub count: u32,
    #[serde(flatten)]
    #[ts(flatten)]
    pub counts: RateCounts,
}

/// A week (from its Monday) or a month (from its first day), CST: the rates of the
/// report's subtree whose facts fall in it, and the letters received in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TrendPoint {
    /// `YYYY-MM-DD`, the first day of the week or month (it may start before `from`:
    /// only the part inside the period is counted).
    pub start: String,
    pub letters: u32,
    #[serde(flatten)]
    #[ts(flatten)]
    pub counts: RateCounts,
}

/// One place in the ranking (排名) of the units directly below the report's unit,
/// each with its subtree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RankEntry {
    pub unit_id: UnitId,
    /// 1 for the best; equal scores share a place; `None`: nothing to rate.
    pub rank: Option<u32>,
    /// 0–100, the weighted mean of the rates (see `weights`).
    pub score: Option<f64>,
    #[serde(flatten)]
    #[ts(flatten)]
    pub counts: RateCounts,
}

/// Per tier (市局, 分局, 派出所) of the report's subtree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TierReport {
    pub tier: Tier,
    pub overdue: u32,
    #[ts(type = "number")]
    pub held_secs: i64,
    pub letters_held: u32,
}

/// Letters received in the period carrying a problem class, or in an area.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProblemCount {
    pub key: String,
    pub count: u32,
}

/// Letters received in the period whose area (the jurisdiction they were dispatched
/// to; see `jsjb_core::report::LetterFacts::area`) is this unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AreaCount {
    pub unit_id: UnitId,
    pub count: u32,
}

/// A hotspot: a problem class in an area, by letters received in the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Hotspot {
    pub problem: String,
    pub unit_id: UnitId,
    pub count: u32,
}

/// The answer to `GET /api/v1/reports`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Report {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// The server time the report was read at: a deadline not yet passed then is not
    /// scored.
    pub server_time: DateTime<Utc>,
    /// The unit the report is about, with every unit below it.
    pub unit_id: UnitId,
    /// Letters received in the period.
    pub letters: u32,
    /// The whole subtree's counts.
    pub total: RateCounts,
    /// Every unit of the subtree with anything in the period, by id.
    pub units: Vec<UnitReport>,
    /// By user id.
    pub officers: Vec<OfficerReport>,
    /// Every category, most letters first, then by name.
    pub by_category: Vec<CategoryReport>,
    /// Weeks from Monday, oldest first.
    pub weekly: Vec<TrendPoint>,
    /// Months, oldest first.
    pub monthly: Vec<TrendPoint>,
    /// The units directly below the report's unit, best first.
    pub ranking: Vec<RankEntry>,
    pub weights: RankingWeights,
    /// City, branch, station.
    pub tiers: Vec<TierReport>,
    /// Problem classes, most first, then by name.
    pub by_problem: Vec<ProblemCount>,
    /// Areas, most first, then by id.
    pub by_area: Vec<AreaCount>,
    /// Problem class × area, most first (the first 50).
    pub hotspots: Vec<Hotspot>,
}

/// The most hotspots a report lists.
pub const MAX_HOTSPOTS: usize = 50;
