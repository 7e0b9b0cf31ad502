//! Administration of units and users, for the admin API and the admin CLI alike:
//! both call the same functions, so the rules (tree shape, user names, password
//! length, scope) are checked in one place.

use std::collections::BTreeSet;

use axum::extract::State;
use axum::http::StatusCode;
use jsjb_core::org::{Role, Tier, UnitId, UnitTree, UserId};
use jsjb_proto::AdminKey;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Session, UnitDto, UserDto, check_new_password, hash_password, unit_tree};
use crate::config::Config;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;
use crate::time::TimeSource;
use jsjb_proto::limits::MAX_NAME_CHARS;
use jsjb_storage::audit::Verification;
use jsjb_storage::{Actor, NewUnit, NewUser, Storage};

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUnitRequest {
    /// The parent unit; omit only for the city bureau (the root).
    pub parent_id: Option<i64>,
    #[schema(example = "station")]
    pub tier: Tier,
    /// Trimmed; 1–64 characters.
    #[schema(min_length = 1, max_length = 64)]
    pub name: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    pub unit_id: i64,
    /// 3–32 characters: letters, digits, `.`, `_` or `-` (surrounding spaces are trimmed).
    #[schema(min_length = 3)]
    pub username: String,
    /// Trimmed; 1–64 characters.
    #[schema(min_length = 1, max_length = 64)]
    pub display_name: String,
    #[schema(min_items = 1, example = json!(["officer"]))]
    pub roles: Vec<Role>,
    /// 10–128 characters.
    #[schema(min_length = 10, max_length = 128)]
    pub password: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordRequest {
    /// 10–128 characters.
    #[schema(min_length = 10, max_length = 128)]
    pub password: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameUnitRequest {
    pub name: String,
    /// Why (kept in the audit log); required.
    pub reason: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetActiveRequest {
    pub active: bool,
    /// Why (kept in the audit log); required.
    pub reason: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveUnitRequest {
    /// The new parent: for a station, another branch.
    pub parent_id: i64,
    /// Why (kept in the audit log); required.
    pub reason: String,
}

/// What to change about a user; an omitted field stays as it is.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    /// Trimmed; 1–64 characters.
    #[schema(min_length = 1, max_length = 64)]
    pub display_name: Option<String>,
    #[schema(min_items = 1, example = json!(["officer"]))]
    pub roles: Option<Vec<Role>>,
    pub unit_id: Option<i64>,
    /// Why (kept in the audit log); required.
    pub reason: String,
}

/// A user after an admin's change, and what the change ended.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserUpdated {
    pub user: UserDto,
    /// Sessions ended (a new unit or new roles: the desktop signs in again).
    pub sessions_revoked: usize,
    /// Signing keys revoked (a chief who left the post or the unit).
    pub keys_revoked: usize,
    /// 代签 delegations ended (granted or held by a user who left).
    pub delegations_revoked: usize,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UnitList {
    pub units: Vec<UnitDto>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserList {
    pub users: Vec<UserDto>,
}

/// A name or reason as every admin route takes it: trimmed, 1–`max` characters, no
/// control characters (the CLI checks the same).
pub fn check_name(field: &str, name: &str, max: usize) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ApiError::invalid(
            field,
            format!("{field} must not be empty"),
        ));
    }
    if name.chars().count() > max {
        return Err(ApiError::invalid(
            field,
            format!("{field} may have at most {max} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            field,
            format!("{field} must not contain control characters"),
        ));
    }
    Ok(name.to_owned())
}

fn check_username(username: &str) -> Result<String, ApiError> {
    let u = username.trim();
    let ok_len = (3..=32).contains(&u.len());
    let ok_chars = u
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok_len && ok_chars {
        Ok(u.to_owned())
    } else {
        Err(ApiError::invalid(
            "username",
            "a user name has 3 to 32 characters: letters, digits, `.`, `_` or `-`",
        ))
    }
}

/// Whether `actor_unit` may administer `unit`: its own unit or one below it.
/// `None` (the CLI, run by whoever holds the database file) may administer anything.
fn check_scope(tree: &UnitTree, actor_unit: Option<UnitId>, unit: UnitId) -> Result<(), ApiError> {
    match actor_unit {
        Some(own) if !tree.in_scope(own, unit) => Err(ApiError::Forbidden(
            "you can administer only your own unit and the units below it".to_owned(),
        )),
        _ => Ok(()),
    }
}

pub async fn create_unit(
    store: &dyn Storage,
    time: &dyn TimeSource,
    req: CreateUnitRequest,
    actor: Actor,
) -> Result<UnitDto, ApiError> {
    let name = check_name("name", &req.name, MAX_NAME_CHARS)?;
    let tree = UnitTree::new(store.units().await?)
        .map_err(|e| ApiError::Internal(format!("stored tree invalid: {e}")))?;
    match req.parent_id.map(UnitId) {
        Some(parent) => {
            if tree.get(parent).is_none() {
                return Err(ApiError::invalid(
                    "parent_id",
                    format!("there is no unit {}", parent.0),
                ));
            }
            check_scope(&tree, actor.unit, parent)?;
        }
        // Only the CLI may found the tree: an API caller already belongs to a unit.
        None if actor.unit.is_some() => {
            return Err(ApiError::invalid(
                "parent_id",
                "a new unit needs a parent unit",
            ));
        }
        None => {}
    }
    let unit = store
        .create_unit(
            NewUnit {
                parent: req.parent_id.map(UnitId),
                tier: req.tier,
                name,
            },
            actor,
            time.now(),
        )
        .await?;
    Ok(unit.into())
}

pub async fn create_user(
    store: &dyn Storage,
    config: &Config,
    time: &dyn TimeSource,
    req: CreateUserRequest,
    actor: Actor,
) -> Result<UserDto, ApiError> {
    let username = check_username(&req.username)?;
    let display_name = check_name("display_name", &req.display_name, MAX_NAME_CHARS)?;
    let roles: BTreeSet<Role> = req.roles.into_iter().collect();
    if roles.is_empty() {
        return Err(ApiError::invalid("roles", "a user needs at least one role"));
    }
    check_new_password(&req.password)?;
    let tree = UnitTree::new(store.units().await?)
        .map_err(|e| ApiError::Internal(format!("stored tree invalid: {e}")))?;
    let unit = UnitId(req.unit_id);
    if tree.get(unit).is_none() {
        return Err(ApiError::invalid(
            "unit_id",
            format!("there is no unit {}", unit.0),
        ));
    }
    check_scope(&tree, actor.unit, unit)?;
    let password_hash = hash_password(req.password, config.argon2_memory_kib).await?;
    let user = store
        .create_user(
            NewUser {
                unit_id: unit,
                username,
                display_name,
                roles,
                password_hash,
            },
            actor,
            time.now(),
        )
        .await?;
    Ok(user.into())
}

/// Sets a new password by user id or name; clears the lock-out, ends all sessions.
pub async fn reset_password(
    store: &dyn Storage,
    config: &Config,
    time: &dyn TimeSource,
    user: UserId,
    password: String,
    actor: Actor,
) -> Result<(), ApiError> {
    check_new_password(&password)?;
    let target = store
        .user(user)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("there is no user {}", user.0)))?;
    let tree = UnitTree::new(store.units().await?)
        .map_err(|e| ApiError::Internal(format!("stored tree invalid: {e}")))?;
    check_scope(&tree, actor.unit, target.unit_id)?;
    let hash = hash_password(password, config.argon2_memory_kib).await?;
    store.set_password(user, hash, actor, time.now()).await?;
    Ok(())
}

