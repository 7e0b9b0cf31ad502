//! The chief's sign-off on the desktop (反馈表 · 一把手签字审批; docs/signoff.md).
//!
//! Thin glue over `jsjb_signoff`: the key pair is made here and its private half is kept
//! only in a key file under the chief's PIN (one per server + user, in the app-data
//! folder); the public half is registered with the server and activated by two
//! independent admins (dual control).
//! Signing builds the exact form the server rebuilds (`desk::form_of`), unlocks the key
//! with the PIN (wrong PINs are counted and slowed down in the key file), signs and
//! queues the approval with its signature through the outbox.

use std::path::PathBuf;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use jsjb_core::form::FeedbackForm;
use jsjb_core::letter::{FormDecision, LetterId};
use jsjb_core::org::{Role, UserId};
use jsjb_core::workflow::Action;
use jsjb_proto::{KeyState, LetterRecord, RegisterKeyRequest};
use jsjb_signoff::desk::{Decision, Directory, SignerRef};
use jsjb_signoff::{KdfParams, KeyFileError, PinPolicy, PublicKey, keyfile};
use jsjb_store::{OutboxEntry, cache_file_name};
use jsjb_sync::ClientError;
use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Emitter, Runtime, State};
use ts_rs::TS;

use crate::app_state::AppState;
use crate::error::{CommandError, CommandResult, ErrorCode};
use crate::ipc::{LettersEvent, events};
use crate::session::Session;

/// The largest handwriting image the server accepts.
pub const MAX_HANDWRITING_BYTES: usize = jsjb_signoff::handwriting::MAX_BYTES;

/// The PIN policy from `JSJB_PIN_MIN_LENGTH` (the desk's override until the server
/// serves its policy): a number raises the minimum; nothing, or anything else, keeps
/// the default of 6 (a lower number keeps 6 too: the override only makes it stricter).
pub fn pin_policy_from(value: Option<&str>) -> PinPolicy {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => PinPolicy::default(),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n <= 64 => PinPolicy::at_least(n),
            _ => {
                tracing::warn!(
                    "JSJB_PIN_MIN_LENGTH={v:?} is not a length up to 64; keeping the default"
                );
                PinPolicy::default()
            }
        },
    }
}

// ---------------------------------------------------------------------------------------
// Types crossing the IPC boundary.

/// Where the user's signing key stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum SigningKeyState {
    /// No key on this workstation for this server + user: enrol.
    None,
    /// Registered, waiting for an admin (待管理员激活).
    Pending,
    /// Active: the user can sign.
    Active,
    /// Revoked: enrol again.
    Revoked,
}

/// `signing_key_status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SigningKeyStatus {
    pub state: SigningKeyState,
    #[ts(type = "number | null")]
    pub key_id: Option<i64>,
    /// SM3 of the public key's SPKI DER, hex: what the admin compares before activating.
    pub fingerprint: Option<String>,
    /// Seconds until the next PIN attempt is allowed (0: now).
    #[ts(type = "number")]
    pub pin_wait_secs: u64,
    /// The fewest characters a new PIN may have (the policy; 6 unless raised).
    #[ts(type = "number")]
    pub pin_min_length: usize,
    /// Whether the user may enrol at all (a chief, or a deputy named in a grant; the
    /// server has the last word).
    pub may_sign: bool,
    /// False when the server could not be asked: `state` is as last seen.
    pub checked_online: bool,
}

/// `signoff_preview`: exactly what would be signed now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SignoffPreview {
    pub form: FeedbackForm,
    /// The canonical bytes as text (`jsjb-feedback-form/1`).
    pub canonical: String,
    /// SM3 of the canonical bytes, hex.
    pub form_sm3: String,
}

/// A signed form's status on a desktop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum SignatureVerdict {
    /// 签名有效
    SignatureValid,
    /// 内容已被修改
    ContentModified,
    /// 签名无效
    SignatureInvalid,
}

