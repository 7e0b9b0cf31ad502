//! The WeChat official account's message callback (公众号 服务器配置), in the plaintext
//! mode or, with an EncodingAESKey, the encrypted one ([`super::wechat_crypt`]).
//!
//! - `GET /wechat/callback?signature=&timestamp=&nonce=&echostr=`: URL verification.
//!   `signature` = hex SHA-1 of the token, `timestamp` and `nonce` sorted
//!   lexicographically and concatenated; the answer is `echostr` as is.
//! - `POST /wechat/callback?signature=&timestamp=&nonce=&openid=`: one pushed message
//!   as XML (text, image with PicUrl/MediaId, voice with MediaId/Format/Recognition,
//!   the subscribe event). The answer is the passive reply: a text message in XML, or
//!   `success` (WeChat's "no reply") for a redelivered message.
//!
//! A wrong signature or a timestamp more than 5 minutes from the server's time is
//! refused with 403 before the body is looked at, so a forged or replayed request has
//! no effect. In the encrypted mode the push carries `encrypt_type=aes` and a
//! `msg_signature` over its `Encrypt` as well; the reply is encrypted the same way.
//! Images and voice clips are downloaded through [`super::wechat_api`] when an
//! AppSecret is configured. Messages then go through [`super::conversation`].

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jsjb_core::letter::Channel;
use quick_xml::events::Event;
use quick_xml::reader::Reader;
use sha1::{Digest, Sha1};

use super::conversation::{self, Incoming, Message};
use super::guards::PublicSlot;
use crate::error::ApiError;
use crate::state::AppState;
use jsjb_storage::AttachmentKind;

/// Pushed messages are small XML documents.
pub const MAX_BODY: usize = 64 * 1024;
/// How far a request's timestamp may be from the server's time.
pub const MAX_SKEW_SECS: i64 = 300;

/// `hex(sha1(sort([token, timestamp, nonce]).concat()))`, as WeChat computes it.
pub fn signature(token: &str, timestamp: &str, nonce: &str) -> String {
    let mut parts = [token, timestamp, nonce];
    parts.sort_unstable();
    hex::encode(Sha1::digest(parts.concat().as_bytes()))
}

fn forbidden(why: &str) -> ApiError {
    ApiError::Forbidden(format!("WeChat callback refused: {why}"))
}

/// Checks the signature and the timestamp of a callback request.
fn authenticate(state: &AppState, q: &HashMap<String, String>) -> Result<(), ApiError> {
    let token = state
        .config
        .citizen
        .wechat_token
        .as_deref()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::NotFound("WeChat is not configured on this server".to_owned()))?;
    let get = |k: &str| q.get(k).map(String::as_str).unwrap_or_default();
    let (given, timestamp, nonce) = (get("signature"), get("timestamp"), get("nonce"));
    if given.is_empty() || timestamp.is_empty() || nonce.is_empty() {
        return Err(forbidden("signature, timestamp and nonce are required"));
    }
    let expected = signature(token, timestamp, nonce);
    let same = expected.len() == given.len()
        && expected
            .bytes()
            .zip(given.to_ascii_lowercase().bytes())
            .fold(0_u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if !same {
        tracing::warn!("WeChat callback with a wrong signature refused");
        return Err(forbidden("wrong signature"));
    }
    let ts: i64 = timestamp
        .parse()
        .map_err(|_| forbidden("timestamp is not a number"))?;
    if (state.time.now().timestamp() - ts).abs() > MAX_SKEW_SECS {
        tracing::warn!(ts, "WeChat callback with a stale timestamp refused");
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
    let echo = q.get("echostr").cloned().unwrap_or_default();
    Ok(text(echo))
}

fn text(body: String) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// A pushed message: authenticated, parsed, handled, answered.
pub async fn receive(
    State(state): State<AppState>,
    _slot: PublicSlot,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    authenticate(&state, &q)?;
    let outer = parse_xml(&body).map_err(|e| ApiError::invalid("xml", e))?;
    let (fields, crypt) = open_envelope(&state, &q, outer)?;
    let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
    let (account, openid) = (get("ToUserName"), get("FromUserName"));
    if openid.is_empty() || account.is_empty() {
        return Err(ApiError::invalid(
            "xml",
            "ToUserName and FromUserName are required",
        ));
    }
    let msg_type = get("MsgType");
    let incoming = match msg_type.as_str() {
        "text" => Incoming::Text(get("Content")),
        "image" | "voice" => {
            let kind = if msg_type == "image" {
                AttachmentKind::Image
            } else {
                AttachmentKind::Voice
            };
            let media_id = get("MediaId");
            let bytes = match state.citizen.wechat().fetch(&media_id).await {
                Ok(bytes) => Some(bytes),
                Err(e) => {
                    tracing::info!(%e, %media_id, "WeChat media kept as a reference");
                    None
                }
            };
            let mut reference = format!("微信 MediaId {media_id}");
            if kind == AttachmentKind::Voice && !get("Format").is_empty() {
                reference.push_str(&format!("，格式 {}", get("Format")));
            }
            Incoming::Media {
                kind,
                bytes,
                reference,
                recognition: fields.get("Recognition").cloned(),
            }
        }
        "event" if get("Event") == "subscribe" => Incoming::Followed,
        // Other events (unsubscribe, menu clicks…) need no answer.
        "event" => return Ok(text("success".to_owned())),
        _ => Incoming::Other,
    };
    let msg_id = fields.get("MsgId").cloned().filter(|m| !m.is_empty());
    let reply = conversation::handle(
        &state,
        Message {
            channel: Channel::Wechat,
            sender: openid.clone(),
            sender_name: String::new(),
            msg_id,
            incoming,
        },
    )
    .await?;
    let Some(reply) = reply else {
        return Ok(text("success".to_owned()));
    };
    let now = state.time.now().timestamp();
    let reply = reply_xml(&openid, &account, now, &reply);
    let reply = match crypt {
        Some(crypt) => {
            let mut random = [0_u8; 16];
            rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut random);
            let nonce =
                (rand_core::RngCore::next_u32(&mut rand_core::OsRng) % 1_000_000_000).to_string();
            crypt.reply_envelope(&reply, random, now, &nonce)
        }
        None => reply,
    };
    let mut response = (StatusCode::OK, reply).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml; charset=utf-8"),
    );
    Ok(response)
}

