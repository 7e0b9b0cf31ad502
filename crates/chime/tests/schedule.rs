//! The alarm schedule: validation, arrival, the rising cadence at its boundaries, signing.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use jsjb_chime::{
    AlarmSchedule, AlarmSettings, CadenceStep, Ring, RingReason, SettingsError, Sound,
};
use rstest::rstest;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0)
        .single()
        .expect("valid")
}

fn at(offset_s: i64) -> DateTime<Utc> {
    t0() + TimeDelta::seconds(offset_s)
}

fn secs(s: i64) -> TimeDelta {
    TimeDelta::seconds(s)
}

fn schedule() -> AlarmSchedule<&'static str> {
    AlarmSchedule::new(AlarmSettings::default()).expect("default settings are valid")
}

/// Ticks once a second from `from` to `to` (inclusive); returns the offsets that rang.
fn rings_between(s: &mut AlarmSchedule<&'static str>, from: i64, to: i64) -> Vec<i64> {
    (from..=to).filter(|&t| s.tick(at(t)).is_some()).collect()
}

#[test]
fn default_cadence_is_the_documented_one() {
    let d = AlarmSettings::default();
    assert!(!d.muted && d.repeat);
    assert_eq!(
        d.cadence,
        vec![
            CadenceStep::new(TimeDelta::minutes(10), secs(120)),
            CadenceStep::new(TimeDelta::minutes(5), secs(60)),
            CadenceStep::new(TimeDelta::minutes(3), secs(30)),
            CadenceStep::new(TimeDelta::zero(), secs(15)),
        ]
    );
    assert_eq!(d.validate(), Ok(()));
}

#[rstest]
#[case::too_loud(|s: &mut AlarmSettings| s.volume = 1.5, SettingsError::Volume(1.5))]
#[case::negative(|s: &mut AlarmSettings| s.volume = -0.1, SettingsError::Volume(-0.1))]
#[case::empty(|s: &mut AlarmSettings| s.cadence.clear(), SettingsError::EmptyCadence)]
#[case::too_often(
    |s: &mut AlarmSettings| s.cadence[3].every = secs(4),
    SettingsError::IntervalTooShort { index: 3, every: secs(4), min: secs(5) }
)]
#[case::thresholds_equal(
    |s: &mut AlarmSettings| s.cadence[2].remaining_at_most = TimeDelta::minutes(5),
    SettingsError::ThresholdsNotDecreasing { index: 2 }
)]
#[case::intervals_grow(
    |s: &mut AlarmSettings| s.cadence[1].every = secs(180),
    SettingsError::IntervalsGrow { index: 1 }
)]
fn invalid_settings_are_refused(
    #[case] change: fn(&mut AlarmSettings),
    #[case] expected: SettingsError,
) {
    let mut settings = AlarmSettings::default();
    change(&mut settings);
    assert_eq!(settings.validate(), Err(expected.clone()));
    assert_eq!(
        AlarmSchedule::<u32>::new(settings.clone()).err(),
        Some(expected)
    );
    let mut s = schedule();
    assert!(s.set_settings(settings).is_err());
    assert_eq!(s.settings(), &AlarmSettings::default(), "old settings kept");
}

#[test]
fn nan_volume_is_refused() {
    let settings = AlarmSettings {
        volume: f32::NAN,
        ..AlarmSettings::default()
    };
    assert!(matches!(settings.validate(), Err(SettingsError::Volume(_))));
}

#[test]
fn an_arrival_rings_immediately_and_once() {
    let mut s = schedule();
    assert_eq!(s.next_due(at(0)), None);
    assert!(s.on_arrival("A", at(600)));
    assert_eq!(s.next_due(at(0)), Some(at(0)));
    assert_eq!(
        s.tick(at(0)),
        Some(Ring {
            reason: RingReason::Arrival,
            sound: Sound::Arrival,
            volume: 0.8,
            unsigned: 1,
            most_urgent_remaining: secs(600),
        })
    );
    assert_eq!(s.tick(at(0)), None);
    assert_eq!(s.tick(at(1)), None);
}

