//! Intake: letters from the public channels (no account) and phone letters typed in
//! by a desk, and the public progress query.

use axum::extract::State;
use axum::extract::multipart::{Multipart, MultipartError, MultipartRejection};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use jsjb_core::letter::{
    Category, Channel, ContactOutcome, FormDecision, LetterState, Satisfaction,
};
use jsjb_core::org::Role;
use jsjb_core::workflow::{EventPayload, LetterStatus};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::attachments::{MAX_IMAGES, MAX_VOICE_CLIPS, max_bytes, sniff};
use crate::auth::Session;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiQuery};
use crate::idempotency::OptionalIdempotencyKey;
use crate::state::AppState;
use jsjb_storage::{
    Actor, AttachmentKind, AttachmentMeta, IdempotencyClaim, NewLetter, StorageError,
};

pub use jsjb_proto::limits::{
    MAX_LETTER_CHARS as MAX_BODY_CHARS, MAX_PROBLEM_TAGS as MAX_TAGS, MAX_SUBJECT_CHARS,
    MAX_TAG_CHARS, MAX_WRITER_NAME_CHARS,
};
/// The largest `letter` JSON part accepted.
const MAX_LETTER_PART: usize = 64 * 1024;
/// The whole intake body: every attachment at its limit plus the letter part.
pub const MAX_INTAKE_BODY: usize = MAX_IMAGES * crate::attachments::MAX_IMAGE_BYTES
    + MAX_VOICE_CLIPS * crate::attachments::MAX_VOICE_BYTES
    + 1024 * 1024;

/// The letter as a desk types it in (and as every public channel hands it to
/// [`accept_public_letter`]). There is no channel field: the route decides it.
/// A letter as a desk types it in (and as the portal and the messaging channels hand it
/// to intake): the wire type, shared with the desktop.
pub use jsjb_proto::LetterInput;

/// The letter of the public API: the writer's phone is not in it, it is the phone the
/// ticket verified; the channel is not in it either (the route is `web`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublicLetterInput {
    #[schema(value_type = String, example = "help")]
    pub category: Category,
    #[serde(default)]
    pub problem_tags: Vec<String>,
    pub subject: String,
    pub body: String,
    pub writer_name: String,
    /// Other ways to reach the writer (e.g. `{"email": "..."}`), kept as given.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub writer_contact: Option<serde_json::Map<String, serde_json::Value>>,
}

/// The header carrying the ticket of [`post_verification_code`] to the public intake.
pub const TICKET_HEADER: &str = "x-jsjb-ticket";

/// The multipart form of the public intake: a JSON `letter` part plus file parts.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // Describes the form for the OpenAPI document only.
pub struct IntakeForm {
    /// `PublicLetterInput` as JSON.
    letter: String,
    /// Images (≤ 9, each ≤ 10 MiB) and voice clips (≤ 3, each ≤ 5 MiB), in any part name other than `letter`.
    #[schema(value_type = Vec<String>, format = Binary)]
    files: Vec<Vec<u8>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct IntakeReceipt {
    /// Give this to the writer: with the last 4 digits of their phone it shows progress.
    pub tracking_code: String,
    pub received_at: DateTime<Utc>,
    /// True when the same writer sent the same text a few minutes ago: this is that
    /// letter's receipt and nothing new was stored (status 200 instead of 201).
    #[serde(default)]
    pub duplicate: bool,
}

pub use jsjb_proto::DeskIntakeReceipt;

pub(crate) fn is_mobile(p: &str) -> bool {
    let b = p.as_bytes();
    b.len() == 11
        && b[0] == b'1'
        && (b'3'..=b'9').contains(&b[1])
        && b.iter().all(u8::is_ascii_digit)
}

/// `0755-12345678`, `075512345678`, or a local 7–8 digit number.
fn is_landline(p: &str) -> bool {
    let digits = |s: &str, lens: std::ops::RangeInclusive<usize>| {
        lens.contains(&s.len()) && s.bytes().all(|c| c.is_ascii_digit())
    };
    if let Some((area, local)) = p.split_once('-') {
        return area.starts_with('0') && digits(area, 3..=4) && digits(local, 7..=8);
    }
    digits(p, 7..=8) || (p.starts_with('0') && digits(p, 10..=12))
}

/// A validated letter, ready to store.
struct ValidLetter {
    category: Category,
    problem_tags: Vec<String>,
    subject: String,
    body: String,
    writer_name: String,
    writer_phone: String,
    writer_extra: serde_json::Value,
}

/// A letter's text field, trimmed: not empty, at most `max` characters, no refused
/// control character. The portal checks its form's body with it before intake does, so
/// that it can tell the writer every fault of the form at once.
pub(crate) fn checked_text(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(ApiError::invalid(
            field,
            format!("{field} must not be empty"),
        ));
    }
    if v.chars().count() > max {
        return Err(ApiError::invalid(
            field,
            format!("{field} may have at most {max} characters"),
        ));
    }
    // JSON bodies are checked in `extract`; this covers every other way a letter
    // comes in (the portal's forms, WeChat and Weibo messages).
    if let Some(c) = crate::extract::refused_control(v) {
        return Err(ApiError::invalid(
            field,
            format!(
                "{field} contains the control character U+{:04X}",
                u32::from(c)
            ),
        ));
    }
    Ok(v.to_owned())
}

