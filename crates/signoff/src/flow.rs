//! The sign-off on a workstation, step by step: the key's status, enrolment, the
//! preview of exactly what would be signed, the signature, the verdict on each signed
//! form, and the export bundle. Written against [`Workstation`] — what the flow needs
//! from the desktop (the signed-in user, the cached letter, the server) — so the Tauri
//! commands only hand it the session and turn its answers into IPC, and the flow is
//! tested here without a window.
//!
//! The key pair is made here and its private half is kept only in a key file under the
//! chief's PIN (one per server + user); the public half is registered with the server
//! and activated there under dual control. Signing builds the exact form the server
//! rebuilds ([`crate::desk::form_of`]), unlocks the key with the PIN (wrong PINs are
//! counted and slowed down in the key file) and returns the approval with its signature
//! for the desktop's outbox.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jsjb_core::form::{FeedbackForm, FormError, Names as _};
use jsjb_core::letter::{FormDecision, LetterId};
use jsjb_core::org::{Role, UserId};
use jsjb_core::rules::Rules;
use jsjb_core::workflow::Action;
use jsjb_proto::{Delegation, KeyState, LetterRecord, Me, RegisterKeyRequest, SigningKey};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::desk::{Decision, Directory, SignerRef};
use crate::export::Bundle;
use crate::{KdfParams, KeyFileError, PinPolicy, PublicKey, b64, keyfile};

// ---------------------------------------------------------------------------------------
// What the flow answers (types crossing the desktop's IPC boundary).

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

/// The form's inputs as the chief gives them: the letter, the decision, the opinion and
/// the handwriting drawn on the pad (PNG, base64).
#[derive(Debug, Clone)]
pub struct FormInput {
    pub letter_id: LetterId,
    pub decision: FormDecision,
    pub opinion: String,
    pub handwriting_png_base64: String,
}

/// A signed approval, ready for the outbox: the action and its signature envelope.
#[derive(Debug, Clone)]
pub struct SignedApproval {
    pub action: Action,
    pub signature: serde_json::Value,
    pub key_id: i64,
}

/// A signed form's export, everything at hand: what to write, and the folder's name.
#[derive(Debug)]
pub struct ExportReady {
    pub bundle: Bundle,
    pub has_pdf: bool,
    pub folder_name: String,
}

