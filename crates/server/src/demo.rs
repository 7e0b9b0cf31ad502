//! Demo mode: a realistic city (1 市局, 3 分局, 10 派出所 and their people) with a month
//! of history in every state and clock colour, and letters that keep arriving.
//!
//! Everything goes through the same storage and life-cycle rules as real requests: the
//! history is planned as actions (`plan`) and played through `actions::decision`, so
//! the demo can only contain what the rules allow.

pub mod content;
pub mod org;
pub mod plan;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use jsjb_core::letter::LetterId;
use jsjb_core::org::{Role, UnitId, UserId};
use jsjb_core::workflow::{Action, Actor as CoreActor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::task::JoinSet;

use crate::actions::{self, Extras};
use crate::error::ApiError;
use crate::idempotency;
use crate::state::AppState;
use jsjb_storage::{ActionCommit, ActionOutcome, Actor, NewLetter, NewUnit, NewUser, StorageError};

/// Everyone in the demo signs in with this password (printed at start).
pub const DEMO_PASSWORD: &str = "jsjb-demo-2026";

#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Days of history to plan.
    pub days: i64,
    /// Letters a day in the history.
    pub per_day: u32,
    /// A new letter arrives about this often (0 = none).
    pub arrival_every: StdDuration,
    /// Seed of the random source: the same seed plans the same history.
    pub seed: u64,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            days: 30,
            per_day: 24,
            arrival_every: StdDuration::from_secs(45),
            seed: 20_210_501,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    #[error("{0}")]
    Api(#[from] ApiError),
    #[error(
        "the database holds units that are not the demo city's; use an empty database for the demo"
    )]
    NotDemoDatabase,
}

/// What was seeded, for the start-up banner.
#[derive(Debug, Clone)]
pub struct DemoSummary {
    pub letters: usize,
    pub actions: usize,
    pub refused: usize,
    pub already_seeded: bool,
}

/// A person of the demo, with the ids the server gave.
#[derive(Debug, Clone)]
struct Person {
    id: UserId,
    unit: UnitId,
    roles: Vec<Role>,
    username: &'static str,
}

/// The demo org as stored.
struct Seeded {
    ids: plan::OrgIds,
    people: HashMap<UserId, Person>,
    unit_by_key: HashMap<&'static str, UnitId>,
    /// Each chief's signing key while the history is seeded: the key id and the
    /// private key, held only in this process's memory (never written anywhere).
    signers: HashMap<UserId, (i64, std::sync::Arc<jsjb_signoff::SoftwareSigner>)>,
}

/// Seeds an empty database with the demo city and its history; on a database already
/// seeded, only finds the org again. Blocking work runs on the storage threads.
pub async fn seed(state: &AppState, opts: &DemoOptions) -> Result<DemoSummary, DemoError> {
    let existing = state.store.units().await?;
    if !existing.is_empty() {
        find_org(state).await?;
        return Ok(DemoSummary {
            letters: 0,
            actions: 0,
            refused: 0,
            already_seeded: true,
        });
    }
    let now = state.time.now();
    create_org(state, now).await?;
    let mut org = find_org(state).await?;
    // Keys are made "before" the history so every signature in it is by an active key.
    let history_start = now - chrono::Duration::days(opts.days + 1);
    enrol_chiefs(state, &mut org, history_start).await?;
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let history = plan::history(&mut rng, &org.ids, now, opts.days, opts.per_day);
    let letters = history.len();
    let actions: usize = history.iter().map(|l| l.steps.len()).sum();

    // Letters are independent: play many at once so the writer commits them in groups.
    let org = std::sync::Arc::new(org);
    let mut tasks = JoinSet::new();
    let mut refused = 0;
    for planned in history {
        let (state, org) = (state.clone(), std::sync::Arc::clone(&org));
        tasks.spawn(async move { play(&state, &org, planned).await });
        if tasks.len() >= 32 {
            refused += join_one(&mut tasks).await?;
        }
    }
    while !tasks.is_empty() {
        refused += join_one(&mut tasks).await?;
    }
    let latest = state.store.latest_change_seq().await?;
    state.publish_change_everywhere(latest);
    Ok(DemoSummary {
        letters,
        actions,
        refused,
        already_seeded: false,
    })
}