fn validate(input: LetterInput) -> Result<ValidLetter, ApiError> {
    let subject = checked_text("subject", &input.subject, MAX_SUBJECT_CHARS)?;
    let body = checked_text("body", &input.body, MAX_BODY_CHARS)?;
    let writer_name = checked_text("writer_name", &input.writer_name, MAX_WRITER_NAME_CHARS)?;
    if subject.contains(['\n', '\r']) {
        return Err(ApiError::invalid(
            "subject",
            "subject must be a single line",
        ));
    }
    let phone: String = input
        .writer_phone
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if !is_mobile(&phone) && !is_landline(&phone) {
        return Err(ApiError::invalid(
            "writer_phone",
            "give a mobile number (11 digits, e.g. 13812345678) or a landline (e.g. 0755-12345678)",
        ));
    }
    if input.problem_tags.len() > MAX_TAGS {
        return Err(ApiError::invalid(
            "problem_tags",
            format!("at most {MAX_TAGS} problem tags"),
        ));
    }
    let mut problem_tags = Vec::new();
    for tag in input.problem_tags {
        problem_tags.push(checked_text("problem_tags", &tag, MAX_TAG_CHARS)?);
    }
    let writer_extra = serde_json::Value::Object(input.writer_contact.unwrap_or_default());
    if writer_extra.to_string().len() > 2048 {
        return Err(ApiError::invalid(
            "writer_contact",
            "writer_contact is too long (2 KiB at most)",
        ));
    }
    Ok(ValidLetter {
        category: input.category,
        problem_tags,
        subject,
        body,
        writer_name,
        writer_phone: phone,
        writer_extra,
    })
}

/// `SZ` + the date in China Standard Time + 6 characters from an alphabet without
/// look-alikes (no 0/O, 1/I), e.g. `SZ20250314K7PQ2X`. 32⁶ ≈ 10⁹ codes per day; a
/// collision is caught by the unique index and retried.
pub fn tracking_code(now: DateTime<Utc>) -> String {
    use rand_core::{OsRng, RngCore};
    const ALPHABET: &[u8; 32] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    let mut raw = [0_u8; 6];
    OsRng.fill_bytes(&mut raw);
    let date = now.with_timezone(&jsjb_core::cst()).format("%Y%m%d");
    // 256 is a multiple of 32, so masking keeps the choice uniform.
    let tail: String = raw
        .iter()
        .map(|b| ALPHABET[usize::from(b & 31)] as char)
        .collect();
    format!("SZ{date}{tail}")
}

