//! The arrival alarm (issue 4, item 5): the chime's schedule fed by the letters waiting
//! for the user's unit to sign for them, and one timer task that rings it.
//!
//! The letters that wait are read from the cache's *view* (server state + pending
//! actions), so the alarm stops the moment the officer signs, before the server has
//! heard of it. Time is the server's, as estimated by the sync engine.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use jsjb_chime::{
    Alarm, AlarmSettings, Audio, ChimeHandle, DeviceState, SettingsError, Sound, WarnSchedule,
};
use jsjb_core::attention;
use jsjb_core::clock::{ClockKind, ClockState};
use jsjb_core::letter::{LetterId, LetterState};
use jsjb_core::org::{Role, UnitId};
use jsjb_store::{InboxQuery, Store, StoreError};
use jsjb_sync::ServerClock;
use tokio::sync::Notify;

/// The timer re-reads the schedule at least this often: the server clock's offset may
/// have been corrected since it went to sleep.
const MAX_NAP: Duration = Duration::from_secs(30);

/// A letter and, when it waits for the unit's signature, its sign-for due time.
pub type Waiting = (LetterId, Option<DateTime<Utc>>);

/// A letter's contact or first-feedback clock, and when it turns amber (`None`: it no
/// longer concerns the user — met, breached, closed, or the letter is elsewhere).
pub type Warn = ((LetterId, ClockKind), Option<DateTime<Utc>>);

/// What the cache says about some letters, for the alarm.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlarmView {
    pub waiting: Vec<Waiting>,
    pub warnings: Vec<Warn>,
    /// Clocks breached below the desk that it is told of (逐级上报), and when.
    pub escalations: Vec<Warn>,
}

/// The sound output as the alarm sees it.
pub type SharedAudio = Arc<dyn Audio + Send + Sync>;

/// The alarm, shared by the sync event forwarder, the commands and the timer task.
pub struct ArrivalAlarm {
    alarm: Mutex<Alarm<LetterId, SharedAudio>>,
    audio: SharedAudio,
    /// The real audio thread's handle, to tell whether a device exists (`None` in tests).
    device: Option<ChimeHandle>,
    /// "About to breach" clocks of letters the unit holds: the softer sound, once each.
    warnings: Mutex<WarnSchedule<(LetterId, ClockKind)>>,
    /// Clocks breached below a desk (逐级上报): the softer sound and a notification, once each.
    escalations: Mutex<WarnSchedule<(LetterId, ClockKind)>>,
    wake: Notify,
    clock: Mutex<Option<ServerClock>>,
    /// Set when the audio thread could not even start: no sound will ever play.
    no_audio: std::sync::atomic::AtomicBool,
}

