//! The citizen endpoints' configuration, flattened into the server's. A leaf.

use chrono::Duration;

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
    /// The official account's AppID (公众号 基本配置 → 开发者ID): checked inside every
    /// encrypted message, and with the AppSecret the media API's credentials.
    #[arg(long, env = "JSJB_WECHAT_APPID", global = true)]
    pub wechat_appid: Option<String>,
    /// The AppSecret (开发者密码). With it, images and voice clips are downloaded from
    /// WeChat's media API at intake; without it they stay MediaId references.
    #[arg(
        long,
        env = "JSJB_WECHAT_APPSECRET",
        global = true,
        hide_env_values = true
    )]
    pub wechat_appsecret: Option<String>,
    /// The EncodingAESKey (消息加解密密钥, 43 characters). With it every pushed message
    /// must come encrypted (安全模式 or 兼容模式) and the replies go encrypted; a
    /// plaintext push is refused.
    #[arg(
        long,
        env = "JSJB_WECHAT_ENCODING_AES_KEY",
        global = true,
        hide_env_values = true
    )]
    pub wechat_encoding_aes_key: Option<String>,
    /// WeChat's API address (or an intranet relay that forwards to it).
    #[arg(
        long,
        env = "JSJB_WECHAT_API",
        default_value = "https://api.weixin.qq.com",
        global = true
    )]
    pub wechat_api: String,
    /// The shared secret of the Weibo relay's HMAC signatures. Without it
    /// `/weibo/webhook` answers 404.
    #[arg(long, env = "JSJB_WEIBO_SECRET", global = true, hide_env_values = true)]
    pub weibo_secret: Option<String>,
    /// The AppSecret of the Weibo app bound to the account's fan-service platform (开发
    ///模式), for Weibo's own push to `/weibo/push`. Without it `/weibo/push` answers 404.
    #[arg(
        long,
        env = "JSJB_WEIBO_APP_SECRET",
        global = true,
        hide_env_values = true
    )]
    pub weibo_app_secret: Option<String>,
    /// How often this node looks for notices to writers to send (seconds); 0: this
    /// node sends none (another node does; every node may).
    #[arg(
        long,
        env = "JSJB_NOTICE_POLL_SECS",
        default_value_t = 2,
        global = true
    )]
    pub notice_poll_secs: u64,
    /// The portal's public address (e.g. `https://xinxiang.sz.gov.cn`): the closure
    /// notice links to the letter's rating page there. Without it the notice says
    /// where to rate in words.
    #[arg(long, env = "JSJB_PORTAL_URL", global = true)]
    pub portal_url: Option<String>,
    #[command(flatten)]
    pub sms: SmsConfig,
}

/// Which gateway sends SMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SmsProvider {
    /// Nothing is sent: the text goes to the log (target `jsjb::sms`) and the portal
    /// says so. The demo's, and a platform's until its gateway contract is signed.
    Log,
    /// Alibaba Cloud SMS (短信服务, `dysmsapi` `SendSms`, RPC signature v1).
    Aliyun,
}

