//! Telling the writer at every step (告知): on receipt, when the desk's call did not
//! get through, on first feedback, on an approved extension, on closure (with where to
//! rate it) and after the return visit — by SMS for letters from the web, the phone
//! and Weibo, by a WeChat message for WeChat letters (SMS when WeChat cannot carry it).
//!
//! Every node runs [`spawn`]'s loop; the work is shared through the storage's queue
//! (`jsjb_storage::writer_notices`), so nothing depends on one node:
//!
//! 1. **Feed**: the changes after the queue's cursor, read as the desks read them (a
//!    sync page over every unit); each changed letter's history gives its notices
//!    (`jsjb_core::writer_notice::notices_due`), stored once each. A step older than
//!    [`MAX_AGE`] is no news and is not told, nor one taken before the queue began (a
//!    platform upgraded to it: the time of its newest change then). The page and the cursor it ends at go in one transaction, so a crash
//!    re-reads the page and stores nothing twice.
//! 2. **Deliver**: claim the notices due (leased, so two nodes never send the same one),
//!    send each, record the try. A try that fails is tried again after a growing pause
//!    ([`BACKOFF`]); after the last one the notice is *failed*, and the desk sees it in
//!    the letter's timeline (every try is a change of the letter) and tells the writer
//!    another way. A node that dies mid-send leaves the notice to be taken again when
//!    its lease ends: the writer may then get it twice, never not at all.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use jsjb_core::letter::{Channel, NoticeRoute};
use jsjb_core::writer_notice::{NoticeContext, notice_text, notices_due};
use jsjb_proto::{Change, LetterRecord};
use jsjb_storage::writer_notices::{ClaimedNotice, NewWriterNotice, NoticeAttempt};

use crate::citizen::WechatSendError;
use crate::citizen::otp::SmsMessage;
use crate::error::ApiError;
use crate::state::AppState;

/// Changes read per feed page, and notices claimed per round.
const FEED_PAGE: u32 = 200;
const CLAIM: u32 = 20;
/// How long a claimed notice is this node's to send.
const LEASE_SECS: i64 = 120;
/// The pause before each next try; after the last the notice has failed.
pub const BACKOFF_MINUTES: &[i64] = &[1, 5, 15, 60, 240];
/// A step older than this is not told (no news, and no flood on first start).
pub const MAX_AGE: Duration = Duration::hours(48);

/// The loop of one node: feed, deliver, wait `JSJB_NOTICE_POLL_SECS` (0: no loop).
pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let poll = StdDuration::from_secs(state.config.citizen.notice_poll_secs);
        if poll.is_zero() {
            return;
        }
        let mut shutdown = state.shutdown.subscribe();
        loop {
            if let Err(e) = run_once(&state).await {
                tracing::warn!(%e, "notices to writers: a round failed; the next one retries");
            }
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = shutdown.changed() => return,
            }
        }
    })
}

/// One round: the feed caught up, then every notice due tried once.
pub async fn run_once(state: &AppState) -> Result<(), ApiError> {
    while feed_page(state).await? {}
    loop {
        let now = state.time.now();
        let claimed = state
            .store
            .claim_writer_notices(now, now + Duration::seconds(LEASE_SECS), CLAIM)
            .await?;
        if claimed.is_empty() {
            return Ok(());
        }
        for notice in claimed {
            let attempt = deliver(state, &notice).await;
            let now = state.time.now();
            if let Some(recorded) = state
                .store
                .record_writer_notice(notice.id, attempt, now)
                .await?
            {
                state
                    .publish_change(recorded.change_seq, &[recorded.unit])
                    .await;
            }
        }
    }
}

