//! 接诉即办工作台 — the desktop shell.
//!
//! This crate is glue: it builds the Tauri app, holds the state and exposes thin
//! commands (docs/ipc.md). The cache, sync and chime live in `crates/store`,
//! `crates/sync` and `crates/chime`; domain rules in `crates/core`.

pub mod admin;
pub mod alarm;
pub mod alerts;
pub mod app_state;
pub mod bindings;
pub mod clock_rules;
pub mod commands;
pub mod delegations;
pub mod error;
pub mod exports;
pub mod handover;
pub mod ipc;
pub mod letter_files;
pub mod logs;
pub mod news;
pub mod reports;
pub mod session;
pub mod settings;
pub mod sign_in;
pub mod signing;
pub mod vault;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use jsjb_chime::{Audio, AudioError, ChimeThread, Sound};
use tauri::{App, AppHandle, Builder, Emitter, Manager, RunEvent, Runtime};

use crate::alarm::{ArrivalAlarm, SharedAudio};
use crate::app_state::AppState;
pub use crate::error::{CommandError, ErrorCode};
pub use crate::exports::ExportFolder;
use crate::settings::Settings;
pub use crate::sign_in::Autologin;
pub use crate::vault::KeyringMode;
use crate::vault::TokenVault;

/// How the app is put together; [`Options::from_env`] for the real app, tests set
/// their own folders and a fake audio output.
pub struct Options {
    /// Where caches, settings and (in the fallback) tokens live; the OS app-data folder
    /// when `None`. `JSJB_DATA_DIR` in the environment.
    pub data_dir: Option<PathBuf>,
    pub keyring: KeyringMode,
    /// The sound output; the real audio thread when `None`.
    pub audio: Option<SharedAudio>,
    /// Development and demo only: sign in at start.
    pub autologin: Option<Autologin>,
    /// The parts that need a real desktop: tray, single instance, remembered window
    /// position, launch at login, the native folder picker. Off in tests (mock runtime).
    pub desktop: bool,
    /// Where exports go: the folder the user picks in the native dialog each time
    /// ([`ExportFolder::Ask`]); tests, which have no dialog, give a folder here. Never
    /// from the webview.
    pub export_folder: ExportFolder,
    /// The PIN rules at enrolment: at least 6, raised by `JSJB_PIN_MIN_LENGTH`.
    pub pin_policy: jsjb_signoff::PinPolicy,
    /// Where a phone letter's attachments are picked: the native dialog, or (tests)
    /// these files. Never from the webview.
    pub file_picker: letter_files::FilePicker,
}

impl Options {
    pub fn from_env() -> Options {
        Options {
            data_dir: std::env::var_os("JSJB_DATA_DIR").map(PathBuf::from),
            keyring: KeyringMode::from_env(),
            audio: None,
            autologin: Autologin::from_env(),
            desktop: true,
            export_folder: ExportFolder::Ask,
            file_picker: letter_files::FilePicker::Ask,
            pin_policy: signing::pin_policy_from(
                std::env::var("JSJB_PIN_MIN_LENGTH").ok().as_deref(),
            ),
        }
    }
}

/// Wires commands, state, plugins and the alarm into a builder, configured from the
/// environment.
///
/// Generic over the runtime so that tests drive the very same wiring through
/// `tauri::test::mock_builder()`.
pub fn build_app<R: Runtime>(builder: Builder<R>) -> Builder<R> {
    build_app_with(builder, Options::from_env())
}

/// [`build_app`] with explicit options.
pub fn build_app_with<R: Runtime>(builder: Builder<R>, options: Options) -> Builder<R> {
    let mut builder = builder;
    if options.desktop {
        builder = builder
            // First, so a second launch exits before doing anything else.
            .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
                alerts::show_main_window(app);
            }))
            .plugin(tauri_plugin_window_state::Builder::default().build())
            .plugin(tauri_plugin_autostart::init(
                tauri_plugin_autostart::MacosLauncher::LaunchAgent,
                None,
            ))
            // Used from Rust only (`exports::ask_folder`): the webview has no dialog
            // permission, so it can neither open one nor name a path itself.
            .plugin(tauri_plugin_dialog::init());
    }
    builder
        .plugin(tauri_plugin_notification::init())
        .setup(move |app| setup(app, options))
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::login,
            commands::resume_session,
            commands::logout,
            commands::session,
            commands::sync_status,
            commands::sync_now,
            commands::inbox,
            commands::letter_detail,
            commands::mark_seen,
            commands::take_action,
            commands::failed_actions,
            commands::dismiss_failed,
            commands::reveal_writer,
            commands::type_in_letter,
            commands::attachment,
            commands::directory,
            commands::settings,
            commands::save_settings,
            commands::test_chime,
            commands::waiting_status,
            commands::save_export,
            commands::statistics,
            reports::stats_view,
            reports::save_report_export,
            clock_rules::clock_rules,
            commands::wall_board,
            commands::pick_letter_files,
            commands::clear_letter_files,
            commands::set_full_screen,
            commands::handover,
            commands::acknowledge_handover,
            commands::account_notices,
            commands::acknowledge_notices,
            logs::export_logs,
            signing::signing_key_status,
            signing::enrol_signing_key,
            signing::signoff_preview,
            signing::sign_feedback_form,
            signing::signed_form_status,
            signing::export_signed_form,
            admin::admin_keys,
            admin::approve_signing_key,
            admin::revoke_signing_key,
            admin::admin_users,
            admin::create_user,
            admin::set_user_active,
            admin::reset_user_password,
            admin::change_own_password,
            admin::create_unit,
            admin::rename_unit,
            admin::move_unit,
            admin::set_unit_active,
            admin::revoke_user_sessions,
            admin::routing_rules,
            admin::save_routing_rules,
            admin::test_routing_rules,
            admin::update_user,
            delegations::delegations,
            delegations::grant_delegation,
            delegations::revoke_delegation,
        ])
}

