//! 接诉即办工作台 — the desktop shell.
//!
//! This crate is glue: it builds the Tauri app, holds the state and exposes thin
//! commands. Domain rules live in `crates/core`.

pub mod bindings;
pub mod commands;
pub mod error;
pub mod ipc;

use tauri::{Builder, Runtime};

pub use error::{CommandError, ErrorCode};

/// Wires commands (and later state, events, plugins) into a builder.
///
/// Generic over the runtime so that tests drive the very same wiring through
/// `tauri::test::mock_builder()`.
pub fn build_app<R: Runtime>(builder: Builder<R>) -> Builder<R> {
    builder.invoke_handler(tauri::generate_handler![commands::app_info])
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
    match build_app(tauri::Builder::default()).run(context()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "the app failed to start");
            eprintln!("接诉即办工作台 failed to start: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Logs to stderr; `RUST_LOG` overrides the default level (info).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // A second initialisation (e.g. from a test) is harmless: keep the first.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
