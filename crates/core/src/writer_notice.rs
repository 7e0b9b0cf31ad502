//! What the writer is told, and when (告知): the steps of a case that reach the writer
//! by SMS or WeChat without their asking, and the words they are told in.
//!
//! The server derives the notices from each letter's history ([`notices_due`]): one
//! per event that is such a step, keyed by that event's position, so that reading the
//! same history twice (after a restart, on another node) gives the same notices and
//! none is sent twice. Which events are steps:
//!
//! | event | step | what the writer is told |
//! |---|---|---|
//! | `received` | receipt | the tracking code, the promise of a call within the contact clock |
//! | `contact_recorded`, not reached | unreachable | the call did not get through, another will come |
//! | `first_feedback_given` | first feedback | the feedback's text |
//! | `extension_decided`, approved | extended | the new date and the request's reason |
//! | `feedback_form_decided`, approved | closed | the reply, and where to rate it |
//! | `thanks_linked` | closed | (a thank-you letter is closed by linking it) |
//! | `return_visit_recorded` | return visit | thanks, and what to do if it is not solved |
//!
//! Everything else (dispatch, sign-for, notes, returns, chases, who did it) stays
//! internal, as on the progress page.

use chrono::{DateTime, Utc};

use crate::letter::{ContactOutcome, FormDecision, NoticeStep};
use crate::workflow::EventPayload;

/// A feedback, reply or reason quoted in a notice is cut here; the whole text is on
/// the progress page.
pub const MAX_QUOTED_CHARS: usize = 120;

/// One notice a letter's history calls for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueNotice {
    /// The position (from 1) of the event that calls for it: with the step, its key.
    pub trigger_seq: u32,
    pub step: NoticeStep,
    /// What the step carries for the writer: the feedback, the reply, the reason.
    pub detail: Option<String>,
    /// The new deadline of an extension.
    pub new_due: Option<DateTime<Utc>>,
}

/// The notices `events` (a letter's whole history, oldest first) call for.
pub fn notices_due<'a>(events: impl IntoIterator<Item = &'a EventPayload>) -> Vec<DueNotice> {
    let mut out = Vec::new();
    let mut reply: Option<String> = None;
    let mut extension_reason: Option<String> = None;
    for (i, event) in events.into_iter().enumerate() {
        let trigger_seq = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let (step, detail, new_due) = match event {
            EventPayload::Received { .. } => (NoticeStep::Receipt, None, None),
            EventPayload::ContactRecorded {
                outcome: ContactOutcome::Unreachable,
                ..
            } => (NoticeStep::Unreachable, None, None),
            EventPayload::FirstFeedbackGiven { text } => {
                (NoticeStep::FirstFeedback, Some(text.clone()), None)
            }
            EventPayload::ExtensionRequested { reason, .. } => {
                extension_reason = Some(reason.clone());
                continue;
            }
            EventPayload::ExtensionDecided {
                approve: true,
                new_due: Some(due),
                ..
            } => (NoticeStep::Extended, extension_reason.clone(), Some(*due)),
            EventPayload::FeedbackFormSubmitted { reply: r, .. } => {
                reply = Some(r.clone());
                continue;
            }
            EventPayload::FeedbackFormDecided {
                decision: FormDecision::Approve,
                ..
            } => (NoticeStep::Closed, reply.clone(), None),
            EventPayload::ThanksLinked { .. } => (NoticeStep::Closed, None, None),
            EventPayload::ReturnVisitRecorded { .. } => (NoticeStep::ReturnVisit, None, None),
            _ => continue,
        };
        out.push(DueNotice {
            trigger_seq,
            step,
            detail,
            new_due,
        });
    }
    out
}

/// What a notice's words need besides the step itself.
#[derive(Debug, Clone)]
pub struct NoticeContext<'a> {
    pub tracking_code: &'a str,
    /// The contact clock as the writer reads it ("30分钟"), from the policy in force.
    pub contact_within: &'a str,
    /// Where the writer rates a closed letter (the portal's page), if the portal's
    /// address is configured.
    pub rating_link: Option<&'a str>,
}

