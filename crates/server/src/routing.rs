//! Automatic routing at the server: the rules (`jsjb_core::routing`, the one home of
//! their shape and matching) read from a JSON file at start or saved by an admin in the
//! console (`admin.rs`), and applied to new letters at the city desk (`dispatch.rs`). The
//! dispatch goes through the same life-cycle rules as a desk's, recorded with the rule's
//! name as the actor.

use std::path::Path;

pub use jsjb_core::routing::{RoutingRule, RoutingRules, RuleSetError};

pub mod admin;
pub mod dispatch;

#[derive(Debug, thiserror::Error)]
pub enum RoutingError {
    #[error("cannot read the routing rules {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the routing rules {path} are not valid JSON of the documented shape: {source}")]
    Parse {
        path: String,
        source: serde_json::Error,
    },
    #[error(transparent)]
    Invalid(#[from] RuleSetError),
}

/// Reads and validates a JSON file `{"rules": [...]}` (the initial rules, until an admin
/// saves some in the console).
pub fn load(path: &Path) -> Result<RoutingRules, RoutingError> {
    let text = std::fs::read_to_string(path).map_err(|source| RoutingError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let rules: RoutingRules =
        serde_json::from_str(&text).map_err(|source| RoutingError::Parse {
            path: path.display().to_string(),
            source,
        })?;
    rules.validate()?;
    Ok(rules)
}