/// The message's fields, decrypted when the account is in the encrypted mode, and the
/// crypt to answer with.
///
/// With an EncodingAESKey configured every push must be encrypted (`encrypt_type=aes`,
/// a right `msg_signature` over its `Encrypt`, sealed for this AppID); in 兼容模式 the
/// push also carries the plaintext fields, which are ignored: only what was sealed is
/// read. Without a key an encrypted push is refused too: the two ends disagree, and
/// the platform's console is where that is fixed.
fn open_envelope<'a>(
    state: &'a AppState,
    q: &HashMap<String, String>,
    outer: HashMap<String, String>,
) -> Result<
    (
        HashMap<String, String>,
        Option<&'a super::wechat_crypt::MsgCrypt>,
    ),
    ApiError,
> {
    let encrypted = q.get("encrypt_type").is_some_and(|t| t == "aes");
    let key_configured = state
        .config
        .citizen
        .wechat_encoding_aes_key
        .as_deref()
        .is_some_and(|k| !k.trim().is_empty());
    match (state.citizen.wechat_crypt.as_ref(), encrypted) {
        (Some(crypt), true) => {
            let sealed = outer
                .get("Encrypt")
                .ok_or_else(|| forbidden("an encrypted push without <Encrypt>"))?;
            let get = |k: &str| q.get(k).map(String::as_str).unwrap_or_default();
            if !crypt.signature_matches(
                get("timestamp"),
                get("nonce"),
                sealed,
                get("msg_signature"),
            ) {
                tracing::warn!("WeChat push with a wrong msg_signature refused");
                return Err(forbidden("wrong msg_signature"));
            }
            let xml = crypt.decrypt(sealed).map_err(|e| {
                tracing::warn!(%e, "WeChat push that does not decrypt refused");
                forbidden("the message does not decrypt for this account")
            })?;
            let fields = parse_xml(xml.as_bytes()).map_err(|e| ApiError::invalid("xml", e))?;
            Ok((fields, Some(crypt)))
        }
        (Some(_), false) => {
            tracing::warn!("plaintext WeChat push refused: this account is in the encrypted mode");
            Err(forbidden("this account accepts encrypted messages only"))
        }
        (None, _) if key_configured => Err(forbidden("the encrypted mode is not set up")),
        (None, true) => {
            tracing::warn!("encrypted WeChat push refused: no JSJB_WECHAT_ENCODING_AES_KEY is set");
            Err(forbidden(
                "encrypted messages are not set up on this server",
            ))
        }
        (None, false) => Ok((outer, None)),
    }
}

