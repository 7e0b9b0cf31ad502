//! The names under which the writer reports itself through the `metrics` facade; the
//! server's `/metrics` renders them (`crates/server/src/telemetry.rs`), and nothing is
//! recorded when no recorder is installed (the tools, the desktop's tests).

/// Write jobs sent to the writer thread and not yet taken into a group (a gauge).
pub const QUEUE_DEPTH: &str = "jsjb_db_writer_queue_depth";
/// One group commit, BEGIN to COMMIT, in seconds (a histogram).
pub const COMMIT_DURATION: &str = "jsjb_db_commit_seconds";
/// Jobs in one group commit (a histogram).
pub const COMMIT_JOBS: &str = "jsjb_db_commit_jobs";
