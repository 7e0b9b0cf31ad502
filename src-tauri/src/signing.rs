//! The chief's sign-off on the desktop (反馈表 · 一把手签字审批; docs/signoff.md).
//!
//! The flow is `jsjb_signoff::flow` (status, enrolment, preview, signature, verdicts,
//! export); here the signed-in session is its [`Workstation`] (the cache, the server,
//! the server's clock), each command hands it over and turns the answer into IPC, and
//! the flow's errors become the desktop's error codes.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jsjb_core::letter::{FormDecision, LetterId};
use jsjb_core::rules::Rules;
use jsjb_proto::{Delegation, LetterRecord, Me, RegisterKeyRequest, SigningKey, UserSummary};
use jsjb_signoff::flow::{
    FlowError, FormInput, KeyPaths, SignedFormView, Signing, SigningKeyStatus, SignoffPreview,
    Workstation,
};
use jsjb_signoff::{KeyFileError, PinPolicy};
use jsjb_store::{OutboxEntry, cache_file_name};
use jsjb_sync::ClientError;
use serde::Serialize;
use tauri::{AppHandle, Runtime, State};
use ts_rs::TS;

use crate::app_state::AppState;
use crate::error::{CommandError, CommandResult, ErrorCode};
use crate::session::Session;

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
    signing(&app_state, &session).status().await
}

#[tauri::command]
pub async fn enrol_signing_key(
    app_state: State<'_, AppState>,
    pin: String,
) -> CommandResult<SigningKeyStatus> {
    let session = app_state.session()?;
    signing(&app_state, &session).enrol(pin).await
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
    let input = FormInput {
        letter_id,
        decision,
        opinion,
        handwriting_png_base64,
    };
    signing(&app_state, &session).preview(input).await
}

/// Signs the form and queues the approval with its signature through the outbox.
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
    let input = FormInput {
        letter_id,
        decision,
        opinion,
        handwriting_png_base64,
    };
    let signed = signing(&app_state, &session)
        .sign(input, expected_version, pin)
        .await?;
    tracing::info!(
        letter = letter_id.0,
        key = signed.key_id,
        decision = decision.as_str(),
        "feedback form signed"
    );
    app_state
        .take_signed_action(
            &app,
            letter_id,
            expected_version,
            signed.action,
            signed.signature,
        )
        .await
}

#[tauri::command]
pub async fn signed_form_status(
    app_state: State<'_, AppState>,
    letter_id: LetterId,
) -> CommandResult<Vec<SignedFormView>> {
    let session = app_state.session()?;
    signing(&app_state, &session).signed_forms(letter_id).await
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
    let ready = signing(&app_state, &session).export(letter_id, seq).await?;
    // Only now, with everything at hand, is the user asked where it goes.
    let Some(base) =
        crate::exports::ask_folder(&app, app_state.export_folder(), &dialog_title).await?
    else {
        return Ok(None);
    };
    let written = tokio::task::spawn_blocking(move || write_export(&base, ready))
        .await
        .map_err(|e| CommandError::internal(format!("export task: {e}")))??;
    Ok(Some(written))
}

/// Writes the bundle into a new folder under `base`: every file, and the PDF's path.
fn write_export(
    base: &std::path::Path,
    ready: jsjb_signoff::flow::ExportReady,
) -> CommandResult<SignedFormExport> {
    let dir = crate::exports::new_folder(base, &ready.folder_name)?;
    jsjb_signoff::export::write_bundle(&dir, &ready.bundle)
        .map_err(|e| CommandError::new(ErrorCode::ExportFailed, e.to_string()))?;
    let files = ready
        .bundle
        .files
        .iter()
        .map(|(name, _)| dir.join(name).display().to_string())
        .collect();
    Ok(SignedFormExport {
        folder: dir.display().to_string(),
        pdf: ready.has_pdf.then(|| {
            dir.join(jsjb_signoff::export::PDF_FILE)
                .display()
                .to_string()
        }),
        files,
    })
}

// ---------------------------------------------------------------------------------------
// The session as the flow's workstation.

/// The flow for the signed-in user, with their key files in the app's data folder.
fn signing<'a>(app_state: &AppState, session: &'a Session) -> Signing<'a, Session> {
    let stem = cache_file_name(&session.server_url, &session.me.username);
    let paths = KeyPaths::new(app_state.data_dir(), stem.trim_end_matches(".sqlite3"));
    Signing::new(
        session,
        paths,
        app_state.pin_policy(),
        app_state.workstation().map(str::to_owned),
    )
}

#[async_trait]
impl Workstation for Session {
    type Error = CommandError;

    fn me(&self) -> &Me {
        &self.me
    }

    fn now(&self) -> DateTime<Utc> {
        Session::now(self)
    }

    async fn letter(&self, id: LetterId) -> CommandResult<Option<LetterRecord>> {
        Ok(self.store.call(move |s| s.letter(id)).await??)
    }

    async fn colleagues(&self) -> CommandResult<Vec<UserSummary>> {
        Ok(self.store.call(|s| s.directory()).await??)
    }

    async fn rules(&self) -> CommandResult<Rules> {
        Ok(self.store.call(|s| s.rules().clone()).await?)
    }