fn quoted(text: &str) -> String {
    let text = text.trim();
    let mut out: String = text.chars().take(MAX_QUOTED_CHARS).collect();
    if text.chars().count() > MAX_QUOTED_CHARS {
        out.push('…');
    }
    out
}

/// The words of a notice, in Chinese (the writers' language); an SMS gateway adds the
/// approved signature (【…】) itself.
pub fn notice_text(notice: &DueNotice, ctx: &NoticeContext<'_>) -> String {
    let code = ctx.tracking_code;
    match notice.step {
        NoticeStep::Receipt => format!(
            "您的留言已受理，查询编号 {code}。民警将在{}内与您电话联系，请保持电话畅通。",
            ctx.contact_within
        ),
        NoticeStep::Unreachable => {
            format!("民警致电您未能接通（留言编号 {code}），稍后会再次联系您，请留意来电。")
        }
        NoticeStep::FirstFeedback => format!(
            "您的留言（编号 {code}）首次反馈：{}",
            quoted(notice.detail.as_deref().unwrap_or_default())
        ),
        NoticeStep::Extended => {
            let due = notice
                .new_due
                .map(|d| {
                    d.with_timezone(&crate::cst())
                        .format("%Y年%m月%d日")
                        .to_string()
                })
                .unwrap_or_default();
            let reason = notice
                .detail
                .as_deref()
                .map(|r| format!("，原因：{}", quoted(r)))
                .unwrap_or_default();
            format!("您的留言（编号 {code}）办理期限延长至 {due}{reason}。")
        }
        NoticeStep::Closed => {
            let reply = notice
                .detail
                .as_deref()
                .filter(|r| !r.trim().is_empty())
                .map(|r| format!("答复：{}", quoted(r)))
                .unwrap_or_default();
            let rate = match ctx.rating_link {
                Some(link) => format!("欢迎评价：{link}"),
                None => "欢迎在“局长信箱”网站评价办理结果。".to_owned(),
            };
            format!("您的留言（编号 {code}）已办结。{reply}{rate}")
        }
        NoticeStep::ReturnVisit => {
            format!("感谢您接受回访（留言编号 {code}）。如问题仍未解决，可再次留言。")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::letter::{ContactMethod, Satisfaction};
    use crate::org::{Tier, UnitId, UserId};
    use chrono::TimeZone;

    fn t(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, h, 0, 0)
            .single()
            .unwrap_or_default()
    }

    /// Each event and the notice it calls for (or none), in one history.
    #[test]
    fn which_events_tell_the_writer() {
        let history: Vec<(EventPayload, Option<NoticeStep>)> = vec![
            (
                EventPayload::Received {
                    unit: UnitId(1),
                    tier: Tier::City,
                },
                Some(NoticeStep::Receipt),
            ),
            (
                EventPayload::SignedFor {
                    unit: UnitId(2),
                    handler: UserId(3),
                },
                None,
            ),
            (
                EventPayload::ContactRecorded {
                    method: ContactMethod::Phone,
                    outcome: ContactOutcome::Unreachable,
                    contacted_at: t(1),
                    note: String::new(),
                    callback_at: None,
                },
                Some(NoticeStep::Unreachable),
            ),
            (
                EventPayload::ContactRecorded {
                    method: ContactMethod::Phone,
                    outcome: ContactOutcome::Reached,
                    contacted_at: t(2),
                    note: String::new(),
                    callback_at: None,
                },
                None,
            ),
            (
                EventPayload::FirstFeedbackGiven {
                    text: "已联系物业".into(),
                },
                Some(NoticeStep::FirstFeedback),
            ),
            (
                EventPayload::ExtensionRequested {
                    reason: "需调取监控".into(),
                    legal_basis: "规定第十条".into(),
                    requested_due: t(20),
                    current_due: t(10),
                },
                None,
            ),
            (
                EventPayload::ExtensionDecided {
                    approve: false,
                    new_due: None,
                    note: String::new(),
                },
                None,
            ),
            (
                EventPayload::ExtensionDecided {
                    approve: true,
                    new_due: Some(t(22)),
                    note: String::new(),
                },
                Some(NoticeStep::Extended),
            ),
            (
                EventPayload::FeedbackFormSubmitted {
                    summary: "s".into(),
                    result: "r".into(),
                    reply: "已处理完毕".into(),
                },
                None,
            ),
            (
                EventPayload::FeedbackFormDecided {
                    decision: FormDecision::SendBack,
                    opinion: String::new(),
                },
                None,
            ),
            (
                EventPayload::FeedbackFormDecided {
                    decision: FormDecision::Approve,
                    opinion: String::new(),
                },
                Some(NoticeStep::Closed),
            ),
            (
                EventPayload::ReturnVisitRecorded {
                    resolved: Some(true),
                    satisfaction: Satisfaction::Satisfied,
                    note: String::new(),
                    method: None,
                },
                Some(NoticeStep::ReturnVisit),
            ),
        ];
        let due = notices_due(history.iter().map(|(e, _)| e));
        let expected: Vec<(u32, NoticeStep)> = history
            .iter()
            .enumerate()
            .filter_map(|(i, (_, step))| step.map(|s| (i as u32 + 1, s)))
            .collect();
        let got: Vec<(u32, NoticeStep)> = due.iter().map(|n| (n.trigger_seq, n.step)).collect();
        assert_eq!(got, expected);
        let extended = &due[3];
        assert_eq!(extended.detail.as_deref(), Some("需调取监控"));
        assert_eq!(extended.new_due, Some(t(22)));
        assert_eq!(due[4].detail.as_deref(), Some("已处理完毕"));
        // The same history read again gives the same notices (their keys included).
        assert_eq!(notices_due(history.iter().map(|(e, _)| e)), due);
    }

    #[test]
    fn the_words_carry_what_the_step_needs() {
        let ctx = NoticeContext {
            tracking_code: "SZ20261201ABCDEF",
            contact_within: "30分钟",
            rating_link: Some("https://xinxiang.example/letters/SZ20261201ABCDEF/rate"),
        };
        let notice = |step, detail: Option<&str>, new_due| DueNotice {
            trigger_seq: 1,
            step,
            detail: detail.map(str::to_owned),
            new_due,
        };
        let receipt = notice_text(&notice(NoticeStep::Receipt, None, None), &ctx);
        assert!(
            receipt.contains("SZ20261201ABCDEF") && receipt.contains("30分钟"),
            "{receipt}"
        );
        let extended = notice_text(
            &notice(NoticeStep::Extended, Some("需调取监控"), Some(t(20))),
            &ctx,
        );
        // 20:00 UTC is the next day in Shenzhen.
        assert!(
            extended.contains("2026年12月02日") && extended.contains("需调取监控"),
            "{extended}"
        );
        let closed = notice_text(&notice(NoticeStep::Closed, Some("已处理"), None), &ctx);
        assert!(
            closed.contains("答复：已处理") && closed.contains("/rate"),
            "{closed}"
        );
        let no_link = NoticeContext {
            rating_link: None,
            ..ctx.clone()
        };
        assert!(
            notice_text(&notice(NoticeStep::Closed, None, None), &no_link).contains("网站评价")
        );
        let long = "很".repeat(500);
        let feedback = notice_text(&notice(NoticeStep::FirstFeedback, Some(&long), None), &ctx);
        assert_eq!(feedback.matches('很').count(), MAX_QUOTED_CHARS);
        assert!(feedback.ends_with('…'));
        for step in NoticeStep::ALL {
            assert!(!notice_text(&notice(*step, Some("x"), Some(t(1))), &ctx).is_empty());
        }
    }
}
