//! Files the officer exports (statistics as CSV, signed forms): never over an existing
//! file, never outside the folder they go to, and only into the folder the user picks
//! in the native dialog, opened from Rust for that one export ([`ask_folder`]) — the
//! webview cannot name a folder.

use std::path::{Path, PathBuf};

use tauri::{AppHandle, Manager, Runtime};

use crate::error::{CommandError, ErrorCode};
use crate::ipc::SavedExport;

/// Where an export goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportFolder {
    /// Ask the user, each time, in the native folder picker (the app).
    Ask,
    /// This folder, without asking: for tests on the mock runtime, which has no
    /// dialog. Set only by the app's builder in Rust (`Options`), never over IPC.
    Fixed(PathBuf),
}

/// The longest dialog title accepted from the UI, in characters.
const MAX_TITLE_CHARS: usize = 80;

/// The folder the export goes to: the one the user picks now in the native dialog
/// (starting in Downloads), `None` when they cancel. `title` is the UI's translated
/// text (user-facing text lives in the UI's locales).
pub async fn ask_folder<R: Runtime>(
    app: &AppHandle<R>,
    folder: &ExportFolder,
    title: &str,
) -> Result<Option<PathBuf>, CommandError> {
    if let ExportFolder::Fixed(dir) = folder {
        return Ok(Some(dir.clone()));
    }
    let Some(dialog) = app.try_state::<tauri_plugin_dialog::Dialog<R>>() else {
        return Err(CommandError::new(
            ErrorCode::ExportFailed,
            "no folder picker in this build",
        ));
    };
    let title: String = title
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_TITLE_CHARS)
        .collect();
    let (tx, rx) = tokio::sync::oneshot::channel();
    dialog
        .file()
        .set_title(title)
        .set_directory(downloads_dir())
        .pick_folder(move |picked| {
            let _ = tx.send(picked);
        });
    let picked = rx
        .await
        .map_err(|_| CommandError::internal("the folder picker went away"))?;
    match picked {
        None => Ok(None),
        Some(path) => path
            .into_path()
            .map(Some)
            .map_err(|e| CommandError::new(ErrorCode::ExportFailed, e.to_string())),
    }
}

/// Creates a new folder `name` in `base` (`name (2)` and so on when taken), so an export
/// never writes into a folder that was there before.
pub fn new_folder(base: &Path, name: &str) -> Result<PathBuf, CommandError> {
    let name = safe_file_name(name);
    let failed = |e: std::io::Error| CommandError::new(ErrorCode::ExportFailed, e.to_string());
    if !base.is_dir() {
        return Err(CommandError::new(
            ErrorCode::ExportFailed,
            format!("{} is not a folder", base.display()),
        ));
    }
    for n in 1..1000 {
        let candidate = if n == 1 {
            base.join(&name)
        } else {
            base.join(format!("{name} ({n})"))
        };
        match std::fs::create_dir(&candidate) {
            Ok(()) => return Ok(candidate),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(failed(e)),
        }
    }
    Err(CommandError::new(
        ErrorCode::ExportFailed,
        "too many folders with this name",
    ))
}

/// The largest export accepted over IPC (a year of statistics is far below this).
const MAX_EXPORT_BYTES: usize = 20 * 1024 * 1024;
/// Longest file name kept, in characters.
const MAX_NAME_CHARS: usize = 120;

/// The user's Downloads folder (the home folder when there is none).
pub fn downloads_dir() -> PathBuf {
    let home = std::env::var_os("USERPROFILE")
        .or_else(|| std::env::var_os("HOME"))
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let downloads = home.join("Downloads");
    if downloads.is_dir() { downloads } else { home }
}