/// Stores the letter, retrying on the (rare) tracking-code collision.
async fn store_letter(
    state: &AppState,
    channel: Channel,
    letter: ValidLetter,
    unit: Option<jsjb_core::org::UnitId>,
    attachments: Vec<(AttachmentMeta, Option<String>)>,
    actor: Actor,
    idempotency: Option<IdempotencyClaim>,
) -> Result<jsjb_storage::CreatedLetter, ApiError> {
    let received_at = state.time.now();
    for _ in 0..5 {
        let code = tracking_code(received_at);
        let new = NewLetter {
            tracking_code: code.clone(),
            channel,
            category: letter.category,
            problem_tags: letter.problem_tags.clone(),
            subject: letter.subject.clone(),
            body: letter.body.clone(),
            writer_name: letter.writer_name.clone(),
            writer_phone: letter.writer_phone.clone(),
            writer_extra: letter.writer_extra.clone(),
            received_at,
            unit,
            attachments: attachments.clone(),
            idempotency: idempotency.clone(),
        };
        match state.store.create_letter(new, actor.clone()).await {
            Ok(created) => {
                if !created.replayed {
                    crate::telemetry::letter_received(channel);
                    state
                        .publish_change(created.change_seq, &[created.unit])
                        .await;
                }
                return Ok(created);
            }
            Err(StorageError::Conflict {
                code: "tracking_code_taken",
                ..
            }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::Internal(
        "five tracking-code collisions in a row".to_owned(),
    ))
}

pub fn multipart_error(e: MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge(format!(
            "the upload is larger than the {} MiB a letter may carry",
            MAX_INTAKE_BODY / (1024 * 1024)
        ))
    } else {
        ApiError::MalformedMultipart(format!(
            "the multipart body could not be read: {}",
            e.body_text()
        ))
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerificationRequest {
    /// The writer's mobile number (11 digits).
    pub phone: String,
    /// The writer agrees to the privacy notice (`/privacy`), as on the portal.
    pub consent: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VerificationSent {
    /// Where the code went, masked (`138****5678`).
    pub sent_to: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerificationCode {
    pub phone: String,
    /// The 6 digits of the SMS.
    pub code: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VerificationTicket {
    /// Send it as `X-Jsjb-Ticket` with the letter; used up when the letter is stored.
    pub ticket: String,
    pub expires_at: DateTime<Utc>,
}

/// Step 1 of the public intake, as on the portal: an SMS code to the writer's phone.
#[utoipa::path(post, path = "/api/v1/public/verification", tag = "public",
    request_body = VerificationRequest,
    responses(
        (status = 202, body = VerificationSent),
        (status = 400, description = "`invalid_input` (`phone`, `consent`)", body = Problem),
        (status = 429, description = "`rate_limited` (per address or per phone)", body = Problem),
        (status = 503, description = "`busy`", body = Problem),
    ))]
pub async fn post_verification(
    State(state): State<AppState>,
    _slot: crate::citizen::guards::PublicSlot,
    _ip: crate::citizen::guards::LimitedIp,
    ApiJson(req): ApiJson<VerificationRequest>,
) -> Result<(StatusCode, ApiJson<VerificationSent>), ApiError> {
    let phone: String = req.phone.chars().filter(|c| !c.is_whitespace()).collect();
    if !is_mobile(&phone) {
        return Err(ApiError::invalid(
            "phone",
            "give the writer's mobile number (11 digits)",
        ));
    }
    if !req.consent {
        return Err(ApiError::invalid(
            "consent",
            "the writer must agree to the privacy notice (/privacy)",
        ));
    }
    let now = state.time.now();
    state
        .citizen
        .send_code(
            crate::citizen::shared::CodePurpose::Letter { phone: &phone },
            &phone,
            now,
        )
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        ApiJson(VerificationSent {
            sent_to: crate::citizen::otp::mask_phone(&phone),
            expires_at: now + chrono::Duration::minutes(crate::citizen::otp::CODE_TTL_MINUTES),
        }),
    ))
}

/// Step 2: the SMS code → a ticket for one letter from this phone.
#[utoipa::path(post, path = "/api/v1/public/verification/code", tag = "public",
    request_body = VerificationCode,
    responses(
        (status = 200, body = VerificationTicket),
        (status = 400, description = "`invalid_input` (`code`: wrong, expired, used, or too many tries)", body = Problem),
        (status = 429, description = "`rate_limited`", body = Problem),
    ))]
pub async fn post_verification_code(
    State(state): State<AppState>,
    _slot: crate::citizen::guards::PublicSlot,
    _ip: crate::citizen::guards::LimitedIp,
    ApiJson(req): ApiJson<VerificationCode>,
) -> Result<ApiJson<VerificationTicket>, ApiError> {
    let phone: String = req.phone.chars().filter(|c| !c.is_whitespace()).collect();
    let now = state.time.now();
    let key = crate::citizen::shared::CodePurpose::Letter { phone: &phone }.key();
    state
        .citizen
        .codes
        .verify(&key, &req.code, now)
        .await?
        .map_err(|e| ApiError::invalid("code", e.to_string()))?;
    let ticket = state.citizen.tickets.issue(&phone, "", now).await?;
    Ok(ApiJson(VerificationTicket {
        ticket,
        expires_at: now + chrono::Duration::minutes(crate::citizen::otp::TICKET_TTL_MINUTES),
    }))
}

