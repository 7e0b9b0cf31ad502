//! The server's reports against an independent recount: generated letter histories are
//! written into the server's database, and the figures `GET /api/v1/reports` gives
//! are checked against a recount written here from the generator's plans — plain date
//! arithmetic over "signed within 10 minutes", "closed within 15 days", the 退单 rule,
//! with no call into core. Also: scope (a branch sees its subtree only), the facts
//! following a new action, the period rules, and the CSV and XLSX exports (the XLSX
//! opened and its sheets read).

#[path = "support/letters.rs"]
mod generate;
mod support;

use std::collections::BTreeMap;
use std::io::Read;

use chrono::{DateTime, Duration, Utc};
use generate::{Branch, Org, Plan, Return, Rng, Ruling, Station};
use jsjb_core::letter::{Category, Satisfaction};
use jsjb_server::time::TimeSource;
use serde_json::{Value, json};
use support::*;

/// [dispatched, signed_on_time, due, closed_on_time, visits, satisfied]
type Counts = [u32; 6];

#[derive(Debug, Default, PartialEq)]
struct Expected {
    letters: u32,
    units: BTreeMap<i64, Counts>,
    officers: BTreeMap<i64, Counts>,
    categories: BTreeMap<String, Counts>,
    received: BTreeMap<String, u32>,
    problems: BTreeMap<String, u32>,
}

const RESPONSE: usize = 0;
const RESOLUTION: usize = 2;
const SATISFACTION: usize = 4;

impl Expected {
    fn count(
        &mut self,
        unit: i64,
        officer: Option<i64>,
        category: Category,
        rate: usize,
        met: bool,
    ) {
        for counts in [
            Some(self.units.entry(unit).or_default()),
            officer.map(|o| self.officers.entry(o).or_default()),
            Some(
                self.categories
                    .entry(category.as_str().to_owned())
                    .or_default(),
            ),
        ]
        .into_iter()
        .flatten()
        {
            counts[rate] += 1;
            counts[rate + 1] += u32::from(met);
        }
    }
}