/// A file name the UI proposed, made safe: no folders, no control or reserved
/// characters (Windows' too), not empty, not too long.
pub fn safe_file_name(proposed: &str) -> String {
    let cleaned: String = proposed
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|') {
                '_'
            } else {
                c
            }
        })
        .take(MAX_NAME_CHARS)
        .collect();
    let trimmed = cleaned.trim().trim_start_matches('.').trim();
    if trimmed.is_empty() {
        "export.csv".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// Writes `content` as `file_name` in `dir`; `name (2).csv` and so on when taken.
pub fn save_text(dir: &Path, file_name: &str, content: &str) -> Result<PathBuf, CommandError> {
    save_bytes(dir, file_name, content.as_bytes())
}

/// Writes `bytes` (a file the server made: the report's XLSX or CSV) as `file_name` in
/// `dir`; `name (2).xlsx` and so on when taken.
pub fn save_bytes(dir: &Path, file_name: &str, bytes: &[u8]) -> Result<PathBuf, CommandError> {
    if bytes.len() > MAX_EXPORT_BYTES {
        return Err(CommandError::new(
            ErrorCode::InvalidInput,
            format!("an export may have at most {MAX_EXPORT_BYTES} bytes"),
        ));
    }
    let failed = |e: std::io::Error| CommandError::new(ErrorCode::ExportFailed, e.to_string());
    let (mut file, path) = create_new_file(dir, file_name)?;
    use std::io::Write;
    file.write_all(bytes).map_err(failed)?;
    file.sync_all().map_err(failed)?;
    Ok(path)
}

/// Asks for the folder (as [`ask_folder`]) and writes `bytes` there as `file_name`
/// ([`save_bytes`]) off the async runtime; `None` when the user cancels.
pub async fn save_to_picked_folder<R: Runtime>(
    app: &AppHandle<R>,
    folder: &ExportFolder,
    dialog_title: &str,
    file_name: String,
    bytes: Vec<u8>,
) -> Result<Option<SavedExport>, CommandError> {
    let Some(dir) = ask_folder(app, folder, dialog_title).await? else {
        return Ok(None);
    };
    let path = tauri::async_runtime::spawn_blocking(move || save_bytes(&dir, &file_name, &bytes))
        .await
        .map_err(|e| CommandError::new(ErrorCode::ExportFailed, e.to_string()))??;
    Ok(Some(SavedExport {
        path: path.display().to_string(),
    }))
}

/// Creates the new, empty file `file_name` (made safe) in `dir`; `name (2).csv` and so
/// on when taken — never a file the officer already has.
pub fn create_new_file(
    dir: &Path,
    file_name: &str,
) -> Result<(std::fs::File, PathBuf), CommandError> {
    let name = safe_file_name(file_name);
    let (stem, ext) = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem.to_owned(), format!(".{ext}")),
        _ => (name.clone(), String::new()),
    };
    let failed = |e: std::io::Error| CommandError::new(ErrorCode::ExportFailed, e.to_string());
    std::fs::create_dir_all(dir).map_err(failed)?;
    for n in 1..1000 {
        let candidate = if n == 1 {
            dir.join(&name)
        } else {
            dir.join(format!("{stem} ({n}){ext}"))
        };
        // create_new: never replace a file the officer already has.
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&candidate)
        {
            Ok(file) => return Ok((file, candidate)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(failed(e)),
        }
    }
    Err(CommandError::new(
        ErrorCode::ExportFailed,
        "too many files with this name in the folder",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_stay_inside_the_folder() {
        assert_eq!(safe_file_name("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(
            safe_file_name("三率统计:2026/11.csv"),
            "三率统计_2026_11.csv"
        );
        assert_eq!(safe_file_name("  "), "export.csv");
        assert_eq!(safe_file_name(".hidden"), "hidden");
        assert_eq!(
            safe_file_name(&"字".repeat(300)).chars().count(),
            MAX_NAME_CHARS
        );
    }

    #[test]
    fn a_new_folder_every_time() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = new_folder(dir.path(), "反馈表-SZ1-3").expect("first");
        let second = new_folder(dir.path(), "反馈表-SZ1-3").expect("second");
        assert_eq!(first, dir.path().join("反馈表-SZ1-3"));
        assert_eq!(second, dir.path().join("反馈表-SZ1-3 (2)"));
        assert_eq!(
            new_folder(dir.path(), "../up").expect("sanitised"),
            dir.path().join("_up")
        );
        assert!(new_folder(&dir.path().join("missing"), "x").is_err());
    }

    #[test]
    fn never_overwrites() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = save_text(dir.path(), "三率.csv", "a,b\n").expect("first");
        let second = save_text(dir.path(), "三率.csv", "c,d\n").expect("second");
        assert_eq!(first, dir.path().join("三率.csv"));
        assert_eq!(second, dir.path().join("三率 (2).csv"));
        assert_eq!(std::fs::read_to_string(first).expect("read"), "a,b\n");
        assert_eq!(std::fs::read_to_string(second).expect("read"), "c,d\n");
        let too_big = "x".repeat(MAX_EXPORT_BYTES + 1);
        assert!(save_text(dir.path(), "big.csv", &too_big).is_err());
    }
}
