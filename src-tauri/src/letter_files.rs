//! Files a desk attaches to a phone letter (录入来电, issue 12 item 7): picked in the
//! native file dialog, read here, and held behind tokens until the letter is sent. The
//! webview sees only a token, the file's name and its size: it can neither name a path
//! nor read a file of its choosing. The server decides each file's type from its bytes
//! and enforces the per-type limits; the size and count checked here only keep a wrong
//! pick from being read into memory.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use jsjb_sync::LetterFile;
use serde::Serialize;
use tauri::{AppHandle, Manager, Runtime};
use ts_rs::TS;

use crate::error::{CommandError, CommandResult, ErrorCode};

/// A letter carries at most 9 images and 3 voice clips (the server's limits).
pub const MAX_FILES: usize = 12;
/// No accepted type is larger (an image: 10 MiB).
pub const MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;
/// What the dialog offers: the types the server accepts.
const EXTENSIONS: &[&str] = &[
    "jpg", "jpeg", "png", "webp", "gif", "amr", "mp3", "m4a", "wav", "ogg", "silk",
];

/// Where picked files come from: the native dialog, or (tests on the mock runtime, which
/// has no dialog) these paths. Set only by the app's builder in Rust, never over IPC.
#[derive(Debug, Clone)]
pub enum FilePicker {
    Ask,
    Fixed(Vec<PathBuf>),
}

/// A file held for the letter, as the UI sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct PickedFile {
    pub token: String,
    pub name: String,
    #[ts(type = "number")]
    pub size: u64,
}

/// The files held for the desk's phone-letter form, by token (the one owner of them).
#[derive(Default)]
pub struct HeldFiles(Mutex<BTreeMap<String, LetterFile>>);

impl HeldFiles {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, LetterFile>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Forgets every held file (a new form, a sign-out).
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// The files of these tokens, in order; an unknown token is refused.
    pub fn take(&self, tokens: &[String]) -> CommandResult<Vec<LetterFile>> {
        let held = self.lock();
        tokens
            .iter()
            .map(|t| {
                held.get(t).cloned().ok_or_else(|| {
                    CommandError::new(ErrorCode::InvalidInput, "an attachment is no longer held")
                })
            })
            .collect()
    }

    /// Keeps only these tokens' files: the ones the form still lists (a file the desk
    /// removed from the form is let go, and no longer counts against [`MAX_FILES`]).
    pub fn retain(&self, keep: &[String]) {
        self.lock().retain(|token, _| keep.contains(token));
    }

    /// Drops these tokens' files (the letter was created with them).
    pub fn release(&self, tokens: &[String]) {
        let mut held = self.lock();
        for t in tokens {
            held.remove(t);
        }
    }

    /// Holds `files` (read by [`read`]), within [`MAX_FILES`] in all.
    pub fn hold(&self, files: Vec<LetterFile>) -> CommandResult<Vec<PickedFile>> {
        let mut held = self.lock();
        if held.len() + files.len() > MAX_FILES {
            return Err(too_many());
        }
        Ok(files
            .into_iter()
            .map(|file| {
                let token = uuid::Uuid::new_v4().to_string();
                let picked = PickedFile {
                    token: token.clone(),
                    name: file.file_name.clone(),
                    size: file.bytes.len() as u64,
                };
                held.insert(token, file);
                picked
            })
            .collect())
    }
}

fn too_many() -> CommandError {
    CommandError::new(
        ErrorCode::InvalidInput,
        format!("at most {MAX_FILES} attachments"),
    )
}

/// Reads the picked files (blocking: call it off the async runtime), each at most
/// [`MAX_FILE_BYTES`], at most [`MAX_FILES`].
pub fn read(paths: &[PathBuf]) -> CommandResult<Vec<LetterFile>> {
    if paths.len() > MAX_FILES {
        return Err(too_many());
    }
    paths
        .iter()
        .map(|path| {
            let file_name = path
                .file_name()
                .map(|n| n.to_string_lossy().chars().take(128).collect::<String>())
                .unwrap_or_default();
            let unreadable = |e: std::io::Error| {
                CommandError::new(ErrorCode::InvalidInput, format!("{file_name}: {e}"))
            };
            let size = std::fs::metadata(path).map_err(unreadable)?.len();
            if size > MAX_FILE_BYTES {
                return Err(CommandError::new(
                    ErrorCode::InvalidInput,
                    format!(
                        "{file_name} is larger than {} MiB",
                        MAX_FILE_BYTES / (1024 * 1024)
                    ),
                ));
            }
            let bytes = std::fs::read(path).map_err(unreadable)?;
            Ok(LetterFile { file_name, bytes })
        })
        .collect()
}

/// Asks the user for files in the native dialog (or takes the builder's); `title` from
/// the UI's locale. Empty when they cancel.
pub async fn pick<R: Runtime>(
    app: &AppHandle<R>,
    picker: &FilePicker,
    title: &str,
) -> CommandResult<Vec<PathBuf>> {
    if let FilePicker::Fixed(paths) = picker {
        return Ok(paths.clone());
    }
    let Some(dialog) = app.try_state::<tauri_plugin_dialog::Dialog<R>>() else {
        return Err(CommandError::internal("no file picker in this build"));
    };
    let title: String = title.chars().filter(|c| !c.is_control()).take(80).collect();
    let (tx, rx) = tokio::sync::oneshot::channel();
    dialog
        .file()
        .set_title(title)
        .add_filter("图片和录音 / images and recordings", EXTENSIONS)
        .pick_files(move |picked| {
            let _ = tx.send(picked);
        });
    let picked = rx
        .await
        .map_err(|_| CommandError::internal("the file picker went away"))?;
    Ok(picked
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| p.into_path().ok())
        .collect())
}
