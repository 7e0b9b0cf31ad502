//! Sync for desktops: pages of changes in the caller's scope since a cursor, and a
//! Server-Sent Events stream that pokes a desktop when its scope changed. Push tells
//! *that* something changed; the desktop then pulls (House style: push, don't poll).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use jsjb_core::org::{UnitId, UserId};
use jsjb_proto::{MAX_SYNC_PAGE, Poke, SyncPage};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use utoipa::IntoParams;

use crate::auth::{Revoked, Session, unit_tree};
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiQuery};
use crate::state::AppState;

/// A page when the client does not ask for a size.
const DEFAULT_PAGE: u32 = 200;
/// How often an idle stream sends a comment so proxies and clients know it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(15);

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SyncQuery {
    /// The `next_cursor` of the previous page; 0 (or absent) for a first sync.
    #[serde(default)]
    #[param(minimum = 0)]
    pub cursor: i64,
    /// At most this many changes (1–500, default 200).
    #[param(nullable = false, minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// The units whose letters the caller sees: their own and every unit below it.
async fn scope(state: &AppState, session: &Session) -> Result<Vec<UnitId>, ApiError> {
    Ok(unit_tree(state).await?.subtree(session.unit_id))
}

/// The changes in the caller's scope after `cursor`: whole letters (writer masked, with
/// their events and attachment metadata) or removals of letters that left the scope.
#[utoipa::path(get, path = "/api/v1/sync", tag = "sync",
    security(("bearer" = [])),
    params(SyncQuery),
    responses(
        (status = 200, body = jsjb_proto::SyncPage, description = "SyncPage: `{changes, next_cursor, has_more, server_time}`"),
        (status = 400, body = Problem),
        (status = 401, body = Problem),
    ))]
pub async fn get_sync(
    State(state): State<AppState>,
    session: Session,
    ApiQuery(query): ApiQuery<SyncQuery>,
) -> Result<ApiJson<SyncPage>, ApiError> {
    if query.cursor < 0 {
        return Err(ApiError::invalid("cursor", "a cursor is never negative"));
    }
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if limit == 0 || limit > MAX_SYNC_PAGE {
        return Err(ApiError::invalid(
            "limit",
            format!("ask for 1 to {MAX_SYNC_PAGE} changes per page"),
        ));
    }
    let scope = scope(&state, &session).await?;
    let batch = state.store.sync_page(scope, query.cursor, limit).await?;
    Ok(ApiJson(SyncPage {
        changes: batch.changes,
        next_cursor: batch.next_cursor,
        has_more: batch.has_more,
        // Taken after the page was read: the desktop uses it to estimate its clock offset.
        server_time: state.time.now(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// The desktop's cursor: a poke comes at once if its scope changed since.
    #[serde(default)]
    #[param(minimum = 0)]
    pub cursor: i64,
}

/// `event: poke` with `{"cursor": N}` whenever the caller's scope changed; a `heartbeat`
/// comment every 15 s. The stream ends when the server shuts down and when its session
/// ends (logout, a password reset, expiry, the account deactivated).
#[utoipa::path(get, path = "/api/v1/sync/stream", tag = "sync",
    security(("bearer" = [])),
    params(StreamQuery),
    responses((status = 200, content_type = "text/event-stream", description = "Server-Sent Events")))]
pub async fn get_stream(
    State(state): State<AppState>,
    session: Session,
    ApiQuery(query): ApiQuery<StreamQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    if query.cursor < 0 {
        return Err(ApiError::invalid("cursor", "a cursor is never negative"));
    }
    let scope = scope(&state, &session).await?;
    let changes = state.changes.subscribe();
    let shutdown = state.shutdown.subscribe();
    let revocations = state.accounts.watch_revocations();
    let mut recheck = tokio::time::interval(HEARTBEAT);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let start = Pump {
        state,
        token_hash: session.token_hash,
        user_id: session.user_id,
        revocations,
        recheck,
        scope,
        sent: query.cursor,
        changes,
        shutdown,
        first: true,
    };
    let events = stream::unfold(start, |mut pump| async move {
        let cursor = pump.next_poke().await?;
        let data = serde_json::to_string(&Poke { cursor }).unwrap_or_default();
        Some((Ok(Event::default().event("poke").data(data)), pump))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(HEARTBEAT).text("heartbeat")))
}

/// The state of one desktop's stream.
struct Pump {
    state: AppState,
    /// The session the stream was opened with: the stream lives no longer than it.
    token_hash: String,
    user_id: UserId,
    /// Logouts and password resets as they happen.
    revocations: tokio::sync::broadcast::Receiver<Revoked>,
    /// Also checked every heartbeat, for what no one announces (expiry, deactivation,
    /// a reset from the admin CLI in another process).
    recheck: tokio::time::Interval,
    scope: Vec<UnitId>,
    /// The newest cursor this desktop has been told about.
    sent: i64,
    changes: tokio::sync::watch::Receiver<i64>,
    shutdown: tokio::sync::watch::Receiver<bool>,
    first: bool,
}

impl Pump {
    /// Whether the stream's session still lets it in (what the `Session` extractor checks).
    async fn session_alive(&self) -> bool {
        match self.state.store.session(&self.token_hash).await {
            Ok(Some(s)) => !s.revoked && s.user.active && s.expires_at > self.state.time.now(),
            Ok(None) => false,
            Err(e) => {
                tracing::warn!(error = %e, "sync stream: cannot check the session; closing");
                false
            }
        }
    }

    /// Waits for the next change in scope; `None` ends the stream.
    async fn next_poke(&mut self) -> Option<i64> {
        loop {
            if *self.shutdown.borrow() {
                return None;
            }
            if !self.first {
                tokio::select! {
                    changed = self.changes.changed() => changed.ok()?,
                    _ = self.shutdown.changed() => return None,
                    revoked = self.revocations.recv() => {
                        match revoked {
                            Ok(Revoked::Session(hash)) if hash == self.token_hash => return None,
                            Ok(Revoked::User(user)) if user == self.user_id => return None,
                            Ok(_) => {}
                            // Fell behind the announcements: ask the database instead.
                            Err(RecvError::Lagged(_)) => {
                                if !self.session_alive().await {
                                    return None;
                                }
                            }
                            Err(RecvError::Closed) => return None,
                        }
                        continue;
                    }
                    _ = self.recheck.tick() => {
                        if !self.session_alive().await {
                            return None;
                        }
                        continue;
                    }
                }
            }
            self.first = false;
            match self
                .state
                .store
                .latest_change_in_scope(self.scope.clone(), self.sent)
                .await
            {
                Ok(Some(seq)) => {
                    self.sent = seq;
                    return Some(seq);
                }
                Ok(None) => {}
                Err(e) => {
                    // The desktop falls back to polling when the stream ends.
                    tracing::warn!(error = %e, "sync stream: cannot read changes; closing");
                    return None;
                }
            }
        }
    }
}
