//! Tauri commands: thin adapters from IPC to the app's state and the library crates
//! (docs/ipc.md is the contract).
//!
//! Each command must also be listed in `build.rs` (`COMMANDS`), registered in
//! `build_app` and allowed in `capabilities/default.json`.

use chrono::{DateTime, Utc};
use jsjb_core::letter::LetterId;
use jsjb_core::workflow::Action;
use jsjb_proto::{Notice, UserSummary, Writer};
use jsjb_store::{HandoverReport, InboxQuery, OutboxEntry, StatsReport};
use jsjb_sync::SyncStatus;
use tauri::{AppHandle, Runtime, State};

use crate::desk::Desk;
use crate::error::{CommandError, CommandResult, ErrorCode};
use crate::handover;
use crate::ipc::{
    AppInfo, AttachmentData, ChimeTest, ConnectionState, InboxView, LetterView, SavedExport,
    SessionInfo, WaitingStatus,
};
use crate::session;
use crate::settings::Settings;

/// The product's name and version, and the state of the link to the server.
#[tauri::command]
pub fn app_info<R: Runtime>(app: AppHandle<R>, desk: State<'_, Desk>) -> CommandResult<AppInfo> {
    let package = app.package_info();
    let sync = desk.current().map(|s| s.sync.status());
    Ok(AppInfo {
        product_name: app
            .config()
            .product_name
            .clone()
            .unwrap_or_else(|| package.name.clone()),
        version: package.version.to_string(),
        // At the time of the call; live changes are the `sync-status` event.
        connection: ConnectionState::of(sync.as_ref()),
    })
}

#[tauri::command]
pub async fn login<R: Runtime>(
    app: AppHandle<R>,
    server_url: String,
    username: String,
    password: String,
) -> CommandResult<SessionInfo> {
    session::login(&app, &server_url, &username, &password).await
}

#[tauri::command]
pub async fn resume_session<R: Runtime>(app: AppHandle<R>) -> CommandResult<Option<SessionInfo>> {
    session::resume(&app).await
}

#[tauri::command]
pub async fn logout<R: Runtime>(app: AppHandle<R>) -> CommandResult<()> {
    session::logout(&app).await;
    Ok(())
}

#[tauri::command]
pub async fn session(desk: State<'_, Desk>) -> CommandResult<Option<SessionInfo>> {
    Ok(desk.session_info().await)
}

#[tauri::command]
pub fn sync_status(desk: State<'_, Desk>) -> CommandResult<SyncStatus> {
    Ok(desk.session()?.sync.status())
}

#[tauri::command]
pub fn sync_now(desk: State<'_, Desk>) -> CommandResult<()> {
    desk.session()?.sync.sync_now();
    Ok(())
}

#[tauri::command]
pub async fn inbox(desk: State<'_, Desk>, query: InboxQuery) -> CommandResult<InboxView> {
    desk.inbox(query).await
}

#[tauri::command]
pub async fn letter_detail(desk: State<'_, Desk>, id: LetterId) -> CommandResult<LetterView> {
    desk.letter_view(id).await
}

#[tauri::command]
pub async fn mark_seen(desk: State<'_, Desk>, id: LetterId) -> CommandResult<()> {
    desk.mark_seen(id).await
}

#[tauri::command]
pub async fn take_action<R: Runtime>(
    app: AppHandle<R>,
    desk: State<'_, Desk>,
    letter_id: LetterId,
    expected_version: u32,
    action: Action,
) -> CommandResult<OutboxEntry> {
    desk.take_action(&app, letter_id, expected_version, action)
        .await
}

#[tauri::command]
pub async fn failed_actions(desk: State<'_, Desk>) -> CommandResult<Vec<OutboxEntry>> {
    desk.failed_actions().await
}

#[tauri::command]
pub async fn dismiss_failed(desk: State<'_, Desk>, id: i64) -> CommandResult<()> {
    desk.dismiss_failed(id).await
}

