//! A letter and the vocabulary that describes it.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Problem classes (问题分类) on a letter, and the characters of each: the intake and the
/// desk's reclassification check them; `jsjb_proto::limits` hands them to the UI.
pub const MAX_PROBLEM_TAGS: usize = 5;
pub const MAX_TAG_CHARS: usize = 32;

/// A letter's id, assigned by the central server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
#[ts(type = "number")]
pub struct LetterId(pub i64);

/// Defines a closed vocabulary with its stable wire name.
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, TS)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable name used on the wire and in the databases.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }

            pub fn parse(s: &str) -> Option<$name> {
                match s { $($wire => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

vocabulary! {
    /// How the letter reached the platform.
    Channel {
        /// 网站
        Web => "web",
        /// 微博
        Weibo => "weibo",
        /// 微信公众号
        Wechat => "wechat",
        /// 电话, typed in by the desk
        Phone => "phone",
    }
}

vocabulary! {
    /// What the writer wants.
    Category {
        /// 意见建议
        Suggestion => "suggestion",
        /// 寻求帮助
        Help => "help",
        /// 举报投诉
        Complaint => "complaint",
        /// 咨询
        Inquiry => "inquiry",
        /// 感谢信
        Thanks => "thanks",
    }
}

vocabulary! {
    /// Where the letter is in its life cycle.
    LetterState {
        /// 已受理: on the platform, at a desk, not yet dispatched (or returned to the desk).
        Received => "received",
        /// 待签收: dispatched to a unit that has not signed for it.
        Dispatched => "dispatched",
        /// 办理中
        Handling => "handling",
        /// 待签批: the feedback form waits for the chief.
        AwaitingApproval => "awaiting_approval",
        /// 已办结
        Closed => "closed",
    }
}

vocabulary! {
    /// How the writer was contacted.
    ContactMethod {
        Phone => "phone",
        Sms => "sms",
        Visit => "visit",
    }
}

vocabulary! {
    /// Whether the contact attempt reached the writer.
    ContactOutcome {
        Reached => "reached",
        Unreachable => "unreachable",
    }
}

vocabulary! {
    /// A step of the case the writer is told about ([`crate::writer_notice`]).
    NoticeStep {
        /// 已受理: the tracking code and the promise of a call.
        Receipt => "receipt",
        /// The desk's call did not reach the writer: told to expect another.
        Unreachable => "unreachable",
        /// 首次反馈.
        FirstFeedback => "first_feedback",
        /// An approved extension: the new date and its reason.
        Extended => "extended",
        /// 已办结: the reply and where to rate it.
        Closed => "closed",
        /// 回访 recorded.
        ReturnVisit => "return_visit",
    }
}

vocabulary! {
    /// How a notice reaches the writer.
    NoticeRoute {
        /// SMS to the writer's phone (web and phone letters, Weibo, and WeChat when
        /// WeChat cannot deliver).
        Sms => "sms",
        /// A WeChat customer-service message to the writer's OpenID.
        Wechat => "wechat",
    }
}

vocabulary! {
    /// Where a notice is: waiting for its (next) try, taken by the provider, or given up.
    NoticeState {
        Pending => "pending",
        Sent => "sent",
        Failed => "failed",
    }
}

vocabulary! {
    /// Why a unit returns a letter (退单).
    ReturnReason {
        /// 非本单位管辖
        NotOurJurisdiction => "not_our_jurisdiction",
        /// 权属不清
        UnclearOwnership => "unclear_ownership",
        /// 职能交叉
        SharedDuty => "shared_duty",
        /// 其他
        Other => "other",
    }
}

vocabulary! {
    /// The writer's verdict at the return visit (回访).
    Satisfaction {
        /// 满意
        Satisfied => "satisfied",
        /// 基本满意
        BasicallySatisfied => "basically_satisfied",
        /// 不满意: reopens the case (重办).
        Dissatisfied => "dissatisfied",
    }
}

vocabulary! {
    /// The chief's decision on a feedback form.
    FormDecision {
        /// 同意办结
        Approve => "approve",
        /// 退回重办, with an opinion
        SendBack => "send_back",
    }
}

/// Masks a writer's name for people outside the handling unit: 张三丰 → 张**.
pub fn mask_name(name: &str) -> String {
    let mut chars = name.trim().chars();
    match chars.next() {
        None => String::new(),
        Some(first) => {
            let rest = chars.count().max(1);
            let mut out = String::from(first);
            out.extend(std::iter::repeat_n('*', rest));
            out
        }
    }
}

/// Masks a phone number as desks see it: 13812345678 → 138********. Only the carrier
/// prefix stays: the last 4 digits are half of the writer's proof on the public pages
/// (with the tracking code, which desks do see), so they are never synced. Shorter
/// numbers (landlines) are masked whole. The full number is a logged reveal.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.trim().chars().collect();
    let n = chars.len();
    if n >= 11 {
        let head: String = chars[..3].iter().collect();
        format!("{head}{}", "*".repeat(n - 3))
    } else {
        "*".repeat(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabulary_round_trips() {
        for c in Category::ALL {
            assert_eq!(Category::parse(c.as_str()), Some(*c));
            assert_eq!(
                serde_json::to_string(c).expect("serialises"),
                format!("\"{}\"", c.as_str())
            );
        }
        for s in LetterState::ALL {
            assert_eq!(LetterState::parse(s.as_str()), Some(*s));
        }
        assert_eq!(Channel::parse("fax"), None);
    }

    #[test]
    fn masking() {
        assert_eq!(mask_name("张三丰"), "张**");
        assert_eq!(mask_name("李"), "李*");
        assert_eq!(mask_name(""), "");
        assert_eq!(mask_phone("13812345678"), "138********");
        assert_eq!(mask_phone("0755-12345678"), "075**********");
        assert_eq!(mask_phone("8888"), "****");
        assert_eq!(mask_phone("1"), "*");
    }
}
