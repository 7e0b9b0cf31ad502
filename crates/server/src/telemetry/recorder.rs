//! The process's one metrics recorder (Prometheus), the names of what the server counts
//! and their descriptions: a leaf, so that the state can hold the handle without
//! depending on `/metrics`' routes (`telemetry.rs`).

use std::sync::OnceLock;

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

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
