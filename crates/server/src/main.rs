//! `jsjb-server`: serve the API, or administer units, users and the audit log.
//! Glue only: every rule lives in the `jsjb_server` library.

use std::io::{BufRead, Write};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use jsjb_core::org::{Role, Tier, UnitId, UserId};
use jsjb_server::admin::{self, CreateUnitRequest, CreateUserRequest};
use jsjb_server::backup;
use jsjb_server::demo::{self, DemoOptions};
use jsjb_server::{AppState, Config};
use jsjb_storage::Actor;

#[derive(Parser)]
#[command(name = "jsjb-server", version, about = "The 接诉即办 central server")]
struct Cli {
    #[command(flatten)]
    config: Config,
    /// How the log on stderr is written: `text`, for a person, or `json`, one object a
    /// line (time, level, target, message and fields), for a log collector.
    #[arg(
        long,
        env = "JSJB_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text,
        global = true
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Logs go to stderr, so that stdout carries only what a command prints (the admin
/// commands' JSON, the audit key): a script can read one without the other.
/// `RUST_LOG` chooses what is logged (default `info`).
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,tower_http=info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        // An event's fields beside `message` at the top level, the span it is in too.
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Administer units, users and the audit log directly on the database.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Serve with demo data: on an empty database, seed a city (1 市局, 3 分局, 10 派出所,
    /// their people) with a month of history; then keep letters arriving.
    Demo {
        /// Days of history to seed.
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(i64).range(1..=365))]
        days: i64,
        /// Letters a day in the history.
        #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u32).range(1..=500))]
        per_day: u32,
        /// A new letter arrives about every this many seconds (0: none).
        #[arg(long, env = "JSJB_DEMO_ARRIVAL_SECS", default_value_t = 45)]
        arrival_secs: u64,
        /// Seed of the demo's random source.
        #[arg(long, default_value_t = 20_210_501)]
        seed: u64,
    },
    /// Print the clock rules this configuration runs under (the built-in ones without
    /// JSJB_RULES) as the JSON a rules file holds: edit it, add an era, point JSJB_RULES
    /// at it.
    Rules,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a unit. The first one must be the city bureau, without a parent.
    CreateUnit {
        #[arg(long)]
        name: String,
        /// city, branch or station
        #[arg(long, value_parser = parse_tier)]
        tier: Tier,
        #[arg(long)]
        parent: Option<i64>,
    },
    /// Create a user. The password is read from JSJB_NEW_PASSWORD or the first line of stdin.
    CreateUser {
        #[arg(long)]
        username: String,
        #[arg(long)]
        display_name: String,
        #[arg(long)]
        unit: i64,
        /// Repeat or separate with commas: dispatcher, officer, chief, supervisor, admin
        #[arg(long = "role", value_delimiter = ',', required = true, value_parser = parse_role)]
        roles: Vec<Role>,
    },
    /// Set a new password (read like create-user's); unlocks the account, ends its sessions.
    ResetPassword {
        #[arg(long)]
        user: i64,
    },
    /// The unit tree, as JSON (each unit with its parent, tier, name and whether active).
    ListUnits,
    /// Every user, as JSON (unit, roles, active, last sign-in).
    ListUsers,
    /// Rename a unit; letters keep their history.
    RenameUnit {
        #[arg(long)]
        unit: i64,
        #[arg(long)]
        name: String,
        #[arg(long)]
        reason: String,
    },
    /// Move a unit under another parent (a station to another branch). Desktops of both
    /// branches follow at their next sync (a running server pokes them when the change
    /// is made through its API instead).
    MoveUnit {
        #[arg(long)]
        unit: i64,
        #[arg(long)]
        parent: i64,
        #[arg(long)]
        reason: String,
    },
    /// Deactivate (`--active false`) a unit nothing depends on any more, or reactivate it.
    SetUnitActive {
        #[arg(long)]
        unit: i64,
        #[arg(long, action = clap::ArgAction::Set)]
        active: bool,
        #[arg(long)]
        reason: String,
    },
    /// Change a user's name, roles or unit; what is not given stays.
    UpdateUser {
        #[arg(long)]
        user: i64,
        #[arg(long)]
        display_name: Option<String>,
        /// Replaces every role: repeat or separate with commas.
        #[arg(long = "role", value_delimiter = ',', value_parser = parse_role)]
        roles: Vec<Role>,
        #[arg(long)]
        unit: Option<i64>,
        #[arg(long)]
        reason: String,
    },
    /// Deactivate (`--active false`; every session ends) or reactivate a user.
    SetUserActive {
        #[arg(long)]
        user: i64,
        #[arg(long, action = clap::ArgAction::Set)]
        active: bool,
        #[arg(long)]
        reason: String,
    },
    /// 强制下线: end every session of a user (a running server's streams close at
    /// their next 15-second check).
    RevokeSessions {
        #[arg(long)]
        user: i64,
        #[arg(long)]
        reason: String,
    },
    /// Every signing key, as JSON. (Activation is under dual control by two signed-in
    /// admins in the desktop's console; there is deliberately no CLI for it.)
    ListKeys,
    /// Revoke a signing key; its owner is told at their next sign-in.
    RevokeKey {
        #[arg(long)]
        key: i64,
        #[arg(long)]
        reason: String,
    },
    /// Verify the audit chain and every letter event against it; exits non-zero and
    /// names the first fault. `--head <seq>:<hash>` (repeatable): a head a desktop kept
    /// (its banner shows it) that the chain must still hold — catches a deleted tail or
    /// a rewritten, re-hashed chain.
    AuditVerify {
        #[arg(long = "head", value_parser = jsjb_storage::audit::parse_head)]
        heads: Vec<jsjb_proto::AuditEntryHash>,
    },
    /// Back up the database and the blob store, consistent together, while the server
    /// may be running and writing: a new `jsjb-backup-<time>` folder in `--to` with a
    /// manifest of every file's size and SHA-256. Nothing older is removed.
    Backup {
        /// The folder of backups (default: `--backup-dir`).
        #[arg(long)]
        to: Option<std::path::PathBuf>,
    },
    /// Restore a backup into a new or empty folder (never over the live database),
    /// checking every file against the manifest. `--verify`: then open it with the
    /// normal storage and verify the audit chain, the recorded head and change, and
    /// every blob it names. Exits non-zero and names the first fault.
    Restore {
        /// The backup: a `jsjb-backup-<time>` folder.
        backup: std::path::PathBuf,
        /// Where to restore: `<into>/jsjb.sqlite3` and `<into>/blobs`.
        #[arg(long)]
        into: std::path::PathBuf,
        #[arg(long)]
        verify: bool,
    },
    /// Copy a platform kept in SQLite into the empty PostgreSQL database `--db` names
    /// (ids, the sync cursor and the audit chain unchanged), then check the copy: every
    /// table's rows counted on both sides, the audit chain verified on PostgreSQL up to
    /// the SQLite chain's last entry. Stop the SQLite server first; copy the blob
    /// directory to the nodes' shared blob store beside it.
    MigrateFromSqlite {
        /// The SQLite database file to copy.
        #[arg(long)]
        from: std::path::PathBuf,
    },
}

