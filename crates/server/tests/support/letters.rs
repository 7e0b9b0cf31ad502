//! Generated letter histories, written straight into a server's SQLite file: for the
//! reports test (which recounts the figures from the plans, without core) and the
//! reports bench (a year of a city's letters). Included by `#[path]`.
//!
//! Each letter follows one shape with random times: received at the city desk,
//! dispatched to a branch, forwarded to a station, maybe returned (退单) and ruled on
//! (sent back: unfounded; or 改派 to a sibling station), signed for by an officer,
//! contacted, first feedback, maybe closed (feedback form approved) and visited
//! (satisfied, basically, or dissatisfied, which reopens it). A history stops at the
//! first step that would lie after `now`.

#![allow(dead_code)]

use chrono::{DateTime, Duration, Utc};
use jsjb_core::letter::{
    Category, ContactMethod, ContactOutcome, FormDecision, ReturnReason, Satisfaction,
};
use jsjb_core::org::{Tier, UnitId, UserId};
use jsjb_core::workflow::{EventPayload, LetterStatus};
use rusqlite::{Connection, params};

/// A station and its officers.
#[derive(Debug, Clone)]
pub struct Station {
    pub id: i64,
    pub officers: Vec<i64>,
}

#[derive(Debug, Clone)]
pub struct Branch {
    pub id: i64,
    pub stations: Vec<Station>,
}

#[derive(Debug, Clone)]
pub struct Org {
    pub city: i64,
    pub branches: Vec<Branch>,
}

pub const PROBLEMS: [&str; 6] = [
    "噪音扰民",
    "交通秩序",
    "户籍办理",
    "治安隐患",
    "电信诈骗",
    "其他",
];

/// A small deterministic generator (xorshift64*), so a seed gives the same data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// In `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        let span = u64::try_from(hi - lo + 1).unwrap_or(1);
        lo + i64::try_from(self.next() % span).unwrap_or(0)
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

#[derive(Debug, Clone)]
pub struct Return {
    pub at: DateTime<Utc>,
    /// The desk's ruling: `None` when the history stopped before it.
    pub ruling: Option<Ruling>,
}

#[derive(Debug, Clone, Copy)]
pub struct Ruling {
    pub at: DateTime<Utc>,
    /// `None`: sent back to the same station (unfounded); else 改派 to this station.
    pub upheld_to: Option<i64>,
}

/// One letter's plan: what happened when (the fields after the history stopped are
/// `None`).
#[derive(Debug, Clone)]
pub struct Plan {
    pub category: Category,
    pub tags: Vec<String>,
    pub received_at: DateTime<Utc>,
    pub branch: i64,
    pub to_branch_at: Option<DateTime<Utc>>,
    pub station: i64,
    pub to_station_at: Option<DateTime<Utc>>,
    pub returned: Option<Return>,
    /// The station that has the letter after any return.
    pub final_station: i64,
    pub signed: Option<(DateTime<Utc>, i64)>,
    pub contact_at: Option<DateTime<Utc>>,
    pub feedback_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub visit: Option<(DateTime<Utc>, Satisfaction)>,
}

