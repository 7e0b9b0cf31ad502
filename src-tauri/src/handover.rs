//! Statistics, the wall board and the shift handover (交接班) for the commands: the reports come from
//! the cache (`jsjb_store`); acknowledgements are queued in the cache and sent to the
//! server (`POST /handovers`), and the unit's recent ones fetched from it, whenever the
//! handover screen is shown or acknowledged and whenever sync comes back online.
//!
//! Sending never blocks the officer for long: every server call here gives up after
//! [`SERVER_WAIT`], and an acknowledgement that could not be sent stays queued.

use std::time::Duration;

use chrono::{DateTime, Utc};
use jsjb_core::letter::LetterId;
use jsjb_core::org::{UnitId, UserId};
use jsjb_proto::{HandoverAckRequest, HandoverCounts};
use jsjb_store::StoreHandle;
use jsjb_store::{
    HANDOVER_SOON_SECS, HandoverItem, HandoverItemKind, HandoverReport, StatsReport, WallBoard,
};
use jsjb_sync::{ClientError, ServerClient, SyncStatus};
use tokio::sync::watch;

use crate::error::{CommandError, CommandResult, ErrorCode};
use crate::session::Session;

/// How long the handover screen waits for the server before showing what it has.
const SERVER_WAIT: Duration = Duration::from_secs(4);
/// How many of the unit's acknowledgements are fetched.
const FETCH_ACKS: u32 = 20;

