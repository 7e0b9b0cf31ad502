//! The wire contract between the central server and the desktop app (API v1).
//!
//! Both sides serialise exactly these types, so a change here is a change of the API:
//! add fields with `#[serde(default)]`, never repurpose one.

use chrono::{DateTime, Utc};
use jsjb_core::letter::{Category, Channel, LetterId, LetterState};
use jsjb_core::org::{Role, Unit, UnitId, UserId};
use jsjb_core::workflow::{Action, EventPayload};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

pub mod report;
pub mod routing;

/// Limits both sides check (the server refuses past them; the desktop's forms say so
/// before sending). Generated into the UI's `bindings/limits.ts` with the types.
pub mod limits {
    /// A password has at least this many characters (checked when it is set).
    pub const MIN_PASSWORD_CHARS: usize = 10;
    /// … and at most this many.
    pub const MAX_PASSWORD_CHARS: usize = 128;
    /// A unit's name or a user's display name, trimmed: 1 to this many characters.
    pub const MAX_NAME_CHARS: usize = 64;
    /// A letter's subject (one line), trimmed: 1 to this many characters.
    pub const MAX_SUBJECT_CHARS: usize = 100;
    /// A letter's text, trimmed: 1 to this many characters.
    pub const MAX_LETTER_CHARS: usize = 5000;
    /// The writer's name, trimmed: 1 to this many characters.
    pub const MAX_WRITER_NAME_CHARS: usize = 32;
    /// Problem tags on a letter, and the characters of each (core's rule).
    pub use jsjb_core::letter::{MAX_PROBLEM_TAGS, MAX_TAG_CHARS};
}

/// The path prefix of this API version.
pub const API_PREFIX: &str = "/api/v1";
/// The header carrying an action's idempotency key.
pub const IDEMPOTENCY_KEY_HEADER: &str = "Idempotency-Key";
/// The most changes one sync page carries.
pub const MAX_SYNC_PAGE: u32 = 500;

/// `POST /api/v1/auth/login`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
    /// The workstation's name, recorded with every action taken in this session.
    #[serde(default)]
    pub workstation: Option<String>,
}

/// The answer to a successful login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginResponse {
    /// The opaque session token, sent back as `Authorization: Bearer <token>`.
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub me: Me,
}

/// `GET /api/v1/me`: who the session belongs to and what they can see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Me {
    pub user_id: UserId,
    pub username: String,
    pub display_name: String,
    pub unit_id: UnitId,
    pub roles: Vec<Role>,
    /// The whole unit tree (names are not secret; letters are scoped, units are not).
    pub units: Vec<Unit>,
    /// An admin chose the current password (a new account, a reset): the desktop asks
    /// for a new one before anything else.
    #[serde(default)]
    pub must_change_password: bool,
    /// The bureau's problem classes (问题分类, server configuration): what a desk may tag
    /// letters with. Empty from an older server.
    #[serde(default)]
    pub problem_classes: Vec<String>,
}

/// `POST /api/v1/letters`: a letter taken by phone, as the desk types it in (the portal
/// and the messaging channels hand theirs to intake in the same shape).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LetterInput {
    #[cfg_attr(feature = "openapi", schema(example = "help"))]
    pub category: jsjb_core::letter::Category,
    /// At most 5, each 1–32 characters.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 5))]
    pub problem_tags: Vec<String>,
    /// One line, trimmed; 1–100 characters.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 100))]
    pub subject: String,
    /// Trimmed; 1–5000 characters.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 5000))]
    pub body: String,
    /// Trimmed; 1–32 characters.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 32))]
    pub writer_name: String,
    /// A mobile number (11 digits) or a landline (`0755-12345678`); spaces are ignored.
    #[cfg_attr(feature = "openapi", schema(min_length = 7))]
    pub writer_phone: String,
    /// Other ways to reach the writer (e.g. `{"email": "..."}`), kept as given.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    #[ts(type = "Record<string, unknown> | null")]
    pub writer_contact: Option<serde_json::Map<String, serde_json::Value>>,
}