impl ArrivalAlarm {
    pub fn new(
        settings: AlarmSettings,
        audio: SharedAudio,
        device: Option<ChimeHandle>,
    ) -> Result<ArrivalAlarm, SettingsError> {
        Ok(ArrivalAlarm {
            alarm: Mutex::new(Alarm::new(settings, Arc::clone(&audio))?),
            audio,
            device,
            warnings: Mutex::new(WarnSchedule::default()),
            escalations: Mutex::new(WarnSchedule::default()),
            wake: Notify::new(),
            clock: Mutex::new(None),
            no_audio: std::sync::atomic::AtomicBool::new(false),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Alarm<LetterId, SharedAudio>> {
        // The schedule stays consistent even if a holder panicked: every method is total.
        self.alarm.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Server time when signed in, the workstation's otherwise.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map_or_else(Utc::now, ServerClock::now)
    }

    /// Starts a session: its server clock, and an empty list of waiting letters.
    pub fn start(&self, clock: ServerClock) {
        *self.clock.lock().unwrap_or_else(PoisonError::into_inner) = Some(clock);
        self.clear();
    }

    /// Ends the session: nothing waits any more (the next user's letters are not ours).
    pub fn stop(&self) {
        *self.clock.lock().unwrap_or_else(PoisonError::into_inner) = None;
        self.clear();
    }

    fn warnings(&self) -> MutexGuard<'_, WarnSchedule<(LetterId, ClockKind)>> {
        self.warnings.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn escalations(&self) -> MutexGuard<'_, WarnSchedule<(LetterId, ClockKind)>> {
        self.escalations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn clear(&self) {
        self.warnings().clear();
        self.escalations().clear();
        let mut alarm = self.lock();
        let settings = alarm.schedule().settings().clone();
        // Valid: they were accepted before.
        if let Ok(fresh) = Alarm::new(settings, Arc::clone(&self.audio)) {
            *alarm = fresh;
        }
        drop(alarm);
        self.wake.notify_one();
    }

    pub fn set_settings(&self, settings: AlarmSettings) -> Result<(), SettingsError> {
        self.lock().set_settings(settings)?;
        self.wake.notify_one();
        Ok(())
    }

    /// How many letters wait to be signed for.
    pub fn unsigned(&self) -> usize {
        self.lock().schedule().unsigned_count()
    }

    /// The letters that wait for the user, most urgent first (the title, banner and tray
    /// count these).
    pub fn waiting_ids(&self) -> Vec<LetterId> {
        self.lock().schedule().waiting()
    }

    /// False once the audio thread has found no usable sound device (or has stopped):
    /// the inbox then says the chime cannot play. True while it is still opening, and
    /// in tests (no real device).
    pub fn sound_available(&self) -> bool {
        if self.no_audio.load(std::sync::atomic::Ordering::Relaxed) {
            return false;
        }
        self.device
            .as_ref()
            .is_none_or(|d| !matches!(d.state(), DeviceState::Unavailable | DeviceState::Stopped))
    }

    /// The audio thread could not start: the inbox must say the chime cannot play.
    pub fn mark_no_audio(&self) {
        self.no_audio
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Waits (blocking) until the audio thread has opened its device or given up.
    pub fn wait_device_opened(&self, timeout: Duration) {
        if let Some(device) = &self.device {
            device.wait_opened(timeout);
        }
    }

    /// When the alarm next rings, if ever (nothing waits, muted, or repeat off: `None`).
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        let now = self.now();
        self.lock().next_due(now)
    }

    /// Takes in what the cache says about these letters: those waiting for the unit are
    /// added (an arrival when new), the others are dropped (signed, moved on, gone).
    /// Returns the letters that newly wait: the caller shows the OS notification.
    pub fn update(&self, letters: &[Waiting]) -> Vec<LetterId> {
        let mut arrived = Vec::new();
        let mut alarm = self.lock();
        for (id, waiting_until) in letters {
            match waiting_until {
                Some(sign_by) => {
                    if alarm.on_arrival(*id, *sign_by) {
                        arrived.push(*id);
                    }
                }
                None => {
                    alarm.on_signed(id);
                }
            }
        }
        drop(alarm);
        self.wake.notify_one();
        arrived
    }

    /// Takes in the contact and first-feedback clocks of these letters (see [`Warn`]).
    pub fn update_warnings(&self, warnings: &[Warn]) {
        let mut schedule = self.warnings();
        for (key, warn_at) in warnings {
            schedule.set(*key, *warn_at);
        }
        drop(schedule);
        self.wake.notify_one();
    }

    /// Takes in the breaches below the desk it is told of (see [`AlarmView::escalations`]).
    pub fn update_escalations(&self, escalations: &[Warn]) {
        let mut schedule = self.escalations();
        for (key, at) in escalations {
            schedule.set(*key, *at);
        }
        drop(schedule);
        self.wake.notify_one();
    }

    /// The breaches below whose time to be told has come (each once); the softer sound
    /// plays for them unless muted. The caller notifies the desk.
    pub fn tick_escalations(&self, now: DateTime<Utc>) -> Vec<(LetterId, ClockKind)> {
        let due = self.escalations().tick(now);
        if !due.is_empty() {
            self.play_warning();
        }
        due
    }

    fn play_warning(&self) {
        let settings = self.lock().schedule().settings().clone();
        if !settings.muted
            && let Err(e) = self.audio.play(Sound::Warning, settings.volume)
        {
            tracing::debug!("the warning sound did not play: {e}");
        }
    }

    /// Rings the softer sound if a clock's warn time has come (once per clock; nothing
    /// when muted). Returns the clocks that rang.
    pub fn tick_warnings(&self, now: DateTime<Utc>) -> Vec<(LetterId, ClockKind)> {
        let rung = self.warnings().tick(now);
        if !rung.is_empty() {
            self.play_warning();
        }
        rung
    }

    /// Plays the chime once at the configured volume (mute ignored: the officer asked).
    /// False when there is no sound device (or the audio thread is gone).
    pub async fn test_sound(&self) -> bool {
        let volume = self.lock().schedule().settings().volume;
        if self.audio.play(Sound::Arrival, volume.max(0.1)).is_err() {
            return false;
        }
        let Some(device) = self.device.clone() else {
            return true;
        };
        let state = tokio::task::spawn_blocking(move || device.wait_opened(Duration::from_secs(2)))
            .await
            .unwrap_or(DeviceState::Unavailable);
        state == DeviceState::Ready
    }

    /// The timer: sleeps until the schedule's next ring (or until woken by a change),
    /// then ticks; breaches below a desk go to `escalated` (the notification). Runs for
    /// the life of the app.
    pub async fn run_timer(self: Arc<Self>, escalated: impl Fn(Vec<LetterId>) + Send + 'static) {
        loop {
            let now = self.now();
            let next = [
                self.lock().next_due(now),
                self.warnings().next_due(),
                self.escalations().next_due(),
            ]
            .into_iter()
            .flatten()
            .min();
            let nap = match next {
                Some(due) => (due - now).to_std().unwrap_or(Duration::ZERO).min(MAX_NAP),
                None => MAX_NAP,
            };
            tokio::select! {
                () = tokio::time::sleep(nap) => {}
                () = self.wake.notified() => {}
            }
            let now = self.now();
            if let Some(ring) = self.lock().tick(now) {
                tracing::info!(
                    reason = ?ring.reason,
                    unsigned = ring.unsigned,
                    remaining_secs = ring.most_urgent_remaining.num_seconds(),
                    "alarm rang"
                );
            }
            let warned = self.tick_warnings(now);
            if !warned.is_empty() {
                tracing::info!(clocks = ?warned, "clocks about to breach");
            }
            let breached = self.tick_escalations(now);
            if !breached.is_empty() {
                tracing::info!(clocks = ?breached, "clocks breached below: the desk is told");
                let mut ids: Vec<LetterId> = breached.into_iter().map(|(id, _)| id).collect();
                ids.dedup();
                escalated(ids);
            }
        }
    }
}

/// Whose letters wait: the signed-in user's unit and roles (a desk is a dispatcher).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub unit: UnitId,
    pub roles: Vec<Role>,
}

impl Recipient {
    pub fn of(me: &jsjb_proto::Me) -> Recipient {
        Recipient {
            unit: me.unit_id,
            roles: me.roles.clone(),
        }
    }
}

/// For each letter: `Some(due time)` when it waits for the recipient in the desktop's
/// view (see `jsjb_core::attention`: to be signed for at a unit, to be dispatched at a
/// desk), `None` otherwise (signed, dispatched on, elsewhere, not cached).
///
/// And for each letter its contact and first-feedback clocks' warn times while the
/// recipient's unit holds it and they run (the softer "about to breach" sound).
pub fn waiting(
    store: &Store,
    who: &Recipient,
    ids: &[LetterId],
    now: DateTime<Utc>,
) -> Result<AlarmView, StoreError> {
    let mut view = AlarmView::default();
    for id in ids {
        let detail = store.letter_detail(*id, now)?;
        let policy = detail.as_ref().map_or_else(
            || std::borrow::Cow::Borrowed(store.clock_policy(now)),
            |d| store.rules().policy_for(&d.status.clock_inputs),
        );
        let due = detail.as_ref().and_then(|d| {
            attention::waiting_due(
                &d.status,
                d.clocks.sign_for.as_ref().map(|c| c.due_at),
                who.unit,
                &who.roles,
                &policy,
                store.work_calendar(),
                now,
            )
            .map(|(_, due)| due)
        });
        view.waiting.push((*id, due));
        for (kind, rule) in [
            (ClockKind::Contact, &policy.contact),
            (ClockKind::FirstFeedback, &policy.first_feedback),
        ] {
            let warn_at = detail.as_ref().and_then(|d| {
                let reading = d.clocks.get(kind)?;
                let holds = d.status.unit == who.unit;
                let runs = reading.state == ClockState::Running
                    && reading.band != jsjb_core::clock::Band::Done;
                (holds && runs).then(|| {
                    reading
                        .due_at
                        .checked_sub_signed(chrono::TimeDelta::seconds(rule.warn_before_secs))
                        .unwrap_or(reading.due_at)
                })
            });
            view.warnings.push(((*id, kind), warn_at));
        }
        // An extension request below that nobody decides: its deciders hear of it before
        // the deadline it asks to move (the holder's own closure clock is not warned).
        let undecided = detail.as_ref().and_then(|d| {
            attention::undecided_extension_warn_at(&d.status, who.unit, &who.roles, &policy)
        });
        view.warnings.push(((*id, ClockKind::Closure), undecided));
        for kind in ClockKind::ALL {
            let at = detail.as_ref().and_then(|d| {
                attention::escalation_at(kind, &d.status, &d.clocks, who.unit, &who.roles, &policy)
            });
            view.escalations.push(((*id, kind), at));
        }
    }
    Ok(view)
}

/// Every letter of the cache that waits for the recipient (at session start and after a
/// lagging event stream).
pub fn all_waiting(
    store: &Store,
    who: &Recipient,
    now: DateTime<Utc>,
) -> Result<AlarmView, StoreError> {
    let mut ids = Vec::new();
    let mut query = InboxQuery {
        // The candidates (every open letter the unit holds, for the contact and
        // first-feedback warnings); `waiting` applies the rules itself.
        states: vec![
            LetterState::Dispatched,
            LetterState::Received,
            LetterState::Handling,
            LetterState::AwaitingApproval,
        ],
        unit: Some(who.unit),
        limit: jsjb_store::MAX_INBOX_PAGE,
        ..InboxQuery::default()
    };
    collect_ids(store, &mut query, now, &mut ids)?;
    // Extension requests of the units below, for their deciders' reminder.
    let mut pending = InboxQuery {
        extension_pending: true,
        limit: jsjb_store::MAX_INBOX_PAGE,
        ..InboxQuery::default()
    };
    let mut below = Vec::new();
    collect_ids(store, &mut pending, now, &mut below)?;
    // Letters below with a clock that escalates not yet met, for the desk's 逐级上报.
    if who.roles.contains(&Role::Dispatcher) {
        below.extend(store.escalation_candidates(who.unit, &policy_clocks(store, now))?);
    }
    let mut held: std::collections::HashSet<LetterId> = ids.iter().copied().collect();
    ids.extend(below.into_iter().filter(|id| held.insert(*id)));
    waiting(store, who, &ids, now)
}

/// The clocks whose breach the policy escalates.
fn policy_clocks(store: &Store, now: DateTime<Utc>) -> Vec<ClockKind> {
    store.clock_policy(now).escalation.clocks.clone()
}

/// Every id `query` selects, page by page.
fn collect_ids(
    store: &Store,
    query: &mut InboxQuery,
    now: DateTime<Utc>,
    ids: &mut Vec<LetterId>,
) -> Result<(), StoreError> {
    loop {
        let page = store.inbox(query, now)?;
        let n = page.rows.len();
        ids.extend(page.rows.into_iter().map(|r| r.id));
        if n < query.limit as usize {
            return Ok(());
        }
        query.offset = query.offset.saturating_add(query.limit);
    }
}
