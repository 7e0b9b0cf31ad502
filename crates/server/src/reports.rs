//! Authoritative reports (统计报表): `GET /api/v1/reports` and its CSV/XLSX export,
//! over every event on the server.
//!
//! The rules are core's (`jsjb_core::report`): every letter's history is folded into
//! its report facts, which storage keeps (refreshed from the change log before each
//! report) and aggregates by period and scope; [`assemble`] turns the aggregates into
//! the report with core's counting, ranking and week/month buckets.
//!
//! Who may read one: the letter-handling roles (dispatcher, officer, chief,
//! supervisor), for their own unit or any unit below it — the units whose letters they
//! see. An account that is only `admin` runs units, users and keys, not letters, and is
//! refused. Scope comes first: a unit outside the caller's subtree reads as absent.

pub mod export;

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use jsjb_core::letter::Category;
use jsjb_core::org::{Role, Tier, UnitId, UnitTree, UserId};
use jsjb_core::report::{RankingWeights, RateCounts, cst_day, month_start, rank, week_start};
use jsjb_proto::report::{
    AreaCount, CategoryReport, Hotspot, MAX_HOTSPOTS, OfficerReport, ProblemCount, RankEntry,
    Report, TierReport, TrendPoint, UnitReport,
};
use jsjb_storage::reports::{ReportAggregates, ReportQuery};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Session, unit_tree};
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiQuery};
use crate::state::AppState;

/// The longest period a report covers (ten years of weeks and months).
pub const MAX_PERIOD_DAYS: i64 = 3660;

/// The roles that read reports.
const READERS: [Role; 4] = [
    Role::Dispatcher,
    Role::Officer,
    Role::Chief,
    Role::Supervisor,
];

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReportParams {
    /// The start of the period (RFC 3339), included.
    pub from: DateTime<Utc>,
    /// The end of the period (RFC 3339), excluded; after `from`, at most 3660 days on.
    pub to: DateTime<Utc>,
    /// The unit whose subtree the report is about (default: yours). Yours or one below.
    #[param(nullable = false)]
    pub unit: Option<i64>,
}

/// The file formats of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    Csv,
    Xlsx,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExportParams {
    /// The start of the period (RFC 3339), included.
    pub from: DateTime<Utc>,
    /// The end of the period (RFC 3339), excluded.
    pub to: DateTime<Utc>,
    /// The unit whose subtree the report is about (default: yours).
    #[param(nullable = false)]
    pub unit: Option<i64>,
    /// `csv` (UTF-8 with BOM, the sections one after another) or `xlsx` (a sheet each).
    #[param(inline)]
    pub format: ExportFormat,
}

/// Brings the report facts up to date in the background (at start-up).
pub fn spawn_catch_up(state: &AppState) -> tokio::task::JoinHandle<()> {
    let state = state.clone();
    tokio::spawn(async move {
        let started = std::time::Instant::now();
        match state
            .store
            .reports()
            .refresh_report_facts(state.rules.clone())
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                letters = n,
                secs = started.elapsed().as_secs(),
                "report facts caught up"
            ),
            Err(e) => tracing::warn!(%e, "report facts did not catch up; the next report retries"),
        }
    })
}

/// Checks scope, role and period, refreshes the facts and assembles the report.
async fn report(
    state: &AppState,
    session: &Session,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    unit: Option<i64>,
) -> Result<(Report, UnitTree), ApiError> {
    let tree = unit_tree(state).await?;
    let unit = unit.map_or(session.unit_id, UnitId);
    // Scope first: a unit outside the caller's subtree is answered like one that
    // does not exist.
    if tree.get(unit).is_none() || !tree.in_scope(session.unit_id, unit) {
        return Err(ApiError::NotFound(format!(
            "no unit {} in your scope",
            unit.0
        )));
    }
    if !READERS.iter().any(|r| session.has(*r)) {
        return Err(ApiError::Forbidden(
            "reports are for the dispatcher, officer, chief and supervisor roles".to_owned(),
        ));
    }
    if from >= to {
        return Err(ApiError::invalid(
            "to",
            "the period must end after it starts",
        ));
    }
    if to - from > Duration::days(MAX_PERIOD_DAYS) {
        return Err(ApiError::invalid(
            "to",
            format!("a report covers at most {MAX_PERIOD_DAYS} days"),
        ));
    }
    let now = state.time.now();
    let reports = state.store.reports();
    reports.refresh_report_facts(state.rules.clone()).await?;
    let scope = tree.subtree(unit);
    let aggregates = reports
        .report_aggregates(ReportQuery {
            from,
            to,
            now,
            scope,
        })
        .await?;
    let report = assemble(
        &tree,
        unit,
        (from, to, now),
        &aggregates,
        RankingWeights::default(),
    );
    Ok((report, tree))
}

