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
