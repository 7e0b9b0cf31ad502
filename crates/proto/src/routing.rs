//! The admin console's 自动分派规则 on the wire (`/api/v1/admin/routing`); the rules
//! themselves are core's (`jsjb_core::routing`).

use chrono::{DateTime, Utc};
use jsjb_core::letter::Category;
use jsjb_core::routing::RoutingRules;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// The rules in force and where they come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoutingRulesView {
    /// The saved version in force; 0 while the rules are the start-up file's (or none).
    #[ts(type = "number")]
    pub version: i64,
    pub rules: RoutingRules,
    pub saved_at: Option<DateTime<Utc>>,
    #[ts(type = "number | null")]
    pub saved_by: Option<i64>,
    pub reason: String,
}

/// `POST /api/v1/admin/routing`: a new version of the rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SaveRoutingRequest {
    pub rules: RoutingRules,
    /// The version the admin edited (`RoutingRulesView.version`): a save over a newer
    /// one is refused (`stale_version`).
    #[ts(type = "number")]
    pub expected_version: i64,
    /// Why (kept in the audit log); required.
    pub reason: String,
}

/// `POST /api/v1/admin/routing/test`: draft rules tried on a sample letter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TestRoutingRequest {
    pub rules: RoutingRules,
    pub category: Category,
    #[serde(default)]
    pub subject: String,
    #[serde(default)]
    pub body: String,
}

/// Which draft rule a sample letter meets first, if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoutingTestResult {
    /// The matching rule's position (0-based); `null` when none matches (the letter
    /// stays at the city desk's 待派发).
    #[ts(type = "number | null")]
    pub rule_index: Option<usize>,
    pub rule_name: Option<String>,
    #[ts(type = "number | null")]
    pub to_unit: Option<i64>,
}
