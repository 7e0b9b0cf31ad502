//! The executor: one tokio task per signed-in session that pulls, listens, pushes and
//! reports. Every decision it takes is asked of `plan.rs`; this file only does the IO.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use jsjb_core::letter::LetterId;
use jsjb_proto::MAX_SYNC_PAGE;
use jsjb_store::{StoreError, StoreHandle};
use serde::Serialize;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use ts_rs::TS;

use crate::client::{ClientError, ServerClient, StreamItem};
use crate::clock::{LocalClock, ServerClock};
use crate::plan::{
    AuditAlarm, HeadVerdict, Intervals, LoopState, OffsetSample, PushDecision, Wake, backoff_delay,
    better_sample, catch_up_percent, changed_ids, decide_push, judge_head, next_wake,
    offset_sample, poke_needs_pull,
};

/// A sync page as it arrived, with the local times the request was sent and answered.
struct Fetched {
    page: jsjb_proto::SyncPage,
    sent: DateTime<Utc>,
    received: DateTime<Utc>,
}

/// Tunables of the engine. The defaults suit a station desk on the police network.
#[derive(Debug, Clone, Copy)]
pub struct SyncConfig {
    /// Changes per sync page (the server caps it at [`MAX_SYNC_PAGE`]).
    pub page_limit: u32,
    /// How often to pull while the SSE stream is down.
    pub poll_interval: Duration,
    /// How often to pull while the SSE stream is up, in case a poke was lost.
    pub safety_interval: Duration,
    /// The first retry delay after a failure; doubles up to `backoff_cap`.
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// Silence on the SSE stream after which it counts as dead (the server sends a
    /// heartbeat every 15 s).
    pub stream_idle_timeout: Duration,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            page_limit: MAX_SYNC_PAGE,
            poll_interval: Duration::from_secs(30),
            safety_interval: Duration::from_secs(300),
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(60),
            stream_idle_timeout: Duration::from_secs(45),
        }
    }
}

/// Whether the desktop is in touch with the server.
///
/// Exported to TypeScript as `SyncConnectionState`: the app shell has a
/// `ConnectionState` of its own, and the bindings share one folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[ts(rename = "SyncConnectionState")]
pub enum ConnectionState {
    /// The last exchange with the server succeeded.
    Online,
    /// An exchange is under way.
    Syncing,
    /// The server could not be reached (or the session expired) since this time
    /// (server time, as estimated).
    Offline { since: DateTime<Utc> },
}

/// What the UI shows about sync; published on a `watch` channel whenever it changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct SyncStatus {
    pub state: ConnectionState,
    /// The SSE stream is connected: changes arrive within a second, not at the next poll.
    pub live: bool,
    /// The server's time of the last page applied.
    pub last_synced_at: Option<DateTime<Utc>>,
    /// Outbox entries waiting to be sent.
    pub pending_actions: u32,
    /// Outbox entries the server refused, waiting for the officer to read them.
    pub failed_actions: u32,
    /// Server clock minus workstation clock.
    #[ts(type = "number")]
    pub clock_offset_ms: i64,
    /// The code of the last failure (`server_unreachable`, `session_expired`, …), cleared
    /// by the next success.
    pub last_error_code: Option<String>,
    /// The server's audit chain disagrees with the head this desktop kept (witnessed
    /// audit): shown as a banner until the server's chain agrees again.
    pub audit_alarm: Option<AuditAlarm>,
    /// A long pull (a first sync, a catch-up after days offline) is under way: how far
    /// it has come, 0–99 %; `None` when there is no such pull. The inbox already shows
    /// what has been stored; this says that more is coming.
    pub catch_up_percent: Option<u8>,
}

/// What an exchange asked for with [`SyncHandle::sync_and_report`] came to: what the
/// officer sees after pressing 立即同步.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct SyncReport {
    /// `None` when the exchange succeeded, else the failure's code (`server_unreachable`,
    /// `session_expired`, …).
    pub error_code: Option<String>,
    /// Letters the exchange changed in the cache.
    pub letters_changed: u32,
    /// Outbox entries the server answered (accepted or refused) in the exchange.
    pub actions_sent: u32,
    /// Outbox entries still waiting after it.
    pub pending_actions: u32,
    /// When it ended, in server time (as estimated).
    pub finished_at: DateTime<Utc>,
}

