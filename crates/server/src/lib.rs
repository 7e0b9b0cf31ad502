//! The central 接诉即办 server as a library: the router, the storage seam, accounts,
//! intake and the audit log. The `jsjb-server` binary is glue around [`serve`].
//!
//! Areas live in their own modules so that the life cycle, sync and demo mode can be
//! added beside them: each area owns its handlers and wire types, and talks to the
//! database only through [`jsjb_storage::Storage`].

pub mod actions;
pub mod admin;
pub mod attachments;

pub mod auth;
pub mod backup;
pub mod blobs;
pub mod change_hub;
pub mod cidr;
pub mod citizen;
pub mod client_addr;
pub mod clock_rules;
pub mod config;
pub mod contract;
pub mod demo;
pub mod digest;
pub mod error;
pub mod extract;
pub mod handovers;
pub mod http;
pub mod idempotency;
pub mod intake;
pub mod letters;
pub mod maintenance;
pub mod reference;
pub mod reports;
pub mod router;
pub mod routing;
pub mod signoff;
pub mod state;

pub mod sync;
pub mod telemetry;
pub mod time;
pub mod witness;
pub mod writer_notices;

pub use config::Config;
pub use error::ApiError;
pub use router::{openapi, router};
pub use state::AppState;

use std::future::Future;
use std::sync::Arc;

use jsjb_storage_postgres::PgStore;
use jsjb_storage_sqlite::SqliteStore;

use crate::blobs::BlobStore;
use crate::config::Database;
use crate::state::StartError;
use crate::time::{SystemTime, TimeSource};
use crate::witness::Witness;

/// The composition: opens the storage backend, the blob store, the routing rules and
/// the audit witness named by `config`, on the real clock. This is the one place a
/// backend is chosen (`config.database()`: the embedded SQLite file, or PostgreSQL);
/// everything else sees `dyn Storage`. Blocking (opens files, runs migrations): call
/// it from `spawn_blocking` on the runtime that will serve (PostgreSQL's connections
/// are that runtime's tasks).
pub fn open(config: Config) -> Result<AppState, StartError> {
    open_with_time(config, Arc::new(SystemTime))
}

/// [`open`] on a given clock (tests, demo mode).
pub fn open_with_time(config: Config, time: Arc<dyn TimeSource>) -> Result<AppState, StartError> {
    config.validate()?;
    // Before the storage starts, so that its writer's first jobs are counted too.
    telemetry::recorder();
    let store: Arc<dyn jsjb_storage::Storage> = match config.database() {
        Database::Sqlite(path) => {
            Arc::new(SqliteStore::open(&path).map_err(database_error(&config))?)
        }
        // Connections live on the runtime that opens them: this is the caller's (the
        // server opens the state from `spawn_blocking`, where blocking on it is allowed).
        Database::Postgres(url) => Arc::new(
            tokio::runtime::Handle::try_current()
                .map_err(|e| {
                    database_error(&config)(jsjb_storage::StorageError::Backend(Box::new(e)))
                })?
                .block_on(PgStore::open(&url))
                .map_err(database_error(&config))?,
        ),
    };
    assemble(config, store, time)
}

/// [`open_with_time`] from async code (benches, tests on PostgreSQL): the database is
/// opened on this runtime without blocking it.
pub async fn open_async(config: Config, time: Arc<dyn TimeSource>) -> Result<AppState, StartError> {
    config.validate()?;
    telemetry::recorder();
    let store: Arc<dyn jsjb_storage::Storage> = match config.database() {
        Database::Sqlite(path) => Arc::new(
            tokio::task::spawn_blocking(move || SqliteStore::open(&path))
                .await
                .map_err(|e| {
                    database_error(&config)(jsjb_storage::StorageError::Io(std::io::Error::other(
                        e,
                    )))
                })?
                .map_err(database_error(&config))?,
        ),
        Database::Postgres(url) => {
            Arc::new(PgStore::open(&url).await.map_err(database_error(&config))?)
        }
    };
    assemble(config, store, time)
}

fn database_error(config: &Config) -> impl Fn(jsjb_storage::StorageError) -> StartError + '_ {
    |source| StartError::Database {
        path: config.database_label(),
        source,
    }
}

