//! Accounts and sessions: argon2id passwords, opaque bearer tokens (stored only as
//! SHA-256), login rate limits and lock-out, and the [`Session`] extractor.
//!
//! What a login defends against, and how:
//! - Guessing one account's password: after `lockout_threshold` wrong passwords the
//!   user name is locked, first for `lockout_first_seconds`, each further time twice as
//!   long up to `lockout_minutes`. While locked, even the right password is refused —
//!   the price of the lock: whoever keeps guessing can keep a name locked, but only
//!   for short spells, and an admin's password reset ends the lock at once.
//! - Learning which names exist: unknown names are counted and locked exactly like
//!   real ones, and checked against a decoy hash, so every answer is the same.
//! - One place trying many accounts: past `login_ip_limit` failures in the window, a
//!   client address's wrong guesses are checked one at a time after a pause and
//!   answered `too_many_attempts`. Its right passwords still get in: a station's desks
//!   behind one address are never refused for each other's typos.
//! - A flood of logins: argon2 runs on its own small pool of threads with a bounded
//!   queue ([`PasswordPool`]); past it a login is answered 503 at once, and the threads
//!   the database reads use are never taken by password checks.

use std::collections::BTreeSet;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use chrono::{DateTime, Utc};
use jsjb_core::org::{Role, Tier, Unit, UnitId, UnitTree, UserId};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub mod accounts;

use accounts::decoy_hash;
pub use accounts::{Accounts, PasswordPool, Revoked, check_new_password, hash_password};

use crate::client_addr::ClientAddr;
use crate::error::{ApiError, Problem};
use crate::extract::ApiJson;
use crate::state::AppState;
use jsjb_storage::{Actor, LockoutPolicy, LoginAttempt, NewSession, UserRecord};

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
    crate::digest::sha256_hex(token.as_bytes())
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
        match check_session(&record, state.time.now(), state.config.session_idle()) {
            SessionCheck::Revoked => return Err(ApiError::Unauthenticated),
            SessionCheck::Expired => return Err(ApiError::SessionExpired),
            SessionCheck::Alive { renew: true } => renew_session(state, &hash).await,
            SessionCheck::Alive { renew: false } => {}
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

/// How often use renews a session: one write every few minutes per desktop, not one per
/// request, and far inside the idle time.
pub const RENEW_AFTER_MINUTES: i64 = 5;

/// Whether a session still lets its holder in at `now` — the one rule for requests and
/// open streams alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionCheck {
    /// In; `renew`: record the use now (the last one is older than [`RENEW_AFTER_MINUTES`]).
    Alive { renew: bool },
    /// Past its absolute end, or unused for longer than the idle time.
    Expired,
    /// Logged out, revoked, or its user deactivated.
    Revoked,
}

pub fn check_session(
    record: &jsjb_storage::SessionRecord,
    now: DateTime<Utc>,
    idle: chrono::Duration,
) -> SessionCheck {
    if record.revoked || !record.user.active {
        SessionCheck::Revoked
    } else if record.expires_at <= now || record.last_seen_at + idle <= now {
        SessionCheck::Expired
    } else {
        SessionCheck::Alive {
            renew: now - record.last_seen_at >= chrono::Duration::minutes(RENEW_AFTER_MINUTES),
        }
    }
}

/// Records a session's use; a failure is logged, never the caller's (the request goes on,
/// and the next one renews it).
pub async fn renew_session(state: &AppState, token_hash: &str) {
    if let Err(e) = state
        .store
        .touch_session(token_hash, state.time.now())
        .await
    {
        tracing::warn!(error = %e, "cannot renew a session");
    }
}

fn new_token() -> String {
    let mut raw = [0_u8; 32];
    OsRng.fill_bytes(&mut raw);
    format!("jsjb_{}", hex::encode(raw))
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
    /// The password was set by an admin and is to be changed at the next sign-in.
    #[serde(default)]
    pub must_change_password: bool,
    /// The last sign-in (in the admin's user list only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_login_at: Option<chrono::DateTime<chrono::Utc>>,
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
            must_change_password: u.must_change_password,
            last_login_at: None,
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
    /// False once deactivated: the unit keeps its history but receives no letters.
    pub active: bool,
}

