//! The wall board (各单位实时态势, issue 12 item 6): for a city or branch desk, per unit
//! below it right now — letters to sign for, breached clocks, forms to approve,
//! extensions pending — and today's 三率 so far; and the letters whose breach below is
//! escalated to the desk (issue 12 item 5).
//!
//! The counts are SQL aggregates over the listing columns of the cache (the optimistic
//! view, so a letter signed for here leaves 待签收 at once); a breach is a not-met clock
//! whose due time has passed, the clocks' own definition (`jsjb_core::clock`). The rates
//! are [`Store::statistics`] over today, so they are the statistics screen's figures;
//! they fold every history (about 0.3 s at 100,000 letters, see docs/performance.md),
//! so a caller asks for them now and then and for the counts (milliseconds) on every
//! change.
//! Each row sums the unit's whole subtree: a city desk sees each branch with its
//! stations.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use jsjb_core::clock::ClockKind;
use jsjb_core::org::UnitId;
use rusqlite::params;
use serde::Serialize;
use ts_rs::TS;

use crate::{RateCounts, Store, StoreError, time};

/// What one unit (with the units below it) has on its plate right now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, TS)]
pub struct UnitLoad {
    /// Letters not closed.
    pub open: u32,
    /// 待签收: dispatched to it, not signed for.
    pub to_sign: u32,
    /// 待派发: received at its desk (new, returned, sent up for a ruling).
    pub to_dispatch: u32,
    /// Breached and still not met, per clock.
    pub sign_for_overdue: u32,
    pub contact_overdue: u32,
    pub feedback_overdue: u32,
    pub closure_overdue: u32,
    /// 待签批: feedback forms waiting for the chief.
    pub to_approve: u32,
    /// 延期待审批: extension requests nobody has decided.
    pub extensions_pending: u32,
}

impl UnitLoad {
    fn add(&mut self, other: &UnitLoad) {
        self.open = self.open.saturating_add(other.open);
        self.to_sign = self.to_sign.saturating_add(other.to_sign);
        self.to_dispatch = self.to_dispatch.saturating_add(other.to_dispatch);
        self.sign_for_overdue = self.sign_for_overdue.saturating_add(other.sign_for_overdue);
        self.contact_overdue = self.contact_overdue.saturating_add(other.contact_overdue);
        self.feedback_overdue = self.feedback_overdue.saturating_add(other.feedback_overdue);
        self.closure_overdue = self.closure_overdue.saturating_add(other.closure_overdue);
        self.to_approve = self.to_approve.saturating_add(other.to_approve);
        self.extensions_pending = self
            .extensions_pending
            .saturating_add(other.extensions_pending);
    }

    /// Any clock breached: the row is marked (colour and a shape).
    pub fn any_overdue(&self) -> bool {
        self.sign_for_overdue + self.contact_overdue + self.feedback_overdue + self.closure_overdue
            > 0
    }
}

/// One row of the board: a unit directly below the desk (or the desk's own unit, which
/// counts only the letters it holds itself), its subtree summed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct BoardRow {
    pub unit_id: UnitId,
    /// The desk's own unit (its row counts only what it holds itself).
    pub own: bool,
    pub load: UnitLoad,
    /// Today's 三率 so far (see [`RateCounts`]); `None` when not asked for.
    pub today: Option<RateCounts>,
}

/// The board of one desk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct WallBoard {
    /// When it was read (server time).
    pub at: DateTime<Utc>,
    /// The start of "today" for the rates, when they were asked for.
    pub today_from: Option<DateTime<Utc>>,
    /// The desk's own unit first, then the units below in the tree's order.
    pub rows: Vec<BoardRow>,
    /// Every row summed.
    pub total: BoardRow,
}