/// The answer to `POST /api/v1/letters`: the letter as created at the desk's unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeskIntakeReceipt {
    #[ts(type = "number")]
    pub id: i64,
    pub tracking_code: String,
    pub received_at: DateTime<Utc>,
    #[ts(type = "number")]
    pub unit_id: i64,
}

/// `POST /api/v1/me/password`: the user sets their own password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
}

/// A colleague, for pickers (dispatch targets, supervisors) and for naming handlers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserSummary {
    pub id: UserId,
    pub display_name: String,
    pub unit_id: UnitId,
    pub roles: Vec<Role>,
}

/// The writer of a letter as the caller may see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Writer {
    pub name: String,
    pub phone: String,
    /// True when name and phone are masked for this caller (张**, 138********);
    /// revealing them is an explicit, logged request.
    pub masked: bool,
}

/// What kind of file an attachment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AttachmentKind {
    Image,
    Voice,
}

impl AttachmentKind {
    /// The name stored and sent (`image`, `voice`), as serde writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            AttachmentKind::Image => "image",
            AttachmentKind::Voice => "voice",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "image" => Some(AttachmentKind::Image),
            "voice" => Some(AttachmentKind::Voice),
            _ => None,
        }
    }
}

/// An attachment's metadata; the bytes are fetched on demand by content address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttachmentMeta {
    /// Lower-case hex SHA-256 of the bytes: the content address.
    pub sha256: String,
    pub kind: AttachmentKind,
    /// The MIME type sniffed from the bytes at intake.
    pub mime: String,
    #[ts(type = "number")]
    pub size: u64,
}

/// One event of a letter's history, as stored by the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventRecord {
    /// Position in the letter's history, from 1.
    pub seq: u32,
    pub at: DateTime<Utc>,
    pub actor_user: Option<UserId>,
    pub actor_unit: Option<UnitId>,
    #[serde(default)]
    pub workstation: Option<String>,
    pub payload: EventPayload,
}

/// A letter with everything a desktop caches: content, writer (masked or not), events
/// (the clocks' inputs) and attachment metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LetterRecord {
    pub id: LetterId,
    pub tracking_code: String,
    pub channel: Channel,
    pub category: Category,
    /// Problem classes (the list is configuration).
    #[serde(default)]
    pub problem_tags: Vec<String>,
    pub subject: String,
    /// The citizen's text. Untrusted: always displayed as text, never as HTML.
    pub body: String,
    pub writer: Writer,
    pub received_at: DateTime<Utc>,
    /// Materialised from the events, for listing without folding.
    pub state: LetterState,
    pub unit_id: UnitId,
    pub handler_id: Option<UserId>,
    /// The number of events: the version an action must be based on.
    pub version: u32,
    pub events: Vec<EventRecord>,
    pub attachments: Vec<AttachmentMeta>,
    /// The chief's signed decisions on the feedback form (approve or send back), oldest
    /// first, each verifiable offline (see [`SignedForm`]).
    #[serde(default)]
    pub signed_forms: Vec<SignedForm>,
    /// What the writer was told, and whether it reached them (告知), oldest first.
    /// Not events: a notice decides nothing on the case, so it never moves `version`
    /// (an officer's action or a chief's signature based on the version stays good).
    #[serde(default)]
    pub writer_notices: Vec<WriterNotice>,
}

/// A notice to the writer (`jsjb_core::writer_notice`) and where it is, as the desk's
/// timeline shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WriterNotice {
    #[ts(type = "number")]
    pub id: i64,
    pub step: jsjb_core::letter::NoticeStep,
    /// The event (its `seq`) that called for it.
    pub trigger_seq: u32,
    pub route: jsjb_core::letter::NoticeRoute,
    pub state: jsjb_core::letter::NoticeState,
    /// Tries so far.
    pub attempts: u32,
    /// The words the writer is (or was) sent.
    pub text: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Why the last try did not deliver (the provider's code; never the recipient).
    pub last_error: Option<String>,
}