/// Something the app reacts to; broadcast to every subscriber. A subscriber that lags
/// behind (`RecvError::Lagged`) should re-query everything it shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SyncEvent {
    /// These letters were added, changed or removed in the cache: re-query them.
    LettersChanged { ids: Vec<LetterId> },
    /// These letters were newly dispatched to the user's unit: ring the chime.
    Arrived { ids: Vec<LetterId> },
    /// The supervising officer chased (催办) these letters, which the user's unit holds.
    Chased { ids: Vec<LetterId> },
    /// These letters' feedback forms now wait for the user, the unit's chief (待签批).
    FormsToSign { ids: Vec<LetterId> },
    /// The server refused an outbox entry; the letter is back to the server's state.
    ActionRefused {
        entry_id: i64,
        letter_id: LetterId,
        code: String,
        message: String,
    },
    /// The session is no longer valid: sign in again, then [`SyncHandle::set_token`].
    SessionExpired,
    /// The server's audit chain newly disagrees with the head this desktop kept.
    AuditMismatch { alarm: AuditAlarm },
    /// The server's clock rules were adopted: every letter's colour may have changed.
    RulesChanged { version: String },
}

/// Why a cycle failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("cache: {0}")]
    Store(#[from] StoreError),
}

impl SyncError {
    pub fn code(&self) -> &str {
        match self {
            SyncError::Client(e) => e.code(),
            SyncError::Store(e) => e.code(),
        }
    }
}

enum Command {
    /// With a reply channel when the caller waits for the exchange's report.
    SyncNow(Option<oneshot::Sender<SyncReport>>),
    PushNow,
    SetToken(String),
}

enum StreamSignal {
    Connected,
    Poke(i64),
    Down(String),
    Unauthorized(String),
}

/// Aborts the task when dropped, so the SSE task never outlives its engine.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The app's handle on the engine. Cheap to clone; the engine stops when
/// [`SyncHandle::shutdown`] is called or the last handle is dropped.
#[derive(Clone)]
pub struct SyncHandle {
    commands: mpsc::UnboundedSender<Command>,
    status: watch::Receiver<SyncStatus>,
    events: broadcast::Sender<SyncEvent>,
    clock: ServerClock,
    shutdown: Arc<watch::Sender<bool>>,
    done: watch::Receiver<bool>,
}

impl SyncHandle {
    /// The status now.
    pub fn status(&self) -> SyncStatus {
        self.status.borrow().clone()
    }

    /// A receiver that sees every status change (for forwarding to the UI).
    pub fn watch_status(&self) -> watch::Receiver<SyncStatus> {
        self.status.clone()
    }

    /// Subscribes to the engine's events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<SyncEvent> {
        self.events.subscribe()
    }

    /// Push and pull now, skipping any backoff wait (the user pressed "sync").
    pub fn sync_now(&self) {
        let _ = self.commands.send(Command::SyncNow(None));
    }

    /// As [`SyncHandle::sync_now`], and waits for the exchange that follows to end. A
    /// stopped engine reports `engine_stopped`.
    pub async fn sync_and_report(&self) -> SyncReport {
        let (tx, rx) = oneshot::channel();
        let stopped = || SyncReport {
            error_code: Some("engine_stopped".to_owned()),
            letters_changed: 0,
            actions_sent: 0,
            pending_actions: self.status.borrow().pending_actions,
            finished_at: self.clock.now(),
        };
        if self.commands.send(Command::SyncNow(Some(tx))).is_err() {
            return stopped();
        }
        rx.await.unwrap_or_else(|_| stopped())
    }

    /// An action was queued: push it as soon as the server can be reached (this does not
    /// skip a backoff wait; it does refresh the pending count at once).
    pub fn push_now(&self) {
        let _ = self.commands.send(Command::PushNow);
    }

    /// The user signed in again after [`SyncEvent::SessionExpired`]: carry on with this
    /// token (the same user; another user gets another cache and another engine).
    pub fn set_token(&self, token: impl Into<String>) {
        let _ = self.commands.send(Command::SetToken(token.into()));
    }

    /// The server's clock as estimated by the engine, for computing every SLA clock.
    pub fn server_clock(&self) -> ServerClock {
        self.clock.clone()
    }

    /// The estimated server time now.
    pub fn server_now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Stops the engine and waits until it has. It stops at its next await point, even
    /// in the middle of a page or a push: every step is crash-safe by design (a page is
    /// applied in one transaction, an outbox entry is deleted only after the server
    /// accepted it, and a resend carries the same idempotency key), so stopping is no
    /// different from the app being killed there.
    pub async fn shutdown(&self) {
        let _ = self.shutdown.send(true);
        let mut done = self.done.clone();
        // An error means the engine is gone already.
        let _ = done.wait_for(|d| *d).await;
    }
}

