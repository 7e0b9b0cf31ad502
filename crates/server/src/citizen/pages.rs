//! The portal's HTML, as `maud` templates: checked at compile time, and every `(value)`
//! is HTML-escaped — citizen text can only ever be text. No script anywhere: the pages
//! work without JavaScript and under a CSP without `script-src`.
//!
//! Text is zh-CN, the portal's only language (the citizens of Shenzhen).

use chrono::{DateTime, Utc};
use jsjb_core::letter::{Category, LetterState};
use maud::{DOCTYPE, Markup, html};

use crate::attachments::{MAX_IMAGES, MAX_VOICE_CLIPS};
use crate::intake::{MAX_BODY_CHARS, PublicProgress};

pub const SITE: &str = "深圳市公安局局长信箱";

/// Times as the writer reads them: China Standard Time.
pub fn cst(at: DateTime<Utc>) -> String {
    at.with_timezone(&jsjb_core::cst())
        .format("%Y年%m月%d日 %H:%M")
        .to_string()
}

pub fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) " · " (SITE) }
                link rel="stylesheet" href="/static/portal.css";
            }
            body {
                a.skip href="#main" { "跳到正文" }
                header.site {
                    div.wrap {
                        a.brand href="/" {
                            span.badge aria-hidden="true" { "警" }
                            span { "深圳市公安局" br; strong { "局长信箱" } }
                        }
                    }
                }
                nav.site aria-label="主导航" {
                    ul.wrap {
                        li { a href="/letters/new" { "写信" } }
                        li { a href="/progress" { "查询进度" } }
                        li { a href="/thanks/new" { "写感谢信" } }
                    }
                }
                main #main tabindex="-1" {
                    div.wrap {
                        h1 { (title) }
                        (body)
                    }
                }
                footer.site {
                    div.wrap {
                        p { strong { "紧急情况请拨打 110。" } "本信箱不受理报警求助。" }
                        p { a href="/privacy" { "个人信息保护说明" } }
                    }
                }
            }
        }
    }
}

fn alert(error: Option<&str>) -> Markup {
    html! {
        @if let Some(e) = error {
            div.alert role="alert" id="form-error" { (e) }
        }
    }
}

pub fn home() -> Markup {
    layout(
        "局长信箱",
        html! {
            p.lead { "您的意见建议、求助、举报投诉和咨询，由市、区、派出所三级“接诉即办”专班 7×24 小时受理，限时联系、限时反馈、限时办结。" }
            ul.cards {
                li { a.card href="/letters/new" { strong { "写信" } span { "意见建议、寻求帮助、举报投诉、咨询" } } }
                li { a.card href="/progress" { strong { "查询进度" } span { "凭查询编号和手机号后四位" } } }
                li { a.card href="/thanks/new" { strong { "写感谢信" } span { "感谢为您办事的民警" } } }
            }
            h2 { "办理时限" }
            ul {
                li { "30 分钟内：民警与您联系" }
                li { "4 天内：首次反馈办理情况" }
                li { "15 天内：办结并答复（特殊情况可依法延期，会告知您新的期限）" }
            }
        },
    )
}

pub fn privacy_notice() -> Markup {
    html! {
        p { "深圳市公安局收集您的姓名、手机号码和来信内容（含图片、语音），仅用于受理、办理、答复和回访您的来信。" }
        ul {
            li { "您的姓名和手机号只有承办单位和负责分派的接诉即办专班可见，其他人看到的是遮盖后的信息，每次查看都会留痕。" }
            li { "来信材料依照档案管理规定保存，不用于其他目的，不向无关单位提供。" }
            li { "手机号用于接收验证码、民警联系和查询进度。" }
            li { "您可以通过“查询进度”了解办理情况；对个人信息处理有疑问，可拨打 0755-12345（示例）。" }
        }
    }
}

pub fn privacy() -> Markup {
    layout("个人信息保护说明", privacy_notice())
}

/// Which letter the flow writes: a letter, or a thank-you letter (optionally about one).
#[derive(Debug, Clone, Default)]
pub struct Flow {
    pub thanks: bool,
    /// The tracking code the thank-you letter is about.
    pub about: String,
}

fn flow_fields(flow: &Flow) -> Markup {
    html! {
        input type="hidden" name="kind" value=(if flow.thanks { "thanks" } else { "letter" });
        input type="hidden" name="about" value=(flow.about);
    }
}

