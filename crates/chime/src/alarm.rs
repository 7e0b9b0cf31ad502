//! The schedule driving the audio.

use chrono::{DateTime, Utc};

use crate::{AlarmSchedule, AlarmSettings, Audio, Ring, SettingsError};

/// An [`AlarmSchedule`] wired to an [`Audio`]. The app owns one and calls [`Alarm::tick`]
/// from its loop — after each sync that changed letters, and when [`Alarm::next_due`] comes.
#[derive(Debug)]
pub struct Alarm<K, A> {
    schedule: AlarmSchedule<K>,
    audio: A,
    audio_failed: bool,
}

impl<K: Ord + Clone, A: Audio> Alarm<K, A> {
    pub fn new(settings: AlarmSettings, audio: A) -> Result<Alarm<K, A>, SettingsError> {
        Ok(Alarm {
            schedule: AlarmSchedule::new(settings)?,
            audio,
            audio_failed: false,
        })
    }

    pub fn schedule(&self) -> &AlarmSchedule<K> {
        &self.schedule
    }

    pub fn audio(&self) -> &A {
        &self.audio
    }

    pub fn set_settings(&mut self, settings: AlarmSettings) -> Result<(), SettingsError> {
        self.schedule.set_settings(settings)
    }

    /// See [`AlarmSchedule::on_arrival`]; the sound plays at the next [`Alarm::tick`].
    pub fn on_arrival(&mut self, letter: K, sign_by: DateTime<Utc>) -> bool {
        self.schedule.on_arrival(letter, sign_by)
    }

    pub fn on_signed(&mut self, letter: &K) -> bool {
        self.schedule.on_signed(letter)
    }

    /// Rings if the schedule says so. Returns the ring even when the audio failed, so the
    /// caller can still show its visual alert.
    pub fn tick(&mut self, now: DateTime<Utc>) -> Option<Ring> {
        let ring = self.schedule.tick(now)?;
        match self.audio.play(ring.sound, ring.volume) {
            Ok(()) => self.audio_failed = false,
            Err(error) => {
                // Once per outage, not once per ring: the alarm keeps running regardless.
                if !self.audio_failed {
                    tracing::warn!(%error, "could not play the alarm; visual alert only");
                }
                self.audio_failed = true;
            }
        }
        Some(ring)
    }

    pub fn next_due(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.schedule.next_due(now)
    }
}