impl Store {
    /// Every unit's load at `now`, keyed by the unit holding the letters.
    fn unit_loads(&self, now: DateTime<Utc>) -> Result<BTreeMap<UnitId, UnitLoad>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT unit_id, count(*),
                    sum(state = 'dispatched'), sum(state = 'received'),
                    sum(sign_for_due < ?1), sum(contact_due < ?1),
                    sum(feedback_due < ?1), sum(closure_due < ?1),
                    sum(state = 'awaiting_approval'), sum(extension_pending)
             FROM letters WHERE state != 'closed' GROUP BY unit_id",
        )?;
        let mut rows = stmt.query(params![time::to_db(now)])?;
        let mut loads = BTreeMap::new();
        let count = |row: &rusqlite::Row<'_>, i: usize| -> Result<u32, StoreError> {
            let n: Option<i64> = row.get(i)?;
            Ok(u32::try_from(n.unwrap_or(0)).unwrap_or(u32::MAX))
        };
        while let Some(row) = rows.next()? {
            loads.insert(
                UnitId(row.get(0)?),
                UnitLoad {
                    open: count(row, 1)?,
                    to_sign: count(row, 2)?,
                    to_dispatch: count(row, 3)?,
                    sign_for_overdue: count(row, 4)?,
                    contact_overdue: count(row, 5)?,
                    feedback_overdue: count(row, 6)?,
                    closure_overdue: count(row, 7)?,
                    to_approve: count(row, 8)?,
                    extensions_pending: count(row, 9)?,
                },
            );
        }
        Ok(loads)
    }

    /// The wall board of the signed-in user's unit at `now`, with the rates since
    /// `today_from` (the start of the local day, which the caller knows) when given.
    pub fn wall_board(
        &self,
        today_from: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<WallBoard, StoreError> {
        let (me, tree) = match (self.ctx.me.as_ref(), self.ctx.tree.as_ref()) {
            (Some(me), Some(tree)) => (me, tree),
            _ => return Err(StoreError::NotSignedIn),
        };
        let loads = self.unit_loads(now)?;
        let rates: Option<BTreeMap<UnitId, RateCounts>> = match today_from {
            Some(from) => Some(
                self.statistics(from, now, now)?
                    .units
                    .into_iter()
                    .map(|u| (u.unit_id, u.counts))
                    .collect(),
            ),
            None => None,
        };
        let sum_over = |units: &[UnitId]| {
            let mut row = BoardRow {
                unit_id: UnitId(0),
                own: false,
                load: UnitLoad::default(),
                today: rates.as_ref().map(|_| RateCounts::default()),
            };
            for unit in units {
                if let Some(load) = loads.get(unit) {
                    row.load.add(load);
                }
                if let (Some(today), Some(counts)) =
                    (row.today.as_mut(), rates.as_ref().and_then(|r| r.get(unit)))
                {
                    today.add(counts);
                }
            }
            row
        };
        let mut rows = Vec::new();
        let mut own = sum_over(&[me.unit_id]);
        own.unit_id = me.unit_id;
        own.own = true;
        rows.push(own);
        for child in tree.children(me.unit_id) {
            let mut row = sum_over(&tree.subtree(child));
            row.unit_id = child;
            rows.push(row);
        }
        let mut total = sum_over(&tree.subtree(me.unit_id));
        total.unit_id = me.unit_id;
        Ok(WallBoard {
            at: now,
            today_from,
            rows,
            total,
        })
    }

    /// The letters held below `unit` whose listed clocks may be breached or about to be:
    /// the candidates for escalation to its desk (core's `attention::escalation_at`
    /// decides each). Cheap: only letters one of whose `clocks` is not met.
    pub fn escalation_candidates(
        &self,
        unit: UnitId,
        clocks: &[ClockKind],
    ) -> Result<Vec<jsjb_core::letter::LetterId>, StoreError> {
        let unmet: Vec<&str> = clocks
            .iter()
            .map(|kind| match kind {
                ClockKind::SignFor => "sign_for_due IS NOT NULL",
                ClockKind::Contact => "contact_due IS NOT NULL",
                ClockKind::FirstFeedback => "feedback_due IS NOT NULL",
                ClockKind::Closure => "closure_due IS NOT NULL",
            })
            .collect();
        if unmet.is_empty() {
            return Ok(Vec::new());
        }
        // The conditions are the fixed strings above, never input.
        let sql = format!(
            "SELECT id FROM letters WHERE unit_id != ?1 AND state != 'closed' AND ({})",
            unmet.join(" OR ")
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let ids = stmt
            .query_map([unit.0], |r| r.get(0).map(jsjb_core::letter::LetterId))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ids)
    }
}
