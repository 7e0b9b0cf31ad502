//! WeChat's server API as the server uses it — downloading media at intake, sending a
//! writer a message afterwards — a boundary behind a trait: held by the citizen side's
//! shared state, used by the WeChat callback and the notices to writers.

use async_trait::async_trait;

#[derive(Debug, thiserror::Error)]
#[error("WeChat's API: {0}")]
pub struct WechatError(pub String);

/// Why a message did not reach the writer on WeChat.
#[derive(Debug, thiserror::Error)]
pub enum WechatSendError {
    /// WeChat will not take it at all — no API access configured, the writer outside
    /// the 48 hours after their last message (45015), unfollowed (43004), the reply
    /// quota used (45047): another channel (SMS) must carry it.
    #[error("WeChat cannot carry this message: {0}")]
    Unavailable(String),
    /// A fault that another try may not meet (no connection, a busy API).
    #[error("WeChat did not take the message: {0}")]
    Failed(String),
}

/// WeChat's API (`cgi-bin/media/get`, `cgi-bin/message/custom/send`), behind a trait.
#[async_trait]
pub trait WechatClient: Send + Sync + 'static {
    async fn fetch(&self, media_id: &str) -> Result<Vec<u8>, WechatError>;
    /// A customer-service text message (客服消息) to `openid`.
    async fn send_text(&self, openid: &str, text: &str) -> Result<(), WechatSendError>;
}

/// The default: this server has no access token for WeChat's API (and cannot reach
/// it), so media are kept as references (MediaId) in the letter for the desk, and
/// messages to writers go by SMS.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoWechatAccess;

#[async_trait]
impl WechatClient for NoWechatAccess {
    async fn fetch(&self, _media_id: &str) -> Result<Vec<u8>, WechatError> {
        Err(WechatError(
            "no access to WeChat's media API is configured".to_owned(),
        ))
    }

    async fn send_text(&self, _openid: &str, _text: &str) -> Result<(), WechatSendError> {
        Err(WechatSendError::Unavailable(
            "no access to WeChat's API is configured".to_owned(),
        ))
    }
}