// --- handlers -------------------------------------------------------------------------

/// Units the admin can administer (their unit and below).
#[utoipa::path(get, path = "/api/v1/admin/units", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = UnitList), (status = 403, body = Problem)))]
pub async fn list_units(
    State(state): State<AppState>,
    session: Session,
) -> Result<ApiJson<UnitList>, ApiError> {
    session.require(Role::Admin)?;
    let tree = unit_tree(&state).await?;
    let units = tree
        .subtree(session.unit_id)
        .into_iter()
        .filter_map(|id| tree.get(id).cloned().map(UnitDto::from))
        .collect();
    Ok(ApiJson(UnitList { units }))
}

#[utoipa::path(post, path = "/api/v1/admin/units", tag = "admin", security(("bearer" = [])),
    request_body = CreateUnitRequest,
    responses((status = 201, body = UnitDto), (status = 400, body = Problem), (status = 403, body = Problem)))]
pub async fn post_unit(
    State(state): State<AppState>,
    session: Session,
    ApiJson(req): ApiJson<CreateUnitRequest>,
) -> Result<(StatusCode, ApiJson<UnitDto>), ApiError> {
    session.require(Role::Admin)?;
    let unit = create_unit(
        state.store.as_ref(),
        state.time.as_ref(),
        req,
        session.actor(Some(Role::Admin)),
    )
    .await?;
    Ok((StatusCode::CREATED, ApiJson(unit)))
}

