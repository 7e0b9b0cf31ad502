//! Accounts and sessions: argon2id passwords, opaque bearer tokens (stored only as
//! SHA-256), login rate limits and lock-out, and the [`Session`] extractor.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use chrono::{DateTime, Utc};
use jsjb_core::org::{Role, Tier, Unit, UnitId, UnitTree, UserId};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, Problem};
use crate::extract::ApiJson;
use crate::state::AppState;
use crate::storage::{Actor, LockoutPolicy, NewSession, UserRecord};

/// The authenticated caller, from `Authorization: Bearer <token>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user_id: UserId,
    pub unit_id: UnitId,
    pub roles: BTreeSet<Role>,
    /// SHA-256 of the bearer token (to revoke this session on logout).
    pub token_hash: String,
    /// From the optional `X-Workstation` header, for events and the audit log.
    pub workstation: Option<String>,
}

impl Session {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Refuses with 403 unless the caller holds `role`.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.has(role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this needs the `{}` role, which your account does not have",
                role.as_str()
            )))
        }
    }

    /// The caller as recorded in events and the audit log. `role` is the role the
    /// action is taken in, when it matters.
    pub fn actor(&self, role: Option<Role>) -> Actor {
        Actor {
            user: Some(self.user_id),
            unit: Some(self.unit_id),
            role,
            label: format!("user:{}", self.user_id.0),
            workstation: self.workstation.clone(),
        }
    }
}

/// The longest `X-Workstation` value kept; longer ones are cut.
const MAX_WORKSTATION: usize = 64;

fn workstation(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-workstation")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().chars().take(MAX_WORKSTATION).collect::<String>())
        .filter(|v| !v.is_empty())
}

pub fn token_hash(token: &str) -> String {
    crate::blobs::BlobStore::sha256(token.as_bytes())
}

impl FromRequestParts<AppState> for Session {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::Unauthenticated)?;
        let hash = token_hash(token);
        let record = state
            .store
            .session(&hash)
            .await?
            .ok_or(ApiError::Unauthenticated)?;
        if record.revoked || !record.user.active {
            return Err(ApiError::Unauthenticated);
        }
        if record.expires_at <= state.time.now() {
            return Err(ApiError::SessionExpired);
        }
        Ok(Session {
            user_id: record.user.id,
            unit_id: record.user.unit_id,
            roles: record.user.roles,
            token_hash: hash,
            workstation: workstation(&parts.headers),
        })
    }
}

// --- passwords ------------------------------------------------------------------------

fn argon2(memory_kib: u32) -> Result<Argon2<'static>, ApiError> {
    let params = Params::new(memory_kib, 2, 1, None)
        .map_err(|e| ApiError::Internal(format!("argon2 parameters: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes a password with argon2id on a blocking thread (it takes tens of ms by design).
pub async fn hash_password(password: String, memory_kib: u32) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        argon2(memory_kib)?
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| ApiError::Internal(format!("hashing a password: {e}")))
    })
    .await
    .map_err(|e| ApiError::Internal(format!("hash task: {e}")))?
}

/// Checks a password against a stored PHC string on a blocking thread. The
/// parameters come from the stored hash, so old hashes keep verifying after the
/// configured cost changes.
pub async fn verify_password(password: String, phc: String) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&phc)
            .map_err(|e| ApiError::Internal(format!("stored password hash is unreadable: {e}")))?;
        Ok(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    })
    .await
    .map_err(|e| ApiError::Internal(format!("verify task: {e}")))?
}

/// A hash to verify against when the user name is unknown, so that a wrong user name
/// takes as long as a wrong password and does not reveal which names exist.
async fn decoy_hash(memory_kib: u32) -> Result<String, ApiError> {
    static DECOY: OnceLock<String> = OnceLock::new();
    if let Some(h) = DECOY.get() {
        return Ok(h.clone());
    }
    let h = hash_password("decoy password".to_owned(), memory_kib).await?;
    Ok(DECOY.get_or_init(|| h).clone())
}

/// Password rules, checked when a password is set (not at login).
pub fn check_new_password(password: &str) -> Result<(), ApiError> {
    let n = password.chars().count();
    if n < 10 {
        return Err(ApiError::invalid(
            "password",
            "the password needs at least 10 characters",
        ));
    }
    if n > 128 {
        return Err(ApiError::invalid(
            "password",
            "the password may have at most 128 characters",
        ));
    }
    Ok(())
}

fn new_token() -> String {
    let mut raw = [0_u8; 32];
    OsRng.fill_bytes(&mut raw);
    format!("jsjb_{}", crate::audit::hex(&raw))
}

// --- wire types -----------------------------------------------------------------------

/// The login body: `jsjb_proto::LoginRequest`, the type the desktop sends. Unknown fields
/// are refused, so this must be the type that knows every field a client sends — the
/// desktop's `workstation` included (the session records the `X-Workstation` header).
pub type LoginRequest = jsjb_proto::LoginRequest;

/// The answer to a login: `jsjb_proto::LoginResponse` (`{token, expires_at, me}`).
pub type LoginResponse = jsjb_proto::LoginResponse;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UserDto {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub unit_id: i64,
    #[schema(value_type = Vec<String>, example = json!(["officer"]))]
    pub roles: Vec<Role>,
    pub active: bool,
}

