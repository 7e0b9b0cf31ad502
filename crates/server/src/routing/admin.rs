//! 自动分派规则 in the admin console: read the rules in force, test draft rules against a
//! sample letter, save them (a new version, applied at once without a restart). Only an
//! admin of the city bureau edits them: the rules send the whole city's intake.

use axum::extract::State;
use jsjb_core::org::Role;
pub use jsjb_proto::routing::{
    RoutingRulesView, RoutingTestResult, SaveRoutingRequest, TestRoutingRequest,
};

use super::{RoutingRules, RuleSetError};
use crate::admin::check_name;
use crate::auth::{Session, unit_tree};
use crate::error::{ApiError, Problem};
use crate::extract::ApiJson;
use crate::state::AppState;

/// The longest sample text tried (a letter's subject and body together are shorter).
const MAX_SAMPLE_CHARS: usize = 10_000;

/// Scope first: an admin of the city bureau (the root of the tree).
async fn require_city_admin(
    state: &AppState,
    session: &Session,
) -> Result<jsjb_core::org::UnitTree, ApiError> {
    session.require(Role::Admin)?;
    let tree = unit_tree(state).await?;
    let at_root = tree
        .get(session.unit_id)
        .is_some_and(|u| u.parent.is_none());
    if !at_root {
        return Err(ApiError::Forbidden(
            "only an admin of the city bureau edits the routing rules".to_owned(),
        ));
    }
    Ok(tree)
}

fn invalid(e: RuleSetError) -> ApiError {
    ApiError::invalid("rules", e.to_string())
}

/// The routing rules in force.
#[utoipa::path(get, path = "/api/v1/admin/routing", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = RoutingRulesView), (status = 403, body = Problem)))]
pub async fn get_routing(
    State(state): State<AppState>,
    session: Session,
) -> Result<ApiJson<RoutingRulesView>, ApiError> {
    require_city_admin(&state, &session).await?;
    let saved = state.store.routing_rules().await?;
    // The rules shown are the version's own, as stored: an admin edits what the version
    // number says, even if this node has not heard of a save on another node yet (a
    // save from a stale copy would otherwise pass the version check and undo it).
    let rules = match &saved {
        Some(saved) => serde_json::from_str::<RoutingRules>(&saved.rules_json).map_err(|e| {
            ApiError::Internal(format!("the saved routing rules do not parse: {e}"))
        })?,
        None => (*state.routing_rules()).clone(),
    };
    Ok(ApiJson(RoutingRulesView {
        version: saved.as_ref().map_or(0, |s| s.version),
        rules,
        saved_at: saved.as_ref().map(|s| s.saved_at),
        saved_by: saved.as_ref().and_then(|s| s.saved_by).map(|u| u.0),
        reason: saved.map(|s| s.reason).unwrap_or_default(),
    }))
}

/// Saves the rules as a new version and applies them at once (no restart): the next
/// letter is routed by them. Every rule's unit must be an active unit below the city.
#[utoipa::path(post, path = "/api/v1/admin/routing", tag = "admin", security(("bearer" = [])),
    request_body = SaveRoutingRequest,
    responses((status = 200, body = RoutingRulesView), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem, description = "`stale_version`: saved meanwhile by someone else")))]
pub async fn post_routing(
    State(state): State<AppState>,
    session: Session,
    ApiJson(req): ApiJson<SaveRoutingRequest>,
) -> Result<ApiJson<RoutingRulesView>, ApiError> {
    let tree = require_city_admin(&state, &session).await?;
    req.rules.validate_in(&tree).map_err(invalid)?;
    let reason = check_name("reason", &req.reason, jsjb_core::workflow::MAX_TEXT_CHARS)?;
    let json = serde_json::to_string(&req.rules)
        .map_err(|e| ApiError::Internal(format!("routing rules as JSON: {e}")))?;
    let saved = state
        .store
        .save_routing_rules(
            json,
            req.expected_version,
            reason,
            session.actor(Some(Role::Admin)),
            state.time.now(),
        )
        .await?;
    state.set_routing_rules(req.rules.clone());
    Ok(ApiJson(RoutingRulesView {
        version: saved.version,
        rules: req.rules,
        saved_at: Some(saved.saved_at),
        saved_by: saved.saved_by.map(|u| u.0),
        reason: saved.reason,
    }))
}

/// Tries draft rules on a sample letter, saving nothing.
#[utoipa::path(post, path = "/api/v1/admin/routing/test", tag = "admin", security(("bearer" = [])),
    request_body = TestRoutingRequest,
    responses((status = 200, body = RoutingTestResult), (status = 400, body = Problem), (status = 403, body = Problem)))]
pub async fn post_routing_test(
    State(state): State<AppState>,
    session: Session,
    ApiJson(req): ApiJson<TestRoutingRequest>,
) -> Result<ApiJson<RoutingTestResult>, ApiError> {
    let tree = require_city_admin(&state, &session).await?;
    req.rules.validate_in(&tree).map_err(invalid)?;
    if req.subject.chars().count() + req.body.chars().count() > MAX_SAMPLE_CHARS {
        return Err(ApiError::invalid(
            "body",
            format!("a sample letter has at most {MAX_SAMPLE_CHARS} characters"),
        ));
    }
    let hit = req.rules.route(req.category, &req.subject, &req.body);
    Ok(ApiJson(RoutingTestResult {
        rule_index: hit.map(|(i, _)| i),
        rule_name: hit.map(|(_, r)| r.name.clone()),
        to_unit: hit.map(|(_, r)| r.to_unit.0),
    }))
}

/// At start, and when another node saved rules: the newest rules an admin saved win
/// over the start-up file's.
pub async fn load_saved(state: &AppState) {
    match state.store.routing_rules().await {
        Ok(Some(saved)) => match serde_json::from_str::<RoutingRules>(&saved.rules_json) {
            Ok(rules) => {
                tracing::info!(
                    version = saved.version,
                    "routing: the saved rules are in force"
                );
                state.set_routing_rules(rules);
            }
            Err(e) => {
                tracing::error!(%e, version = saved.version, "routing: the saved rules do not parse; keeping the start-up rules")
            }
        },
        Ok(None) => {}
        Err(e) => {
            tracing::error!(%e, "routing: cannot read the saved rules; keeping the start-up rules")
        }
    }
}