/// The sync engine of one session. Build it with [`SyncEngine::new`], subscribe to
/// its events through the handle, then run it with [`SyncEngine::spawn`].
pub struct SyncEngine {
    client: ServerClient,
    store: StoreHandle,
    clock: ServerClock,
    config: SyncConfig,
    commands: mpsc::UnboundedReceiver<Command>,
    status: watch::Sender<SyncStatus>,
    events: broadcast::Sender<SyncEvent>,
    shutdown: watch::Receiver<bool>,
    done: watch::Sender<bool>,
    // Keeps `stream_rx` open when no SSE task runs.
    stream_tx: mpsc::UnboundedSender<StreamSignal>,
    stream_rx: mpsc::UnboundedReceiver<StreamSignal>,
    stream_task: Option<AbortOnDrop>,
    cursor: i64,
    /// The cursor as the SSE task sees it, to reconnect from where we are.
    shared_cursor: Arc<AtomicI64>,
    me_loaded: bool,
    /// A rules version this desktop could not adopt (a newer server's shape): not asked
    /// again on every page; the rules in use stay.
    rules_not_adopted: Option<String>,
    need_pull: bool,
    need_push: bool,
    live: bool,
    session_expired: bool,
    failures: u32,
    retry_at: Option<Instant>,
    last_cycle: Option<Instant>,
    offline_since: Option<DateTime<Utc>>,
    /// Callers of `sync_and_report` waiting for the next exchange to end.
    report_waiters: Vec<oneshot::Sender<SyncReport>>,
    /// What the exchange under way has done so far, for its report.
    letters_changed: u32,
    actions_sent: u32,
}

impl SyncEngine {
    /// Prepares an engine for the session `client` is signed in with, over its cache.
    /// Reads the stored cursor and clock offset, so the status and `server_now` are
    /// right before the first exchange (an app started offline still shows deadlines
    /// in server time).
    pub async fn new(
        client: ServerClient,
        store: StoreHandle,
        local_clock: Arc<dyn LocalClock>,
        config: SyncConfig,
    ) -> Result<(SyncEngine, SyncHandle), SyncError> {
        let (state, pending, failed) = store
            .call(|s| -> Result<_, StoreError> {
                Ok((
                    s.sync_state()?,
                    s.pending_actions()?.len(),
                    s.failed_actions()?.len(),
                ))
            })
            .await??;
        let clock = ServerClock::new(local_clock, state.clock_offset_ms);
        let (status_tx, status_rx) = watch::channel(SyncStatus {
            // Not known to be reachable until the first exchange says so.
            state: ConnectionState::Syncing,
            live: false,
            last_synced_at: state.last_synced_at,
            pending_actions: count(pending),
            failed_actions: count(failed),
            clock_offset_ms: state.clock_offset_ms,
            last_error_code: None,
            audit_alarm: None,
            catch_up_percent: None,
        });
        let (events, _) = broadcast::channel(256);
        let (commands_tx, commands_rx) = mpsc::unbounded_channel();
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let (done_tx, done_rx) = watch::channel(false);
        let (stream_tx, stream_rx) = mpsc::unbounded_channel();
        let handle = SyncHandle {
            commands: commands_tx,
            status: status_rx,
            events: events.clone(),
            clock: clock.clone(),
            shutdown: Arc::new(shutdown_tx),
            done: done_rx,
        };
        let engine = SyncEngine {
            client,
            store,
            clock,
            config,
            commands: commands_rx,
            status: status_tx,
            events,
            shutdown: shutdown_rx,
            done: done_tx,
            stream_tx,
            stream_rx,
            stream_task: None,
            cursor: state.cursor,
            shared_cursor: Arc::new(AtomicI64::new(state.cursor)),
            me_loaded: false,
            rules_not_adopted: None,
            need_pull: true,
            need_push: true,
            live: false,
            session_expired: false,
            failures: 0,
            retry_at: None,
            last_cycle: None,
            offline_since: None,
            report_waiters: Vec::new(),
            letters_changed: 0,
            actions_sent: 0,
        };
        Ok((engine, handle))
    }