impl From<Unit> for UnitDto {
    fn from(u: Unit) -> Self {
        UnitDto {
            id: u.id.0,
            parent_id: u.parent.map(|p| p.0),
            tier: u.tier,
            name: u.name,
            active: u.active,
        }
    }
}

/// Who the caller is: `jsjb_proto::Me` (user, unit, roles, the unit tree, and the
/// problem classes the bureau configured).
pub fn me_for(user: UserRecord, units: Vec<Unit>, problem_classes: &[String]) -> jsjb_proto::Me {
    jsjb_proto::Me {
        user_id: user.id,
        username: user.username,
        display_name: user.display_name,
        unit_id: user.unit_id,
        roles: user.roles.into_iter().collect(),
        units,
        must_change_password: user.must_change_password,
        problem_classes: problem_classes.to_vec(),
    }
}

// --- handlers -------------------------------------------------------------------------

/// Signs in and returns a bearer token.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, body = jsjb_proto::LoginResponse, description = "LoginResponse: `{token, expires_at, me}`"),
        (status = 401, description = "`invalid_credentials`", body = Problem),
        (status = 429, description = "`account_locked` (the user name is locked, known or not) or `too_many_attempts` (a wrong password from an address past its limit), with Retry-After", body = Problem),
        (status = 503, description = "`busy`: too many logins are being checked; with Retry-After", body = Problem),
    ))]
