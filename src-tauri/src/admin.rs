//! The admin console (role `admin`): thin commands over the server's admin calls. The
//! server decides who may do what (role, scope, dual control); these commands only
//! carry the request, check what the UI must not send empty, and need the server.

use jsjb_core::letter::Category;
use jsjb_core::org::{Role, Tier, Unit};
use jsjb_core::routing::RoutingRules;
use jsjb_proto::routing::{
    RoutingRulesView, RoutingTestResult, SaveRoutingRequest, TestRoutingRequest,
};
use jsjb_proto::{
    AdminKey, AdminUser, AdminUserUpdated, ChangePasswordRequest, KeyActivation, SigningKey,
};
use jsjb_sync::{NewAccount, UserUpdate};
use tauri::State;

use crate::app_state::AppState;
use crate::error::{CommandError, CommandResult, ErrorCode};

/// The longest revocation reason sent (the server keeps as much).
const MAX_REASON_CHARS: usize = jsjb_core::workflow::MAX_TEXT_CHARS;

/// `admin_keys`: the signing keys of the admin's units, with owners and approvals.
#[tauri::command]
pub async fn admin_keys(app_state: State<'_, AppState>) -> CommandResult<Vec<AdminKey>> {
    let session = app_state.session()?;
    Ok(session.client.admin_keys().await?)
}

/// `approve_signing_key`: this admin's approval, after comparing the fingerprint with
/// the chief. The answer says whether the key is active now or waits for a second admin.
#[tauri::command]
pub async fn approve_signing_key(
    app_state: State<'_, AppState>,
    key_id: i64,
) -> CommandResult<KeyActivation> {
    let session = app_state.session()?;
    Ok(session.client.approve_key(key_id).await?)
}

/// `revoke_signing_key`: revokes a key; the reason is required (it is what the audit log
/// and the owner's notice say).
#[tauri::command]
pub async fn revoke_signing_key(
    app_state: State<'_, AppState>,
    key_id: i64,
    reason: String,
) -> CommandResult<SigningKey> {
    let reason = required_reason(&reason)?;
    let session = app_state.session()?;
    Ok(session.client.revoke_key(key_id, &reason).await?)
}

/// `admin_users`: the users of the admin's units, with unit, roles, state, last sign-in.
#[tauri::command]
pub async fn admin_users(app_state: State<'_, AppState>) -> CommandResult<Vec<AdminUser>> {
    let session = app_state.session()?;
    Ok(session.client.admin_users().await?)
}

/// `create_user`: a new account; the initial password is to be changed at first sign-in.
#[tauri::command]
pub async fn create_user(
    app_state: State<'_, AppState>,
    unit_id: i64,
    username: String,
    display_name: String,
    roles: Vec<Role>,
    password: String,
) -> CommandResult<AdminUser> {
    let session = app_state.session()?;
    let account = NewAccount {
        unit_id,
        username,
        display_name,
        roles,
        password,
    };
    Ok(session.client.create_user(&account).await?)
}

/// `set_user_active`: deactivates (the user's sessions end at once) or reactivates, with
/// a required reason.
#[tauri::command]
pub async fn set_user_active(
    app_state: State<'_, AppState>,
    user_id: i64,
    active: bool,
    reason: String,
) -> CommandResult<AdminUser> {
    let reason = required_reason(&reason)?;
    let session = app_state.session()?;
    Ok(session
        .client
        .set_user_active(user_id, active, &reason)
        .await?)
}

/// `reset_user_password`: an admin sets a password the user must change at next sign-in.
#[tauri::command]
pub async fn reset_user_password(
    app_state: State<'_, AppState>,
    user_id: i64,
    password: String,
) -> CommandResult<()> {
    let session = app_state.session()?;
    Ok(session.client.reset_password(user_id, &password).await?)
}

/// `create_unit`: a new unit below one of the admin's units.
#[tauri::command]
pub async fn create_unit(
    app_state: State<'_, AppState>,
    parent_id: i64,
    tier: Tier,
    name: String,
) -> CommandResult<Unit> {
    let session = app_state.session()?;
    Ok(session.client.create_unit(parent_id, tier, &name).await?)
}

/// `rename_unit`: renames a unit of the admin's subtree, with a required reason.
#[tauri::command]
pub async fn rename_unit(
    app_state: State<'_, AppState>,
    unit_id: i64,
    name: String,
    reason: String,
) -> CommandResult<Unit> {
    let reason = required_reason(&reason)?;
    let session = app_state.session()?;
    Ok(session.client.rename_unit(unit_id, &name, &reason).await?)
}

