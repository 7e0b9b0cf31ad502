//! The desktop's log, for support: rotating files in `<app data>/logs` (the official
//! `tauri-plugin-log`), panics written there before the process goes, and the officer's
//! "导出日志", which puts every log file into one text file where they choose.
//!
//! The app logs through `tracing`; its `log-always` feature hands each event to the `log`
//! facade too, whose logger is the plugin's (file) — while the `tracing` subscriber
//! still writes stderr for a developer. Dependencies that log through `log` (Tauri,
//! WebKit's glue) reach the file directly.
//!
//! What is logged must not carry citizen text, passwords or tokens (docs/security.md):
//! the logs leave the workstation when an officer sends them to support.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use tauri::plugin::TauriPlugin;
use tauri::{AppHandle, Runtime, State};
use tauri_plugin_log::{RotationStrategy, Target, TargetKind, TimezoneStrategy};

use crate::app_state::AppState;
use crate::error::{CommandError, CommandResult, ErrorCode};
use crate::ipc::SavedExport;

/// The log file's name without `.log`; rotated files are `jsjb-desk_<date>.log`.
pub const LOG_FILE_STEM: &str = "jsjb-desk";
/// A file is rotated when the next line would take it past this size.
pub const MAX_FILE_BYTES: u64 = 5 * 1024 * 1024;
/// Rotated files kept beside the current one: at most 6 × 5 MiB on a workstation.
pub const KEEP_ROTATED: usize = 5;

/// Where the log files are: `logs/` in the app's data folder (`JSJB_DATA_DIR` when set).
pub fn log_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("logs")
}

/// The plugin writing `dir`, registered once the data folder is known (in `setup`):
/// the plugin must be given its folder when it is built.
pub fn plugin<R: Runtime>(dir: PathBuf) -> TauriPlugin<R> {
    tauri_plugin_log::Builder::new()
        .clear_targets()
        .target(Target::new(TargetKind::Folder {
            path: dir,
            file_name: Some(LOG_FILE_STEM.to_owned()),
        }))
        .max_file_size(u128::from(MAX_FILE_BYTES))
        .rotation_strategy(RotationStrategy::KeepSome(KEEP_ROTATED))
        // Support reads the times against the officer's clock (CST).
        .timezone_strategy(TimezoneStrategy::UseLocal)
        .level(file_level(std::env::var("RUST_LOG").ok().as_deref()))
        .build()
}

/// The level written to the files: `info`, or `RUST_LOG` when it is a plain level
/// (`debug`); a per-module filter applies to stderr only.
pub fn file_level(rust_log: Option<&str>) -> log::LevelFilter {
    rust_log
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(log::LevelFilter::Info)
}

/// Logs every panic (message, thread and where in the source) before the default
/// hook prints it, so that a panic on a release desktop, which has no console, is in
/// the log file support receives.
pub fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
            .unwrap_or_else(|| "unknown".to_owned());
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".to_owned());
        let thread = std::thread::current()
            .name()
            .unwrap_or("unnamed")
            .to_owned();
        tracing::error!(target: "panic", %location, %thread, "panicked: {message}");
        log::logger().flush();
        default(info);
    }));
}

/// The log files in `dir`, oldest first: the rotated ones by the date in their
/// names, then the current one.
pub fn log_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let current = format!("{LOG_FILE_STEM}.log");
    let mut rotated = Vec::new();
    let mut has_current = false;
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        // No file yet (logging to files is off in tests, or nothing was logged).
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        if !entry.file_type()?.is_file() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == current {
            has_current = true;
        } else if name.starts_with(&format!("{LOG_FILE_STEM}_")) && name.ends_with(".log") {
            rotated.push(name);
        }
    }
    // `<stem>_YYYY-MM-DD_HH-MM-SS.log`: the names sort by date.
    rotated.sort();
    let mut files: Vec<PathBuf> = rotated.into_iter().map(|n| dir.join(n)).collect();
    if has_current {
        files.push(dir.join(current));
    }
    Ok(files)
}