/// The rest of the state around an opened store: the blob store, the routing and clock
/// rules, the audit witness.
fn assemble(
    config: Config,
    store: Arc<dyn jsjb_storage::Storage>,
    time: Arc<dyn TimeSource>,
) -> Result<AppState, StartError> {
    let blobs = BlobStore::open(&config.blob_dir).map_err(|source| StartError::Blobs {
        path: config.blob_dir.display().to_string(),
        source,
    })?;
    let routing = match &config.routing {
        Some(path) => Some(crate::routing::load(path)?),
        None => None,
    };
    let witness = Witness::load_or_create(&config.audit_key_path())?;
    let clock_rules = match &config.rules {
        Some(path) => Some(clock_rules::load(path)?),
        None => None,
    };
    let mut state = AppState::new(store, blobs, config, time, Arc::new(witness));
    if let Some(rules) = clock_rules {
        state.set_clock_rules(rules);
    }
    if let Some(rules) = routing {
        state.set_routing_rules(rules);
    }
    Ok(state)
}

/// What another node's change does here: the change hub pokes the streams in its scope;
/// a change to the unit tree or the routing rules is read again (this node caches both);
/// and after a gap in the feed both are read again and every stream is poked with the
/// newest change.
fn other_nodes_poke(state: &AppState) -> Box<dyn Fn(jsjb_storage::ChangeNote) + Send + Sync> {
    use jsjb_storage::ChangeNote;
    let state = state.clone();
    // One task hears the notes in the order they came: a tree or rules read for an
    // older note can never land after one read for a newer note.
    let (notes, mut heard) = tokio::sync::mpsc::unbounded_channel::<ChangeNote>();
    tokio::spawn(async move {
        while let Some(note) = heard.recv().await {
            match note {
                ChangeNote::Change { seq, units } => {
                    state.publish_change(seq, &units).await;
                }
                ChangeNote::UnitsChanged => {
                    relearn_units(&state).await;
                    // A change announced before the tree was read again may have been
                    // sent up the old tree: poke everyone once rather than miss one.
                    poke_everyone(&state).await;
                }
                ChangeNote::RoutingChanged => routing::admin::load_saved(&state).await,
                ChangeNote::Resync => {
                    relearn_units(&state).await;
                    routing::admin::load_saved(&state).await;
                    poke_everyone(&state).await;
                }
            }
        }
    });
    Box::new(move |note| {
        // The task ends only with the runtime, and then nobody is to be poked.
        let _ = notes.send(note);
    })
}

async fn relearn_units(state: &AppState) {
    match state.store.units().await {
        Ok(units) => state.hub.learn(units.iter()),
        Err(e) => tracing::warn!(%e, "cannot read the unit tree another node changed"),
    }
}

async fn poke_everyone(state: &AppState) {
    match state.store.latest_change_seq().await {
        Ok(seq) => state.publish_change_everywhere(seq),
        Err(e) => tracing::warn!(%e, "cannot read the latest change after a gap"),
    }
}

/// Serves the router on an already bound listener until `shutdown` resolves, then
/// finishes the requests in flight. Tests bind `127.0.0.1:0` and call this directly.
/// The connection time limits are `config.limits` (see `http.rs`); the housekeeping
/// task (see `maintenance.rs`) runs while serving.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Clock rules that would rewrite the past stop the server here, before it answers.
    clock_rules::serving::apply_at_start(&state)
        .await
        .map_err(std::io::Error::other)?;
    // Rules an admin saved in the console replace the start-up file's.
    routing::admin::load_saved(&state).await;
    // Start the change cursor where the database is, so the first poke is not stale.
    match state.store.latest_change_seq().await {
        Ok(seq) => state.publish_change_everywhere(seq),
        Err(e) => tracing::warn!(%e, "cannot read the latest change; the cursor starts at 0"),
    }
    // Changes other nodes commit poke this node's streams too (PostgreSQL: LISTEN); the
    // guard stops listening when serving ends.
    let _other_nodes = state.store.watch_changes(other_nodes_poke(&state));
    let streams = state.shutdown.clone();
    let limits = state.config.limits.clone();
    let housekeeping = maintenance::spawn(state.clone());
    // The report facts catch up with letters changed while the server was down (or
    // written before it kept them), so that the first report does not wait for them.
    let report_facts = reports::spawn_catch_up(&state);
    let backups = backup::schedule::spawn(&state);
    let upkeep = telemetry::spawn_upkeep(state.metrics.clone());
    // The writers are told at every step of their letters, from whichever node is up.
    let notices = writer_notices::spawn(state.clone());
    // The client address feeds the per-IP rate limits (ConnectInfo<SocketAddr>).
    let served = http::run(listener, router(state), &limits, async move {
        shutdown.await;
        // End the SSE streams, or the graceful shutdown would wait for them forever.
        streams.send_replace(true);
    })
    .await;
    housekeeping.abort();
    report_facts.abort();
    if let Some(backups) = backups {
        backups.abort();
    }
    upkeep.abort();
    notices.abort();
    served
}