/// `move_unit`: moves a unit of the admin's subtree under another parent there (a
/// station to another branch), with a required reason.
#[tauri::command]
pub async fn move_unit(
    app_state: State<'_, AppState>,
    unit_id: i64,
    parent_id: i64,
    reason: String,
) -> CommandResult<Unit> {
    let reason = required_reason(&reason)?;
    let session = app_state.session()?;
    Ok(session
        .client
        .move_unit(unit_id, parent_id, &reason)
        .await?)
}

/// `revoke_user_sessions` (强制下线): ends every open session of the user at once, with
/// a required reason; how many ended.
#[tauri::command]
pub async fn revoke_user_sessions(
    app_state: State<'_, AppState>,
    user_id: i64,
    reason: String,
) -> CommandResult<u32> {
    let reason = required_reason(&reason)?;
    let session = app_state.session()?;
    Ok(session
        .client
        .revoke_user_sessions(user_id, &reason)
        .await?)
}

/// `routing_rules`: the 自动分派规则 in force, with their version (city admins).
#[tauri::command]
pub async fn routing_rules(app_state: State<'_, AppState>) -> CommandResult<RoutingRulesView> {
    let session = app_state.session()?;
    Ok(session.client.routing_rules().await?)
}

/// `save_routing_rules`: a new version of the rules, applied by the server at once;
/// `expectedVersion` is the version edited (a newer one is refused: `stale_version`).
#[tauri::command]
pub async fn save_routing_rules(
    app_state: State<'_, AppState>,
    rules: RoutingRules,
    expected_version: i64,
    reason: String,
) -> CommandResult<RoutingRulesView> {
    let reason = required_reason(&reason)?;
    let session = app_state.session()?;
    let request = SaveRoutingRequest {
        rules,
        expected_version,
        reason,
    };
    Ok(session.client.save_routing_rules(&request).await?)
}

/// `test_routing_rules`: which draft rule a sample letter would meet (nothing saved).
#[tauri::command]
pub async fn test_routing_rules(
    app_state: State<'_, AppState>,
    rules: RoutingRules,
    category: Category,
    subject: String,
    body: String,
) -> CommandResult<RoutingTestResult> {
    let session = app_state.session()?;
    let request = TestRoutingRequest {
        rules,
        category,
        subject,
        body,
    };
    Ok(session.client.test_routing_rules(&request).await?)
}

/// `set_unit_active`: deactivates a unit nothing depends on any more (it keeps its
/// letters' history, receives no new ones) or reactivates it, with a required reason.
#[tauri::command]
pub async fn set_unit_active(
    app_state: State<'_, AppState>,
    unit_id: i64,
    active: bool,
    reason: String,
) -> CommandResult<Unit> {
    let reason = required_reason(&reason)?;
    let session = app_state.session()?;
    Ok(session
        .client
        .set_unit_active(unit_id, active, &reason)
        .await?)
}

/// `update_user`: changes a user's name, roles or unit (an omitted one is kept), with a
/// required reason; the answer says which sessions, keys and delegations it ended.
#[tauri::command]
pub async fn update_user(
    app_state: State<'_, AppState>,
    user_id: i64,
    display_name: Option<String>,
    roles: Option<Vec<Role>>,
    unit_id: Option<i64>,
    reason: String,
) -> CommandResult<AdminUserUpdated> {
    let reason = required_reason(&reason)?;
    let session = app_state.session()?;
    let change = UserUpdate {
        display_name,
        roles,
        unit_id,
        reason,
    };
    Ok(session.client.update_user(user_id, &change).await?)
}

/// `change_own_password`: any user sets their own password with the current one.
#[tauri::command]
pub async fn change_own_password(
    app_state: State<'_, AppState>,
    current_password: String,
    new_password: String,
) -> CommandResult<()> {
    let session = app_state.session()?;
    Ok(session
        .client
        .change_password(&ChangePasswordRequest {
            current_password,
            new_password,
        })
        .await?)
}

fn required_reason(reason: &str) -> CommandResult<String> {
    let reason: String = reason.trim().chars().take(MAX_REASON_CHARS).collect();
    if reason.is_empty() {
        return Err(CommandError::new(
            ErrorCode::InvalidInput,
            "a revocation needs a reason",
        ));
    }
    Ok(reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blank_reason_is_refused_and_a_long_one_cut() {
        assert_eq!(
            required_reason("  \n ").map_err(|e| e.code),
            Err(ErrorCode::InvalidInput)
        );
        let long = "丢".repeat(MAX_REASON_CHARS + 10);
        assert_eq!(
            required_reason(&long).map(|r| r.chars().count()),
            Ok(MAX_REASON_CHARS)
        );
    }
}
