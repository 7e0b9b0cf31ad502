//! The arrival chime.
//!
//! - [`Sound`]: sounds embedded in the binary (we synthesise them, see [`synth`]).
//! - [`Audio`]: the boundary to the sound card; [`ChimeThread`] is the real one (one rodio
//!   output stream owned by one thread), tests use a fake.
//! - [`AlarmSchedule`]: pure rules for when to ring — time is passed in.
//! - [`Alarm`]: the schedule driving an [`Audio`], ticked by the app.
//!
//! Stands alone: no dependency on tauri or on the other crates of the workspace.
//!
//! # Wiring in the app
//! - At startup: `ChimeThread::spawn()` (keep it in app state; `shutdown()` on exit) and
//!   `Alarm::new(settings, thread.handle())` behind a mutex.
//! - The sync engine, after applying a pull: `on_arrival(id, sign_by)` for each letter
//!   newly dispatched to the unit and unsigned (at startup: for those already in the cache,
//!   which rings once), `on_signed(&id)` for each one signed or gone; then `tick(now)`.
//! - One timer task: sleep until `next_due(now)` (or until woken by the sync engine),
//!   then `tick(now)`. The OS notification follows `on_arrival` returning `true`, not a
//!   `Ring`: muting silences the chime, never the visual alert.
//! - `now` is server time (workstation clock corrected by the estimated skew), the same
//!   time the sign-for clocks are computed in.

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
    WarnSchedule,
};
pub use sound::{ARRIVAL_WAV, Sound, WARNING_WAV};