/// Owns the audio thread, so that it is shut down (and its device closed) on exit.
struct ChimeOwner(Mutex<Option<ChimeThread>>);

/// The audio output when the audio thread cannot even start: every ring fails, which
/// the alarm logs once; the notification and the window still alert.
struct NoAudio;

impl Audio for NoAudio {
    fn play(&self, _sound: Sound, _volume: f32) -> Result<(), AudioError> {
        Err(AudioError::ThreadGone)
    }
}

fn setup<R: Runtime>(app: &mut App<R>, options: Options) -> Result<(), Box<dyn std::error::Error>> {
    let data_dir = match options.data_dir {
        Some(dir) => dir,
        None => app.path().app_data_dir()?,
    };
    std::fs::create_dir_all(&data_dir)?;
    if options.desktop {
        // Registered here, not on the builder: its folder is the data folder, known only
        // now (JSJB_DATA_DIR or the OS app-data folder). One logger per process, so
        // never in tests (several apps on the mock runtime).
        app.handle()
            .plugin(logs::plugin(logs::log_dir(&data_dir)))?;
    }
    tracing::info!(data_dir = %data_dir.display(), "app data folder");
    let default_server = std::env::var("JSJB_SERVER_URL").ok();
    let settings = Settings::load(&data_dir, default_server.as_deref());

    let mut no_audio = false;
    let (audio, device): (SharedAudio, _) = match options.audio {
        Some(audio) => (audio, None),
        None => match ChimeThread::spawn() {
            Ok(thread) => {
                let handle = thread.handle();
                app.manage(ChimeOwner(Mutex::new(Some(thread))));
                (Arc::new(handle.clone()), Some(handle))
            }
            Err(e) => {
                tracing::warn!("no audio thread ({e}); the alarm is visual only");
                no_audio = true;
                (Arc::new(NoAudio), None)
            }
        },
    };
    let alarm = Arc::new(ArrivalAlarm::new(settings.chime.alarm(), audio, device)?);
    let handle = app.handle().clone();
    tauri::async_runtime::spawn(Arc::clone(&alarm).run_timer(move |ids| {
        let newest = ids.last().copied();
        if let Err(e) = handle.emit(ipc::events::LETTERS_ESCALATED, ipc::LettersEvent { ids }) {
            tracing::warn!("cannot emit {}: {e}", ipc::events::LETTERS_ESCALATED);
        }
        alerts::notify_escalation(&handle, newest);
        alerts::ask_attention(&handle);
    }));
    if no_audio {
        alarm.mark_no_audio();
    }
    // The device is found (or not) a moment after start: tell the UI then, so the inbox
    // can say that the chime cannot play without waiting for the next arrival.
    let (handle, opened) = (app.handle().clone(), Arc::clone(&alarm));
    tauri::async_runtime::spawn_blocking(move || {
        opened.wait_device_opened(std::time::Duration::from_secs(10));
        alerts::publish_waiting(&handle, &opened);
    });

    alerts::set_language(app.handle(), &settings.locale);
    let vault = TokenVault::new(&data_dir, options.keyring);
    let mut app_state = AppState::new(data_dir, vault, settings, alarm);
    app_state.set_export_folder(options.export_folder);
    app_state.set_file_picker(options.file_picker);
    app_state.set_pin_policy(options.pin_policy);
    app.manage(app_state);

    if options.desktop {
        // No tray host (Xvfb, some Linux desktops): the app works without the tray.
        if let Err(e) = alerts::create_tray(app.handle()) {
            tracing::warn!("no tray icon: {e}");
        }
    }
    if let Some(auto) = options.autologin {
        sign_in::autologin(app.handle(), auto);
    }
    Ok(())
}

/// The app's compiled-in context: `tauri.conf.json`, icons and, with the
/// `custom-protocol` feature, the built UI from `ui/dist`.
///
/// Kept in one place so the assets are embedded once.
pub fn context<R: Runtime>() -> tauri::Context<R> {
    tauri::generate_context!()
}

/// Starts the desktop app and blocks until it exits.
pub fn run() -> std::process::ExitCode {
    init_tracing();
    logs::install_panic_hook();
    let app = match build_app(tauri::Builder::default()).build(context()) {
        Ok(app) => app,
        Err(error) => {
            tracing::error!(%error, "the app failed to start");
            eprintln!("接诉即办工作台 failed to start: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    app.run(|app, event| on_run_event(app, &event));
    std::process::ExitCode::SUCCESS
}

/// What the app does with the event loop's events: hides the main window to the tray
/// instead of closing it (when there is a tray), and shuts the audio thread down on exit.
pub fn on_run_event<R: Runtime>(app: &AppHandle<R>, event: &RunEvent) {
    match event {
        RunEvent::WindowEvent { label, event, .. } => {
            alerts::keep_running_in_tray(app, label, event);
        }
        RunEvent::Exit => {
            if let Some(owner) = app.try_state::<ChimeOwner>()
                && let Some(thread) = owner
                    .0
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take()
            {
                thread.shutdown();
            }
        }
        _ => {}
    }
}

/// Logs to stderr; `RUST_LOG` overrides the default level (info). The same events go
/// to the log files through the `log` facade (see `logs.rs`).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .finish();
    // Not `try_init`: that would make `tracing-log` the `log` logger, which the log
    // plugin must be. A second initialisation (e.g. from a test) keeps the first.
    let _ = tracing::subscriber::set_global_default(subscriber);
}
