//! Weibo direct messages (私信), as pushed by the bureau's Weibo relay (Weibo's own push,
//! without a relay, is [`super::weibo_push`]).
//!
//! Weibo's fan-service platform pushes messages to a relay the bureau runs next to its
//! Weibo account; the relay forwards each one here as JSON, signed with a shared
//! secret (`JSJB_WEIBO_SECRET`), and posts our `reply` back to the writer through
//! Weibo's reply API. The shape (also in docs/citizen.md):
//!
//! ```text
//! POST /weibo/webhook
//! X-Jsjb-Timestamp: 1718000000                   (Unix seconds; ±5 min of the server's time)
//! X-Jsjb-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>
//! Content-Type: application/json
//!
//! {"message_id": "4893…", "sender_id": "1234567890", "sender_name": "微博昵称",
//!  "type": "text" | "image" | "voice" | "follow",
//!  "text": "…",                       (type text)
//!  "media_base64": "…",               (type image/voice: the bytes the relay fetched)
//!  "media_ref": "…"}                  (optional: Weibo's own id of the media)
//!
//! 200 {"reply": "…"}  — the text to send back; null for a redelivered message_id
//! 403 problem          — a wrong signature or a stale timestamp; nothing was stored
//! ```
//!
//! The messages then follow the same conversation as WeChat's ([`super::conversation`]).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use base64::Engine;
use hmac::{Hmac, Mac};
use jsjb_core::letter::Channel;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::conversation::{self, Incoming, Message};
use super::guards::PublicSlot;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;
use jsjb_storage::AttachmentKind;

/// A message with one image at its limit, in base64, plus the JSON around it.
pub const MAX_BODY: usize = crate::attachments::MAX_IMAGE_BYTES / 3 * 4 + 64 * 1024;
pub const TIMESTAMP_HEADER: &str = "x-jsjb-timestamp";
pub const SIGNATURE_HEADER: &str = "x-jsjb-signature";

#[derive(Debug, Deserialize, Serialize)]
pub struct WeiboMessage {
    pub message_id: String,
    pub sender_id: String,
    #[serde(default)]
    pub sender_name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub media_base64: Option<String>,
    #[serde(default)]
    pub media_ref: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct WeiboReply {
    pub reply: Option<String>,
}

/// `sha256=` + hex HMAC-SHA256 of `"<timestamp>.<body>"`: what the relay sends.
pub fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let digest = mac(secret, timestamp, body).finalize().into_bytes();
    format!("sha256={}", hex::encode(digest))
}

fn mac(secret: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

fn forbidden(why: &str) -> ApiError {
    ApiError::Forbidden(format!("Weibo webhook refused: {why}"))
}

fn authenticate(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<(), ApiError> {
    let secret = state
        .config
        .citizen
        .weibo_secret
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::NotFound("Weibo is not configured on this server".to_owned()))?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(timestamp), Some(signature)) = (header(TIMESTAMP_HEADER), header(SIGNATURE_HEADER))
    else {
        return Err(forbidden(
            "the timestamp and signature headers are required",
        ));
    };
    let given = signature
        .strip_prefix("sha256=")
        .and_then(decode_hex)
        .ok_or_else(|| forbidden("the signature must be sha256=<hex>"))?;
    // verify_slice compares in constant time.
    mac(secret, timestamp, body)
        .verify_slice(&given)
        .map_err(|_| {
            tracing::warn!("Weibo webhook with a wrong signature refused");
            forbidden("wrong signature")
        })?;
    let ts: i64 = timestamp
        .parse()
        .map_err(|_| forbidden("the timestamp is not a number"))?;
    if (state.time.now().timestamp() - ts).abs() > super::wechat::MAX_SKEW_SECS {
        return Err(forbidden(
            "timestamp too far from the server's time (replay?)",
        ));
    }
    Ok(())
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

pub async fn receive(
    State(state): State<AppState>,
    _slot: PublicSlot,
    headers: HeaderMap,
    body: Bytes,
) -> Result<ApiJson<WeiboReply>, ApiError> {
    authenticate(&state, &headers, &body)?;
    let msg: WeiboMessage = serde_json::from_slice(&body)
        .map_err(|e| ApiError::MalformedJson(format!("the Weibo message: {e}")))?;
    if msg.sender_id.trim().is_empty() || msg.sender_id.len() > 64 {
        return Err(ApiError::invalid("sender_id", "sender_id is required"));
    }
    let media = |kind: AttachmentKind| -> Result<Incoming, ApiError> {
        let bytes = match &msg.media_base64 {
            Some(b64) => Some(
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map_err(|_| ApiError::invalid("media_base64", "not valid base64"))?,
            ),
            None => None,
        };
        Ok(Incoming::Media {
            kind,
            bytes,
            reference: format!(
                "微博媒体 {}",
                msg.media_ref.as_deref().unwrap_or("（无编号）")
            ),
            recognition: None,
        })
    };
    let incoming = match msg.kind.as_str() {
        "text" => Incoming::Text(msg.text.clone().unwrap_or_default()),
        "image" => media(AttachmentKind::Image)?,
        "voice" => media(AttachmentKind::Voice)?,
        "follow" => Incoming::Followed,
        _ => Incoming::Other,
    };
    let reply = conversation::handle(
        &state,
        Message {
            channel: Channel::Weibo,
            sender: msg.sender_id.trim().to_owned(),
            sender_name: msg.sender_name.chars().take(32).collect(),
            msg_id: Some(msg.message_id.clone()).filter(|m| !m.is_empty()),
            incoming,
        },
    )
    .await?;
    Ok(ApiJson(WeiboReply { reply }))
}