/// Receives a letter through the public API (channel `web`), from a writer whose phone
/// was verified as on the portal: the ticket of [`post_verification_code`] in
/// `X-Jsjb-Ticket`. The ticket is checked before any of the body is read.
#[utoipa::path(post, path = "/api/v1/public/letters", tag = "public",
    params(("X-Jsjb-Ticket" = String, Header, description = "The ticket of `POST /api/v1/public/verification/code`")),
    request_body(content = IntakeForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, body = IntakeReceipt),
        (status = 200, description = "a duplicate of a letter sent minutes ago: its receipt, `duplicate: true`", body = IntakeReceipt),
        (status = 403, description = "`forbidden`: no valid ticket (verify the phone first)", body = Problem),
        (status = 429, description = "`rate_limited` (per address or per phone)", body = Problem),
        (status = 503, description = "`busy`: the citizen endpoints are at their concurrency limit", body = Problem),
        (status = 400, description = "`invalid_input`, `malformed_json`, `malformed_multipart`", body = Problem),
        (status = 413, description = "`payload_too_large`", body = Problem),
        (status = 415, description = "`unsupported_media_type`", body = Problem),
        (status = 422, description = "`unsupported_attachment`, `too_many_attachments`", body = Problem),
    ))]
pub async fn post_public_letter(
    State(state): State<AppState>,
    _slot: crate::citizen::guards::PublicSlot,
    _ip: crate::citizen::guards::LimitedIp,
    headers: axum::http::HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, ApiJson<IntakeReceipt>), ApiError> {
    let ticket = headers
        .get(TICKET_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let no_ticket = || {
        ApiError::Forbidden(
            "verify the writer's phone first: POST /api/v1/public/verification, then \
             /api/v1/public/verification/code, and send the ticket as X-Jsjb-Ticket"
                .to_owned(),
        )
    };
    // Checked first, so a writer without a ticket is not made to upload the letter.
    state
        .citizen
        .tickets
        .get(&ticket, state.time.now())
        .await?
        .ok_or_else(no_ticket)?;
    let mut multipart = multipart.map_err(|e| {
        ApiError::UnsupportedMediaType(format!(
            "send the letter as multipart/form-data with a JSON `letter` part: {}",
            e.body_text()
        ))
    })?;
    let (letter, files) = read_letter_form::<PublicLetterInput>(&mut multipart).await?;
    let input = letter.ok_or_else(|| {
        ApiError::invalid(
            "letter",
            "the form needs a `letter` part with the letter as JSON",
        )
    })?;
    // Used up before the letter is stored: one verification, one letter, even when two
    // requests carry the ticket at once (to two nodes); given back if the letter is refused.
    let verified = state
        .citizen
        .tickets
        .take(&ticket, state.time.now())
        .await?
        .ok_or_else(no_ticket)?;
    let input = LetterInput {
        category: input.category,
        problem_tags: input.problem_tags,
        subject: input.subject,
        body: input.body,
        writer_name: input.writer_name,
        writer_phone: verified.phone.clone(),
        writer_contact: input.writer_contact,
    };
    let accepted = match accept_public_letter(&state, Channel::Web, input, files, Vec::new()).await
    {
        Ok(accepted) => accepted,
        Err(e) => {
            if crate::citizen::otp::stored_nothing(&e) {
                state.citizen.tickets.give_back(&ticket, &verified).await;
            }
            return Err(e);
        }
    };
    let status = if accepted.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, ApiJson(accepted)))
}

/// Reads a letter form: the JSON `letter` part (as strict as a JSON body; a field is named
/// inside the part, `letter/subject`) and the file parts, each sniffed and limited as it
/// arrives, at most [`MAX_IMAGES`] images and [`MAX_VOICE_CLIPS`] clips. The citizen's
/// form and the desk's typed-in letter both come this way.
pub async fn read_letter_form<T: serde::de::DeserializeOwned>(
    multipart: &mut Multipart,
) -> Result<(Option<T>, Vec<Upload>), ApiError> {
    let mut letter: Option<T> = None;
    let mut files: Vec<Upload> = Vec::new();
    let (mut images, mut voices) = (0, 0);
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "letter" {
            let mut buf = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                buf.extend_from_slice(&chunk);
                if buf.len() > MAX_LETTER_PART {
                    return Err(ApiError::PayloadTooLarge(
                        "the `letter` part is larger than 64 KiB".to_owned(),
                    ));
                }
            }
            letter = Some(crate::extract::from_slice(&buf).map_err(|e| match e {
                ApiError::Invalid { field, message } => ApiError::Invalid {
                    field: Some(format!("letter{}", field.unwrap_or_default())),
                    message: format!("the `letter` part: {message}"),
                },
                ApiError::MalformedJson(m) => {
                    ApiError::MalformedJson(format!("the `letter` part: {m}"))
                }
                other => other,
            })?);
            continue;
        }
        let Some(upload) = read_upload(field).await? else {
            continue;
        };
        count_upload(&upload, &mut images, &mut voices)?;
        files.push(upload);
    }
    Ok((letter, files))
}

