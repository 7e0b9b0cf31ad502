//! What the citizen endpoints share (held by the server's state): limits,
//! verification codes and the boundaries (SMS gateway, WeChat's API). The limits'
//! buckets, the codes and the tickets are kept in the database (every server node sees
//! them); these are their handles.

use std::sync::{Arc, RwLock};

use jsjb_storage::Storage;

use super::config::CitizenConfig;
use super::limits;
use super::otp::{self, LogSms, SmsSender};
use super::wechat_client::{NoWechatAccess, WechatClient};

/// What the citizen endpoints share: limits, verification codes and the boundaries
/// (SMS gateway, WeChat's API) behind traits.
pub struct Citizen {
    pub limits: limits::RateLimits,
    pub slots: Arc<tokio::sync::Semaphore>,
    pub codes: otp::OtpCodes,
    pub tickets: otp::Tickets,
    sms: RwLock<Arc<dyn SmsSender>>,
    wechat: RwLock<Arc<dyn WechatClient>>,
    /// The encrypted message mode's crypt; `None`: plaintext mode.
    pub wechat_crypt: Option<super::wechat_crypt::MsgCrypt>,
}

impl Citizen {
    pub fn new(config: &CitizenConfig, store: Arc<dyn Storage>) -> Citizen {
        Citizen {
            limits: limits::RateLimits::new(config, Arc::clone(&store)),
            slots: Arc::new(tokio::sync::Semaphore::new(
                config.public_concurrency.max(1),
            )),
            codes: otp::OtpCodes::new(Arc::clone(&store)),
            tickets: otp::Tickets::new(store),
            sms: RwLock::new(match &config.sms.provider {
                super::config::SmsProvider::Aliyun => {
                    match super::aliyun_sms::AliyunSms::new(&config.sms) {
                        Ok(sender) => Arc::new(sender) as Arc<dyn SmsSender>,
                        // Config::validate refuses this before the server starts.
                        Err(e) => {
                            tracing::error!(%e, "the SMS gateway's settings; codes go to the log");
                            Arc::new(LogSms::default())
                        }
                    }
                }
                // The demo's: the code goes to the log, nothing reaches a phone.
                super::config::SmsProvider::Log => Arc::new(LogSms::default()),
            }),
            // Config::validate refuses bad WeChat settings before the server starts.
            wechat: RwLock::new(match config.wechat_api() {
                Ok(Some(api)) => Arc::new(api) as Arc<dyn WechatClient>,
                Ok(None) => Arc::new(NoWechatAccess),
                Err(e) => {
                    tracing::error!(%e, "the WeChat media API's settings; media stay references");
                    Arc::new(NoWechatAccess)
                }
            }),
            wechat_crypt: config.wechat_crypt().unwrap_or_else(|e| {
                tracing::error!(%e, "the WeChat encrypted mode's settings");
                None
            }),
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

    pub fn wechat(&self) -> Arc<dyn WechatClient> {
        match self.wechat.read() {
            Ok(s) => Arc::clone(&s),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    pub fn set_wechat(&self, media: Arc<dyn WechatClient>) {
        match self.wechat.write() {
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
        self.limits
            .check_phone(&format!("sms:{phone}"), now)
            .await?;
        let code = self.codes.issue(&purpose.key(), now).await?;
        let template = match purpose {
            CodePurpose::Letter { .. } => otp::SmsTemplate::LetterCode,
            CodePurpose::Rating { .. } => otp::SmsTemplate::RatingCode,
        };
        let message = otp::SmsMessage::code(template, &code);
        self.sms().send(phone, &message).await.map_err(|e| {
            // The gateway's answer stays in the log; the writer is asked to try later.
            tracing::error!(%e, "sending a verification code");
            crate::error::ApiError::Busy
        })
    }
}
