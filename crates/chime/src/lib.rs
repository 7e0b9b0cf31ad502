//! The arrival chime.
//!
//! - [`Sound`]: sounds embedded in the binary (we synthesise them, see [`synth`]).
//! - [`Audio`]: the boundary to the sound card; [`ChimeThread`] is the real one (one rodio
//!   output stream owned by one thread), tests use a fake.
//! - [`AlarmSchedule`]: pure rules for when to ring — time is passed in.
//! - [`Alarm`]: the schedule driving an [`Audio`], ticked by the app.
//!
//! Stands alone: no dependency on tauri or on the other crates of the workspace.

mod alarm;
mod audio;
mod output;
mod schedule;
mod sound;
pub mod synth;

pub use alarm::Alarm;
pub use audio::{Audio, AudioError, clamp_volume};
pub use output::{ChimeHandle, ChimeThread, DeviceState};
pub use schedule::{
    AlarmSchedule, AlarmSettings, CadenceStep, MIN_INTERVAL, Ring, RingReason, SettingsError,
};
pub use sound::{ARRIVAL_WAV, Sound};