    /// Runs the engine on the current tokio runtime.
    pub fn spawn(self) -> JoinHandle<()> {
        tokio::spawn(self.run())
    }

    /// Runs until [`SyncHandle::shutdown`] or until every handle is dropped.
    pub async fn run(mut self) {
        let mut shutdown = self.shutdown.clone();
        tokio::select! {
            // Checked first so a shutdown wins over work that is ready at the same time.
            biased;
            _ = shutdown.wait_for(|s| *s) => {}
            () = self.main_loop() => {}
        }
        // Dropping the SSE task's guard aborts it.
        self.stream_task = None;
        tracing::debug!("sync engine stopped");
        let _ = self.done.send(true);
    }

    async fn main_loop(&mut self) {
        loop {
            let intervals = Intervals {
                poll: self.config.poll_interval,
                safety: self.config.safety_interval,
            };
            let sleep = match next_wake(&self.loop_state(), intervals, Instant::now()) {
                Wake::RunNow => {
                    self.run_cycle().await;
                    continue;
                }
                Wake::At(at) => Some(at),
                Wake::Idle => None,
            };
            tokio::select! {
                command = self.commands.recv() => match command {
                    Some(command) => self.on_command(command).await,
                    // Every handle is gone: nobody is left to sync for.
                    None => return,
                },
                Some(signal) = self.stream_rx.recv() => {
                    self.on_stream(signal);
                    // Coalesce: a burst of pokes becomes one pull.
                    while let Ok(signal) = self.stream_rx.try_recv() {
                        self.on_stream(signal);
                    }
                }
                () = sleep_until(sleep) => {
                    // A poll, a safety pull, or the end of a backoff wait.
                    self.need_pull = true;
                    self.need_push = true;
                }
            }
        }
    }

    fn loop_state(&self) -> LoopState {
        LoopState {
            need_pull: self.need_pull,
            need_push: self.need_push,
            retry_at: self.retry_at,
            live: self.live,
            last_cycle: self.last_cycle,
            session_expired: self.session_expired,
        }
    }

    async fn on_command(&mut self, command: Command) {
        match command {
            Command::SyncNow(reply) => {
                if let Some(reply) = reply {
                    self.report_waiters.push(reply);
                }
                self.need_pull = true;
                self.need_push = true;
                self.retry_at = None;
                // Worth one more try: if the token really expired we hear so again.
                self.session_expired = false;
            }
            Command::PushNow => {
                self.need_push = true;
                self.refresh_counts().await;
            }
            Command::SetToken(token) => {
                self.client = self.client.with_token(token);
                self.session_expired = false;
                self.me_loaded = false;
                self.need_pull = true;
                self.need_push = true;
                self.retry_at = None;
                // The old stream carries the old session.
                self.stream_task = None;
                self.live = false;
            }
        }
    }

    fn on_stream(&mut self, signal: StreamSignal) {
        match signal {
            StreamSignal::Connected => {
                self.live = true;
                // Changes made while the stream was down were never poked.
                self.need_pull = true;
            }
            StreamSignal::Poke(cursor) => {
                self.live = true;
                if poke_needs_pull(cursor, self.cursor) {
                    self.need_pull = true;
                }
            }
            StreamSignal::Down(reason) => {
                if self.live {
                    tracing::info!(
                        "live updates lost, polling every {:?}: {reason}",
                        self.config.poll_interval
                    );
                }
                self.live = false;
            }
            StreamSignal::Unauthorized(code) => {
                self.live = false;
                self.expire_session(&code);
            }
        }
        self.publish(|_| {});
    }

    fn expire_session(&mut self, code: &str) {
        if !self.session_expired {
            let _ = self.events.send(SyncEvent::SessionExpired);
        }
        self.session_expired = true;
        self.stream_task = None;
        self.live = false;
        let since = *self.offline_since.get_or_insert_with(|| self.clock.now());
        self.publish(|s| {
            s.state = ConnectionState::Offline { since };
            s.last_error_code = Some(code.to_owned());
        });
    }

