//! The clock rules at start-up (checked against the last start's) and at
//! `GET /api/v1/rules`.

use axum::extract::State;
use jsjb_core::rules::{Rules, RulesDoc, check_successor};

use super::ServedRules;
use crate::auth::Session;
use crate::error::{ApiError, Problem};
use crate::extract::ApiJson;
use crate::state::AppState;

/// At start: refuses rules that rewrite what the last start recorded, and records these
/// when they are new. An error says why the server must not start.
pub async fn apply_at_start(state: &AppState) -> Result<(), String> {
    let now = state.time.now();
    let recorded = state
        .store
        .clock_rules()
        .await
        .map_err(|e| format!("cannot read the recorded clock rules: {e}"))?;
    // Before the first letter nothing has been scored: a bureau's first configuration
    // may replace the rules of an earlier start (the built-in ones) whole.
    let no_letter_yet = state
        .store
        .latest_change_seq()
        .await
        .map_err(|e| format!("cannot read the change log: {e}"))?
        == 0;
    if let Some(recorded) = recorded.as_ref().filter(|_| !no_letter_yet) {
        if recorded.version == *state.rules_version {
            return Ok(());
        }
        let old: RulesDoc = serde_json::from_str(&recorded.doc_json)
            .map_err(|e| format!("the recorded clock rules are unreadable: {e}"))?;
        let old = Rules::new(old).map_err(|e| format!("the recorded clock rules: {e}"))?;
        check_successor(&old, &state.rules, now).map_err(|e| {
            format!(
                "the configured clock rules would rewrite the past ({e}); keep every era and \
                 calendar day already begun as it was (version {}) and add changes as a new era",
                recorded.version
            )
        })?;
    }
    let doc_json = serde_json::to_string(state.rules.doc()).map_err(|e| e.to_string())?;
    state
        .store
        .apply_clock_rules(state.rules_version.to_string(), doc_json, now)
        .await
        .map_err(|e| format!("cannot record the clock rules: {e}"))?;
    tracing::info!(version = %state.rules_version, "clock rules applied");
    Ok(())
}

/// The clock rules in force, for any signed-in user (every desktop needs them to
/// colour its inbox; they are configuration, not letters).
#[utoipa::path(get, path = "/api/v1/rules", tag = "sync", security(("bearer" = [])),
    responses((status = 200, body = ServedRules), (status = 401, body = Problem)))]
pub async fn get_rules(
    State(state): State<AppState>,
    _session: Session,
) -> Result<ApiJson<ServedRules>, ApiError> {
    Ok(ApiJson(ServedRules {
        version: state.rules_version.to_string(),
        rules: state.rules.doc().clone(),
        problem_classes: state.config.problem_classes.clone(),
    }))
}