/// A feedback form as the chief signed it, kept with the case: the canonical bytes
/// (`jsjb_core::form`), the SM2 signature and the signer's public key, so a desktop —
/// or anyone, with OpenSSL — can verify it without the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignedForm {
    /// The event the decision was recorded as.
    pub event_seq: u32,
    /// The letter version the form was signed over (the event's seq minus one).
    pub letter_version: u32,
    #[ts(type = "number")]
    pub key_id: i64,
    pub signer: UserId,
    /// Set for a 代签: the chief the signer signed for.
    #[serde(default)]
    pub on_behalf_of: Option<UserId>,
    pub decision: jsjb_core::letter::FormDecision,
    pub signed_at: DateTime<Utc>,
    /// The canonical form bytes, standard base64.
    pub form_b64: String,
    /// The SM2 signature, DER, standard base64.
    pub signature_der_b64: String,
    /// The signer's SM2 public key, SPKI PEM.
    pub public_key_pem: String,
    /// SHA-256 of the handwriting image (a blob: `GET /api/v1/letters/{id}/signed-forms/{seq}/handwriting`).
    pub handwriting_sha256: String,
}

/// The `signature` of an `approve_feedback_form` action: what the chief's workstation
/// signed and with which key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SignatureEnvelope {
    /// The registered, active key that signed.
    #[ts(type = "number")]
    pub key_id: i64,
    /// The canonical form bytes the workstation built and signed, standard base64. The
    /// server builds its own from the letter's current version and compares, to say
    /// precisely what differs (`form_outdated`, `handwriting_mismatch`, `form_mismatch`).
    pub form_b64: String,
    /// The handwritten signature as drawn, PNG, standard base64.
    pub handwriting_png_b64: String,
    /// The SM2 signature over the form bytes, DER, standard base64.
    pub signature_der_b64: String,
}

/// The state of a registered signing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    /// Registered by the chief, waiting for an admin.
    Pending,
    /// Activated by an admin: signatures with it are accepted.
    Active,
    /// Revoked (lost, replaced, person left): signatures with it are refused from now on.
    Revoked,
}

/// `POST /api/v1/keys`: a chief registers the public half of a key made on their workstation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RegisterKeyRequest {
    /// SPKI PEM of an SM2 public key.
    pub public_key_pem: String,
    /// Where the key lives, e.g. the workstation's name.
    #[serde(default)]
    pub label: String,
}

/// A signing key as the server keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SigningKey {
    #[ts(type = "number")]
    pub id: i64,
    pub user_id: UserId,
    pub unit_id: UnitId,
    pub public_key_pem: String,
    /// SM3 of the SPKI DER, hex: what an admin compares with the chief's screen.
    pub fingerprint: String,
    pub label: String,
    pub state: KeyState,
    pub created_at: DateTime<Utc>,
    pub activated_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// `POST /api/v1/keys/{id}/revoke`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    #[serde(default)]
    pub reason: String,
}

/// The answer to `POST /api/v1/keys/{id}/activate` (and `…/endorse`): the key and
/// where its dual control stands. A key becomes active only with `approvals_required`
/// approvals by distinct, independent admins (or one endorsement by its owner's
/// previous active key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyActivation {
    pub key: SigningKey,
    /// The admins who approved it so far, oldest first.
    pub approvals: Vec<UserId>,
    pub approvals_required: u32,
}

/// `GET /api/v1/admin/keys`: a signing key as the admin console lists it — who owns it,
/// of which unit, and where its dual control stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AdminKey {
    pub key: SigningKey,
    pub owner_username: String,
    pub owner_display_name: String,
    pub unit_name: String,
    /// The admins who approved it so far, oldest first, and their display names.
    pub approvals: Vec<UserId>,
    pub approver_names: Vec<String>,
    pub approvals_required: u32,
}

