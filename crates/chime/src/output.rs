//! The real audio output: one rodio output stream, owned by one dedicated thread.
//!
//! rodio's output stream is not `Send` on every platform and opening it can take a while
//! (or fail), so it lives on its own thread for the whole life of the app; everyone else
//! holds a cheap [`ChimeHandle`] and sends it commands. Sending never blocks.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rodio::{DeviceSinkBuilder, MixerDeviceSink, Player};

use crate::{Audio, AudioError, Sound, clamp_volume};

/// Commands queued beyond this are dropped: a chime that cannot start within a few
/// chimes' time is stale, and an unbounded queue would replay a burst later.
const QUEUE_CAPACITY: usize = 8;
/// Without a device we try again on a later play, but not more often than this: each
/// attempt makes ALSA print to stderr, and a device is rarely plugged in mid-shift.
const REOPEN_AFTER: Duration = Duration::from_secs(300);
/// On shutdown we let the current chime finish, but never hold up app exit longer.
const DRAIN_LIMIT: Duration = Duration::from_secs(3);
/// Longer than any device buffer cpal picks by default.
const DEVICE_FLUSH: Duration = Duration::from_millis(250);

/// Whether the audio thread has a sound device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceState {
    /// The thread is still opening the device.
    Opening,
    /// Sounds are played.
    Ready,
    /// No usable device: sounds are skipped (logged once); the visual alert must carry the news.
    Unavailable,
    /// The thread has shut down.
    Stopped,
}

#[derive(Debug)]
enum Command {
    Play { sound: Sound, volume: f32 },
    Stop,
    Shutdown,
}

/// The device state, shared so that handles can report it and tests can wait for it.
#[derive(Debug)]
struct SharedState {
    state: Mutex<DeviceState>,
    changed: Condvar,
}

impl SharedState {
    fn set(&self, state: DeviceState) {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner) = state;
        self.changed.notify_all();
    }

    fn get(&self) -> DeviceState {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Owns the audio thread. Keep it for the life of the app; call [`ChimeThread::shutdown`]
/// on exit (dropping it also stops the thread, without waiting).
#[derive(Debug)]
pub struct ChimeThread {
    handle: ChimeHandle,
    join: Option<JoinHandle<()>>,
}

/// A cheap, cloneable sender to the audio thread. Implements [`Audio`].
#[derive(Debug, Clone)]
pub struct ChimeHandle {
    tx: SyncSender<Command>,
    shared: Arc<SharedState>,
}

impl ChimeThread {
    /// Starts the audio thread, which opens the default output device in the background.
    /// Returns at once; a missing device is not an error (see [`DeviceState::Unavailable`]).
    pub fn spawn() -> Result<ChimeThread, AudioError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE_CAPACITY);
        let shared = Arc::new(SharedState {
            state: Mutex::new(DeviceState::Opening),
            changed: Condvar::new(),
        });
        let thread_shared = Arc::clone(&shared);
        let join = std::thread::Builder::new()
            .name("jsjb-chime".into())
            .spawn(move || {
                run(&rx, &thread_shared);
                thread_shared.set(DeviceState::Stopped);
            })
            .map_err(AudioError::Spawn)?;
        Ok(ChimeThread {
            handle: ChimeHandle { tx, shared },
            join: Some(join),
        })
    }

    pub fn handle(&self) -> ChimeHandle {
        self.handle.clone()
    }

    /// Lets the current chime finish (at most a few seconds), closes the device and joins
    /// the thread. Closing matters: some backends (ALSA's `file` plugin) finalise on close.
    pub fn shutdown(mut self) {
        // A full queue still gets the shutdown: `send` waits for room, which the thread makes.
        let _ = self.handle.tx.send(Command::Shutdown);
        if let Some(join) = self.join.take() {
            if join.join().is_err() {
                tracing::error!("the audio thread panicked");
            }
        }
    }
}

impl Drop for ChimeThread {
    fn drop(&mut self) {
        if self.join.is_some() {
            // Not joined: dropping must never block the app's exit path.
            let _ = self.handle.tx.try_send(Command::Shutdown);
        }
    }
}

