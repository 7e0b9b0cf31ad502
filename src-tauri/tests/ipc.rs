//! The real command wiring (`build_app` + the app's own context and capabilities),
//! driven through Tauri's mock runtime: no window system needed.

use serde_json::{Value, json};
use tauri::test::{INVOKE_KEY, MockRuntime, get_ipc_response, mock_builder};
use tauri::webview::InvokeRequest;
use tauri::{App, WebviewWindow, WebviewWindowBuilder};

fn app() -> App<MockRuntime> {
    jsjb_desk::build_app(mock_builder())
        .build(jsjb_desk::context())
        .expect("the app builds on the mock runtime")
}

fn window(app: &App<MockRuntime>, label: &str) -> WebviewWindow<MockRuntime> {
    WebviewWindowBuilder::new(app, label, Default::default())
        .build()
        .expect("a mock window")
}

fn invoke(window: &WebviewWindow<MockRuntime>, cmd: &str) -> Result<Value, Value> {
    let request = InvokeRequest {
        cmd: cmd.into(),
        callback: tauri::ipc::CallbackFn(0),
        error: tauri::ipc::CallbackFn(1),
        url: if cfg!(windows) {
            "http://tauri.localhost"
        } else {
            "tauri://localhost"
        }
        .parse()
        .expect("a valid URL"),
        body: tauri::ipc::InvokeBody::default(),
        headers: Default::default(),
        invoke_key: INVOKE_KEY.to_string(),
    };
    get_ipc_response(window, request)
        .map(|body| body.deserialize::<Value>().expect("the response is JSON"))
}

#[test]
fn app_info_reports_product_version_and_disconnected() {
    let app = app();
    let main = window(&app, "main");
    let answer = invoke(&main, "app_info").expect("app_info is allowed for the main window");
    assert_eq!(
        answer,
        json!({
            "productName": "接诉即办工作台",
            "version": env!("CARGO_PKG_VERSION"),
            "connection": { "state": "disconnected" },
        })
    );
}

#[test]
fn app_info_is_refused_to_a_window_without_the_capability() {
    let app = app();
    let other = window(&app, "not-in-any-capability");
    let refusal = invoke(&other, "app_info").expect_err("capabilities are enforced");
    assert!(
        refusal.to_string().contains("not allowed"),
        "unexpected refusal: {refusal}"
    );
}

#[test]
fn unknown_commands_are_refused() {
    let app = app();
    let main = window(&app, "main");
    assert!(invoke(&main, "no_such_command").is_err());
}