/// The 三率 per unit (with its subtree), per officer and per category, weekly and
/// monthly trends, the ranking of the units below, overdue clocks and time held per
/// tier and per unit, and hotspots by problem class and area, for a unit's subtree.
/// Computed from every event on the server; a deadline not passed at `server_time` is
/// not scored yet.
#[utoipa::path(get, path = "/api/v1/reports", tag = "letters",
    security(("bearer" = [])),
    params(ReportParams),
    responses(
        (status = 200, body = jsjb_proto::report::Report, description = "Report"),
        (status = 400, body = Problem, description = "`invalid_input`: a bad period or parameter"),
        (status = 401, body = Problem),
        (status = 403, body = Problem, description = "`forbidden`: an account without a letter-handling role"),
        (status = 404, body = Problem, description = "`not_found`: no such unit in your scope (checked first)"),
        (status = 500, body = Problem),
    ))]
pub async fn get_report(
    State(state): State<AppState>,
    session: Session,
    ApiQuery(params): ApiQuery<ReportParams>,
) -> Result<ApiJson<Report>, ApiError> {
    let (report, _) = report(&state, &session, params.from, params.to, params.unit).await?;
    Ok(ApiJson(report))
}

/// The report as a file: CSV or XLSX, with unit and officer names, for the bureau's
/// own spreadsheets.
#[utoipa::path(get, path = "/api/v1/reports/export", tag = "letters",
    security(("bearer" = [])),
    params(ExportParams),
    responses(
        (status = 200, description = "The file (`text/csv` or the XLSX type), with a `Content-Disposition` file name",
            content(("text/csv"), ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))),
        (status = 400, body = Problem, description = "`invalid_input`: a bad period, parameter or format"),
        (status = 401, body = Problem),
        (status = 403, body = Problem, description = "`forbidden`: an account without a letter-handling role"),
        (status = 404, body = Problem, description = "`not_found`: no such unit in your scope (checked first)"),
        (status = 500, body = Problem),
    ))]