impl ChimeHandle {
    pub fn state(&self) -> DeviceState {
        self.shared.get()
    }

    /// Waits until the device has been opened (or found missing), up to `timeout`.
    /// For diagnostics and tests; the app never needs to wait.
    pub fn wait_opened(&self, timeout: Duration) -> DeviceState {
        let guard = self
            .shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (guard, _) = self
            .shared
            .changed
            .wait_timeout_while(guard, timeout, |s| *s == DeviceState::Opening)
            .unwrap_or_else(PoisonError::into_inner);
        *guard
    }

    /// Cuts off the sound that is playing, if any.
    pub fn stop(&self) -> Result<(), AudioError> {
        self.send(Command::Stop)
    }

    fn send(&self, command: Command) -> Result<(), AudioError> {
        match self.tx.try_send(command) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(command)) => {
                tracing::debug!(?command, "audio queue full; dropping a stale command");
                Ok(())
            }
            Err(TrySendError::Disconnected(_)) => Err(AudioError::ThreadGone),
        }
    }
}

impl Audio for ChimeHandle {
    fn play(&self, sound: Sound, volume: f32) -> Result<(), AudioError> {
        let volume = clamp_volume(volume);
        if volume == 0.0 {
            return Ok(());
        }
        self.send(Command::Play { sound, volume })
    }
}

/// The output device, opened lazily again after a failure.
struct Output {
    sink: Option<MixerDeviceSink>,
    last_attempt: Instant,
}

impl Output {
    fn open(shared: &SharedState) -> Output {
        let sink = match DeviceSinkBuilder::open_default_sink() {
            Ok(mut sink) => {
                // We drop the sink on purpose at shutdown; rodio would otherwise print a notice.
                sink.log_on_drop(false);
                tracing::info!(config = ?sink.config(), "audio output opened");
                shared.set(DeviceState::Ready);
                Some(sink)
            }
            Err(error) => {
                // Logged once: every later play is skipped quietly; the UI still alerts visually.
                tracing::warn!(%error, "no sound device: chimes will be skipped, visual alerts remain");
                shared.set(DeviceState::Unavailable);
                None
            }
        };
        Output {
            sink,
            last_attempt: Instant::now(),
        }
    }

    fn sink(&mut self, shared: &SharedState) -> Option<&MixerDeviceSink> {
        if self.sink.is_none() && self.last_attempt.elapsed() >= REOPEN_AFTER {
            self.last_attempt = Instant::now();
            match DeviceSinkBuilder::open_default_sink() {
                Ok(mut sink) => {
                    sink.log_on_drop(false);
                    tracing::info!(config = ?sink.config(), "audio output became available");
                    shared.set(DeviceState::Ready);
                    self.sink = Some(sink);
                }
                Err(error) => tracing::debug!(%error, "still no sound device"),
            }
        }
        self.sink.as_ref()
    }
}

fn run(rx: &Receiver<Command>, shared: &SharedState) {
    let mut output = Output::open(shared);
    // Only one chime sounds at a time: a new one replaces (drops, hence stops) the previous.
    let mut current: Option<Player> = None;
    while let Ok(command) = rx.recv() {
        match command {
            Command::Play { sound, volume } => {
                let Some(sink) = output.sink(shared) else {
                    continue;
                };
                match sound.decoder() {
                    Ok(decoder) => {
                        let player = Player::connect_new(sink.mixer());
                        player.set_volume(volume);
                        player.append(decoder);
                        current = Some(player);
                    }
                    // Cannot happen with the embedded, tested WAVs; logged rather than trusted.
                    Err(error) => tracing::error!(%error, ?sound, "embedded sound does not decode"),
                }
            }
            Command::Stop => current = None,
            Command::Shutdown => break,
        }
    }
    if let Some(player) = current {
        let deadline = Instant::now() + DRAIN_LIMIT;
        while !player.empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        // `empty` means the mixer has taken the last samples, not that the device has
        // played them: give the device buffer time to drain so the tail is not cut off.
        std::thread::sleep(DEVICE_FLUSH);
    }
}