/// One signed form of a letter, as `signed_form_status` reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SignedFormView {
    /// The event the decision was recorded as (the `seq` of `export_signed_form`).
    pub seq: u32,
    pub letter_version: u32,
    pub verdict: SignatureVerdict,
    pub signer: UserId,
    pub signer_name: String,
    /// 代签: the chief the signer signed for.
    pub on_behalf_of: Option<UserId>,
    pub on_behalf_of_name: Option<String>,
    pub decision: FormDecision,
    pub signed_at: DateTime<Utc>,
    /// SM3 of the canonical bytes, hex.
    pub form_sm3: String,
    pub key_fingerprint: String,
    pub handwriting_sha256: String,
    /// The signed form, decoded (absent when the bytes are not a form).
    pub form: Option<FeedbackForm>,
    /// The handwriting, PNG base64, when cached or fetched.
    pub handwriting_png_base64: Option<String>,
}

/// `export_signed_form`: what was written, where (`null` when the user cancelled the
/// folder picker).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SignedFormExport {
    pub folder: String,
    /// Every file written, full paths.
    pub files: Vec<String>,
    /// The PDF, when the server could render it.
    pub pdf: Option<String>,
}

// ---------------------------------------------------------------------------------------
// Commands.

#[tauri::command]
pub async fn signing_key_status(app_state: State<'_, AppState>) -> CommandResult<SigningKeyStatus> {
    let session = app_state.session()?;
    status(
        &KeyPaths::of(&app_state, &session),
        &session,
        app_state.pin_policy(),
    )
    .await
}

#[tauri::command]
pub async fn enrol_signing_key(
    app_state: State<'_, AppState>,
    pin: String,
) -> CommandResult<SigningKeyStatus> {
    let session = app_state.session()?;
    let paths = KeyPaths::of(&app_state, &session);
    enrol(
        &paths,
        &session,
        app_state.workstation(),
        app_state.pin_policy(),
        pin,
    )
    .await?;
    status(&paths, &session, app_state.pin_policy()).await
}

#[tauri::command]
pub async fn signoff_preview(
    app_state: State<'_, AppState>,
    letter_id: LetterId,
    decision: FormDecision,
    opinion: String,
    handwriting_png_base64: String,
) -> CommandResult<SignoffPreview> {
    let session = app_state.session()?;
    let png = handwriting(&handwriting_png_base64)?;
    let letter = letter(&session, letter_id).await?;
    let form = build_form(&session, &letter, decision, opinion, &png).await?;
    let bytes = canonical(&form)?;
    Ok(SignoffPreview {
        canonical: String::from_utf8_lossy(&bytes).into_owned(),
        form_sm3: jsjb_signoff::sm3_hex(&bytes),
        form,
    })
}

// The command's arguments are the form's inputs, one by one, as the UI sends them.
#[allow(clippy::too_many_arguments)]
#[tauri::command]
pub async fn sign_feedback_form<R: Runtime>(
    app: AppHandle<R>,
    app_state: State<'_, AppState>,
    letter_id: LetterId,
    expected_version: u32,
    decision: FormDecision,
    opinion: String,
    pin: String,
    handwriting_png_base64: String,
) -> CommandResult<OutboxEntry> {
    let session = app_state.session()?;
    let paths = KeyPaths::of(&app_state, &session);
    let meta = paths
        .meta()
        .ok_or_else(|| CommandError::new(ErrorCode::NoSigningKey, "enrol a signing key first"))?;
    if meta.state != KeyState::Active {
        // Perhaps activated since: ask the server (offline, the server decides later).
        let now = status(&paths, &session, app_state.pin_policy()).await?;
        if now.checked_online && now.state != SigningKeyState::Active {
            return Err(CommandError::new(
                ErrorCode::KeyNotActive,
                format!("the signing key is {:?}", now.state),
            ));
        }
    }
    let png = handwriting(&handwriting_png_base64)?;
    let letter = letter(&session, letter_id).await?;
    if letter.version != expected_version {
        return Err(CommandError::new(
            ErrorCode::StaleView,
            format!(
                "letter {} is at version {}, not {expected_version}",
                letter_id.0, letter.version
            ),
        ));
    }
    let form = build_form(&session, &letter, decision, opinion.clone(), &png).await?;
    let key_path = paths.key.clone();
    let now = session.now();
    // argon2id takes a while by design: off the async threads.
    let signer = tokio::task::spawn_blocking(move || keyfile::unlock(&key_path, &pin, now))
        .await
        .map_err(|e| CommandError::internal(format!("key task: {e}")))?
        .map_err(key_error)?;
    let envelope = jsjb_signoff::desk::envelope(&signer, meta.key_id, &form, &png)
        .map_err(|e| CommandError::internal(format!("signing: {e}")))?;
    drop(signer);
    let signature = serde_json::to_value(&envelope)
        .map_err(|e| CommandError::internal(format!("envelope: {e}")))?;
    let action = Action::ApproveFeedbackForm {
        decision,
        opinion: opinion.trim().to_owned(),
    };
    let ctx = jsjb_store::ActionContext {
        actor: session.actor(),
        workstation: app_state.workstation().map(str::to_owned),
        now,
    };
    let entry = session
        .store
        .call(move |s| {
            s.enqueue_signed_action(letter_id, expected_version, &action, &signature, &ctx)
        })
        .await??;
    session.sync.push_now();
    if let Err(e) = app.emit(
        events::LETTERS_CHANGED,
        &LettersEvent {
            ids: vec![letter_id],
        },
    ) {
        tracing::warn!("cannot emit letters-changed: {e}");
    }
    tracing::info!(
        letter = letter_id.0,
        key = meta.key_id,
        decision = decision.as_str(),
        "feedback form signed"
    );
    Ok(entry)
}

