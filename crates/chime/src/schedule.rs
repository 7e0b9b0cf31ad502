//! When to ring: pure rules, no threads, no clock — `now` is always passed in.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};

use crate::{Sound, clamp_volume};

/// The shortest repeat interval allowed: the chime lasts 1.2 s, and ringing more often than
/// this would stop being a reminder and become noise officers learn to mute.
pub const MIN_INTERVAL: TimeDelta = TimeDelta::seconds(5);

/// "Once at most `remaining_at_most` is left on the most urgent letter's sign-for clock,
/// ring every `every`." A negative or zero `remaining_at_most` means overdue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CadenceStep {
    pub remaining_at_most: TimeDelta,
    pub every: TimeDelta,
}

impl CadenceStep {
    pub const fn new(remaining_at_most: TimeDelta, every: TimeDelta) -> CadenceStep {
        CadenceStep {
            remaining_at_most,
            every,
        }
    }
}

/// The officer's alarm settings.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmSettings {
    /// No sound at all; the visual alert stays.
    pub muted: bool,
    /// 0.0–1.0.
    pub volume: f32,
    /// Repeat while letters stay unsigned; when false only arrivals ring.
    pub repeat: bool,
    /// Steps in order of decreasing `remaining_at_most`, with non-increasing `every`: the
    /// cadence rises as the clock runs down. A letter with more time left than the first
    /// step's threshold uses the first step's interval.
    pub cadence: Vec<CadenceStep>,
}