/// A user as the admin console lists it (`GET /api/v1/admin/users`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct AdminUser {
    #[ts(type = "number")]
    pub id: i64,
    pub username: String,
    pub display_name: String,
    #[ts(type = "number")]
    pub unit_id: i64,
    pub roles: Vec<Role>,
    pub active: bool,
    #[serde(default)]
    pub must_change_password: bool,
    #[serde(default)]
    pub last_login_at: Option<DateTime<Utc>>,
}

/// What an admin's change of a user did (`POST /api/v1/admin/users/{id}`): the user as
/// it is now, and what the change ended (sessions for a new unit or roles; keys and
/// delegations for a chief who left the post or the unit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct AdminUserUpdated {
    pub user: AdminUser,
    pub sessions_revoked: u32,
    pub keys_revoked: u32,
    pub delegations_revoked: u32,
}

/// `POST /api/v1/keys/{id}/endorse`: the owner's previous active key vouches for the new
/// one. The signature is SM2 (the sign-off's signer ID) over
/// [`key_endorsement_message`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EndorseKeyRequest {
    /// The owner's currently active key that signed.
    #[ts(type = "number")]
    pub previous_key_id: i64,
    /// DER, standard base64.
    pub signature_der_b64: String,
}

/// The exact bytes a previous key signs to endorse a new key of the same user: they
/// name the format, the user, both keys and the new key's fingerprint, so an
/// endorsement cannot be replayed for another key, user or server-side key id.
pub fn key_endorsement_message(
    user: UserId,
    previous_key_id: i64,
    new_key_id: i64,
    new_fingerprint: &str,
) -> Vec<u8> {
    format!(
        "jsjb-key-endorsement/1;user={};previous_key={previous_key_id};new_key={new_key_id};fingerprint={new_fingerprint}",
        user.0
    )
    .into_bytes()
}

/// What a user is told at their next sign-in about their own account (`GET
/// /api/v1/me/notices`), until they acknowledge it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// A signing key was registered in the user's name.
    KeyRegistered,
    /// A signing key of the user became active.
    KeyActivated,
    /// A signing key of the user was revoked.
    KeyRevoked,
    /// An admin set a new password for the user.
    PasswordReset,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Notice {
    #[ts(type = "number")]
    pub id: i64,
    pub kind: NoticeKind,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Who did it (`None`: the admin CLI).
    pub by: Option<UserId>,
    #[ts(type = "number | null")]
    pub key_id: Option<i64>,
    /// The key's fingerprint, to compare with the workstation's.
    pub fingerprint: Option<String>,
    /// The revocation's reason; empty otherwise.
    pub detail: String,
}

/// `POST /api/v1/me/notices/ack`: the user has read their notices up to this id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AckNoticesRequest {
    #[ts(type = "number")]
    pub up_to: i64,
}

/// `POST /api/v1/delegations`: the chief lets a deputy of the same unit sign (代签).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DelegationRequest {
    pub deputy: UserId,
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
    /// Only forms of this category; `None` for all.
    #[serde(default)]
    pub category: Option<Category>,
    #[serde(default)]
    pub note: String,
}

/// A delegation grant (代签授权).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Delegation {
    #[ts(type = "number")]
    pub id: i64,
    pub unit_id: UnitId,
    pub chief: UserId,
    pub deputy: UserId,
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
    pub category: Option<Category>,
    pub note: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl Delegation {
    /// The one rule of when a grant (代签) lets `deputy` sign the feedback form of a letter
    /// of `unit` in `category` at `now`: granted to them for that unit, not revoked,
    /// inside `[valid_from, valid_until)`, and for that category (or every category).
    /// The server checks it before it accepts a signature; the desktop, before it offers
    /// to sign. (The server also checks that the granting chief is still the chief.)
    pub fn covers(
        &self,
        deputy: UserId,
        unit: UnitId,
        category: Category,
        now: DateTime<Utc>,
    ) -> bool {
        self.deputy == deputy
            && self.unit_id == unit
            && self.revoked_at.is_none()
            && self.valid_from <= now
            && now < self.valid_until
            && self.category.is_none_or(|c| c == category)
    }
}