fn flow_title(flow: &Flow) -> &'static str {
    if flow.thanks {
        "写感谢信"
    } else {
        "写信"
    }
}

fn steps(current: u8) -> Markup {
    let names = ["验证手机", "输入验证码", "填写内容"];
    html! {
        ol.steps aria-label="步骤" {
            @for (i, name) in names.iter().enumerate() {
                @let n = i as u8 + 1;
                @if n == current {
                    li.current aria-current="step" { (n) ". " (name) }
                } @else {
                    li { (n) ". " (name) }
                }
            }
        }
    }
}

/// Step 1: who writes; the privacy notice and consent; send the code.
pub fn start(flow: &Flow, name: &str, phone: &str, error: Option<&str>) -> Markup {
    layout(
        flow_title(flow),
        html! {
            (steps(1))
            p { "为了民警能联系到您，请先验证手机号码。" }
            (alert(error))
            form method="post" action="/letters/new" novalidate {
                (flow_fields(flow))
                div.field {
                    label for="name" { "您的姓名" }
                    input #name type="text" name="name" value=(name) maxlength="32" autocomplete="name" required;
                }
                div.field {
                    label for="phone" { "手机号码" }
                    input #phone type="tel" name="phone" value=(phone) inputmode="numeric" maxlength="11" autocomplete="tel" required aria-describedby="phone-hint";
                    p.hint #phone-hint { "11 位手机号，用于接收验证码和民警联系。" }
                }
                section.notice aria-labelledby="privacy-title" {
                    h2 #privacy-title { "个人信息保护说明" }
                    (privacy_notice())
                }
                div.field.check {
                    input #consent type="checkbox" name="consent" value="yes" required;
                    label for="consent" { "我已阅读并同意《个人信息保护说明》" }
                }
                button type="submit" { "获取验证码" }
            }
        },
    )
}

/// Step 2: the code sent by SMS.
pub fn verify(
    flow: &Flow,
    name: &str,
    phone: &str,
    masked: &str,
    simulated: bool,
    error: Option<&str>,
) -> Markup {
    layout(
        flow_title(flow),
        html! {
            (steps(2))
            p { "验证码已发送到 " strong { (masked) } "，5 分钟内有效。" }
            @if simulated {
                p.demo { "演示环境：短信没有真正发出，验证码记录在服务器日志中。" }
            }
            (alert(error))
            form method="post" action="/letters/verify" novalidate {
                (flow_fields(flow))
                input type="hidden" name="name" value=(name);
                input type="hidden" name="phone" value=(phone);
                div.field {
                    label for="code" { "短信验证码" }
                    input #code type="text" name="code" inputmode="numeric" maxlength="6" autocomplete="one-time-code" required;
                }
                button type="submit" { "下一步" }
            }
            p { a href=(restart_href(flow)) { "没有收到？重新获取验证码" } }
        },
    )
}

fn restart_href(flow: &Flow) -> String {
    if flow.thanks {
        "/thanks/new".to_owned()
    } else {
        "/letters/new".to_owned()
    }
}

/// What the write form keeps when it is shown again after an error.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    pub category: String,
    pub body: String,
}

const CATEGORIES: &[(Category, &str, &str)] = &[
    (Category::Help, "寻求帮助", "遇到困难需要民警帮助"),
    (
        Category::Complaint,
        "举报投诉",
        "举报违法线索，投诉民警作风",
    ),
    (Category::Suggestion, "意见建议", "对公安工作的意见和建议"),
    (Category::Inquiry, "咨询", "办事流程、政策咨询"),
];