/// `n` plans received uniformly over `[start, start + span)`, none after `now`.
pub fn plans(
    rng: &mut Rng,
    org: &Org,
    n: usize,
    start: DateTime<Utc>,
    span: Duration,
    now: DateTime<Utc>,
) -> Vec<Plan> {
    let mut out = Vec::with_capacity(n);
    let span_secs = span.num_seconds().max(1);
    for _ in 0..n {
        let received_at = start + Duration::seconds(rng.range(0, span_secs - 1));
        let branch = &org.branches
            [usize::try_from(rng.range(0, org.branches.len() as i64 - 1)).unwrap_or(0)];
        let pick = |rng: &mut Rng| {
            &branch.stations
                [usize::try_from(rng.range(0, branch.stations.len() as i64 - 1)).unwrap_or(0)]
        };
        let station = pick(rng);
        let category = Category::ALL[usize::try_from(rng.range(0, 4)).unwrap_or(0)];
        let mut tags = Vec::new();
        if rng.chance(70) {
            tags.push(PROBLEMS[usize::try_from(rng.range(0, 5)).unwrap_or(0)].to_owned());
        }
        if rng.chance(15) {
            let t = PROBLEMS[usize::try_from(rng.range(0, 5)).unwrap_or(0)].to_owned();
            if !tags.contains(&t) {
                tags.push(t);
            }
        }
        let mut plan = Plan {
            category,
            tags,
            received_at,
            branch: branch.id,
            to_branch_at: None,
            station: station.id,
            to_station_at: None,
            returned: None,
            final_station: station.id,
            signed: None,
            contact_at: None,
            feedback_at: None,
            closed_at: None,
            visit: None,
        };
        let ok = |t: DateTime<Utc>| (t <= now).then_some(t);
        let minutes =
            |rng: &mut Rng, lo: i64, hi: i64| Duration::seconds(rng.range(lo * 60, hi * 60));
        let mut t = received_at + minutes(rng, 1, 8);
        plan.to_branch_at = ok(t);
        if plan.to_branch_at.is_none() {
            out.push(plan);
            continue;
        }
        t += minutes(rng, 1, 13);
        plan.to_station_at = ok(t);
        if plan.to_station_at.is_none() {
            out.push(plan);
            continue;
        }
        let mut holder = station;
        if rng.chance(12) {
            t += minutes(rng, 1, 14);
            let Some(at) = ok(t) else {
                out.push(plan);
                continue;
            };
            let mut ret = Return { at, ruling: None };
            t += minutes(rng, 1, 9);
            if let Some(at) = ok(t) {
                let upheld_to = if rng.chance(50) && branch.stations.len() > 1 {
                    let other = branch
                        .stations
                        .iter()
                        .find(|s| s.id != station.id)
                        .unwrap_or(station);
                    holder = other;
                    Some(other.id)
                } else {
                    None
                };
                ret.ruling = Some(Ruling { at, upheld_to });
            }
            let ruled = ret.ruling.is_some();
            plan.returned = Some(ret);
            plan.final_station = holder.id;
            if !ruled {
                out.push(plan);
                continue;
            }
        }
        t += minutes(rng, 1, 16);
        let officer = holder.officers
            [usize::try_from(rng.range(0, holder.officers.len() as i64 - 1)).unwrap_or(0)];
        plan.signed = ok(t).map(|at| (at, officer));
        if plan.signed.is_none() {
            out.push(plan);
            continue;
        }
        t += minutes(rng, 2, 40);
        plan.contact_at = ok(t);
        t += Duration::seconds(rng.range(3600, 5 * 86400));
        plan.feedback_at = plan.contact_at.and_then(|_| ok(t));
        if plan.feedback_at.is_some() && rng.chance(85) {
            t += Duration::seconds(rng.range(3600, 17 * 86400));
            plan.closed_at = ok(t);
            if plan.closed_at.is_some() && rng.chance(80) {
                t += Duration::seconds(rng.range(3600, 3 * 86400));
                let satisfaction = match rng.range(0, 9) {
                    0..=5 => Satisfaction::Satisfied,
                    6..=7 => Satisfaction::BasicallySatisfied,
                    _ => Satisfaction::Dissatisfied,
                };
                plan.visit = ok(t).map(|at| (at, satisfaction));
            }
        }
        out.push(plan);
    }
    out
}

fn tier_of(org: &Org, unit: i64) -> Tier {
    if unit == org.city {
        Tier::City
    } else if org.branches.iter().any(|b| b.id == unit) {
        Tier::Branch
    } else {
        Tier::Station
    }
}