/// Renames a unit of the admin's subtree (their own included); letters keep their
/// history. The old name, the new one and the reason go to the audit log.
#[utoipa::path(post, path = "/api/v1/admin/units/{id}/name", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, description = "unit id")),
    request_body = RenameUnitRequest,
    responses((status = 200, body = UnitDto), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn post_unit_name(
    State(state): State<AppState>,
    session: Session,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<RenameUnitRequest>,
) -> Result<ApiJson<UnitDto>, ApiError> {
    session.require(Role::Admin)?;
    let tree = unit_tree(&state).await?;
    let unit = UnitId(id);
    // Scope first: a unit outside the subtree answers as one that does not exist.
    if tree.get(unit).is_none() || !tree.in_scope(session.unit_id, unit) {
        return Err(ApiError::NotFound(format!(
            "there is no unit {id} you administer"
        )));
    }
    let name = check_name("name", &req.name, MAX_NAME_CHARS)?;
    let reason = check_name("reason", &req.reason, jsjb_core::workflow::MAX_TEXT_CHARS)?;
    let renamed = state
        .store
        .rename_unit(
            unit,
            name,
            reason,
            session.actor(Some(Role::Admin)),
            state.time.now(),
        )
        .await?;
    Ok(ApiJson(renamed.into()))
}

/// Moves a unit of the admin's subtree under another parent there (a station to another
/// branch). Letters keep their unit and history; the desktops of both parents follow at
/// once (see `Storage::move_unit`). Both parents and the reason go to the audit log.
#[utoipa::path(post, path = "/api/v1/admin/units/{id}/parent", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, description = "unit id")),
    request_body = MoveUnitRequest,
    responses((status = 200, body = UnitDto), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "`already_done`: the unit is under that parent already")))]
pub async fn post_unit_parent(
    State(state): State<AppState>,
    session: Session,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<MoveUnitRequest>,
) -> Result<ApiJson<UnitDto>, ApiError> {
    session.require(Role::Admin)?;
    let tree = unit_tree(&state).await?;
    let unit = UnitId(id);
    // Scope first: the unit, where it is now and where it goes must all be the admin's
    // (so an admin never moves their own unit, nor one out of or into another subtree).
    let administers = |u: UnitId| tree.get(u).is_some() && tree.in_scope(session.unit_id, u);
    let from = tree.get(unit).and_then(|u| u.parent);
    if !administers(unit) || !from.is_some_and(administers) {
        return Err(ApiError::NotFound(format!(
            "there is no unit {id} you administer and can move"
        )));
    }
    let parent = UnitId(req.parent_id);
    if !administers(parent) {
        return Err(ApiError::invalid(
            "parent_id",
            format!("there is no unit {} you administer", parent.0),
        ));
    }
    let reason = check_name("reason", &req.reason, jsjb_core::workflow::MAX_TEXT_CHARS)?;
    let moved = state
        .store
        .move_unit(
            unit,
            parent,
            reason,
            session.actor(Some(Role::Admin)),
            state.time.now(),
        )
        .await?;
    // The hub caches parents: it learns the new one before announcing the move.
    state.hub.learn(state.store.units().await?.iter());
    if let Some(seq) = moved.last_change_seq {
        state.publish_change(seq, &[unit, moved.from]).await;
    }
    Ok(ApiJson(moved.unit.into()))
}

/// Deactivates a unit of the admin's subtree below their own (it keeps its letters'
/// history and receives no new letters) or reactivates it. Refused while the unit still
/// has active users, open letters or active units below it (`unit_in_use`). The reason
/// goes to the audit log.
#[utoipa::path(post, path = "/api/v1/admin/units/{id}/active", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, description = "unit id")),
    request_body = SetActiveRequest,
    responses((status = 200, body = UnitDto), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "`already_done`; `unit_in_use`: users, open letters or units still depend on it; `parent_inactive`")))]