/// Step 3: the letter itself, posted as multipart with its attachments.
pub fn write(
    flow: &Flow,
    ticket: &str,
    masked: &str,
    draft: &Draft,
    error: Option<&str>,
) -> Markup {
    layout(
        flow_title(flow),
        html! {
            (steps(3))
            p { "已验证手机 " strong { (masked) } "。" }
            (alert(error))
            @if error.is_some() {
                p.hint { "如有附件，请重新选择。" }
            }
            form method="post" action="/letters" enctype="multipart/form-data" novalidate {
                input type="hidden" name="ticket" value=(ticket);
                (flow_fields(flow))
                @if flow.thanks {
                    div.field {
                        label for="about-code" { "感谢的是哪封来信（查询编号，可不填）" }
                        input #about-code type="text" name="about_code" value=(flow.about) maxlength="16" autocapitalize="characters" aria-describedby="about-hint";
                        p.hint #about-hint { "例如 SZ20250314K7PQ2X，便于我们转达给办理的民警。" }
                    }
                } @else {
                    fieldset.field {
                        legend { "来信类别" }
                        @for (category, label, hint) in CATEGORIES {
                            @let id = format!("cat-{}", category.as_str());
                            div.choice {
                                input id=(id) type="radio" name="category" value=(category.as_str())
                                    checked[draft.category == category.as_str() || (draft.category.is_empty() && *category == Category::Help)];
                                label for=(id) { strong { (label) } span.hint { (hint) } }
                            }
                        }
                    }
                }
                div.field {
                    label for="body" { @if flow.thanks { "感谢信内容" } @else { "来信内容" } }
                    textarea #body name="body" rows="8" maxlength=(MAX_BODY_CHARS) required aria-describedby="body-hint" { (draft.body) }
                    p.hint #body-hint { "请写明时间、地点和经过，不超过 " (MAX_BODY_CHARS) " 字。" }
                }
                div.field {
                    label for="images" { "图片（可选，最多 " (MAX_IMAGES) " 张，每张不超过 10 MB）" }
                    input #images type="file" name="images" accept="image/jpeg,image/png,image/webp,image/gif" multiple;
                }
                div.field {
                    label for="voices" { "语音（可选，最多 " (MAX_VOICE_CLIPS) " 段，每段不超过 5 MB）" }
                    input #voices type="file" name="voices" accept="audio/*" multiple;
                }
                button type="submit" { "提交" }
            }
        },
    )
}

pub fn done(tracking_code: &str, duplicate: bool, thanks: bool) -> Markup {
    layout(
        if thanks {
            "感谢信已收到"
        } else {
            "来信已受理"
        },
        html! {
            @if duplicate {
                p.alert.info role="status" { "您几分钟前已提交过相同的内容，我们没有重复受理，这是那封来信的查询编号。" }
            }
            p { "请记下您的查询编号：" }
            p.code #tracking-code { (tracking_code) }
            p { "凭查询编号和手机号后四位，可随时查询办理进度。" }
            p { a.button href={ "/progress?code=" (tracking_code) } { "查询进度" } }
        },
    )
}

fn state_label(state: LetterState) -> &'static str {
    match state {
        LetterState::Received => "已受理",
        LetterState::Dispatched => "已转办",
        LetterState::Handling => "办理中",
        LetterState::AwaitingApproval => "办理中（答复审核）",
        LetterState::Closed => "已办结",
    }
}

fn milestone_label(kind: &str) -> &'static str {
    match kind {
        "received" => "已受理",
        "dispatched" => "已转交承办单位",
        "signed_for" => "承办单位已签收",
        "contacted" => "民警已与您联系",
        "first_feedback" => "首次反馈",
        "extended" => "办理期限已延长",
        "closed" => "已办结",
        "return_visit" => "已回访",
        "reopened" => "重新办理",
        _ => "办理进展",
    }
}