/// One change in a sync page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Change {
    /// The letter is new or changed in the caller's scope: replace the cached copy.
    Letter { letter: Box<LetterRecord> },
    /// The letter left the caller's scope: forget it.
    Removed { letter_id: LetterId },
}

/// `GET /api/v1/sync?cursor=N&limit=M`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SyncPage {
    pub changes: Vec<Change>,
    /// The cursor to ask from next time.
    #[ts(type = "number")]
    pub next_cursor: i64,
    /// More changes wait beyond this page: ask again at once.
    pub has_more: bool,
    /// The server's clock when the page was made, for the workstation's clock offset.
    pub server_time: DateTime<Utc>,
    /// The version of the clock rules the server runs under (`GET /api/v1/rules`): a
    /// desktop whose rules differ fetches them. Absent from an older server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub rules_version: Option<String>,
    /// On a page with `has_more`: the newest change on the server when the page was
    /// made, the cursor a desktop reaches once caught up — how far a first sync (or a
    /// catch-up after days offline) has to go, for its progress. Absent otherwise, and
    /// from an older server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional, type = "number")]
    pub latest_cursor: Option<i64>,
}

/// `GET /api/v1/rules`: the clock rules every desktop uses once connected — the
/// policy's eras (each from a stated moment) and the working-day calendar — with their
/// version (a digest of their content), and the problem classes (问题分类).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServedRules {
    pub version: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub rules: jsjb_core::rules::RulesDoc,
    pub problem_classes: Vec<String>,
}

/// `POST /api/v1/letters/{id}/actions` (with an `Idempotency-Key` header).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    /// The letter version the user saw; a stale version is refused with 409 and the
    /// current state, so nobody acts on a letter that changed under them.
    pub expected_version: u32,
    #[serde(deserialize_with = "strict_action")]
    pub action: Action,
    /// A signed approval's signature envelope (the sign-off issue defines it).
    #[serde(default)]
    pub signature: Option<serde_json::Value>,
}

/// Reads an [`Action`] and refuses any member it does not know. `deny_unknown_fields` on
/// the enum covers the variants with fields, but serde ignores every extra member of an
/// internally tagged *unit* variant (`{"action": "sign_for", "to": 9}`), so what was sent
/// is compared with what was understood. Only an object is an action: serde would also
/// take `["dispatch", 5]`.
fn strict_action<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Action, D::Error> {
    use serde::de::Error;
    let sent = serde_json::Map::<String, serde_json::Value>::deserialize(deserializer)?;
    let action =
        Action::deserialize(serde_json::Value::Object(sent.clone())).map_err(D::Error::custom)?;
    let understood = serde_json::to_value(&action).map_err(D::Error::custom)?;
    if let Some(extra) = sent
        .keys()
        .find(|key| understood.get(key.as_str()).is_none())
    {
        return Err(D::Error::custom(format!(
            "unknown field `{extra}` for the action `{}`",
            action.kind().as_str()
        )));
    }
    Ok(action)
}

/// The answer to an accepted action: the letter as it is now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActionResponse {
    pub letter: LetterRecord,
}

/// A Server-Sent Event telling a desktop that its scope changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Poke {
    /// The latest change cursor in the caller's scope.
    #[ts(type = "number")]
    pub cursor: i64,
}

/// RFC 9457 problem details, with the stable `code` the UI translates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Problem {
    #[serde(rename = "type", default = "default_problem_type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    #[serde(default)]
    pub detail: Option<String>,
    pub code: String,
    /// For a 409 on a stale action: the letter as it is now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<Box<LetterRecord>>,
    /// The request field at fault, when one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For a lock-out: seconds until another attempt is allowed (also `Retry-After`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(type = "number | null")]
    pub retry_after: Option<u64>,
}

