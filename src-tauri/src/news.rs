//! What a session's news does: sync status and events forwarded to the UI, and the
//! letters that start or stop waiting for the user turned into the alarm, the tray
//! count and the arrival notice. Handed the alarm and the store it needs; it never
//! reaches into the app's state.

use std::sync::Arc;

use jsjb_core::letter::LetterId;
use jsjb_store::{StoreError, StoreHandle};
use jsjb_sync::{SyncEvent, SyncStatus};
use tauri::{AppHandle, Emitter, Runtime};
use tokio::sync::{broadcast, watch};

use crate::alarm::{self, ArrivalAlarm};
use crate::alerts;
use crate::ipc::{
    ActionRefusedEvent, AuditMismatchEvent, LettersEvent, SessionExpiredEvent, events,
};

/// Where one session's news goes: the UI (through the app handle), the alarm, and the
/// cache it reads the waiting letters from, for the user it waits for.
#[derive(Clone)]
pub struct News<R: Runtime> {
    app: AppHandle<R>,
    store: StoreHandle,
    who: alarm::Recipient,
    alarm: Arc<ArrivalAlarm>,
}

impl<R: Runtime> News<R> {
    pub fn new(
        app: AppHandle<R>,
        store: StoreHandle,
        who: alarm::Recipient,
        alarm: Arc<ArrivalAlarm>,
    ) -> News<R> {
        News {
            app,
            store,
            who,
            alarm,
        }
    }

    /// These letters may have started or stopped waiting for the user (a signature at a
    /// unit, a dispatch at a desk): update the alarm and the tray, and announce arrivals.
    pub async fn letters_touched(&self, ids: Vec<LetterId>) {
        let (who, now) = (self.who.clone(), self.alarm.now());
        let view = self
            .store
            .call(move |s| alarm::waiting(s, &who, &ids, now))
            .await;
        self.apply_waiting(view);
    }

    /// Every letter waiting in the cache, as if it had just arrived (at sign-in, and
    /// after the UI fell behind the sync events).
    pub async fn refresh_all(&self) {
        let (who, now) = (self.who.clone(), self.alarm.now());
        let view = self
            .store
            .call(move |s| alarm::all_waiting(s, &who, now))
            .await;
        self.apply_waiting(view);
    }

    fn apply_waiting(&self, view: WaitingView) {
        let (app, alarm) = (&self.app, &self.alarm);
        match view {
            Ok(Ok(view)) => {
                alarm.update_warnings(&view.warnings);
                alarm.update_escalations(&view.escalations);
                let arrived = alarm.update(&view.waiting);
                alerts::show_count(app, alarm.unsigned());
                alerts::publish_waiting(app, alarm);
                if !arrived.is_empty() {
                    tracing::info!(letters = ?arrived, "new letters wait for the user");
                    let newest = arrived.last().copied();
                    emit(app, events::LETTERS_ARRIVED, &LettersEvent { ids: arrived });
                    alerts::notify_arrival(app, newest);
                    alerts::ask_attention(app);
                }
            }
            Ok(Err(e)) | Err(e) => tracing::warn!("cannot read waiting letters for the alarm: {e}"),
        }
    }
}

type WaitingView = Result<Result<alarm::AlarmView, StoreError>, StoreError>;

/// The sync engine's status, to the UI as it changes.
pub async fn forward_status<R: Runtime>(
    app: AppHandle<R>,
    mut status: watch::Receiver<SyncStatus>,
) {
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

/// The sync engine's events: to the UI, and through [`News`] to the alarm.
pub async fn forward_events<R: Runtime>(news: News<R>, mut events: broadcast::Receiver<SyncEvent>) {
    let app = news.app.clone();
    loop {
        let event = match events.recv().await {
            Ok(event) => event,
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "sync events lagged; the UI re-reads everything");
                news.refresh_all().await;
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
                news.letters_touched(ids.clone()).await;
                emit(&app, events::LETTERS_CHANGED, &LettersEvent { ids });
            }
            // The same page's `LettersChanged` came first; this catches a letter that
            // left and came back within one page.
            SyncEvent::Arrived { ids } => news.letters_touched(ids).await,
            // The row shows the badge (and stays highlighted until opened); the officer
            // away from the window hears of it from the OS and the taskbar.
            SyncEvent::Chased { ids } => {
                tracing::info!(letters = ?ids, "the supervising officer chased");
                let newest = ids.last().copied();
                emit(&app, events::LETTERS_CHASED, &LettersEvent { ids });
                alerts::notify_chase(&app, newest);
                alerts::ask_attention(&app);
            }
            SyncEvent::FormsToSign { ids } => {
                tracing::info!(letters = ?ids, "feedback forms wait for the chief");
                let newest = ids.last().copied();
                emit(&app, events::FORMS_TO_SIGN, &LettersEvent { ids });
                alerts::notify_forms(&app, newest);
                alerts::ask_attention(&app);
            }
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
            // New clock rules recoloured the cache: every list and the alarm re-read.
            SyncEvent::RulesChanged { version } => {
                tracing::info!(%version, "the server's clock rules are in use");
                news.refresh_all().await;
                emit(
                    &app,
                    events::LETTERS_CHANGED,
                    &LettersEvent { ids: Vec::new() },
                );
            }
        }
    }
}

fn emit<R: Runtime, S: serde::Serialize + Clone>(app: &AppHandle<R>, event: &str, payload: &S) {
    if let Err(e) = app.emit(event, payload) {
        tracing::warn!("cannot emit {event}: {e}");
    }
}
