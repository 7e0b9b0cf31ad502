//! Sync for desktops: pages of changes in the caller's scope since a cursor, and a
//! Server-Sent Events stream that pokes a desktop when its scope changed. Push tells
//! *that* something changed; the desktop then pulls (House style: push, don't poll).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use jsjb_core::org::{UnitId, UserId};
use jsjb_proto::{MAX_SYNC_PAGE, Poke, SyncPage};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use utoipa::IntoParams;

use crate::auth::{Revoked, Session, SessionCheck, check_session, unit_tree};
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiQuery};
use crate::state::AppState;
use crate::telemetry::SseSubscriber;
use crate::time::TimeSource;
use jsjb_storage::Storage;

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
        (status = 200, body = jsjb_proto::SyncPage, description = "SyncPage: `{changes, next_cursor, has_more, server_time, rules_version, latest_cursor}`"),
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
    crate::telemetry::sync_page(batch.changes.len());
    // Read after the page: never behind its cursor. Only long pulls need it (one read
    // of the changes' primary key's end).
    let latest_cursor = if batch.has_more {
        Some(
            state
                .store
                .latest_change_seq()
                .await?
                .max(batch.next_cursor),
        )
    } else {
        None
    };
    Ok(ApiJson(SyncPage {
        changes: batch.changes,
        next_cursor: batch.next_cursor,
        has_more: batch.has_more,
        latest_cursor,
        // Taken after the page was read: the desktop uses it to estimate its clock offset.
        server_time: state.time.now(),
        rules_version: Some(state.rules_version.to_string()),
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
///
/// The stream queries the database once, when it opens (what the desktop missed while
/// away); after that the commits themselves announce which units they touched
/// (`change_hub.rs`), so a change costs no query per connected desktop.
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
    let tree = unit_tree(&state).await?;
    let scope = tree.subtree(session.unit_id);
    if !state.hub.knows(&scope) {
        state.hub.learn(tree.units());
    }
    // Subscribe before looking: a change committed after the look is announced to
    // `changes`, one committed before it is found by the look.
    let changes = state.hub.subscribe(session.unit_id);
    let sent = query.cursor;
    let missed = state.store.latest_change_in_scope(scope, sent).await?;
    let mut recheck = tokio::time::interval(HEARTBEAT);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let start = Pump {
        store: Arc::clone(&state.store),
        time: Arc::clone(&state.time),
        token_hash: session.token_hash,
        idle: state.config.session_idle(),
        user_id: session.user_id,
        revocations: state.accounts.watch_revocations(),
        recheck,
        sent: missed.unwrap_or(sent),
        missed,
        changes,
        shutdown: state.shutdown.subscribe(),
        _counted: SseSubscriber::enter(),
    };
    Ok(Sse::new(pokes(start)).keep_alive(KeepAlive::new().interval(HEARTBEAT).text("heartbeat")))
}

/// The stream of pokes a [`Pump`] sends.
fn pokes(start: Pump) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold(start, |mut pump| async move {
        let cursor = pump.next_poke().await?;
        let data = serde_json::to_string(&Poke { cursor }).unwrap_or_default();
        Some((Ok(Event::default().event("poke").data(data)), pump))
    })
}

/// The state of one desktop's stream: kept small, there is one per connected desktop.
struct Pump {
    store: Arc<dyn Storage>,
    time: Arc<dyn TimeSource>,
    /// The session the stream was opened with: the stream lives no longer than it.
    token_hash: String,
    /// The policy's idle time (see `auth::check_session`).
    idle: chrono::Duration,
    user_id: UserId,
    /// Logouts and password resets as they happen.
    revocations: tokio::sync::broadcast::Receiver<Revoked>,
    /// Also checked every heartbeat, for what no one announces (expiry, deactivation,
    /// a reset from the admin CLI in another process).
    recheck: tokio::time::Interval,
    /// The newest cursor this desktop has been told about.
    sent: i64,
    /// A change the desktop missed while away, found when the stream opened: the first poke.
    missed: Option<i64>,
    /// The newest change in the stream's scope, as commits announce it.
    changes: watch::Receiver<i64>,
    shutdown: watch::Receiver<bool>,
    /// Counts this stream in `/metrics` until it ends.
    _counted: SseSubscriber,
}

impl Pump {
    /// Whether the stream's session still lets it in (the `Session` extractor's rule); an
    /// open stream is use, so it renews the session as a request would.
    async fn session_alive(&self) -> bool {
        match self.store.session(&self.token_hash).await {
            Ok(Some(s)) => match check_session(&s, self.time.now(), self.idle) {
                SessionCheck::Alive { renew } => {
                    if renew
                        && let Err(e) = self
                            .store
                            .touch_session(&self.token_hash, self.time.now())
                            .await
                    {
                        tracing::warn!(error = %e, "sync stream: cannot renew the session");
                    }
                    true
                }
                SessionCheck::Expired | SessionCheck::Revoked => false,
            },
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
            if let Some(seq) = self.missed.take() {
                return Some(seq);
            }
            tokio::select! {
                changed = self.changes.changed() => {
                    // The hub is gone: the server is going away.
                    changed.ok()?;
                    // Only the newest counts: pokes that came while this desktop was
                    // slow collapse into one.
                    let seq = *self.changes.borrow_and_update();
                    if seq > self.sent {
                        self.sent = seq;
                        return Some(seq);
                    }
                }
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
                }
                _ = self.recheck.tick() => {
                    if !self.session_alive().await {
                        return None;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One of these lives per connected desktop; the bench measures the whole stream's
    /// memory (`benches/fanout.rs`), this keeps its own part from growing unnoticed.
    #[tokio::test]
    async fn a_streams_state_is_small() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store =
            jsjb_storage_sqlite::SqliteStore::open(&dir.path().join("db.sqlite3")).expect("open");
        let hub = crate::change_hub::ChangeHub::new();
        let (shutdown, _) = watch::channel(false);
        let (revoked, _) = tokio::sync::broadcast::channel(4);
        let pump = Pump {
            store: Arc::new(store),
            time: Arc::new(crate::time::SystemTime),
            token_hash: "0".repeat(64),
            idle: chrono::Duration::hours(4),
            user_id: UserId(1),
            revocations: revoked.subscribe(),
            recheck: tokio::time::interval(HEARTBEAT),
            sent: 0,
            missed: None,
            changes: hub.subscribe(UnitId(1)),
            shutdown: shutdown.subscribe(),
            _counted: SseSubscriber::enter(),
        };
        let stream = pokes(pump);
        let size = std::mem::size_of_val(&stream);
        assert!(size <= 1024, "the stream's future is {size} bytes");
    }
}