/// `statistics`: the report of `[from, to)` at server time.
pub async fn statistics(
    session: &Session,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> CommandResult<StatsReport> {
    if from >= to {
        return Err(CommandError::new(
            ErrorCode::InvalidInput,
            "the period must end after it starts",
        ));
    }
    let now = session.now();
    Ok(session
        .store
        .call(move |s| s.statistics(from, to, now))
        .await??)
}

/// `wall_board`: the desk's board of the units below it, at server time, with the
/// rates since the start of today (CST) when `rates` (they cost a fold of every history).
pub async fn wall_board(session: &Session, rates: bool) -> CommandResult<WallBoard> {
    let now = session.now();
    let today = rates.then(|| jsjb_core::cst_day_start(now));
    Ok(session
        .store
        .call(move |s| s.wall_board(today, now))
        .await??)
}

/// `handover`: sends what is queued, fetches the unit's acknowledgements (both best
/// effort), then reads the lists from the cache.
pub async fn report(session: &Session, workstation: Option<&str>) -> CommandResult<HandoverReport> {
    sync_acks(&Link::of(session), workstation).await;
    let (unit, now) = (session.me.unit_id, session.now());
    Ok(session
        .store
        .call(move |s| s.handover_report(unit, now, HANDOVER_SOON_SECS))
        .await??)
}

/// What the officer says when acknowledging (`acknowledge_handover`).
pub struct Acknowledgement {
    pub note: String,
    pub shift: Option<String>,
    /// 交班人: the outgoing officer (the server checks that they are a colleague).
    pub handed_over_by: Option<UserId>,
    /// The letters ticked on the screen; those no longer listed are dropped.
    pub checked_ids: Vec<LetterId>,
}

/// `acknowledge_handover`: records what the handover shows now as acknowledged by the
/// user, with the ticks and the outgoing officer, durably in the cache, then tries to
/// send it.
pub async fn acknowledge(
    session: &Session,
    workstation: Option<&str>,
    ack: Acknowledgement,
) -> CommandResult<()> {
    let (unit, now) = (session.me.unit_id, session.now());
    let user = session.me.user_id;
    let name = session.me.display_name.clone();
    session
        .store
        .call(move |s| -> Result<(), jsjb_store::StoreError> {
            let items = s.handover_items(unit, now, HANDOVER_SOON_SECS)?;
            let request = handover_request(unit, now, &items, ack);
            s.queue_handover_ack(user, &name, &request).map(drop)
        })
        .await??;
    sync_acks(&Link::of(session), workstation).await;
    Ok(())
}

/// The request for `items` as listed at `now`: each list's size, the letters listed
/// (once each), the ticked ones among them.
fn handover_request(
    unit: UnitId,
    now: DateTime<Utc>,
    items: &[HandoverItem],
    ack: Acknowledgement,
) -> HandoverAckRequest {
    let mut counts = HandoverCounts::default();
    let mut letter_ids = Vec::new();
    for item in items {
        let n = match item.kind {
            HandoverItemKind::NotSignedFor => &mut counts.not_signed_for,
            HandoverItemKind::NotContacted => &mut counts.not_contacted,
            HandoverItemKind::Chased => &mut counts.chased,
            HandoverItemKind::Overdue => &mut counts.overdue,
            HandoverItemKind::AboutToBreach => &mut counts.about_to_breach,
            HandoverItemKind::PromisedCallback => &mut counts.promised_callback,
        };
        *n = n.saturating_add(1);
        if !letter_ids.contains(&item.letter_id) {
            letter_ids.push(item.letter_id);
        }
    }
    let checked_ids = letter_ids
        .iter()
        .copied()
        .filter(|id| ack.checked_ids.contains(id))
        .collect();
    HandoverAckRequest {
        unit_id: unit,
        shift: ack.shift.unwrap_or_else(|| default_shift(now)),
        acknowledged_at: now,
        note: ack.note.trim().to_owned(),
        counts,
        letter_ids,
        checked_ids,
        handed_over_by: ack.handed_over_by,
    }
}

/// The shift's label when the UI gives none: the China Standard Time at which it was
/// taken over, to the minute.
fn default_shift(now: DateTime<Utc>) -> String {
    now.with_timezone(&jsjb_core::cst())
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// What sending and fetching acknowledgements needs of a session.
#[derive(Clone)]
pub struct Link {
    pub store: StoreHandle,
    pub client: ServerClient,
    pub unit: UnitId,
}

impl Link {
    pub fn of(session: &Session) -> Link {
        Link {
            store: session.store.clone(),
            client: session.client.clone(),
            unit: session.me.unit_id,
        }
    }
}

/// Sends the queued acknowledgements, then fetches the unit's recent ones. Failures are
/// logged: the queue keeps what was not sent, the screen shows what the cache has.
pub async fn sync_acks(link: &Link, workstation: Option<&str>) {
    let work = async {
        send_queued(link, workstation).await?;
        let acks = link.client.handovers(link.unit, FETCH_ACKS).await?;
        link.store
            .call(move |s| s.record_handover_acks(&acks))
            .await
            .map_err(CommandError::from)?
            .map_err(CommandError::from)
    };
    match tokio::time::timeout(SERVER_WAIT, work).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::info!("handover acknowledgements not synced now: {e}"),
        Err(_) => tracing::info!("handover acknowledgements: the server is slow; later"),
    }
}

async fn send_queued(link: &Link, workstation: Option<&str>) -> CommandResult<()> {
    let queued = link.store.call(|s| s.pending_handover_acks()).await??;
    for (key, request) in queued {
        match link.client.post_handover(&key, &request, workstation).await {
            Ok(ack) => {
                link.store
                    .call(move |s| s.record_handover_acks(&[ack]))
                    .await??;
            }
            Err(e) => {
                // Refused (4xx other than a lost session): final. Otherwise: retried.
                let refused = matches!(e, ClientError::Refused { .. });
                let code = e.code().to_owned();
                link.store
                    .call(move |s| s.handover_ack_failed(&key, &code, refused))
                    .await??;
                if !refused {
                    return Err(e.into());
                }
            }
        }
    }
    Ok(())
}

/// The retry: whenever sync comes (back) online, sends what is still queued. Runs for
/// the session's life (one of its tasks).
pub async fn send_when_online(
    link: Link,
    workstation: Option<String>,
    mut status: watch::Receiver<SyncStatus>,
) {
    let mut was_online = false;
    loop {
        let online = matches!(
            status.borrow_and_update().state,
            jsjb_sync::ConnectionState::Online
        );
        if online && !was_online {
            let queued = link.store.call(|s| s.pending_handover_acks()).await;
            if matches!(queued, Ok(Ok(ref q)) if !q.is_empty()) {
                sync_acks(&link, workstation.as_deref()).await;
            }
        }
        was_online = online;
        if status.changed().await.is_err() {
            return;
        }
    }
}