impl From<UserRecord> for UserDto {
    fn from(u: UserRecord) -> Self {
        UserDto {
            id: u.id.0,
            username: u.username,
            display_name: u.display_name,
            unit_id: u.unit_id.0,
            roles: u.roles.into_iter().collect(),
            active: u.active,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UnitDto {
    pub id: i64,
    pub parent_id: Option<i64>,
    #[schema(value_type = String, example = "branch")]
    pub tier: Tier,
    pub name: String,
}

impl From<Unit> for UnitDto {
    fn from(u: Unit) -> Self {
        UnitDto {
            id: u.id.0,
            parent_id: u.parent.map(|p| p.0),
            tier: u.tier,
            name: u.name,
        }
    }
}

/// Who the caller is: `jsjb_proto::Me` (user, unit, roles and the unit tree).
pub fn me_for(user: UserRecord, units: Vec<Unit>) -> jsjb_proto::Me {
    jsjb_proto::Me {
        user_id: user.id,
        username: user.username,
        display_name: user.display_name,
        unit_id: user.unit_id,
        roles: user.roles.into_iter().collect(),
        units,
    }
}

// --- handlers -------------------------------------------------------------------------

/// Signs in and returns a bearer token.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, body = jsjb_proto::LoginResponse, description = "LoginResponse: `{token, expires_at, me}`"),
        (status = 401, description = "`invalid_credentials`", body = Problem),
        (status = 429, description = "`account_locked` or `too_many_attempts`, with Retry-After", body = Problem),
    ))]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<ApiJson<LoginResponse>, ApiError> {
    let cfg = &state.config;
    let now = state.time.now();
    let ip = peer.ip().to_string();
    let username = req.username.trim().to_owned();
    if username.is_empty() || username.chars().count() > 64 || req.password.len() > 1024 {
        return Err(ApiError::InvalidCredentials);
    }

    let window = cfg.lockout_duration();
    if state.store.ip_failures_since(&ip, now - window).await? >= cfg.login_ip_limit {
        return Err(ApiError::TooManyAttempts {
            retry_after_secs: window.num_seconds().unsigned_abs(),
        });
    }
    let policy = LockoutPolicy {
        threshold: cfg.lockout_threshold,
        duration: window,
    };

    let Some(creds) = state.store.credentials(&username).await? else {
        verify_password(req.password, decoy_hash(cfg.argon2_memory_kib).await?).await?;
        state
            .store
            .record_login_failure(&username, None, &ip, now, policy)
            .await?;
        return Err(ApiError::InvalidCredentials);
    };
    if let Some(until) = creds.locked_until.filter(|u| *u > now) {
        // Counted against the address only: trying a locked account must not extend its lock.
        state
            .store
            .record_login_failure(&username, None, &ip, now, policy)
            .await?;
        return Err(ApiError::AccountLocked {
            retry_after_secs: retry_after(until, now),
        });
    }
    let ok = verify_password(req.password, creds.password_hash).await?;
    if !ok || !creds.user.active {
        let locked = state
            .store
            .record_login_failure(&username, Some(creds.user.id), &ip, now, policy)
            .await?;
        return Err(match locked {
            Some(until) => ApiError::AccountLocked {
                retry_after_secs: retry_after(until, now),
            },
            None => ApiError::InvalidCredentials,
        });
    }

    let token = new_token();
    let expires_at = now + cfg.session_ttl();
    state
        .store
        .record_login_success(
            &username,
            NewSession {
                token_hash: token_hash(&token),
                user_id: creds.user.id,
                created_at: now,
                expires_at,
                ip,
                workstation: workstation(&headers),
            },
        )
        .await?;
    let units = state.store.units().await?;
    Ok(ApiJson(LoginResponse {
        token,
        expires_at,
        me: me_for(creds.user, units),
    }))
}

fn retry_after(until: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    // Round up so a client that waits exactly this long is let in.
    let ms = (until - now).num_milliseconds().max(0).unsigned_abs();
    ms.div_ceil(1000).max(1)
}

/// Ends the caller's session.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem)))]
pub async fn logout(
    State(state): State<AppState>,
    session: Session,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .revoke_session(&session.token_hash, session.actor(None), state.time.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who the caller is, and the units they can see.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth",
    security(("bearer" = [])),
    responses((status = 200, body = jsjb_proto::Me, description = "Me: the user, their unit and roles, and the unit tree"), (status = 401, body = Problem)))]
pub async fn me(
    State(state): State<AppState>,
    session: Session,
) -> Result<ApiJson<jsjb_proto::Me>, ApiError> {
    let user = state
        .store
        .user(session.user_id)
        .await?
        .ok_or(ApiError::Unauthenticated)?;
    let units = state.store.units().await?;
    Ok(ApiJson(me_for(user, units)))
}

/// The validated unit tree. Read per request for now; cache it (invalidated on unit
/// changes) when the life cycle needs it on every action.
pub async fn unit_tree(state: &AppState) -> Result<UnitTree, ApiError> {
    let units = state.store.units().await?;
    UnitTree::new(units)
        .map_err(|e| ApiError::Internal(format!("the stored unit tree is invalid: {e}")))
}