pub async fn post_unit_active(
    State(state): State<AppState>,
    session: Session,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<SetActiveRequest>,
) -> Result<ApiJson<UnitDto>, ApiError> {
    session.require(Role::Admin)?;
    let tree = unit_tree(&state).await?;
    let unit = UnitId(id);
    // Scope first: a unit outside the subtree answers as one that does not exist.
    if tree.get(unit).is_none() || !tree.in_scope(session.unit_id, unit) {
        return Err(ApiError::NotFound(format!(
            "there is no unit {id} you administer"
        )));
    }
    if unit == session.unit_id {
        return Err(ApiError::Forbidden(
            "you cannot deactivate your own unit: an admin above it must".to_owned(),
        ));
    }
    let reason = check_name("reason", &req.reason, jsjb_core::workflow::MAX_TEXT_CHARS)?;
    let changed = state
        .store
        .set_unit_active(
            unit,
            req.active,
            reason,
            session.actor(Some(Role::Admin)),
            state.time.now(),
        )
        .await?;
    Ok(ApiJson(changed.into()))
}

/// Users of the units the admin can administer.
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = UserList), (status = 403, body = Problem)))]
pub async fn list_users(
    State(state): State<AppState>,
    session: Session,
) -> Result<ApiJson<UserList>, ApiError> {
    session.require(Role::Admin)?;
    let tree = unit_tree(&state).await?;
    let last: std::collections::HashMap<UserId, chrono::DateTime<chrono::Utc>> =
        state.store.last_sign_ins().await?.into_iter().collect();
    let users = state
        .store
        .users()
        .await?
        .into_iter()
        .filter(|u| tree.in_scope(session.unit_id, u.unit_id))
        .map(|u| {
            let at = last.get(&u.id).copied();
            UserDto {
                last_login_at: at,
                ..UserDto::from(u)
            }
        })
        .collect();
    Ok(ApiJson(UserList { users }))
}

#[utoipa::path(post, path = "/api/v1/admin/users", tag = "admin", security(("bearer" = [])),
    request_body = CreateUserRequest,
    responses((status = 201, body = UserDto), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 409, description = "`username_taken`", body = Problem)))]
pub async fn post_user(
    State(state): State<AppState>,
    session: Session,
    ApiJson(req): ApiJson<CreateUserRequest>,
) -> Result<(StatusCode, ApiJson<UserDto>), ApiError> {
    session.require(Role::Admin)?;
    let user = create_user(
        state.store.as_ref(),
        &state.config,
        state.time.as_ref(),
        req,
        session.actor(Some(Role::Admin)),
    )
    .await?;
    Ok((StatusCode::CREATED, ApiJson(user)))
}

#[utoipa::path(post, path = "/api/v1/admin/users/{id}/password", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, description = "user id")),
    request_body = ResetPasswordRequest,
    responses((status = 204), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn post_password(
    State(state): State<AppState>,
    session: Session,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<ResetPasswordRequest>,
) -> Result<StatusCode, ApiError> {
    session.require(Role::Admin)?;
    reset_password(
        state.store.as_ref(),
        &state.config,
        state.time.as_ref(),
        UserId(id),
        req.password,
        session.actor(Some(Role::Admin)),
    )
    .await?;
    // The user's sessions were revoked: their open streams end now.
    state
        .accounts
        .revoked(crate::auth::Revoked::User(UserId(id)));
    Ok(StatusCode::NO_CONTENT)
}

/// Changes a user of the admin's subtree: name, roles, unit (within the subtree). One
/// chief per unit holds; a new unit or roles end the user's sessions at once; a chief who
/// leaves the post or the unit loses their signing keys and delegations (each logged and
/// told to them). An admin cannot change their own account: another admin must.
#[utoipa::path(post, path = "/api/v1/admin/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, description = "user id")),
    request_body = UpdateUserRequest,
    responses((status = 200, body = UserUpdated), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "`already_done`: nothing would change; `chief_exists`: the unit has another active chief")))]