fn default_problem_type() -> String {
    "about:blank".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delegation_covers_its_deputy_unit_window_and_category_only() {
        use chrono::TimeZone;
        let at = |h: u32| {
            Utc.with_ymd_and_hms(2026, 12, 1, h, 0, 0)
                .single()
                .expect("time")
        };
        let grant = Delegation {
            id: 1,
            unit_id: UnitId(7),
            chief: UserId(1),
            deputy: UserId(2),
            valid_from: at(8),
            valid_until: at(18),
            category: Some(Category::Complaint),
            note: String::new(),
            created_at: at(7),
            revoked_at: None,
        };
        let revoked = Delegation {
            revoked_at: Some(at(9)),
            ..grant.clone()
        };
        let any_category = Delegation {
            category: None,
            ..grant.clone()
        };
        // (grant, deputy, unit, category, now, covers)
        let cases = [
            (&grant, 2, 7, Category::Complaint, at(8), true),
            (&grant, 2, 7, Category::Complaint, at(17), true),
            (&grant, 2, 7, Category::Complaint, at(18), false),
            (&grant, 2, 7, Category::Complaint, at(7), false),
            (&grant, 3, 7, Category::Complaint, at(9), false),
            (&grant, 2, 8, Category::Complaint, at(9), false),
            (&grant, 2, 7, Category::Help, at(9), false),
            (&any_category, 2, 7, Category::Help, at(9), true),
            (&revoked, 2, 7, Category::Complaint, at(10), false),
        ];
        for (g, deputy, unit, category, now, expected) in cases {
            assert_eq!(
                g.covers(UserId(deputy), UnitId(unit), category, now),
                expected,
                "deputy {deputy}, unit {unit}, {category:?} at {now}"
            );
        }
    }

    #[test]
    fn change_is_tagged() {
        let c = Change::Removed {
            letter_id: LetterId(5),
        };
        let json = serde_json::to_value(&c).expect("serialises");
        assert_eq!(json, serde_json::json!({"type": "removed", "letter_id": 5}));
    }

    #[test]
    fn problem_defaults() {
        let p: Problem =
            serde_json::from_str(r#"{"title":"x","status":409,"code":"stale"}"#).expect("parses");
        assert_eq!(p.type_uri, "about:blank");
        assert!(p.current.is_none());
    }
}

/// The handover lists' sizes when a shift was taken over (交接班).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HandoverCounts {
    /// Dispatched to the unit, not signed for yet (absent before it was counted: 0).
    #[serde(default)]
    pub not_signed_for: u32,
    /// Signed for, writer not reached yet.
    pub not_contacted: u32,
    /// Chased by the supervising officer, not acted on since (absent before: 0).
    #[serde(default)]
    pub chased: u32,
    /// The most urgent clock breached (absent before: 0; such letters were then
    /// counted in `about_to_breach`).
    #[serde(default)]
    pub overdue: u32,
    /// A running clock inside its warn window or due soon.
    pub about_to_breach: u32,
    /// The last contact attempt did not reach the writer: call back.
    pub promised_callback: u32,
}

/// `POST /api/v1/handovers` (with an `Idempotency-Key` header): the incoming duty
/// officer acknowledges what the last shift left open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HandoverAckRequest {
    /// The unit whose handover it is: the caller's own.
    pub unit_id: UnitId,
    /// The shift taken over, as the unit names it (`2026-03-02 夜班`); free text.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 64))]
    pub shift: String,
    /// When the officer acknowledged (server time as the desktop estimated it; the
    /// server also records when it received the acknowledgement).
    pub acknowledged_at: DateTime<Utc>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
    pub note: String,
    pub counts: HandoverCounts,
    /// The letters the handover listed, as seen by the officer.
    #[serde(default)]
    pub letter_ids: Vec<LetterId>,
    /// The letters of `letter_ids` the officer ticked as gone through with the outgoing
    /// officer (a letter on several lists is one tick). Omitted when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checked_ids: Vec<LetterId>,
    /// 交班人: the outgoing officer who handed the shift over, a colleague of the same
    /// unit other than the caller. Omitted when not named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub handed_over_by: Option<UserId>,
}

