//! What every handler shares.

use std::sync::Arc;

use jsjb_core::calendar::WorkCalendar;
use jsjb_core::clock::Policy;
use tokio::sync::watch;

use crate::blobs::BlobStore;
use crate::config::Config;
use crate::storage::Storage;
use crate::storage::sqlite::SqliteStore;
use crate::time::{SystemTime, TimeSource};

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Storage>,
    pub blobs: Arc<BlobStore>,
    pub config: Arc<Config>,
    pub time: Arc<dyn TimeSource>,
    /// The latest change sequence number, published after each commit that adds
    /// changes; the sync/SSE area subscribes to it to poke desktops.
    pub changes: watch::Sender<i64>,
    /// Set when the server begins shutting down, so long-lived streams end and the
    /// graceful shutdown does not wait for them forever.
    pub shutdown: watch::Sender<bool>,
    /// The SLA clock policy (Shenzhen defaults) and the working-day calendar.
    pub policy: Arc<Policy>,
    pub calendar: Arc<WorkCalendar>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid configuration: {0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("cannot open the database {path}: {source}")]
    Database {
        path: String,
        source: crate::storage::StorageError,
    },
    #[error("cannot open the blob directory {path}: {source}")]
    Blobs {
        path: String,
        source: std::io::Error,
    },
}

impl AppState {
    /// Opens the SQLite database and the blob store named by `config`, on the real clock.
    /// Blocking (opens files, runs migrations): call before serving.
    pub fn open(config: Config) -> Result<AppState, StartError> {
        Self::open_with_time(config, Arc::new(SystemTime))
    }

    pub fn open_with_time(
        config: Config,
        time: Arc<dyn TimeSource>,
    ) -> Result<AppState, StartError> {
        config.validate()?;
        let store = SqliteStore::open(&config.db).map_err(|source| StartError::Database {
            path: config.db.display().to_string(),
            source,
        })?;
        let blobs = BlobStore::open(&config.blob_dir).map_err(|source| StartError::Blobs {
            path: config.blob_dir.display().to_string(),
            source,
        })?;
        Ok(Self::new(Arc::new(store), blobs, config, time))
    }

    pub fn new(
        store: Arc<dyn Storage>,
        blobs: BlobStore,
        config: Config,
        time: Arc<dyn TimeSource>,
    ) -> AppState {
        let (changes, _) = watch::channel(0);
        let (shutdown, _) = watch::channel(false);
        AppState {
            store,
            blobs: Arc::new(blobs),
            config: Arc::new(config),
            time,
            changes,
            shutdown,
            policy: Arc::new(Policy::shenzhen()),
            calendar: Arc::new(WorkCalendar::china()),
        }
    }

    /// Publishes a new latest change sequence number (never moves backwards).
    pub fn publish_change(&self, seq: i64) {
        self.changes.send_if_modified(|latest| {
            if seq > *latest {
                *latest = seq;
                true
            } else {
                false
            }
        });
    }
}
