//! The PostgreSQL backend's report facts against the SQLite backend's: the same
//! organisation and generated letter histories are written to both through the
//! `Storage` trait, both refresh their facts, and `report_aggregates` must agree for
//! every period, `now` and scope asked. The letters are written in two rounds, the
//! second while two refreshes run on PostgreSQL at once, so letters already folded are
//! refolded and overlapping refreshes must still end with the same facts.
//!
//! Needs `JSJB_TEST_POSTGRES`, as the conformance tests do.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Duration, TimeZone, Utc};
use jsjb_core::letter::{
    Category, Channel, ContactMethod, ContactOutcome, FormDecision, LetterId, ReturnReason,
    Satisfaction,
};
use jsjb_core::org::{Role, Tier, UnitId, UserId};
use jsjb_core::rules::Rules;
use jsjb_core::workflow::EventPayload;
use jsjb_storage::reports::{ReportAggregates, ReportQuery};
use jsjb_storage::{
    ActionCommit, ActionOutcome, Actor, NewLetter, NewUnit, NewUser, Storage, StoredAnswer,
};
use jsjb_storage_postgres::PgStore;
use jsjb_storage_postgres::testing::TestDatabase;
use jsjb_storage_sqlite::SqliteStore;

async fn fresh_pg() -> (TestDatabase, Arc<dyn Storage>) {
    let db = TestDatabase::create("reports").await;
    let store = PgStore::open(&db.url).await.expect("open and migrate");
    (db, Arc::new(store))
}

async fn fresh_sqlite(dir: &Path) -> Arc<dyn Storage> {
    let path = dir.join("reports.sqlite3");
    let store = tokio::task::spawn_blocking(move || SqliteStore::open(&path))
        .await
        .expect("open task")
        .expect("open the database");
    Arc::new(store)
}

// --- the organisation and the letters ---------------------------------------------------

/// A small deterministic generator (xorshift64*), so the data is the same every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// In `lo..=hi`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        let span = u64::try_from(hi - lo + 1).expect("lo <= hi");
        lo + i64::try_from(self.next() % span).expect("small span")
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        let last = i64::try_from(items.len()).expect("few items") - 1;
        &items[usize::try_from(self.range(0, last)).expect("an index")]
    }
}

const PROBLEMS: [&str; 5] = ["噪音扰民", "交通秩序", "户籍办理", "治安隐患", "电信诈骗"];

struct Station {
    id: UnitId,
    officers: Vec<UserId>,
}

struct Branch {
    id: UnitId,
    stations: Vec<Station>,
}

struct Org {
    city: UnitId,
    branches: Vec<Branch>,
    desk: UserId,
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0)
        .single()
        .expect("a time")
}

/// When the data ends, and the `now` of most queries.
fn now() -> DateTime<Utc> {
    t0() + Duration::days(40)
}

async fn unit(store: &dyn Storage, parent: Option<UnitId>, tier: Tier, name: &str) -> UnitId {
    store
        .create_unit(
            NewUnit {
                parent,
                tier,
                name: name.to_owned(),
            },
            Actor::cli(),
            t0(),
        )
        .await
        .expect("create unit")
        .id
}

async fn user(store: &dyn Storage, unit: UnitId, name: &str, role: Role) -> UserId {
    store
        .create_user(
            NewUser {
                unit_id: unit,
                username: name.to_owned(),
                display_name: format!("{name} 同志"),
                roles: [role].into_iter().collect(),
                password_hash: format!("$argon2id$fake${name}"),
            },
            Actor::cli(),
            t0(),
        )
        .await
        .expect("create user")
        .id
}

/// A city, two branches of two stations, two officers a station, a city desk.
async fn org(store: &dyn Storage) -> Org {
    let city = unit(store, None, Tier::City, "深圳市公安局").await;
    let desk = user(store, city, "shiju.desk", Role::Dispatcher).await;
    let mut branches = Vec::new();
    for b in 0..2 {
        let id = unit(store, Some(city), Tier::Branch, &format!("第{b}分局")).await;
        let mut stations = Vec::new();
        for s in 0..2 {
            let station = unit(store, Some(id), Tier::Station, &format!("第{b}-{s}派出所")).await;
            let mut officers = Vec::new();
            for o in 0..2 {
                officers.push(
                    user(
                        store,
                        station,
                        &format!("officer.{b}.{s}.{o}"),
                        Role::Officer,
                    )
                    .await,
                );
            }
            stations.push(Station {
                id: station,
                officers,
            });
        }
        branches.push(Branch { id, stations });
    }
    Org {
        city,
        branches,
        desk,
    }
}

/// One letter: how it arrives, then its events after `received`, oldest first.
struct Plan {
    category: Category,
    tags: Vec<String>,
    received_at: DateTime<Utc>,
    events: Vec<(DateTime<Utc>, EventPayload)>,
}

