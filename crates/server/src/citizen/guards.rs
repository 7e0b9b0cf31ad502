//! The citizen endpoints' extractors: a concurrency slot and the client address after
//! its rate limit (the limits themselves are `limits.rs`, held in the shared state).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use tokio::sync::OwnedSemaphorePermit;

use crate::client_addr::ClientAddr;
use crate::error::ApiError;
use crate::state::AppState;

/// One of the citizen endpoints' concurrency slots, held for the whole handler. The
/// slots are this node's own (in memory, not in the database like the rate limits):
/// they protect this process's workers and memory, whatever the other nodes carry.
pub struct PublicSlot(#[allow(dead_code)] OwnedSemaphorePermit);

impl FromRequestParts<AppState> for PublicSlot {
    type Rejection = ApiError;

    async fn from_request_parts(
        _parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        state
            .citizen
            .slots
            .clone()
            .try_acquire_owned()
            .map(PublicSlot)
            .map_err(|_| ApiError::Busy)
    }
}

/// The client address (see [`crate::client_addr`]: the peer, or the client a trusted
/// proxy names), after its rate limit was taken. IPv6 clients share a limit per /64.
pub struct LimitedIp(pub String);

impl FromRequestParts<AppState> for LimitedIp {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let client = ClientAddr::from_parts(parts, state);
        state
            .citizen
            .limits
            .check_ip(&client.bucket(), state.time.now())
            .await?;
        Ok(LimitedIp(client.0.to_string()))
    }
}

/// The rate-limit key of the request's client: its address, or its /64 for IPv6.
pub fn client_bucket(parts: &Parts, state: &AppState) -> String {
    ClientAddr::from_parts(parts, state).bucket()
}