pub async fn get_export(
    State(state): State<AppState>,
    session: Session,
    ApiQuery(params): ApiQuery<ExportParams>,
) -> Result<Response, ApiError> {
    let (report, tree) = report(&state, &session, params.from, params.to, params.unit).await?;
    let users: BTreeMap<UserId, String> = state
        .store
        .users()
        .await?
        .into_iter()
        .map(|u| (u.id, u.display_name))
        .collect();
    let names = export::Names {
        tree: &tree,
        users: &users,
    };
    let (body, content_type, ext) = match params.format {
        ExportFormat::Csv => (
            export::csv(&report, &names).into_bytes(),
            "text/csv; charset=utf-8",
            "csv",
        ),
        ExportFormat::Xlsx => (
            export::xlsx(&report, &names).map_err(|e| ApiError::Internal(e.to_string()))?,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "xlsx",
        ),
    };
    let file = export::file_name(&report, ext);
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// Puts a report together from the aggregates of `unit`'s subtree over
/// `(from, to, now)`. Pure: the figures are sums of the aggregates' counts.
pub fn assemble(
    tree: &UnitTree,
    unit: UnitId,
    (from, to, now): (DateTime<Utc>, DateTime<Utc>, DateTime<Utc>),
    agg: &ReportAggregates,
    weights: RankingWeights,
) -> Report {
    let scope: BTreeSet<UnitId> = tree.subtree(unit).into_iter().collect();
    let mut own: BTreeMap<UnitId, RateCounts> = BTreeMap::new();
    let mut officers: BTreeMap<UserId, (RateCounts, BTreeMap<UnitId, u32>)> = BTreeMap::new();
    let mut categories: BTreeMap<Category, RateCounts> = BTreeMap::new();
    for row in agg.rates.iter().filter(|r| scope.contains(&r.unit)) {
        own.entry(row.unit)
            .or_default()
            .count(row.rate, row.counted, row.met);
        categories
            .entry(row.category)
            .or_default()
            .count(row.rate, row.counted, row.met);
        if let Some(officer) = row.officer {
            let entry = officers.entry(officer).or_default();
            entry.0.count(row.rate, row.counted, row.met);
            *entry.1.entry(row.unit).or_default() += row.counted;
        }
    }
    // A unit's subtree: its own counts and those of every unit below it.
    let mut subtree: BTreeMap<UnitId, RateCounts> = BTreeMap::new();
    for (u, counts) in &own {
        subtree.entry(*u).or_default().add(counts);
        for above in tree.ancestors(*u) {
            if scope.contains(&above) {
                subtree.entry(above).or_default().add(counts);
            }
        }
    }
    let held_of = |u: UnitId| {
        agg.held
            .iter()
            .filter(|h| h.unit == Some(u))
            .fold((0u32, 0i64, 0u32), |acc, h| {
                (
                    acc.0.saturating_add(h.overdue),
                    acc.1.saturating_add(h.held_secs),
                    acc.2.saturating_add(h.letters_held),
                )
            })
    };
    let units = scope
        .iter()
        .map(|&u| {
            let (overdue, held_secs, letters_held) = held_of(u);
            UnitReport {
                unit_id: u,
                counts: own.get(&u).copied().unwrap_or_default(),
                subtree: subtree.get(&u).copied().unwrap_or_default(),
                overdue,
                held_secs,
                letters_held,
            }
        })
        .collect();

    let mut received: BTreeMap<Category, u32> = BTreeMap::new();
    let mut by_area: BTreeMap<UnitId, u32> = BTreeMap::new();
    for row in agg.received.iter().filter(|r| scope.contains(&r.area)) {
        *received.entry(row.key).or_default() += row.count;
        *by_area.entry(row.area).or_default() += row.count;
    }
    let letters = received.values().fold(0u32, |a, n| a.saturating_add(*n));
    let mut by_category: Vec<CategoryReport> = Category::ALL
        .iter()
        .map(|&key| CategoryReport {
            key,
            count: received.get(&key).copied().unwrap_or_default(),
            counts: categories.get(&key).copied().unwrap_or_default(),
        })
        .collect();
    by_category.sort_by(|a, b| b.count.cmp(&a.count).then(a.key.cmp(&b.key)));

    let (weekly, monthly) = trends(agg, from, to);

    let children: Vec<(UnitId, RateCounts)> = tree
        .children(unit)
        .into_iter()
        .map(|c| (c, subtree.get(&c).copied().unwrap_or_default()))
        .collect();
    let ranking = rank(&children, &weights)
        .into_iter()
        .map(|(unit_id, score, rank)| RankEntry {
            unit_id,
            rank,
            score,
            counts: subtree.get(&unit_id).copied().unwrap_or_default(),
        })
        .collect();

    let tiers = Tier::ALL
        .iter()
        .map(|&tier| {
            let row = agg.held.iter().find(|h| h.unit.is_none() && h.tier == tier);
            TierReport {
                tier,
                overdue: row.map_or(0, |r| r.overdue),
                held_secs: row.map_or(0, |r| r.held_secs),
                letters_held: row.map_or(0, |r| r.letters_held),
            }
        })
        .collect();

    let mut problems: BTreeMap<&str, u32> = BTreeMap::new();
    let mut hotspots: Vec<Hotspot> = Vec::new();
    for row in agg.problems.iter().filter(|r| scope.contains(&r.area)) {
        *problems.entry(row.key.as_str()).or_default() += row.count;
        hotspots.push(Hotspot {
            problem: row.key.clone(),
            unit_id: row.area,
            count: row.count,
        });
    }
    let mut by_problem: Vec<ProblemCount> = problems
        .into_iter()
        .map(|(key, count)| ProblemCount {
            key: key.to_owned(),
            count,
        })
        .collect();
    by_problem.sort_by(|a, b| b.count.cmp(&a.count).then(a.key.cmp(&b.key)));
    hotspots.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then(a.problem.cmp(&b.problem))
            .then(a.unit_id.cmp(&b.unit_id))
    });
    hotspots.truncate(MAX_HOTSPOTS);
    let mut by_area: Vec<AreaCount> = by_area
        .into_iter()
        .map(|(unit_id, count)| AreaCount { unit_id, count })
        .collect();
    by_area.sort_by(|a, b| b.count.cmp(&a.count).then(a.unit_id.cmp(&b.unit_id)));

    let officers = officers
        .into_iter()
        .map(|(user_id, (counts, units))| OfficerReport {
            user_id,
            // The unit most of their counted facts were charged to.
            unit_id: units
                .iter()
                .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                .map(|(u, _)| *u),
            counts,
        })
        .collect();

    Report {
        from,
        to,
        server_time: now,
        unit_id: unit,
        letters,
        total: subtree.get(&unit).copied().unwrap_or_default(),
        units,
        officers,
        by_category,
        weekly,
        monthly,
        ranking,
        weights,
        tiers,
        by_problem,
        by_area,
        hotspots,
    }
}

/// The daily aggregates bucketed by week (from Monday) and month, CST, oldest first:
/// every week and month the period touches, an empty one included.
fn trends(
    agg: &ReportAggregates,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> (Vec<TrendPoint>, Vec<TrendPoint>) {
    let mut weeks: BTreeMap<NaiveDate, (u32, RateCounts)> = BTreeMap::new();
    let mut months: BTreeMap<NaiveDate, (u32, RateCounts)> = BTreeMap::new();
    let (first, last) = (cst_day(from), cst_day(to - Duration::microseconds(1)));
    let mut day = week_start(first);
    while day <= last {
        weeks.entry(day).or_default();
        day += Duration::days(7);
    }
    let mut day = month_start(first);
    while day <= last {
        months.entry(day).or_default();
        // The 28th plus four days is always in the next month.
        day = month_start(day.with_day(28).unwrap_or(day) + Duration::days(4));
    }
    for row in &agg.days {
        for (map, key) in [
            (&mut weeks, week_start(row.day)),
            (&mut months, month_start(row.day)),
        ] {
            let entry = map.entry(key).or_default();
            match row.rate {
                Some(rate) => entry.1.count(rate, row.counted, row.met),
                None => entry.0 = entry.0.saturating_add(row.counted),
            }
        }
    }
    let points = |map: BTreeMap<NaiveDate, (u32, RateCounts)>| {
        map.into_iter()
            .map(|(start, (letters, counts))| TrendPoint {
                start: start.to_string(),
                letters,
                counts,
            })
            .collect()
    };
    (points(weeks), points(months))
}
