//! WeChat's server API for the official account: the access token and the media
//! download (素材管理 · 获取临时素材), as the platform documents them.
//!
//! - **The access token** comes from `POST /cgi-bin/stable_token` (获取稳定版接口调用凭据,
//!   `{"grant_type":"client_credential","appid":…,"secret":…,"force_refresh":false}` →
//!   `{"access_token":…,"expires_in":…}`). In this "normal mode" the platform hands every
//!   caller the *same* token while it is valid, renews it itself in its last 5 minutes
//!   and keeps the old one working 5 more: so every server node may fetch and cache the
//!   token on its own and all of them hold one shared token — none ever invalidates
//!   another's, which the older `GET /cgi-bin/token` does on every call. A node keeps
//!   its copy until a minute before the `expires_in` it was given; one fetch at a time
//!   (the others wait for it). A token the platform refuses (40001, 40014, 42001) is
//!   forgotten and fetched again once.
//! - **Media**: `GET /cgi-bin/media/get?access_token=…&media_id=…` answers the file itself
//!   (an image, an AMR voice clip), or JSON with an `errcode`. The download is bounded in
//!   time (WeChat waits 5 s for the passive reply, then redelivers) and in size (the
//!   attachments' own limits); what fails is kept as a reference in the letter, never
//!   lost (`conversation.rs`).
//!
//! - **Messages to writers**: `POST /cgi-bin/message/custom/send?access_token=…` with
//!   `{"touser":…,"msgtype":"text","text":{"content":…}}` (客服消息), allowed within 48
//!   hours of the writer's last message; outside it WeChat answers 45015 and the notice
//!   goes by SMS instead (`crate::writer_notices`).
//!
//! The secret never leaves this module: no error or log line carries it or the token.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::Deserialize;

use super::wechat_client::{WechatClient, WechatError, WechatSendError};

/// One call's time limit; a media download that runs out is kept as a reference.
const CALL_TIMEOUT: Duration = Duration::from_secs(3);
/// A cached token is used until this long before the end of the validity it came with.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// The token endpoint's JSON is small; the platform says to allow 512 characters.
const MAX_TOKEN_ANSWER: usize = 4 * 1024;
const MAX_TOKEN_CHARS: usize = 512;
/// The errcodes that say the token itself is not (or no longer) good.
const TOKEN_REFUSED: &[i64] = &[40001, 40014, 42001];
/// The largest media WeChat itself keeps (an image: 10 MB; a voice clip: 2 MB); the
/// attachments' own limits are checked after the download (`conversation.rs`).
const MAX_MEDIA_BYTES: usize = 10 * 1024 * 1024;
/// The errcodes that say WeChat will not carry a customer-service message to this
/// writer now: out of the 48-hour window after their last message (45015), not
/// following the account (43004), the reply quota used up (45047), the account not
/// allowed the API (48001). Another channel must carry it.
const CANNOT_CARRY: &[i64] = &[45015, 43004, 45047, 48001];
/// A customer-service message's answer is a small JSON.
const MAX_SEND_ANSWER: usize = 4 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum WechatApiSettingsError {
    #[error("the WeChat API address {0:?} is not an http(s) URL")]
    Base(String),
    #[error("the WeChat media API needs both JSJB_WECHAT_APPID and JSJB_WECHAT_APPSECRET")]
    Credentials,
}

struct CachedToken {
    value: String,
    good_until: Instant,
}

/// The official account's API client, one per server node.
pub struct WechatApi {
    base: reqwest::Url,
    appid: String,
    secret: String,
    client: reqwest::Client,
    token: tokio::sync::Mutex<Option<CachedToken>>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    expires_in: Option<i64>,
    errcode: Option<i64>,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    errcode: Option<i64>,
}

enum Downloaded {
    Bytes(Vec<u8>),
    TokenRefused,
}

