//! What every handler shares.

use std::sync::{Arc, RwLock};

use jsjb_core::org::UnitId;
use jsjb_core::rules::Rules;
use tokio::sync::watch;

use crate::blobs::BlobStore;
use crate::change_hub::ChangeHub;
use crate::config::Config;
use crate::routing::{RoutingError, RoutingRules};
use crate::time::TimeSource;
use crate::witness::Witness;
use jsjb_storage::Storage;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Storage>,
    pub blobs: Arc<BlobStore>,
    pub config: Arc<Config>,
    pub time: Arc<dyn TimeSource>,
    /// The latest change sequence number, published after each commit that adds
    /// changes (anywhere: no stream waits on it, see `hub`).
    pub changes: watch::Sender<i64>,
    /// Which streams a committed change concerns: the SSE streams wait on it.
    pub hub: Arc<ChangeHub>,
    /// Set when the server begins shutting down, so long-lived streams end and the
    /// graceful shutdown does not wait for them forever.
    pub shutdown: watch::Sender<bool>,
    /// The clock rules (policy eras and working-day calendar; `clock_rules.rs`) and
    /// their version, as served to the desktops.
    pub rules: Arc<Rules>,
    pub rules_version: Arc<str>,
    /// Automatic routing rules; swapped whole (demo mode installs its own).
    routing: Arc<RwLock<Arc<RoutingRules>>>,
    /// The citizen side's limits, codes and boundaries (SMS, WeChat media).
    pub citizen: Arc<crate::citizen::shared::Citizen>,
    /// Logins' password-checking threads and slow lanes; session revocations.
    pub accounts: Arc<crate::auth::accounts::Accounts>,
    /// The server's audit key, which signs the chain's head (`witness.rs`).
    pub witness: Arc<Witness>,
    /// Renders what the process counted, for `/metrics` (`telemetry.rs`).
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid configuration: {0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("cannot open the database {path}: {source}")]
    Database {
        path: String,
        source: jsjb_storage::StorageError,
    },
    #[error("{0}")]
    Routing(#[from] RoutingError),
    #[error("{0}")]
    ClockRules(#[from] crate::clock_rules::ClockRulesError),
    #[error("{0}")]
    Witness(#[from] crate::witness::WitnessError),
    #[error("cannot open the blob directory {path}: {source}")]
    Blobs {
        path: String,
        source: std::io::Error,
    },
}

impl AppState {
    pub fn new(
        store: Arc<dyn Storage>,
        blobs: BlobStore,
        config: Config,
        time: Arc<dyn TimeSource>,
        witness: Arc<Witness>,
    ) -> AppState {
        let (changes, _) = watch::channel(0);
        let (shutdown, _) = watch::channel(false);
        let citizen = Arc::new(crate::citizen::shared::Citizen::new(
            &config.citizen,
            Arc::clone(&store),
        ));
        let accounts = Arc::new(crate::auth::accounts::Accounts::new(&config));
        let rules_version =
            crate::clock_rules::version(&Rules::shenzhen(), &config.problem_classes).into();
        AppState {
            store,
            blobs: Arc::new(blobs),
            config: Arc::new(config),
            time,
            changes,
            hub: Arc::new(ChangeHub::new()),
            shutdown,
            rules_version,
            rules: Arc::new(Rules::shenzhen()),
            routing: Arc::new(RwLock::new(Arc::new(RoutingRules::default()))),
            citizen,
            accounts,
            witness,
            metrics: crate::telemetry::recorder::recorder(),
        }
    }

    /// Runs under `rules` instead of the built-in ones (before serving).
    pub fn set_clock_rules(&mut self, rules: Rules) {
        self.rules_version =
            crate::clock_rules::version(&rules, &self.config.problem_classes).into();
        self.rules = Arc::new(rules);
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

    /// Publishes change `seq`, just committed, which touched the units `touched` (a
    /// letter's unit now and before): pokes the streams whose scope holds one of them.
    pub async fn publish_change(&self, seq: i64, touched: &[UnitId]) {
        self.bump_latest(seq);
        if !self.hub.knows(touched) {
            // A unit created since the hub last learnt the tree: one read per new unit,
            // not per stream. On failure the hub pokes everyone rather than no one.
            match self.store.units().await {
                Ok(units) => self.hub.learn(units.iter()),
                Err(e) => tracing::warn!(%e, "cannot read the unit tree; poking every stream"),
            }
        }
        self.hub.publish(seq, touched);
    }

    /// Publishes change `seq` without knowing its units (the demo's bulk history):
    /// every stream is poked.
    pub fn publish_change_everywhere(&self, seq: i64) {
        self.bump_latest(seq);
        self.hub.publish_everywhere(seq);
    }

    /// Moves the latest change sequence number forward (never backwards).
    fn bump_latest(&self, seq: i64) {
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
