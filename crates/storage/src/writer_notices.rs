//! The notices to writers (告知) as the storage seam keeps them: a durable queue, fed
//! from the change feed, that any server node may take work from.
//!
//! - **Feeding.** A node reads the changes after the queue's feed cursor, derives each
//!   changed letter's notices (`jsjb_core::writer_notice::notices_due`) and hands them
//!   over with the cursor it read up to: stored in one transaction, each at most once
//!   (unique on the letter, the step and the event that called for it), the cursor only
//!   ever moving forward. Two nodes feeding the same page store each notice once.
//! - **Delivering.** A node claims the notices whose next try is due: claiming moves
//!   their next try to the end of a lease, so another node does not take them while
//!   this one sends; a node that dies mid-send leaves them to be taken again when the
//!   lease ends. Each try's outcome is recorded with a change row for the letter, so
//!   every desk that sees the letter sees where its notices are.

use chrono::{DateTime, Utc};
use jsjb_core::letter::{LetterId, NoticeRoute, NoticeStep};

/// A notice a letter's history calls for, as the feeder hands it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWriterNotice {
    pub letter: LetterId,
    pub step: NoticeStep,
    pub trigger_seq: u32,
    pub route: NoticeRoute,
    pub text: String,
}

/// A notice taken for a try, with what sending it needs (read from the letter, never
/// copied into the queue: the writer's phone stays in one place).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedNotice {
    pub id: i64,
    pub letter: LetterId,
    pub tracking_code: String,
    pub step: NoticeStep,
    pub route: NoticeRoute,
    pub text: String,
    /// Tries before this one.
    pub attempts: u32,
    pub writer_phone: String,
    /// The writer's WeChat OpenID, for a letter written on WeChat.
    pub wechat_openid: Option<String>,
}

/// How a try ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoticeAttempt {
    /// Taken by the provider, by this route (WeChat may have fallen back to SMS).
    Sent { route: NoticeRoute },
    /// Not delivered; tried again at `next_try_at`.
    Retry {
        route: NoticeRoute,
        error: String,
        next_try_at: DateTime<Utc>,
    },
    /// Given up: the desk sees it failed and tells the writer another way.
    Failed { route: NoticeRoute, error: String },
}

/// A recorded try: the change it made, for the push to the desks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedAttempt {
    pub change_seq: i64,
    pub unit: jsjb_core::org::UnitId,
}
