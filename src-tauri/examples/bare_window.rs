//! The baseline of the footprint bench (`cargo xtask bench desk`, issue 15 item 4): a bare
//! Tauri 2 window — the same Tauri, WebKit and build profile as the app, none of the
//! app (no store, no sync, no Vue), showing one line of static HTML. The bench compares
//! the app's idle memory with this window's, measured in the same run.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

/// The page: one line of static HTML, served on a URI scheme of the example's own (the
/// app's assets are its UI, and Tauri refuses `data:` URLs without a feature).
const PAGE: &str =
    "<!doctype html><meta charset=utf-8><title>bare</title><h1>bare Tauri 2 window</h1>";

fn main() {
    // The app's config without its windows.
    let mut context = tauri::generate_context!();
    context.config_mut().app.windows.clear();
    let result = tauri::Builder::default()
        .register_uri_scheme_protocol("bare", |_ctx, _request| {
            tauri::http::Response::builder()
                .header("content-type", "text/html; charset=utf-8")
                .body(PAGE.as_bytes().to_vec())
                .unwrap_or_default()
        })
        .setup(|app| {
            // WebKitGTK's form of a custom scheme's URL (Windows would need http://bare.localhost).
            let url = tauri::WebviewUrl::CustomProtocol("bare://localhost/".parse()?);
            tauri::WebviewWindowBuilder::new(app, "bare", url)
                .title("bare")
                .inner_size(1366.0, 768.0)
                .build()?;
            Ok(())
        })
        .run(context);
    if let Err(e) = result {
        eprintln!("bare window: {e}");
        std::process::exit(1);
    }
}