/// What can go wrong in the flow itself; the desktop turns each into its error code.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error("enrol a signing key first")]
    NoSigningKey,
    #[error("the signing key is {0:?}")]
    KeyNotActive(SigningKeyState),
    #[error("letter {letter} is at version {version}, not {expected}")]
    StaleView {
        letter: i64,
        version: u32,
        expected: u32,
    },
    #[error("neither the handling unit's chief nor a deputy with a valid grant")]
    NotTheChief,
    #[error("only a chief or a deputy signs feedback forms")]
    MayNotSign,
    #[error("a signing key exists on this workstation")]
    KeyExists,
    #[error("letter {0} is not cached")]
    LetterNotCached(i64),
    #[error("no signed form {0}")]
    NoSignedForm(u32),
    /// The handwriting of a signed form is neither cached nor fetchable now.
    #[error("the handwriting image is not at hand")]
    HandwritingNotAtHand,
    /// The pad's image is not a complete PNG within the limits.
    #[error("handwriting: {0}")]
    Handwriting(String),
    #[error(transparent)]
    Form(#[from] FormError),
    #[error(transparent)]
    Key(#[from] KeyFileError),
    #[error("{0}")]
    Internal(String),
}

// ---------------------------------------------------------------------------------------
// What the flow needs from the desktop.

/// The signed-in session as the flow sees it. Server calls fail with the desktop's own
/// error (offline, session expired, …); the flow's failures convert into it.
#[async_trait]
pub trait Workstation: Send + Sync {
    type Error: From<FlowError> + Send;

    /// The signed-in user, with the units they know.
    fn me(&self) -> &Me;
    /// The server's time as the workstation estimates it.
    fn now(&self) -> DateTime<Utc>;
    /// The letter as cached.
    async fn letter(&self, id: LetterId) -> Result<Option<LetterRecord>, Self::Error>;
    /// The colleagues the cache knows, for the names on the form.
    async fn colleagues(&self) -> Result<Vec<jsjb_proto::UserSummary>, Self::Error>;
    /// The clock rules and calendar the cache counts with (the server's).
    async fn rules(&self) -> Result<Rules, Self::Error>;
    /// The delegations (代签) the server shows this user.
    async fn delegations(&self) -> Result<Vec<Delegation>, Self::Error>;
    /// The signing keys the server shows this user.
    async fn keys(&self) -> Result<Vec<SigningKey>, Self::Error>;
    async fn register_key(&self, request: RegisterKeyRequest) -> Result<SigningKey, Self::Error>;
    /// A signed form's handwriting, from the cache.
    async fn cached_handwriting(&self, sha256: &str) -> Option<Vec<u8>>;
    /// Keeps a signed form's handwriting in the cache (best effort).
    async fn cache_handwriting(&self, sha256: &str, png: &[u8]);
    /// A signed form's handwriting, from the server.
    async fn fetch_handwriting(&self, letter: LetterId, seq: u32) -> Result<Vec<u8>, Self::Error>;
    /// A signed form as the server renders it to PDF.
    async fn fetch_pdf(&self, letter: LetterId, seq: u32) -> Result<Vec<u8>, Self::Error>;
}

// ---------------------------------------------------------------------------------------
// The key file and what the desktop remembers about the registered key.

/// The key file and its companion (the server's key id and last seen state) of one
/// server + user.
#[derive(Debug, Clone)]
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
    /// The key files of `stem` (one server + user) in the app's `data_dir`.
    pub fn new(data_dir: &Path, stem: &str) -> KeyPaths {
        let dir = data_dir.join("signing");
        KeyPaths {
            key: dir.join(format!("{stem}.key.json")),
            meta: dir.join(format!("{stem}.registered.json")),
        }
    }

    fn meta(&self) -> Option<KeyMeta> {
        let text = std::fs::read(&self.meta).ok()?;
        serde_json::from_slice(&text).ok()
    }

    fn save_meta(&self, meta: &KeyMeta) -> Result<(), FlowError> {
        let json = serde_json::to_vec_pretty(meta)
            .map_err(|e| FlowError::Internal(format!("key meta: {e}")))?;
        std::fs::write(&self.meta, json).map_err(|e| FlowError::Internal(format!("key meta: {e}")))
    }
}

// ---------------------------------------------------------------------------------------
// The flow.

/// The sign-off of one signed-in user on one workstation.
pub struct Signing<'a, W: Workstation> {
    ws: &'a W,
    paths: KeyPaths,
    pin_policy: PinPolicy,
    /// The workstation's name, the key's label at the server.
    label: Option<String>,
}

