//! A month of history for the demo city, planned as the actions people took.
//!
//! Pure: the org's ids, a seeded random source and `now` in; for every letter, its draft
//! and the actions taken on it, in order, by whom and when. The demo runner plays them
//! through the same life-cycle code as real requests, so the history is exactly what the
//! rules allow. Steps after `now` are cut off, which leaves the recent letters in every
//! state and every clock colour.

use chrono::{DateTime, Duration, Utc};
use jsjb_core::letter::{
    Category, ContactMethod, ContactOutcome, FormDecision, ReturnReason, Satisfaction,
};
use jsjb_core::org::{Role, UnitId, UserId};
use jsjb_core::workflow::Action;
use rand::Rng;
use rand::seq::IndexedRandom;

use super::content::{self, LetterDraft};

/// The demo org with the ids the server gave it.
pub struct OrgIds {
    /// (unit id, parent id, streets of its area)
    pub units: Vec<(UnitId, Option<UnitId>, &'static [&'static str])>,
    /// (user id, unit id, roles)
    pub users: Vec<(UserId, UnitId, &'static [Role])>,
    pub city: UnitId,
}

impl OrgIds {
    fn parent(&self, unit: UnitId) -> Option<UnitId> {
        self.units.iter().find(|u| u.0 == unit).and_then(|u| u.1)
    }

    fn station_for(&self, street: &str) -> Option<UnitId> {
        self.units
            .iter()
            .find(|u| u.2.contains(&street))
            .map(|u| u.0)
    }

    fn siblings(&self, unit: UnitId) -> Vec<UnitId> {
        let parent = self.parent(unit);
        self.units
            .iter()
            .filter(|u| u.1 == parent && u.0 != unit && !u.2.is_empty())
            .map(|u| u.0)
            .collect()
    }

    fn people(&self, unit: UnitId, role: Role) -> Vec<UserId> {
        self.users
            .iter()
            .filter(|u| u.1 == unit && u.2.contains(&role))
            .map(|u| u.0)
            .collect()
    }

    fn pick(&self, rng: &mut impl Rng, unit: UnitId, role: Role) -> Option<UserId> {
        self.people(unit, role).choose(rng).copied()
    }

    pub fn streets(&self) -> Vec<&'static str> {
        self.units
            .iter()
            .flat_map(|u| u.2.iter().copied())
            .collect()
    }
}

/// One action someone took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub at: DateTime<Utc>,
    pub actor: UserId,
    pub action: Action,
}

/// A letter of the history: what was written and what was done with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedLetter {
    pub received_at: DateTime<Utc>,
    pub draft: LetterDraft,
    pub steps: Vec<Step>,
}

/// Plans `days` of history ending at `now`, about `per_day` letters a day.
pub fn history(
    rng: &mut impl Rng,
    org: &OrgIds,
    now: DateTime<Utc>,
    days: i64,
    per_day: u32,
) -> Vec<PlannedLetter> {
    let streets = org.streets();
    let mut letters = Vec::new();
    let start = now - Duration::days(days);
    let total = i64::from(per_day) * days;
    for _ in 0..total {
        let offset = rng.random_range(0..days * 86_400);
        let received_at = start + Duration::seconds(offset);
        letters.push(plan_letter(rng, org, &streets, received_at, now, None));
    }
    // A handful of letters in the last minutes, so the inbox opens with live clocks.
    for minutes in [2, 4, 7, 9, 13, 25, 40] {
        let received_at = now - Duration::minutes(minutes);
        letters.push(plan_letter(rng, org, &streets, received_at, now, None));
    }
    // And some the desks let slip, so the inbox has red to show: unsigned past the
    // 10 minutes, signed but the writer never reached, no first feedback after 4 days.
    for (minutes, steps) in [
        (16, 2),
        (22, 2),
        (48, 3),
        (95, 3),
        (200, 3),
        (60 * 24 * 5, 4),
        (60 * 24 * 6, 4),
    ] {
        let received_at = now - Duration::minutes(minutes);
        letters.push(plan_letter(
            rng,
            org,
            &streets,
            received_at,
            now,
            Some(steps),
        ));
    }
    letters.sort_by_key(|l| l.received_at);
    letters
}