/// Text inside CDATA: a `]]>` in it would end the section, so it is split.
fn cdata(s: &str) -> String {
    format!("<![CDATA[{}]]>", s.replace("]]>", "]]]]><![CDATA[>"))
}

/// The passive text reply, as WeChat documents it (被动回复用户消息 · 回复文本消息).
pub fn reply_xml(to_user: &str, from_account: &str, create_time: i64, content: &str) -> String {
    format!(
        "<xml><ToUserName>{}</ToUserName><FromUserName>{}</FromUserName><CreateTime>{create_time}</CreateTime><MsgType>{}</MsgType><Content>{}</Content></xml>",
        cdata(to_user),
        cdata(from_account),
        cdata("text"),
        cdata(content)
    )
}

/// The children of `<xml>` as name → text (CDATA or escaped text). A document type
/// declaration is refused: WeChat never sends one, and refusing it rules out entity
/// tricks.
pub fn parse_xml(bytes: &[u8]) -> Result<HashMap<String, String>, String> {
    let mut reader = Reader::from_reader(bytes);
    let mut fields = HashMap::new();
    let mut path: Vec<String> = Vec::new();
    let mut value = String::new();
    let mut buf = Vec::new();
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| format!("not well-formed XML: {e}"))?;
        match event {
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                if path.is_empty() && name != "xml" {
                    return Err(format!("the root element must be <xml>, not <{name}>"));
                }
                path.push(name);
                value.clear();
            }
            Event::End(_) => {
                if path.len() == 2
                    && let Some(name) = path.last()
                {
                    fields.insert(name.clone(), std::mem::take(&mut value));
                }
                path.pop();
            }
            Event::Text(t) if path.len() == 2 => {
                value.push_str(&t.xml_content().map_err(|e| e.to_string())?);
            }
            Event::CData(c) if path.len() == 2 => {
                value.push_str(&c.xml_content().map_err(|e| e.to_string())?);
            }
            Event::GeneralRef(r) if path.len() == 2 => {
                if let Some(ch) = r.resolve_char_ref().map_err(|e| e.to_string())? {
                    value.push(ch);
                } else {
                    let name = r.decode().map_err(|e| e.to_string())?;
                    let resolved = quick_xml::escape::resolve_predefined_entity(&name)
                        .ok_or_else(|| format!("unknown entity &{name};"))?;
                    value.push_str(resolved);
                }
            }
            Event::DocType(_) => return Err("a DOCTYPE is not accepted".to_owned()),
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if fields.is_empty() {
        return Err("an <xml> document with the message fields is required".to_owned());
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_sha1_of_the_sorted_parts() {
        // sorted: "1409304348" < "nonce1" < "token1"
        let expected = hex::encode(Sha1::digest(b"1409304348nonce1token1"));
        assert_eq!(signature("token1", "1409304348", "nonce1"), expected);
        assert_eq!(signature("token1", "nonce1", "1409304348"), expected);
    }

    #[test]
    fn parses_the_documented_messages() {
        let voice = "<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[fromUser]]></FromUserName><CreateTime>1357290913</CreateTime><MsgType><![CDATA[voice]]></MsgType><MediaId><![CDATA[media_id]]></MediaId><Format><![CDATA[Format]]></Format><Recognition><![CDATA[腾讯微信团队]]></Recognition><MsgId>1234567890123456</MsgId></xml>";
        let f = parse_xml(voice.as_bytes()).expect("parse");
        assert_eq!(f["MsgType"], "voice");
        assert_eq!(f["Recognition"], "腾讯微信团队");
        assert_eq!(f["MsgId"], "1234567890123456");
        let escaped =
            parse_xml(b"<xml><Content>a &amp; b &#20320;</Content></xml>").expect("parse");
        assert_eq!(escaped["Content"], "a & b 你");
        assert!(parse_xml(b"<!DOCTYPE x [<!ENTITY e \"x\">]><xml><A>&e;</A></xml>").is_err());
        assert!(parse_xml(b"<html><A>1</A></html>").is_err());
        assert!(parse_xml(b"not xml").is_err());
    }

    #[test]
    fn the_reply_escapes_cdata() {
        let xml = reply_xml("o1", "gh_1", 5, "a]]>b");
        assert!(xml.contains("<Content><![CDATA[a]]]]><![CDATA[>b]]></Content>"));
        assert_eq!(
            parse_xml(xml.as_bytes()).expect("parse")["Content"],
            "a]]>b"
        );
    }
}
