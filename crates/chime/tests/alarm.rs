//! The alarm drives the audio as the schedule says; the audio is faked at its boundary.

use std::cell::RefCell;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use jsjb_chime::{Alarm, AlarmSettings, Audio, AudioError, RingReason, Sound};

/// Records what was played; can pretend the audio thread is gone.
#[derive(Default)]
struct RecordingAudio {
    plays: RefCell<Vec<(Sound, f32)>>,
    broken: bool,
}

impl Audio for RecordingAudio {
    fn play(&self, sound: Sound, volume: f32) -> Result<(), AudioError> {
        if self.broken {
            return Err(AudioError::ThreadGone);
        }
        self.plays.borrow_mut().push((sound, volume));
        Ok(())
    }
}

fn at(offset_s: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0)
        .single()
        .expect("valid")
        + TimeDelta::seconds(offset_s)
}

#[test]
fn an_arrival_plays_the_chime_at_the_set_volume() {
    let mut alarm = Alarm::new(
        AlarmSettings {
            volume: 0.4,
            ..AlarmSettings::default()
        },
        RecordingAudio::default(),
    )
    .expect("valid");
    alarm.on_arrival("A", at(600));
    let ring = alarm.tick(at(0)).expect("rings");
    assert_eq!(ring.reason, RingReason::Arrival);
    assert_eq!(*alarm.audio().plays.borrow(), vec![(Sound::Arrival, 0.4)]);
}

/// The way the app drives it: sleep until `next_due`, tick, repeat.
#[test]
fn driven_by_next_due_it_plays_the_cadence_and_stops_when_signed() {
    let mut alarm = Alarm::new(AlarmSettings::default(), RecordingAudio::default()).expect("ok");
    alarm.on_arrival(1_u32, at(600));
    let mut now = at(0);
    let mut rang_at = Vec::new();
    while let Some(due) = alarm.next_due(now) {
        if due > at(600) {
            break;
        }
        now = due;
        if alarm.tick(now).is_some() {
            rang_at.push((now - at(0)).num_seconds());
        }
    }
    assert_eq!(
        rang_at,
        vec![0, 120, 240, 300, 360, 420, 450, 480, 510, 540, 570, 600]
    );
    assert_eq!(alarm.audio().plays.borrow().len(), 12);
    alarm.on_signed(&1);
    assert_eq!(alarm.next_due(now), None);
    assert_eq!(alarm.tick(at(3600)), None);
    assert_eq!(alarm.audio().plays.borrow().len(), 12);
}

#[test]
fn muted_plays_nothing() {
    let mut alarm = Alarm::new(
        AlarmSettings {
            muted: true,
            ..AlarmSettings::default()
        },
        RecordingAudio::default(),
    )
    .expect("valid");
    alarm.on_arrival("A", at(600));
    for t in 0..900 {
        assert_eq!(alarm.tick(at(t)), None);
    }
    assert!(alarm.audio().plays.borrow().is_empty());
}

#[test]
fn broken_audio_still_returns_the_ring_for_the_visual_alert() {
    let audio = RecordingAudio {
        broken: true,
        ..RecordingAudio::default()
    };
    let mut alarm = Alarm::new(AlarmSettings::default(), audio).expect("valid");
    alarm.on_arrival("A", at(600));
    assert!(alarm.tick(at(0)).is_some());
    assert!(alarm.tick(at(120)).is_some());
}

#[test]
fn settings_change_takes_effect_and_bad_ones_are_refused() {
    let mut alarm = Alarm::new(AlarmSettings::default(), RecordingAudio::default()).expect("ok");
    let bad = AlarmSettings {
        volume: 2.0,
        ..AlarmSettings::default()
    };
    assert!(alarm.set_settings(bad).is_err());
    alarm
        .set_settings(AlarmSettings {
            volume: 1.0,
            ..AlarmSettings::default()
        })
        .expect("valid");
    alarm.on_arrival("A", at(600));
    alarm.tick(at(0));
    assert_eq!(*alarm.audio().plays.borrow(), vec![(Sound::Arrival, 1.0)]);
}
