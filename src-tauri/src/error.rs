//! The error every command returns, serialised to the UI as `{ code, message }`.
//!
//! The UI translates `code` for the officer and never shows `message`, which is for
//! logs and developers. A new code is added only when the UI must react differently.

use serde::Serialize;
use ts_rs::TS;

/// What went wrong, in a form the UI can switch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Anything the UI cannot do better than "something went wrong".
    Internal,
}

/// A command's failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct CommandError {
    pub code: ErrorCode,
    pub message: String,
}

impl CommandError {
    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::Internal,
            message: message.into(),
        }
    }
}

/// What a command returns.
pub type CommandResult<T> = Result<T, CommandError>;
