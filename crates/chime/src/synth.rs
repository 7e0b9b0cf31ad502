//! The synthesiser behind `assets/arrival.wav`.
//!
//! We make the chime ourselves, from sine waves, so there is no licence to track.
//! `examples/make_chime.rs` writes the asset with [`arrival_wav`]; a test checks that the
//! committed file still matches this code, so the two cannot drift apart.

use std::f64::consts::TAU;

/// Sample rate of every embedded sound.
pub const SAMPLE_RATE: u32 = 44_100;

/// One tone of the chime: where it starts, how long it rings, at what pitch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tone {
    pub frequency_hz: f64,
    pub start_s: f64,
    pub length_s: f64,
}

/// The arrival chime: a falling major third ("ding–dong"), which reads as "something
/// arrived" rather than "error". The tones do not overlap, so each can be measured alone.
pub const ARRIVAL_TONES: [Tone; 2] = [
    Tone {
        frequency_hz: 880.0,
        start_s: 0.0,
        length_s: 0.5,
    },
    Tone {
        frequency_hz: 660.0,
        start_s: 0.5,
        length_s: 0.7,
    },
];

/// Total length of the arrival chime.
pub const ARRIVAL_LENGTH_S: f64 = 1.2;

/// Peak level: -3 dBFS, loud enough on office speakers without clipping after resampling.
const PEAK: f64 = 0.707;
/// A soft attack avoids the click a sine started at full level makes.
const ATTACK_S: f64 = 0.012;
/// A short linear fade at the very end brings the exponential tail exactly to zero.
const RELEASE_S: f64 = 0.03;
/// Exponential decay rate (per second) of each tone: bell-like, still clearly audible at the end.
const DECAY_PER_S: f64 = 3.0;
/// A little second harmonic makes the tone carry on small speakers that roll off low notes.
const SECOND_HARMONIC: f64 = 0.15;

/// The "about to breach" reminder (a contact or first-feedback clock entering its amber
/// window): one low, short tone at a quarter of the arrival's level, so that it is heard
/// without being mistaken for a new letter.
pub const WARNING_TONES: [Tone; 1] = [Tone {
    frequency_hz: 523.25,
    start_s: 0.0,
    length_s: 0.6,
}];

/// Total length of the warning sound.
pub const WARNING_LENGTH_S: f64 = 0.6;

/// The warning's peak: -15 dBFS, 12 dB below the arrival chime.
const WARNING_PEAK: f64 = 0.178;

/// The arrival chime as 16-bit mono samples at [`SAMPLE_RATE`]. Deterministic.
pub fn arrival_samples() -> Vec<i16> {
    samples(&ARRIVAL_TONES, ARRIVAL_LENGTH_S, PEAK)
}

/// The softer "about to breach" sound, as [`arrival_samples`]. Deterministic.
pub fn warning_samples() -> Vec<i16> {
    samples(&WARNING_TONES, WARNING_LENGTH_S, WARNING_PEAK)
}

fn samples(tones: &[Tone], length_s: f64, peak: f64) -> Vec<i16> {
    let total = (length_s * f64::from(SAMPLE_RATE)).round() as usize;
    let mut out = vec![0.0_f64; total];
    for tone in tones {
        render_tone(&mut out, *tone, peak);
    }
    out.iter()
        .map(|x| (x.clamp(-1.0, 1.0) * f64::from(i16::MAX)).round() as i16)
        .collect()
}

fn render_tone(out: &mut [f64], tone: Tone, peak: f64) {
    let rate = f64::from(SAMPLE_RATE);
    let start = (tone.start_s * rate).round() as usize;
    let len = (tone.length_s * rate).round() as usize;
    let norm = peak / (1.0 + SECOND_HARMONIC);
    for (i, slot) in out.iter_mut().skip(start).take(len).enumerate() {
        let t = i as f64 / rate;
        let attack = (t / ATTACK_S).min(1.0);
        let release = ((tone.length_s - t) / RELEASE_S).clamp(0.0, 1.0);
        let envelope = attack * release * (-DECAY_PER_S * t).exp();
        let phase = TAU * tone.frequency_hz * t;
        *slot += norm * envelope * (phase.sin() + SECOND_HARMONIC * (2.0 * phase).sin());
    }
}

/// Wraps 16-bit mono samples in a canonical 44-byte-header RIFF/WAVE file.
pub fn wav_bytes(samples: &[i16], sample_rate: u32) -> Vec<u8> {
    const CHANNELS: u16 = 1;
    const BITS: u16 = 16;
    let block_align = CHANNELS * BITS / 8;
    let data_len = (samples.len() * usize::from(block_align)) as u32;
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVE");
    out.extend_from_slice(b"fmt ");
    out.extend_from_slice(&16_u32.to_le_bytes());
    out.extend_from_slice(&1_u16.to_le_bytes()); // PCM
    out.extend_from_slice(&CHANNELS.to_le_bytes());
    out.extend_from_slice(&sample_rate.to_le_bytes());
    out.extend_from_slice(&(sample_rate * u32::from(block_align)).to_le_bytes());
    out.extend_from_slice(&block_align.to_le_bytes());
    out.extend_from_slice(&BITS.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

/// The complete `assets/arrival.wav` file.
pub fn arrival_wav() -> Vec<u8> {
    wav_bytes(&arrival_samples(), SAMPLE_RATE)
}

/// The complete `assets/warning.wav` file.
pub fn warning_wav() -> Vec<u8> {
    wav_bytes(&warning_samples(), SAMPLE_RATE)
}