/// Stores the notices of one page of changes; whether more pages follow.
async fn feed_page(state: &AppState) -> Result<bool, ApiError> {
    let (cursor, since) = state.store.writer_notice_feed().await?;
    let every_unit: Vec<_> = state.store.units().await?.iter().map(|u| u.id).collect();
    let page = state.store.sync_page(every_unit, cursor, FEED_PAGE).await?;
    if page.next_cursor <= cursor {
        return Ok(false);
    }
    let now = state.time.now();
    let contact_within = crate::citizen::pages::allowed(&state.rules.current(now).contact);
    let mut notices = Vec::new();
    for change in &page.changes {
        if let Change::Letter { letter } = change {
            notices.extend(notices_of(state, letter, &contact_within, since, now));
        }
    }
    let stored = state
        .store
        .enqueue_writer_notices(notices, page.next_cursor, now)
        .await?;
    for recorded in stored {
        state
            .publish_change(recorded.change_seq, &[recorded.unit])
            .await;
    }
    Ok(page.has_more)
}

/// The notices a letter's history calls for and that are still news.
fn notices_of(
    state: &AppState,
    letter: &LetterRecord,
    contact_within: &str,
    since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Vec<NewWriterNotice> {
    let route = match letter.channel {
        Channel::Wechat => NoticeRoute::Wechat,
        Channel::Web | Channel::Phone | Channel::Weibo => NoticeRoute::Sms,
    };
    let rating_link = state.config.citizen.portal_url.as_deref().map(|base| {
        format!(
            "{}/letters/{}/rate",
            base.trim_end_matches('/'),
            letter.tracking_code
        )
    });
    let ctx = NoticeContext {
        tracking_code: &letter.tracking_code,
        contact_within,
        rating_link: rating_link.as_deref(),
    };
    notices_due(letter.events.iter().map(|e| &e.payload))
        .into_iter()
        .filter(|due| {
            letter
                .events
                .get(due.trigger_seq as usize - 1)
                .is_some_and(|e| now - e.at <= MAX_AGE && since.is_none_or(|s| e.at > s))
        })
        .map(|due| NewWriterNotice {
            letter: letter.id,
            step: due.step,
            trigger_seq: due.trigger_seq,
            route,
            text: notice_text(&due, &ctx),
        })
        .collect()
}

/// One try of a notice, and how it ended.
async fn deliver(state: &AppState, notice: &ClaimedNotice) -> NoticeAttempt {
    let mut route = notice.route;
    let mut error = None;
    if route == NoticeRoute::Wechat {
        match &notice.wechat_openid {
            Some(openid) => match state.citizen.wechat().send_text(openid, &notice.text).await {
                Ok(()) => return NoticeAttempt::Sent { route },
                // WeChat cannot carry it (48 hours passed, unfollowed…): by SMS.
                Err(WechatSendError::Unavailable(why)) => {
                    tracing::info!(target: "jsjb::notices", id = notice.id, %why, "WeChat cannot carry a notice; sending it by SMS");
                    route = NoticeRoute::Sms;
                }
                Err(WechatSendError::Failed(why)) => error = Some(why),
            },
            None => route = NoticeRoute::Sms,
        }
    }
    if route == NoticeRoute::Sms && error.is_none() {
        if !crate::intake::is_mobile(&notice.writer_phone) {
            return NoticeAttempt::Failed {
                route,
                error: "the writer's phone is not a mobile number: no SMS can reach it".to_owned(),
            };
        }
        let message = SmsMessage::notice(&notice.tracking_code, &notice.text);
        match state
            .citizen
            .sms()
            .send(&notice.writer_phone, &message)
            .await
        {
            Ok(()) => return NoticeAttempt::Sent { route },
            Err(e) => error = Some(e.0),
        }
    }
    let error = error.unwrap_or_default();
    match BACKOFF_MINUTES.get(notice.attempts as usize) {
        Some(minutes) => NoticeAttempt::Retry {
            route: notice.route,
            error,
            next_try_at: state.time.now() + Duration::minutes(*minutes),
        },
        None => {
            tracing::warn!(target: "jsjb::notices", id = notice.id, letter = notice.letter.0, "a notice to the writer failed after every try");
            NoticeAttempt::Failed { route, error }
        }
    }
}