    async fn run_cycle(&mut self) {
        let pull = self.need_pull;
        let push = self.need_push || pull;
        // Cleared before the exchange: a poke that arrives meanwhile sets them again.
        self.need_pull = false;
        self.need_push = false;
        // The waiters registered so far hear of this exchange; later ones of the next.
        let waiters = std::mem::take(&mut self.report_waiters);
        (self.letters_changed, self.actions_sent) = (0, 0);
        if pull {
            self.publish(|s| s.state = ConnectionState::Syncing);
        }
        let result = self.cycle(push, pull).await;
        let error_code = result.as_ref().err().map(|e| e.code().to_owned());
        match result {
            Ok(()) => {
                self.failures = 0;
                self.retry_at = None;
                self.last_cycle = Some(Instant::now());
                self.offline_since = None;
                self.publish(|s| {
                    s.state = ConnectionState::Online;
                    s.last_error_code = None;
                });
                if self.stream_task.is_none() {
                    self.start_stream();
                }
            }
            Err(e) => {
                self.need_pull |= pull;
                self.need_push |= push;
                match &e {
                    SyncError::Client(ClientError::Unauthorized { code }) => {
                        let code = code.clone();
                        tracing::warn!("session no longer valid: {code}");
                        self.expire_session(&code);
                    }
                    _ => {
                        self.failures = self.failures.saturating_add(1);
                        let delay = backoff_delay(
                            self.failures,
                            self.config.backoff_base,
                            self.config.backoff_cap,
                            rand::random::<f64>(),
                        );
                        self.retry_at = Some(Instant::now() + delay);
                        tracing::info!(code = e.code(), "sync failed, retrying in {delay:?}: {e}");
                        let offline = matches!(e, SyncError::Client(_));
                        let since = if offline {
                            Some(*self.offline_since.get_or_insert_with(|| self.clock.now()))
                        } else {
                            None
                        };
                        let code = e.code().to_owned();
                        self.publish(|s| {
                            s.state = match since {
                                Some(since) => ConnectionState::Offline { since },
                                // The cache failed, not the network: the server is fine.
                                None => ConnectionState::Online,
                            };
                            s.last_error_code = Some(code);
                        });
                    }
                }
            }
        }
        self.refresh_counts().await;
        if !waiters.is_empty() {
            let report = SyncReport {
                error_code,
                letters_changed: self.letters_changed,
                actions_sent: self.actions_sent,
                pending_actions: self.status.borrow().pending_actions,
                finished_at: self.clock.now(),
            };
            for waiter in waiters {
                // A caller that stopped waiting is not an error.
                let _ = waiter.send(report.clone());
            }
        }
    }

    /// One exchange: who am I (once per session), push the outbox, pull every page.
    /// The outbox goes first so the pull brings the letters with our actions applied.
    async fn cycle(&mut self, push: bool, pull: bool) -> Result<(), SyncError> {
        if !self.me_loaded {
            self.load_me().await?;
        }
        if push {
            self.push_outbox().await?;
        }
        if pull {
            self.pull().await?;
            self.witness_audit().await?;
        }
        Ok(())
    }

    /// Fetches the server's signed audit head with the hash at the kept head's `seq`,
    /// and keeps the new head or raises the alarm as `plan::judge_head` says. A server
    /// without the route (older) or a failed fetch does not hold letters back: the
    /// next pull asks again.
    async fn witness_audit(&mut self) -> Result<(), SyncError> {
        let kept = self.store.call(|s| s.audit_head()).await??;
        let answer = match self.client.audit_head(kept.as_ref().map(|k| k.seq)).await {
            Ok(answer) => answer,
            Err(e @ ClientError::Unauthorized { .. }) => return Err(e.into()),
            Err(e) => {
                tracing::info!("audit head unavailable: {e}");
                return Ok(());
            }
        };
        let alarm = match judge_head(kept.as_ref(), &answer) {
            HeadVerdict::Keep => {
                let head = answer.head;
                self.store.call(move |s| s.keep_audit_head(&head)).await??;
                None
            }
            HeadVerdict::Unchanged => None,
            HeadVerdict::Alarm(alarm) => Some(alarm),
        };
        if let Some(alarm) = &alarm
            && self.status.borrow().audit_alarm.as_ref() != Some(alarm)
        {
            tracing::error!(
                ?alarm,
                "the server's audit chain disagrees with the head kept here"
            );
            let _ = self.events.send(SyncEvent::AuditMismatch {
                alarm: alarm.clone(),
            });
        }
        self.publish(|s| s.audit_alarm = alarm);
        Ok(())
    }

