//! Types that cross the IPC boundary. Each derives `ts_rs::TS`; the TypeScript
//! declarations in `ui/src/ipc/bindings/` are generated from them (see `bindings.rs`).

use chrono::{DateTime, Utc};
use jsjb_core::letter::LetterId;
use jsjb_core::workflow::ActionKind;
use jsjb_proto::Me;
use jsjb_store::{InboxPage, LetterDetail};
use serde::Serialize;
use ts_rs::TS;

/// What the first screen shows about the app itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct AppInfo {
    /// The product name from `tauri.conf.json` (接诉即办工作台).
    pub product_name: String,
    /// The app's version (semver).
    pub version: String,
    /// Whether the app is in touch with the central server.
    pub connection: ConnectionState,
}

/// The app's link to the central server, as `app_info` reads it when called (live
/// changes come with the `sync-status` event).
///
/// Tagged (`{ "state": "online", "live": true }`) so that states can carry data
/// without breaking the UI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum ConnectionState {
    /// Nobody is signed in (signed out): there is no server to talk to, and no cache.
    Disconnected,
    /// The last exchange with the server succeeded; `live` when its change stream is
    /// connected (changes arrive within a second, not at the next poll).
    Online { live: bool },
    /// An exchange with the server is under way.
    Syncing,
    /// The server could not be reached (or the session expired) since this server time;
    /// the app works from its cache.
    Offline { since: DateTime<Utc> },
}

impl ConnectionState {
    /// The state of a signed-in session's sync, or `Disconnected` when nobody is.
    pub fn of(sync: Option<&jsjb_sync::SyncStatus>) -> ConnectionState {
        match sync {
            None => ConnectionState::Disconnected,
            Some(status) => match &status.state {
                jsjb_sync::ConnectionState::Online => ConnectionState::Online { live: status.live },
                jsjb_sync::ConnectionState::Syncing => ConnectionState::Syncing,
                jsjb_sync::ConnectionState::Offline { since } => {
                    ConnectionState::Offline { since: *since }
                }
            },
        }
    }
}

/// Who is signed in, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    /// The server URL, normalised (no trailing `/`).
    pub server_url: String,
    pub me: Me,
}

/// One page of the inbox and the server time it was coloured at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct InboxView {
    pub page: InboxPage,
    /// For live countdowns: add the time elapsed since the answer arrived.
    pub server_now: DateTime<Utc>,
}

/// A letter's detail and what the user may do with it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct LetterView {
    pub detail: LetterDetail,
    /// From core's `available_actions` under the user's roles and unit.
    pub available_actions: Vec<ActionKind>,
    pub server_now: DateTime<Utc>,
}

/// The bytes of an attachment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentData {
    pub mime: String,
    pub base64: String,
}

/// The answer to `test_chime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ChimeTest {
    /// False when there is no sound device.
    pub played: bool,
}

/// Payload of `letters-changed` and `letters-arrived`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct LettersEvent {
    pub ids: Vec<LetterId>,
}

/// Answer to `waiting_status` and payload of `waiting-changed`: the letters that wait
/// for the user as the alarm counts them (dispatched to their unit and not signed for;
/// at a desk, `received` there), for the window title, the banner and the tray.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct WaitingStatus {
    /// Most urgent first.
    pub ids: Vec<LetterId>,
    /// False when the workstation has no usable sound device: the chime cannot play.
    pub sound_available: bool,
}

/// Payload of `action-refused`: the server refused a queued action; the letter is back
/// to the server's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ActionRefusedEvent {
    #[ts(type = "number")]
    pub entry_id: i64,
    pub letter_id: LetterId,
    /// The server's problem code (translate it; `message` is for the log).
    pub code: String,
    pub message: String,
}

/// Payload of `session-expired`: sign in again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
pub struct SessionExpiredEvent {}

/// Payload of `audit-mismatch`: the server's audit chain newly disagrees with the head
/// this desktop kept (shorter, forked, another key). The banner stays while
/// `SyncStatus.audit_alarm` is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct AuditMismatchEvent {
    pub alarm: jsjb_sync::AuditAlarm,
}

/// The names of the events Rust emits to the UI.
pub mod events {
    pub const SYNC_STATUS: &str = "sync-status";
    pub const LETTERS_CHANGED: &str = "letters-changed";
    pub const LETTERS_ARRIVED: &str = "letters-arrived";
    /// The supervising officer chased (催办) letters the user's unit holds.
    pub const LETTERS_CHASED: &str = "letters-chased";
    /// A clock breached at a unit below the desk (逐级上报): the wall board and the rows
    /// mark them.
    pub const LETTERS_ESCALATED: &str = "letters-escalated";
    /// Feedback forms newly wait for the chief (待签批).
    pub const FORMS_TO_SIGN: &str = "forms-to-sign";
    pub const ACTION_REFUSED: &str = "action-refused";
    pub const SESSION_EXPIRED: &str = "session-expired";
    pub const AUDIT_MISMATCH: &str = "audit-mismatch";
    pub const WAITING_CHANGED: &str = "waiting-changed";
    /// The officer clicked an OS notification: open what it announced.
    pub const NOTIFICATION_OPENED: &str = "notification-opened";
}

/// What an OS notification announced, so that clicking it opens the right screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// New letters to sign for or dispatch.
    Arrival,
    /// A chase (催办) by the supervising officer.
    Chase,
    /// Feedback forms newly waiting for the chief.
    FormsToSign,
    /// A breach at a unit below the desk (逐级上报).
    Escalation,
}

/// Payload of `notification-opened`: the notification's kind and the letter it named
/// (the newest of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct NotificationOpened {
    pub kind: AlertKind,
    pub letter_id: Option<LetterId>,
}

/// Where an export was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SavedExport {
    pub path: String,
}