async fn join_one(tasks: &mut JoinSet<Result<usize, DemoError>>) -> Result<usize, DemoError> {
    match tasks.join_next().await {
        Some(Ok(result)) => result,
        Some(Err(e)) => Err(DemoError::Api(ApiError::Internal(format!(
            "demo task: {e}"
        )))),
        None => Ok(0),
    }
}

async fn create_org(state: &AppState, now: DateTime<Utc>) -> Result<(), DemoError> {
    let actor = Actor {
        label: "demo".to_owned(),
        ..Actor::cli()
    };
    let mut ids: HashMap<&str, UnitId> = HashMap::new();
    for spec in org::UNITS {
        let parent = spec.parent.and_then(|p| ids.get(p).copied());
        let unit = state
            .store
            .create_unit(
                NewUnit {
                    parent,
                    tier: spec.tier,
                    name: spec.name.to_owned(),
                },
                actor.clone(),
                now,
            )
            .await?;
        ids.insert(spec.key, unit.id);
    }
    // One hash for everyone: the demo has one password, and argon2 is slow by design.
    let hash = crate::auth::hash_password(DEMO_PASSWORD.to_owned(), state.config.argon2_memory_kib)
        .await?;
    for spec in org::USERS {
        let Some(unit) = ids.get(spec.unit).copied() else {
            continue;
        };
        state
            .store
            .create_user(
                NewUser {
                    unit_id: unit,
                    username: spec.username.to_owned(),
                    display_name: spec.display_name.to_owned(),
                    roles: spec.roles.iter().copied().collect::<BTreeSet<_>>(),
                    password_hash: hash.clone(),
                },
                actor.clone(),
                now,
            )
            .await?;
    }
    Ok(())
}

/// Matches the stored units and users to the demo's specs by name.
async fn find_org(state: &AppState) -> Result<Seeded, DemoError> {
    let units = state.store.units().await?;
    let users = state.store.users().await?;
    let mut unit_by_key = HashMap::new();
    let mut unit_ids = Vec::new();
    for spec in org::UNITS {
        let unit = units
            .iter()
            .find(|u| u.name == spec.name && u.tier == spec.tier)
            .ok_or(DemoError::NotDemoDatabase)?;
        unit_by_key.insert(spec.key, unit.id);
        unit_ids.push((unit.id, unit.parent, spec.streets));
    }
    let city = unit_by_key
        .get("shiju")
        .copied()
        .ok_or(DemoError::NotDemoDatabase)?;
    let mut people = HashMap::new();
    let mut user_ids = Vec::new();
    for spec in org::USERS {
        let Some(user) = users.iter().find(|u| u.username == spec.username) else {
            continue;
        };
        user_ids.push((user.id, user.unit_id, spec.roles));
        people.insert(
            user.id,
            Person {
                id: user.id,
                unit: user.unit_id,
                roles: user.roles.iter().copied().collect(),
                username: spec.username,
            },
        );
    }
    Ok(Seeded {
        ids: plan::OrgIds {
            units: unit_ids,
            users: user_ids,
            city,
        },
        people,
        unit_by_key,
        signers: HashMap::new(),
    })
}

