//! The embedded chime: it decodes with rodio, has the promised format, and its two tones
//! are where we say they are.

mod support;

use jsjb_chime::synth::{ARRIVAL_LENGTH_S, ARRIVAL_TONES, SAMPLE_RATE, arrival_wav};
use jsjb_chime::{ARRIVAL_WAV, Sound};
use rodio::Source;
use support::{decode_first_channel, dominant_frequency, rms, window};

#[test]
fn embedded_chime_decodes_as_44k_mono_of_the_expected_length() {
    let decoder = Sound::Arrival.decoder().expect("embedded WAV decodes");
    assert_eq!(decoder.sample_rate().get(), 44_100);
    assert_eq!(decoder.channels().get(), 1);
    let count = decoder.count();
    let seconds = count as f64 / 44_100.0;
    assert!((seconds - 1.2).abs() < 0.01, "duration {seconds} s");
}

#[test]
fn the_two_tones_are_880_then_660_hz() {
    let (rate, _, samples) = decode_first_channel(ARRIVAL_WAV.to_vec());
    let first = window(&samples, rate, 0.02, 0.48);
    let second = window(&samples, rate, 0.52, 1.15);
    let f1 = dominant_frequency(first, rate, 300, 1200);
    let f2 = dominant_frequency(second, rate, 300, 1200);
    assert!((f1 - 880.0).abs() <= 3.0, "first tone at {f1} Hz");
    assert!((f2 - 660.0).abs() <= 3.0, "second tone at {f2} Hz");
    assert_eq!(ARRIVAL_TONES[0].frequency_hz, 880.0);
    assert_eq!(ARRIVAL_TONES[1].frequency_hz, 660.0);
}

#[test]
fn clearly_audible_without_clipping_or_clicks() {
    let (rate, _, samples) = decode_first_channel(ARRIVAL_WAV.to_vec());
    let peak = samples.iter().fold(0.0_f32, |m, x| m.max(x.abs()));
    assert!((0.5..0.95).contains(&peak), "peak {peak}");
    // Both tones carry real energy, not just the first.
    assert!(rms(window(&samples, rate, 0.0, 0.5)) > 0.1);
    assert!(rms(window(&samples, rate, 0.5, 1.2)) > 0.05);
    // Soft edges: the first and last samples are near zero (no click).
    assert!(samples[0].abs() < 0.01 && samples[samples.len() - 1].abs() < 0.01);
}

#[test]
fn committed_asset_is_what_the_generator_makes() {
    // A ±1 LSB tolerance: `sin` may round differently across platforms' libm.
    let fresh = arrival_wav();
    assert_eq!(fresh.len(), ARRIVAL_WAV.len(), "run the make_chime example");
    assert_eq!(fresh[..44], ARRIVAL_WAV[..44]);
    let as_i16 = |b: &[u8]| -> Vec<i16> {
        b[44..]
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect()
    };
    let drift = as_i16(&fresh)
        .iter()
        .zip(as_i16(ARRIVAL_WAV))
        .map(|(a, b)| (i32::from(*a) - i32::from(b)).abs())
        .max();
    assert!(
        drift <= Some(1),
        "assets/arrival.wav is stale: run `cargo run -p jsjb-chime --example make_chime`"
    );
    assert_eq!(SAMPLE_RATE, 44_100);
    assert_eq!(ARRIVAL_LENGTH_S, 1.2);
}
