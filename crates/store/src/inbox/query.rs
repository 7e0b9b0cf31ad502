//! What the inbox is asked: its filters and the page.

use jsjb_core::clock::Band;
use jsjb_core::letter::{Category, Channel, LetterState};
use jsjb_core::org::{UnitId, UserId};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// The most rows one inbox page returns.
pub const MAX_PAGE: u32 = 500;

/// The inbox filters. Empty lists and `None` filter nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(default)]
pub struct InboxQuery {
    pub states: Vec<LetterState>,
    /// The colour of the row's most urgent clock at the query's `now`.
    pub bands: Vec<Band>,
    pub categories: Vec<Category>,
    pub channels: Vec<Channel>,
    pub handler: Option<UserId>,
    pub unit: Option<UnitId>,
    /// 我的盯办: letters this user was assigned to follow up as supervising officer.
    pub supervisor: Option<UserId>,
    /// 延期待审批: only letters whose extension request waits for a decision.
    pub extension_pending: bool,
    /// 已延期: only letters whose closure deadline was extended.
    pub extended: bool,
    /// 待回访: only closed letters whose return visit is not done.
    pub visit_due: bool,
    /// Words to find in the subject, body, tracking code or writer's name; every
    /// whitespace-separated word must occur.
    pub text: Option<String>,
    pub offset: u32,
    /// At most [`MAX_PAGE`].
    pub limit: u32,
}

impl Default for InboxQuery {
    fn default() -> Self {
        InboxQuery {
            states: Vec::new(),
            bands: Vec::new(),
            categories: Vec::new(),
            channels: Vec::new(),
            handler: None,
            unit: None,
            supervisor: None,
            extension_pending: false,
            extended: false,
            visit_due: false,
            text: None,
            offset: 0,
            limit: 50,
        }
    }
}
