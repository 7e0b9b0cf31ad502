//! A signed-in session and its life: sign-in, resume at start, sign-out.
//!
//! One [`Session`] owns everything that belongs to one server + user: the client with
//! its token, the cache (through its handle; the connection lives on the store's own
//! thread), the sync engine and the tasks that forward its news to the UI. Signing out
//! (or in as someone else) stops the engine and the tasks and drops the handles, which
//! closes the cache: the next user gets their own cache file and never sees these
//! letters.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use jsjb_core::letter::LetterId;
use jsjb_core::org::UnitTree;
use jsjb_core::workflow::Actor;
use jsjb_proto::{LoginRequest, Me};
use jsjb_store::{Store, StoreError, StoreHandle, cache_file_name};
use jsjb_sync::{
    ClientConfig, ClientError, ServerClient, SyncConfig, SyncEngine, SyncEvent, SyncHandle,
    SyncStatus, SystemClock,
};
use tauri::async_runtime::JoinHandle;
use tauri::{AppHandle, Emitter, Manager, Runtime};
use tokio::sync::{OwnedMutexGuard, broadcast, watch};

use crate::alarm;
use crate::alerts;
use crate::desk::Desk;
use crate::error::{CommandError, CommandResult, ErrorCode};
use crate::ipc::{
    ActionRefusedEvent, AuditMismatchEvent, LettersEvent, SessionExpiredEvent, SessionInfo, events,
};
use crate::settings::normalise_url;
use crate::vault::LastSession;

/// Everything of one signed-in server + user.
pub struct Session {
    pub server_url: String,
    pub me: Me,
    pub tree: Arc<UnitTree>,
    /// Carries the session token.
    pub client: ServerClient,
    pub store: StoreHandle,
    pub sync: SyncHandle,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Session {
    pub fn info(&self) -> SessionInfo {
        SessionInfo {
            server_url: self.server_url.clone(),
            me: self.me.clone(),
        }
    }

    /// The user as core's rules see them.
    pub fn actor(&self) -> Actor {
        Actor {
            user: self.me.user_id,
            unit: self.me.unit_id,
            roles: self.me.roles.clone(),
        }
    }

    /// The server's time as the sync engine estimates it.
    pub fn now(&self) -> DateTime<Utc> {
        self.sync.server_now()
    }

    /// Stops the engine and the forwarding tasks. The cache closes when the last
    /// handle (this session's, or a command's still running) is dropped.
    async fn stop(&self) {
        self.sync.shutdown().await;
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(PoisonError::into_inner));
        for task in tasks {
            task.abort();
        }
    }
}

/// Development and demo only: sign in at start (`JSJB_SERVER_URL`,
/// `JSJB_AUTOLOGIN_USER`, `JSJB_AUTOLOGIN_PASSWORD`).
#[derive(Clone)]
pub struct Autologin {
    pub server_url: String,
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Autologin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Autologin")
            .field("server_url", &self.server_url)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl Autologin {
    pub fn from_env() -> Option<Autologin> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Some(Autologin {
            server_url: var("JSJB_SERVER_URL")?,
            username: var("JSJB_AUTOLOGIN_USER")?,
            password: var("JSJB_AUTOLOGIN_PASSWORD")?,
        })
    }
}

/// Signs in at start. Holds the session gate from setup on, so that the UI's first
/// `resume_session`/`session` waits for the outcome instead of racing it.
pub fn autologin<R: Runtime>(app: &AppHandle<R>, auto: Autologin) {
    let guard = app.state::<Desk>().gate().try_lock_owned().ok();
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let _guard: Option<OwnedMutexGuard<()>> = guard;
        tracing::warn!(
            server = %auto.server_url,
            user = %auto.username,
            "autologin from JSJB_AUTOLOGIN_* (development and demo only)"
        );
        // The demo server may still be starting: a few tries before giving up.
        for attempt in 1..=10 {
            match login_locked(&app, &auto.server_url, &auto.username, &auto.password).await {
                Ok(info) => {
                    tracing::info!(user = %info.me.username, unit = info.me.unit_id.0, "autologin: signed in");
                    return;
                }
                Err(e) if e.code == ErrorCode::Unreachable && attempt < 10 => {
                    tracing::info!(
                        "autologin: server not reachable yet ({}), retrying",
                        e.message
                    );
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
                Err(e) => {
                    tracing::error!("autologin failed: {e}");
                    return;
                }
            }
        }
    });
}