/// An uploaded file: bytes, kind and type (sniffed from the bytes), original name.
pub type Upload = (Vec<u8>, AttachmentKind, &'static str, Option<String>);

/// Reads one file part: decides the type from the first bytes, then enforces that
/// type's limit while reading the rest, so an oversize file is refused early. An
/// empty part (a file input left empty in an HTML form) is `None`.
pub async fn read_upload(
    mut field: axum::extract::multipart::Field<'_>,
) -> Result<Option<Upload>, ApiError> {
    let name = field.name().unwrap_or_default().to_owned();
    let file_name = field
        .file_name()
        .filter(|n| !n.is_empty())
        .map(|n| n.chars().take(128).collect::<String>());
    let mut buf = Vec::new();
    let mut kind: Option<(AttachmentKind, &'static str)> = None;
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        buf.extend_from_slice(&chunk);
        if kind.is_none() && buf.len() >= 64 {
            kind = Some(sniff(&buf)?);
        }
        let limit = kind.map_or(crate::attachments::MAX_IMAGE_BYTES, |(k, _)| max_bytes(k));
        if buf.len() > limit {
            return Err(ApiError::PayloadTooLarge(format!(
                "attachment {:?} is larger than {} MiB",
                file_name.as_deref().unwrap_or(&name),
                limit / (1024 * 1024)
            )));
        }
    }
    if buf.is_empty() {
        return Ok(None);
    }
    let (kind, mime) = match kind {
        Some(k) => k,
        None => sniff(&buf)?,
    };
    Ok(Some((buf, kind, mime, file_name)))
}

/// Counts an upload against the per-letter limits.
pub fn count_upload(
    upload: &Upload,
    images: &mut usize,
    voices: &mut usize,
) -> Result<(), ApiError> {
    match upload.1 {
        AttachmentKind::Image => *images += 1,
        AttachmentKind::Voice => *voices += 1,
    }
    if *images > MAX_IMAGES || *voices > MAX_VOICE_CLIPS {
        return Err(ApiError::TooManyAttachments(format!(
            "a letter may carry at most {MAX_IMAGES} images and {MAX_VOICE_CLIPS} voice clips"
        )));
    }
    Ok(())
}

/// Puts uploads into the blob store.
pub async fn store_uploads(
    state: &AppState,
    files: Vec<Upload>,
) -> Result<Vec<(AttachmentMeta, Option<String>)>, ApiError> {
    // Blobs go in first: an orphan blob (if the insert then fails) is harmless and
    // re-used by a retry; a letter pointing at a missing blob would not be.
    let blobs = state.blobs.clone();
    tokio::task::spawn_blocking(move || {
        files
            .into_iter()
            .map(|(bytes, kind, mime, name)| {
                let sha256 = blobs.put(&bytes)?;
                Ok((
                    AttachmentMeta {
                        sha256,
                        mime: mime.to_owned(),
                        size: bytes.len() as u64,
                        kind,
                    },
                    name,
                ))
            })
            .collect::<Result<Vec<_>, std::io::Error>>()
    })
    .await
    .map_err(|e| ApiError::Internal(format!("blob task: {e}")))?
    .map_err(|e| ApiError::Internal(format!("storing an attachment: {e}")))
}

/// Every public channel (web form, API, WeChat, Weibo) ends here: validates, answers a
/// duplicate with the earlier receipt, applies the per-phone limit, stores the
/// attachments and the letter, and routes it. `stored` are attachments already in the
/// blob store (a conversation's media), `uploads` are new bytes.
pub async fn accept_public_letter(
    state: &AppState,
    channel: Channel,
    input: LetterInput,
    uploads: Vec<Upload>,
    stored: Vec<(AttachmentMeta, Option<String>)>,
) -> Result<IntakeReceipt, ApiError> {
    let valid = validate(input)?;
    let now = state.time.now();
    let window = state.config.citizen.duplicate_window();
    let duplicate = if window > chrono::Duration::zero() {
        state
            .store
            .recent_duplicate(&valid.writer_phone, &valid.body, now - window)
            .await?
    } else {
        None
    };
    if let Some((tracking_code, received_at)) = duplicate {
        tracing::info!(%tracking_code, channel = channel.as_str(), "duplicate submission answered with the earlier receipt");
        return Ok(IntakeReceipt {
            tracking_code,
            received_at,
            duplicate: true,
        });
    }
    state
        .citizen
        .limits
        .check_phone(&format!("letter:{}", valid.writer_phone), now)
        .await?;
    let mut attachments = stored;
    attachments.extend(store_uploads(state, uploads).await?);
    let created = store_letter(
        state,
        channel,
        valid,
        None,
        attachments,
        Actor::public(channel),
        None,
    )
    .await?;
    crate::routing::dispatch::route_new_letter(state, created.id).await;
    Ok(IntakeReceipt {
        tracking_code: created.tracking_code,
        received_at: created.received_at,
        duplicate: false,
    })
}

/// The multipart form of a desk's typed-in letter: the letter as JSON plus the files the
/// writer sent the desk (a photo by messenger, a recording of the call).
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // Describes the form for the OpenAPI document only.
pub struct DeskIntakeForm {
    /// `LetterInput` as JSON.
    letter: String,
    /// Images (≤ 9, each ≤ 10 MiB) and voice clips (≤ 3, each ≤ 5 MiB), in any part name other than `letter`.
    #[schema(value_type = Vec<String>, format = Binary)]
    files: Vec<Vec<u8>>,
}

/// A desk types in a letter received by phone. It lands at the desk's own unit. JSON, or
/// multipart with the letter's attachments (the same parts as the public form).
#[utoipa::path(post, path = "/api/v1/letters", tag = "letters", security(("bearer" = [])),
    request_body(content(
        (LetterInput = "application/json"),
        (DeskIntakeForm = "multipart/form-data"),
    )),
    params(("Idempotency-Key" = Option<String>, Header, description = "Optional: a fresh UUID per letter; a retry with the same key and body (attachments included) returns the letter created the first time")),
    responses(
        (status = 201, body = DeskIntakeReceipt),
        (status = 400, body = Problem, description = "`invalid_input`, `malformed_json`, `malformed_multipart`"),
        (status = 403, body = Problem),
        (status = 409, body = Problem, description = "`idempotency_key_reused`: the key was used for a different request"),
        (status = 413, description = "`payload_too_large`", body = Problem),
        (status = 415, description = "`unsupported_media_type`: neither JSON nor multipart", body = Problem),
        (status = 422, description = "`unsupported_attachment`, `too_many_attachments`", body = Problem),
    ))]
