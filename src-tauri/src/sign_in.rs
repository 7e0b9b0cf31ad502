//! The life of a session: sign-in, resume at start, sign-out. The one owner of the app
//! state's session slot (behind its gate): nothing else makes a session current or
//! ends it.

use std::sync::Arc;
use std::time::Duration;

use jsjb_core::org::UnitTree;
use jsjb_proto::{LoginRequest, Me};
use jsjb_store::{Store, StoreHandle, cache_file_name};
use jsjb_sync::{ClientConfig, ClientError, ServerClient, SyncConfig, SyncEngine, SystemClock};
use tauri::{AppHandle, Manager, Runtime};
use tokio::sync::OwnedMutexGuard;

use crate::alarm;
use crate::alerts;
use crate::app_state::AppState;
use crate::error::{CommandError, CommandResult, ErrorCode};
use crate::ipc::SessionInfo;
use crate::news::{self, News};
use crate::session::Session;
use crate::settings::normalise_url;
use crate::vault::LastSession;

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
    let guard = app.state::<AppState>().gate().try_lock_owned().ok();
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
    let gate = app.state::<AppState>().gate();
    let _guard = gate.lock().await;
    login_locked(app, server_url, username, password).await
}

async fn login_locked<R: Runtime>(
    app: &AppHandle<R>,
    server_url: &str,
    username: &str,
    password: &str,
) -> CommandResult<SessionInfo> {
    let app_state = app.state::<AppState>();
    let server_url = normalise_url(server_url)?;
    let client = ServerClient::new(&server_url, ClientConfig::default())?;
    let answer = client
        .login(&LoginRequest {
            username: username.trim().to_owned(),
            password: password.to_owned(),
            workstation: app_state.workstation().map(str::to_owned),
        })
        .await?;
    end_session(app, false).await;
    let me = answer.me;
    let last = LastSession {
        server_url: server_url.clone(),
        username: me.username.clone(),
    };
    let vault = app_state.vault();
    let token = answer.token.clone();
    let kept = last.clone();
    let _ = tokio::task::spawn_blocking(move || {
        vault.save(&kept.server_url, &kept.username, &token);
        vault.set_last_session(Some(&kept));
    })
    .await;
    app_state.remember_server(&server_url);
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
    let app_state = app.state::<AppState>();
    let gate = app_state.gate();
    let _guard = gate.lock().await;
    if let Some(current) = app_state.current() {
        return Ok(Some(current.info()));
    }
    let vault = app_state.vault();
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
            let vault = app_state.vault();
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
    let gate = app.state::<AppState>().gate();
    let _guard = gate.lock().await;
    end_session(app, true).await;
}

async fn end_session<R: Runtime>(app: &AppHandle<R>, forget: bool) {
    let app_state = app.state::<AppState>();
    let Some(session) = app_state.take_current() else {
        return;
    };
    session.stop().await;
    app_state.alarm().stop();
    // The next user's phone letter starts without this one's files.
    app_state.letter_files().clear();
    alerts::show_count(app, 0);
    alerts::publish_waiting(app, &app_state.alarm());
    if forget {
        // Offline, the token expires on its own; do not keep the officer waiting.
        match tokio::time::timeout(Duration::from_secs(3), session.client.logout()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::info!("server logout: {e}"),
            Err(_) => tracing::info!("server logout timed out"),
        }
        let vault = app_state.vault();
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
    let app_state = app.state::<AppState>();
    let path = app_state
        .data_dir()
        .join(cache_file_name(&server_url, username));
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
    app_state.alarm().start(sync.server_clock());
    let events = sync.subscribe();
    let status = sync.watch_status();
    let status_for_acks = sync.watch_status();
    let session = Arc::new(Session::new(
        server_url,
        me,
        tree,
        client,
        store.clone(),
        sync,
    ));
    let news = News::new(
        app.clone(),
        store,
        alarm::Recipient::of(&session.me),
        app_state.alarm(),
    );
    // Letters already waiting in the cache ring once, as arrivals.
    news.refresh_all().await;
    session.keep_tasks(vec![
        tauri::async_runtime::spawn(news::forward_status(app.clone(), status)),
        tauri::async_runtime::spawn(news::forward_events(news, events)),
        tauri::async_runtime::spawn(crate::handover::send_when_online(
            crate::handover::Link::of(&session),
            app_state.workstation().map(str::to_owned),
            status_for_acks,
        )),
    ]);
    // After the subscription: no event of the first sync is missed.
    drop(engine.spawn());
    app_state.set_current(Arc::clone(&session));
    tracing::info!(
        user = %session.me.username,
        unit = session.me.unit_id.0,
        server = %session.server_url,
        "signed in"
    );
    Ok(session)
}