/// `login`: checks the credentials with the server, keeps the token, opens this
/// server + user's cache and starts syncing. A previous session is ended first.
pub async fn login<R: Runtime>(
    app: &AppHandle<R>,
    server_url: &str,
    username: &str,
    password: &str,
) -> CommandResult<SessionInfo> {
    let gate = app.state::<Desk>().gate();
    let _guard = gate.lock().await;
    login_locked(app, server_url, username, password).await
}

async fn login_locked<R: Runtime>(
    app: &AppHandle<R>,
    server_url: &str,
    username: &str,
    password: &str,
) -> CommandResult<SessionInfo> {
    let desk = app.state::<Desk>();
    let server_url = normalise_url(server_url)?;
    let client = ServerClient::new(&server_url, ClientConfig::default())?;
    let answer = client
        .login(&LoginRequest {
            username: username.trim().to_owned(),
            password: password.to_owned(),
            workstation: desk.workstation().map(str::to_owned),
        })
        .await?;
    end_session(app, false).await;
    let me = answer.me;
    let last = LastSession {
        server_url: server_url.clone(),
        username: me.username.clone(),
    };
    let vault = desk.vault();
    let token = answer.token.clone();
    let kept = last.clone();
    let _ = tokio::task::spawn_blocking(move || {
        vault.save(&kept.server_url, &kept.username, &token);
        vault.set_last_session(Some(&kept));
    })
    .await;
    desk.remember_server(&server_url);
    let session = start(
        app,
        server_url,
        &last.username,
        Some(me),
        client.with_token(answer.token),
    )
    .await?;
    Ok(session.info())
}

/// `resume_session`: the session already running, or the last server + user whose token
/// is kept. Offline, the cache's copy of the user is used and sync retries; a token the
/// server no longer accepts is forgotten (`None`: the UI asks to sign in).
pub async fn resume<R: Runtime>(app: &AppHandle<R>) -> CommandResult<Option<SessionInfo>> {
    let desk = app.state::<Desk>();
    let gate = desk.gate();
    let _guard = gate.lock().await;
    if let Some(current) = desk.current() {
        return Ok(Some(current.info()));
    }
    let vault = desk.vault();
    let kept = tokio::task::spawn_blocking(move || {
        let last = vault.last_session()?;
        let token = vault.load(&last.server_url, &last.username)?;
        Some((last, token))
    })
    .await
    .map_err(|e| CommandError::internal(format!("keyring task: {e}")))?;
    let Some((last, token)) = kept else {
        return Ok(None);
    };
    let client = ServerClient::new(&last.server_url, ClientConfig::default())?.with_token(token);
    let me = match client.me().await {
        Ok(me) => Some(me),
        Err(ClientError::Unauthorized { code }) => {
            tracing::info!("the kept session is no longer valid ({code}); sign in again");
            let vault = desk.vault();
            let _ = tokio::task::spawn_blocking(move || {
                vault.forget(&last.server_url, &last.username);
            })
            .await;
            return Ok(None);
        }
        Err(e) if e.is_transient() => {
            tracing::info!("resuming offline from the cache: {e}");
            None
        }
        Err(e) => return Err(e.into()),
    };
    match start(app, last.server_url, &last.username, me, client).await {
        Ok(session) => Ok(Some(session.info())),
        // Offline and never synced: nothing to resume from.
        Err(e) if e.code == ErrorCode::NotSignedIn => Ok(None),
        Err(e) => Err(e),
    }
}

