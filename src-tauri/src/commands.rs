//! Tauri commands: thin adapters from IPC to the app's state and the library crates
//! (docs/ipc.md is the contract).
//!
//! Each command must also be listed in `build.rs` (`COMMANDS`), registered in
//! `build_app` and allowed in `capabilities/default.json`.

use chrono::{DateTime, Utc};
use jsjb_core::letter::LetterId;
use jsjb_core::org::UserId;
use jsjb_core::workflow::Action;
use jsjb_proto::{Notice, UserSummary, Writer};
use jsjb_store::{HandoverReport, InboxQuery, OutboxEntry, StatsReport, WallBoard};
use jsjb_sync::{SyncReport, SyncStatus};
use tauri::{AppHandle, Runtime, State};

use crate::app_state::AppState;
use crate::error::{CommandError, CommandResult, ErrorCode};
use crate::handover;
use crate::ipc::{
    AppInfo, AttachmentData, ChimeTest, ConnectionState, InboxView, LetterView, SavedExport,
    SessionInfo, WaitingStatus,
};
use crate::settings::Settings;
use crate::sign_in;

/// The product's name and version, and the state of the link to the server.
#[tauri::command]
pub fn app_info<R: Runtime>(
    app: AppHandle<R>,
    app_state: State<'_, AppState>,
) -> CommandResult<AppInfo> {
    let package = app.package_info();
    let sync = app_state.current().map(|s| s.sync.status());
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
    sign_in::login(&app, &server_url, &username, &password).await
}

#[tauri::command]
pub async fn resume_session<R: Runtime>(app: AppHandle<R>) -> CommandResult<Option<SessionInfo>> {
    sign_in::resume(&app).await
}

#[tauri::command]
pub async fn logout<R: Runtime>(app: AppHandle<R>) -> CommandResult<()> {
    sign_in::logout(&app).await;
    Ok(())
}

#[tauri::command]
pub async fn session(app_state: State<'_, AppState>) -> CommandResult<Option<SessionInfo>> {
    Ok(app_state.session_info().await)
}

#[tauri::command]
pub fn sync_status(app_state: State<'_, AppState>) -> CommandResult<SyncStatus> {
    Ok(app_state.session()?.sync.status())
}

#[tauri::command]
pub async fn sync_now(app_state: State<'_, AppState>) -> CommandResult<SyncReport> {
    // The session's handle, not the session: a sign-out meanwhile stops the engine,
    // which answers `engine_stopped`.
    let sync = app_state.session()?.sync.clone();
    Ok(sync.sync_and_report().await)
}

#[tauri::command]
pub async fn inbox(app_state: State<'_, AppState>, query: InboxQuery) -> CommandResult<InboxView> {
    app_state.inbox(query).await
}

#[tauri::command]
pub async fn letter_detail(
    app_state: State<'_, AppState>,
    id: LetterId,
) -> CommandResult<LetterView> {
    app_state.letter_view(id).await
}

#[tauri::command]
pub async fn mark_seen(app_state: State<'_, AppState>, id: LetterId) -> CommandResult<()> {
    app_state.mark_seen(id).await
}

#[tauri::command]
pub async fn take_action<R: Runtime>(
    app: AppHandle<R>,
    app_state: State<'_, AppState>,
    letter_id: LetterId,
    expected_version: u32,
    action: Action,
) -> CommandResult<OutboxEntry> {
    app_state
        .take_action(&app, letter_id, expected_version, action)
        .await
}

#[tauri::command]
pub async fn failed_actions(app_state: State<'_, AppState>) -> CommandResult<Vec<OutboxEntry>> {
    app_state.failed_actions().await
}

#[tauri::command]
pub async fn dismiss_failed(app_state: State<'_, AppState>, id: i64) -> CommandResult<()> {
    app_state.dismiss_failed(id).await
}

/// `type_in_letter`: the desk's 录入来电 form (see [`AppState::type_in_letter`]).
#[tauri::command]
pub async fn type_in_letter(
    app_state: State<'_, AppState>,
    idempotency_key: String,
    input: jsjb_proto::LetterInput,
    files: Vec<String>,
) -> CommandResult<jsjb_proto::DeskIntakeReceipt> {
    app_state
        .type_in_letter(idempotency_key, input, files)
        .await
}

/// The phone letter's attachments: picked in the native dialog (titled `dialog_title`
/// from the UI's locale), read and held by Rust; the UI gets tokens, names and sizes.
/// `keep`: the tokens the form still lists (the others are let go first).
#[tauri::command]
pub async fn pick_letter_files<R: Runtime>(
    app: AppHandle<R>,
    app_state: State<'_, AppState>,
    dialog_title: String,
    keep: Vec<String>,
) -> CommandResult<Vec<crate::letter_files::PickedFile>> {
    app_state.session()?;
    app_state.letter_files().retain(&keep);
    let paths = crate::letter_files::pick(&app, app_state.file_picker(), &dialog_title).await?;
    let files = tauri::async_runtime::spawn_blocking(move || crate::letter_files::read(&paths))
        .await
        .map_err(|e| CommandError::internal(e.to_string()))??;
    app_state.letter_files().hold(files)
}