/// The plan as events, oldest first.
pub fn events(org: &Org, plan: &Plan) -> Vec<(DateTime<Utc>, EventPayload)> {
    let unit = |id: i64| UnitId(id);
    let dispatch =
        |from: i64, to: i64, ruling: Option<&str>, upheld: Option<bool>| EventPayload::Dispatched {
            from: unit(from),
            to: unit(to),
            to_tier: tier_of(org, to),
            note: String::new(),
            ruling: ruling.map(str::to_owned),
            return_upheld: upheld,
        };
    let mut out = vec![(
        plan.received_at,
        EventPayload::Received {
            unit: unit(org.city),
            tier: Tier::City,
        },
    )];
    let Some(at) = plan.to_branch_at else {
        return out;
    };
    out.push((at, dispatch(org.city, plan.branch, None, None)));
    let Some(at) = plan.to_station_at else {
        return out;
    };
    out.push((at, dispatch(plan.branch, plan.station, None, None)));
    if let Some(ret) = &plan.returned {
        out.push((
            ret.at,
            EventPayload::Returned {
                from: unit(plan.station),
                to: unit(plan.branch),
                to_tier: Tier::Branch,
                reason: ReturnReason::NotOurJurisdiction,
                note: "非本所辖区".to_owned(),
            },
        ));
        let Some(ruling) = ret.ruling else {
            return out;
        };
        out.push((
            ruling.at,
            match ruling.upheld_to {
                None => dispatch(plan.branch, plan.station, Some("退单理由不成立"), None),
                Some(to) => dispatch(plan.branch, to, Some("改派"), Some(true)),
            },
        ));
    }
    let Some((at, officer)) = plan.signed else {
        return out;
    };
    out.push((
        at,
        EventPayload::SignedFor {
            unit: unit(plan.final_station),
            handler: UserId(officer),
        },
    ));
    if let Some(at) = plan.contact_at {
        out.push((
            at,
            EventPayload::ContactRecorded {
                method: ContactMethod::Phone,
                outcome: ContactOutcome::Reached,
                contacted_at: at,
                note: String::new(),
                callback_at: None,
            },
        ));
    }
    if let Some(at) = plan.feedback_at {
        out.push((
            at,
            EventPayload::FirstFeedbackGiven {
                text: "已联系，正在办理".to_owned(),
            },
        ));
    }
    if let Some(at) = plan.closed_at {
        out.push((
            at - Duration::minutes(30),
            EventPayload::FeedbackFormSubmitted {
                summary: "已办理".to_owned(),
                result: "已解决".to_owned(),
                reply: "您反映的问题已处理".to_owned(),
            },
        ));
        out.push((
            at,
            EventPayload::FeedbackFormDecided {
                decision: FormDecision::Approve,
                opinion: String::new(),
            },
        ));
    }
    if let Some((at, satisfaction)) = plan.visit {
        out.push((
            at,
            EventPayload::ReturnVisitRecorded {
                resolved: Some(satisfaction != Satisfaction::Dissatisfied),
                satisfaction,
                note: String::new(),
                method: None,
            },
        ));
    }
    out
}

fn db_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Writes the plans' letters, events and changes in one transaction (no audit
/// entries: the reports read none). Returns the letters' ids, in plan order.
pub fn insert(
    conn: &mut Connection,
    org: &Org,
    plans: &[Plan],
    first_code: u64,
) -> rusqlite::Result<Vec<i64>> {
    let tx = conn.transaction()?;
    let mut ids = Vec::with_capacity(plans.len());
    {
        let mut letter = tx.prepare(
            "INSERT INTO letters (tracking_code, channel, category, problem_tags, subject, body,
                writer_name, writer_phone, received_at, state, unit_id, handler_id, version, updated_at)
             VALUES (?1, 'web', ?2, ?3, '生成的来信', '生成的正文', '张三', '13800000000', ?4, ?5, ?6, NULL, ?7, ?8)",
        )?;
        let mut event = tx.prepare(
            "INSERT INTO letter_events (letter_id, seq, at, actor, kind, payload)
             VALUES (?1, ?2, ?3, 'generated', ?4, ?5)",
        )?;
        let mut change = tx.prepare(
            "INSERT INTO changes (letter_id, unit_id, prev_unit_id, at) VALUES (?1, ?2, NULL, ?3)",
        )?;
        for (n, plan) in plans.iter().enumerate() {
            let history = events(org, plan);
            let status =
                LetterStatus::from_events(plan.category, history.iter().map(|(t, e)| (*t, e)))
                    .ok_or(rusqlite::Error::InvalidQuery)?;
            let last = history.last().map_or(plan.received_at, |e| e.0);
            let tags =
                serde_json::to_string(&plan.tags).map_err(|_| rusqlite::Error::InvalidQuery)?;
            letter.execute(params![
                format!("GEN{:010}", first_code + n as u64),
                plan.category.as_str(),
                tags,
                db_time(plan.received_at),
                status.state.as_str(),
                status.unit.0,
                history.len() as i64,
                db_time(last),
            ])?;
            let id = tx.last_insert_rowid();
            for (seq, (at, payload)) in history.iter().enumerate() {
                let json =
                    serde_json::to_string(payload).map_err(|_| rusqlite::Error::InvalidQuery)?;
                event.execute(params![
                    id,
                    seq as i64 + 1,
                    db_time(*at),
                    payload.kind(),
                    json
                ])?;
            }
            change.execute(params![id, status.unit.0, db_time(last)])?;
            ids.push(id);
        }
    }
    tx.commit()?;
    Ok(ids)
}
