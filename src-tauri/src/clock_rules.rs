//! Which clock rules this desktop counts with (设置 → 时限规则): the server's, by the
//! version it served, or the built-in ones before it ever connected.

use chrono::{DateTime, Utc};
use jsjb_core::calendar::YearData;
use serde::Serialize;
use tauri::State;
use ts_rs::TS;

use crate::app_state::AppState;
use crate::error::CommandResult;

/// The answer to `clock_rules`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct RulesInUse {
    /// The served rules' version; `null`: the built-in rules (never connected).
    pub version: Option<String>,
    /// When the era in force now began (`null`: the rules never changed).
    pub in_force_since: Option<DateTime<Utc>>,
    /// A new era already announced, from this moment on.
    pub next_change_at: Option<DateTime<Utc>>,
    /// The years the working-day calendar has data for.
    pub calendar_years: Vec<i32>,
    /// Of those, the ones whose State Council notice was not out (statutory holidays only).
    pub provisional_years: Vec<i32>,
}

/// `clock_rules`: the rules the cache counts with, at server time.
#[tauri::command]
pub async fn clock_rules(app_state: State<'_, AppState>) -> CommandResult<RulesInUse> {
    let session = app_state.session()?;
    let now = session.now();
    Ok(session
        .store
        .call(move |s| {
            let rules = s.rules();
            let eras = &rules.doc().eras;
            let begun = eras.iter().filter(|e| e.from <= now).count();
            let calendar = rules.calendar();
            let calendar_years: Vec<i32> = calendar.covered_years().collect();
            RulesInUse {
                version: s.rules_version().map(str::to_owned),
                in_force_since: (begun > 1).then(|| eras[begun - 1].from),
                next_change_at: eras.get(begun).map(|e| e.from),
                provisional_years: calendar_years
                    .iter()
                    .copied()
                    .filter(|y| calendar.year_data(*y) == Some(YearData::Provisional))
                    .collect(),
                calendar_years,
            }
        })
        .await?)
}