/// The recount: DOMAIN.md's rules applied to the plans by hand.
fn recount(
    plans: &[Plan],
    city: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Expected {
    let inside = |t: DateTime<Utc>| from <= t && t < to;
    let sign_for = Duration::minutes(10);
    let closure = Duration::days(15);
    // An unsigned dispatch still with its unit: a miss once its 10 minutes are over.
    let unsigned = |at: DateTime<Utc>| (now > at + sign_for).then_some(false);
    let mut e = Expected::default();
    for p in plans {
        let c = p.category;
        if inside(p.received_at) {
            e.letters += 1;
            *e.received.entry(c.as_str().to_owned()).or_default() += 1;
            for tag in &p.tags {
                *e.problems.entry(tag.clone()).or_default() += 1;
            }
        }
        let signer = p.signed.map(|(_, o)| o);
        // The branch: its dispatch is met by forwarding within 10 minutes.
        if let Some(tb) = p.to_branch_at {
            let met = match p.to_station_at {
                Some(ts) => Some(ts - tb <= sign_for),
                None => unsigned(tb),
            };
            if let (true, Some(met)) = (inside(tb), met) {
                e.count(p.branch, None, c, RESPONSE, met);
            }
        }
        // The station's first dispatch: a timely return is a timely response, unless
        // the desk sends it back (unfounded).
        if let Some(ts) = p.to_station_at {
            let (met, officer) = match &p.returned {
                Some(Return { at, ruling }) => {
                    let unfounded = matches!(
                        ruling,
                        Some(Ruling {
                            upheld_to: None,
                            ..
                        })
                    );
                    (Some(*at - ts <= sign_for && !unfounded), None)
                }
                None => match p.signed {
                    Some((s, _)) => (Some(s - ts <= sign_for), signer),
                    None => (unsigned(ts), None),
                },
            };
            if let (true, Some(met)) = (inside(ts), met) {
                e.count(p.station, officer, c, RESPONSE, met);
            }
        }
        // After a ruling, the dispatch to the station that has it now.
        if let Some(Return {
            ruling: Some(r), ..
        }) = &p.returned
        {
            let met = match p.signed {
                Some((s, _)) => Some(s - r.at <= sign_for),
                None => unsigned(r.at),
            };
            let officer = p.signed.map(|(_, o)| o);
            if let (true, Some(met)) = (inside(r.at), met) {
                e.count(p.final_station, officer, c, RESPONSE, met);
            }
        }
        // Who has the letter at the end.
        let holder = match (&p.returned, p.to_station_at, p.to_branch_at) {
            (Some(Return { ruling: None, .. }), _, _) => p.branch,
            (_, Some(_), _) => p.final_station,
            (_, None, Some(_)) => p.branch,
            _ => city,
        };
        // Resolution: due 15 days after receipt, or after the reopen (重办) of a
        // dissatisfied visit, whose closure is still to come.
        let reopened = p
            .visit
            .filter(|(_, s)| *s == Satisfaction::Dissatisfied)
            .map(|(at, _)| at);
        let due = reopened.map_or(p.received_at + closure, |at| at + closure);
        let closed = if reopened.is_some() {
            None
        } else {
            p.closed_at
        };
        let met = match closed {
            Some(at) => Some(at <= due),
            None => (now > due).then_some(false),
        };
        if let (true, Some(met)) = (inside(due), met) {
            e.count(holder, signer, c, RESOLUTION, met);
        }
        if let Some((at, satisfaction)) = p.visit
            && inside(at)
        {
            e.count(
                p.final_station,
                signer,
                c,
                SATISFACTION,
                satisfaction != Satisfaction::Dissatisfied,
            );
        }
    }
    e
}

fn counts_of(v: &Value) -> Counts {
    let n = |k: &str| {
        u32::try_from(v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"))).expect("u32")
    };
    [
        n("dispatched"),
        n("signed_on_time"),
        n("due"),
        n("closed_on_time"),
        n("visits"),
        n("satisfied"),
    ]
}

/// What the report says, in the recount's terms (zero rows left out).
fn observed(report: &Value) -> Expected {
    let mut e = Expected {
        letters: u32::try_from(report["letters"].as_u64().expect("letters")).expect("u32"),
        ..Expected::default()
    };
    let nonzero = |c: &Counts| c.iter().any(|n| *n > 0);
    for u in report["units"].as_array().expect("units") {
        let c = counts_of(u);
        if nonzero(&c) {
            e.units.insert(u["unit_id"].as_i64().expect("id"), c);
        }
    }
    for o in report["officers"].as_array().expect("officers") {
        e.officers
            .insert(o["user_id"].as_i64().expect("id"), counts_of(o));
    }
    for c in report["by_category"].as_array().expect("categories") {
        let key = c["key"].as_str().expect("key").to_owned();
        let counts = counts_of(c);
        if nonzero(&counts) {
            e.categories.insert(key.clone(), counts);
        }
        let n = u32::try_from(c["count"].as_u64().expect("count")).expect("u32");
        if n > 0 {
            e.received.insert(key, n);
        }
    }
    for p in report["by_problem"].as_array().expect("problems") {
        e.problems.insert(
            p["key"].as_str().expect("key").to_owned(),
            u32::try_from(p["count"].as_u64().expect("count")).expect("u32"),
        );
    }
    e
}

/// Only the units of one subtree, for a branch's view.
fn within(e: &Expected, units: &[i64], plans_units: impl Fn(i64) -> bool) -> BTreeMap<i64, Counts> {
    let _ = units;
    e.units
        .iter()
        .filter(|(u, _)| plans_units(**u))
        .map(|(u, c)| (*u, *c))
        .collect()
}

struct World {
    s: TestServer,
    org: Org,
    plans: Vec<Plan>,
    desk: String,
    b1_desk: String,
}

async fn world(letters: usize) -> World {
    let s = TestServer::start().await;
    let admin = s.admin_token().await;
    let mut branches = Vec::new();
    let mut officer = 5000;
    for (b, stations) in [
        ("福田分局", ["福田派出所", "华富派出所"]),
        ("罗湖分局", ["东门派出所", "黄贝派出所"]),
    ] {
        let id = s.unit(&admin, s.city, "branch", b).await;
        let mut list = Vec::new();
        for st in stations {
            let sid = s.unit(&admin, id, "station", st).await;
            list.push(Station {
                id: sid,
                officers: (0..3)
                    .map(|_| {
                        officer += 1;
                        officer
                    })
                    .collect(),
            });
        }
        branches.push(Branch { id, stations: list });
    }
    let org = Org {
        city: s.city,
        branches,
    };
    let now = s.time.now();
    let mut rng = Rng::new(20_260_301);
    let plans = generate::plans(
        &mut rng,
        &org,
        letters,
        now - Duration::days(60),
        Duration::days(60),
        now,
    );
    let mut conn = s.raw_db();
    generate::insert(&mut conn, &org, &plans, 1).expect("generated letters");
    s.user(&admin, s.city, "desk", &["dispatcher"]).await;
    s.user(&admin, org.branches[0].id, "b1desk", &["dispatcher"])
        .await;
    let desk = s.token("desk", PASSWORD).await;
    let b1_desk = s.token("b1desk", PASSWORD).await;
    World {
        s,
        org,
        plans,
        desk,
        b1_desk,
    }
}

fn q(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

async fn report(s: &TestServer, token: &str, query: &str) -> Value {
    let res = s
        .get(&format!("/api/v1/reports?{query}"), Some(token))
        .await;
    let status = res.status();
    let body: Value = res.json().await.expect("json");
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn report_figures_match_an_independent_recount() {
    let w = world(600).await;
    let now = w.s.time.now();
    // Sanity: the generated data has every kind of history.
    assert!(w.plans.iter().any(|p| matches!(
        p.returned,
        Some(Return {
            ruling: Some(Ruling {
                upheld_to: None,
                ..
            }),
            ..
        })
    )));
    assert!(w.plans.iter().any(|p| matches!(
        p.returned,
        Some(Return {
            ruling: Some(Ruling {
                upheld_to: Some(_),
                ..
            }),
            ..
        })
    )));
    assert!(w.plans.iter().any(|p| {
        p.visit
            .is_some_and(|(_, s)| s == Satisfaction::Dissatisfied)
    }));
    assert!(w.plans.iter().any(|p| p.closed_at.is_some()));

    for (from, to) in [
        (now - Duration::days(70), now + Duration::days(20)),
        (now - Duration::days(40), now - Duration::days(10)),
        (now - Duration::days(3), now + Duration::hours(1)),
    ] {
        let got = observed(&report(&w.s, &w.desk, &format!("from={}&to={}", q(from), q(to))).await);
        let want = recount(&w.plans, w.org.city, from, to, now);
        // Every rate has facts both met and missed in the recount: the comparison bites.
        let sum = want.units.values().fold([0u32; 6], |mut a, c| {
            for (x, y) in a.iter_mut().zip(c) {
                *x += y;
            }
            a
        });
        for rate in [RESPONSE, RESOLUTION, SATISFACTION] {
            assert!(sum[rate + 1] > 0 && sum[rate + 1] < sum[rate], "{sum:?}");
        }
        assert_eq!(got.letters, want.letters, "letters {from}..{to}");
        assert_eq!(got.units, want.units, "units {from}..{to}");
        assert_eq!(got.officers, want.officers, "officers {from}..{to}");
        assert_eq!(got.categories, want.categories, "categories {from}..{to}");
        assert_eq!(got.received, want.received, "received {from}..{to}");
        assert_eq!(got.problems, want.problems, "problems {from}..{to}");
    }

    // The whole period: the trends, the ranking and the totals agree with the units.
    let (from, to) = (now - Duration::days(70), now + Duration::days(1));
    let r = report(&w.s, &w.desk, &format!("from={}&to={}", q(from), q(to))).await;
    let mut sum = [0u32; 6];
    for u in r["units"].as_array().expect("units") {
        for (i, n) in counts_of(u).iter().enumerate() {
            sum[i] += n;
        }
    }
    assert_eq!(counts_of(&r["total"]), sum, "total = Σ units");
    for key in ["weekly", "monthly"] {
        let mut sum = [0u32; 6];
        let mut letters = 0;
        for p in r[key].as_array().expect("trend") {
            letters += p["letters"].as_u64().expect("letters");
            for (i, n) in counts_of(p).iter().enumerate() {
                sum[i] += n;
            }
        }
        assert_eq!(sum, counts_of(&r["total"]), "{key}");
        assert_eq!(letters, r["letters"].as_u64().expect("letters"), "{key}");
    }
    assert!(r["weekly"].as_array().expect("weeks").len() >= 10);
    let ranking = r["ranking"].as_array().expect("ranking");
    assert_eq!(ranking.len(), 2, "the two branches");
    assert_eq!(ranking[0]["rank"], 1);
    let scores: Vec<f64> = ranking
        .iter()
        .map(|e| e["score"].as_f64().expect("score"))
        .collect();
    assert!(scores[0] >= scores[1], "{scores:?}");
    let branch_subtree = |id: i64| {
        r["units"]
            .as_array()
            .expect("units")
            .iter()
            .find(|u| u["unit_id"] == id)
            .map(|u| counts_of(&u["subtree"]))
            .expect("branch")
    };
    for e in ranking {
        assert_eq!(
            counts_of(e),
            branch_subtree(e["unit_id"].as_i64().expect("id"))
        );
    }
    // Time held: the city desk held every letter received in the period for a while.
    let tiers = r["tiers"].as_array().expect("tiers");
    assert_eq!(tiers[0]["tier"], "city");
    assert_eq!(tiers[0]["letters_held"].as_u64(), r["letters"].as_u64());
    assert!(
        tiers
            .iter()
            .all(|t| t["held_secs"].as_i64().expect("secs") > 0)
    );
    // Hotspots: problem × area, adding up to the problem counts.
    let mut by_problem: BTreeMap<String, u64> = BTreeMap::new();
    for h in r["hotspots"].as_array().expect("hotspots") {
        *by_problem
            .entry(h["problem"].as_str().expect("p").to_owned())
            .or_default() += h["count"].as_u64().expect("n");
    }
    for p in r["by_problem"].as_array().expect("problems") {
        assert_eq!(
            by_problem[p["key"].as_str().expect("key")],
            p["count"].as_u64().expect("n")
        );
    }

    // A branch's desk: its own subtree, and the same figures for its units.
    let b1 = &w.org.branches[0];
    let mine: Vec<i64> = std::iter::once(b1.id)
        .chain(b1.stations.iter().map(|s| s.id))
        .collect();
    let branch = report(&w.s, &w.b1_desk, &format!("from={}&to={}", q(from), q(to))).await;
    assert_eq!(branch["unit_id"], b1.id);
    let listed: Vec<i64> = branch["units"]
        .as_array()
        .expect("units")
        .iter()
        .map(|u| u["unit_id"].as_i64().expect("id"))
        .collect();
    assert_eq!(listed, mine);
    let want = recount(&w.plans, w.org.city, from, to, now);
    assert_eq!(
        observed(&branch).units,
        within(&want, &mine, |u| mine.contains(&u))
    );
    assert_eq!(counts_of(&branch["total"]), branch_subtree(b1.id));
    let res =
        w.s.get(
            &format!(
                "/api/v1/reports?from={}&to={}&unit={}",
                q(from),
                q(to),
                w.org.branches[1].id
            ),
            Some(&w.b1_desk),
        )
        .await;
    problem(res, 404, "not_found").await;
}

#[tokio::test]
async fn the_facts_follow_new_events_and_the_passing_of_deadlines() {
    let w = world(0).await;
    let now = w.s.time.now();
    let query = format!(
        "from={}&to={}",
        q(now - Duration::days(1)),
        q(now + Duration::days(30))
    );
    let empty = report(&w.s, &w.desk, &query).await;
    assert_eq!(empty["letters"], 0);
    // A desk letter, dispatched to the branch: one dispatch, not scored yet.
    let res =
        w.s.post_json(
            "/api/v1/letters",
            Some(&w.desk),
            &json!({"category": "help", "subject": "路灯不亮", "body": "小区路灯坏了",
                    "writer_name": "王五", "writer_phone": "13600000000", "problem_tags": []}),
        )
        .await;
    assert_eq!(res.status(), 201, "{:?}", res.text().await);
    let id = res.json::<Value>().await.expect("json")["id"]
        .as_i64()
        .expect("id");
    let res = w
        .s
        .client
        .post(w.s.url(&format!("/api/v1/letters/{id}/actions")))
        .bearer_auth(&w.desk)
        .header("Idempotency-Key", "report-dispatch-1")
        .json(&json!({"expected_version": 1, "action": {"action": "dispatch", "to": w.org.branches[0].id}}))
        .send()
        .await
        .expect("dispatch");
    assert_eq!(res.status(), 200, "{:?}", res.text().await);
    let r = report(&w.s, &w.desk, &query).await;
    assert_eq!(r["letters"], 1);
    assert_eq!(
        counts_of(&r["total"])[0],
        0,
        "still inside its sign-for clock"
    );
    // Ten minutes on it is still on time; a moment later the branch has missed it.
    w.s.advance(Duration::minutes(10));
    assert_eq!(
        counts_of(&report(&w.s, &w.desk, &query).await["total"])[0],
        0
    );
    w.s.advance(Duration::seconds(1));
    let r = report(&w.s, &w.desk, &query).await;
    assert_eq!(counts_of(&r["total"])[..2], [1, 0]);
    let branch = r["units"]
        .as_array()
        .expect("units")
        .iter()
        .find(|u| u["unit_id"] == w.org.branches[0].id)
        .expect("branch")
        .clone();
    assert_eq!(counts_of(&branch)[..2], [1, 0]);
    assert_eq!(
        branch["overdue"], 1,
        "the late sign-for, charged to the branch"
    );
}

#[tokio::test]
async fn exports_are_a_csv_and_an_xlsx_that_opens() {
    let w = world(150).await;
    let now = w.s.time.now();
    let query = format!(
        "from={}&to={}",
        q(now - Duration::days(70)),
        q(now + Duration::days(1))
    );
    let r = report(&w.s, &w.desk, &query).await;

    let res =
        w.s.get(
            &format!("/api/v1/reports/export?{query}&format=csv"),
            Some(&w.desk),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
    let disposition = res.headers()["content-disposition"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"report-"),
        "{disposition}"
    );
    let csv = res.text().await.expect("text");
    assert!(csv.starts_with('\u{feff}'), "a BOM for Excel");
    for title in [
        "单位三率",
        "民警三率",
        "类别",
        "周趋势",
        "月趋势",
        "排名",
        "层级",
        "热点",
        "福田派出所",
    ] {
        assert!(csv.contains(title), "{title}");
    }
    // The city's row of the unit table carries its subtree's response rate.
    let total = counts_of(&r["total"]);
    let rate = format!("{:.1}%", f64::from(total[1]) / f64::from(total[0]) * 100.0);
    let city_row = csv
        .lines()
        .find(|l| l.starts_with("深圳市公安局,市局,"))
        .expect("city row");
    assert!(city_row.contains(&rate), "{city_row} has {rate}");

    let res =
        w.s.get(
            &format!("/api/v1/reports/export?{query}&format=xlsx"),
            Some(&w.desk),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"],
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    let bytes = res.bytes().await.expect("bytes");
    let mut zip =
        zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).expect("an XLSX is a zip");
    let mut read = |name: &str| {
        let mut text = String::new();
        zip.by_name(name)
            .unwrap_or_else(|_| panic!("{name}"))
            .read_to_string(&mut text)
            .expect("utf-8");
        text
    };
    let workbook = read("xl/workbook.xml");
    for sheet in [
        "报表",
        "单位三率",
        "民警三率",
        "类别",
        "周趋势",
        "月趋势",
        "排名",
        "层级",
        "热点",
    ] {
        assert!(
            workbook.contains(&format!("name=\"{sheet}\"")),
            "{sheet} in {workbook}"
        );
    }
    let strings = read("xl/sharedStrings.xml");
    for text in ["深圳市公安局", "福田分局", "东门派出所", "响应率"] {
        assert!(strings.contains(text), "{text}");
    }
    // The first sheet: the period, the letters and the rates as numbers.
    let sheet = read("xl/worksheets/sheet1.xml");
    assert!(
        sheet.contains(&format!("<v>{}</v>", r["letters"])),
        "letters in {sheet}"
    );
}