impl<'a, W: Workstation> Signing<'a, W> {
    pub fn new(
        ws: &'a W,
        paths: KeyPaths,
        pin_policy: PinPolicy,
        label: Option<String>,
    ) -> Signing<'a, W> {
        Signing {
            ws,
            paths,
            pin_policy,
            label,
        }
    }

    /// Where the key stands: the key file, and the server's word on it when it can be
    /// asked (remembered for when it cannot).
    pub async fn status(&self) -> Result<SigningKeyStatus, W::Error> {
        let may_sign = self.may_sign().await;
        let pin_min_length = self.pin_policy.min_chars;
        let local = if self.paths.key.exists() {
            keyfile::read(&self.paths.key).ok()
        } else {
            None
        };
        let (Some(_), Some(mut meta)) = (local, self.paths.meta()) else {
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
        let (key_path, now) = (self.paths.key.clone(), self.ws.now());
        let pin_wait_secs = blocking(move || keyfile::pin_wait_secs(&key_path, now))
            .await?
            // A damaged file still shows its state; signing with it reports the damage.
            .unwrap_or_else(|e| {
                tracing::warn!("signing key file: {e}");
                0
            });
        let checked_online = match self.ws.keys().await {
            Ok(keys) => {
                match keys.iter().find(|k| k.id == meta.key_id) {
                    Some(key) => meta.state = key.state,
                    // The server no longer knows it (another server, reset): as revoked.
                    None => meta.state = KeyState::Revoked,
                }
                self.paths.save_meta(&meta)?;
                true
            }
            Err(_) => {
                tracing::info!("signing key status from the last check");
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

    /// Makes a key pair under `pin`, registers its public half with the server, and
    /// answers the new status. A revoked key is set aside (kept, never deleted) first;
    /// a key that could not be registered is removed so that enrolling again starts
    /// clean.
    pub async fn enrol(&self, pin: String) -> Result<SigningKeyStatus, W::Error> {
        if !self.may_sign().await {
            return Err(FlowError::MayNotSign.into());
        }
        let paths = &self.paths;
        if paths.key.exists() {
            let revoked = paths.meta().is_some_and(|m| m.state == KeyState::Revoked);
            if !revoked {
                return Err(FlowError::KeyExists.into());
            }
            let aside = paths
                .key
                .with_extension(format!("revoked-{}.json", Utc::now().timestamp()));
            std::fs::rename(&paths.key, aside)
                .map_err(|e| FlowError::Internal(format!("set the revoked key aside: {e}")))?;
        }
        if let Some(dir) = paths.key.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| FlowError::Internal(format!("key folder: {e}")))?;
        }
        let (key_path, now, policy) = (paths.key.clone(), self.ws.now(), self.pin_policy);
        let public =
            blocking(move || keyfile::enrol(&key_path, &pin, policy, KdfParams::default(), now))
                .await?
                .map_err(FlowError::Key)?;
        match self.register(&public).await {
            Ok(key) => paths.save_meta(&KeyMeta {
                key_id: key.id,
                fingerprint: key.fingerprint,
                state: key.state,
            })?,
            Err(e) => {
                let _ = std::fs::remove_file(&paths.key);
                let _ = std::fs::remove_file(keyfile::attempts_path(&paths.key));
                return Err(e);
            }
        }
        self.status().await
    }

    /// Exactly what would be signed now, with its canonical text and SM3.
    pub async fn preview(&self, input: FormInput) -> Result<SignoffPreview, W::Error> {
        let png = handwriting(&input.handwriting_png_base64)?;
        let letter = self.letter(input.letter_id).await?;
        let form = self
            .build_form(&letter, input.decision, input.opinion, &png)
            .await?;
        let bytes = canonical(&form)?;
        Ok(SignoffPreview {
            canonical: String::from_utf8_lossy(&bytes).into_owned(),
            form_sm3: crate::sm3_hex(&bytes),
            form,
        })
    }

    /// Signs the form of the letter as it is at `expected_version` with the key under
    /// `pin`. A key not known active is checked with the server first (offline, the
    /// server decides when the approval arrives).
    pub async fn sign(
        &self,
        input: FormInput,
        expected_version: u32,
        pin: String,
    ) -> Result<SignedApproval, W::Error> {
        let meta = self.paths.meta().ok_or(FlowError::NoSigningKey)?;
        if meta.state != KeyState::Active {
            let now = self.status().await?;
            if now.checked_online && now.state != SigningKeyState::Active {
                return Err(FlowError::KeyNotActive(now.state).into());
            }
        }
        let png = handwriting(&input.handwriting_png_base64)?;
        let letter = self.letter(input.letter_id).await?;
        if letter.version != expected_version {
            return Err(FlowError::StaleView {
                letter: input.letter_id.0,
                version: letter.version,
                expected: expected_version,
            }
            .into());
        }
        let form = self
            .build_form(&letter, input.decision, input.opinion.clone(), &png)
            .await?;
        let (key_path, now) = (self.paths.key.clone(), self.ws.now());
        // argon2id takes a while by design: off the async threads.
        let signer = blocking(move || keyfile::unlock(&key_path, &pin, now))
            .await?
            .map_err(FlowError::Key)?;
        let envelope = crate::desk::envelope(&signer, meta.key_id, &form, &png)
            .map_err(|e| FlowError::Internal(format!("signing: {e}")))?;
        drop(signer);
        let signature = serde_json::to_value(&envelope)
            .map_err(|e| FlowError::Internal(format!("envelope: {e}")))?;
        Ok(SignedApproval {
            action: Action::ApproveFeedbackForm {
                decision: input.decision,
                opinion: input.opinion.trim().to_owned(),
            },
            signature,
            key_id: meta.key_id,
        })
    }

    /// The verdict and what each signed form of the letter shows: the signature over
    /// the stored bytes, the image (when at hand) against the form, and the form
    /// rebuilt from the synced letter at the signed version against the stored bytes.
    pub async fn signed_forms(&self, letter_id: LetterId) -> Result<Vec<SignedFormView>, W::Error> {
        let letter = self.letter(letter_id).await?;
        let names = self.directory().await?;
        let rules = self.ws.rules().await?;
        let mut out = Vec::new();
        for signed in &letter.signed_forms {
            let png = self.handwriting_of(letter_id, signed).await;
            out.push(view_of(&rules, &letter, &names, signed, png.as_deref()));
        }
        Ok(out)
    }

    /// The export bundle of signed form `seq` (form, signature, key, image, the PDF when
    /// the server renders it, the OpenSSL instructions), with the folder name to give it.
    pub async fn export(&self, letter_id: LetterId, seq: u32) -> Result<ExportReady, W::Error> {
        let letter = self.letter(letter_id).await?;
        let signed = letter
            .signed_forms
            .iter()
            .find(|f| f.event_seq == seq)
            .ok_or(FlowError::NoSignedForm(seq))?;
        let png = self
            .handwriting_of(letter_id, signed)
            .await
            .ok_or(FlowError::HandwritingNotAtHand)?;
        let pdf = match self.ws.fetch_pdf(letter_id, seq).await {
            Ok(pdf) => Some(pdf),
            Err(_) => {
                tracing::warn!("no PDF for the export of letter {} form {seq}", letter_id.0);
                None
            }
        };
        let bytes = decode(&signed.form_b64)?;
        let sig = decode(&signed.signature_der_b64)?;
        let has_pdf = pdf.is_some();
        let bundle = crate::export::bundle(&bytes, &sig, &signed.public_key_pem, &png, pdf)
            .map_err(|e| FlowError::Internal(format!("bundle: {e}")))?;
        Ok(ExportReady {
            bundle,
            has_pdf,
            folder_name: format!("反馈表-{}-{seq}", letter.tracking_code),
        })
    }

    // --- steps -----------------------------------------------------------------------

    /// A chief, or a deputy named in a grant (asked online; the server has the last word).
    async fn may_sign(&self) -> bool {
        let me = self.ws.me();
        if me.roles.contains(&Role::Chief) {
            return true;
        }
        self.ws.delegations().await.is_ok_and(|grants| {
            grants
                .iter()
                .any(|d| d.deputy == me.user_id && d.revoked_at.is_none())
        })
    }

    async fn register(&self, public: &PublicKey) -> Result<SigningKey, W::Error> {
        let pem = public
            .to_pem()
            .map_err(|e| FlowError::Internal(format!("public key: {e}")))?;
        self.ws
            .register_key(RegisterKeyRequest {
                public_key_pem: pem,
                label: self.label.clone().unwrap_or_default(),
            })
            .await
    }

    async fn letter(&self, id: LetterId) -> Result<LetterRecord, W::Error> {
        self.ws
            .letter(id)
            .await?
            .ok_or_else(|| FlowError::LetterNotCached(id.0).into())
    }

    /// The names on the form, as the server has them: every unit the user knows and
    /// every colleague of the directory.
    async fn directory(&self) -> Result<Directory, W::Error> {
        let me = self.ws.me();
        let mut names = Directory::default();
        for unit in &me.units {
            names.units.insert(unit.id, unit.name.clone());
        }
        for user in self.ws.colleagues().await? {
            names.users.insert(user.id, user.display_name);
        }
        names.users.insert(me.user_id, me.display_name.clone());
        Ok(names)
    }

    /// The signer: the chief of the handling unit, or a deputy under a grant valid now.
    async fn signer_of(&self, letter: &LetterRecord) -> Result<SignerRef, W::Error> {
        let me = self.ws.me();
        if me.roles.contains(&Role::Chief) && me.unit_id == letter.unit_id {
            return Ok(SignerRef {
                user: me.user_id,
                delegation: None,
            });
        }
        let now = self.ws.now();
        let grants = self.ws.delegations().await?;
        grants
            .into_iter()
            .find(|d| d.covers(me.user_id, letter.unit_id, letter.category, now))
            .map(|d| SignerRef {
                user: me.user_id,
                delegation: Some((d.id, d.chief)),
            })
            .ok_or_else(|| FlowError::NotTheChief.into())
    }

    async fn build_form(
        &self,
        letter: &LetterRecord,
        decision: FormDecision,
        opinion: String,
        png: &[u8],
    ) -> Result<FeedbackForm, W::Error> {
        let names = self.directory().await?;
        let signer = self.signer_of(letter).await?;
        let rules = self.ws.rules().await?;
        Ok(crate::desk::form_of(
            letter,
            &names,
            &rules,
            signer,
            &Decision { decision, opinion },
            png,
            self.ws.now(),
        )
        .map_err(FlowError::Form)?)
    }

    /// The handwriting of a signed form: from the cache, else fetched and cached.
    async fn handwriting_of(
        &self,
        letter: LetterId,
        signed: &jsjb_proto::SignedForm,
    ) -> Option<Vec<u8>> {
        if let Some(cached) = self.ws.cached_handwriting(&signed.handwriting_sha256).await {
            return Some(cached);
        }
        let Ok(bytes) = self.ws.fetch_handwriting(letter, signed.event_seq).await else {
            tracing::info!(
                "handwriting of letter {} form {} is not at hand",
                letter.0,
                signed.event_seq
            );
            return None;
        };
        // Cached under its hash only when it is the image on the form; a different one
        // is still shown (and the verdict says the content was modified).
        if crate::verify::sha256_hex(&bytes) == signed.handwriting_sha256 {
            self.ws
                .cache_handwriting(&signed.handwriting_sha256, &bytes)
                .await;
        }
        Some(bytes)
    }
}

/// Runs blocking work (argon2id, key files) off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, FlowError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| FlowError::Internal(format!("key task: {e}")))
}

