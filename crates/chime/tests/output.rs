//! The real rodio output degrades to "no audio" when there is no device: no panic, no
//! blocking, plays are skipped.

mod support;

use std::time::{Duration, Instant};

use jsjb_chime::{Audio, ChimeThread, DeviceState, Sound};

const OPEN_TIMEOUT: Duration = Duration::from_secs(10);

/// In this process, with whatever the machine has (no sound card on CI): opening settles
/// to a definite state, and playing neither panics nor blocks.
#[test]
fn opening_settles_and_play_never_blocks() {
    let thread = ChimeThread::spawn().expect("spawn the audio thread");
    let handle = thread.handle();
    let state = handle.wait_opened(OPEN_TIMEOUT);
    assert!(
        matches!(state, DeviceState::Ready | DeviceState::Unavailable),
        "{state:?}"
    );
    let started = Instant::now();
    for _ in 0..100 {
        handle.play(Sound::Arrival, 0.0).expect("muted play");
        handle.play(Sound::Arrival, 0.01).expect("play");
    }
    assert!(started.elapsed() < Duration::from_millis(200));
    handle.stop().expect("stop");
    thread.shutdown();
    assert_eq!(handle.state(), DeviceState::Stopped);
    assert!(handle.play(Sound::Arrival, 0.5).is_err(), "thread is gone");
}

/// With ALSA configured to have no usable device at all (as on a workstation without a
/// sound card), the thread reports `Unavailable` and skips plays quietly.
#[test]
fn without_a_device_the_state_is_unavailable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("asound.conf");
    // Deliberately does not include the system alsa.conf: no cards, no hints, no fallback.
    std::fs::write(&conf, "pcm.!default { type hw card 99 }\n").expect("write conf");
    support::run_child("child_without_a_device", &[("ALSA_CONFIG_PATH", &conf)]);
}

#[test]
fn child_without_a_device() {
    if !support::is_child() {
        return;
    }
    let started = Instant::now();
    let thread = ChimeThread::spawn().expect("spawn");
    let handle = thread.handle();
    assert_eq!(handle.wait_opened(OPEN_TIMEOUT), DeviceState::Unavailable);
    for _ in 0..20 {
        handle
            .play(Sound::Arrival, 1.0)
            .expect("skipped, not an error");
    }
    thread.shutdown();
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// The app keeps the handle in shared state and the alarm behind a mutex across threads.
#[test]
fn handles_and_alarms_can_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<jsjb_chime::ChimeHandle>();
    send_sync::<jsjb_chime::Alarm<String, jsjb_chime::ChimeHandle>>();
}
