//! Weibo's own message push (粉丝服务平台 · 开发模式 · 消息推送服务), end to end, for a
//! bureau that points its fan-service platform straight at this server (the relay of
//! [`super::weibo`] stays for one that keeps Weibo at its edge).
//!
//! - `GET /weibo/push?signature=&timestamp=&nonce=&echostr=`: URL verification.
//!   `signature` = hex SHA-1 of the app's AppSecret, `timestamp` and `nonce` sorted and
//!   concatenated (WeChat's rule with the AppSecret in the token's place); the answer
//!   is `echostr` as is.
//! - `POST /weibo/push?signature=&timestamp=&nonce=`: one message as JSON —
//!   `{"type": "text"|"image"|"voice"|"position"|"event"|"mention", "receiver_id": <the
//!   account's uid>, "sender_id": <the writer's uid>, "created_at": "Mon Jul 16 18:09:20
//!   +0800 2012", "text": "…", "data": {…}}`. The answer is the passive reply
//!   (发送被动响应消息): `{"result": true, "sender_id": "<account>", "receiver_id":
//!   "<writer>", "type": "text", "data": "<URL-encoded {\"text\": …}>"}`, or an empty
//!   body for a redelivery (Weibo then neither shows nor retries anything).
//!
//! A wrong signature or a timestamp (Weibo sends milliseconds) more than 5 minutes from
//! the server's time is 403 before the body is read. Weibo redelivers after 5 s without
//! an answer and names no message id: as its documentation recommends, `sender_id` plus
//! `created_at` is the message's id. Images and voice clips are kept as Weibo's file ids
//! (`vfid`) in the letter for the desk: fetching them needs the account's access token
//! in Weibo's media API, which this server does not hold.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jsjb_core::letter::Channel;
use serde::Deserialize;

use super::conversation::{self, Incoming, Message};
use super::guards::PublicSlot;
use crate::error::ApiError;
use crate::state::AppState;
use jsjb_storage::AttachmentKind;

/// Pushed messages are small JSON documents (media come as ids).
pub const MAX_BODY: usize = 64 * 1024;
/// Weibo's passive reply holds at most 300 characters.
const MAX_REPLY_CHARS: usize = 300;

/// `hex(sha1(sort([app_secret, timestamp, nonce]).concat()))`: WeChat's callback
/// signature with the AppSecret in the token's place, as Weibo documents it.
pub fn signature(app_secret: &str, timestamp: &str, nonce: &str) -> String {
    super::wechat::signature(app_secret, timestamp, nonce)
}

fn forbidden(why: &str) -> ApiError {
    ApiError::Forbidden(format!("Weibo push refused: {why}"))
}

fn authenticate(state: &AppState, q: &HashMap<String, String>) -> Result<(), ApiError> {
    let secret = state
        .config
        .citizen
        .weibo_app_secret
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::NotFound("Weibo is not configured on this server".to_owned()))?;
    let get = |k: &str| q.get(k).map(String::as_str).unwrap_or_default();
    let (given, timestamp, nonce) = (get("signature"), get("timestamp"), get("nonce"));
    if given.is_empty() || timestamp.is_empty() || nonce.is_empty() {
        return Err(forbidden("signature, timestamp and nonce are required"));
    }
    let expected = signature(secret, timestamp, nonce);
    if !jsjb_storage::citizen_tokens::same_digest(&expected, &given.to_ascii_lowercase()) {
        tracing::warn!("Weibo push with a wrong signature refused");
        return Err(forbidden("wrong signature"));
    }
    let ts: i64 = timestamp
        .parse()
        .map_err(|_| forbidden("timestamp is not a number"))?;
    // Weibo's timestamps are milliseconds; seconds are taken too.
    let secs = if ts > 100_000_000_000 { ts / 1000 } else { ts };
    if (state.time.now().timestamp() - secs).abs() > super::wechat::MAX_SKEW_SECS {
        tracing::warn!(ts, "Weibo push with a stale timestamp refused");
        return Err(forbidden(
            "timestamp too far from the server's time (replay?)",
        ));
    }
    Ok(())
}

/// URL verification: echo `echostr` when the signature is right.
pub async fn verify_url(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    authenticate(&state, &q)?;
    Ok(text_response(
        q.get("echostr").cloned().unwrap_or_default(),
        "text/plain; charset=utf-8",
    ))
}

fn text_response(body: String, content_type: &'static str) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// A uid: Weibo sends a number, and some of its samples a string of digits.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Uid {
    Number(u64),
    Text(String),
}

impl Uid {
    fn text(&self) -> Option<String> {
        let s = match self {
            Uid::Number(n) => n.to_string(),
            Uid::Text(s) => s.trim().to_owned(),
        };
        (!s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit())).then_some(s)
    }
}