/// `logout`: ends the session on the server (best effort), forgets the token, stops
/// sync and closes the cache.
pub async fn logout<R: Runtime>(app: &AppHandle<R>) {
    let gate = app.state::<Desk>().gate();
    let _guard = gate.lock().await;
    end_session(app, true).await;
}

async fn end_session<R: Runtime>(app: &AppHandle<R>, forget: bool) {
    let desk = app.state::<Desk>();
    let Some(session) = desk.take_current() else {
        return;
    };
    session.stop().await;
    desk.alarm().stop();
    alerts::show_count(app, 0);
    alerts::publish_waiting(app, &desk.alarm());
    if forget {
        // Offline, the token expires on its own; do not keep the officer waiting.
        match tokio::time::timeout(Duration::from_secs(3), session.client.logout()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::info!("server logout: {e}"),
            Err(_) => tracing::info!("server logout timed out"),
        }
        let vault = desk.vault();
        let (url, user) = (session.server_url.clone(), session.me.username.clone());
        let _ = tokio::task::spawn_blocking(move || {
            vault.forget(&url, &user);
            vault.set_last_session(None);
        })
        .await;
    }
    tracing::info!(user = %session.me.username, "signed out");
}

/// Opens the cache of `server_url` + `username`, starts the sync engine and the
/// forwarding of its news, and makes the session current. `me`: as the server just said;
/// `None` to use the cache's copy (offline resume).
async fn start<R: Runtime>(
    app: &AppHandle<R>,
    server_url: String,
    username: &str,
    me: Option<Me>,
    client: ServerClient,
) -> CommandResult<Arc<Session>> {
    let desk = app.state::<Desk>();
    let path = desk.data_dir().join(cache_file_name(&server_url, username));
    let store = tokio::task::spawn_blocking(move || Store::open(path))
        .await
        .map_err(|e| CommandError::internal(format!("cache task: {e}")))??;
    let store = StoreHandle::spawn(store)?;
    let me = match me {
        Some(me) => {
            let stored = me.clone();
            store.call(move |s| s.set_me(&stored)).await??;
            me
        }
        None => store
            .call(|s| s.me().cloned())
            .await?
            .ok_or_else(CommandError::not_signed_in)?,
    };
    let tree = Arc::new(
        UnitTree::new(me.units.iter().cloned())
            .map_err(|e| CommandError::internal(format!("unit tree: {e}")))?,
    );
    let (engine, sync) = SyncEngine::new(
        client.clone(),
        store.clone(),
        Arc::new(SystemClock),
        SyncConfig::default(),
    )
    .await?;
    desk.alarm().start(sync.server_clock());
    let events = sync.subscribe();
    let status = sync.watch_status();
    let status_for_acks = sync.watch_status();
    let session = Arc::new(Session {
        server_url,
        tree,
        client,
        store: store.clone(),
        sync,
        tasks: Mutex::new(Vec::new()),
        me,
    });
    // Letters already waiting in the cache ring once, as arrivals.
    refresh_all(app, &store, alarm::Recipient::of(&session.me)).await;
    let tasks = vec![
        tauri::async_runtime::spawn(forward_status(app.clone(), status)),
        tauri::async_runtime::spawn(forward_events(
            app.clone(),
            store,
            alarm::Recipient::of(&session.me),
            events,
        )),
        tauri::async_runtime::spawn(crate::handover::send_when_online(
            crate::handover::Link::of(&session),
            desk.workstation().map(str::to_owned),
            status_for_acks,
        )),
    ];
    *session.tasks.lock().unwrap_or_else(PoisonError::into_inner) = tasks;
    // After the subscription: no event of the first sync is missed.
    drop(engine.spawn());
    desk.set_current(Arc::clone(&session));
    tracing::info!(
        user = %session.me.username,
        unit = session.me.unit_id.0,
        server = %session.server_url,
        "signed in"
    );
    Ok(session)
}