fn parse_tier(s: &str) -> Result<Tier, String> {
    Tier::ALL
        .into_iter()
        .find(|t| t.as_str() == s)
        .ok_or_else(|| format!("unknown tier {s:?}; use city, branch or station"))
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| {
        format!("unknown role {s:?}; use dispatcher, officer, chief, supervisor or admin")
    })
}

/// An API error as the CLI's: its message (the same words the API would answer).
fn api_error(e: jsjb_server::error::ApiError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// A reason as the API requires one: trimmed, not empty, not too long.
fn reason_of(reason: &str) -> Result<String> {
    admin::check_name("reason", reason, jsjb_core::workflow::MAX_TEXT_CHARS).map_err(api_error)
}

fn read_password() -> Result<String> {
    if let Ok(p) = std::env::var("JSJB_NEW_PASSWORD") {
        return Ok(p);
    }
    eprintln!("password (one line on stdin):");
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from stdin")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let config = cli.config;
    // Backups read the files themselves: opening the state would create a database,
    // a blob store and an audit key where there are none.
    let command = match cli.command.unwrap_or(Command::Serve) {
        Command::Admin(AdminCommand::Backup { to }) => return run_backup(config, to).await,
        Command::Admin(AdminCommand::Restore {
            backup,
            into,
            verify,
        }) => return run_restore(&backup, &into, verify).await,
        Command::Admin(AdminCommand::MigrateFromSqlite { from }) => {
            return run_migrate_from_sqlite(config, &from).await;
        }
        Command::Rules => {
            let rules = match &config.rules {
                Some(path) => jsjb_server::clock_rules::load(path)?,
                None => jsjb_core::rules::Rules::shenzhen(),
            };
            let json = serde_json::to_string_pretty(rules.doc())?;
            // Piped into `head` or a pager that quits early: not an error worth a panic.
            match writeln!(std::io::stdout().lock(), "{json}") {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
                _ => return Ok(()),
            }
        }
        other => other,
    };
    let state = tokio::task::spawn_blocking(move || jsjb_server::open(config))
        .await
        .context("opening storage")??;

    match command {
        Command::Serve => serve(state).await,
        // Answered above, before opening anything.
        Command::Rules => Ok(()),
        Command::Admin(cmd) => run_admin(state, cmd).await,
        Command::Demo {
            days,
            per_day,
            arrival_secs,
            seed,
        } => {
            let opts = DemoOptions {
                days,
                per_day,
                arrival_every: std::time::Duration::from_secs(arrival_secs),
                seed,
            };
            run_demo(state, opts).await
        }
    }
}

async fn run_backup(config: Config, to: Option<std::path::PathBuf>) -> Result<()> {
    if matches!(
        config.database(),
        jsjb_server::config::Database::Postgres(_)
    ) {
        return Err(jsjb_server::config::ConfigError::BackupOnPostgres.into());
    }
    let root = to
        .or_else(|| config.backup.dir.clone())
        .context("name the folder of backups with --to (or --backup-dir)")?;
    let sources = backup::Sources::of(&config);
    let at = root.clone();
    let made = tokio::task::spawn_blocking(move || {
        backup::create(&sources, &at, chrono::Utc::now(), None)
    })
    .await
    .context("the backup task")?
    .with_context(|| format!("backing up into {}", root.display()))?;
    let m = &made.manifest;
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({
            "path": made.path,
            "files": m.files.len(),
            "bytes": m.total_bytes(),
            "latest_change_seq": m.latest_change_seq,
            "audit_head": m.audit_head,
            "leftovers_removed": made.leftovers,
        }))?
    );
    Ok(())
}

