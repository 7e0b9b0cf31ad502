//! The clock rules this server runs under (issue 14 item 2): the policy's eras and the
//! working-day calendar, from the JSON file `JSJB_RULES` (else the built-in Shenzhen
//! rules, `jsjb_core::rules::Rules::shenzhen`), served to every desktop at
//! `GET /api/v1/rules` with a version that is a digest of their content. At each start
//! the rules are checked against the ones the last start recorded
//! (`jsjb_core::rules::check_successor`): once a letter exists, a configuration that
//! would change an era or a calendar day already begun is refused, so the past is never
//! re-scored. Before the first letter, any valid rules replace the recorded ones.

use std::path::Path;

use jsjb_core::rules::{Rules, RulesDoc, RulesError};
pub use jsjb_proto::ServedRules;

pub mod serving;

/// The largest rules file read (a century of calendar years is ~200 KiB).
const MAX_RULES_FILE: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ClockRulesError {
    #[error("cannot read the clock rules {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the clock rules {path} are larger than {MAX_RULES_FILE} bytes")]
    TooLarge { path: String },
    #[error("the clock rules {path} are not valid JSON of the documented shape: {source}")]
    Parse {
        path: String,
        source: serde_json::Error,
    },
    #[error("the clock rules {path}: {source}")]
    Invalid { path: String, source: RulesError },
}

/// Reads and validates a rules file (`{"eras": [...], "calendar": [...]}`, the shape
/// `jsjb-server rules` prints).
pub fn load(path: &Path) -> Result<Rules, ClockRulesError> {
    let shown = || path.display().to_string();
    let size = std::fs::metadata(path)
        .map_err(|source| ClockRulesError::Read {
            path: shown(),
            source,
        })?
        .len();
    if size > MAX_RULES_FILE {
        return Err(ClockRulesError::TooLarge { path: shown() });
    }
    let text = std::fs::read_to_string(path).map_err(|source| ClockRulesError::Read {
        path: shown(),
        source,
    })?;
    let doc: RulesDoc = serde_json::from_str(&text).map_err(|source| ClockRulesError::Parse {
        path: shown(),
        source,
    })?;
    Rules::new(doc).map_err(|source| ClockRulesError::Invalid {
        path: shown(),
        source,
    })
}

/// The served rules' version: the first 16 hex digits of the SHA-256 of their JSON and
/// the problem classes (serde's field order is fixed, so equal rules always give the
/// same version; a change of either makes desktops fetch them again).
pub fn version(rules: &Rules, problem_classes: &[String]) -> String {
    let json = serde_json::to_vec(&(rules.doc(), problem_classes)).unwrap_or_default();
    let mut digest = crate::digest::sha256_hex(&json);
    digest.truncate(16);
    digest
}
