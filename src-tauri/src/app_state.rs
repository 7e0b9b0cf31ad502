//! The app's state (one per app, managed by Tauri) and what the commands ask of it.
//!
//! One owner per resource: the [`Session`] slot owns the signed-in session (and through
//! it the cache and the sync engine), the [`TokenVault`] the tokens, the
//! [`ArrivalAlarm`] the chime schedule; settings are a small file.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine as _;
use jsjb_core::letter::LetterId;
use jsjb_core::workflow::{Action, DecisionContext, available_actions};
use jsjb_proto::{UserSummary, Writer};
use jsjb_signoff::PinPolicy;
use jsjb_store::{InboxQuery, OutboxEntry, StoreError};
use jsjb_sync::ClientError;
use tauri::{AppHandle, Emitter, Manager, Runtime};

use crate::alarm::ArrivalAlarm;
use crate::error::{CommandError, CommandResult, ErrorCode};
use crate::exports::ExportFolder;
use crate::ipc::{AttachmentData, InboxView, LetterView, LettersEvent, SessionInfo, events};
use crate::news::News;
use crate::session::Session;
use crate::settings::Settings;
use crate::vault::TokenVault;

pub struct AppState {
    data_dir: PathBuf,
    vault: Arc<TokenVault>,
    current: Mutex<Option<Arc<Session>>>,
    /// Serialises sign-in, resume and sign-out (and makes `session` wait for them).
    gate: Arc<tokio::sync::Mutex<()>>,
    settings: Mutex<Settings>,
    alarm: Arc<ArrivalAlarm>,
    workstation: Option<String>,
    export_folder: ExportFolder,
    pin_policy: PinPolicy,
    /// Where the phone letter's attachments are picked, and the files held for it.
    file_picker: crate::letter_files::FilePicker,
    letter_files: crate::letter_files::HeldFiles,
}

impl AppState {
    pub fn new(
        data_dir: PathBuf,
        vault: TokenVault,
        settings: Settings,
        alarm: Arc<ArrivalAlarm>,
    ) -> AppState {
        AppState {
            data_dir,
            vault: Arc::new(vault),
            current: Mutex::new(None),
            gate: Arc::new(tokio::sync::Mutex::new(())),
            settings: Mutex::new(settings),
            alarm,
            workstation: workstation_name(),
            export_folder: ExportFolder::Ask,
            pin_policy: PinPolicy::default(),
            file_picker: crate::letter_files::FilePicker::Ask,
            letter_files: crate::letter_files::HeldFiles::default(),
        }
    }

    pub(crate) fn set_export_folder(&mut self, folder: ExportFolder) {
        self.export_folder = folder;
    }

    pub(crate) fn set_file_picker(&mut self, picker: crate::letter_files::FilePicker) {
        self.file_picker = picker;
    }

    /// Where the phone letter's attachments come from (set by the builder, never by the
    /// webview), and the files held for the form.
    pub fn file_picker(&self) -> &crate::letter_files::FilePicker {
        &self.file_picker
    }

    pub fn letter_files(&self) -> &crate::letter_files::HeldFiles {
        &self.letter_files
    }

    pub(crate) fn set_pin_policy(&mut self, policy: PinPolicy) {
        self.pin_policy = policy;
    }

    /// Where exports go (set by the app's builder, never by the webview).
    pub fn export_folder(&self) -> &ExportFolder {
        &self.export_folder
    }