pub async fn post_desk_letter(
    State(state): State<AppState>,
    session: Session,
    OptionalIdempotencyKey(key): OptionalIdempotencyKey,
    request: axum::extract::Request,
) -> Result<(StatusCode, ApiJson<DeskIntakeReceipt>), ApiError> {
    session.require(Role::Dispatcher)?;
    let (input, files) = desk_letter_body(&state, request).await?;
    if crate::reference::unknown_class(&state.config.problem_classes, &input.problem_tags).is_some()
    {
        return Err(ApiError::invalid(
            "problem_tags",
            "not one of the configured problem classes (问题分类)",
        ));
    }
    let idempotency = match key {
        Some(key) => {
            // The files are part of what was asked: a retry with other files is another
            // request. (A JSON letter's fingerprint is unchanged: no files.)
            let digests: Vec<String> = files
                .iter()
                .map(|(bytes, ..)| crate::digest::sha256_hex(bytes))
                .collect();
            let request_hash = if digests.is_empty() {
                crate::idempotency::request_fingerprint("letters", &input)?
            } else {
                crate::idempotency::request_fingerprint("letters", &(&input, &digests))?
            };
            Some(IdempotencyClaim {
                user: session.user_id,
                request_hash,
                key,
            })
        }
        None => None,
    };
    let valid = validate(input)?;
    let attachments = store_uploads(&state, files).await?;
    let created = store_letter(
        &state,
        Channel::Phone,
        valid,
        Some(session.unit_id),
        attachments,
        session.actor(Some(Role::Dispatcher)),
        idempotency,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(DeskIntakeReceipt {
            id: created.id.0,
            tracking_code: created.tracking_code,
            received_at: created.received_at,
            unit_id: created.unit.0,
        }),
    ))
}

