//! The chief's sign-off on the server: signing keys (registered by chiefs, activated
//! under dual control by two independent admins or by the chief's previous key, revoked
//! by admins or the owner), delegations (代签), the verification of a signed approval
//! before it is accepted, and the signed forms kept with the case for desktops and
//! for offline verification. The cryptography is `jsjb_signoff`; the form and its
//! canonical bytes are `jsjb_core::form`.

pub mod api;
pub mod approval;

pub use approval::{Capacity, form_for, post_signed_action, sign_and_apply};
pub use jsjb_storage::signoff::SignoffStore;

use axum::extract::DefaultBodyLimit;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

/// The sign-off routes, merged into the API (and its OpenAPI document) by the router.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(api::list_keys, api::register_key))
        .routes(routes!(api::activate_key))
        .routes(routes!(api::endorse_key))
        .routes(routes!(api::revoke_key))
        .routes(routes!(api::list_delegations, api::grant_delegation))
        .routes(routes!(api::revoke_delegation))
        .routes(routes!(api::get_signed_form))
        .routes(routes!(api::get_handwriting))
        .routes(routes!(api::get_signed_form_pdf))
        .layer(DefaultBodyLimit::max(SIGNED_BODY_LIMIT))
}

/// A signed approval carries the handwriting image in base64.
pub const SIGNED_BODY_LIMIT: usize = 320 * 1024;
