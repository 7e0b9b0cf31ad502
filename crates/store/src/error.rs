//! What can go wrong in the cache.

use jsjb_core::letter::LetterId;
use jsjb_core::org::OrgError;
use jsjb_core::workflow::RuleError;

/// Errors of the cache, by category: the database, the data in it, the caller's request,
/// and the worker thread.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    // The database itself.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Includes a cache written by a newer version of the app, which this one must not
    /// touch.
    #[error("migration: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    #[error("the database refused a setting: {0}")]
    Pragma(String),

    // Data that does not make sense: a server record we cannot fold, a corrupt row.
    #[error("letter {0:?}: its history does not start with its receipt")]
    InvalidRecord(LetterId),
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("corrupt row: {0}")]
    Corrupt(String),
    #[error("the unit tree of the signed-in user is invalid: {0}")]
    Directory(#[from] OrgError),
    /// The clock rules the server served do not hold together.
    #[error("the served clock rules are invalid: {0}")]
    InvalidRules(String),

    // Requests the caller can correct.
    #[error("letter {0:?} is not in the cache")]
    LetterNotFound(LetterId),
    #[error("outbox entry {0} does not exist (or is not in the expected status)")]
    OutboxEntryNotFound(i64),
    #[error("no signed-in user is stored; sync /me first")]
    NotSignedIn,
    /// The UI acted on a view of the letter that has changed since.
    #[error("the letter changed: the action was based on version {expected}, it is at {current}")]
    StaleView { expected: u32, current: u32 },
    /// Core's rules refuse the action on the letter as the desktop sees it.
    #[error("the action is not allowed: {0}")]
    Refused(#[from] RuleError),
    #[error("the bytes do not match their content address {0}")]
    BlobMismatch(String),

    // The worker thread of a `StoreHandle`.
    #[error("the store worker has stopped")]
    Closed,
    #[error("cannot start the store thread: {0}")]
    Thread(std::io::Error),
}

impl StoreError {
    /// The stable code the UI translates (HOUSE_STYLE: errors reach the UI as
    /// `{code, message}`). Only errors the UI treats differently get their own code.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::Refused(rule) => rule.code(),
            StoreError::StaleView { .. } => "stale_view",
            StoreError::LetterNotFound(_) => "letter_not_found",
            StoreError::NotSignedIn => "not_signed_in",
            StoreError::OutboxEntryNotFound(_) => "outbox_entry_not_found",
            StoreError::BlobMismatch(_) => "blob_mismatch",
            StoreError::Closed => "store_closed",
            StoreError::Sqlite(_)
            | StoreError::Migration(_)
            | StoreError::Pragma(_)
            | StoreError::InvalidRecord(_)
            | StoreError::Json(_)
            | StoreError::Corrupt(_)
            | StoreError::Directory(_)
            | StoreError::InvalidRules(_)
            | StoreError::Thread(_) => "cache_error",
        }
    }
}
