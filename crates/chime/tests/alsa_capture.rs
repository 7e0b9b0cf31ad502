//! Plays the chime through the real rodio → cpal → ALSA path into ALSA's `file` plugin and
//! checks what was captured. Runs in a child process so `ALSA_CONFIG_PATH` stays there.

mod support;

use std::path::Path;
use std::time::Duration;

use jsjb_chime::{Audio, ChimeThread, DeviceState, Sound};
use support::{decode_first_channel, dominant_frequency, rms, window};

const SYSTEM_ALSA_CONF: &str = "/usr/share/alsa/alsa.conf";

#[test]
fn chime_reaches_alsa_and_is_audible() {
    if !Path::new(SYSTEM_ALSA_CONF).exists() {
        eprintln!("skipped: no ALSA on this machine");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let capture = dir.path().join("capture.wav");
    let conf = dir.path().join("asoundrc");
    // `format S16_LE` keeps the WAV header honest about the sample format.
    std::fs::write(
        &conf,
        format!(
            "<{SYSTEM_ALSA_CONF}>\n\
             pcm.!default {{ type plug slave {{ pcm {{ type file slave.pcm \"null\" \
             file \"{}\" format \"wav\" }} format S16_LE }} }}\n",
            capture.display()
        ),
    )
    .expect("write asoundrc");
    support::run_child("child_play_into_file", &[("ALSA_CONFIG_PATH", &conf)]);

    let wav = std::fs::read(&capture).expect("ALSA wrote the capture");
    let (rate, _, samples) = decode_first_channel(wav);
    // The stream runs before the chime starts: measure from the first audible sample.
    let onset = samples
        .iter()
        .position(|x| x.abs() > 0.01)
        .expect("the capture is not silent");
    let chime = &samples[onset..];
    let seconds = chime.len() as f64 / f64::from(rate);
    assert!(seconds >= 1.0, "only {seconds} s captured after the onset");
    assert!(rms(window(chime, rate, 0.0, 1.2)) > 0.05, "too quiet");
    let f1 = dominant_frequency(window(chime, rate, 0.02, 0.45), rate, 300, 1200);
    let f2 = dominant_frequency(window(chime, rate, 0.55, 1.1), rate, 300, 1200);
    eprintln!("captured {rate} Hz, {seconds:.2} s after onset; tones at {f1} Hz and {f2} Hz");
    assert!((f1 - 880.0).abs() <= 5.0, "first tone at {f1} Hz");
    assert!((f2 - 660.0).abs() <= 5.0, "second tone at {f2} Hz");
}

#[test]
fn child_play_into_file() {
    if !support::is_child() {
        return;
    }
    let thread = ChimeThread::spawn().expect("spawn");
    let handle = thread.handle();
    assert_eq!(
        handle.wait_opened(Duration::from_secs(10)),
        DeviceState::Ready
    );
    handle.play(Sound::Arrival, 1.0).expect("play");
    // Give the thread time to start the sound; shutdown then lets it finish and closes
    // the device, which is when the file plugin completes the WAV.
    std::thread::sleep(Duration::from_millis(300));
    thread.shutdown();
}
