//! The error every command returns, serialised to the UI as `{ code, message }`.
//!
//! The UI translates `code` for the officer and never shows `message`, which is for
//! logs and developers. A new code is added only when the UI must react differently.

use jsjb_store::StoreError;
use jsjb_sync::{ClientError, SyncError};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// What went wrong, in a form the UI can switch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Anything the UI cannot do better than "something went wrong".
    Internal,
    // Signing in.
    /// Wrong user name or password.
    InvalidCredentials,
    /// Too many failed logins for this user name: `retryAfterSecs` says how long to wait.
    AccountLocked,
    /// Wrong password from an address the server slows down (many failures from it):
    /// try again after `retryAfterSecs`. Not a lock: a right password still gets in.
    TooManyAttempts,
    /// The server is at its limit (password checks queued, citizen service busy):
    /// try again in a moment.
    Busy,
    /// The server cannot be reached (network, server down).
    Unreachable,
    /// The server URL is not an `http(s)://host[:port][/path]` URL.
    InvalidUrl,
    /// The session is no longer valid: sign in again.
    SessionExpired,
    /// No one is signed in.
    NotSignedIn,
    // Reading and acting.
    /// The letter (or outbox entry, attachment) is not in the cache.
    NotFound,
    /// The command needs the server and the desktop is offline.
    Offline,
    /// The letter changed since the UI showed it: reload and decide again.
    StaleView,
    /// The server refuses to show this writer to this user.
    RevealNotAllowed,
    /// The server refuses the request for this user.
    Forbidden,
    /// A setting is out of range.
    InvalidSettings,
    /// The server address is changed only signed out (then signing in to the new one):
    /// an officer's desktop never moves to another server behind the session's back.
    SignOutFirst,
    // The life-cycle rules of crates/core (`RuleError::code`).
    OutOfScope,
    RoleNotAllowed,
    WrongState,
    NotAssignedSupervisor,
    NoPendingExtension,
    ExtensionPending,
    DeadlinePassed,
    InvalidTarget,
    NotOverdueOrExtended,
    NotReturned,
    NothingToReturnTo,
    NotThanks,
    AlreadyDone,
    FirstFeedbackMissing,
    InvalidInput,
    // The sign-off (docs/signoff.md).
    /// No signing key on this workstation for this server + user: enrol first.
    NoSigningKey,
    /// The signing key waits for an admin (or was revoked).
    KeyNotActive,
    /// A signing key exists already on this workstation.
    KeyFileExists,
    /// The PIN is wrong: `retryAfterSecs` when the next try must wait.
    WrongPin,
    /// Too many wrong PINs: `retryAfterSecs` says how long to wait.
    PinLocked,
    /// The PIN is shorter than the policy's minimum (6 unless raised).
    PinTooShort,
    /// The key file's wrong-PIN count was edited, its attempts file deleted or an older
    /// copy put back: locked for a day (`retryAfterSecs`), the count not reset.
    KeyFileTampered,
    /// Neither the handling unit's chief nor a deputy with a valid grant.
    NotTheChief,
    /// The export could not be written (folder not writable, disk full).
    ExportFailed,
    // The admin console: dual control of signing keys (docs/signoff.md).
    /// This admin approved the key already: a second admin must.
    AlreadyApproved,
    /// The approvers are not independent (one set the other's password).
    ApproverNotIndependent,
    /// The key is not in a state that allows it (no longer pending, already revoked).
    KeyState,
    /// Nobody approves their own signing key.
    OwnKey,
    /// The user name is taken.
    UsernameTaken,
    /// The current password given to change it is wrong.
    WrongPassword,
    /// The unit has an active chief already (one chief per unit).
    ChiefExists,
    /// Users, open letters or units still depend on the unit to deactivate.
    UnitInUse,
    /// The unit above is deactivated: reactivate it first.
    ParentInactive,
    /// The unit is deactivated and receives no letters.
    UnitInactive,
}

impl ErrorCode {
    /// The code for a code string of the library crates or of the server's problem
    /// documents; `Internal` for one the UI has no use for.
    pub fn from_code(code: &str) -> ErrorCode {
        let alias = match code {
            "letter_not_found" | "outbox_entry_not_found" => "not_found",
            "server_unreachable" => "unreachable",
            "invalid_server_url" => "invalid_url",
            "stale_version" => "stale_view",
            "unauthenticated" => "session_expired",
            other => other,
        };
        serde_json::from_value(serde_json::Value::String(alias.to_owned()))
            .unwrap_or(ErrorCode::Internal)
    }
}

/// A command's failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS, thiserror::Error)]
#[serde(rename_all = "camelCase")]
#[error("{code:?}: {message}")]
pub struct CommandError {
    pub code: ErrorCode,
    pub message: String,
    /// With `account_locked`, `pin_locked` (and `wrong_pin` once attempts are slowed
    /// down): seconds until another attempt is allowed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional, type = "number")]
    pub retry_after_secs: Option<u64>,
    /// With `wrong_pin` before any wait: how many more wrong PINs are allowed without
    /// one (the chief is told before the waits begin).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub tries_left: Option<u32>,
}

impl CommandError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after_secs: None,
            tries_left: None,
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }

    pub fn not_signed_in() -> Self {
        Self::new(ErrorCode::NotSignedIn, "sign in first")
    }
}

impl From<StoreError> for CommandError {
    fn from(e: StoreError) -> Self {
        let code = ErrorCode::from_code(e.code());
        if code == ErrorCode::Internal {
            tracing::error!("cache: {e}");
        }
        Self::new(code, e.to_string())
    }
}

impl From<ClientError> for CommandError {
    fn from(e: ClientError) -> Self {
        let retry_after_secs = match &e {
            ClientError::Refused { problem, .. }
            | ClientError::Server {
                problem: Some(problem),
                ..
            } => problem.retry_after,
            _ => None,
        };
        let code = match &e {
            ClientError::Unauthorized { code } if code == "invalid_credentials" => {
                ErrorCode::InvalidCredentials
            }
            ClientError::Unauthorized { .. } => ErrorCode::SessionExpired,
            other => ErrorCode::from_code(other.code()),
        };
        let message = match retry_after_secs {
            Some(secs) => format!("retryAfterSecs={secs}: {e}"),
            None => e.to_string(),
        };
        Self {
            code,
            message,
            retry_after_secs,
            tries_left: None,
        }
    }
}

impl From<SyncError> for CommandError {
    fn from(e: SyncError) -> Self {
        match e {
            SyncError::Client(e) => e.into(),
            SyncError::Store(e) => e.into(),
        }
    }
}

/// What a command returns.
pub type CommandResult<T> = Result<T, CommandError>;

#[cfg(test)]
mod tests {
    use super::*;
    use jsjb_proto::Problem;

    #[test]
    fn a_busy_server_is_busy_with_its_wait_not_internal() {
        let e = ClientError::Server {
            status: 503,
            problem: Some(Box::new(Problem {
                type_uri: "urn:jsjb:problem:busy".into(),
                title: "busy".into(),
                status: 503,
                detail: None,
                code: "busy".into(),
                current: None,
                field: None,
                retry_after: Some(2),
            })),
        };
        let command = CommandError::from(e);
        assert_eq!(command.code, ErrorCode::Busy);
        assert_eq!(command.retry_after_secs, Some(2));
        let bare = CommandError::from(ClientError::Server {
            status: 502,
            problem: None,
        });
        assert_eq!(bare.code, ErrorCode::Internal);
    }
}