impl Default for AlarmSettings {
    /// Every 120 s while more than 5 min remain of the 10-minute sign-for window, every 60 s
    /// from 5 min, every 30 s from 3 min (the amber window), every 15 s once overdue.
    fn default() -> AlarmSettings {
        AlarmSettings {
            muted: false,
            volume: 0.8,
            repeat: true,
            cadence: vec![
                CadenceStep::new(TimeDelta::minutes(10), TimeDelta::seconds(120)),
                CadenceStep::new(TimeDelta::minutes(5), TimeDelta::seconds(60)),
                CadenceStep::new(TimeDelta::minutes(3), TimeDelta::seconds(30)),
                CadenceStep::new(TimeDelta::zero(), TimeDelta::seconds(15)),
            ],
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SettingsError {
    #[error("volume {0} is not between 0.0 and 1.0")]
    Volume(f32),
    #[error("the cadence has no steps")]
    EmptyCadence,
    #[error("cadence step {index}: interval {every} is shorter than the minimum {min}")]
    IntervalTooShort {
        index: usize,
        every: TimeDelta,
        min: TimeDelta,
    },
    #[error("cadence step {index}: thresholds must strictly decrease")]
    ThresholdsNotDecreasing { index: usize },
    #[error("cadence step {index}: intervals must not grow as the clock runs down")]
    IntervalsGrow { index: usize },
}

impl AlarmSettings {
    pub fn validate(&self) -> Result<(), SettingsError> {
        if !(0.0..=1.0).contains(&self.volume) {
            return Err(SettingsError::Volume(self.volume));
        }
        if self.cadence.is_empty() {
            return Err(SettingsError::EmptyCadence);
        }
        for (index, step) in self.cadence.iter().enumerate() {
            if step.every < MIN_INTERVAL {
                return Err(SettingsError::IntervalTooShort {
                    index,
                    every: step.every,
                    min: MIN_INTERVAL,
                });
            }
        }
        for (index, pair) in self.cadence.windows(2).enumerate() {
            let [earlier, later] = pair else { continue };
            if later.remaining_at_most >= earlier.remaining_at_most {
                return Err(SettingsError::ThresholdsNotDecreasing { index: index + 1 });
            }
            // Needed for correctness, not taste: `next_reminder` relies on intervals that
            // only shrink as time passes.
            if later.every > earlier.every {
                return Err(SettingsError::IntervalsGrow { index: index + 1 });
            }
        }
        Ok(())
    }
}

/// Why a ring happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingReason {
    /// A letter was newly dispatched to the unit.
    Arrival,
    /// Letters are still unsigned.
    Reminder,
}

/// "Play this now."
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ring {
    pub reason: RingReason,
    pub sound: Sound,
    pub volume: f32,
    /// How many letters are waiting to be signed for.
    pub unsigned: usize,
    /// Time left on the most urgent letter (negative when overdue).
    pub most_urgent_remaining: TimeDelta,
}

/// Which unsigned letters are waiting, and when the alarm last rang.
///
/// `K` is the letter id; this crate does not know the domain types.
#[derive(Debug, Clone)]
pub struct AlarmSchedule<K> {
    settings: AlarmSettings,
    /// Letter → its sign-for due time.
    unsigned: BTreeMap<K, DateTime<Utc>>,
    arrival_pending: bool,
    last_ring: Option<DateTime<Utc>>,
}

impl<K: Ord + Clone> AlarmSchedule<K> {
    pub fn new(settings: AlarmSettings) -> Result<AlarmSchedule<K>, SettingsError> {
        settings.validate()?;
        Ok(AlarmSchedule {
            settings,
            unsigned: BTreeMap::new(),
            arrival_pending: false,
            last_ring: None,
        })
    }

    pub fn settings(&self) -> &AlarmSettings {
        &self.settings
    }

    /// Replaces the settings; invalid settings are refused and the old ones kept.
    pub fn set_settings(&mut self, settings: AlarmSettings) -> Result<(), SettingsError> {
        settings.validate()?;
        self.settings = settings;
        Ok(())
    }

    /// A letter newly dispatched to the unit and not signed for. The next `tick` rings.
    /// A letter already known only has its due time updated (a re-sync is not an arrival).
    /// Returns whether the letter was new.
    pub fn on_arrival(&mut self, letter: K, sign_by: DateTime<Utc>) -> bool {
        let is_new = self.unsigned.insert(letter, sign_by).is_none();
        if is_new {
            self.arrival_pending = true;
        }
        is_new
    }

    /// The letter was signed for (or left the unit): it stops counting at once.
    /// Returns whether it was waiting.
    pub fn on_signed(&mut self, letter: &K) -> bool {
        let was_waiting = self.unsigned.remove(letter).is_some();
        if self.unsigned.is_empty() {
            self.arrival_pending = false;
        }
        was_waiting
    }

    pub fn unsigned_count(&self) -> usize {
        self.unsigned.len()
    }

    /// The waiting letters, most urgent (earliest due time) first.
    pub fn waiting(&self) -> Vec<K> {
        let mut letters: Vec<(&K, &DateTime<Utc>)> = self.unsigned.iter().collect();
        letters.sort_by_key(|(id, due)| (**due, *id));
        letters.into_iter().map(|(id, _)| id.clone()).collect()
    }

    /// The letter with the earliest sign-for due time; it sets the cadence.
    pub fn most_urgent(&self) -> Option<(&K, DateTime<Utc>)> {
        self.unsigned
            .iter()
            .min_by_key(|(id, due)| (**due, *id))
            .map(|(id, due)| (id, *due))
    }

    /// Decides whether to ring at `now`. Call it whenever `now` reaches [`Self::next_due`]
    /// and after arrivals; calling it more often is harmless.
    pub fn tick(&mut self, now: DateTime<Utc>) -> Option<Ring> {
        let (_, due) = self.most_urgent()?;
        let reason = if self.arrival_pending {
            RingReason::Arrival
        } else if self.settings.repeat && now >= self.next_reminder(due) {
            RingReason::Reminder
        } else {
            return None;
        };
        self.arrival_pending = false;
        if self.settings.muted {
            // Muted: the arrival is consumed (unmuting later must not replay it), and the
            // reminder clock is left alone so that unmuting rings at the next due reminder.
            return None;
        }
        self.last_ring = Some(now);
        Some(Ring {
            reason,
            sound: Sound::Arrival,
            volume: clamp_volume(self.settings.volume),
            unsigned: self.unsigned.len(),
            most_urgent_remaining: due - now,
        })
    }

    /// When `tick` should next be called, never earlier than `now`. `None`: nothing will
    /// ring until something arrives (no unsigned letters, muted, or repeat off).
    pub fn next_due(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let (_, due) = self.most_urgent()?;
        if self.settings.muted {
            return None;
        }
        if self.arrival_pending {
            return Some(now);
        }
        if !self.settings.repeat {
            return None;
        }
        Some(self.next_reminder(due).max(now))
    }

    /// The first instant `t` at which `t - last_ring >= interval(due - t)`.
    ///
    /// Step `i` governs from `due - remaining_at_most[i]` on (step 0 from the start), so its
    /// earliest ring is `max(last + every[i], due - remaining_at_most[i])`. Because
    /// intervals never grow (validated), a time past step `i`'s range only satisfies a
    /// later, shorter interval more easily, so the minimum over steps is the answer.
    fn next_reminder(&self, due: DateTime<Utc>) -> DateTime<Utc> {
        let Some(last) = self.last_ring else {
            return DateTime::<Utc>::MIN_UTC;
        };
        self.settings
            .cadence
            .iter()
            .enumerate()
            .map(|(index, step)| {
                // Checked: a silly configured interval must saturate, not panic.
                let by_interval = last
                    .checked_add_signed(step.every)
                    .unwrap_or(DateTime::<Utc>::MAX_UTC);
                if index == 0 {
                    by_interval
                } else {
                    let from = due
                        .checked_sub_signed(step.remaining_at_most)
                        .unwrap_or(DateTime::<Utc>::MIN_UTC);
                    by_interval.max(from)
                }
            })
            .min()
            // Unreachable: validated settings have at least one step.
            .unwrap_or(last)
    }
}

/// "About to breach" reminders (issue 12 item 1): each key — a letter's clock — rings
/// once, with the softer [`Sound::Warning`], when its warn time comes; a key whose clock
/// was met (or whose letter left the unit) is forgotten, so a later run of it rings anew.
#[derive(Debug, Clone)]
pub struct WarnSchedule<K> {
    /// Key → when its clock enters the warn window; not yet rung.
    pending: BTreeMap<K, DateTime<Utc>>,
    /// Keys that rang and still run: a re-sync must not ring them again.
    rung: BTreeMap<K, DateTime<Utc>>,
}

impl<K: Ord + Clone> Default for WarnSchedule<K> {
    fn default() -> Self {
        WarnSchedule {
            pending: BTreeMap::new(),
            rung: BTreeMap::new(),
        }
    }
}

impl<K: Ord + Clone> WarnSchedule<K> {
    /// `Some(warn_at)`: the clock runs and turns amber then; `None`: it no longer concerns
    /// the user (met, breached, moved on). Returns whether the key is new.
    pub fn set(&mut self, key: K, warn_at: Option<DateTime<Utc>>) -> bool {
        match warn_at {
            None => {
                let known = self.pending.remove(&key).is_some();
                self.rung.remove(&key).is_some() || known
            }
            Some(at) => {
                if let Some(rung_at) = self.rung.get(&key) {
                    // An extension or a policy change moved it past the ring: arm it again.
                    if at > *rung_at {
                        self.rung.remove(&key);
                        self.pending.insert(key, at);
                    }
                    return false;
                }
                self.pending.insert(key, at).is_none()
            }
        }
    }

    /// Forgets everything (a new session).
    pub fn clear(&mut self) {
        self.pending.clear();
        self.rung.clear();
    }

    /// The earliest warn time still to ring.
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        self.pending.values().min().copied()
    }

    /// The keys whose warn time has come, now rung (each once). Empty: nothing to play.
    pub fn tick(&mut self, now: DateTime<Utc>) -> Vec<K> {
        let due: Vec<K> = self
            .pending
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in &due {
            if let Some(at) = self.pending.remove(key) {
                self.rung.insert(key.clone(), at);
            }
        }
        due
    }
}
