//! Declares the app's own commands so that `capabilities/` can allow them one by one
//! (a command missing from a capability is refused at run time).

/// Every command in `src/commands.rs`. Keep in step with `generate_handler!` in `lib.rs`.
const COMMANDS: &[&str] = &[
    "app_info",
    "login",
    "resume_session",
    "logout",
    "session",
    "sync_status",
    "sync_now",
    "inbox",
    "letter_detail",
    "mark_seen",
    "take_action",
    "failed_actions",
    "dismiss_failed",
    "reveal_writer",
    "type_in_letter",
    "attachment",
    "directory",
    "settings",
    "save_settings",
    "test_chime",
    "waiting_status",
    "save_export",
    "statistics",
    "stats_view",
    "save_report_export",
    "clock_rules",
    "wall_board",
    "pick_letter_files",
    "clear_letter_files",
    "set_full_screen",
    "handover",
    "acknowledge_handover",
    "account_notices",
    "acknowledge_notices",
    // src/logs.rs
    "export_logs",
    // src/signing.rs
    "signing_key_status",
    "enrol_signing_key",
    "signoff_preview",
    "sign_feedback_form",
    "signed_form_status",
    "export_signed_form",
    // src/admin.rs
    "admin_keys",
    "approve_signing_key",
    "revoke_signing_key",
    "admin_users",
    "create_user",
    "set_user_active",
    "reset_user_password",
    "change_own_password",
    "create_unit",
    "rename_unit",
    "move_unit",
    "set_unit_active",
    "revoke_user_sessions",
    "routing_rules",
    "save_routing_rules",
    "test_routing_rules",
    "update_user",
    // src/delegations.rs
    "delegations",
    "grant_delegation",
    "revoke_delegation",
];

fn main() {
    println!("cargo:rerun-if-changed=src-tauri/capabilities");
    println!("cargo:rerun-if-changed=tauri.conf.json");
    println!("cargo:rerun-if-changed=icons");
    let attributes = tauri_build::Attributes::new()
        .capabilities_path_pattern("./src-tauri/capabilities/**/*")
        .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    if let Err(error) = tauri_build::try_build(attributes) {
        // A build script reports failure by panicking; print the whole chain first.
        println!("cargo:warning=tauri-build failed: {error:#}");
        std::process::exit(1);
    }
}
