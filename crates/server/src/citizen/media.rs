//! WeChat's media API, a boundary behind a trait: held by the citizen side's shared
//! state, used by the WeChat callback.

use async_trait::async_trait;

#[derive(Debug, thiserror::Error)]
#[error("WeChat media could not be fetched: {0}")]
pub struct MediaError(pub String);

/// WeChat's media API (`cgi-bin/media/get`): a boundary, behind a trait.
#[async_trait]
pub trait WechatMedia: Send + Sync + 'static {
    async fn fetch(&self, media_id: &str) -> Result<Vec<u8>, MediaError>;
}

/// The default: this server has no access token for WeChat's API (and cannot reach
/// it), so media are kept as references (MediaId) in the letter for the desk.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMediaAccess;

#[async_trait]
impl WechatMedia for NoMediaAccess {
    async fn fetch(&self, _media_id: &str) -> Result<Vec<u8>, MediaError> {
        Err(MediaError(
            "no access to WeChat's media API is configured".to_owned(),
        ))
    }
}