    /// The PIN rules at enrolment.
    pub fn pin_policy(&self) -> PinPolicy {
        self.pin_policy
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn vault(&self) -> Arc<TokenVault> {
        Arc::clone(&self.vault)
    }

    pub fn gate(&self) -> Arc<tokio::sync::Mutex<()>> {
        Arc::clone(&self.gate)
    }

    pub fn alarm(&self) -> Arc<ArrivalAlarm> {
        Arc::clone(&self.alarm)
    }

    pub fn workstation(&self) -> Option<&str> {
        self.workstation.as_deref()
    }

    pub fn current(&self) -> Option<Arc<Session>> {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set_current(&self, session: Arc<Session>) {
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Some(session);
    }

    pub(crate) fn take_current(&self) -> Option<Arc<Session>> {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// The signed-in session, or `not_signed_in`.
    pub fn session(&self) -> CommandResult<Arc<Session>> {
        self.current().ok_or_else(CommandError::not_signed_in)
    }

    /// Who is signed in, once any sign-in under way has finished.
    pub async fn session_info(&self) -> Option<SessionInfo> {
        let _guard = self.gate.lock().await;
        self.current().map(|s| s.info())
    }

    pub fn settings(&self) -> Settings {
        self.settings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Records the server signed in to as the default for the sign-in form.
    pub(crate) fn remember_server(&self, server_url: &str) {
        let mut settings = self.settings.lock().unwrap_or_else(PoisonError::into_inner);
        if settings.server_url != server_url {
            settings.server_url = server_url.to_owned();
            if let Err(e) = settings.save(&self.data_dir) {
                tracing::warn!("{e}");
            }
        }
    }

    pub async fn inbox(&self, query: InboxQuery) -> CommandResult<InboxView> {
        let session = self.session()?;
        let now = session.now();
        let page = session.store.call(move |s| s.inbox(&query, now)).await??;
        Ok(InboxView {
            page,
            server_now: now,
        })
    }

    pub async fn letter_view(&self, id: LetterId) -> CommandResult<LetterView> {
        let session = self.session()?;
        let now = session.now();
        let (actor, tree) = (session.actor(), Arc::clone(&session.tree));
        session
            .store
            .call(move |s| -> Result<Option<LetterView>, StoreError> {
                let Some(detail) = s.letter_detail(id, now)? else {
                    return Ok(None);
                };
                let policy = s.rules().policy_for(&detail.status.clock_inputs);
                let ctx = DecisionContext {
                    actor: &actor,
                    tree: &tree,
                    policy: &policy,
                    calendar: s.work_calendar(),
                    now,
                };
                Ok(Some(LetterView {
                    available_actions: available_actions(&ctx, &detail.status),
                    detail,
                    server_now: now,
                }))
            })
            .await??
            .ok_or_else(|| CommandError::new(ErrorCode::NotFound, format!("letter {}", id.0)))
    }

    pub async fn mark_seen(&self, id: LetterId) -> CommandResult<()> {
        let session = self.session()?;
        Ok(session.store.call(move |s| s.mark_seen(id)).await??)
    }

    /// Applies the action to the cache at once (pending) and queues it for the server.
    pub async fn take_action<R: Runtime>(
        &self,
        app: &AppHandle<R>,
        letter_id: LetterId,
        expected_version: u32,
        action: Action,
    ) -> CommandResult<OutboxEntry> {
        self.queue(app, letter_id, expected_version, action, None)
            .await
    }

    /// Queues the chief's approval with its signature envelope (`jsjb_signoff::flow`).
    pub async fn take_signed_action<R: Runtime>(
        &self,
        app: &AppHandle<R>,
        letter_id: LetterId,
        expected_version: u32,
        action: Action,
        signature: serde_json::Value,
    ) -> CommandResult<OutboxEntry> {
        self.queue(app, letter_id, expected_version, action, Some(signature))
            .await
    }

    /// Queues an action in the outbox, pushes it, and tells the alarm and the UI.
    async fn queue<R: Runtime>(
        &self,
        app: &AppHandle<R>,
        letter_id: LetterId,
        expected_version: u32,
        action: Action,
        signature: Option<serde_json::Value>,
    ) -> CommandResult<OutboxEntry> {
        let session = self.session()?;
        let ctx = jsjb_store::ActionContext {
            actor: session.actor(),
            workstation: self.workstation.clone(),
            now: session.now(),
        };
        let entry = session
            .store
            .call(move |s| match &signature {
                None => s.enqueue_action(letter_id, expected_version, &action, &ctx),
                Some(signature) => {
                    s.enqueue_signed_action(letter_id, expected_version, &action, signature, &ctx)
                }
            })
            .await??;
        session.sync.push_now();
        // A sign-for stops the alarm now, not when the server has heard of it.
        News::new(
            app.clone(),
            session.store.clone(),
            crate::alarm::Recipient::of(&session.me),
            self.alarm(),
        )
        .letters_touched(vec![letter_id])
        .await;
        if let Err(e) = app.emit(
            events::LETTERS_CHANGED,
            &LettersEvent {
                ids: vec![letter_id],
            },
        ) {
            tracing::warn!("cannot emit letters-changed: {e}");
        }
        Ok(entry)
    }

    pub async fn failed_actions(&self) -> CommandResult<Vec<OutboxEntry>> {
        let session = self.session()?;
        Ok(session.store.call(|s| s.failed_actions()).await??)
    }

    pub async fn dismiss_failed(&self, id: i64) -> CommandResult<()> {
        let session = self.session()?;
        Ok(session.store.call(move |s| s.dismiss_failed(id)).await??)
    }

    pub async fn reveal_writer(&self, letter_id: LetterId) -> CommandResult<Writer> {
        let session = self.session()?;
        session
            .client
            .reveal_writer(letter_id)
            .await
            .map_err(online_only)
    }

    /// A letter taken by phone, typed in at the desk (online only: the letter and its
    /// tracking code come from the server). `idempotency_key` is the form's own, reused
    /// when the desk retries, so a retry never makes a second letter. The cache hears of
    /// the letter at once (a sync now), not at the next poke.
    /// `files` are tokens of files held for the form ([`crate::letter_files`]); they
    /// are let go once the letter exists, and kept for a retry until then.
    pub async fn type_in_letter(
        &self,
        idempotency_key: String,
        input: jsjb_proto::LetterInput,
        files: Vec<String>,
    ) -> CommandResult<jsjb_proto::DeskIntakeReceipt> {
        let session = self.session()?;
        let attached = self.letter_files.take(&files)?;
        let receipt = session
            .client
            .post_desk_letter(&idempotency_key, &input, &attached)
            .await
            .map_err(online_only)?;
        self.letter_files.release(&files);
        session.sync.sync_now();
        Ok(receipt)
    }

    /// From the cache, or fetched from the server and cached under the size cap.
    pub async fn attachment(&self, sha256: String) -> CommandResult<AttachmentData> {
        let session = self.session()?;
        let key = sha256.clone();
        let (cached, mime) = session
            .store
            .call(move |s| -> Result<_, StoreError> {
                Ok((s.get_blob(&key)?, s.attachment_mime(&key)?))
            })
            .await??;
        let Some(mime) = mime else {
            return Err(CommandError::new(
                ErrorCode::NotFound,
                format!("no cached letter has attachment {sha256}"),
            ));
        };
        let bytes = match cached {
            Some(bytes) => bytes,
            None => {
                let bytes = session
                    .client
                    .attachment(&sha256)
                    .await
                    .map_err(online_only)?
                    .to_vec();
                let (key, copy) = (sha256.clone(), bytes.clone());
                session
                    .store
                    .call(move |s| s.put_blob(&key, &copy))
                    .await??;
                bytes
            }
        };
        Ok(AttachmentData {
            mime,
            base64: base64::engine::general_purpose::STANDARD.encode(bytes),
        })
    }

    pub async fn directory(&self) -> CommandResult<Vec<UserSummary>> {
        let session = self.session()?;
        Ok(session.store.call(|s| s.directory()).await??)
    }

    /// Validates, applies (chime, launch at login) and stores the settings.
    pub fn save_settings<R: Runtime>(
        &self,
        app: &AppHandle<R>,
        settings: Settings,
    ) -> CommandResult<Settings> {
        let settings = settings.validated()?;
        // Asked before the settings lock: the two locks are never held together.
        let signed_in = self.current().is_some();
        let mut current = self.settings.lock().unwrap_or_else(PoisonError::into_inner);
        if current.server_url != settings.server_url && signed_in {
            return Err(CommandError::new(
                ErrorCode::SignOutFirst,
                "the server address is changed at sign-in, after signing out",
            ));
        }
        self.alarm
            .set_settings(settings.chime.alarm())
            .map_err(|e| CommandError::new(ErrorCode::InvalidSettings, e.to_string()))?;
        if current.autostart != settings.autostart {
            set_autostart(app, settings.autostart)?;
        }
        settings.save(&self.data_dir)?;
        crate::alerts::set_language(app, &settings.locale);
        *current = settings.clone();
        Ok(settings)
    }
}

/// A command that needs the server: unreachable means "offline" to the officer.
fn online_only(e: ClientError) -> CommandError {
    match e {
        ClientError::Unreachable(message) => CommandError::new(ErrorCode::Offline, message),
        other => other.into(),
    }
}

fn set_autostart<R: Runtime>(app: &AppHandle<R>, enabled: bool) -> CommandResult<()> {
    let Some(manager) = app.try_state::<tauri_plugin_autostart::AutoLaunchManager>() else {
        tracing::warn!(
            "launch at login is not available in this build; the setting is only stored"
        );
        return Ok(());
    };
    let result = if enabled {
        manager.enable()
    } else {
        manager.disable()
    };
    result.map_err(|e| CommandError::internal(format!("launch at login: {e}")))
}

/// The workstation's name, recorded with every action (who acted from where).
fn workstation_name() -> Option<String> {
    let from_env = std::env::var("COMPUTERNAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .ok();
    from_env
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|s| s.trim().to_owned())
        })
        .filter(|s| !s.is_empty())
}