pub async fn login(
    State(state): State<AppState>,
    client: ClientAddr,
    headers: HeaderMap,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<ApiJson<LoginResponse>, ApiError> {
    let answer = sign_in(state, client, headers, req).await;
    if let Err(
        refused @ (ApiError::InvalidCredentials
        | ApiError::AccountLocked { .. }
        | ApiError::TooManyAttempts { .. }),
    ) = &answer
    {
        crate::telemetry::login_failed(refused);
    }
    answer
}

/// [`login`]'s decision; its refusals are counted by the caller.
async fn sign_in(
    state: AppState,
    client: ClientAddr,
    headers: HeaderMap,
    req: LoginRequest,
) -> Result<ApiJson<LoginResponse>, ApiError> {
    let cfg = &state.config;
    let now = state.time.now();
    let username = req.username.trim().to_owned();
    if username.is_empty() || username.chars().count() > 64 || req.password.len() > 1024 {
        return Err(ApiError::InvalidCredentials);
    }
    let policy = LockoutPolicy {
        threshold: cfg.lockout_threshold,
        first: cfg.lockout_first(),
        longest: cfg.lockout_duration(),
    };
    let mut attempt = LoginAttempt {
        username: username.clone(),
        user: None,
        ip: client.0.to_string(),
        ip_bucket: client.bucket(),
        at: now,
    };

    // The name's lock first: the same answer whether or not the name is an account's.
    if let Some(until) = state.store.login_lock(&username, now).await? {
        // Counted against the address only: trying a locked name must not extend its lock.
        state
            .store
            .record_login_failure(attempt, false, policy)
            .await?;
        return Err(ApiError::AccountLocked {
            retry_after_secs: retry_after(until, now),
        });
    }

    // Past the address's limit the password is still checked — a right one from a
    // desk behind the same address gets in — but one at a time, after a pause.
    let window = cfg.lockout_duration();
    let over_limit = state
        .store
        .ip_failures_since(&attempt.ip_bucket, now - window)
        .await?
        >= cfg.login_ip_limit;
    let window_secs = window.num_seconds().unsigned_abs();
    let _turn = match over_limit {
        true => Some(
            state
                .accounts
                .slow_lanes
                .enter(&attempt.ip_bucket, window_secs)
                .await?,
        ),
        false => None,
    };

    let creds = state.store.credentials(&username).await?;
    // An unknown name is checked against a decoy so it takes as long as a known one.
    let phc = match &creds {
        Some(c) => c.password_hash.clone(),
        None => decoy_hash(cfg.argon2_memory_kib).await?,
    };
    let ok = state.accounts.passwords.verify(req.password, phc).await?;
    attempt.user = creds.as_ref().map(|c| c.user.id);
    let creds = match creds {
        Some(c) if ok && c.user.active => c,
        _ => {
            let locked = state
                .store
                .record_login_failure(attempt, true, policy)
                .await?;
            return Err(match locked {
                Some(until) => ApiError::AccountLocked {
                    retry_after_secs: retry_after(until, now),
                },
                None if over_limit => ApiError::TooManyAttempts {
                    retry_after_secs: window_secs,
                },
                None => ApiError::InvalidCredentials,
            });
        }
    };

    let token = new_token();
    let expires_at = now + cfg.session_ttl();
    let session = NewSession {
        token_hash: token_hash(&token),
        user_id: creds.user.id,
        created_at: now,
        expires_at,
        ip: attempt.ip.clone(),
        workstation: workstation(&headers),
    };
    if let Some(until) = state.store.record_login_success(attempt, session).await? {
        return Err(ApiError::AccountLocked {
            retry_after_secs: retry_after(until, now),
        });
    }
    let units = state.store.units().await?;
    Ok(ApiJson(LoginResponse {
        token,
        expires_at,
        me: me_for(creds.user, units, &state.config.problem_classes),
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
    // Streams opened with this session end now, not at their next heartbeat.
    state
        .accounts
        .revoked(Revoked::Session(session.token_hash.clone()));
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
    Ok(ApiJson(me_for(user, units, &state.config.problem_classes)))
}

/// The caller sets their own password, proving they know the current one. The new one
/// needs no changing, was set by nobody else (so the account is independent of the admin
/// who made it, for the dual control of signing keys), and the caller's other sessions
/// end; this one stays open.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "auth",
    security(("bearer" = [])),
    request_body(content = jsjb_proto::ChangePasswordRequest, description = "ChangePasswordRequest: `{current_password, new_password}`"),
    responses(
        (status = 204),
        (status = 400, body = Problem, description = "`invalid_input`: the new password is too short, or the same"),
        (status = 401, body = Problem),
        (status = 409, body = Problem, description = "`wrong_password`: the current password is wrong"),
    ))]
pub async fn change_password(
    State(state): State<AppState>,
    session: Session,
    ApiJson(req): ApiJson<jsjb_proto::ChangePasswordRequest>,
) -> Result<StatusCode, ApiError> {
    check_new_password(&req.new_password)?;
    if req.new_password == req.current_password {
        return Err(ApiError::invalid(
            "new_password",
            "the new password must differ from the current one",
        ));
    }
    let user = state
        .store
        .user(session.user_id)
        .await?
        .ok_or(ApiError::Unauthenticated)?;
    let phc = state
        .store
        .credentials(&user.username)
        .await?
        .map(|c| c.password_hash)
        .ok_or(ApiError::Unauthenticated)?;
    if !state
        .accounts
        .passwords
        .verify(req.current_password, phc)
        .await?
    {
        return Err(ApiError::Conflict {
            code: "wrong_password",
            detail: "the current password is wrong".to_owned(),
        });
    }
    let hash = hash_password(req.new_password, state.config.argon2_memory_kib).await?;
    state
        .store
        .change_own_password(
            session.user_id,
            hash,
            session.token_hash.clone(),
            session.actor(None),
            state.time.now(),
        )
        .await?;
    // Other desktops of this user drop their streams; this one reconnects with its
    // still valid session.
    state.accounts.revoked(Revoked::User(session.user_id));
    Ok(StatusCode::NO_CONTENT)
}

/// What happened to the caller's own account since they last looked: their signing
/// keys registered, activated, revoked, their password reset by an admin. Only the
/// caller's own notices, never anyone else's.
#[utoipa::path(get, path = "/api/v1/me/notices", tag = "auth",
    security(("bearer" = [])),
    responses((status = 200, body = Vec<jsjb_proto::Notice>, description = "Notice[]: not acknowledged yet, oldest first"), (status = 401, body = Problem)))]