/// Writes every log file of `log_dir`, oldest first and each under a header with its
/// name, into a new file `file_name` in `dest` (never over an existing file).
pub fn export(log_dir: &Path, dest: &Path, file_name: &str) -> Result<PathBuf, CommandError> {
    let failed = |e: std::io::Error| CommandError::new(ErrorCode::ExportFailed, e.to_string());
    // What the plugin holds in its buffer goes to the file first.
    log::logger().flush();
    let files = log_files(log_dir).map_err(failed)?;
    let (mut out, path): (File, PathBuf) = crate::exports::create_new_file(dest, file_name)?;
    if files.is_empty() {
        writeln!(out, "(no log files in {})", log_dir.display()).map_err(failed)?;
    }
    for file in &files {
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        writeln!(out, "===== {name} =====").map_err(failed)?;
        let mut input = File::open(file).map_err(failed)?;
        std::io::copy(&mut input, &mut out).map_err(failed)?;
        writeln!(out).map_err(failed)?;
    }
    out.sync_all().map_err(failed)?;
    Ok(path)
}

/// "导出日志": asks for a folder (the native picker; `dialog_title` is the UI's text)
/// and writes the log files there as one text file; `None` when the officer cancels.
#[tauri::command]
pub async fn export_logs<R: Runtime>(
    app: AppHandle<R>,
    app_state: State<'_, AppState>,
    file_name: String,
    dialog_title: String,
) -> CommandResult<Option<SavedExport>> {
    let Some(dest) =
        crate::exports::ask_folder(&app, app_state.export_folder(), &dialog_title).await?
    else {
        return Ok(None);
    };
    let logs = log_dir(app_state.data_dir());
    let path = tauri::async_runtime::spawn_blocking(move || export(&logs, &dest, &file_name))
        .await
        .map_err(|e| CommandError::new(ErrorCode::ExportFailed, e.to_string()))??;
    tracing::info!(path = %path.display(), "logs exported");
    Ok(Some(SavedExport {
        path: path.display().to_string(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_files_level_follows_a_plain_rust_log() {
        assert_eq!(file_level(None), log::LevelFilter::Info);
        assert_eq!(file_level(Some("debug")), log::LevelFilter::Debug);
        assert_eq!(
            file_level(Some("jsjb_sync=debug,info")),
            log::LevelFilter::Info
        );
    }

    #[test]
    fn the_export_holds_every_log_file_oldest_first() {
        let dir = tempfile::tempdir().expect("temp dir");
        let logs = log_dir(dir.path());
        std::fs::create_dir_all(&logs).expect("logs");
        std::fs::write(logs.join("jsjb-desk.log"), "now\n").expect("current");
        std::fs::write(logs.join("jsjb-desk_2026-11-02_08-00-00.log"), "second\n")
            .expect("rotated");
        std::fs::write(logs.join("jsjb-desk_2026-11-01_08-00-00.log"), "first\n").expect("rotated");
        std::fs::write(logs.join("other.txt"), "not a log\n").expect("other");
        let dest = dir.path().join("picked");
        std::fs::create_dir_all(&dest).expect("dest");

        let path = export(&logs, &dest, "日志.txt").expect("export");
        assert_eq!(path, dest.join("日志.txt"));
        let text = std::fs::read_to_string(&path).expect("read");
        let first = text.find("first").expect("the oldest");
        let second = text.find("second").expect("the next");
        let now = text.find("now").expect("the current");
        assert!(first < second && second < now, "{text}");
        assert!(text.contains("===== jsjb-desk_2026-11-01_08-00-00.log ====="));
        assert!(!text.contains("not a log"));
        // A second export never replaces the first.
        let again = export(&logs, &dest, "日志.txt").expect("again");
        assert_eq!(again, dest.join("日志 (2).txt"));
    }

    #[test]
    fn no_log_files_yet_is_said_so() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = export(&dir.path().join("logs"), dir.path(), "日志.txt").expect("export");
        let text = std::fs::read_to_string(path).expect("read");
        assert!(text.starts_with("(no log files"), "{text}");
    }
}