#[tauri::command]
pub async fn signed_form_status(
    app_state: State<'_, AppState>,
    letter_id: LetterId,
) -> CommandResult<Vec<SignedFormView>> {
    let session = app_state.session()?;
    let letter = letter(&session, letter_id).await?;
    let names = directory(&session).await?;
    let rules = rules(&session).await?;
    let mut out = Vec::new();
    for signed in &letter.signed_forms {
        let png = handwriting_of(&session, letter_id, signed).await;
        out.push(view_of(&rules, &letter, &names, signed, png.as_deref()));
    }
    Ok(out)
}

/// Asks the user for a folder (the native picker, opened here in Rust: the webview
/// cannot name a path) and writes the bundle into a new folder inside it. `null` when
/// the user cancels. `dialogTitle` is the picker's title, from the UI's locale.
#[tauri::command]
pub async fn export_signed_form<R: Runtime>(
    app: AppHandle<R>,
    app_state: State<'_, AppState>,
    letter_id: LetterId,
    seq: u32,
    dialog_title: String,
) -> CommandResult<Option<SignedFormExport>> {
    let session = app_state.session()?;
    let letter = letter(&session, letter_id).await?;
    let signed = letter
        .signed_forms
        .iter()
        .find(|f| f.event_seq == seq)
        .ok_or_else(|| CommandError::new(ErrorCode::NotFound, format!("no signed form {seq}")))?;
    let png = handwriting_of(&session, letter_id, signed)
        .await
        .ok_or_else(|| {
            CommandError::new(ErrorCode::Offline, "the handwriting image is not at hand")
        })?;
    let pdf = match session.client.signed_form_pdf(letter_id, seq).await {
        Ok(pdf) => Some(pdf.to_vec()),
        Err(e) => {
            tracing::warn!("no PDF for the export: {e}");
            None
        }
    };
    let bytes = decode(&signed.form_b64)?;
    let sig = decode(&signed.signature_der_b64)?;
    let has_pdf = pdf.is_some();
    let bundle = jsjb_signoff::export::bundle(&bytes, &sig, &signed.public_key_pem, &png, pdf)
        .map_err(|e| CommandError::internal(format!("bundle: {e}")))?;
    // Only now, with everything at hand, is the user asked where it goes.
    let Some(base) =
        crate::exports::ask_folder(&app, app_state.export_folder(), &dialog_title).await?
    else {
        return Ok(None);
    };
    let name = format!("反馈表-{}-{seq}", letter.tracking_code);
    let dir = tokio::task::spawn_blocking(move || {
        let dir = crate::exports::new_folder(&base, &name)?;
        jsjb_signoff::export::write_bundle(&dir, &bundle)
            .map_err(|e| CommandError::new(ErrorCode::ExportFailed, e.to_string()))?;
        Ok::<_, CommandError>((dir, bundle))
    })
    .await
    .map_err(|e| CommandError::internal(format!("export task: {e}")))??;
    let (dir, bundle) = dir;
    let files: Vec<String> = bundle
        .files
        .iter()
        .map(|(name, _)| dir.join(name).display().to_string())
        .collect();
    Ok(Some(SignedFormExport {
        folder: dir.display().to_string(),
        pdf: has_pdf.then(|| {
            dir.join(jsjb_signoff::export::PDF_FILE)
                .display()
                .to_string()
        }),
        files,
    }))
}

