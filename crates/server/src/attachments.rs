//! Attachments: what types are accepted (decided from the bytes, never from the name
//! or the declared type), their limits, and the scope-checked download.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::auth::{Session, unit_tree};
use crate::digest::is_sha256_hex;
use crate::error::{ApiError, Problem};
use crate::extract::ApiPath;
use crate::state::AppState;
use jsjb_storage::AttachmentKind;

pub const MAX_IMAGE_BYTES: usize = 10 * 1024 * 1024;
pub const MAX_VOICE_BYTES: usize = 5 * 1024 * 1024;
pub const MAX_IMAGES: usize = 9;
pub const MAX_VOICE_CLIPS: usize = 3;

/// The accepted types. Anything else is refused, whatever its name says.
const ACCEPTED: &[(&str, AttachmentKind)] = &[
    ("image/jpeg", AttachmentKind::Image),
    ("image/png", AttachmentKind::Image),
    ("image/webp", AttachmentKind::Image),
    ("image/gif", AttachmentKind::Image),
    ("audio/amr", AttachmentKind::Voice),
    ("audio/mpeg", AttachmentKind::Voice),
    ("audio/m4a", AttachmentKind::Voice),
    ("audio/x-wav", AttachmentKind::Voice),
    ("audio/ogg", AttachmentKind::Voice),
];

/// Decides an upload's type from its leading bytes.
pub fn sniff(bytes: &[u8]) -> Result<(AttachmentKind, &'static str), ApiError> {
    // WeChat voice messages are SILK, which `infer` does not know: "#!SILK_V3",
    // sometimes after a 0x02 byte (the Tencent variant).
    let silk = b"#!SILK_V3";
    if bytes.starts_with(silk) || (bytes.first() == Some(&0x02) && bytes[1..].starts_with(silk)) {
        return Ok((AttachmentKind::Voice, "audio/silk"));
    }
    let found = infer::get(bytes).map(|t| t.mime_type());
    ACCEPTED
        .iter()
        .find(|(mime, _)| Some(*mime) == found)
        .map(|(mime, kind)| (*kind, *mime))
        .ok_or_else(|| {
            ApiError::UnsupportedAttachment(format!(
                "this file is {}; attach images (JPEG, PNG, WebP, GIF) or voice clips (AMR, MP3, M4A, WAV, OGG, SILK)",
                found.map_or("of an unknown type".to_owned(), |m| format!("`{m}`"))
            ))
        })
}

pub fn max_bytes(kind: AttachmentKind) -> usize {
    match kind {
        AttachmentKind::Image => MAX_IMAGE_BYTES,
        AttachmentKind::Voice => MAX_VOICE_BYTES,
    }
}

/// Downloads an attachment of a letter the caller can see.
#[utoipa::path(get, path = "/api/v1/attachments/{sha256}", tag = "letters", security(("bearer" = [])),
    params(("sha256" = String, Path, pattern = "^[0-9a-f]{64}$", description = "SHA-256 of the content, 64 lowercase hex digits")),
    responses(
        (status = 200, description = "the bytes, with their sniffed content type", content_type = "application/octet-stream"),
        (status = 401, body = Problem),
        (status = 404, description = "unknown, or referenced only by letters outside the caller's scope", body = Problem),
    ))]
pub async fn download(
    State(state): State<AppState>,
    session: Session,
    ApiPath(sha256): ApiPath<String>,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::NotFound("no such attachment in your scope".to_owned());
    if !is_sha256_hex(&sha256) {
        return Err(ApiError::invalid(
            "sha256",
            "an attachment is named by 64 lowercase hex digits",
        ));
    }
    let (meta, units) = state
        .store
        .attachment(&sha256)
        .await?
        .ok_or_else(not_found)?;
    let tree = unit_tree(&state).await?;
    // Same answer for "not yours" and "does not exist", so ids cannot be probed.
    if !units.iter().any(|u| tree.in_scope(session.unit_id, *u)) {
        return Err(not_found());
    }
    let bytes = state
        .blobs
        .get(&sha256)
        .await
        .map_err(|e| ApiError::Internal(format!("reading blob {sha256}: {e}")))?
        .ok_or_else(|| ApiError::Internal(format!("blob {sha256} is recorded but missing")))?;
    let mut response = Body::from(bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&meta.mime)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    // The type was sniffed on upload; stop browsers from second-guessing it.
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=31536000, immutable"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_from_bytes() {
        let png = [
            0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D,
        ];
        assert_eq!(sniff(&png).expect("png").1, "image/png");
        assert_eq!(sniff(b"#!SILK_V3abc").expect("silk").1, "audio/silk");
        assert_eq!(sniff(b"\x02#!SILK_V3abc").expect("silk").1, "audio/silk");
        assert!(sniff(b"just some text pretending to be a png").is_err());
        assert!(sniff(b"%PDF-1.7").is_err());
        assert!(sniff(b"").is_err());
    }
}
