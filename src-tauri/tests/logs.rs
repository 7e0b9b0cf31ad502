//! 导出日志 through the real command on the mock runtime: allowed to the main window,
//! written only into the folder the user picked, every log file in it, oldest first.

mod support;

use serde_json::json;
use support::{app, export_folder};

#[test]
fn the_logs_are_exported_into_the_picked_folder() {
    let app = app();
    let logs = jsjb_desk::logs::log_dir(&app.data_dir);
    std::fs::create_dir_all(&logs).expect("logs");
    std::fs::write(
        logs.join("jsjb-desk_2026-12-01_09-00-00.log"),
        "[2026-12-01][09:00:00][jsjb_desk][INFO] yesterday\n",
    )
    .expect("rotated");
    std::fs::write(
        logs.join("jsjb-desk.log"),
        "[2026-12-02][09:00:00][jsjb_desk][INFO] today\n",
    )
    .expect("current");

    let args = json!({"fileName": "../接诉即办工作台日志-2026-12-02.txt", "dialogTitle": "选择保存日志的文件夹"});
    let saved = app.ok("export_logs", args);
    let path = std::path::PathBuf::from(saved["path"].as_str().expect("path"));
    assert_eq!(
        path.parent(),
        Some(export_folder(&app.data_dir).as_path()),
        "{path:?}"
    );
    let text = std::fs::read_to_string(&path).expect("read");
    let yesterday = text.find("yesterday").expect("the rotated file");
    let today = text.find("today").expect("the current file");
    assert!(yesterday < today, "{text}");
    assert!(text.contains("===== jsjb-desk.log ====="), "{text}");
}