// ---------------------------------------------------------------------------------------
// The key file and what the desktop remembers about the registered key.

/// The key file and its companion (the server's key id and last seen state) of one
/// server + user.
pub struct KeyPaths {
    pub key: PathBuf,
    pub meta: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct KeyMeta {
    key_id: i64,
    fingerprint: String,
    state: KeyState,
}

impl KeyPaths {
    pub fn of(app_state: &AppState, session: &Session) -> KeyPaths {
        let stem = cache_file_name(&session.server_url, &session.me.username);
        let stem = stem.trim_end_matches(".sqlite3");
        let dir = app_state.data_dir().join("signing");
        KeyPaths {
            key: dir.join(format!("{stem}.key.json")),
            meta: dir.join(format!("{stem}.registered.json")),
        }
    }

    fn meta(&self) -> Option<KeyMeta> {
        let text = std::fs::read(&self.meta).ok()?;
        serde_json::from_slice(&text).ok()
    }

    fn save_meta(&self, meta: &KeyMeta) -> CommandResult<()> {
        let json = serde_json::to_vec_pretty(meta)
            .map_err(|e| CommandError::internal(format!("key meta: {e}")))?;
        std::fs::write(&self.meta, json)
            .map_err(|e| CommandError::internal(format!("key meta: {e}")))
    }
}

async fn enrol(
    paths: &KeyPaths,
    session: &Session,
    workstation: Option<&str>,
    policy: PinPolicy,
    pin: String,
) -> CommandResult<()> {
    if !may_sign(session).await {
        return Err(CommandError::new(
            ErrorCode::Forbidden,
            "only a chief or a deputy signs feedback forms",
        ));
    }
    if paths.key.exists() {
        // A key that was revoked is set aside (kept, never deleted) before a new one.
        let revoked = paths.meta().is_some_and(|m| m.state == KeyState::Revoked);
        if !revoked {
            return Err(CommandError::new(
                ErrorCode::KeyFileExists,
                "a signing key exists on this workstation",
            ));
        }
        let aside = paths
            .key
            .with_extension(format!("revoked-{}.json", Utc::now().timestamp()));
        std::fs::rename(&paths.key, aside)
            .map_err(|e| CommandError::internal(format!("set the revoked key aside: {e}")))?;
    }
    if let Some(dir) = paths.key.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| CommandError::internal(format!("key folder: {e}")))?;
    }
    let key_path = paths.key.clone();
    let now = session.now();
    let public = tokio::task::spawn_blocking(move || {
        keyfile::enrol(&key_path, &pin, policy, KdfParams::default(), now)
    })
    .await
    .map_err(|e| CommandError::internal(format!("key task: {e}")))?
    .map_err(key_error)?;
    let registered = register(session, &public, workstation).await;
    match registered {
        Ok(key) => paths.save_meta(&KeyMeta {
            key_id: key.id,
            fingerprint: key.fingerprint,
            state: key.state,
        }),
        Err(e) => {
            // Not registered: remove the key so that enrolling again starts clean.
            let _ = std::fs::remove_file(&paths.key);
            let _ = std::fs::remove_file(keyfile::attempts_path(&paths.key));
            Err(e)
        }
    }
}

async fn register(
    session: &Session,
    public: &PublicKey,
    workstation: Option<&str>,
) -> CommandResult<jsjb_proto::SigningKey> {
    let pem = public
        .to_pem()
        .map_err(|e| CommandError::internal(format!("public key: {e}")))?;
    session
        .client
        .register_key(&RegisterKeyRequest {
            public_key_pem: pem,
            label: workstation.unwrap_or_default().to_owned(),
        })
        .await
        .map_err(online_only)
}