/// Gives every demo chief an active signing key, as if each had enrolled on their
/// workstation and the two demo admins (`admin`, `admin2`) had approved it under dual
/// control, so the history's approvals carry real SM2 signatures that verify. The
/// private keys live only in this process. The chiefs' notices about these keys are
/// marked read: they are the demo's past, not news.
async fn enrol_chiefs(
    state: &AppState,
    org: &mut Seeded,
    now: DateTime<Utc>,
) -> Result<(), DemoError> {
    use jsjb_signoff::Signer as _;
    let admin = |name: &str| {
        org.people
            .values()
            .find(|p| p.username == name)
            .map(|p| Actor {
                role: Some(Role::Admin),
                ..storage_actor(p)
            })
            .ok_or_else(|| ApiError::Internal(format!("the demo has no {name}")))
    };
    let approvers = [admin("admin")?, admin("admin2")?];
    let mut chiefs: Vec<&Person> = org
        .people
        .values()
        .filter(|p| p.roles.contains(&Role::Chief))
        .collect();
    chiefs.sort_by_key(|p| p.id);
    let mut signers = Vec::new();
    for chief in chiefs {
        let signer = jsjb_signoff::SoftwareSigner::generate()
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let key = signer.public_key();
        let registered = state
            .store
            .signoff()
            .register_key(
                jsjb_storage::signoff::NewKey {
                    user: chief.id,
                    unit: chief.unit,
                    public_key_pem: key
                        .to_pem()
                        .map_err(|e| ApiError::Internal(e.to_string()))?,
                    fingerprint: key
                        .fingerprint()
                        .map_err(|e| ApiError::Internal(e.to_string()))?,
                    label: "demo".to_owned(),
                },
                storage_actor(chief),
                now,
            )
            .await?;
        for approver in &approvers {
            state
                .store
                .signoff()
                .approve_key(registered.id, approver.clone(), now)
                .await?;
        }
        state
            .store
            .acknowledge_notices(chief.id, i64::MAX, storage_actor(chief), now)
            .await?;
        signers.push((chief.id, (registered.id, std::sync::Arc::new(signer))));
    }
    org.signers.extend(signers);
    Ok(())
}

fn storage_actor(person: &Person) -> Actor {
    Actor {
        user: Some(person.id),
        unit: Some(person.unit),
        role: None,
        label: format!("user:{}", person.id.0),
        workstation: Some("demo".to_owned()),
    }
}

/// Receives one planned letter and plays its steps; returns how many were refused.
async fn play(
    state: &AppState,
    org: &Seeded,
    planned: plan::PlannedLetter,
) -> Result<usize, DemoError> {
    let id = receive(state, &planned.draft, planned.received_at).await?;
    let mut refused = 0;
    for step in planned.steps {
        let Some(person) = org.people.get(&step.actor) else {
            refused += 1;
            continue;
        };
        let accepted = match (&step.action, org.signers.get(&person.id)) {
            (Action::ApproveFeedbackForm { decision, opinion }, Some((key_id, signer))) => {
                sign(
                    state,
                    person,
                    id,
                    *decision,
                    opinion,
                    step.at,
                    signer.as_ref(),
                    *key_id,
                )
                .await?
            }
            _ => act(state, person, id, step.action, step.at).await?,
        };
        if !accepted {
            refused += 1;
            // The rest of this letter's story depends on the refused step.
            break;
        }
    }
    Ok(refused)
}