/// A dispatch; `ruling` for a desk's ruling on a return, with whether it upheld it
/// (and so sent the letter elsewhere).
fn dispatch(from: UnitId, to: UnitId, to_tier: Tier, ruling: Option<(&str, bool)>) -> EventPayload {
    EventPayload::Dispatched {
        from,
        to,
        to_tier,
        note: String::new(),
        ruling: ruling.map(|(text, _)| text.to_owned()),
        return_upheld: ruling.and_then(|(_, upheld)| upheld.then_some(true)),
    }
}

/// `n` letters received over 30 days from `t0`: dispatched down to a station (some
/// returned and ruled on), signed for on time or late or never, contacted, answered,
/// closed, visited, some reclassified; a history stops at its first step after `now`.
fn plans(rng: &mut Rng, org: &Org, n: usize) -> Vec<Plan> {
    let mut out = Vec::with_capacity(n);
    let minutes = |rng: &mut Rng, lo: i64, hi: i64| Duration::seconds(rng.range(lo * 60, hi * 60));
    for _ in 0..n {
        let received_at = t0() + Duration::seconds(rng.range(0, 30 * 86_400));
        let category = *rng.pick(Category::ALL);
        let mut tags = Vec::new();
        for _ in 0..rng.range(0, 2) {
            let tag = (*rng.pick(&PROBLEMS)).to_owned();
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        let branch = rng.pick(&org.branches);
        let station = rng.pick(&branch.stations);
        let mut events = Vec::new();
        let mut t = received_at;
        let step = |events: &mut Vec<(DateTime<Utc>, EventPayload)>,
                    at: DateTime<Utc>,
                    e: EventPayload| {
            let ok = at <= now();
            if ok {
                events.push((at, e));
            }
            ok
        };
        'plan: {
            t += minutes(rng, 1, 8);
            if rng.chance(5)
                || !step(
                    &mut events,
                    t,
                    dispatch(org.city, branch.id, Tier::Branch, None),
                )
            {
                break 'plan;
            }
            t += minutes(rng, 1, 13);
            if rng.chance(5)
                || !step(
                    &mut events,
                    t,
                    dispatch(branch.id, station.id, Tier::Station, None),
                )
            {
                break 'plan;
            }
            let mut holder = station;
            if rng.chance(15) {
                t += minutes(rng, 1, 14);
                let returned = EventPayload::Returned {
                    from: station.id,
                    to: branch.id,
                    to_tier: Tier::Branch,
                    reason: ReturnReason::NotOurJurisdiction,
                    note: "非本所辖区".to_owned(),
                };
                if !step(&mut events, t, returned) || rng.chance(10) {
                    break 'plan;
                }
                t += minutes(rng, 1, 9);
                let ruling = if rng.chance(50) {
                    holder = branch
                        .stations
                        .iter()
                        .find(|s| s.id != station.id)
                        .unwrap_or(station);
                    dispatch(branch.id, holder.id, Tier::Station, Some(("改派", true)))
                } else {
                    dispatch(
                        branch.id,
                        station.id,
                        Tier::Station,
                        Some(("退单理由不成立", false)),
                    )
                };
                if !step(&mut events, t, ruling) {
                    break 'plan;
                }
            }
            // Some signed late (after the 10 minutes), some never.
            t += if rng.chance(25) {
                minutes(rng, 11, 90)
            } else {
                minutes(rng, 1, 9)
            };
            let signed = EventPayload::SignedFor {
                unit: holder.id,
                handler: *rng.pick(&holder.officers),
            };
            if rng.chance(8) || !step(&mut events, t, signed) {
                break 'plan;
            }
            t += minutes(rng, 2, 40);
            let contact = EventPayload::ContactRecorded {
                method: ContactMethod::Phone,
                outcome: ContactOutcome::Reached,
                contacted_at: t,
                note: String::new(),
                callback_at: None,
            };
            if !step(&mut events, t, contact) {
                break 'plan;
            }
            if rng.chance(10) {
                t += minutes(rng, 5, 120);
                let reclassified = EventPayload::Reclassified {
                    category: *rng.pick(Category::ALL),
                    problem_tags: vec![(*rng.pick(&PROBLEMS)).to_owned()],
                    note: "重新分类".to_owned(),
                };
                if !step(&mut events, t, reclassified) {
                    break 'plan;
                }
            }
            t += Duration::seconds(rng.range(3_600, 5 * 86_400));
            let feedback = EventPayload::FirstFeedbackGiven {
                text: "已联系，正在办理".to_owned(),
            };
            if !step(&mut events, t, feedback) || rng.chance(15) {
                break 'plan;
            }
            t += Duration::seconds(rng.range(3_600, 17 * 86_400));
            let submitted = EventPayload::FeedbackFormSubmitted {
                summary: "已办理".to_owned(),
                result: "已解决".to_owned(),
                reply: "您反映的问题已处理".to_owned(),
            };
            if !step(&mut events, t - Duration::minutes(30), submitted) {
                break 'plan;
            }
            let decided = EventPayload::FeedbackFormDecided {
                decision: FormDecision::Approve,
                opinion: String::new(),
            };
            if !step(&mut events, t, decided) || rng.chance(20) {
                break 'plan;
            }
            t += Duration::seconds(rng.range(3_600, 3 * 86_400));
            let satisfaction = match rng.range(0, 9) {
                0..=5 => Satisfaction::Satisfied,
                6..=7 => Satisfaction::BasicallySatisfied,
                _ => Satisfaction::Dissatisfied,
            };
            let visit = EventPayload::ReturnVisitRecorded {
                resolved: Some(satisfaction != Satisfaction::Dissatisfied),
                satisfaction,
                note: String::new(),
                method: None,
            };
            step(&mut events, t, visit);
        }
        out.push(Plan {
            category,
            tags,
            received_at,
            events,
        });
    }
    out
}