async fn status(
    paths: &KeyPaths,
    session: &Session,
    policy: PinPolicy,
) -> CommandResult<SigningKeyStatus> {
    let may_sign = may_sign(session).await;
    let pin_min_length = policy.min_chars;
    let local = if paths.key.exists() {
        keyfile::read(&paths.key).ok()
    } else {
        None
    };
    let (Some(_), Some(mut meta)) = (local, paths.meta()) else {
        return Ok(SigningKeyStatus {
            state: SigningKeyState::None,
            key_id: None,
            fingerprint: None,
            pin_wait_secs: 0,
            pin_min_length,
            may_sign,
            checked_online: false,
        });
    };
    // From the authenticated count (a tampered file shows its day-long lock).
    let (key_path, now) = (paths.key.clone(), session.now());
    let pin_wait_secs = tokio::task::spawn_blocking(move || keyfile::pin_wait_secs(&key_path, now))
        .await
        .map_err(|e| CommandError::internal(format!("key task: {e}")))?
        // A damaged file still shows its state; signing with it reports the damage.
        .unwrap_or_else(|e| {
            tracing::warn!("signing key file: {e}");
            0
        });
    let checked_online = match session.client.keys().await {
        Ok(keys) => {
            match keys.iter().find(|k| k.id == meta.key_id) {
                Some(key) => meta.state = key.state,
                // The server no longer knows it (another server, reset): as revoked.
                None => meta.state = KeyState::Revoked,
            }
            paths.save_meta(&meta)?;
            true
        }
        Err(e) => {
            tracing::info!("signing key status from the last check: {e}");
            false
        }
    };
    Ok(SigningKeyStatus {
        state: match meta.state {
            KeyState::Pending => SigningKeyState::Pending,
            KeyState::Active => SigningKeyState::Active,
            KeyState::Revoked => SigningKeyState::Revoked,
        },
        key_id: Some(meta.key_id),
        fingerprint: Some(meta.fingerprint),
        pin_wait_secs,
        pin_min_length,
        may_sign,
        checked_online,
    })
}

/// A chief, or a deputy named in a grant (asked online; the server has the last word).
async fn may_sign(session: &Session) -> bool {
    if session.me.roles.contains(&Role::Chief) {
        return true;
    }
    session.client.delegations().await.is_ok_and(|grants| {
        grants
            .iter()
            .any(|d| d.deputy == session.me.user_id && d.revoked_at.is_none())
    })
}

fn key_error(e: KeyFileError) -> CommandError {
    let retry = match &e {
        KeyFileError::WrongPin {
            retry_after_secs, ..
        }
        | KeyFileError::Locked { retry_after_secs }
        | KeyFileError::Tampered { retry_after_secs } => Some(*retry_after_secs),
        _ => None,
    };
    let code = match &e {
        KeyFileError::WrongPin { .. } => ErrorCode::WrongPin,
        KeyFileError::Locked { .. } => ErrorCode::PinLocked,
        KeyFileError::WeakPin { .. } => ErrorCode::PinTooShort,
        KeyFileError::Tampered { .. } => ErrorCode::KeyFileTampered,
        KeyFileError::Exists(_) => ErrorCode::KeyFileExists,
        _ => ErrorCode::Internal,
    };
    if matches!(code, ErrorCode::Internal | ErrorCode::KeyFileTampered) {
        tracing::error!("signing key: {e}");
    }
    CommandError {
        code,
        message: e.to_string(),
        retry_after_secs: retry.filter(|s| *s > 0),
    }
}

// ---------------------------------------------------------------------------------------
// The form.

async fn letter(session: &Session, id: LetterId) -> CommandResult<LetterRecord> {
    session
        .store
        .call(move |s| s.letter(id))
        .await??
        .ok_or_else(|| {
            CommandError::new(
                ErrorCode::NotFound,
                format!("letter {} is not cached", id.0),
            )
        })
}

/// The names on the form, as the server has them: every unit (from `Me`) and every
/// colleague of the directory.
async fn directory(session: &Session) -> CommandResult<Directory> {
    let users = session.store.call(|s| s.directory()).await??;
    let mut names = Directory::default();
    for unit in &session.me.units {
        names.units.insert(unit.id, unit.name.clone());
    }
    for user in users {
        names.users.insert(user.id, user.display_name);
    }
    names
        .users
        .insert(session.me.user_id, session.me.display_name.clone());
    Ok(names)
}

/// The signer: the chief of the handling unit, or a deputy under a grant valid now.
async fn signer_of(session: &Session, letter: &LetterRecord) -> CommandResult<SignerRef> {
    let me = &session.me;
    if me.roles.contains(&Role::Chief) && me.unit_id == letter.unit_id {
        return Ok(SignerRef {
            user: me.user_id,
            delegation: None,
        });
    }
    let now = session.now();
    let grants = session.client.delegations().await.map_err(online_only)?;
    grants
        .into_iter()
        .find(|d| d.covers(me.user_id, letter.unit_id, letter.category, now))
        .map(|d| SignerRef {
            user: me.user_id,
            delegation: Some((d.id, d.chief)),
        })
        .ok_or_else(|| {
            CommandError::new(
                ErrorCode::NotTheChief,
                "neither the handling unit's chief nor a deputy with a valid grant",
            )
        })
}