    async fn delegations(&self) -> CommandResult<Vec<Delegation>> {
        self.client.delegations().await.map_err(online_only)
    }

    async fn keys(&self) -> CommandResult<Vec<SigningKey>> {
        self.client.keys().await.map_err(online_only)
    }

    async fn register_key(&self, request: RegisterKeyRequest) -> CommandResult<SigningKey> {
        self.client
            .register_key(&request)
            .await
            .map_err(online_only)
    }

    async fn cached_handwriting(&self, sha256: &str) -> Option<Vec<u8>> {
        let key = sha256.to_owned();
        self.store
            .call(move |s| s.get_blob(&key))
            .await
            .ok()
            .and_then(Result::ok)
            .flatten()
    }

    async fn cache_handwriting(&self, sha256: &str, png: &[u8]) {
        let (key, copy) = (sha256.to_owned(), png.to_vec());
        match self.store.call(move |s| s.put_blob(&key, &copy)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) | Err(e) => tracing::warn!("cannot cache the handwriting: {e}"),
        }
    }

    async fn fetch_handwriting(&self, letter: LetterId, seq: u32) -> CommandResult<Vec<u8>> {
        Ok(self
            .client
            .signed_form_handwriting(letter, seq)
            .await
            .map_err(online_only)?
            .to_vec())
    }

    async fn fetch_pdf(&self, letter: LetterId, seq: u32) -> CommandResult<Vec<u8>> {
        Ok(self
            .client
            .signed_form_pdf(letter, seq)
            .await
            .map_err(online_only)?
            .to_vec())
    }
}

/// A command that needs the server: unreachable means "offline" to the user.
fn online_only(e: ClientError) -> CommandError {
    match e {
        ClientError::Unreachable(message) => CommandError::new(ErrorCode::Offline, message),
        other => other.into(),
    }
}

impl From<FlowError> for CommandError {
    fn from(e: FlowError) -> CommandError {
        let code = match &e {
            FlowError::NoSigningKey => ErrorCode::NoSigningKey,
            FlowError::KeyNotActive(_) => ErrorCode::KeyNotActive,
            FlowError::StaleView { .. } => ErrorCode::StaleView,
            FlowError::NotTheChief => ErrorCode::NotTheChief,
            FlowError::MayNotSign => ErrorCode::Forbidden,
            FlowError::KeyExists => ErrorCode::KeyFileExists,
            FlowError::LetterNotCached(_) | FlowError::NoSignedForm(_) => ErrorCode::NotFound,
            FlowError::HandwritingNotAtHand => ErrorCode::Offline,
            FlowError::Handwriting(_) => ErrorCode::InvalidInput,
            FlowError::Form(jsjb_core::form::FormError::NotAwaitingApproval(_)) => {
                ErrorCode::WrongState
            }
            FlowError::Form(_) => ErrorCode::InvalidInput,
            FlowError::Key(key) => return key_error(key),
            FlowError::Internal(_) => ErrorCode::Internal,
        };
        CommandError::new(code, e.to_string())
    }
}

fn key_error(e: &KeyFileError) -> CommandError {
    let retry = match e {
        KeyFileError::WrongPin {
            retry_after_secs, ..
        }
        | KeyFileError::Locked { retry_after_secs }
        | KeyFileError::Tampered { retry_after_secs } => Some(*retry_after_secs),
        _ => None,
    };
    let code = match e {
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
    let tries_left = match e {
        KeyFileError::WrongPin {
            failures,
            retry_after_secs: 0,
        } => Some(jsjb_signoff::keyfile::free_tries_left(*failures)),
        _ => None,
    };
    CommandError {
        code,
        message: e.to_string(),
        retry_after_secs: retry.filter(|s| *s > 0),
        tries_left,
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
    fn the_flow_s_refusals_keep_their_codes_and_the_pin_s_wait() {
        let bad_png = jsjb_signoff::flow::handwriting("not base64!").expect_err("refused");
        assert_eq!(CommandError::from(bad_png).code, ErrorCode::InvalidInput);
        assert_eq!(
            CommandError::from(FlowError::StaleView {
                letter: 1,
                version: 3,
                expected: 2
            })
            .code,
            ErrorCode::StaleView
        );
        let wrong = CommandError::from(FlowError::Key(KeyFileError::Locked {
            retry_after_secs: 60,
        }));
        assert_eq!(
            (wrong.code, wrong.retry_after_secs),
            (ErrorCode::PinLocked, Some(60))
        );
        // The first wrong PINs are free: the chief hears how many remain.
        let first = CommandError::from(FlowError::Key(KeyFileError::WrongPin {
            failures: 1,
            retry_after_secs: 0,
        }));
        assert_eq!(
            (first.code, first.retry_after_secs, first.tries_left),
            (ErrorCode::WrongPin, None, Some(2))
        );
        let slowed = CommandError::from(FlowError::Key(KeyFileError::WrongPin {
            failures: 4,
            retry_after_secs: 60,
        }));
        assert_eq!(
            (slowed.retry_after_secs, slowed.tries_left),
            (Some(60), None)
        );
    }
}