#[tauri::command]
pub async fn reveal_writer(desk: State<'_, Desk>, letter_id: LetterId) -> CommandResult<Writer> {
    desk.reveal_writer(letter_id).await
}

#[tauri::command]
pub async fn attachment(desk: State<'_, Desk>, sha256: String) -> CommandResult<AttachmentData> {
    desk.attachment(sha256).await
}

#[tauri::command]
pub async fn directory(desk: State<'_, Desk>) -> CommandResult<Vec<UserSummary>> {
    desk.directory().await
}

#[tauri::command]
pub fn settings(desk: State<'_, Desk>) -> CommandResult<Settings> {
    Ok(desk.settings())
}

#[tauri::command]
pub fn save_settings<R: Runtime>(
    app: AppHandle<R>,
    desk: State<'_, Desk>,
    settings: Settings,
) -> CommandResult<Settings> {
    desk.save_settings(&app, settings)
}

#[tauri::command]
pub async fn test_chime(desk: State<'_, Desk>) -> CommandResult<ChimeTest> {
    Ok(ChimeTest {
        played: desk.alarm().test_sound().await,
    })
}

/// The letters that wait for the user now, and whether the chime can play.
#[tauri::command]
pub fn waiting_status(desk: State<'_, Desk>) -> CommandResult<WaitingStatus> {
    Ok(crate::alerts::waiting_status(&desk.alarm()))
}

/// Saves an export (the statistics' CSV) into the folder the user picks now in the
/// native dialog (opened here, titled `dialog_title` from the UI's locale); `None` when
/// they cancel. The webview names the file, never the folder.
#[tauri::command]
pub async fn save_export<R: Runtime>(
    app: AppHandle<R>,
    desk: State<'_, Desk>,
    file_name: String,
    content: String,
    dialog_title: String,
) -> CommandResult<Option<SavedExport>> {
    let Some(dir) = crate::exports::ask_folder(&app, desk.export_folder(), &dialog_title).await?
    else {
        return Ok(None);
    };
    let path = tauri::async_runtime::spawn_blocking(move || {
        crate::exports::save_text(&dir, &file_name, &content)
    })
    .await
    .map_err(|e| CommandError::new(ErrorCode::ExportFailed, e.to_string()))??;
    Ok(Some(SavedExport {
        path: path.display().to_string(),
    }))
}

/// The 三率 and the other figures of `[from, to)` (RFC 3339), from the cache.
#[tauri::command]
pub async fn statistics(
    desk: State<'_, Desk>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> CommandResult<StatsReport> {
    let session = desk.session()?;
    handover::statistics(&session, from, to).await
}

/// The shift handover of the user's unit.
#[tauri::command]
pub async fn handover(desk: State<'_, Desk>) -> CommandResult<HandoverReport> {
    let session = desk.session()?;
    handover::report(&session, desk.workstation()).await
}

/// Records the user's acknowledgement of the handover (queued, then synced). `shift`
/// names the shift; the CST time of the acknowledgement when absent.
#[tauri::command]
pub async fn acknowledge_handover(
    desk: State<'_, Desk>,
    note: String,
    shift: Option<String>,
) -> CommandResult<()> {
    let session = desk.session()?;
    handover::acknowledge(&session, desk.workstation(), note, shift).await
}

/// What happened to the user's own account since they last looked (signing keys
/// registered, activated, revoked; the password reset by an admin), from the server. The
/// UI shows them after sign-in until the user acknowledges them. Needs the server.
#[tauri::command]
pub async fn account_notices(desk: State<'_, Desk>) -> CommandResult<Vec<Notice>> {
    let session = desk.session()?;
    Ok(session.client.notices().await?)
}

/// The user has read the notices up to `up_to` (the highest id shown).
#[tauri::command]
pub async fn acknowledge_notices(desk: State<'_, Desk>, up_to: i64) -> CommandResult<()> {
    let session = desk.session()?;
    Ok(session.client.acknowledge_notices(up_to).await?)
}
