//! The server's reports as stored: every letter's report facts
//! (`jsjb_core::report::LetterFacts`), kept up to date from the change log, and the
//! aggregates a report is assembled from. A backend only groups and sums: which facts
//! count, and as met, is the facts' encoded outcome (`report::Outcome::encode`), and
//! the rates, trends and ranking are put together by the server with core.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use jsjb_core::letter::Category;
use jsjb_core::org::{Tier, UnitId, UserId};
use jsjb_core::report::Rate;
use jsjb_core::rules::Rules;

use crate::StorageError;

/// A period `[from, to)` read at `now`, over the facts charged to `scope`'s units.
#[derive(Debug, Clone)]
pub struct ReportQuery {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub now: DateTime<Utc>,
    pub scope: Vec<UnitId>,
}

/// Facts of one rate, for one unit, officer and category: `counted` count at `now`,
/// `met` of them as met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateRow {
    pub rate: Rate,
    pub unit: UnitId,
    pub officer: Option<UserId>,
    pub category: Category,
    pub counted: u32,
    pub met: u32,
}

/// Facts of one rate (or, with `rate: None`, letters received) on one CST day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRow {
    pub rate: Option<Rate>,
    pub day: NaiveDate,
    pub counted: u32,
    pub met: u32,
}

/// Overdue clocks (deadline in the period, late at `now`) and time held within the
/// period (until `now`), for one unit or, with `unit: None`, a whole tier (its letters
/// counted once however many of its units held them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldRow {
    pub unit: Option<UnitId>,
    pub tier: Tier,
    pub overdue: u32,
    pub held_secs: i64,
    pub letters_held: u32,
}

/// Letters received in the period, by category (or problem class) and area.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedRow<K> {
    pub key: K,
    pub area: UnitId,
    pub count: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportAggregates {
    pub rates: Vec<RateRow>,
    pub days: Vec<DayRow>,
    pub held: Vec<HeldRow>,
    pub received: Vec<ReceivedRow<Category>>,
    pub problems: Vec<ReceivedRow<String>>,
}

#[async_trait]
pub trait ReportStore: Send + Sync {
    /// Refolds the letters changed since the last refresh into their facts, with core's
    /// rules under the clock `rules` (each letter's clocks under the era they started
    /// in); returns how many were refolded. Safe to run
    /// concurrently and to interrupt (a letter refolded twice gives the same facts).
    async fn refresh_report_facts(&self, rules: Arc<Rules>) -> Result<u64, StorageError>;

    /// The aggregates of a report over the facts as they are.
    async fn report_aggregates(&self, query: ReportQuery)
    -> Result<ReportAggregates, StorageError>;
}