#[test]
fn a_ten_minute_letter_rings_at_a_rising_cadence_until_signed() {
    let mut s = schedule();
    s.on_arrival("A", at(600));
    assert_eq!(
        rings_between(&mut s, 0, 660),
        vec![
            0, 120, 240, // every 120 s while more than 5 min remain
            300, 360, // every 60 s from 5:00 left
            420, 450, 480, 510, 540, 570, // every 30 s from 3:00 left (amber)
            600, 615, 630, 645, 660, // every 15 s from the due time on
        ]
    );
    assert!(s.on_signed(&"A"));
    assert_eq!(s.next_due(at(661)), None);
    assert_eq!(rings_between(&mut s, 661, 4000), Vec::<i64>::new());
}

/// A letter arrives at offset 0 with `remaining` seconds left; after the arrival ring, the
/// next reminder is due at `next` — at the step boundaries and either side of them.
#[rstest]
#[case::more_than_the_window(700, 120)]
#[case::full_window(600, 120)]
#[case::reaches_5_min_exactly_at_120(420, 120)]
#[case::reaches_5_min_before_120(361, 61)]
#[case::at_5_min(300, 60)]
#[case::just_under_5_min(299, 60)]
#[case::reaches_3_min_at_60(240, 60)]
#[case::reaches_3_min_within_30(200, 30)]
#[case::reaches_3_min_exactly_at_30(210, 30)]
#[case::at_3_min(180, 30)]
#[case::just_under_3_min(179, 30)]
#[case::due_before_30(20, 20)]
#[case::due_after_15(16, 16)]
#[case::due_within_15(10, 15)]
#[case::due_now(0, 15)]
#[case::overdue(-100, 15)]
fn next_reminder_at_the_boundaries(#[case] remaining: i64, #[case] next: i64) {
    let mut s = schedule();
    s.on_arrival("A", at(remaining));
    assert!(s.tick(at(0)).is_some());
    assert_eq!(s.next_due(at(0)), Some(at(next)));
    assert_eq!(s.tick(at(next - 1)), None, "not a second early");
    let ring = s.tick(at(next)).expect("rings when due");
    assert_eq!(ring.reason, RingReason::Reminder);
    assert_eq!(ring.most_urgent_remaining, secs(remaining - next));
}

#[test]
fn the_most_urgent_letter_sets_the_cadence() {
    let mut s = schedule();
    s.on_arrival("relaxed", at(600));
    s.on_arrival("urgent", at(100));
    let ring = s.tick(at(0)).expect("arrival");
    assert_eq!(ring.unsigned, 2);
    assert_eq!(ring.most_urgent_remaining, secs(100));
    assert_eq!(s.most_urgent(), Some((&"urgent", at(100))));
    assert_eq!(s.next_due(at(0)), Some(at(30)));
    // Signing the urgent one hands the cadence back to the relaxed one.
    s.on_signed(&"urgent");
    assert_eq!(s.next_due(at(1)), Some(at(120)));
}

#[test]
fn signing_before_the_tick_cancels_the_arrival_ring() {
    let mut s = schedule();
    s.on_arrival("A", at(600));
    assert!(s.on_signed(&"A"));
    assert!(!s.on_signed(&"A"), "already gone");
    assert_eq!(s.tick(at(0)), None);
    assert_eq!(s.next_due(at(0)), None);
}

#[test]
fn a_resynced_letter_is_not_a_new_arrival() {
    let mut s = schedule();
    assert!(s.on_arrival("A", at(600)));
    assert!(s.tick(at(0)).is_some());
    assert!(!s.on_arrival("A", at(600)));
    assert_eq!(s.tick(at(1)), None);
    assert_eq!(s.unsigned_count(), 1);
}

#[test]
fn a_new_arrival_rings_at_once_and_restarts_the_cadence() {
    let mut s = schedule();
    s.on_arrival("A", at(600));
    assert!(s.tick(at(0)).is_some());
    s.on_arrival("B", at(650));
    let ring = s.tick(at(50)).expect("arrival");
    assert_eq!(ring.reason, RingReason::Arrival);
    assert_eq!(s.next_due(at(50)), Some(at(170)));
}

#[test]
fn a_late_tick_rings_once_not_a_burst() {
    let mut s = schedule();
    s.on_arrival("A", at(600));
    assert!(s.tick(at(0)).is_some());
    // The app was asleep for 11 minutes.
    assert!(s.tick(at(660)).is_some());
    assert_eq!(s.tick(at(661)), None);
    assert_eq!(s.next_due(at(661)), Some(at(675)));
}