impl WechatApi {
    pub fn new(base: &str, appid: &str, secret: &str) -> Result<WechatApi, WechatApiSettingsError> {
        let base = reqwest::Url::parse(base)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && !u.cannot_be_a_base())
            .ok_or_else(|| WechatApiSettingsError::Base(base.to_owned()))?;
        let (appid, secret) = (appid.trim(), secret.trim());
        if appid.is_empty() || secret.is_empty() {
            return Err(WechatApiSettingsError::Credentials);
        }
        let client = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .connect_timeout(CALL_TIMEOUT)
            .build()
            .unwrap_or_default();
        Ok(WechatApi {
            base,
            appid: appid.to_owned(),
            secret: secret.to_owned(),
            client,
            token: tokio::sync::Mutex::new(None),
        })
    }

    fn endpoint(&self, path: &str) -> reqwest::Url {
        let mut url = self.base.clone();
        let joined = format!("{}{path}", url.path().trim_end_matches('/'));
        url.set_path(&joined);
        url
    }

    /// The cached token, or a fresh one (one fetch at a time on this node).
    async fn token(&self) -> Result<String, WechatError> {
        let mut slot = self.token.lock().await;
        if let Some(cached) = slot.as_ref().filter(|t| t.good_until > Instant::now()) {
            return Ok(cached.value.clone());
        }
        let started = Instant::now();
        let answer = self
            .client
            .post(self.endpoint("/cgi-bin/stable_token"))
            .json(&serde_json::json!({
                "grant_type": "client_credential",
                "appid": self.appid,
                "secret": self.secret,
                "force_refresh": false,
            }))
            .send()
            .await
            .map_err(|e| failed("access token", &e))?;
        let body = read_limited(answer, MAX_TOKEN_ANSWER).await?;
        let answer: TokenAnswer = serde_json::from_slice(&body)
            .map_err(|_| WechatError("the access token answer is not WeChat's JSON".to_owned()))?;
        let token = match (answer.access_token, answer.errcode) {
            (Some(t), None | Some(0))
                if !t.is_empty()
                    && t.len() <= MAX_TOKEN_CHARS
                    && t.bytes().all(|b| b.is_ascii_graphic()) =>
            {
                t
            }
            (_, Some(code)) => {
                metrics::counter!("jsjb_wechat_api_total", "call" => "token", "outcome" => "refused")
                    .increment(1);
                return Err(WechatError(format!(
                    "WeChat refused the access token: errcode {code}"
                )));
            }
            _ => {
                return Err(WechatError(
                    "the access token answer has no token".to_owned(),
                ));
            }
        };
        let valid = Duration::from_secs(u64::try_from(answer.expires_in.unwrap_or(0)).unwrap_or(0));
        metrics::counter!("jsjb_wechat_api_total", "call" => "token", "outcome" => "ok")
            .increment(1);
        tracing::info!(target: "jsjb::wechat", valid_secs = valid.as_secs(), "WeChat access token fetched");
        *slot = Some(CachedToken {
            value: token.clone(),
            good_until: started + valid.saturating_sub(REFRESH_MARGIN),
        });
        Ok(token)
    }

    /// Forgets `token` if it is still the cached one (another task may have replaced it).
    async fn forget(&self, token: &str) {
        let mut slot = self.token.lock().await;
        if slot.as_ref().is_some_and(|t| t.value == token) {
            *slot = None;
        }
    }

    async fn download(&self, token: &str, media_id: &str) -> Result<Downloaded, WechatError> {
        let mut url = self.endpoint("/cgi-bin/media/get");
        url.query_pairs_mut()
            .append_pair("access_token", token)
            .append_pair("media_id", media_id);
        let res = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| failed("media", &e))?;
        let status = res.status();
        let is_json = res
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("application/json") || t.starts_with("text/plain"));
        if !status.is_success() {
            return Err(WechatError(format!("WeChat's media API answered {status}")));
        }
        let body = read_limited(res, MAX_MEDIA_BYTES).await?;
        if is_json {
            let code = serde_json::from_slice::<ErrorAnswer>(&body)
                .ok()
                .and_then(|a| a.errcode)
                .unwrap_or(-1);
            if TOKEN_REFUSED.contains(&code) {
                return Ok(Downloaded::TokenRefused);
            }
            return Err(WechatError(format!(
                "WeChat's media API refused it: errcode {code}"
            )));
        }
        Ok(Downloaded::Bytes(body))
    }
}

/// A call that failed, without the URL (it carries the token).
fn failed(call: &str, e: &reqwest::Error) -> WechatError {
    metrics::counter!("jsjb_wechat_api_total", "call" => call.to_owned(), "outcome" => "failed")
        .increment(1);
    let why = if e.is_timeout() {
        "did not answer in time"
    } else if e.is_connect() {
        "could not be reached"
    } else {
        "could not be read"
    };
    WechatError(format!("WeChat's API ({call}) {why}"))
}