/// Stores a letter as received at `at`; retries the (random) tracking code on a clash.
async fn receive(
    state: &AppState,
    draft: &content::LetterDraft,
    at: DateTime<Utc>,
) -> Result<LetterId, DemoError> {
    for _ in 0..5 {
        let letter = NewLetter {
            tracking_code: crate::intake::tracking_code(at),
            channel: draft.channel,
            category: draft.category,
            problem_tags: draft.problem_tags.clone(),
            subject: draft.subject.clone(),
            body: draft.body.clone(),
            writer_name: draft.writer_name.clone(),
            writer_phone: draft.writer_phone.clone(),
            writer_extra: serde_json::json!({}),
            received_at: at,
            unit: None,
            attachments: Vec::new(),
            idempotency: None,
        };
        let actor = Actor::public(draft.channel);
        match state.store.create_letter(letter, actor).await {
            Ok(created) => {
                state
                    .publish_change(created.change_seq, &[created.unit])
                    .await;
                return Ok(created.id);
            }
            Err(StorageError::Conflict {
                code: "tracking_code_taken",
                ..
            }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(DemoError::Api(ApiError::Internal(
        "no free tracking code after 5 tries".to_owned(),
    )))
}

/// The chief signs the feedback form (a real SM2 signature over the canonical form,
/// with a drawn signature) and decides. Returns whether it was accepted.
#[allow(clippy::too_many_arguments)]
async fn sign(
    state: &AppState,
    person: &Person,
    letter: LetterId,
    decision: jsjb_core::letter::FormDecision,
    opinion: &str,
    at: DateTime<Utc>,
    signer: &jsjb_signoff::SoftwareSigner,
    key_id: i64,
) -> Result<bool, DemoError> {
    let handwriting = jsjb_signoff::handwriting::sample_png(person.id.0 as u64);
    let outcome = crate::signoff::sign_and_apply(
        state,
        storage_actor(person),
        CoreActor {
            user: person.id,
            unit: person.unit,
            roles: person.roles.clone(),
        },
        letter,
        decision,
        opinion,
        at,
        signer,
        key_id,
        handwriting,
    )
    .await?;
    match outcome {
        ActionOutcome::Applied {
            change_seq,
            prev_unit,
            letter,
            ..
        } => {
            state
                .publish_change(change_seq, &[letter.unit_id, prev_unit])
                .await;
            Ok(true)
        }
        ActionOutcome::Refused(answer) => {
            tracing::debug!(user = person.username, body = %answer.body, "demo signature refused");
            Ok(false)
        }
        ActionOutcome::Replayed(_) | ActionOutcome::KeyReused => Ok(false),
    }
}

/// Takes one action as `person` at `at`, through the life-cycle rules. Returns whether
/// it was accepted.
async fn act(
    state: &AppState,
    person: &Person,
    letter: LetterId,
    action: Action,
    at: DateTime<Utc>,
) -> Result<bool, DemoError> {
    let extras: Extras = actions::extras_for(state, &action).await?;
    let kind = action.kind();
    let decide = actions::decision(
        actions::rules(state).await?,
        CoreActor {
            user: person.id,
            unit: person.unit,
            roles: person.roles.clone(),
        },
        at,
        None,
        action,
        extras,
    );
    let commit = ActionCommit {
        letter,
        actor: storage_actor(person),
        at,
        idempotency: None,
        audit_action: actions::audit_action(kind),
        history_full: idempotency::history_full(),
    };
    match state.store.apply_action(commit, decide).await? {
        ActionOutcome::Applied {
            change_seq,
            prev_unit,
            letter,
            ..
        } => {
            state
                .publish_change(change_seq, &[letter.unit_id, prev_unit])
                .await;
            Ok(true)
        }
        ActionOutcome::Refused(answer) => {
            tracing::debug!(user = person.username, body = %answer.body, "demo step refused");
            Ok(false)
        }
        ActionOutcome::Replayed(_) | ActionOutcome::KeyReused => Ok(false),
    }
}

/// Installs the demo's routing rules (unless rules are configured) and keeps letters
/// arriving about every `opts.arrival_every` (none when zero): each is received at the city
/// desk, then forwarded by the desks (city → branch → the station of its street) after a
/// few seconds each, the way the desks work — so a station's desktop sees it arrive
/// unsigned and rings. Runs until the server shuts down.
pub fn spawn_arrivals(state: AppState, opts: DemoOptions) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let org = match find_org(&state).await {
            Ok(org) => std::sync::Arc::new(org),
            Err(e) => {
                tracing::error!(%e, "demo arrivals: cannot find the demo org");
                return;
            }
        };
        // Route new letters by street to their branch, unless rules are configured:
        // the branch desk then forwards to the station, as the desks do.
        if state.routing_rules().rules.is_empty() {
            state.set_routing_rules(routing_by_area(&org));
        }
        if opts.arrival_every.is_zero() {
            return;
        }
        let mut shutdown = state.shutdown.subscribe();
        let mut rng = StdRng::seed_from_u64(opts.seed ^ 0x5eed);
        let streets = org.ids.streets();
        loop {
            let jitter = rng.random_range(0.6..1.4);
            let wait = opts.arrival_every.mul_f64(jitter);
            tokio::select! {
                () = tokio::time::sleep(wait) => {},
                _ = shutdown.changed() => return,
            }
            let draft = content::draft(&mut rng, &streets, None);
            let delays = [rng.random_range(5..15), rng.random_range(5..15)];
            let (state, org) = (state.clone(), std::sync::Arc::clone(&org));
            tokio::spawn(async move {
                if let Err(e) = arrive(&state, &org, draft, delays).await {
                    tracing::warn!(%e, "demo arrival failed");
                }
            });
        }
    })
}