#[test]
fn muted_consumes_arrivals_and_unmuting_resumes_reminders() {
    let mut s = schedule();
    s.set_settings(AlarmSettings {
        muted: true,
        ..AlarmSettings::default()
    })
    .expect("valid");
    s.on_arrival("A", at(600));
    assert_eq!(s.next_due(at(0)), None);
    assert_eq!(rings_between(&mut s, 0, 700), Vec::<i64>::new());
    s.set_settings(AlarmSettings::default()).expect("valid");
    let ring = s.tick(at(701)).expect("letters still wait");
    assert_eq!(ring.reason, RingReason::Reminder);
    assert_eq!(s.next_due(at(701)), Some(at(716)));
}

#[test]
fn without_repeat_only_arrivals_ring() {
    let mut s = schedule();
    s.set_settings(AlarmSettings {
        repeat: false,
        ..AlarmSettings::default()
    })
    .expect("valid");
    s.on_arrival("A", at(600));
    assert_eq!(rings_between(&mut s, 0, 900), vec![0]);
    assert_eq!(s.next_due(at(900)), None);
    s.on_arrival("B", at(1500));
    assert_eq!(rings_between(&mut s, 901, 1000), vec![901]);
}

#[test]
fn a_custom_cadence_is_followed() {
    let mut s = AlarmSchedule::new(AlarmSettings {
        volume: 0.3,
        cadence: vec![
            CadenceStep::new(secs(60), secs(20)),
            CadenceStep::new(secs(-60), secs(5)),
        ],
        ..AlarmSettings::default()
    })
    .expect("valid");
    s.on_arrival(7_u64, at(100));
    assert_eq!(s.tick(at(0)).map(|r| r.volume), Some(0.3));
    let rings: Vec<i64> = (1..=180).filter(|&t| s.tick(at(t)).is_some()).collect();
    // 20 s apart until 60 s past due, then every 5 s.
    assert_eq!(
        rings,
        vec![20, 40, 60, 80, 100, 120, 140, 160, 165, 170, 175, 180]
    );
}

// ---------------------------------------------------------------------------------------
// "About to breach": once per clock, softly.

mod warnings {
    use chrono::{DateTime, TimeDelta, TimeZone, Utc};
    use jsjb_chime::WarnSchedule;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000, 0)
            .single()
            .expect("a time")
            + TimeDelta::seconds(secs)
    }

    #[test]
    fn each_clock_rings_once_when_its_warn_time_comes() {
        let mut w = WarnSchedule::default();
        assert!(w.set(("a", 1), Some(t(100))));
        assert!(w.set(("b", 1), Some(t(200))));
        assert_eq!(w.next_due(), Some(t(100)));
        assert!(w.tick(t(99)).is_empty());
        assert_eq!(w.tick(t(100)), vec![("a", 1)]);
        // Re-syncs report the same clock: no second ring.
        assert!(!w.set(("a", 1), Some(t(100))));
        assert!(w.tick(t(150)).is_empty());
        assert_eq!(w.next_due(), Some(t(200)));
        assert_eq!(w.tick(t(500)), vec![("b", 1)]);
        assert_eq!(w.next_due(), None);
    }

    #[test]
    fn a_met_clock_is_forgotten_and_a_moved_one_rearmed() {
        let mut w = WarnSchedule::default();
        w.set(("a", 1), Some(t(100)));
        // Met before its warn time: it never rings.
        assert!(w.set(("a", 1), None));
        assert!(w.tick(t(1_000)).is_empty());
        // Rung, then its deadline moved later (an extension): it rings again then.
        w.set(("b", 1), Some(t(100)));
        assert_eq!(w.tick(t(100)).len(), 1);
        w.set(("b", 1), Some(t(900)));
        assert!(w.tick(t(800)).is_empty());
        assert_eq!(w.tick(t(900)), vec![("b", 1)]);
        // Already inside its warn window when first seen: rings at the next tick.
        w.set(("c", 2), Some(t(0)));
        assert_eq!(w.tick(t(1_000)), vec![("c", 2)]);
        w.clear();
        assert_eq!(w.next_due(), None);
    }
}
