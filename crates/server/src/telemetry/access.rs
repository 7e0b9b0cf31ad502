//! Who may read `/metrics` (`--metrics-allow`, `--metrics-token`): a leaf the server's
//! `Config` holds, without depending on the recorder and routes of `telemetry.rs`.

use std::net::IpAddr;

use sha2::{Digest, Sha256};

use crate::cidr::Cidr;

/// The shortest `--metrics-token` accepted: a scraper's secret, not a password to type.
pub const MIN_TOKEN_CHARS: usize = 16;
/// The longest one.
pub const MAX_TOKEN_BYTES: usize = 4096;

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
    /// The token's length in characters when it is out of bounds (checked at start by
    /// `Config::validate`, which names it).
    pub fn bad_token_length(&self) -> Option<usize> {
        self.token
            .as_ref()
            .filter(|t| t.chars().count() < MIN_TOKEN_CHARS || t.len() > MAX_TOKEN_BYTES)
            .map(|t| t.chars().count())
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