async fn arrive(
    state: &AppState,
    org: &Seeded,
    draft: content::LetterDraft,
    delays: [u64; 2],
) -> Result<(), DemoError> {
    let id = receive(state, &draft, state.time.now()).await?;
    tracing::info!(letter = id.0, subject = %draft.subject, "demo: a letter arrived");
    crate::routing::dispatch::route_new_letter(state, id).await;
    let routed = state
        .store
        .letter(id)
        .await?
        .is_some_and(|l| l.unit_id != org.ids.city);
    let Some(station_spec) = org::station_for_street(draft.street) else {
        return Ok(());
    };
    let station = org.unit_by_key.get(station_spec.key).copied();
    let branch = station_spec
        .parent
        .and_then(|k| org.unit_by_key.get(k).copied());
    let (Some(station), Some(branch)) = (station, branch) else {
        return Ok(());
    };
    let desk = |unit: UnitId| {
        org.people
            .values()
            .find(|p| p.unit == unit && p.roles.contains(&Role::Dispatcher))
            .cloned()
    };
    for (to, from, delay) in [
        (branch, org.ids.city, delays[0]),
        (station, branch, delays[1]),
    ] {
        if routed && to == branch {
            continue; // the routing rule already sent it there
        }
        tokio::time::sleep(StdDuration::from_secs(delay)).await;
        let Some(person) = desk(from) else {
            return Ok(());
        };
        let note = if to == station {
            "请按时签收办理"
        } else {
            ""
        };
        act(
            state,
            &person,
            id,
            Action::Dispatch {
                to,
                note: note.to_owned(),
            },
            state.time.now(),
        )
        .await?;
    }
    Ok(())
}

/// Routing rules of the demo city: a letter naming a street goes to its branch.
fn routing_by_area(org: &Seeded) -> crate::routing::RoutingRules {
    let mut rules = Vec::new();
    for branch in org::UNITS
        .iter()
        .filter(|u| u.tier == jsjb_core::org::Tier::Branch)
    {
        let keywords: Vec<String> = org::UNITS
            .iter()
            .filter(|s| s.parent == Some(branch.key))
            .flat_map(|s| s.streets.iter().map(|street| (*street).to_owned()))
            .collect();
        if let Some(unit) = org.unit_by_key.get(branch.key) {
            rules.push(crate::routing::RoutingRule {
                name: format!("{}辖区", branch.name),
                categories: Vec::new(),
                keywords,
                to_unit: *unit,
            });
        }
    }
    crate::routing::RoutingRules { rules }
}

/// The sign-in table printed when the demo starts.
pub fn credentials_banner(base_url: &str) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "\n接诉即办 demo server at {base_url}\nEvery demo account's password: {DEMO_PASSWORD}\n\n"
    ));
    out.push_str(&format!(
        "{:<20} {:<10} {:<14} roles\n",
        "username", "name", "unit"
    ));
    for user in org::USERS {
        let unit = org::UNITS
            .iter()
            .find(|u| u.key == user.unit)
            .map_or("", |u| u.name);
        let roles: Vec<&str> = user.roles.iter().map(|r| r.as_str()).collect();
        out.push_str(&format!(
            "{:<20} {:<10} {:<14} {}\n",
            user.username,
            user.display_name,
            unit,
            roles.join(",")
        ));
    }
    out
}