pub async fn post_user_update(
    State(state): State<AppState>,
    session: Session,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<UpdateUserRequest>,
) -> Result<ApiJson<UserUpdated>, ApiError> {
    session.require(Role::Admin)?;
    let tree = unit_tree(&state).await?;
    let target = UserId(id);
    // Scope first: a user outside the admin's subtree answers as one that does not exist.
    state
        .store
        .user(target)
        .await?
        .filter(|u| tree.in_scope(session.unit_id, u.unit_id))
        .ok_or_else(|| ApiError::NotFound(format!("there is no user {id} you administer")))?;
    if target == session.user_id {
        return Err(ApiError::Forbidden(
            "you cannot change your own account: another admin must".to_owned(),
        ));
    }
    let change = user_change(&tree, session.unit_id, &req)?;
    let reason = check_name("reason", &req.reason, jsjb_core::workflow::MAX_TEXT_CHARS)?;
    let changed = state
        .store
        .update_user(
            target,
            change,
            reason,
            session.actor(Some(Role::Admin)),
            state.time.now(),
        )
        .await?;
    if changed.sessions_revoked > 0 {
        state.accounts.revoked(crate::auth::Revoked::User(target));
    }
    Ok(ApiJson(UserUpdated {
        user: changed.user.into(),
        sessions_revoked: changed.sessions_revoked,
        keys_revoked: changed.keys_revoked,
        delegations_revoked: changed.delegations_revoked,
    }))
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeSessionsRequest {
    /// Why (kept in the audit log); required.
    pub reason: String,
}

/// How many sessions an admin's 强制下线 ended.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionsRevoked {
    pub sessions_revoked: usize,
}

/// 强制下线: ends every open session of a user of the admin's subtree at once — their
/// desktops' streams close and the next request asks them to sign in again. The account
/// stays usable (deactivate it to keep them out). An admin's own sessions end by logout.
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/sessions/revoke", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, description = "user id")),
    request_body = RevokeSessionsRequest,
    responses((status = 200, body = SessionsRevoked), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn post_sessions_revoke(
    State(state): State<AppState>,
    session: Session,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<RevokeSessionsRequest>,
) -> Result<ApiJson<SessionsRevoked>, ApiError> {
    session.require(Role::Admin)?;
    let tree = unit_tree(&state).await?;
    let target = UserId(id);
    // Scope first: a user outside the admin's subtree answers as one that does not exist.
    state
        .store
        .user(target)
        .await?
        .filter(|u| tree.in_scope(session.unit_id, u.unit_id))
        .ok_or_else(|| ApiError::NotFound(format!("there is no user {id} you administer")))?;
    if target == session.user_id {
        return Err(ApiError::Forbidden(
            "sign out to end your own sessions".to_owned(),
        ));
    }
    let reason = check_name("reason", &req.reason, jsjb_core::workflow::MAX_TEXT_CHARS)?;
    let sessions_revoked = state
        .store
        .revoke_user_sessions(
            target,
            reason,
            session.actor(Some(Role::Admin)),
            state.time.now(),
        )
        .await?;
    state.accounts.revoked(crate::auth::Revoked::User(target));
    Ok(ApiJson(SessionsRevoked { sessions_revoked }))
}

/// The checked change of an update request: names trimmed and bounded, roles present,
/// a new unit inside `admin_unit`'s subtree.
pub fn user_change(
    tree: &UnitTree,
    admin_unit: UnitId,
    req: &UpdateUserRequest,
) -> Result<jsjb_storage::UserChange, ApiError> {
    let display_name = req
        .display_name
        .as_deref()
        .map(|n| check_name("display_name", n, MAX_NAME_CHARS))
        .transpose()?;
    let roles: Option<BTreeSet<Role>> = req.roles.as_ref().map(|r| r.iter().copied().collect());
    if roles.as_ref().is_some_and(BTreeSet::is_empty) {
        return Err(ApiError::invalid("roles", "a user needs at least one role"));
    }
    let unit_id = req.unit_id.map(UnitId);
    if let Some(unit) = unit_id
        && (tree.get(unit).is_none() || !tree.in_scope(admin_unit, unit))
    {
        return Err(ApiError::invalid(
            "unit_id",
            format!("there is no unit {} you administer", unit.0),
        ));
    }
    Ok(jsjb_storage::UserChange {
        display_name,
        roles,
        unit_id,
    })
}

/// Signing keys of the units the admin administers, with their owners and the approvals
/// so far: what the admin console's 签名密钥 screen lists before an approval.
#[utoipa::path(get, path = "/api/v1/admin/keys", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = Vec<jsjb_proto::AdminKey>, description = "AdminKey[]"), (status = 403, body = Problem)))]
pub async fn list_keys(
    State(state): State<AppState>,
    session: Session,
) -> Result<ApiJson<Vec<AdminKey>>, ApiError> {
    session.require(Role::Admin)?;
    let tree = unit_tree(&state).await?;
    let users: std::collections::HashMap<UserId, jsjb_storage::UserRecord> = state
        .store
        .users()
        .await?
        .into_iter()
        .map(|u| (u.id, u))
        .collect();
    let signoff = state.store.signoff();
    let mut out = Vec::new();
    for key in signoff.keys().await? {
        // Scope first: a key outside the admin's subtree is not even looked at further.
        if !tree.in_scope(session.unit_id, key.unit_id) {
            continue;
        }
        let approvals = signoff.key_approvals(key.id).await?;
        let owner = users.get(&key.user_id);
        out.push(AdminKey {
            owner_username: owner.map(|u| u.username.clone()).unwrap_or_default(),
            owner_display_name: owner.map(|u| u.display_name.clone()).unwrap_or_default(),
            unit_name: tree
                .get(key.unit_id)
                .map(|u| u.name.clone())
                .unwrap_or_default(),
            approver_names: approvals
                .iter()
                .map(|id| {
                    users
                        .get(id)
                        .map(|u| u.display_name.clone())
                        .unwrap_or_default()
                })
                .collect(),
            approvals,
            approvals_required: jsjb_storage::signoff::APPROVALS_REQUIRED,
            key,
        });
    }
    Ok(ApiJson(out))
}

/// Deactivates a user (every session ends at once, open streams too) or reactivates
/// them; letters keep their history. The reason goes to the audit log.
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/active", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, description = "user id")),
    request_body = SetActiveRequest,
    responses((status = 200, body = UserDto), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "`already_done`; `chief_exists`: the unit has another active chief")))]
