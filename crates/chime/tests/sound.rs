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

#[test]
fn the_warning_is_one_soft_low_tone_clearly_quieter_than_the_arrival() {
    use jsjb_chime::WARNING_WAV;
    use jsjb_chime::synth::{WARNING_LENGTH_S, warning_wav};
    let decoder = Sound::Warning.decoder().expect("embedded WAV decodes");
    assert_eq!(decoder.sample_rate().get(), 44_100);
    let seconds = decoder.count() as f64 / 44_100.0;
    assert!(
        (seconds - WARNING_LENGTH_S).abs() < 0.01,
        "duration {seconds} s"
    );
    let (rate, _, warning) = decode_first_channel(WARNING_WAV.to_vec());
    let (_, _, arrival) = decode_first_channel(ARRIVAL_WAV.to_vec());
    let f = dominant_frequency(window(&warning, rate, 0.02, 0.5), rate, 300, 1200);
    assert!((f - 523.25).abs() <= 3.0, "tone at {f} Hz");
    let peak = |s: &[f32]| s.iter().fold(0.0_f32, |m, x| m.max(x.abs()));
    assert!(
        peak(&warning) * 3.0 < peak(&arrival),
        "softer: {} vs {}",
        peak(&warning),
        peak(&arrival)
    );
    assert!(peak(&warning) > 0.1, "still audible");
    // The committed asset is what the generator makes (±1 LSB).
    let fresh = warning_wav();
    assert_eq!(fresh.len(), WARNING_WAV.len(), "run the make_chime example");
    let drift = fresh[44..]
        .chunks_exact(2)
        .zip(WARNING_WAV[44..].chunks_exact(2))
        .map(|(a, b)| {
            (i32::from(i16::from_le_bytes([a[0], a[1]]))
                - i32::from(i16::from_le_bytes([b[0], b[1]])))
            .abs()
        })
        .max();
    assert!(drift <= Some(1), "assets/warning.wav is stale");
}
