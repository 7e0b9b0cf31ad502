//! The desktop's sync engine: it keeps the local cache ([`jsjb_store`]) in step with the
//! central server and delivers the officer's queued actions.
//!
//! * [`ServerClient`] — typed calls to `/api/v1`, errors by category ([`ClientError`]).
//! * [`SyncEngine`] — one tokio task per session: first sync in pages, then the SSE
//!   stream of pokes (polling while it is down), the outbox pushed in order, backoff
//!   with jitter, the workstation's clock offset; reports through [`SyncHandle`]
//!   (a `watch` of [`SyncStatus`], a broadcast of [`SyncEvent`]).
//! * [`plan`] — the decisions, as pure functions (Atuin's split of "what to do" from
//!   "doing it"), tested without a server.
//!
//! The cache is only touched through its [`jsjb_store::StoreHandle`], whose one thread
//! owns the SQLite connection: the runtime's threads never block on the database.

pub mod client;
pub mod clock;
mod engine;
pub mod plan;
pub mod sse;

pub use client::admin::{NewAccount, UserUpdate};
pub use client::{
    ClientConfig, ClientError, LetterFile, PokeStream, ServerClient, StreamItem, parse_base_url,
};
pub use clock::{LocalClock, ServerClock, SkewedClock, SystemClock};
pub use engine::{
    ConnectionState, SyncConfig, SyncEngine, SyncError, SyncEvent, SyncHandle, SyncReport,
    SyncStatus,
};
pub use plan::AuditAlarm;
