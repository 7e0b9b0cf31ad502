//! The citizen side: the web portal (server-rendered, works without JavaScript), the
//! WeChat official-account callback, the Weibo direct-message webhook, and what keeps
//! them from hurting the desks (rate limits, duplicate detection, their own
//! concurrency limit). Letters from every channel go through
//! [`crate::intake::accept_public_letter`].

pub mod aliyun_sms;
pub mod config;
pub mod conversation;
pub mod guards;
pub mod limits;
mod next_step;
pub mod otp;
pub(crate) mod pages;
pub mod portal;
pub mod ratings;
pub mod shared;
pub mod wechat;
pub mod wechat_api;
pub mod wechat_client;
pub mod wechat_crypt;
pub mod weibo;
pub mod weibo_push;

use axum::Router;
use axum::extract::DefaultBodyLimit;

use crate::state::AppState;

pub use config::CitizenConfig;
pub use otp::{LogSms, SmsSender};
pub use shared::{Citizen, CodePurpose};
pub use wechat_client::{NoWechatAccess, WechatClient, WechatError, WechatSendError};

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
        .merge(
            Router::new()
                .route(
                    "/weibo/push",
                    axum::routing::get(weibo_push::verify_url).post(weibo_push::receive),
                )
                .layer(DefaultBodyLimit::max(weibo_push::MAX_BODY)),
        )
}