/// `admin migrate-from-sqlite`: the rows copied per table, the chain's last entry.
async fn run_migrate_from_sqlite(config: Config, from: &std::path::Path) -> Result<()> {
    let jsjb_server::config::Database::Postgres(url) = config.database() else {
        bail!("--db (JSJB_DB) must be the PostgreSQL URL to copy into (postgres://…)");
    };
    let store = jsjb_storage_postgres::PgStore::open(&url)
        .await
        .with_context(|| format!("opening {}", config.database_label()))?;
    let imported = jsjb_storage_postgres::import::from_sqlite(&store, from)
        .await
        .with_context(|| format!("copying {} into PostgreSQL", from.display()))?;
    for (table, rows) in &imported.rows {
        println!("{table:<24} {rows:>10} rows");
    }
    println!(
        "audit chain verified on PostgreSQL: {} entries, {} letter events, ends at {}:{}",
        imported.verification.entries,
        imported.verification.events,
        imported.audit_tip.seq,
        imported.audit_tip.hash
    );
    println!("OK");
    Ok(())
}

/// `admin restore`: the report's lines on stdout, the first fault as the error.
async fn run_restore(from: &std::path::Path, into: &std::path::Path, verify: bool) -> Result<()> {
    match backup::restore(from, into, verify).await {
        Ok(report) => {
            for line in report {
                println!("{line}");
            }
            println!("OK");
            Ok(())
        }
        Err(failed) => {
            for line in failed.report {
                println!("{line}");
            }
            bail!("FAULT: {}", failed.fault)
        }
    }
}

