//! The citizen side: the web portal (server-rendered, works without JavaScript), the
//! WeChat official-account callback, the Weibo direct-message webhook, and what keeps
//! them from hurting the desks (rate limits, duplicate detection, their own
//! concurrency limit). Letters from every channel go through
//! [`crate::intake::accept_public_letter`].

pub mod conversation;
pub mod limits;
pub mod otp;
mod pages;
pub mod portal;
pub mod ratings;
pub mod wechat;
pub mod weibo;

use std::sync::{Arc, RwLock};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use chrono::Duration;

use crate::state::AppState;

pub use otp::{LogSms, SmsSender};
pub use wechat::{NoMediaAccess, WechatMedia};

/// Configuration of the citizen endpoints (flattened into [`crate::Config`]).
#[derive(Debug, Clone, clap::Args)]
pub struct CitizenConfig {
    /// Citizen requests (portal, public API, WeChat, Weibo) served at once; more are
    /// refused with 503 so that a flood never takes the desks' capacity.
    #[arg(
        long,
        env = "JSJB_PUBLIC_CONCURRENCY",
        default_value_t = 32,
        global = true
    )]
    pub public_concurrency: usize,
    /// Per client address: submissions, code requests and progress look-ups in a burst…
    #[arg(long, env = "JSJB_RATE_IP_BURST", default_value_t = 20, global = true)]
    pub rate_ip_burst: u32,
    /// …and how many more each minute after it.
    #[arg(
        long,
        env = "JSJB_RATE_IP_PER_MINUTE",
        default_value_t = 10,
        global = true
    )]
    pub rate_ip_per_minute: u32,
    /// Per phone number (and per WeChat/Weibo sender): SMS codes and letters in a burst…
    #[arg(
        long,
        env = "JSJB_RATE_PHONE_BURST",
        default_value_t = 5,
        global = true
    )]
    pub rate_phone_burst: u32,
    /// …and how many more each hour after it.
    #[arg(
        long,
        env = "JSJB_RATE_PHONE_PER_HOUR",
        default_value_t = 10,
        global = true
    )]
    pub rate_phone_per_hour: u32,
    /// The same phone sending the same text within this many minutes gets the first
    /// letter's tracking code back instead of a second letter (0: off).
    #[arg(
        long,
        env = "JSJB_DUPLICATE_MINUTES",
        default_value_t = 10,
        global = true
    )]
    pub duplicate_minutes: u32,
    /// The WeChat official account's server token (公众号 基本配置 → 令牌 Token).
    /// Without it `/wechat/callback` answers 404.
    #[arg(long, env = "JSJB_WECHAT_TOKEN", global = true, hide_env_values = true)]
    pub wechat_token: Option<String>,
    /// The official account's AppID (for the media API; logged with each message).
    #[arg(long, env = "JSJB_WECHAT_APPID", global = true)]
    pub wechat_appid: Option<String>,
    /// The shared secret of the Weibo relay's HMAC signatures. Without it
    /// `/weibo/webhook` answers 404.
    #[arg(long, env = "JSJB_WEIBO_SECRET", global = true, hide_env_values = true)]
    pub weibo_secret: Option<String>,
}

impl Default for CitizenConfig {
    fn default() -> Self {
        CitizenConfig {
            public_concurrency: 32,
            rate_ip_burst: 20,
            rate_ip_per_minute: 10,
            rate_phone_burst: 5,
            rate_phone_per_hour: 10,
            duplicate_minutes: 10,
            wechat_token: None,
            wechat_appid: None,
            weibo_secret: None,
        }
    }
}

impl CitizenConfig {
    pub fn duplicate_window(&self) -> Duration {
        Duration::minutes(i64::from(self.duplicate_minutes))
    }
}

/// What the citizen endpoints share: limits, verification codes and the boundaries
/// (SMS gateway, WeChat's media API) behind traits.
pub struct Citizen {
    pub limits: limits::RateLimits,
    pub slots: Arc<tokio::sync::Semaphore>,
    pub codes: otp::OtpCodes,
    pub tickets: otp::Tickets,
    sms: RwLock<Arc<dyn SmsSender>>,
    wechat_media: RwLock<Arc<dyn WechatMedia>>,
}

impl Citizen {
    pub fn new(config: &CitizenConfig) -> Citizen {
        Citizen {
            limits: limits::RateLimits::new(config),
            slots: Arc::new(tokio::sync::Semaphore::new(
                config.public_concurrency.max(1),
            )),
            codes: otp::OtpCodes::default(),
            tickets: otp::Tickets::default(),
            // No SMS gateway is configured on this platform yet: the code goes to the log.
            sms: RwLock::new(Arc::new(LogSms::default())),
            wechat_media: RwLock::new(Arc::new(NoMediaAccess)),
        }
    }

    pub fn sms(&self) -> Arc<dyn SmsSender> {
        match self.sms.read() {
            Ok(s) => Arc::clone(&s),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    pub fn set_sms(&self, sender: Arc<dyn SmsSender>) {
        match self.sms.write() {
            Ok(mut slot) => *slot = sender,
            Err(poisoned) => *poisoned.into_inner() = sender,
        }
    }

    pub fn wechat_media(&self) -> Arc<dyn WechatMedia> {
        match self.wechat_media.read() {
            Ok(s) => Arc::clone(&s),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    pub fn set_wechat_media(&self, media: Arc<dyn WechatMedia>) {
        match self.wechat_media.write() {
            Ok(mut slot) => *slot = media,
            Err(poisoned) => *poisoned.into_inner() = media,
        }
    }
}

/// What a verification code is for: the key it is issued and checked under, so that a
/// code sent for one purpose cannot be used for another.
pub enum CodePurpose<'a> {
    /// Writing a letter from this phone (the portal and the public API).
    Letter { phone: &'a str },
    /// Rating the letter with this tracking code (sent to the writer's phone).
    Rating { tracking_code: &'a str },
}

impl CodePurpose<'_> {
    pub fn key(&self) -> String {
        match self {
            CodePurpose::Letter { phone } => format!("letter:{phone}"),
            CodePurpose::Rating { tracking_code } => format!("rate:{tracking_code}"),
        }
    }
}

impl Citizen {
    /// Sends a fresh code for `purpose` to `phone`, within the per-phone SMS limit.
    /// The one way codes leave this server (portal, public API, rating).
    pub async fn send_code(
        &self,
        purpose: CodePurpose<'_>,
        phone: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), crate::error::ApiError> {
        self.limits.check_phone(&format!("sms:{phone}"), now)?;
        let code = self.codes.issue(&purpose.key(), now);
        let what = match purpose {
            CodePurpose::Letter { .. } => "您的验证码",
            CodePurpose::Rating { .. } => "您评价办理结果的验证码",
        };
        let text = format!("【深圳公安局长信箱】{what}是 {code}，5 分钟内有效。请勿告诉他人。");
        self.sms().send(phone, &text).await.map_err(|e| {
            tracing::error!(%e, "sending a verification code");
            crate::error::ApiError::Internal(e.to_string())
        })
    }
}

/// The portal pages and the messaging callbacks (not in the OpenAPI document: they
/// speak HTML and the platforms' own formats).
pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(portal::routes())
        .merge(
            Router::new()
                .route(
                    "/wechat/callback",
                    axum::routing::get(wechat::verify_url).post(wechat::receive),
                )
                .layer(DefaultBodyLimit::max(wechat::MAX_BODY)),
        )
        .merge(
            Router::new()
                .route("/weibo/webhook", axum::routing::post(weibo::receive))
                .layer(DefaultBodyLimit::max(weibo::MAX_BODY)),
        )
}
