//! The workstation's settings: one JSON file in the app-data folder, shared by every
//! user of the workstation (the server URL is needed before anyone signs in).

use std::path::{Path, PathBuf};

use jsjb_chime::AlarmSettings;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::{CommandError, ErrorCode};

/// The locales the UI ships (`ui/src/i18n`).
pub const LOCALES: &[&str] = &["zh-CN", "en"];

const FILE: &str = "settings.json";

/// The arrival chime.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ChimeSettings {
    /// No sound; the OS notification and the visual alert stay.
    pub muted: bool,
    /// 0.0–1.0.
    pub volume: f32,
    /// Ring again, faster as the 10-minute sign-for clock runs down, while letters wait.
    pub repeat: bool,
}

impl Default for ChimeSettings {
    fn default() -> Self {
        let alarm = AlarmSettings::default();
        ChimeSettings {
            muted: alarm.muted,
            volume: alarm.volume,
            repeat: alarm.repeat,
        }
    }
}

impl ChimeSettings {
    /// The alarm's settings, with the default rising cadence.
    pub fn alarm(&self) -> AlarmSettings {
        AlarmSettings {
            muted: self.muted,
            volume: self.volume,
            repeat: self.repeat,
            ..AlarmSettings::default()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", default)]
pub struct Settings {
    /// The central server; empty until the first sign-in (or `JSJB_SERVER_URL`).
    pub server_url: String,
    /// `zh-CN` or `en`.
    pub locale: String,
    pub chime: ChimeSettings,
    /// Start the app when the user logs in to the workstation (off by default).
    pub autostart: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            server_url: String::new(),
            locale: "zh-CN".to_owned(),
            chime: ChimeSettings::default(),
            autostart: false,
        }
    }
}

impl Settings {
    /// Checks every field; the server URL comes back normalised.
    pub fn validated(mut self) -> Result<Settings, CommandError> {
        let url = self.server_url.trim();
        if !url.is_empty() {
            self.server_url = normalise_url(url)?;
        } else {
            self.server_url = String::new();
        }
        if !LOCALES.contains(&self.locale.as_str()) {
            return Err(CommandError::new(
                ErrorCode::InvalidSettings,
                format!("locale {} is not one of {LOCALES:?}", self.locale),
            ));
        }
        self.chime
            .alarm()
            .validate()
            .map_err(|e| CommandError::new(ErrorCode::InvalidSettings, format!("chime: {e}")))?;
        Ok(self)
    }

    /// The settings stored in `dir`, or the defaults (with `default_server`) when there
    /// are none or they cannot be read (logged: a broken file must not stop the app).
    pub fn load(dir: &Path, default_server: Option<&str>) -> Settings {
        let path = dir.join(FILE);
        let stored = match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<Settings>(&bytes) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!(path = %path.display(), "ignoring unreadable settings: {e}");
                    None
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                tracing::warn!(path = %path.display(), "cannot read the settings: {e}");
                None
            }
        };
        let mut settings = stored.unwrap_or_default();
        if settings.server_url.is_empty()
            && let Some(url) = default_server
        {
            settings.server_url = url.to_owned();
        }
        match settings.clone().validated() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("stored settings are invalid, using the defaults: {e}");
                Settings::default()
            }
        }
    }

    pub fn save(&self, dir: &Path) -> Result<(), CommandError> {
        let json = serde_json::to_vec_pretty(self)
            .map_err(|e| CommandError::internal(format!("settings: {e}")))?;
        write_atomically(&dir.join(FILE), &json, false)
            .map_err(|e| CommandError::internal(format!("cannot save the settings: {e}")))
    }
}

/// `http(s)://host[:port][/path]` without a trailing `/`: the form the server URL is
/// stored, shown and keyed by (cache file, keyring entry).
pub fn normalise_url(input: &str) -> Result<String, CommandError> {
    let url = jsjb_sync::parse_base_url(input)
        .map_err(|e| CommandError::new(ErrorCode::InvalidUrl, e.to_string()))?;
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over `path`, so a
/// crash never leaves half a file. `private`: readable by the owner only (Unix).
pub fn write_atomically(path: &Path, bytes: &[u8], private: bool) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp: PathBuf = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        let ok = Settings {
            server_url: " http://127.0.0.1:8080/ ".to_owned(),
            ..Settings::default()
        }
        .validated()
        .expect("valid");
        assert_eq!(ok.server_url, "http://127.0.0.1:8080");
        let bad_volume = Settings {
            chime: ChimeSettings {
                volume: 1.5,
                ..ChimeSettings::default()
            },
            ..Settings::default()
        };
        assert_eq!(
            bad_volume.validated().map_err(|e| e.code),
            Err(ErrorCode::InvalidSettings)
        );
        let bad_url = Settings {
            server_url: "ftp://x".to_owned(),
            ..Settings::default()
        };
        assert_eq!(
            bad_url.validated().map_err(|e| e.code),
            Err(ErrorCode::InvalidUrl)
        );
    }
}