/// The progress form, and the timeline when one was found.
pub fn progress(
    code: &str,
    found: Option<&PublicProgress>,
    rated: bool,
    error: Option<&str>,
) -> Markup {
    layout(
        "查询进度",
        html! {
            (alert(error))
            form.inline method="get" action="/progress" novalidate {
                div.field {
                    label for="code" { "查询编号" }
                    input #code type="text" name="code" value=(code) maxlength="20" autocapitalize="characters" required;
                }
                div.field {
                    label for="phone_last4" { "手机号后四位" }
                    input #phone_last4 type="text" name="phone_last4" inputmode="numeric" maxlength="4" pattern="[0-9]{4}" required;
                }
                button type="submit" { "查询" }
            }
            @if let Some(p) = found {
                section aria-labelledby="timeline-title" {
                    h2 #timeline-title { "编号 " (p.tracking_code) }
                    p { "当前状态：" strong.state { (state_label(p.state)) } }
                    ol.timeline {
                        @for (i, m) in p.milestones.iter().enumerate().rev() {
                            li {
                                p.when { time datetime=(m.at.to_rfc3339()) { (cst(m.at)) } }
                                @if m.kind == "dispatched" && p.milestones[..i].iter().any(|e| e.kind == "dispatched") {
                                    // The branch forwarding to the station, after the city's dispatch.
                                    p.what { "已转交下级单位办理" }
                                } @else {
                                    p.what { (milestone_label(&m.kind)) }
                                }
                                @if let Some(detail) = &m.detail {
                                    @if m.kind == "extended" {
                                        @if let Ok(due) = DateTime::parse_from_rfc3339(detail) {
                                            p.detail { "新的办结期限：" (cst(due.with_timezone(&Utc))) }
                                        }
                                    } @else if m.kind == "closed" {
                                        p.detail { "答复：" (detail) }
                                    } @else {
                                        p.detail { (detail) }
                                    }
                                }
                            }
                        }
                    }
                    @if p.state == LetterState::Closed {
                        p.actions {
                            @if rated {
                                span { "您已评价过办理结果，谢谢。" }
                            } @else {
                                a.button href={ "/letters/" (p.tracking_code) "/rate" } { "评价办理结果" }
                            }
                            " "
                            a.button.secondary href={ "/thanks/new?about=" (p.tracking_code) } { "写感谢信" }
                        }
                    }
                }
            }
        },
    )
}

pub const SATISFACTION: &[(&str, &str)] = &[
    ("satisfied", "满意"),
    ("basically_satisfied", "基本满意"),
    ("dissatisfied", "不满意"),
];

pub fn rate(code: &str, chosen: &str, comment: &str, error: Option<&str>) -> Markup {
    layout(
        "评价办理结果",
        html! {
            p { "查询编号 " strong { (code) } }
            (alert(error))
            form method="post" action={ "/letters/" (code) "/rate" } novalidate {
                div.field {
                    label for="phone_last4" { "手机号后四位" }
                    input #phone_last4 type="text" name="phone_last4" inputmode="numeric" maxlength="4" required;
                }
                fieldset.field {
                    legend { "您对办理结果" }
                    @for (value, label) in SATISFACTION {
                        @let id = format!("s-{value}");
                        div.choice {
                            input id=(id) type="radio" name="satisfaction" value=(value) checked[chosen == *value] required;
                            label for=(id) { (label) }
                        }
                    }
                }
                div.field {
                    label for="comment" { "意见（可不填，500 字以内）" }
                    textarea #comment name="comment" rows="4" maxlength="500" { (comment) }
                }
                p.hint { "每封来信只能评价一次。" }
                button type="submit" { "提交评价" }
            }
        },
    )
}

/// Rating, step 2: the code sent to the writer's phone; the choice rides along hidden.
pub fn rate_confirm(
    code: &str,
    phone_last4: &str,
    satisfaction: &str,
    comment: &str,
    masked: &str,
    simulated: bool,
    error: Option<&str>,
) -> Markup {
    layout(
        "评价办理结果",
        html! {
            p { "查询编号 " strong { (code) } }
            p { "为确认是您本人评价，验证码已发送到 " strong { (masked) } "，5 分钟内有效。" }
            @if simulated {
                p.demo { "演示环境：短信没有真正发出，验证码记录在服务器日志中。" }
            }
            (alert(error))
            form method="post" action={ "/letters/" (code) "/rate/confirm" } novalidate {
                input type="hidden" name="phone_last4" value=(phone_last4);
                input type="hidden" name="satisfaction" value=(satisfaction);
                input type="hidden" name="comment" value=(comment);
                div.field {
                    label for="sms_code" { "短信验证码" }
                    input #sms_code type="text" name="sms_code" inputmode="numeric" maxlength="6" autocomplete="one-time-code" required;
                }
                button type="submit" { "提交评价" }
            }
            p { a href={ "/letters/" (code) "/rate" } { "没有收到？重新评价" } }
        },
    )
}

pub fn rated() -> Markup {
    layout(
        "感谢您的评价",
        html! {
            p { "您的评价已记录，我们会转给办理单位。" }
            p { a href="/" { "返回首页" } }
        },
    )
}

pub fn error(title: &str, message: &str) -> Markup {
    layout(
        title,
        html! {
            (alert(Some(message)))
            p { a href="/" { "返回首页" } }
        },
    )
}