async fn build_form(
    session: &Session,
    letter: &LetterRecord,
    decision: FormDecision,
    opinion: String,
    png: &[u8],
) -> CommandResult<FeedbackForm> {
    let names = directory(session).await?;
    let signer = signer_of(session, letter).await?;
    let (policy, calendar) = rules(session).await?;
    jsjb_signoff::desk::form_of(
        letter,
        &names,
        &policy,
        &calendar,
        signer,
        &Decision { decision, opinion },
        png,
        session.now(),
    )
    .map_err(form_error)
}

fn form_error(e: jsjb_core::form::FormError) -> CommandError {
    let code = match e {
        jsjb_core::form::FormError::NotAwaitingApproval(_) => ErrorCode::WrongState,
        _ => ErrorCode::InvalidInput,
    };
    CommandError::new(code, e.to_string())
}

/// The clock rules and calendar the cache counts with (the server's).
type Rules = (jsjb_core::clock::Policy, jsjb_core::calendar::WorkCalendar);

async fn rules(session: &Session) -> CommandResult<Rules> {
    Ok(session
        .store
        .call(|s| (s.clock_policy().clone(), s.work_calendar().clone()))
        .await?)
}

fn canonical(form: &FeedbackForm) -> CommandResult<Vec<u8>> {
    form.to_canonical()
        .map_err(|e| CommandError::internal(format!("canonical form: {e}")))
}

/// The PNG drawn on the pad, decoded and checked as the PDF will read it (at most
/// 192 KiB, a sane size in pixels, complete) before anything is signed over it.
fn handwriting(base64: &str) -> CommandResult<Vec<u8>> {
    let png = base64::engine::general_purpose::STANDARD
        .decode(base64.trim())
        .map_err(|e| CommandError::new(ErrorCode::InvalidInput, format!("handwriting: {e}")))?;
    jsjb_signoff::handwriting::decode(&png)
        .map_err(|e| CommandError::new(ErrorCode::InvalidInput, e.to_string()))?;
    Ok(png)
}

fn decode(b64: &str) -> CommandResult<Vec<u8>> {
    jsjb_signoff::b64::decode(b64).map_err(|e| CommandError::internal(format!("base64: {e}")))
}

/// The handwriting of a signed form: from the cache, else fetched and cached.
async fn handwriting_of(
    session: &Session,
    letter: LetterId,
    signed: &jsjb_proto::SignedForm,
) -> Option<Vec<u8>> {
    let key = signed.handwriting_sha256.clone();
    let cached = session
        .store
        .call(move |s| s.get_blob(&key))
        .await
        .ok()
        .and_then(Result::ok)
        .flatten();
    if cached.is_some() {
        return cached;
    }
    let bytes = match session
        .client
        .signed_form_handwriting(letter, signed.event_seq)
        .await
    {
        Ok(bytes) => bytes.to_vec(),
        Err(e) => {
            tracing::info!(
                "handwriting of letter {} form {}: {e}",
                letter.0,
                signed.event_seq
            );
            return None;
        }
    };
    // Cached under its hash only when it is the image on the form; a different one is
    // still shown (and the verdict says the content was modified).
    if jsjb_signoff::verify::sha256_hex(&bytes) == signed.handwriting_sha256 {
        let (key, copy) = (signed.handwriting_sha256.clone(), bytes.clone());
        match session.store.call(move |s| s.put_blob(&key, &copy)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) | Err(e) => tracing::warn!("cannot cache the handwriting: {e}"),
        }
    }
    Some(bytes)
}