async fn forward_status<R: Runtime>(app: AppHandle<R>, mut status: watch::Receiver<SyncStatus>) {
    loop {
        let now = status.borrow_and_update().clone();
        tracing::debug!(state = ?now.state, live = now.live, "sync status");
        if let Err(e) = app.emit(events::SYNC_STATUS, &now) {
            tracing::warn!("cannot emit sync-status: {e}");
        }
        if status.changed().await.is_err() {
            return;
        }
    }
}

async fn forward_events<R: Runtime>(
    app: AppHandle<R>,
    store: StoreHandle,
    who: alarm::Recipient,
    mut events: broadcast::Receiver<SyncEvent>,
) {
    loop {
        let event = match events.recv().await {
            Ok(event) => event,
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "sync events lagged; the UI re-reads everything");
                refresh_all(&app, &store, who.clone()).await;
                emit(
                    &app,
                    events::LETTERS_CHANGED,
                    &LettersEvent { ids: Vec::new() },
                );
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        match event {
            SyncEvent::LettersChanged { ids } => {
                letters_touched(&app, &store, who.clone(), ids.clone()).await;
                emit(&app, events::LETTERS_CHANGED, &LettersEvent { ids });
            }
            // The same page's `LettersChanged` came first; this catches a letter that
            // left and came back within one page.
            SyncEvent::Arrived { ids } => letters_touched(&app, &store, who.clone(), ids).await,
            SyncEvent::ActionRefused {
                entry_id,
                letter_id,
                code,
                message,
            } => emit(
                &app,
                events::ACTION_REFUSED,
                &ActionRefusedEvent {
                    entry_id,
                    letter_id,
                    code,
                    message,
                },
            ),
            SyncEvent::SessionExpired => {
                emit(&app, events::SESSION_EXPIRED, &SessionExpiredEvent {});
            }
            SyncEvent::AuditMismatch { alarm } => {
                emit(&app, events::AUDIT_MISMATCH, &AuditMismatchEvent { alarm });
            }
        }
    }
}

fn emit<R: Runtime, S: serde::Serialize + Clone>(app: &AppHandle<R>, event: &str, payload: &S) {
    if let Err(e) = app.emit(event, payload) {
        tracing::warn!("cannot emit {event}: {e}");
    }
}

/// These letters may have started or stopped waiting for the user (a signature at a
/// unit, a dispatch at a desk): update the alarm and the tray, and announce arrivals.
pub async fn letters_touched<R: Runtime>(
    app: &AppHandle<R>,
    store: &StoreHandle,
    who: alarm::Recipient,
    ids: Vec<LetterId>,
) {
    let alarm = app.state::<Desk>().alarm();
    let now = alarm.now();
    let view = store
        .call(move |s| alarm::waiting(s, &who, &ids, now))
        .await;
    apply_waiting(app, view);
}

async fn refresh_all<R: Runtime>(app: &AppHandle<R>, store: &StoreHandle, who: alarm::Recipient) {
    let alarm = app.state::<Desk>().alarm();
    let now = alarm.now();
    let view = store.call(move |s| alarm::all_waiting(s, &who, now)).await;
    apply_waiting(app, view);
}

type WaitingView = Result<Result<alarm::AlarmView, StoreError>, StoreError>;

fn apply_waiting<R: Runtime>(app: &AppHandle<R>, view: WaitingView) {
    let alarm = app.state::<Desk>().alarm();
    match view {
        Ok(Ok(view)) => {
            alarm.update_warnings(&view.warnings);
            let arrived = alarm.update(&view.waiting);
            alerts::show_count(app, alarm.unsigned());
            alerts::publish_waiting(app, &alarm);
            if !arrived.is_empty() {
                tracing::info!(letters = ?arrived, "new letters wait for the user");
                emit(app, events::LETTERS_ARRIVED, &LettersEvent { ids: arrived });
                alerts::notify_arrival(app);
                alerts::ask_attention(app);
            }
        }
        Ok(Err(e)) | Err(e) => tracing::warn!("cannot read waiting letters for the alarm: {e}"),
    }
}
