//! What the server counts, and `/metrics`, where a Prometheus scraper reads it.
//!
//! The areas emit through the `metrics` facade (as they log through `tracing`), so the
//! storage writer in `jsjb-storage-sqlite` counts without knowing who reads; this module
//! installs the one recorder, a Prometheus one, and serves its text format.
//!
//! Labels are bounded sets only: a request is counted under its route's template
//! (`/api/v1/letters/{id}`), never its path, which carries ids; anything that matched
//! no route is `unmatched`. Nothing citizen-written or secret is ever a label.
//!
//! `/metrics` is not for the internet: it answers only callers inside `--metrics-allow`
//! (judged on the client address, so after `--trusted-proxies`) or bearing
//! `--metrics-token`. Everyone else gets the same 404 as a path that does not exist.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics::{counter, histogram};
use metrics_exporter_prometheus::PrometheusHandle;

pub mod access;
pub mod recorder;

use crate::client_addr::ClientAddr;
use crate::error::ApiError;
use crate::state::AppState;
pub use access::MetricsConfig;
pub use recorder::{
    DB_COMMIT_DURATION, DB_COMMIT_JOBS, DB_QUEUE_DEPTH, HTTP_DURATION, HTTP_REQUESTS,
    LETTERS_RECEIVED, LOGIN_FAILURES, SSE_SUBSCRIBERS, SYNC_PAGE_CHANGES, recorder,
};

/// The route label of a request that matched no route (404s, probes).
pub const UNMATCHED: &str = "unmatched";

/// Keeps the recorder's memory bounded between scrapes (folds histogram samples).
/// Runs beside the server (see `crate::serve`).
pub fn spawn_upkeep(handle: PrometheusHandle) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            tick.tick().await;
            handle.run_upkeep();
        }
    })
}

/// `GET /metrics`: the Prometheus text format, for allowed callers only.
pub async fn get_metrics(
    State(state): State<AppState>,
    client: ClientAddr,
    headers: HeaderMap,
) -> Response {
    if !state.config.metrics.admits(client.0, bearer(&headers)) {
        return ApiError::NoRoute.into_response();
    }
    let mut response = state.metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Where the inner middleware ([`name_route`]) leaves the route's template for the
/// outer one ([`count_request`]): shared, so that the label is known even when the
/// inner future is dropped (a request timed out by `http::time_limits`).
#[derive(Clone, Default)]
struct RouteSlot(Arc<OnceLock<String>>);

/// Innermost, on the matched routes only (`route_layer`): notes the route's template.
pub async fn name_route(request: Request, next: Next) -> Response {
    if let (Some(slot), Some(matched)) = (
        request.extensions().get::<RouteSlot>(),
        request.extensions().get::<MatchedPath>(),
    ) {
        let _ = slot.0.set(matched.as_str().to_owned());
    }
    next.run(request).await
}

/// Outermost: counts every answered request and how long its answer took, the
/// fallbacks, timeouts and caught panics included.
pub async fn count_request(mut request: Request, next: Next) -> Response {
    let slot = RouteSlot::default();
    request.extensions_mut().insert(slot.clone());
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let elapsed = started.elapsed().as_secs_f64();
    let route = slot.0.get().map_or(UNMATCHED, String::as_str).to_owned();
    counter!(HTTP_REQUESTS,
        "route" => route.clone(),
        "method" => method,
        "status" => response.status().as_u16().to_string())
    .increment(1);
    histogram!(HTTP_DURATION, "route" => route, "method" => method).record(elapsed);
    response
}

/// The method as a label: the standard ones by name, any extension method as `other`
/// (a client may send any token as a method).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// One desktop on the sync stream, for as long as this lives (held by the stream).
pub struct SseSubscriber(());

impl SseSubscriber {
    pub fn enter() -> SseSubscriber {
        metrics::gauge!(SSE_SUBSCRIBERS).increment(1.0);
        SseSubscriber(())
    }
}

impl Drop for SseSubscriber {
    fn drop(&mut self) {
        metrics::gauge!(SSE_SUBSCRIBERS).decrement(1.0);
    }
}

/// A sync page of `changes` changes was served.
pub fn sync_page(changes: usize) {
    histogram!(SYNC_PAGE_CHANGES).record(changes as f64);
}

/// A login was refused with `error` (its code is the label: a handful of values).
pub fn login_failed(error: &ApiError) {
    counter!(LOGIN_FAILURES, "reason" => error.code()).increment(1);
}

/// A letter came in through `channel` (a new one, not a duplicate or a retry).
pub fn letter_received(channel: jsjb_core::letter::Channel) {
    counter!(LETTERS_RECEIVED, "channel" => channel.as_str()).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> std::net::IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn only_allowed_networks_or_the_token_read_the_metrics() {
        let closed = MetricsConfig::default();
        assert!(!closed.admits(ip("127.0.0.1"), None));
        assert!(!closed.admits(ip("127.0.0.1"), Some("anything")));
        let config = MetricsConfig {
            allow: vec!["10.1.0.0/16".parse().expect("cidr")],
            token: Some("a-scraper-secret-of-some-length".to_owned()),
        };
        assert!(config.admits(ip("10.1.2.3"), None));
        assert!(!config.admits(ip("10.2.0.1"), None));
        assert!(!config.admits(ip("203.0.113.9"), Some("a-scraper-secret")));
        assert!(config.admits(ip("203.0.113.9"), Some("a-scraper-secret-of-some-length")));
        assert_eq!(
            MetricsConfig {
                allow: vec![],
                token: Some("short".to_owned())
            }
            .bad_token_length(),
            Some(5)
        );
        assert_eq!(config.bad_token_length(), None);
    }

    #[test]
    fn bearer_tokens_are_read_from_the_header() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer(&headers), None);
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(bearer(&headers), Some("abc"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&headers), None);
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("bearer "));
        assert_eq!(bearer(&headers), None);
    }

    #[test]
    fn extension_methods_share_one_label() {
        let odd = Method::from_bytes(b"BREW").expect("method");
        assert_eq!(method_label(&odd), "other");
        assert_eq!(method_label(&Method::GET), "GET");
    }
}
