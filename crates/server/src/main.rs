//! `jsjb-server`: serve the API, or administer units, users and the audit log.
//! Glue only: every rule lives in the `jsjb_server` library.

use std::io::BufRead;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use jsjb_core::org::{Role, Tier, UserId};
use jsjb_server::admin::{self, CreateUnitRequest, CreateUserRequest};
use jsjb_server::demo::{self, DemoOptions};
use jsjb_server::{AppState, Config};
use jsjb_storage::Actor;

#[derive(Parser)]
#[command(name = "jsjb-server", version, about = "The 接诉即办 central server")]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Option<Command>,
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
    /// Verify the audit chain and every letter event against it; exits non-zero and
    /// names the first fault. `--head <seq>:<hash>` (repeatable): a head a desktop kept
    /// (its banner shows it) that the chain must still hold — catches a deleted tail or
    /// a rewritten, re-hashed chain.
    AuditVerify {
        #[arg(long = "head", value_parser = jsjb_storage::audit::parse_head)]
        heads: Vec<jsjb_proto::AuditEntryHash>,
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
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_http=info".into()),
        )
        .init();
    let cli = Cli::parse();
    let config = cli.config;
    let state = tokio::task::spawn_blocking(move || jsjb_server::open(config))
        .await
        .context("opening storage")??;

    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(state).await,
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
    tracing::info!(%listen, db = %state.config.db.display(), "serving");
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
    }
    Ok(())
}