/// Lets go of the files held for the phone letter (a new form, a cancelled one).
#[tauri::command]
pub fn clear_letter_files(app_state: State<'_, AppState>) {
    app_state.letter_files().clear();
}

#[tauri::command]
pub async fn reveal_writer(
    app_state: State<'_, AppState>,
    letter_id: LetterId,
) -> CommandResult<Writer> {
    app_state.reveal_writer(letter_id).await
}

#[tauri::command]
pub async fn attachment(
    app_state: State<'_, AppState>,
    sha256: String,
) -> CommandResult<AttachmentData> {
    app_state.attachment(sha256).await
}

#[tauri::command]
pub async fn directory(app_state: State<'_, AppState>) -> CommandResult<Vec<UserSummary>> {
    app_state.directory().await
}

#[tauri::command]
pub fn settings(app_state: State<'_, AppState>) -> CommandResult<Settings> {
    Ok(app_state.settings())
}

#[tauri::command]
pub fn save_settings<R: Runtime>(
    app: AppHandle<R>,
    app_state: State<'_, AppState>,
    settings: Settings,
) -> CommandResult<Settings> {
    app_state.save_settings(&app, settings)
}

#[tauri::command]
pub async fn test_chime(app_state: State<'_, AppState>) -> CommandResult<ChimeTest> {
    Ok(ChimeTest {
        played: app_state.alarm().test_sound().await,
    })
}

/// The letters that wait for the user now, and whether the chime can play.
#[tauri::command]
pub fn waiting_status(app_state: State<'_, AppState>) -> CommandResult<WaitingStatus> {
    Ok(crate::alerts::waiting_status(&app_state.alarm()))
}

/// Full screen on or off (the wall board on a duty-room screen); the state after.
#[tauri::command]
pub fn set_full_screen<R: Runtime>(app: AppHandle<R>, on: bool) -> CommandResult<bool> {
    crate::alerts::set_full_screen(&app, on)
        .map_err(|e| CommandError::new(ErrorCode::Internal, e.to_string()))
}

/// Saves an export (the statistics' CSV) into the folder the user picks now in the
/// native dialog (opened here, titled `dialog_title` from the UI's locale); `None` when
/// they cancel. The webview names the file, never the folder.
#[tauri::command]
pub async fn save_export<R: Runtime>(
    app: AppHandle<R>,
    app_state: State<'_, AppState>,
    file_name: String,
    content: String,
    dialog_title: String,
) -> CommandResult<Option<SavedExport>> {
    crate::exports::save_to_picked_folder(
        &app,
        app_state.export_folder(),
        &dialog_title,
        file_name,
        content.into_bytes(),
    )
    .await
}

/// The 三率 and the other figures of `[from, to)` (RFC 3339), from the cache.
#[tauri::command]
pub async fn statistics(
    app_state: State<'_, AppState>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> CommandResult<StatsReport> {
    let session = app_state.session()?;
    handover::statistics(&session, from, to).await
}

/// The wall board (各单位实时态势) of the user's desk; today's 三率 too when `rates`.
#[tauri::command]
pub async fn wall_board(app_state: State<'_, AppState>, rates: bool) -> CommandResult<WallBoard> {
    let session = app_state.session()?;
    handover::wall_board(&session, rates).await
}

/// The shift handover of the user's unit.
#[tauri::command]
pub async fn handover(app_state: State<'_, AppState>) -> CommandResult<HandoverReport> {
    let session = app_state.session()?;
    handover::report(&session, app_state.workstation()).await
}

/// Records the user's acknowledgement of the handover (queued, then synced). `shift`
/// names the shift (the CST time of the acknowledgement when absent), `handed_over_by`
/// the outgoing officer, `checked_ids` the letters ticked.
#[tauri::command]
pub async fn acknowledge_handover(
    app_state: State<'_, AppState>,
    note: String,
    shift: Option<String>,
    handed_over_by: Option<UserId>,
    checked_ids: Option<Vec<LetterId>>,
) -> CommandResult<()> {
    let session = app_state.session()?;
    let ack = handover::Acknowledgement {
        note,
        shift,
        handed_over_by,
        checked_ids: checked_ids.unwrap_or_default(),
    };
    handover::acknowledge(&session, app_state.workstation(), ack).await
}

/// What happened to the user's own account since they last looked (signing keys
/// registered, activated, revoked; the password reset by an admin), from the server. The
/// UI shows them after sign-in until the user acknowledges them. Needs the server.
#[tauri::command]
pub async fn account_notices(app_state: State<'_, AppState>) -> CommandResult<Vec<Notice>> {
    let session = app_state.session()?;
    Ok(session.client.notices().await?)
}

/// The user has read the notices up to `up_to` (the highest id shown).
#[tauri::command]
pub async fn acknowledge_notices(app_state: State<'_, AppState>, up_to: i64) -> CommandResult<()> {
    let session = app_state.session()?;
    Ok(session.client.acknowledge_notices(up_to).await?)
}