async fn run_demo(state: AppState, opts: DemoOptions) -> Result<()> {
    let started = std::time::Instant::now();
    let summary = demo::seed(&state, &opts)
        .await
        .context("seeding the demo city")?;
    if summary.already_seeded {
        tracing::info!("demo: the database is already seeded; reusing it");
    } else {
        tracing::info!(
            letters = summary.letters,
            actions = summary.actions,
            refused = summary.refused,
            secs = started.elapsed().as_secs_f32(),
            "demo: seeded a month of history"
        );
    }
    let base = format!("http://{}", state.config.listen);
    println!("{}", demo::credentials_banner(&base));
    demo::spawn_arrivals(state.clone(), opts);
    serve(state).await
}

async fn serve(state: AppState) -> Result<()> {
    let listen = state.config.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    tracing::info!(%listen, db = %state.config.database_label(), "serving");
    // Printed so that whoever sets up the desktops can compare what they pin.
    tracing::info!(
        fingerprint = state.witness.fingerprint(),
        key = %state.config.audit_key_path().display(),
        "audit key (SM3 of the SPKI public key)"
    );
    println!(
        "audit public key (fingerprint {}):\n{}",
        state.witness.fingerprint(),
        state.witness.public_key_pem()
    );
    jsjb_server::serve(listener, state, shutdown_signal())
        .await
        .context("serving")?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(%e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(%e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

async fn run_admin(state: AppState, cmd: AdminCommand) -> Result<()> {
    let store = state.store.as_ref();
    let time = state.time.as_ref();
    match cmd {
        AdminCommand::CreateUnit { name, tier, parent } => {
            let unit = admin::create_unit(
                store,
                time,
                CreateUnitRequest {
                    parent_id: parent,
                    tier,
                    name,
                },
                Actor::cli(),
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
            .context("creating the unit")?;
            println!("{}", serde_json::to_string_pretty(&unit)?);
        }
        AdminCommand::CreateUser {
            username,
            display_name,
            unit,
            roles,
        } => {
            let password = read_password()?;
            let user = admin::create_user(
                store,
                &state.config,
                time,
                CreateUserRequest {
                    unit_id: unit,
                    username,
                    display_name,
                    roles,
                    password,
                },
                Actor::cli(),
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
            .context("creating the user")?;
            println!("{}", serde_json::to_string_pretty(&user)?);
        }
        AdminCommand::ResetPassword { user } => {
            let password = read_password()?;
            admin::reset_password(
                store,
                &state.config,
                time,
                UserId(user),
                password,
                Actor::cli(),
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
            .context("resetting the password")?;
            println!("password reset for user {user}; their sessions are ended");
        }
        AdminCommand::ListUnits => {
            let units: Vec<jsjb_server::auth::UnitDto> =
                store.units().await?.into_iter().map(Into::into).collect();
            println!("{}", serde_json::to_string_pretty(&units)?);
        }
        AdminCommand::ListUsers => {
            let last: std::collections::HashMap<UserId, chrono::DateTime<chrono::Utc>> =
                store.last_sign_ins().await?.into_iter().collect();
            let users: Vec<jsjb_server::auth::UserDto> = store
                .users()
                .await?
                .into_iter()
                .map(|u| jsjb_server::auth::UserDto {
                    last_login_at: last.get(&u.id).copied(),
                    ..u.into()
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&users)?);
        }
        AdminCommand::RenameUnit { unit, name, reason } => {
            let name = admin::check_name("name", &name, jsjb_proto::limits::MAX_NAME_CHARS)
                .map_err(api_error)?;
            let unit = store
                .rename_unit(
                    UnitId(unit),
                    name,
                    reason_of(&reason)?,
                    Actor::cli(),
                    time.now(),
                )
                .await
                .map_err(|e| api_error(e.into()))?;
            println!(
                "{}",
                serde_json::to_string_pretty(&jsjb_server::auth::UnitDto::from(unit))?
            );
        }
        AdminCommand::MoveUnit {
            unit,
            parent,
            reason,
        } => {
            let moved = store
                .move_unit(
                    UnitId(unit),
                    UnitId(parent),
                    reason_of(&reason)?,
                    Actor::cli(),
                    time.now(),
                )
                .await
                .map_err(|e| api_error(e.into()))?;
            println!(
                "{}",
                serde_json::to_string_pretty(&jsjb_server::auth::UnitDto::from(moved.unit))?
            );
        }
        AdminCommand::SetUnitActive {
            unit,
            active,
            reason,
        } => {
            let unit = store
                .set_unit_active(
                    UnitId(unit),
                    active,
                    reason_of(&reason)?,
                    Actor::cli(),
                    time.now(),
                )
                .await
                .map_err(|e| api_error(e.into()))?;
            println!(
                "{}",
                serde_json::to_string_pretty(&jsjb_server::auth::UnitDto::from(unit))?
            );
        }
        AdminCommand::UpdateUser {
            user,
            display_name,
            roles,
            unit,
            reason,
        } => {
            let tree = jsjb_core::org::UnitTree::new(store.units().await?)
                .context("the stored unit tree")?;
            let root = tree
                .units()
                .find(|u| u.parent.is_none())
                .map(|u| u.id)
                .context("there is no city bureau yet")?;
            let request = admin::UpdateUserRequest {
                display_name,
                roles: (!roles.is_empty()).then_some(roles),
                unit_id: unit,
                reason: reason.clone(),
            };
            let change = admin::user_change(&tree, root, &request).map_err(api_error)?;
            let changed = store
                .update_user(
                    UserId(user),
                    change,
                    reason_of(&reason)?,
                    Actor::cli(),
                    time.now(),
                )
                .await
                .map_err(|e| api_error(e.into()))?;
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "user": jsjb_server::auth::UserDto::from(changed.user),
                    "sessions_revoked": changed.sessions_revoked,
                    "keys_revoked": changed.keys_revoked,
                    "delegations_revoked": changed.delegations_revoked,
                }))?
            );
        }
        AdminCommand::SetUserActive {
            user,
            active,
            reason,
        } => {
            let user = store
                .set_user_active(
                    UserId(user),
                    active,
                    reason_of(&reason)?,
                    Actor::cli(),
                    time.now(),
                )
                .await
                .map_err(|e| api_error(e.into()))?;
            println!(
                "{}",
                serde_json::to_string_pretty(&jsjb_server::auth::UserDto::from(user))?
            );
        }
        AdminCommand::RevokeSessions { user, reason } => {
            let n = store
                .revoke_user_sessions(UserId(user), reason_of(&reason)?, Actor::cli(), time.now())
                .await
                .map_err(|e| api_error(e.into()))?;
            println!("{}", serde_json::json!({ "sessions_revoked": n }));
        }
        AdminCommand::ListKeys => {
            let keys = store.signoff().keys().await?;
            println!("{}", serde_json::to_string_pretty(&keys)?);
        }
        AdminCommand::RevokeKey { key, reason } => {
            let key = store
                .signoff()
                .revoke_key(key, reason_of(&reason)?, Actor::cli(), time.now())
                .await
                .map_err(|e| api_error(e.into()))?;
            println!("{}", serde_json::to_string_pretty(&key)?);
        }
        AdminCommand::AuditVerify { heads } => {
            let v = store
                .verify_audit(heads)
                .await
                .context("reading the audit log")?;
            println!("{}", serde_json::to_string_pretty(&v)?);
            if let Some(failure) = v.failure() {
                bail!("{failure}");
            }
        }
        // Dispatched in `main` before the state is opened.
        AdminCommand::Backup { .. }
        | AdminCommand::Restore { .. }
        | AdminCommand::MigrateFromSqlite { .. } => {
            bail!("backup and restore do not run on an opened state")
        }
    }
    Ok(())
}
