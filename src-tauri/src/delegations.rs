//! 代签: the chief's own grants, from the chief's screen. Thin commands over the server's
//! delegation calls; the server checks that the caller is the unit's chief, that the
//! deputy is another active user of the unit and that the period is in the future.

use chrono::{DateTime, Utc};
use jsjb_core::letter::Category;
use jsjb_core::org::UserId;
use jsjb_proto::{Delegation, DelegationRequest};
use tauri::State;

use crate::app_state::AppState;
use crate::error::CommandResult;

/// `delegations`: the grants the user is part of (as chief or deputy), newest first.
#[tauri::command]
pub async fn delegations(app_state: State<'_, AppState>) -> CommandResult<Vec<Delegation>> {
    let session = app_state.session()?;
    let mut grants = session.client.delegations().await?;
    grants.sort_by_key(|g| std::cmp::Reverse(g.created_at));
    Ok(grants)
}

/// `grant_delegation`: lets a deputy of the chief's unit sign for a period, for every
/// form or one category's.
#[tauri::command]
pub async fn grant_delegation(
    app_state: State<'_, AppState>,
    deputy: UserId,
    valid_from: DateTime<Utc>,
    valid_until: DateTime<Utc>,
    category: Option<Category>,
    note: String,
) -> CommandResult<Delegation> {
    let session = app_state.session()?;
    let request = DelegationRequest {
        deputy,
        valid_from,
        valid_until,
        category,
        note,
    };
    Ok(session.client.grant_delegation(&request).await?)
}

/// `revoke_delegation`: the grant ends now.
#[tauri::command]
pub async fn revoke_delegation(
    app_state: State<'_, AppState>,
    delegation_id: i64,
) -> CommandResult<Delegation> {
    let session = app_state.session()?;
    Ok(session.client.revoke_delegation(delegation_id).await?)
}
