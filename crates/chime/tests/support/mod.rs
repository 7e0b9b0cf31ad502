//! Helpers shared by the integration tests: signal analysis and child processes.
#![allow(dead_code)] // Each test binary uses a different subset.

use std::path::Path;
use std::process::Command;

/// Set in a child process started by [`run_child`]; child tests do nothing without it.
pub const CHILD_ENV: &str = "JSJB_CHIME_CHILD";

pub fn is_child() -> bool {
    std::env::var_os(CHILD_ENV).is_some()
}

/// Runs one test of the current test binary in a fresh process with extra environment, so
/// variables such as `ALSA_CONFIG_PATH` never leak into the other tests (ALSA reads its
/// configuration once per process).
pub fn run_child(test_name: &str, env: &[(&str, &Path)]) -> std::process::Output {
    let exe = std::env::current_exe().expect("current test binary");
    let mut command = Command::new(exe);
    command
        .args([test_name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1");
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("run the child test");
    assert!(
        output.status.success(),
        "child test {test_name} failed\n--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("1 passed"),
        "child did not run {test_name}:\n{stdout}"
    );
    output
}

/// Decodes a WAV with rodio's own decoder: (sample rate, channels, first channel's samples).
pub fn decode_first_channel(wav: Vec<u8>) -> (u32, u16, Vec<f32>) {
    use rodio::Source;
    let decoder = rodio::Decoder::new_wav(std::io::Cursor::new(wav)).expect("decodes");
    let rate = decoder.sample_rate().get();
    let channels = decoder.channels().get();
    let samples: Vec<f32> = decoder.step_by(usize::from(channels)).collect();
    (rate, channels, samples)
}

/// Power of `freq` in `samples` (Goertzel), normalised by length.
pub fn goertzel(samples: &[f32], rate: u32, freq: f64) -> f64 {
    let w = std::f64::consts::TAU * freq / f64::from(rate);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0_f64, 0.0_f64);
    for &x in samples {
        let s0 = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    (s1 * s1 + s2 * s2 - coeff * s1 * s2) / (samples.len() as f64).powi(2)
}

/// The strongest frequency between `lo` and `hi` Hz, in 1 Hz steps.
pub fn dominant_frequency(samples: &[f32], rate: u32, lo: u32, hi: u32) -> f64 {
    (lo..=hi)
        .map(f64::from)
        .map(|f| (f, goertzel(samples, rate, f)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(f, _)| f)
        .expect("non-empty range")
}

/// Samples from `start_s` to `end_s` seconds.
pub fn window(samples: &[f32], rate: u32, start_s: f64, end_s: f64) -> &[f32] {
    let at = |s: f64| ((s * f64::from(rate)) as usize).min(samples.len());
    &samples[at(start_s)..at(end_s)]
}

pub fn rms(samples: &[f32]) -> f64 {
    let sum: f64 = samples.iter().map(|&x| f64::from(x).powi(2)).sum();
    (sum / samples.len().max(1) as f64).sqrt()
}