/// The desk's letter from a JSON body (at most 64 KiB, as every JSON body) or from a
/// multipart form with files (the route's larger limit applies to those only).
async fn desk_letter_body(
    state: &AppState,
    request: axum::extract::Request,
) -> Result<(LetterInput, Vec<Upload>), ApiError> {
    use axum::extract::FromRequest;
    let content_type = request
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if content_type.starts_with("multipart/form-data") {
        let mut multipart = Multipart::from_request(request, state)
            .await
            .map_err(|e| ApiError::UnsupportedMediaType(e.body_text()))?;
        let (letter, files) = read_letter_form::<LetterInput>(&mut multipart).await?;
        let letter = letter.ok_or_else(|| {
            ApiError::invalid(
                "letter",
                "the form needs a `letter` part with the letter as JSON",
            )
        })?;
        return Ok((letter, files));
    }
    if !content_type.starts_with("application/json") {
        return Err(ApiError::UnsupportedMediaType(
            "send the letter as application/json, or as multipart/form-data with a JSON \
             `letter` part and its files"
                .to_owned(),
        ));
    }
    let bytes = axum::body::to_bytes(request.into_body(), crate::extract::JSON_BODY_LIMIT)
        .await
        .map_err(|_| {
            ApiError::PayloadTooLarge(format!(
                "a JSON body may be at most {} KiB",
                crate::extract::JSON_BODY_LIMIT / 1024
            ))
        })?;
    Ok((crate::extract::from_slice(&bytes)?, Vec::new()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProgressQuery {
    /// The tracking code from the receipt.
    #[param(max_length = 32)]
    pub code: String,
    /// The last 4 digits of the writer's phone number.
    #[param(pattern = "^[0-9]{4}$")]
    pub phone_last4: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Milestone {
    pub at: DateTime<Utc>,
    /// `received` 已受理, `dispatched` 已转办, `signed_for` 已签收, `contacted` 已联系您,
    /// `first_feedback` 首次反馈, `extended` 已延期, `closed` 已办结, `return_visit` 已回访,
    /// `reopened` 重新办理.
    pub kind: String,
    /// What the writer is told at this step: the feedback text, the reply, or the new
    /// deadline of an extension (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PublicProgress {
    pub tracking_code: String,
    #[schema(value_type = String, example = "handling")]
    pub state: LetterState,
    pub received_at: DateTime<Utc>,
    pub milestones: Vec<Milestone>,
}

/// The steps a writer may see, with what they are told. Everything else (notes,
/// returns, chases, who did it) stays internal.
fn public_milestones(events: &[(DateTime<Utc>, EventPayload)]) -> Vec<Milestone> {
    let mut out = Vec::new();
    let mut reply = None;
    let mut contacted = false;
    for (at, event) in events {
        let (kind, detail) = match event {
            EventPayload::Received { .. } => ("received", None),
            EventPayload::Dispatched { .. } => ("dispatched", None),
            EventPayload::SignedFor { .. } => ("signed_for", None),
            EventPayload::ContactRecorded { outcome, .. }
                if *outcome == ContactOutcome::Reached && !contacted =>
            {
                contacted = true;
                ("contacted", None)
            }
            EventPayload::FirstFeedbackGiven { text } => ("first_feedback", Some(text.clone())),
            EventPayload::ExtensionDecided {
                approve: true,
                new_due: Some(due),
                ..
            } => ("extended", Some(due.to_rfc3339())),
            EventPayload::FeedbackFormSubmitted { reply: r, .. } => {
                reply = Some(r.clone());
                continue;
            }
            EventPayload::FeedbackFormDecided {
                decision: FormDecision::Approve,
                ..
            } => ("closed", reply.clone()),
            EventPayload::ThanksLinked { .. } => ("closed", None),
            EventPayload::ReturnVisitRecorded { satisfaction, .. } => {
                if *satisfaction == Satisfaction::Dissatisfied {
                    ("reopened", None)
                } else {
                    ("return_visit", None)
                }
            }
            _ => continue,
        };
        out.push(Milestone {
            at: *at,
            kind: kind.to_owned(),
            detail,
        });
    }
    out
}

/// The writer's view of their letter's progress.
#[utoipa::path(get, path = "/api/v1/public/progress", tag = "public",
    params(ProgressQuery),
    responses((status = 200, body = PublicProgress),
        (status = 404, description = "no letter with this code and phone", body = Problem),
        (status = 429, description = "`rate_limited`, with Retry-After", body = Problem),
        (status = 503, description = "`busy`: the citizen endpoints are at their limit, with Retry-After", body = Problem)))]
pub async fn get_progress(
    State(state): State<AppState>,
    _slot: crate::citizen::guards::PublicSlot,
    _ip: crate::citizen::guards::LimitedIp,
    ApiQuery(q): ApiQuery<ProgressQuery>,
) -> Result<ApiJson<PublicProgress>, ApiError> {
    Ok(ApiJson(
        lookup_progress(&state, &q.code, &q.phone_last4).await?,
    ))
}

/// The public timeline of the letter with this code, when the phone's last 4 digits match.
pub async fn lookup_progress(
    state: &AppState,
    code: &str,
    phone_last4: &str,
) -> Result<PublicProgress, ApiError> {
    prove_writer(state, code, phone_last4)
        .await
        .map(|proven| proven.progress)
}

/// A letter whose writer gave the proof.
pub struct ProvenLetter {
    /// What the writer may see of it.
    pub progress: PublicProgress,
    /// The writer's phone: for a code sent to it, never to the caller.
    pub phone: String,
    /// The fold of all its events (`None` for a history that does not start with its
    /// receipt): the clocks behind the next deadline the writer is shown.
    pub status: Option<LetterStatus>,
}

/// The writer's proof: the tracking code and the last 4 digits of their phone. Wrong
/// digits are limited per tracking code ([`crate::citizen::limits::LAST4_GUESSES`] an
/// hour), whatever address they come from.
pub async fn prove_writer(
    state: &AppState,
    code: &str,
    phone_last4: &str,
) -> Result<ProvenLetter, ApiError> {
    let phone_last4 = phone_last4.trim();
    let not_found =
        || ApiError::NotFound("no letter matches this tracking code and phone number".to_owned());
    let code = code.trim().to_ascii_uppercase();
    if code.len() > 32 || phone_last4.len() != 4 || !phone_last4.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(ApiError::invalid(
            "phone_last4",
            "give the tracking code and the last 4 digits of the phone number",
        ));
    }
    // Counted for unknown codes too: a limit only on real ones would tell which are real.
    let limits = &state.citizen.limits;
    limits.take_last4(&code, state.time.now()).await?;
    let record = state.store.progress(&code).await?;
    let last4 = |phone: &str| -> String {
        let digits: Vec<char> = phone.chars().collect();
        digits[digits.len().saturating_sub(4)..].iter().collect()
    };
    // Same answer for a wrong code and a wrong phone, so codes cannot be confirmed.
    let Some(record) = record.filter(|r| last4(&r.writer_phone) == phone_last4) else {
        return Err(not_found());
    };
    limits.refund_last4(&code).await;
    let status = LetterStatus::from_events(
        record.category,
        record.events.iter().map(|(at, event)| (*at, event)),
    );
    Ok(ProvenLetter {
        progress: public_progress(&record),
        phone: record.writer_phone,
        status,
    })
}

/// What the writer may see of a letter's record.
pub fn public_progress(record: &jsjb_storage::ProgressRecord) -> PublicProgress {
    PublicProgress {
        tracking_code: record.tracking_code.clone(),
        state: record.state,
        received_at: record.received_at,
        milestones: public_milestones(&record.events),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers() {
        assert!(is_mobile("13812345678"));
        assert!(!is_mobile("12812345678"));
        assert!(!is_mobile("1381234567"));
        assert!(is_landline("0755-12345678"));
        assert!(is_landline("075512345678"));
        assert!(is_landline("12345678"));
        assert!(!is_landline("abc-12345678"));
        assert!(!is_landline("0755-123"));
    }

    #[test]
    fn tracking_codes_use_the_unambiguous_alphabet() {
        let at = DateTime::parse_from_rfc3339("2025-03-13T17:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let code = tracking_code(at);
        // 17:00 UTC is already the 14th in Shenzhen.
        assert!(code.starts_with("SZ20250314"), "{code}");
        assert_eq!(code.len(), 16);
        assert!(!code[10..].contains(['0', 'O', '1', 'I']));
    }
}
