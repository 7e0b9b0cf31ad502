//! What every handler shares.

use std::sync::{Arc, RwLock};

use jsjb_core::calendar::WorkCalendar;
use jsjb_core::clock::Policy;
use tokio::sync::watch;

use crate::blobs::BlobStore;
use crate::config::Config;
use crate::routing::{RoutingError, RoutingRules};
use crate::storage::Storage;
use crate::storage::sqlite::SqliteStore;
use crate::time::{SystemTime, TimeSource};
use crate::witness::Witness;

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
    /// Automatic routing rules; swapped whole (demo mode installs its own).
    routing: Arc<RwLock<Arc<RoutingRules>>>,
    /// The citizen side's limits, codes and boundaries (SMS, WeChat media).
    pub citizen: Arc<crate::citizen::Citizen>,
    /// Logins' password-checking threads and slow lanes; session revocations.
    pub accounts: Arc<crate::auth::Accounts>,
    /// The server's audit key, which signs the chain's head (`witness.rs`).
    pub witness: Arc<Witness>,
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
    #[error("{0}")]
    Routing(#[from] RoutingError),
    #[error("{0}")]
    Witness(#[from] crate::witness::WitnessError),
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
        let routing = match &config.routing {
            Some(path) => Some(RoutingRules::load(path)?),
            None => None,
        };
        let witness = Witness::load_or_create(&config.audit_key_path())?;
        let state = Self::new(Arc::new(store), blobs, config, time, Arc::new(witness));
        if let Some(rules) = routing {
            state.set_routing_rules(rules);
        }
        Ok(state)
    }

    pub fn new(
        store: Arc<dyn Storage>,
        blobs: BlobStore,
        config: Config,
        time: Arc<dyn TimeSource>,
        witness: Arc<Witness>,
    ) -> AppState {
        let (changes, _) = watch::channel(0);
        let (shutdown, _) = watch::channel(false);
        let citizen = Arc::new(crate::citizen::Citizen::new(&config.citizen));
        let accounts = Arc::new(crate::auth::Accounts::new(&config));
        AppState {
            store,
            blobs: Arc::new(blobs),
            config: Arc::new(config),
            time,
            changes,
            shutdown,
            policy: Arc::new(Policy::shenzhen()),
            calendar: Arc::new(WorkCalendar::china()),
            routing: Arc::new(RwLock::new(Arc::new(RoutingRules::default()))),
            citizen,
            accounts,
            witness,
        }
    }

    /// The routing rules in force.
    pub fn routing_rules(&self) -> Arc<RoutingRules> {
        match self.routing.read() {
            Ok(rules) => Arc::clone(&rules),
            // A panic while swapping cannot leave a half-written Arc: the value is whole.
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Replaces the routing rules (validated by the caller).
    pub fn set_routing_rules(&self, rules: RoutingRules) {
        let rules = Arc::new(rules);
        match self.routing.write() {
            Ok(mut slot) => *slot = rules,
            Err(poisoned) => *poisoned.into_inner() = rules,
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
