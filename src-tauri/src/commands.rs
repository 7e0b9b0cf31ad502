//! Tauri commands: thin adapters from IPC to the library crates.
//!
//! Each command must also be listed in `build.rs` (`COMMANDS`), registered in
//! `build_app` and allowed in `capabilities/default.json`.

use tauri::{AppHandle, Runtime};

use crate::error::CommandResult;
use crate::ipc::{AppInfo, ConnectionState};

/// The product's name and version, and the state of the link to the server.
#[tauri::command]
pub fn app_info<R: Runtime>(app: AppHandle<R>) -> CommandResult<AppInfo> {
    let package = app.package_info();
    Ok(AppInfo {
        product_name: app
            .config()
            .product_name
            .clone()
            .unwrap_or_else(|| package.name.clone()),
        version: package.version.to_string(),
        // The sync engine does not exist yet: until it does, the app is offline.
        connection: ConnectionState::Disconnected,
    })
}