/// A recorded handover acknowledgement (`GET /api/v1/handovers?unit=`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HandoverAck {
    #[ts(type = "number")]
    pub id: i64,
    pub unit_id: UnitId,
    pub user_id: UserId,
    /// The acknowledging officer's display name.
    pub user_name: String,
    pub shift: String,
    pub acknowledged_at: DateTime<Utc>,
    /// When the server received it.
    pub recorded_at: DateTime<Utc>,
    pub note: String,
    pub counts: HandoverCounts,
    pub letter_ids: Vec<LetterId>,
    /// The listed letters the officer ticked.
    #[serde(default)]
    pub checked_ids: Vec<LetterId>,
    /// 交班人: the outgoing officer named, and their display name.
    #[serde(default)]
    pub handed_over_by: Option<UserId>,
    #[serde(default)]
    pub handed_over_by_name: Option<String>,
    /// The workstation it came from (`X-Workstation`), when known.
    pub workstation: Option<String>,
    /// The key it was posted under: lets the posting desktop match its queued copy.
    pub idempotency_key: String,
}

/// The head of the server's audit chain, signed with the server's own SM2 audit key
/// (`GET /api/v1/audit/head`). A desktop keeps the newest head it saw: a server whose
/// chain is later shorter than it, or holds another entry at its `seq`, lost or rewrote
/// entries — however carefully the chain was re-hashed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditHead {
    /// The number of entries, which is the `seq` of the last one (0: none yet).
    #[ts(type = "number")]
    pub seq: i64,
    /// The hash of entry `seq` (64 lowercase hex; all zeros when there is none).
    pub hash: String,
    pub signed_at: DateTime<Utc>,
    /// The server's audit public key (SM2, SPKI PEM): desktops pin it on first sight.
    pub public_key_pem: String,
    /// Lowercase hex SM3 of the key's SPKI DER, as the server prints it at start.
    pub key_fingerprint: String,
    /// Base64 DER SM2 signature (signer ID `1234567812345678`) over
    /// [`AuditHead::signed_message`].
    pub signature: String,
}

impl AuditHead {
    /// The exact bytes the signature covers. Every field has a fixed alphabet (decimal,
    /// hex, RFC 3339), so the line form is unambiguous.
    pub fn signed_message(&self) -> Vec<u8> {
        audit_head_message(self.seq, &self.hash, self.signed_at)
    }

    /// `seq:hash`, the form `jsjb-server admin audit-verify --head` takes.
    pub fn reference(&self) -> String {
        format!("{}:{}", self.seq, self.hash)
    }
}

/// The bytes an audit head's signature covers (see [`AuditHead::signed_message`]).
pub fn audit_head_message(seq: i64, hash: &str, signed_at: DateTime<Utc>) -> Vec<u8> {
    format!(
        "jsjb-audit-head-v1\nseq={seq}\nhash={hash}\nsigned_at={}\n",
        signed_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    )
    .into_bytes()
}

/// The hash of one audit entry: what the server holds at a `seq` a desktop remembers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntryHash {
    #[ts(type = "number")]
    pub seq: i64,
    pub hash: String,
}

/// `GET /api/v1/audit/head?known_seq=N`: the signed head, and the hash of entry `N`
/// (the desktop's kept head) so the desktop can check the chain still starts with what
/// it saw. `known` is absent when the chain has no entry `N` any more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditHeadAnswer {
    pub head: AuditHead,
    #[serde(default)]
    pub known: Option<AuditEntryHash>,
}