/// The SMS gateway (flattened into [`CitizenConfig`]). Its `Debug` leaves the secret out.
#[derive(Clone, clap::Args)]
pub struct SmsConfig {
    /// `log` (nothing is sent) or `aliyun` (Alibaba Cloud SMS).
    #[arg(
        id = "sms_provider",
        long = "sms-provider",
        env = "JSJB_SMS_PROVIDER",
        value_enum,
        default_value = "log",
        global = true
    )]
    pub provider: SmsProvider,
    /// The gateway's address (the provider's, or an intranet relay that forwards to it).
    #[arg(
        id = "sms_endpoint",
        long = "sms-endpoint",
        env = "JSJB_SMS_ENDPOINT",
        default_value = "https://dysmsapi.aliyuncs.com/",
        global = true
    )]
    pub endpoint: String,
    /// The AccessKey pair of a RAM user allowed only `dysmsapi:SendSms`.
    #[arg(
        id = "sms_access_key_id",
        long = "sms-access-key-id",
        env = "JSJB_SMS_ACCESS_KEY_ID",
        global = true
    )]
    pub access_key_id: Option<String>,
    #[arg(
        id = "sms_access_key_secret",
        long = "sms-access-key-secret",
        env = "JSJB_SMS_ACCESS_KEY_SECRET",
        global = true,
        hide_env_values = true
    )]
    pub access_key_secret: Option<String>,
    /// The approved signature (签名), e.g. `深圳公安局长信箱`.
    #[arg(
        id = "sms_sign_name",
        long = "sms-sign-name",
        env = "JSJB_SMS_SIGN_NAME",
        global = true
    )]
    pub sign_name: Option<String>,
    /// The approved template for the letter code (`…${code}…`), e.g. `SMS_123456789`.
    #[arg(
        id = "sms_template_letter_code",
        long = "sms-template-letter-code",
        env = "JSJB_SMS_TEMPLATE_LETTER_CODE",
        global = true
    )]
    pub template_letter_code: Option<String>,
    /// The approved template for the rating code (`…${code}…`).
    #[arg(
        id = "sms_template_rating_code",
        long = "sms-template-rating-code",
        env = "JSJB_SMS_TEMPLATE_RATING_CODE",
        global = true
    )]
    pub template_rating_code: Option<String>,
    /// The approved notification template for the notices to writers (`${content}`).
    /// Without it the gateway sends codes only and notices fail visibly to the desk.
    #[arg(
        id = "sms_template_notice",
        long = "sms-template-notice",
        env = "JSJB_SMS_TEMPLATE_NOTICE",
        global = true
    )]
    pub template_notice: Option<String>,
}

impl std::fmt::Debug for SmsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsConfig")
            .field("provider", &self.provider)
            .field(
                "endpoint",
                &"(not shown: a relay's URL may carry credentials)",
            )
            .field("access_key_id", &self.access_key_id)
            .field(
                "access_key_secret",
                &self.access_key_secret.as_ref().map(|_| "***"),
            )
            .field("sign_name", &self.sign_name)
            .field("template_letter_code", &self.template_letter_code)
            .field("template_rating_code", &self.template_rating_code)
            .field("template_notice", &self.template_notice)
            .finish()
    }
}

impl Default for SmsConfig {
    fn default() -> Self {
        SmsConfig {
            provider: SmsProvider::Log,
            endpoint: "https://dysmsapi.aliyuncs.com/".to_owned(),
            access_key_id: None,
            access_key_secret: None,
            sign_name: None,
            template_letter_code: None,
            template_rating_code: None,
            template_notice: None,
        }
    }
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
            wechat_appsecret: None,
            wechat_encoding_aes_key: None,
            wechat_api: "https://api.weixin.qq.com".to_owned(),
            weibo_secret: None,
            weibo_app_secret: None,
            notice_poll_secs: 2,
            portal_url: None,
            sms: SmsConfig::default(),
        }
    }
}

/// A setting given but empty counts as not given.
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl CitizenConfig {
    /// The encrypted message mode's crypt, when an EncodingAESKey is set (it needs the
    /// token and the AppID).
    pub fn wechat_crypt(&self) -> Result<Option<super::wechat_crypt::MsgCrypt>, String> {
        let Some(key) = given(&self.wechat_encoding_aes_key) else {
            return Ok(None);
        };
        let (Some(token), Some(appid)) = (given(&self.wechat_token), given(&self.wechat_appid))
        else {
            return Err(
                "JSJB_WECHAT_ENCODING_AES_KEY needs JSJB_WECHAT_TOKEN and JSJB_WECHAT_APPID"
                    .to_owned(),
            );
        };
        super::wechat_crypt::MsgCrypt::new(token, key, appid)
            .map(Some)
            .map_err(|e| e.to_string())
    }

    /// The media API's client, when an AppSecret is set (it needs the AppID).
    pub fn wechat_api(&self) -> Result<Option<super::wechat_api::WechatApi>, String> {
        let Some(secret) = given(&self.wechat_appsecret) else {
            return Ok(None);
        };
        super::wechat_api::WechatApi::new(
            &self.wechat_api,
            given(&self.wechat_appid).unwrap_or_default(),
            secret,
        )
        .map(Some)
        .map_err(|e| e.to_string())
    }

    pub fn duplicate_window(&self) -> Duration {
        Duration::minutes(i64::from(self.duplicate_minutes))
    }
}