/// Builds a letter's steps in time order; the first step later than `now` ends it.
struct Timeline {
    steps: Vec<Step>,
    last: DateTime<Utc>,
    now: DateTime<Utc>,
    cut: bool,
    /// Stop after this many steps (a letter left stuck).
    limit: Option<usize>,
}

impl Timeline {
    /// Adds a step at `at` (never earlier than one minute after the previous step).
    /// Returns the time used, or `None` once the history has reached `now`.
    fn push(
        &mut self,
        at: DateTime<Utc>,
        actor: Option<UserId>,
        action: Action,
    ) -> Option<DateTime<Utc>> {
        if self.cut || self.limit.is_some_and(|n| self.steps.len() >= n) {
            return None;
        }
        let at = at.max(self.last + Duration::minutes(1));
        let actor = actor?;
        if at > self.now {
            self.cut = true;
            return None;
        }
        self.last = at;
        self.steps.push(Step { at, actor, action });
        Some(at)
    }
}

fn minutes(rng: &mut impl Rng, lo: i64, hi: i64) -> Duration {
    Duration::seconds(rng.random_range(lo * 60..hi * 60))
}

fn chance(rng: &mut impl Rng, percent: u32) -> bool {
    rng.random_range(0..100) < percent
}

fn plan_letter(
    rng: &mut impl Rng,
    org: &OrgIds,
    streets: &[&'static str],
    received_at: DateTime<Utc>,
    now: DateTime<Utc>,
    limit: Option<usize>,
) -> PlannedLetter {
    let draft = content::draft(rng, streets, None);
    let mut t = Timeline {
        steps: Vec::new(),
        last: received_at,
        now,
        cut: false,
        limit,
    };
    // `None` only means the history reached `now`: the letter stays where it got to.
    let _reached_now = plan_steps(rng, org, &draft, received_at, &mut t);
    PlannedLetter {
        received_at,
        draft,
        steps: t.steps,
    }
}

/// The life of one letter. Returns `None` as soon as the history reaches `now`.
fn plan_steps(
    rng: &mut impl Rng,
    org: &OrgIds,
    draft: &LetterDraft,
    received_at: DateTime<Utc>,
    t: &mut Timeline,
) -> Option<()> {
    let mut station = org.station_for(draft.street)?;
    let branch = org.parent(station)?;
    let city_desk = org.pick(rng, org.city, Role::Dispatcher);
    let branch_desk = org.pick(rng, branch, Role::Dispatcher);

    // 派发: the city desk sends it to the branch, the branch desk to the station.
    let at = received_at + minutes(rng, 1, 4);
    t.push(
        at,
        city_desk,
        Action::Dispatch {
            to: branch,
            note: String::new(),
        },
    )?;
    let mut dispatched = t.push(
        t.last + minutes(rng, 1, 5),
        branch_desk,
        Action::Dispatch {
            to: station,
            note: "请按时签收办理".into(),
        },
    )?;

    // 退单: now and then the station finds it is not theirs.
    if chance(rng, 5) {
        let officer = org.pick(rng, station, Role::Officer);
        t.push(
            dispatched + minutes(rng, 2, 8),
            officer,
            Action::ReturnLetter {
                reason: ReturnReason::NotOurJurisdiction,
                note: "经核查，反映地点不在本所辖区".into(),
            },
        )?;
        if let Some(other) = org.siblings(station).choose(rng).copied() {
            station = other;
        }
        dispatched = t.push(
            t.last + minutes(rng, 3, 15),
            branch_desk,
            Action::Dispatch {
                to: station,
                note: "退单已核实，改派".into(),
            },
        )?;
    }

    // 签收: within ten minutes, mostly.
    let handler = org.pick(rng, station, Role::Officer);
    let sign_late = chance(rng, 8);
    let sign_delay = if sign_late {
        minutes(rng, 11, 35)
    } else {
        minutes(rng, 1, 9)
    };
    let signed = t.push(dispatched + sign_delay, handler, Action::SignFor)?;

    // 联系来信人: within 30 minutes of receipt, mostly; sometimes a first call fails.
    if chance(rng, 12) {
        t.push(
            signed + minutes(rng, 1, 4),
            handler,
            Action::RecordContact {
                method: ContactMethod::Phone,
                outcome: ContactOutcome::Unreachable,
                contacted_at: signed + minutes(rng, 1, 3),
                note: "电话无人接听，稍后再拨".into(),
                callback_at: None,
            },
        )?;
    }
    let contact_late = chance(rng, 10);
    let contact_at = if contact_late {
        received_at + minutes(rng, 32, 150)
    } else {
        received_at + minutes(rng, 12, 29)
    }
    .max(t.last + Duration::minutes(1));
    t.push(
        contact_at,
        handler,
        Action::RecordContact {
            method: if chance(rng, 85) {
                ContactMethod::Phone
            } else {
                ContactMethod::Sms
            },
            outcome: ContactOutcome::Reached,
            contacted_at: contact_at,
            note: "已与来信人取得联系，了解诉求详情".into(),
            callback_at: None,
        },
    )?;

    // 盯办: a tier above assigns a supervisor when a clock was missed.
    let mut supervisor = None;
    if (sign_late || contact_late) && chance(rng, 60) {
        let sup = org.pick(rng, branch, Role::Supervisor);
        t.push(
            t.last + minutes(rng, 5, 60),
            branch_desk,
            Action::AssignSupervisor {
                supervisor: sup.unwrap_or(UserId(0)),
                note: "超时未处置，指定盯办".into(),
            },
        )?;
        supervisor = sup;
    }

    // 首次反馈: within four days, mostly.
    let feedback_at = if chance(rng, 10) {
        received_at + Duration::hours(rng.random_range(98..140))
    } else {
        received_at + Duration::minutes(rng.random_range(90..(3 * 24 * 60)))
    };
    t.push(
        feedback_at,
        handler,
        Action::GiveFirstFeedback {
            text: "您反映的问题已收悉，我所已安排民警核查处理，处理结果将及时告知您。".into(),
        },
    )?;
    if let Some(sup) = supervisor {
        t.push(
            t.last + Duration::hours(rng.random_range(2..30)),
            Some(sup),
            Action::Chase {
                note: "请加快办理进度，按时反馈".into(),
            },
        )?;
    }

    // 申请延期: complex cases ask for more time before the deadline.
    let extended = chance(rng, 8);
    if extended {
        let ask_at = received_at + Duration::hours(rng.random_range(200..340));
        let chief_above = org.pick(rng, branch, Role::Chief);
        t.push(
            ask_at,
            handler,
            Action::RequestExtension {
                reason: "案情复杂，需调取多处监控并询问相关人员".into(),
                legal_basis: "《公安机关办理行政案件程序规定》第一百六十五条".into(),
                requested_due: received_at + Duration::days(30),
            },
        )?;
        t.push(
            t.last + Duration::hours(rng.random_range(1..20)),
            chief_above,
            Action::DecideExtension {
                approve: true,
                granted_due: None,
                note: "同意延期".into(),
            },
        )?;
    }

    // 提交反馈表 and 一把手签批.
    let chief = org.pick(rng, station, Role::Chief);
    let form_at = if extended {
        received_at + Duration::hours(rng.random_range(380..700))
    } else if chance(rng, 10) {
        received_at + Duration::hours(rng.random_range(365..460))
    } else {
        received_at + Duration::hours(rng.random_range(30..300))
    };
    submit_and_approve(rng, t, handler, chief, form_at, draft.category)?;

    // 回访: the city desk asks the writer.
    let visit = match rng.random_range(0..100) {
        0..80 => Satisfaction::Satisfied,
        80..95 => Satisfaction::BasicallySatisfied,
        _ => Satisfaction::Dissatisfied,
    };
    let visitor = org.pick(rng, org.city, Role::Dispatcher);
    let note = match visit {
        Satisfaction::Dissatisfied => "来信人表示问题仍未解决，要求重新办理".to_owned(),
        _ => "来信人对处理结果表示认可".to_owned(),
    };
    if chance(rng, 10) {
        // Nobody answered the first call; the visit stays due.
        t.push(
            t.last + Duration::hours(rng.random_range(20..40)),
            visitor,
            Action::RecordReturnVisit {
                method: ContactMethod::Phone,
                outcome: ContactOutcome::Unreachable,
                resolved: None,
                satisfaction: None,
                note: "电话无人接听，改日再访".into(),
            },
        )?;
    }
    t.push(
        t.last + Duration::hours(rng.random_range(20..70)),
        visitor,
        Action::RecordReturnVisit {
            method: ContactMethod::Phone,
            outcome: ContactOutcome::Reached,
            resolved: Some(visit != Satisfaction::Dissatisfied),
            satisfaction: Some(visit),
            note,
        },
    )?;
    if visit == Satisfaction::Dissatisfied {
        // 重办
        let again = t.last + Duration::hours(rng.random_range(48..150));
        submit_and_approve(rng, t, handler, chief, again, draft.category)?;
    }
    Some(())
}

fn submit_and_approve(
    rng: &mut impl Rng,
    t: &mut Timeline,
    handler: Option<UserId>,
    chief: Option<UserId>,
    at: DateTime<Utc>,
    category: Category,
) -> Option<()> {
    let (summary, result, reply) = form_text(category);
    let submit = |t: &mut Timeline, at| {
        t.push(
            at,
            handler,
            Action::SubmitFeedbackForm {
                summary: summary.into(),
                result: result.into(),
                reply: reply.into(),
            },
        )
    };
    submit(t, at)?;
    if chance(rng, 10) {
        t.push(
            t.last + Duration::hours(rng.random_range(1..12)),
            chief,
            Action::ApproveFeedbackForm {
                decision: FormDecision::SendBack,
                opinion: "答复内容不够具体，请补充处理依据后重新提交".into(),
            },
        )?;
        let again = t.last + Duration::hours(rng.random_range(3..40));
        submit(t, again)?;
    }
    t.push(
        t.last + Duration::hours(rng.random_range(1..20)),
        chief,
        Action::ApproveFeedbackForm {
            decision: FormDecision::Approve,
            opinion: "同意办结".into(),
        },
    )?;
    Some(())
}

fn form_text(category: Category) -> (&'static str, &'static str, &'static str) {
    match category {
        Category::Thanks => (
            "来信系表扬信，已在所内通报表扬相关民警",
            "已登记存档",
            "感谢您对公安工作的支持与肯定！",
        ),
        Category::Inquiry => (
            "已电话联系来信人，详细解答办理流程及所需材料",
            "咨询已解答",
            "您咨询的事项已由民警电话详细解答，如仍有疑问可致电本所户籍室。",
        ),
        Category::Suggestion => (
            "已将建议转相关部门研究，并结合实际调整勤务安排",
            "建议已采纳",
            "感谢您的宝贵建议，我们已采纳并落实相关措施。",
        ),
        Category::Help | Category::Complaint => (
            "民警到现场核查，约谈相关人员，联合社区及相关部门进行整治",
            "问题已解决",
            "您反映的问题经核查属实，我所已依法处理，并将加强巡查防止反弹。",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn org() -> OrgIds {
        OrgIds {
            units: vec![
                (UnitId(1), None, &[]),
                (UnitId(2), Some(UnitId(1)), &[]),
                (UnitId(3), Some(UnitId(2)), &["福田"]),
                (UnitId(4), Some(UnitId(2)), &["华富"]),
            ],
            users: vec![
                (UserId(1), UnitId(1), &[Role::Dispatcher]),
                (UserId(2), UnitId(2), &[Role::Dispatcher]),
                (UserId(3), UnitId(2), &[Role::Chief]),
                (UserId(4), UnitId(2), &[Role::Supervisor]),
                (UserId(5), UnitId(3), &[Role::Officer]),
                (UserId(6), UnitId(3), &[Role::Chief]),
                (UserId(7), UnitId(4), &[Role::Officer]),
                (UserId(8), UnitId(4), &[Role::Chief]),
            ],
            city: UnitId(1),
        }
    }

    #[test]
    fn steps_are_in_order_and_never_after_now() {
        let now = DateTime::parse_from_rfc3339("2026-11-28T10:00:00+08:00")
            .expect("valid")
            .with_timezone(&Utc);
        let mut rng = StdRng::seed_from_u64(42);
        let letters = history(&mut rng, &org(), now, 30, 10);
        assert_eq!(letters.len(), 314);
        for l in &letters {
            let mut last = l.received_at;
            for s in &l.steps {
                assert!(s.at > last && s.at <= now, "{s:?}");
                last = s.at;
            }
        }
        // Old letters have gone all the way; recent ones are still open.
        assert!(letters.iter().any(|l| l.steps.len() >= 8));
        assert!(letters.iter().any(|l| l.steps.len() == 2));
    }
}
