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

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sha2::{Digest, Sha256};

use crate::cidr::Cidr;
use crate::client_addr::ClientAddr;
use crate::error::ApiError;
use crate::state::AppState;

pub const HTTP_REQUESTS: &str = "jsjb_http_requests_total";
pub const HTTP_DURATION: &str = "jsjb_http_request_duration_seconds";
pub const SSE_SUBSCRIBERS: &str = "jsjb_sse_subscribers";
pub const SYNC_PAGE_CHANGES: &str = "jsjb_sync_page_changes";
pub const LOGIN_FAILURES: &str = "jsjb_login_failures_total";
pub const LETTERS_RECEIVED: &str = "jsjb_letters_received_total";
pub use jsjb_storage_sqlite::telemetry::{
    COMMIT_DURATION as DB_COMMIT_DURATION, COMMIT_JOBS as DB_COMMIT_JOBS,
    QUEUE_DEPTH as DB_QUEUE_DEPTH,
};

/// The route label of a request that matched no route (404s, probes).
pub const UNMATCHED: &str = "unmatched";

/// The shortest `--metrics-token` accepted: a scraper's secret, not a password to type.
const MIN_TOKEN_CHARS: usize = 16;

/// Who may read `/metrics`. Neither set: nobody (the route answers 404 to all).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct MetricsConfig {
    /// Networks whose clients may read /metrics, as addresses or CIDR blocks separated
    /// by commas (`10.1.0.0/16,127.0.0.1`). The client address is the one the
    /// login limits use (behind `--trusted-proxies`, the forwarded client's), so a
    /// request through the public proxy is not "local". Empty and no token: /metrics
    /// answers 404 to everyone.
    #[arg(
        long = "metrics-allow",
        env = "JSJB_METRICS_ALLOW",
        value_delimiter = ',',
        global = true
    )]
    pub allow: Vec<Cidr>,
    /// A bearer token (at least 16 characters) that lets a scraper read /metrics from
    /// any address: `Authorization: Bearer <token>`. Give it by environment, not on
    /// the command line (which other users of the machine can list).
    #[arg(
        long = "metrics-token",
        env = "JSJB_METRICS_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub token: Option<String>,
}

impl MetricsConfig {
    pub fn validate(&self) -> Result<(), crate::config::ConfigError> {
        match &self.token {
            Some(token) if token.chars().count() < MIN_TOKEN_CHARS || token.len() > 4096 => {
                Err(crate::config::ConfigError::Limit {
                    name: "metrics token's length (at least 16 characters)",
                    value: token.chars().count() as u64,
                    max: 4096,
                })
            }
            _ => Ok(()),
        }
    }

    /// Whether a caller at `client` presenting `bearer` may read the metrics.
    pub fn admits(&self, client: IpAddr, bearer: Option<&str>) -> bool {
        if self.allow.iter().any(|net| net.contains(client)) {
            return true;
        }
        match (&self.token, bearer) {
            // Compared as digests: equal-length, so the comparison's time says nothing
            // about how much of the token a guess got right.
            (Some(token), Some(given)) => {
                Sha256::digest(token.as_bytes()) == Sha256::digest(given.as_bytes())
            }
            _ => false,
        }
    }
}

/// Histogram buckets (Prometheus histograms, not summaries, so that a dashboard can
/// aggregate them across servers and time).
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const COMMIT_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];
const GROUP_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];
const PAGE_BUCKETS: &[f64] = &[0.0, 1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 200.0, 500.0];

/// The process's recorder: one per process, as the facade allows one. Every server
/// in the process (tests start several) counts into it.
static RECORDER: OnceLock<PrometheusHandle> = OnceLock::new();

/// The handle that renders the metrics, installing the recorder on first use.
pub fn recorder() -> PrometheusHandle {
    RECORDER.get_or_init(install).clone()
}

fn install() -> PrometheusHandle {
    let mut builder = PrometheusBuilder::new();
    for (name, buckets) in [
        (HTTP_DURATION, LATENCY_BUCKETS),
        (DB_COMMIT_DURATION, COMMIT_BUCKETS),
        (DB_COMMIT_JOBS, GROUP_BUCKETS),
        (SYNC_PAGE_CHANGES, PAGE_BUCKETS),
    ] {
        builder = match builder.set_buckets_for_metric(Matcher::Full(name.to_owned()), buckets) {
            Ok(builder) => builder,
            // Only an empty bucket list fails, and none is: keep the summaries then.
            Err(e) => {
                tracing::warn!(%e, "metrics: histogram buckets refused; using summaries");
                PrometheusBuilder::new()
            }
        };
    }
    let recorder = builder.build_recorder();
    let handle = recorder.handle();
    if metrics::set_global_recorder(recorder).is_err() {
        tracing::warn!("another metrics recorder is installed; /metrics will be empty");
    }
    describe();
    handle.run_upkeep();
    handle
}

fn describe() {
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by route template, method and status"
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Time to answer an HTTP request (to the response's headers; SSE streams stay open after)"
    );
    describe_gauge!(SSE_SUBSCRIBERS, "Desktops connected to the sync stream");
    describe_histogram!(SYNC_PAGE_CHANGES, "Changes per sync page served");
    describe_counter!(LOGIN_FAILURES, "Refused logins, by the answer's code");
    describe_counter!(
        LETTERS_RECEIVED,
        "Letters taken in (duplicates not counted), by channel"
    );
    describe_gauge!(
        DB_QUEUE_DEPTH,
        "Write jobs waiting for the database writer thread"
    );
    describe_histogram!(
        DB_COMMIT_DURATION,
        Unit::Seconds,
        "Time the database writer took for one group commit (BEGIN to COMMIT, fsync included)"
    );
    describe_histogram!(DB_COMMIT_JOBS, "Write jobs committed together in one group");
}

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

    fn ip(s: &str) -> IpAddr {
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
        assert!(
            MetricsConfig {
                allow: vec![],
                token: Some("short".to_owned())
            }
            .validate()
            .is_err()
        );
        assert!(config.validate().is_ok());
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