pub async fn notices(
    State(state): State<AppState>,
    session: Session,
) -> Result<ApiJson<Vec<jsjb_proto::Notice>>, ApiError> {
    Ok(ApiJson(state.store.notices(session.user_id).await?))
}

/// The caller has read their notices up to `up_to` (recorded in the audit log).
#[utoipa::path(post, path = "/api/v1/me/notices/ack", tag = "auth",
    security(("bearer" = [])),
    request_body(content = jsjb_proto::AckNoticesRequest, description = "AckNoticesRequest: `{up_to}`"),
    responses((status = 204), (status = 401, body = Problem)))]
pub async fn acknowledge_notices(
    State(state): State<AppState>,
    session: Session,
    ApiJson(req): ApiJson<jsjb_proto::AckNoticesRequest>,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .acknowledge_notices(
            session.user_id,
            req.up_to,
            session.actor(None),
            state.time.now(),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The validated unit tree. Read per request for now; cache it (invalidated on unit
/// changes) when the life cycle needs it on every action.
pub async fn unit_tree(state: &AppState) -> Result<UnitTree, ApiError> {
    let units = state.store.units().await?;
    UnitTree::new(units)
        .map_err(|e| ApiError::Internal(format!("the stored unit tree is invalid: {e}")))
}

#[cfg(test)]
mod session_tests {
    use super::*;
    use chrono::TimeZone;
    use rstest::rstest;

    fn record(revoked: bool, active: bool, last_seen_min: i64) -> jsjb_storage::SessionRecord {
        let t0 = Utc
            .with_ymd_and_hms(2026, 12, 7, 0, 0, 0)
            .single()
            .unwrap_or_default();
        jsjb_storage::SessionRecord {
            user: jsjb_storage::UserRecord {
                id: UserId(1),
                unit_id: jsjb_core::org::UnitId(1),
                username: "u".into(),
                display_name: "u".into(),
                roles: BTreeSet::new(),
                active,
                must_change_password: false,
            },
            expires_at: t0 + chrono::Duration::hours(16),
            last_seen_at: t0 + chrono::Duration::minutes(last_seen_min),
            revoked,
        }
    }

    /// At `now_min` minutes after sign-in, with the last use at `seen_min` (idle 4 h).
    #[rstest]
    #[case::fresh(false, true, 0, 1, SessionCheck::Alive { renew: false })]
    #[case::renew_due(false, true, 0, 5, SessionCheck::Alive { renew: true })]
    #[case::renewed_lately(false, true, 600, 603, SessionCheck::Alive { renew: false })]
    #[case::idle_edge(false, true, 0, 239, SessionCheck::Alive { renew: true })]
    #[case::idle(false, true, 0, 240, SessionCheck::Expired)]
    #[case::used_but_past_the_maximum(false, true, 950, 960, SessionCheck::Expired)]
    #[case::revoked(true, true, 0, 1, SessionCheck::Revoked)]
    #[case::deactivated(false, false, 0, 1, SessionCheck::Revoked)]
    fn a_session_lives_while_used_up_to_its_maximum(
        #[case] revoked: bool,
        #[case] active: bool,
        #[case] seen_min: i64,
        #[case] now_min: i64,
        #[case] expected: SessionCheck,
    ) {
        let r = record(revoked, active, seen_min);
        let t0 = r.expires_at - chrono::Duration::hours(16);
        let now = t0 + chrono::Duration::minutes(now_min);
        assert_eq!(check_session(&r, now, chrono::Duration::hours(4)), expected);
    }
}