/// The verdict and what the form shows, for one signed form: the signature over the
/// stored bytes, the image (when at hand) against the form, and the form rebuilt from the
/// synced letter at the signed version against the stored bytes.
fn view_of(
    rules: &Rules,
    letter: &LetterRecord,
    names: &Directory,
    signed: &jsjb_proto::SignedForm,
    png: Option<&[u8]>,
) -> SignedFormView {
    let bytes = jsjb_signoff::b64::decode(&signed.form_b64).unwrap_or_default();
    let sig = jsjb_signoff::b64::decode(&signed.signature_der_b64).unwrap_or_default();
    let form = FeedbackForm::from_canonical(&bytes).ok();
    let rebuilt = match (&form, png) {
        (Some(form), Some(png)) => rebuild(rules, letter, names, form, png),
        _ => None,
    };
    let verdict = jsjb_signoff::verdict(
        &jsjb_signoff::SignedForm {
            form_bytes: &bytes,
            signature_der: &sig,
            public_key_pem: &signed.public_key_pem,
            handwriting_png: png,
        },
        rebuilt.as_deref(),
    );
    let name = |id: UserId| {
        use jsjb_core::form::Names as _;
        names.user(id)
    };
    SignedFormView {
        seq: signed.event_seq,
        letter_version: signed.letter_version,
        verdict: match verdict {
            jsjb_signoff::Verdict::Valid => SignatureVerdict::SignatureValid,
            jsjb_signoff::Verdict::ContentModified => SignatureVerdict::ContentModified,
            jsjb_signoff::Verdict::SignatureInvalid => SignatureVerdict::SignatureInvalid,
        },
        signer: signed.signer,
        signer_name: name(signed.signer),
        on_behalf_of: signed.on_behalf_of,
        on_behalf_of_name: signed.on_behalf_of.map(name),
        decision: signed.decision,
        signed_at: signed.signed_at,
        form_sm3: jsjb_signoff::sm3_hex(&bytes),
        key_fingerprint: PublicKey::from_pem(&signed.public_key_pem)
            .and_then(|k| k.fingerprint())
            .unwrap_or_default(),
        handwriting_sha256: signed.handwriting_sha256.clone(),
        form,
        handwriting_png_base64: png.map(|p| base64::engine::general_purpose::STANDARD.encode(p)),
    }
}

/// The form as the synced letter gives it at the signed version, with the signed
/// decision, signer and time: the same bytes unless something changed.
fn rebuild(
    rules: &Rules,
    letter: &LetterRecord,
    names: &Directory,
    form: &FeedbackForm,
    png: &[u8],
) -> Option<Vec<u8>> {
    let version = usize::try_from(form.letter.version).ok()?;
    let mut at_version = letter.clone();
    at_version.events.truncate(version);
    at_version.version = form.letter.version;
    let signer = SignerRef {
        user: UserId(form.signer.user.id),
        delegation: form
            .signer
            .on_behalf_of
            .as_ref()
            .map(|d| (d.grant_id, UserId(d.chief.id))),
    };
    let rebuilt = jsjb_signoff::desk::form_of(
        &at_version,
        names,
        &rules.0,
        &rules.1,
        signer,
        &Decision {
            decision: form.decision,
            opinion: form.opinion.clone(),
        },
        png,
        form.signed_at.time(),
    )
    .ok()?;
    rebuilt.to_canonical().ok()
}

/// A command that needs the server: unreachable means "offline" to the user.
fn online_only(e: ClientError) -> CommandError {
    match e {
        ClientError::Unreachable(message) => CommandError::new(ErrorCode::Offline, message),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pin_policy_is_six_unless_raised_by_the_environment() {
        assert_eq!(pin_policy_from(None).min_chars, 6);
        assert_eq!(pin_policy_from(Some("")).min_chars, 6);
        assert_eq!(pin_policy_from(Some(" 8 ")).min_chars, 8);
        // Lower, nonsense or absurd values keep the default: the override only raises it.
        assert_eq!(pin_policy_from(Some("4")).min_chars, 6);
        assert_eq!(pin_policy_from(Some("six")).min_chars, 6);
        assert_eq!(pin_policy_from(Some("1000")).min_chars, 6);
    }

    #[test]
    fn a_truncated_or_oversized_handwriting_png_is_refused() {
        let good = jsjb_signoff::handwriting::sample_png(1);
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        assert_eq!(handwriting(&b64(&good)).expect("the pad's PNG"), good);
        let cut = handwriting(&b64(&good[..good.len() - 30])).expect_err("cut short");
        assert_eq!(cut.code, ErrorCode::InvalidInput);
        let mut big = good.clone();
        big.resize(MAX_HANDWRITING_BYTES + 1, 0);
        assert_eq!(
            handwriting(&b64(&big)).expect_err("too large").code,
            ErrorCode::InvalidInput
        );
    }
}