/// The body, refused once it passes `max` bytes (whatever Content-Length says).
async fn read_limited(mut res: reqwest::Response, max: usize) -> Result<Vec<u8>, WechatError> {
    if res.content_length().is_some_and(|n| n > max as u64) {
        return Err(WechatError(format!(
            "WeChat's answer is larger than {max} bytes"
        )));
    }
    let mut body = Vec::new();
    while let Some(chunk) = res
        .chunk()
        .await
        .map_err(|_| WechatError("WeChat's answer broke off".to_owned()))?
    {
        if body.len() + chunk.len() > max {
            return Err(WechatError(format!(
                "WeChat's answer is larger than {max} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A media id as WeChat makes them: letters, digits, `-` and `_`. Anything else is not
/// sent anywhere.
fn plausible_media_id(id: &str) -> bool {
    (1..=256).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

enum Sent {
    Ok,
    TokenRefused,
}

impl WechatApi {
    async fn post_text(
        &self,
        token: &str,
        openid: &str,
        text: &str,
    ) -> Result<Sent, WechatSendError> {
        let mut url = self.endpoint("/cgi-bin/message/custom/send");
        url.query_pairs_mut().append_pair("access_token", token);
        let res = self
            .client
            .post(url)
            .json(&serde_json::json!({
                "touser": openid,
                "msgtype": "text",
                "text": { "content": text },
            }))
            .send()
            .await
            .map_err(|e| WechatSendError::Failed(failed("message", &e).0))?;
        let status = res.status();
        let body = read_limited(res, MAX_SEND_ANSWER)
            .await
            .map_err(|e| WechatSendError::Failed(e.0))?;
        let code = serde_json::from_slice::<ErrorAnswer>(&body)
            .ok()
            .and_then(|a| a.errcode)
            .ok_or_else(|| {
                WechatSendError::Failed(format!("WeChat answered {status}, not its JSON"))
            })?;
        match code {
            0 => Ok(Sent::Ok),
            c if TOKEN_REFUSED.contains(&c) => Ok(Sent::TokenRefused),
            c if CANNOT_CARRY.contains(&c) => {
                Err(WechatSendError::Unavailable(format!("errcode {c}")))
            }
            c => Err(WechatSendError::Failed(format!("errcode {c}"))),
        }
    }
}

#[async_trait]
impl WechatClient for WechatApi {
    async fn send_text(&self, openid: &str, text: &str) -> Result<(), WechatSendError> {
        for _ in 0..2 {
            let token = self
                .token()
                .await
                .map_err(|e| WechatSendError::Failed(e.0))?;
            match self.post_text(&token, openid, text).await? {
                Sent::Ok => {
                    metrics::counter!("jsjb_wechat_api_total", "call" => "message", "outcome" => "ok")
                        .increment(1);
                    return Ok(());
                }
                Sent::TokenRefused => self.forget(&token).await,
            }
        }
        Err(WechatSendError::Failed(
            "WeChat refused a freshly fetched access token".to_owned(),
        ))
    }

    async fn fetch(&self, media_id: &str) -> Result<Vec<u8>, WechatError> {
        if !plausible_media_id(media_id) {
            return Err(WechatError("not a WeChat media id".to_owned()));
        }
        for _ in 0..2 {
            let token = self.token().await?;
            match self.download(&token, media_id).await? {
                Downloaded::Bytes(bytes) => {
                    metrics::counter!("jsjb_wechat_api_total", "call" => "media", "outcome" => "ok")
                        .increment(1);
                    return Ok(bytes);
                }
                Downloaded::TokenRefused => {
                    tracing::warn!(target: "jsjb::wechat", "WeChat refused the cached access token; fetching it again");
                    self.forget(&token).await;
                }
            }
        }
        Err(WechatError(
            "WeChat refused a freshly fetched access token".to_owned(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked() {
        assert!(WechatApi::new("ftp://x", "wx1", "s").is_err());
        assert!(WechatApi::new("https://api.weixin.qq.com", "", "s").is_err());
        assert!(WechatApi::new("https://api.weixin.qq.com", "wx1", " ").is_err());
        let api = WechatApi::new("http://127.0.0.1:9/relay/", "wx1", "s").expect("ok");
        assert_eq!(
            api.endpoint("/cgi-bin/media/get").as_str(),
            "http://127.0.0.1:9/relay/cgi-bin/media/get"
        );
    }

    #[test]
    fn only_plausible_media_ids_are_sent() {
        assert!(plausible_media_id(
            "eYJ1MbwPRJtOvIEabaxHs7TX2D-HV71s79GUxqdUkjm6Gs2Ed1KF3ulAOA9H1xG0"
        ));
        assert!(!plausible_media_id(""));
        assert!(!plausible_media_id("a&access_token=x"));
        assert!(!plausible_media_id("../etc"));
        assert!(!plausible_media_id(&"a".repeat(257)));
    }
}