pub async fn post_active(
    State(state): State<AppState>,
    session: Session,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<SetActiveRequest>,
) -> Result<ApiJson<UserDto>, ApiError> {
    session.require(Role::Admin)?;
    let tree = unit_tree(&state).await?;
    let target = UserId(id);
    // Scope first: a user outside the admin's subtree answers as one that does not exist.
    let user = state
        .store
        .user(target)
        .await?
        .filter(|u| tree.in_scope(session.unit_id, u.unit_id))
        .ok_or_else(|| ApiError::NotFound(format!("there is no user {id} you administer")))?;
    if user.id == session.user_id {
        return Err(ApiError::Forbidden(
            "you cannot deactivate your own account: another admin must".to_owned(),
        ));
    }
    let reason = check_name("reason", &req.reason, jsjb_core::workflow::MAX_TEXT_CHARS)?;
    let updated = state
        .store
        .set_user_active(
            target,
            req.active,
            reason,
            session.actor(Some(Role::Admin)),
            state.time.now(),
        )
        .await?;
    if !req.active {
        state.accounts.revoked(crate::auth::Revoked::User(target));
    }
    Ok(ApiJson(updated.into()))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct VerifyQuery {
    /// A head a desktop kept, as `<seq>:<hash>`: the chain must still hold it.
    pub head: Option<String>,
}

/// Verifies the audit chain, every letter event against its audit entry, and (with
/// `head`) the chain against a desktop's kept head; names the first fault.
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "admin", security(("bearer" = [])),
    params(VerifyQuery),
    responses((status = 200, body = Verification), (status = 400, body = Problem), (status = 403, body = Problem)))]
pub async fn audit_verify(
    State(state): State<AppState>,
    session: Session,
    ApiQuery(query): ApiQuery<VerifyQuery>,
) -> Result<ApiJson<Verification>, ApiError> {
    session.require(Role::Admin)?;
    let heads = match query.head.as_deref() {
        Some(text) => vec![
            jsjb_storage::audit::parse_head(text)
                .map_err(|message| ApiError::invalid("head", message))?,
        ],
        None => Vec::new(),
    };
    Ok(ApiJson(state.store.verify_audit(heads).await?))
}
