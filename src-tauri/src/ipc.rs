//! Types that cross the IPC boundary. Each derives `ts_rs::TS`; the TypeScript
//! declarations in `ui/src/ipc/bindings/` are generated from them (see `bindings.rs`).

use serde::Serialize;
use ts_rs::TS;

/// What the first screen shows about the app itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct AppInfo {
    /// The product name from `tauri.conf.json` (接诉即办工作台).
    pub product_name: String,
    /// The app's version (semver).
    pub version: String,
    /// Whether the app is in touch with the central server.
    pub connection: ConnectionState,
}

/// The app's link to the central server.
///
/// Tagged (`{ "state": "disconnected" }`) so that later states can carry data
/// (the server's address, the last successful sync) without breaking the UI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum ConnectionState {
    /// No server is configured or reachable; the app works from its cache.
    Disconnected,
}