async fn create(store: &dyn Storage, n: usize, plan: &Plan) -> LetterId {
    store
        .create_letter(
            NewLetter {
                tracking_code: format!("RPT{n:05}"),
                channel: Channel::Web,
                category: plan.category,
                problem_tags: plan.tags.clone(),
                subject: "生成的来信".to_owned(),
                body: "生成的正文".to_owned(),
                writer_name: "张三".to_owned(),
                writer_phone: "13800138000".to_owned(),
                writer_extra: serde_json::json!({}),
                received_at: plan.received_at,
                unit: None,
                attachments: Vec::new(),
                idempotency: None,
            },
            Actor::public(Channel::Web),
        )
        .await
        .expect("create letter")
        .id
}

async fn apply(
    store: &dyn Storage,
    org: &Org,
    letter: LetterId,
    at: DateTime<Utc>,
    event: EventPayload,
) {
    let commit = ActionCommit {
        letter,
        actor: Actor {
            user: Some(org.desk),
            unit: Some(org.city),
            role: Some(Role::Dispatcher),
            label: format!("user:{}", org.desk.0),
            workstation: None,
        },
        at,
        idempotency: None,
        audit_action: "letter.test",
        history_full: StoredAnswer {
            status: 409,
            body: r#"{"code":"letter_history_full"}"#.to_owned(),
        },
    };
    match store
        .apply_action(commit, Box::new(move |_, _| Ok(event)))
        .await
        .expect("apply action")
    {
        ActionOutcome::Applied { .. } => {}
        other => panic!("expected the action applied, got {other:?}"),
    }
}

/// Writes the plans' events `range` (by index in each history) to `store`, letter by
/// letter in plan order.
async fn write_events(
    store: &dyn Storage,
    org: &Org,
    letters: &[LetterId],
    plans: &[Plan],
    range: std::ops::Range<usize>,
) {
    for (letter, plan) in letters.iter().zip(plans) {
        for (at, event) in plan.events.iter().take(range.end).skip(range.start) {
            apply(store, org, *letter, *at, event.clone()).await;
        }
    }
}

// --- the comparison ----------------------------------------------------------------------

/// The queries compared: periods (whole, a week, a CST day, one across `now`, one
/// before the data), two `now`s, three scopes.
fn queries(org: &Org) -> Vec<ReportQuery> {
    let all: Vec<UnitId> = std::iter::once(org.city)
        .chain(
            org.branches
                .iter()
                .flat_map(|b| std::iter::once(b.id).chain(b.stations.iter().map(|s| s.id))),
        )
        .collect();
    let branch = &org.branches[0];
    let branch_scope: Vec<UnitId> = std::iter::once(branch.id)
        .chain(branch.stations.iter().map(|s| s.id))
        .collect();
    let station_scope = vec![org.branches[1].stations[1].id];
    // Midnight in CST (UTC+8) of the data's 10th day.
    let day = Utc
        .with_ymd_and_hms(2026, 3, 11, 16, 0, 0)
        .single()
        .expect("a time");
    let periods = [
        (t0() - Duration::days(1), now() + Duration::days(5)),
        (t0() + Duration::days(7), t0() + Duration::days(14)),
        (day, day + Duration::days(1)),
        (now() - Duration::days(12), now() + Duration::days(2)),
        (t0() - Duration::days(30), t0() - Duration::days(1)),
    ];
    let nows = [now(), t0() + Duration::days(20)];
    let mut out = Vec::new();
    for (from, to) in periods {
        for at in nows {
            for scope in [&all, &branch_scope, &station_scope] {
                out.push(ReportQuery {
                    from,
                    to,
                    now: at,
                    scope: scope.clone(),
                });
            }
        }
    }
    out
}