#[derive(Debug, Deserialize)]
struct Pushed {
    #[serde(rename = "type")]
    kind: String,
    receiver_id: Uid,
    sender_id: Uid,
    #[serde(default)]
    created_at: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    data: serde_json::Value,
}

/// One pushed message: authenticated, parsed, handled, answered.
pub async fn receive(
    State(state): State<AppState>,
    _slot: PublicSlot,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    authenticate(&state, &q)?;
    let msg: Pushed = serde_json::from_slice(&body)
        .map_err(|e| ApiError::MalformedJson(format!("the Weibo message: {e}")))?;
    let (Some(account), Some(sender)) = (msg.receiver_id.text(), msg.sender_id.text()) else {
        return Err(ApiError::invalid(
            "sender_id",
            "sender_id and receiver_id must be Weibo uids",
        ));
    };
    let vfid = msg
        .data
        .get("vfid")
        .map(|v| v.to_string().trim_matches('"').to_owned())
        .unwrap_or_else(|| "（无编号）".to_owned());
    let media = |kind| Incoming::Media {
        kind,
        bytes: None,
        reference: format!("微博文件 vfid {vfid}"),
        recognition: None,
    };
    let incoming = match msg.kind.as_str() {
        "text" => Incoming::Text(msg.text.clone()),
        "image" => media(AttachmentKind::Image),
        "voice" => media(AttachmentKind::Voice),
        "event" => match msg.data.get("subtype").and_then(|s| s.as_str()) {
            Some("follow" | "subscribe") => Incoming::Followed,
            // Unfollowing, menu clicks, scans…: nothing to answer.
            _ => return Ok(text_response(String::new(), "text/plain; charset=utf-8")),
        },
        // A position, a mention, a type Weibo adds later: answered as unsupported.
        _ => Incoming::Other,
    };
    let msg_id = Some(format!("{sender}@{}", msg.created_at.trim()))
        .filter(|_| !msg.created_at.trim().is_empty());
    let reply = conversation::handle(
        &state,
        Message {
            channel: Channel::Weibo,
            sender: sender.clone(),
            sender_name: String::new(),
            msg_id,
            incoming,
        },
    )
    .await?;
    let Some(reply) = reply else {
        return Ok(text_response(String::new(), "text/plain; charset=utf-8"));
    };
    Ok(text_response(
        passive_reply(&account, &sender, &reply),
        "application/json; charset=utf-8",
    ))
}

/// The passive text reply as Weibo documents it: `data` is the URL-encoded JSON of
/// `{"text": …}` (at most 300 characters).
pub fn passive_reply(account: &str, writer: &str, text: &str) -> String {
    let text: String = text.chars().take(MAX_REPLY_CHARS).collect();
    let data = serde_json::json!({ "text": text }).to_string();
    let encoded: String = form_urlencoded::byte_serialize(data.as_bytes()).collect();
    serde_json::json!({
        "result": true,
        "sender_id": account,
        "receiver_id": writer,
        "type": "text",
        "data": encoded.replace('+', "%20"),
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_signature_example() {
        // 消息推送服务 · 验证URL有效性: appsecret xyz123xyz, timestamp 1397022061823,
        // nonce 57155157 → "139702206182357155157xyz123xyz" → this SHA-1.
        assert_eq!(
            signature("xyz123xyz", "1397022061823", "57155157"),
            "90e4c22c90a58f26526c2dd5b6c56c8822edeaa1"
        );
    }

    #[test]
    fn the_passive_reply_is_the_documented_shape() {
        let reply: serde_json::Value =
            serde_json::from_str(&passive_reply("123", "456", "中文消息")).expect("json");
        assert_eq!(reply["result"], true);
        assert_eq!(reply["sender_id"], "123");
        assert_eq!(reply["receiver_id"], "456");
        assert_eq!(reply["type"], "text");
        // The documentation's own example of `data` for {"text":"中文消息"}.
        assert_eq!(
            reply["data"],
            "%7B%22text%22%3A%22%E4%B8%AD%E6%96%87%E6%B6%88%E6%81%AF%22%7D"
        );
        let long: serde_json::Value =
            serde_json::from_str(&passive_reply("1", "2", &"很".repeat(400))).expect("json");
        let data: String = form_urlencoded::parse(
            format!("d={}", long["data"].as_str().expect("data")).as_bytes(),
        )
        .map(|(_, v)| v.into_owned())
        .collect();
        let inner: serde_json::Value = serde_json::from_str(&data).expect("inner json");
        assert_eq!(inner["text"].as_str().expect("text").chars().count(), 300);
    }

    #[test]
    fn uids_are_digits() {
        assert_eq!(
            Uid::Number(2489518277).text().as_deref(),
            Some("2489518277")
        );
        assert_eq!(Uid::Text(" 123 ".into()).text().as_deref(), Some("123"));
        assert!(Uid::Text("12a".into()).text().is_none());
        assert!(Uid::Text(String::new()).text().is_none());
    }
}
