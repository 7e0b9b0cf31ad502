//! The statistics screen's figures: the server's authoritative report when the server
//! answers, and only when it cannot be reached (or fails) the estimate from this
//! workstation's own cache (`jsjb_store::Store::statistics`), marked as such; and the
//! server's CSV/XLSX export saved into a folder the user picks.

use std::time::Duration;

use chrono::{DateTime, Utc};
use jsjb_proto::report::Report;
use jsjb_store::StatsReport;
use jsjb_sync::client::reports::ExportFormat;
use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Runtime, State};
use ts_rs::TS;

use crate::app_state::AppState;
use crate::error::{CommandError, CommandResult, ErrorCode};
use crate::ipc::SavedExport;

/// How long the screen waits for the server's report before showing the estimate.
const SERVER_WAIT: Duration = Duration::from_secs(8);
/// How long an export may take to come (a year of a city's figures is ~1 s).
const EXPORT_WAIT: Duration = Duration::from_secs(60);

/// Where the figures come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum StatsSource {
    /// The server's report, from every event (authoritative).
    Server,
    /// 离线估算: the server could not be reached; from this workstation's cache.
    Offline,
}

/// The answer to `stats_view`: exactly one of `server` and `estimate`, as `source` says.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct StatsView {
    pub source: StatsSource,
    pub server: Option<Report>,
    pub estimate: Option<StatsReport>,
}

/// An export's file format, as the UI names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ReportFormat {
    Csv,
    Xlsx,
}

fn check_period(from: DateTime<Utc>, to: DateTime<Utc>) -> CommandResult<()> {
    if from >= to {
        return Err(CommandError::new(
            ErrorCode::InvalidInput,
            "the period must end after it starts",
        ));
    }
    Ok(())
}

/// `stats_view`: the server's report of the user's unit for `[from, to)`; the cache's
/// estimate instead when the server cannot be reached or fails (a refusal, such as a
/// role that reads no reports, is an error, not an estimate).
#[tauri::command]
pub async fn stats_view(
    app_state: State<'_, AppState>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> CommandResult<StatsView> {
    check_period(from, to)?;
    let session = app_state.session()?;
    let asked = tokio::time::timeout(SERVER_WAIT, session.client.report(from, to, None)).await;
    match asked {
        Ok(Ok(report)) => Ok(StatsView {
            source: StatsSource::Server,
            server: Some(report),
            estimate: None,
        }),
        // A server from before reports (no such route) is no refusal: estimate.
        Ok(Err(e)) if !e.is_transient() && e.code() != "no_route" => Err(e.into()),
        // Unreachable, failing, too slow or without reports: the workstation's own
        // estimate.
        Ok(Err(_)) | Err(_) => {
            let now = session.now();
            let estimate = session
                .store
                .call(move |s| s.statistics(from, to, now))
                .await??;
            Ok(StatsView {
                source: StatsSource::Offline,
                server: None,
                estimate: Some(estimate),
            })
        }
    }
}

/// `save_report_export`: fetches the server's export of `[from, to)` (CSV or XLSX) and
/// writes it as `file_name` (sanitised, never over an existing file) into the folder the
/// user picks now (`None` when they cancel). Needs the server: there is no offline
/// export of the authoritative figures.
#[tauri::command]
pub async fn save_report_export<R: Runtime>(
    app: AppHandle<R>,
    app_state: State<'_, AppState>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    format: ReportFormat,
    file_name: String,
    dialog_title: String,
) -> CommandResult<Option<SavedExport>> {
    check_period(from, to)?;
    let session = app_state.session()?;
    let format = match format {
        ReportFormat::Csv => ExportFormat::Csv,
        ReportFormat::Xlsx => ExportFormat::Xlsx,
    };
    let bytes = tokio::time::timeout(
        EXPORT_WAIT,
        session.client.report_export(from, to, None, format),
    )
    .await
    .map_err(|_| CommandError::new(ErrorCode::Unreachable, "the export took too long"))??;
    crate::exports::save_to_picked_folder(
        &app,
        app_state.export_folder(),
        &dialog_title,
        file_name,
        bytes.to_vec(),
    )
    .await
}