async fn aggregates(store: &dyn Storage, q: &ReportQuery) -> ReportAggregates {
    store
        .reports()
        .report_aggregates(q.clone())
        .await
        .expect("report aggregates")
}

/// Every query's aggregates on both stores; returns the whole-period one, for the
/// caller to check it is not trivially empty.
async fn compare(
    pg: &dyn Storage,
    sqlite: &dyn Storage,
    org: &Org,
    round: &str,
) -> ReportAggregates {
    let qs = queries(org);
    for q in &qs {
        let (a, b) = (aggregates(pg, q).await, aggregates(sqlite, q).await);
        assert_eq!(
            a, b,
            "{round}: PostgreSQL and SQLite differ for {}..{} at {} over {:?}",
            q.from, q.to, q.now, q.scope
        );
    }
    aggregates(pg, &qs[0]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn aggregates_match_sqlite() {
    let (guard, pg) = fresh_pg().await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let sqlite = fresh_sqlite(dir.path()).await;
    let rules = Arc::new(Rules::shenzhen());

    let org_pg = org(pg.as_ref()).await;
    let org_sqlite = org(sqlite.as_ref()).await;
    // The same ids on both, so rows compare as they are.
    assert_eq!(org_pg.city, org_sqlite.city);
    assert_eq!(org_pg.desk, org_sqlite.desk);
    for (a, b) in org_pg.branches.iter().zip(&org_sqlite.branches) {
        assert_eq!(a.id, b.id);
        for (s, t) in a.stations.iter().zip(&b.stations) {
            assert_eq!((s.id, &s.officers), (t.id, &t.officers));
        }
    }
    let org = org_pg;
    let plans = plans(&mut Rng(0x5eed_1234_abcd), &org, 160);

    // Round 1: every letter with its first three events.
    let mut letters = Vec::new();
    for (n, plan) in plans.iter().enumerate() {
        let a = create(pg.as_ref(), n, plan).await;
        let b = create(sqlite.as_ref(), n, plan).await;
        assert_eq!(a, b, "the same letter ids on both");
        letters.push(a);
    }
    write_events(pg.as_ref(), &org, &letters, &plans, 0..3).await;
    write_events(sqlite.as_ref(), &org, &letters, &plans, 0..3).await;
    let refolded = pg
        .reports()
        .refresh_report_facts(rules.clone())
        .await
        .expect("refresh");
    assert_eq!(refolded, letters.len() as u64, "every letter folded once");
    sqlite
        .reports()
        .refresh_report_facts(rules.clone())
        .await
        .expect("refresh");
    compare(pg.as_ref(), sqlite.as_ref(), &org, "round 1").await;

    // Round 2: the rest of every history, while two refreshes run over and over on
    // PostgreSQL (with each other and with the writes).
    let writing = Arc::new(AtomicBool::new(true));
    let refreshers: Vec<_> = (0..2)
        .map(|_| {
            let (pg, rules, writing) = (Arc::clone(&pg), Arc::clone(&rules), Arc::clone(&writing));
            tokio::spawn(async move {
                let mut runs = 0u32;
                while writing.load(Ordering::Relaxed) {
                    pg.reports()
                        .refresh_report_facts(Arc::clone(&rules))
                        .await
                        .expect("concurrent refresh");
                    runs += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
                runs
            })
        })
        .collect();
    write_events(pg.as_ref(), &org, &letters, &plans, 3..usize::MAX).await;
    writing.store(false, Ordering::Relaxed);
    for r in refreshers {
        assert!(r.await.expect("refresher") > 0, "the refresher ran");
    }
    write_events(sqlite.as_ref(), &org, &letters, &plans, 3..usize::MAX).await;
    pg.reports()
        .refresh_report_facts(rules.clone())
        .await
        .expect("refresh");
    sqlite
        .reports()
        .refresh_report_facts(rules.clone())
        .await
        .expect("refresh");
    let whole = compare(pg.as_ref(), sqlite.as_ref(), &org, "round 2").await;
    assert!(
        !whole.rates.is_empty() && !whole.days.is_empty(),
        "{whole:?}"
    );
    assert!(!whole.held.is_empty() && !whole.received.is_empty() && !whole.problems.is_empty());
    assert!(
        whole.held.iter().any(|h| h.overdue > 0),
        "some clock overdue: {:?}",
        whole.held
    );

    // Up to date: nothing more to fold, on either.
    assert_eq!(
        pg.reports()
            .refresh_report_facts(rules.clone())
            .await
            .expect("refresh"),
        0
    );
    assert_eq!(
        sqlite
            .reports()
            .refresh_report_facts(rules)
            .await
            .expect("refresh"),
        0
    );
    drop(guard);
}