    async fn load_me(&mut self) -> Result<(), SyncError> {
        let me = self.client.me().await?;
        // The directory only names colleagues in pickers: a server without it (or a
        // refusal) must not stop letters from syncing.
        let directory = match self.client.directory().await {
            Ok(users) => Some(users),
            Err(e) if e.is_transient() || matches!(e, ClientError::Unauthorized { .. }) => {
                return Err(e.into());
            }
            Err(e) => {
                tracing::warn!("directory unavailable: {e}");
                None
            }
        };
        self.store
            .call(move |s| -> Result<(), StoreError> {
                s.set_me(&me)?;
                if let Some(users) = directory {
                    s.set_directory(&users)?;
                }
                Ok(())
            })
            .await??;
        self.me_loaded = true;
        Ok(())
    }

    /// Fetches and adopts the server's clock rules when the page names a version this
    /// cache does not use (at the first sync, and after the server started with new
    /// rules), so that the page is coloured under the server's rules.
    ///
    /// Rules this desktop cannot read or that do not hold together (a newer server's)
    /// never stop the letters from syncing: the rules in use stay, with a warning, and
    /// that version is not asked for again. Only an unreachable server or an expired
    /// session fail the cycle, as for any other request.
    async fn adopt_rules(&mut self, version: String) -> Result<(), SyncError> {
        if self.rules_not_adopted.as_deref() == Some(version.as_str()) {
            return Ok(());
        }
        let known = version.clone();
        let current = self
            .store
            .call(move |s| s.rules_version() == Some(known.as_str()))
            .await?;
        if current {
            return Ok(());
        }
        let served = match self.client.rules().await {
            Ok(served) => served,
            Err(e) if rules_failure_fails_cycle(&e) => return Err(e.into()),
            Err(e) => {
                tracing::warn!(%version, "cannot read the server's clock rules; keeping the rules in use: {e}");
                self.rules_not_adopted = Some(version);
                return Ok(());
            }
        };
        let adopted = served.version.clone();
        let classes = served.problem_classes;
        let (set, classes_changed) = self
            .store
            .call(move |s| {
                let changed = s.me().is_some_and(|me| me.problem_classes != classes);
                (s.set_rules(&served.version, served.rules), changed)
            })
            .await?;
        match set {
            Ok(()) => {
                tracing::info!(version = %adopted, "adopted the server's clock rules");
                // The problem classes are part of what the version covers; they reach
                // the desk's forms with the user's record: read it again next cycle
                // when they changed (not otherwise: one round trip fewer before the
                // outbox is pushed on a poor link).
                if classes_changed {
                    self.me_loaded = false;
                }
                let _ = self
                    .events
                    .send(SyncEvent::RulesChanged { version: adopted });
            }
            Err(StoreError::InvalidRules(why)) => {
                tracing::warn!(%version, "the server's clock rules do not hold together; keeping the rules in use: {why}");
                self.rules_not_adopted = Some(version);
            }
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    async fn push_outbox(&mut self) -> Result<(), SyncError> {
        loop {
            let Some(entry) = self.store.call(|s| s.next_pending()).await?? else {
                return Ok(());
            };
            let result = self
                .client
                .post_action(entry.letter_id, &entry.idempotency_key, &entry.request())
                .await;
            let (id, letter_id) = (entry.id, entry.letter_id);
            match decide_push(result) {
                PushDecision::Accepted(letter) => {
                    self.store.call(move |s| s.mark_sent(id, &letter)).await??;
                    self.actions_sent = self.actions_sent.saturating_add(1);
                    self.emit_changed(vec![letter_id]);
                }
                PushDecision::Refused {
                    code,
                    message,
                    current,
                } => {
                    tracing::info!(entry = id, %code, "the server refused an action: {message}");
                    let (c, m) = (code.clone(), message.clone());
                    self.store
                        .call(move |s| s.mark_refused(id, &c, &m, current.as_deref()))
                        .await??;
                    self.actions_sent = self.actions_sent.saturating_add(1);
                    let _ = self.events.send(SyncEvent::ActionRefused {
                        entry_id: id,
                        letter_id,
                        code,
                        message,
                    });
                    self.emit_changed(vec![letter_id]);
                }
                PushDecision::Retry(error) => {
                    // Kept pending with the same key; the attempt is recorded for the UI.
                    let (code, message) = (error.code().to_owned(), error.to_string());
                    self.store
                        .call(move |s| s.note_attempt_failed(id, &code, &message))
                        .await??;
                    return Err(error.into());
                }
                PushDecision::SessionExpired => {
                    return Err(SyncError::Client(ClientError::Unauthorized {
                        code: "session_expired".to_owned(),
                    }));
                }
            }
            self.refresh_counts().await;
        }
    }

    async fn pull(&mut self) -> Result<(), SyncError> {
        let mut best: Option<OffsetSample> = None;
        let result = self.pull_pages(&mut best).await;
        // Caught up, or stopped: either way no progress to show (the next pull measures
        // from where it starts).
        self.publish(|s| s.catch_up_percent = None);
        // A sample from a page that arrived counts even if a later page failed.
        if let Some(sample) = best {
            let offset = sample.offset_ms;
            self.store
                .call(move |s| s.set_clock_offset_ms(offset))
                .await??;
        }
        result
    }

    /// One `GET /sync` page, with the local times around it (for the clock offset).
    async fn fetch_page(&self, cursor: i64) -> Result<Fetched, SyncError> {
        let sent = self.clock.local_now();
        let page = self.client.sync(cursor, self.config.page_limit).await?;
        let received = self.clock.local_now();
        Ok(Fetched {
            page,
            sent,
            received,
        })
    }

    async fn pull_pages(&mut self, best: &mut Option<OffsetSample>) -> Result<(), SyncError> {
        let start = self.cursor;
        let mut fetched = self.fetch_page(self.cursor).await?;
        loop {
            let Fetched {
                page,
                sent,
                received,
            } = fetched;
            let sample = better_sample(*best, offset_sample(sent, received, page.server_time));
            *best = Some(sample);
            // Adopted before the page is applied: whoever sees a letter of this page
            // also sees the offset that colours it (the cache keeps it after the pull).
            self.clock.set_offset_ms(sample.offset_ms);
            self.publish(|s| s.clock_offset_ms = sample.offset_ms);
            let changed = changed_ids(&page);
            self.letters_changed = self
                .letters_changed
                .saturating_add(u32::try_from(changed.len()).unwrap_or(u32::MAX));
            let (next_cursor, has_more, server_time, latest_cursor) = (
                page.next_cursor,
                page.has_more,
                page.server_time,
                page.latest_cursor,
            );
            if let Some(version) = page.rules_version.clone() {
                self.adopt_rules(version).await?;
            }
            let apply = self.store.call(move |s| s.apply_page(&page));
            // While this page is stored, the next one is on its way (issue 15 item 2): a
            // long pull, a first sync above all, takes about the slower of fetching and
            // storing instead of their sum. The pages are still stored one after the
            // other, in cursor order; a page fetched ahead of one that failed to store
            // is dropped, and the next pull asks for it again.
            let (applied, next) = if has_more {
                let (applied, next) = tokio::join!(apply, self.fetch_page(next_cursor));
                (applied, Some(next))
            } else {
                (apply.await, None)
            };
            let outcome = applied??;
            self.cursor = next_cursor;
            self.shared_cursor.store(next_cursor, Ordering::Relaxed);
            let percent = has_more
                .then_some(latest_cursor)
                .flatten()
                .map(|latest| catch_up_percent(start, next_cursor, latest));
            self.publish(|s| {
                s.last_synced_at = Some(server_time);
                s.catch_up_percent = percent;
            });
            self.emit_changed(changed);
            if !outcome.newly_dispatched_to_unit.is_empty() {
                let _ = self.events.send(SyncEvent::Arrived {
                    ids: outcome.newly_dispatched_to_unit,
                });
            }
            if !outcome.newly_chased.is_empty() {
                let _ = self.events.send(SyncEvent::Chased {
                    ids: outcome.newly_chased,
                });
            }
            if !outcome.newly_to_sign.is_empty() {
                let _ = self.events.send(SyncEvent::FormsToSign {
                    ids: outcome.newly_to_sign,
                });
            }
            match next {
                None => return Ok(()),
                Some(next) => fetched = next?,
            }
        }
    }

    fn emit_changed(&self, ids: Vec<LetterId>) {
        if !ids.is_empty() {
            // No subscriber is not an error: the UI may not be open yet.
            let _ = self.events.send(SyncEvent::LettersChanged { ids });
        }
    }

    async fn refresh_counts(&mut self) {
        let counts = self
            .store
            .call(|s| -> Result<_, StoreError> {
                Ok((s.pending_actions()?.len(), s.failed_actions()?.len()))
            })
            .await;
        match counts {
            Ok(Ok((pending, failed))) => self.publish(|s| {
                s.pending_actions = count(pending);
                s.failed_actions = count(failed);
            }),
            Ok(Err(e)) => tracing::warn!("cannot count the outbox: {e}"),
            Err(e) => tracing::warn!("cannot count the outbox: {e}"),
        }
    }

    fn publish(&self, change: impl FnOnce(&mut SyncStatus)) {
        let live = self.live;
        self.status.send_if_modified(|s| {
            let before = s.clone();
            change(s);
            s.live = live;
            *s != before
        });
    }

    fn start_stream(&mut self) {
        let client = self.client.clone();
        let tx = self.stream_tx.clone();
        let config = self.config;
        let cursor = self.shared_cursor.clone();
        self.stream_task = Some(AbortOnDrop(tokio::spawn(stream_task(
            client, tx, config, cursor,
        ))));
    }
}

/// Keeps the SSE stream open: reconnects with backoff and jitter, and tells the engine
/// when it connects, what it pokes, and when it goes down.
async fn stream_task(
    client: ServerClient,
    tx: mpsc::UnboundedSender<StreamSignal>,
    config: SyncConfig,
    cursor: Arc<AtomicI64>,
) {
    let mut attempt: u32 = 0;
    loop {
        match client.poke_stream(cursor.load(Ordering::Relaxed)).await {
            Ok(mut stream) => {
                if tx.send(StreamSignal::Connected).is_err() {
                    return;
                }
                let reason = loop {
                    match stream.next(config.stream_idle_timeout).await {
                        Ok(Some(item)) => {
                            // Anything received proves the server is back for good.
                            attempt = 0;
                            if let StreamItem::Poke(poke) = item
                                && tx.send(StreamSignal::Poke(poke.cursor)).is_err()
                            {
                                return;
                            }
                        }
                        Ok(None) => break "the server closed the stream".to_owned(),
                        Err(e) => break e.to_string(),
                    }
                };
                if tx.send(StreamSignal::Down(reason)).is_err() {
                    return;
                }
            }
            Err(ClientError::Unauthorized { code }) => {
                let _ = tx.send(StreamSignal::Unauthorized(code));
                return;
            }
            Err(e) => {
                if tx.send(StreamSignal::Down(e.to_string())).is_err() {
                    return;
                }
            }
        }
        attempt = attempt.saturating_add(1);
        let delay = backoff_delay(
            attempt,
            config.backoff_base,
            config.backoff_cap,
            rand::random::<f64>(),
        );
        tokio::time::sleep(delay).await;
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Whether failing to fetch the server's clock rules fails the whole sync cycle (to be
/// retried, as any request is): the server cannot be reached, fails or is busy, or the
/// session is gone. An answer this desktop cannot read (a newer server's rules) or a
/// refusal keeps the rules in use and lets the letters sync.
fn rules_failure_fails_cycle(e: &ClientError) -> bool {
    match e {
        ClientError::Unreachable(_)
        | ClientError::Unauthorized { .. }
        | ClientError::Server { .. } => true,
        ClientError::Refused { status, .. } => *status == 408 || *status == 429,
        ClientError::Decode(_) | ClientError::InvalidUrl(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsjb_proto::Problem;

    fn problem(status: u16) -> Box<Problem> {
        let json = serde_json::json!({"title": "t", "status": status, "code": "c"});
        Box::new(serde_json::from_value::<Problem>(json).expect("a problem"))
    }

    #[test]
    fn only_a_failing_link_or_session_stops_the_cycle_for_the_rules() {
        let cases = [
            (ClientError::Unreachable("refused".into()), true),
            (
                ClientError::Unauthorized {
                    code: "session_expired".into(),
                },
                true,
            ),
            (
                ClientError::Server {
                    status: 503,
                    problem: None,
                },
                true,
            ),
            (
                ClientError::Refused {
                    status: 429,
                    problem: problem(429),
                },
                true,
            ),
            // A newer server's rules this desktop cannot read: keep counting, keep syncing.
            (
                ClientError::Decode("unknown field `new_rule`".into()),
                false,
            ),
            (
                ClientError::Refused {
                    status: 404,
                    problem: problem(404),
                },
                false,
            ),
        ];
        for (error, fails) in cases {
            assert_eq!(rules_failure_fails_cycle(&error), fails, "{error:?}");
        }
    }
}