fn canonical(form: &FeedbackForm) -> Result<Vec<u8>, FlowError> {
    form.to_canonical()
        .map_err(|e| FlowError::Internal(format!("canonical form: {e}")))
}

/// The PNG drawn on the pad, decoded and checked as the PDF will read it (within
/// [`crate::handwriting::MAX_BYTES`], a sane size in pixels, complete) before anything
/// is signed over it.
pub fn handwriting(base64: &str) -> Result<Vec<u8>, FlowError> {
    let png = b64::decode(base64.trim()).map_err(|e| FlowError::Handwriting(e.to_string()))?;
    crate::handwriting::decode(&png).map_err(|e| FlowError::Handwriting(e.to_string()))?;
    Ok(png)
}

fn decode(text: &str) -> Result<Vec<u8>, FlowError> {
    b64::decode(text).map_err(|e| FlowError::Internal(format!("base64: {e}")))
}

fn view_of(
    rules: &Rules,
    letter: &LetterRecord,
    names: &Directory,
    signed: &jsjb_proto::SignedForm,
    png: Option<&[u8]>,
) -> SignedFormView {
    let bytes = b64::decode(&signed.form_b64).unwrap_or_default();
    let sig = b64::decode(&signed.signature_der_b64).unwrap_or_default();
    let form = FeedbackForm::from_canonical(&bytes).ok();
    let rebuilt = match (&form, png) {
        (Some(form), Some(png)) => rebuild(rules, letter, names, form, png),
        _ => None,
    };
    let verdict = crate::verdict(
        &crate::SignedForm {
            form_bytes: &bytes,
            signature_der: &sig,
            public_key_pem: &signed.public_key_pem,
            handwriting_png: png,
        },
        rebuilt.as_deref(),
    );
    let name = |id: UserId| names.user(id);
    SignedFormView {
        seq: signed.event_seq,
        letter_version: signed.letter_version,
        verdict: match verdict {
            crate::Verdict::Valid => SignatureVerdict::SignatureValid,
            crate::Verdict::ContentModified => SignatureVerdict::ContentModified,
            crate::Verdict::SignatureInvalid => SignatureVerdict::SignatureInvalid,
        },
        signer: signed.signer,
        signer_name: name(signed.signer),
        on_behalf_of: signed.on_behalf_of,
        on_behalf_of_name: signed.on_behalf_of.map(name),
        decision: signed.decision,
        signed_at: signed.signed_at,
        form_sm3: crate::sm3_hex(&bytes),
        key_fingerprint: PublicKey::from_pem(&signed.public_key_pem)
            .and_then(|k| k.fingerprint())
            .unwrap_or_default(),
        handwriting_sha256: signed.handwriting_sha256.clone(),
        form,
        handwriting_png_base64: png.map(b64::encode),
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
    let rebuilt = crate::desk::form_of(
        &at_version,
        names,
        rules,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_truncated_or_oversized_handwriting_png_is_refused() {
        let good = crate::handwriting::sample_png(1);
        assert_eq!(
            handwriting(&b64::encode(&good)).expect("the pad's PNG"),
            good
        );
        let cut = handwriting(&b64::encode(&good[..good.len() - 30])).expect_err("cut short");
        assert!(matches!(cut, FlowError::Handwriting(_)), "{cut:?}");
        let mut big = good.clone();
        big.resize(crate::handwriting::MAX_BYTES + 1, 0);
        let big = handwriting(&b64::encode(&big)).expect_err("too large");
        assert!(matches!(big, FlowError::Handwriting(_)), "{big:?}");
        assert!(matches!(
            handwriting("not base64!").expect_err("not base64"),
            FlowError::Handwriting(_)
        ));
    }

    use std::sync::Mutex;

    use chrono::TimeZone;
    use jsjb_core::org::UnitId;

    /// A workstation in memory: the server's keys and grants, and whether it answers.
    struct Fake {
        me: Me,
        online: Mutex<bool>,
        keys: Mutex<Vec<SigningKey>>,
        grants: Vec<Delegation>,
    }

    #[derive(Debug)]
    enum FakeError {
        Flow(FlowError),
        Offline,
    }

    impl From<FlowError> for FakeError {
        fn from(e: FlowError) -> FakeError {
            FakeError::Flow(e)
        }
    }

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0)
            .single()
            .expect("time")
    }

    impl Fake {
        fn new(roles: Vec<Role>) -> Fake {
            Fake {
                me: Me {
                    user_id: UserId(5),
                    username: "huafu.chief".into(),
                    display_name: "所长".into(),
                    unit_id: UnitId(7),
                    roles,
                    units: Vec::new(),
                    must_change_password: false,
                    problem_classes: Vec::new(),
                },
                online: Mutex::new(true),
                keys: Mutex::new(Vec::new()),
                grants: Vec::new(),
            }
        }

        fn online(&self) -> Result<(), FakeError> {
            if *self.online.lock().expect("lock") {
                Ok(())
            } else {
                Err(FakeError::Offline)
            }
        }
    }

    #[async_trait]
    impl Workstation for Fake {
        type Error = FakeError;
        fn me(&self) -> &Me {
            &self.me
        }
        fn now(&self) -> DateTime<Utc> {
            at()
        }
        async fn letter(&self, _: LetterId) -> Result<Option<LetterRecord>, FakeError> {
            Ok(None)
        }
        async fn colleagues(&self) -> Result<Vec<jsjb_proto::UserSummary>, FakeError> {
            Ok(Vec::new())
        }
        async fn rules(&self) -> Result<Rules, FakeError> {
            Ok(Rules::shenzhen())
        }
        async fn delegations(&self) -> Result<Vec<Delegation>, FakeError> {
            self.online()?;
            Ok(self.grants.clone())
        }
        async fn keys(&self) -> Result<Vec<SigningKey>, FakeError> {
            self.online()?;
            Ok(self.keys.lock().expect("lock").clone())
        }
        async fn register_key(&self, request: RegisterKeyRequest) -> Result<SigningKey, FakeError> {
            self.online()?;
            let fingerprint = PublicKey::from_pem(&request.public_key_pem)
                .and_then(|k| k.fingerprint())
                .expect("a valid public key is registered");
            let mut keys = self.keys.lock().expect("lock");
            let key = SigningKey {
                id: i64::try_from(keys.len()).expect("few") + 1,
                user_id: self.me.user_id,
                unit_id: self.me.unit_id,
                public_key_pem: request.public_key_pem,
                fingerprint,
                label: request.label,
                state: KeyState::Pending,
                created_at: at(),
                activated_at: None,
                revoked_at: None,
            };
            keys.push(key.clone());
            Ok(key)
        }
        async fn cached_handwriting(&self, _: &str) -> Option<Vec<u8>> {
            None
        }
        async fn cache_handwriting(&self, _: &str, _: &[u8]) {}
        async fn fetch_handwriting(&self, _: LetterId, _: u32) -> Result<Vec<u8>, FakeError> {
            Err(FakeError::Offline)
        }
        async fn fetch_pdf(&self, _: LetterId, _: u32) -> Result<Vec<u8>, FakeError> {
            Err(FakeError::Offline)
        }
    }

    fn flow<'a>(ws: &'a Fake, dir: &Path) -> Signing<'a, Fake> {
        Signing::new(
            ws,
            KeyPaths::new(dir, "server_user"),
            PinPolicy::default(),
            Some("华富派出所-01".into()),
        )
    }

    fn input() -> FormInput {
        FormInput {
            letter_id: LetterId(1),
            decision: FormDecision::Approve,
            opinion: "同意".into(),
            handwriting_png_base64: b64::encode(&crate::handwriting::sample_png(1)),
        }
    }

    #[tokio::test]
    async fn an_officer_without_a_grant_may_not_enrol() {
        let dir = tempfile::tempdir().expect("dir");
        let ws = Fake::new(vec![Role::Officer]);
        let status = flow(&ws, dir.path()).status().await.expect("status");
        assert_eq!(
            (status.state, status.may_sign),
            (SigningKeyState::None, false)
        );
        let refused = flow(&ws, dir.path()).enrol("246810".into()).await;
        assert!(
            matches!(refused, Err(FakeError::Flow(FlowError::MayNotSign))),
            "{refused:?}"
        );
        assert!(!dir.path().join("signing").exists(), "nothing is written");
    }

    #[tokio::test]
    async fn a_chief_enrols_waits_for_activation_and_follows_the_server() {
        let dir = tempfile::tempdir().expect("dir");
        let ws = Fake::new(vec![Role::Chief]);
        let signing = flow(&ws, dir.path());
        let none = signing.status().await.expect("status");
        assert_eq!(
            (none.state, none.may_sign, none.pin_min_length),
            (SigningKeyState::None, true, 6)
        );
        assert!(matches!(
            signing.sign(input(), 3, "246810".into()).await,
            Err(FakeError::Flow(FlowError::NoSigningKey))
        ));
        assert!(matches!(
            signing.enrol("1234".into()).await,
            Err(FakeError::Flow(FlowError::Key(
                KeyFileError::WeakPin { .. }
            )))
        ));

        let pending = signing.enrol("246810".into()).await.expect("enrolled");
        let registered = ws.keys.lock().expect("lock")[0].clone();
        assert_eq!(pending.state, SigningKeyState::Pending);
        assert_eq!(
            pending.fingerprint.as_deref(),
            Some(registered.fingerprint.as_str())
        );
        assert_eq!(registered.label, "华富派出所-01");
        assert!(matches!(
            signing.enrol("246810".into()).await,
            Err(FakeError::Flow(FlowError::KeyExists))
        ));
        // A pending key cannot sign once the server says it is still pending.
        assert!(matches!(
            signing.sign(input(), 3, "246810".into()).await,
            Err(FakeError::Flow(FlowError::KeyNotActive(
                SigningKeyState::Pending
            )))
        ));

        ws.keys.lock().expect("lock")[0].state = KeyState::Active;
        assert_eq!(
            signing.status().await.expect("status").state,
            SigningKeyState::Active
        );
        // Offline: the last word the server said, marked as not checked.
        *ws.online.lock().expect("lock") = false;
        let offline = signing.status().await.expect("status");
        assert_eq!(
            (offline.state, offline.checked_online),
            (SigningKeyState::Active, false)
        );
        *ws.online.lock().expect("lock") = true;

        // The server forgets the key (reset, another server): revoked, and enrolling
        // again sets the old key file aside instead of deleting it.
        ws.keys.lock().expect("lock").clear();
        assert_eq!(
            signing.status().await.expect("status").state,
            SigningKeyState::Revoked
        );
        let again = signing
            .enrol("135790".into())
            .await
            .expect("enrolled again");
        assert_eq!(again.state, SigningKeyState::Pending);
        let aside = std::fs::read_dir(dir.path().join("signing"))
            .expect("folder")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains("revoked-"))
            .count();
        assert_eq!(aside, 1, "the revoked key is kept aside");
    }

    #[tokio::test]
    async fn a_registration_that_fails_leaves_no_key_behind() {
        let dir = tempfile::tempdir().expect("dir");
        let ws = Fake::new(vec![Role::Chief]);
        *ws.online.lock().expect("lock") = false;
        let signing = flow(&ws, dir.path());
        assert!(matches!(
            signing.enrol("246810".into()).await,
            Err(FakeError::Offline)
        ));
        assert!(
            !signing.paths.key.exists(),
            "the unregistered key is removed"
        );
        assert_eq!(
            signing.status().await.expect("status").state,
            SigningKeyState::None
        );
    }

    #[test]
    fn key_files_are_named_per_server_and_user_in_their_own_folder() {
        let paths = KeyPaths::new(Path::new("/data"), "example_futian.liu_abc");
        assert_eq!(
            paths.key,
            Path::new("/data/signing/example_futian.liu_abc.key.json")
        );
        assert_eq!(
            paths.meta,
            Path::new("/data/signing/example_futian.liu_abc.registered.json")
        );
    }
}
