//! The boundary to the sound card.

use crate::Sound;

/// Something that can play a [`Sound`]. The real implementation is [`crate::ChimeHandle`];
/// tests substitute a fake that records what was played.
///
/// `play` must not block on the device: it is called from the app's event loop.
pub trait Audio {
    /// Starts playing `sound` at `volume` (0.0–1.0; values outside are clamped).
    ///
    /// A missing sound device is *not* an error: the sound is silently skipped so the caller
    /// carries on with its visual alert. Errors mean the audio machinery itself is gone.
    fn play(&self, sound: Sound, volume: f32) -> Result<(), AudioError>;
}

impl<A: Audio + ?Sized> Audio for &A {
    fn play(&self, sound: Sound, volume: f32) -> Result<(), AudioError> {
        (**self).play(sound, volume)
    }
}

impl<A: Audio + ?Sized> Audio for std::sync::Arc<A> {
    fn play(&self, sound: Sound, volume: f32) -> Result<(), AudioError> {
        (**self).play(sound, volume)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// The audio thread has exited (shut down, or it panicked); nothing will play again.
    #[error("the audio thread is not running")]
    ThreadGone,
    /// The audio thread could not be started.
    #[error("could not start the audio thread")]
    Spawn(#[source] std::io::Error),
}

/// Clamps a volume to 0.0–1.0; NaN counts as silence rather than as full blast.
pub fn clamp_volume(volume: f32) -> f32 {
    if volume.is_nan() {
        0.0
    } else {
        volume.clamp(0.0, 1.0)
    }
}
