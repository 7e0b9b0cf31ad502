//! The portal's HTML, as `maud` templates: checked at compile time, and every `(value)`
//! is HTML-escaped — citizen text can only ever be text. No inline script anywhere: the
//! pages work without JavaScript, most under a CSP without `script-src`; the letter form
//! and the receipt load /static/portal.js ([`enhanced`]) for what only script can do, and
//! whatever it shows is in the page already (hidden) or written by it as text.
//!
//! Text is zh-CN, the portal's only language (the citizens of Shenzhen).

use chrono::{DateTime, Utc};
use jsjb_core::clock::{ClockKind, ClockRule, Counting, Policy};
use jsjb_core::letter::{Category, LetterState};
use maud::{DOCTYPE, Markup, html};

use super::next_step::NextStep;
use crate::attachments::{MAX_IMAGE_BYTES, MAX_IMAGES, MAX_VOICE_BYTES, MAX_VOICE_CLIPS};
use crate::intake::{MAX_BODY_CHARS, PublicProgress};

pub const SITE: &str = "深圳市公安局局长信箱";

/// Times as the writer reads them: China Standard Time.
pub fn cst(at: DateTime<Utc>) -> String {
    at.with_timezone(&jsjb_core::cst())
        .format("%Y年%m月%d日 %H:%M")
        .to_string()
}

/// A deadline as the writer reads it: China Standard Time, to the minute (2026-12-31 03:35).
pub fn cst_minute(at: DateTime<Utc>) -> String {
    at.with_timezone(&jsjb_core::cst())
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// The time a clock rule allows, as the writer reads it: 30分钟, 4天, 3个工作日. From
/// the policy in force, so that no page repeats a number the policy holds.
pub fn allowed(rule: &ClockRule) -> String {
    const MINUTE: i64 = 60;
    const HOUR: i64 = 60 * MINUTE;
    const DAY: i64 = 24 * HOUR;
    let secs = rule.due_after_secs;
    match rule.counting {
        // Whole days (the policy checks it); a part of a day counts as one.
        Counting::WorkingDays => format!("{}个工作日", secs / DAY + i64::from(secs % DAY != 0)),
        Counting::Calendar if secs % DAY == 0 => format!("{}天", secs / DAY),
        Counting::Calendar if secs % HOUR == 0 => format!("{}小时", secs / HOUR),
        Counting::Calendar if secs % MINUTE == 0 => format!("{}分钟", secs / MINUTE),
        Counting::Calendar => format!("{secs}秒"),
    }
}

/// What the writer waits for at a clock's step.
fn step_label(clock: ClockKind) -> &'static str {
    match clock {
        ClockKind::SignFor => "承办单位签收",
        ClockKind::Contact => "民警与您联系",
        ClockKind::FirstFeedback => "首次反馈",
        ClockKind::Closure => "办结答复",
    }
}

/// What is wrong with a form as sent. Every fault is shown at once: next to its field,
/// and all of them in a summary at the top that links to each field.
#[derive(Debug, Clone, Default)]
pub struct Faults(Vec<Fault>);

#[derive(Debug, Clone)]
struct Fault {
    /// The id of the element the fault is about; `None` for the form as a whole.
    field: Option<&'static str>,
    message: String,
}

impl Faults {
    /// A fault of the form as a whole (too many requests, an expired page).
    pub fn general(message: impl Into<String>) -> Faults {
        Faults(vec![Fault {
            field: None,
            message: message.into(),
        }])
    }

    /// Adds a fault about the element `field` (an id of the page), or of the whole form.
    /// A field is told of its first fault only.
    pub fn add(&mut self, field: Option<&'static str>, message: impl Into<String>) {
        if field.is_some() && self.0.iter().any(|f| f.field == field) {
            return;
        }
        self.0.push(Fault {
            field,
            message: message.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// What is said about the field `id`: its first fault.
    fn on(&self, id: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|f| f.field == Some(id))
            .map(|f| f.message.as_str())
    }

    /// The field's `aria-describedby`: its error (when it has one), then its hint.
    fn described_by(&self, id: &str, hint: Option<&str>) -> Option<String> {
        let error = self.on(id).map(|_| format!("{id}-error"));
        match (error, hint) {
            (Some(e), Some(h)) => Some(format!("{e} {h}")),
            (e, h) => e.or(h.map(str::to_owned)),
        }
    }

    fn invalid(&self, id: &str) -> Option<&'static str> {
        self.on(id).map(|_| "true")
    }
}

/// The summary at the top of a form: one line for a single fault of the whole form, else
/// the count and every fault, each a link to its field.
fn summary(faults: &Faults) -> Markup {
    html! {
        @match faults.0.as_slice() {
            [] => {}
            [Fault { field: None, message }] => {
                div.alert role="alert" id="form-error" { (message) }
            }
            all => {
                div.alert.summary role="alert" id="form-error" {
                    p.title { "提交的内容有 " (all.len()) " 处需要修改：" }
                    ul {
                        @for fault in all {
                            li {
                                @if let Some(id) = fault.field {
                                    a href={ "#" (id) } { (fault.message) }
                                } @else {
                                    (fault.message)
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The fault next to a field, if it has one.
fn field_error(faults: &Faults, id: &str) -> Markup {
    html! {
        @if let Some(message) = faults.on(id) {
            p.field-error id={ (id) "-error" } { (message) }
        }
    }
}

/// The class of a field's box: marked when it has a fault.
fn field_class(faults: &Faults, id: &str) -> &'static str {
    if faults.on(id).is_some() {
        "field invalid"
    } else {
        "field"
    }
}

pub fn layout(title: &str, body: Markup) -> Markup {
    page(title, body, false)
}

/// A page that loads the portal's script (its CSP must allow it: `SCRIPTED_CSP`).
pub fn enhanced(title: &str, body: Markup) -> Markup {
    page(title, body, true)
}

/// Where the portal's one script is served.
pub const SCRIPT: &str = "/static/portal.js";

fn page(title: &str, body: Markup, script: bool) -> Markup {
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) " · " (SITE) }
                link rel="stylesheet" href="/static/portal.css";
                @if script {
                    script src=(SCRIPT) defer {}
                }
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

/// The home page; the time limits are the policy's.
pub fn home(policy: &Policy) -> Markup {
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
                li { (allowed(&policy.contact)) "内：民警与您联系" }
                li { (allowed(&policy.first_feedback)) "内：首次反馈办理情况" }
                li {
                    (allowed(&policy.closure)) "内：办结并答复"
                    @if !policy.closure_by_category.is_empty() { "（部分类别另有期限）" }
                    "（特殊情况可依法延期，会告知您新的期限）"
                }
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
            li { "您可以通过“查询进度”了解办理情况；对个人信息处理有疑问，可以通过本信箱来信咨询。" }
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
pub fn start(flow: &Flow, name: &str, phone: &str, faults: &Faults) -> Markup {
    layout(
        flow_title(flow),
        html! {
            (steps(1))
            p { "为了民警能联系到您，请先验证手机号码。" }
            (summary(faults))
            form method="post" action="/letters/new" novalidate {
                (flow_fields(flow))
                div class=(field_class(faults, "name")) {
                    label for="name" { "您的姓名" }
                    (field_error(faults, "name"))
                    input #name type="text" name="name" value=(name) maxlength=(crate::intake::MAX_WRITER_NAME_CHARS) autocomplete="name" required
                        aria-invalid=[faults.invalid("name")] aria-describedby=[faults.described_by("name", None)];
                }
                div class=(field_class(faults, "phone")) {
                    label for="phone" { "手机号码" }
                    (field_error(faults, "phone"))
                    input #phone type="tel" name="phone" value=(phone) inputmode="numeric" maxlength="11" autocomplete="tel" required
                        aria-invalid=[faults.invalid("phone")] aria-describedby=[faults.described_by("phone", Some("phone-hint"))];
                    p.hint #phone-hint { "11 位手机号，用于接收验证码和民警联系。" }
                }
                section.notice aria-labelledby="privacy-title" {
                    h2 #privacy-title { "个人信息保护说明" }
                    (privacy_notice())
                }
                div class=(field_class(faults, "consent")) {
                    (field_error(faults, "consent"))
                    div.check {
                        input #consent type="checkbox" name="consent" value="yes" required
                            aria-invalid=[faults.invalid("consent")] aria-describedby=[faults.described_by("consent", None)];
                        label for="consent" { "我已阅读并同意《个人信息保护说明》" }
                    }
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
    /// A thank-you letter's tracking code, as typed.
    pub about_code: String,
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

/// A file picker: the input, visually hidden inside a label drawn as a button, so the
/// browser's own "Choose files / No file chosen" (in the browser's language) is never
/// shown. The chosen files' names are listed under it by the portal's script (an empty
/// list, hidden, without script); `chosen` names the list for a screen reader.
fn picker(faults: &Faults, id: &'static str, accept: &str, button: &str, chosen: &str) -> Markup {
    html! {
        div.picker-box {
            (field_error(faults, id))
            label.picker {
                input.visually-hidden id=(id) type="file" name=(id) accept=(accept) multiple
                    aria-invalid=[faults.invalid(id)] aria-describedby=[faults.described_by(id, Some("files-hint"))];
                span.picker-button { (button) }
            }
            div aria-live="polite" {
                ul.chosen id={ (id) "-chosen" } data-chosen-for=(id) aria-label=(chosen) hidden {}
            }
        }
    }
}

/// Step 3: the letter itself, posted as multipart with its attachments.
pub fn write(flow: &Flow, ticket: &str, masked: &str, draft: &Draft, faults: &Faults) -> Markup {
    let files_invalid = faults.on("images").is_some() || faults.on("voices").is_some();
    enhanced(
        flow_title(flow),
        html! {
            (steps(3))
            p { "已验证手机 " strong { (masked) } "。" }
            (summary(faults))
            @if !faults.is_empty() {
                p.hint { "如有附件，请重新选择。" }
            }
            form method="post" action="/letters" enctype="multipart/form-data" novalidate {
                input type="hidden" name="ticket" value=(ticket);
                (flow_fields(flow))
                @if flow.thanks {
                    div class=(field_class(faults, "about-code")) {
                        label for="about-code" { "感谢的是哪封来信（查询编号，可不填）" }
                        (field_error(faults, "about-code"))
                        input #about-code type="text" name="about_code" value=(draft.about_code) maxlength="16" autocapitalize="characters"
                            aria-invalid=[faults.invalid("about-code")] aria-describedby=[faults.described_by("about-code", Some("about-hint"))];
                        p.hint #about-hint { "填写回执上 SZ 开头的 16 位查询编号，便于我们转达给办理的民警。" }
                    }
                } @else {
                    fieldset #category class=(field_class(faults, "category"))
                        aria-describedby=[faults.described_by("category", None)] {
                        legend { "来信类别" }
                        (field_error(faults, "category"))
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
                div class=(field_class(faults, "body")) {
                    label for="body" { @if flow.thanks { "感谢信内容" } @else { "来信内容" } }
                    (field_error(faults, "body"))
                    textarea #body name="body" rows="8" maxlength=(MAX_BODY_CHARS) required
                        aria-invalid=[faults.invalid("body")] aria-describedby=[faults.described_by("body", Some("body-hint"))] { (draft.body) }
                    p.hint #body-hint { "请写明时间、地点和经过，不超过 " (MAX_BODY_CHARS) " 字。" }
                }
                fieldset.field.files.invalid[files_invalid] aria-describedby="files-hint" {
                    legend { "选择图片或语音文件（可选）" }
                    p.hint #files-hint {
                        "图片最多 " (MAX_IMAGES) " 张，每张不超过 " (MAX_IMAGE_BYTES / (1024 * 1024)) " MB；"
                        "语音最多 " (MAX_VOICE_CLIPS) " 段，每段不超过 " (MAX_VOICE_BYTES / (1024 * 1024)) " MB。"
                        "再次选择会替换之前选的文件。"
                    }
                    div.pickers {
                        (picker(faults, "images", "image/jpeg,image/png,image/webp,image/gif", "选择图片", "已选择的图片"))
                        (picker(faults, "voices", "audio/*", "选择语音", "已选择的语音"))
                    }
                }
                button type="submit" { "提交" }
            }
        },
    )
}

/// The receipt: the tracking code, ready to copy, and when an officer will call (the
/// policy's contact clock, which runs from receipt).
pub fn done(tracking_code: &str, duplicate: bool, thanks: bool, policy: &Policy) -> Markup {
    enhanced(
        if thanks {
            "感谢信已收到"
        } else {
            "来信已受理"
        },
        html! {
            @if duplicate {
                p.alert.info role="status" { "您几分钟前已提交过相同的内容，我们没有重复受理，这是那封来信的查询编号。" }
            }
            @if !thanks {
                p.promise #contact-promise {
                    strong { "我们将在" (allowed(&policy.contact)) "内与您电话联系" }
                    "，请保持手机畅通。"
                }
            }
            p { "请记下您的查询编号：" }
            // Without script the code selects as a whole on a tap or long press, for the
            // phone's own 复制; with it, the button (hidden until the script shows it)
            // copies, and the status line says so.
            p.code #tracking-code { (tracking_code) }
            p.copy {
                button.secondary #copy-code type="button" hidden
                    data-copied="已复制查询编号" data-failed="没能自动复制，编号已选中，请长按复制" { "复制查询编号" }
            }
            p.hint.copy-hint #copy-hint { "长按或选中即可复制" }
            p.copy-status #copy-status role="status" {}
            p { "凭查询编号和手机号后四位，可随时查询办理进度。" }
            p { a.button href={ "/progress?code=" (tracking_code) } { "查询进度" } }
        },
    )
}

pub(super) fn state_label(state: LetterState) -> &'static str {
    match state {
        LetterState::Received => "已受理",
        LetterState::Dispatched => "已转办",
        LetterState::Handling => "办理中",
        LetterState::AwaitingApproval => "办理中（答复审核）",
        LetterState::Closed => "已办结",
    }
}

pub(super) fn milestone_label(kind: &str) -> &'static str {
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
    found: Option<(&PublicProgress, Option<NextStep>)>,
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
            @if let Some((p, next)) = found {
                section aria-labelledby="timeline-title" {
                    h2 #timeline-title { "编号 " (p.tracking_code) }
                    p { "当前状态：" strong.state { (state_label(p.state)) } }
                    @if let Some(next) = next {
                        p.next.overdue[next.overdue] #next-step {
                            "下一步：" strong { (step_label(next.clock)) } "，"
                            @if next.overdue { "原定 " } @else { "预计 " }
                            time datetime=(next.due_at.to_rfc3339()) { (cst_minute(next.due_at)) }
                            " 前"
                            @if next.overdue { "（已超过期限，我们会尽快办理）" }
                        }
                    }
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

/// The rating form; every fault at once, beside its field (as the letter form).
pub fn rate(code: &str, form: &RatingDraft, faults: &Faults) -> Markup {
    layout(
        "评价办理结果",
        html! {
            p { "查询编号 " strong { (code) } }
            (summary(faults))
            form method="post" action={ "/letters/" (code) "/rate" } novalidate {
                div class=(field_class(faults, "phone_last4")) {
                    label for="phone_last4" { "手机号后四位" }
                    (field_error(faults, "phone_last4"))
                    input #phone_last4 type="text" name="phone_last4" value=(form.phone_last4) inputmode="numeric" maxlength="4" required
                        aria-invalid=[faults.invalid("phone_last4")] aria-describedby=[faults.described_by("phone_last4", None)];
                }
                fieldset #satisfaction class=(field_class(faults, "satisfaction"))
                    aria-describedby=[faults.described_by("satisfaction", None)] {
                    legend { "您对办理结果" }
                    (field_error(faults, "satisfaction"))
                    @for (value, label) in SATISFACTION {
                        @let id = format!("s-{value}");
                        div.choice {
                            input id=(id) type="radio" name="satisfaction" value=(value) checked[form.satisfaction == *value] required;
                            label for=(id) { (label) }
                        }
                    }
                }
                div class=(field_class(faults, "comment")) {
                    label for="comment" { "意见（可不填，" (MAX_COMMENT_CHARS) " 字以内）" }
                    (field_error(faults, "comment"))
                    textarea #comment name="comment" rows="4" maxlength=(MAX_COMMENT_CHARS)
                        aria-invalid=[faults.invalid("comment")] aria-describedby=[faults.described_by("comment", None)] { (form.comment) }
                }
                p.hint { "每封来信只能评价一次。" }
                button type="submit" { "提交评价" }
            }
        },
    )
}

/// What the rating form keeps when it is shown again.
#[derive(Debug, Clone, Default)]
pub struct RatingDraft {
    pub phone_last4: String,
    pub satisfaction: String,
    pub comment: String,
}

/// The longest comment a rating takes, in characters.
pub const MAX_COMMENT_CHARS: usize = 500;

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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// A page's text as a reader sees it: the tags dropped, the entities kept.
    fn text(markup: &Markup) -> String {
        let html = markup.clone().into_string();
        let mut out = String::new();
        let mut in_tag = false;
        for c in html.chars() {
            match c {
                '<' => in_tag = true,
                '>' => in_tag = false,
                c if !in_tag => out.push(c),
                _ => {}
            }
        }
        out
    }

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .expect("a time")
    }

    #[test]
    fn the_time_a_rule_allows_reads_in_its_largest_whole_unit() {
        let shenzhen = Policy::shenzhen();
        assert_eq!(allowed(&shenzhen.contact), "30分钟");
        assert_eq!(allowed(&shenzhen.first_feedback), "4天");
        assert_eq!(allowed(&shenzhen.closure), "15天");
        assert_eq!(allowed(&ClockRule::calendar(2 * 3600, 60)), "2小时");
        assert_eq!(allowed(&ClockRule::calendar(90 * 60, 60)), "90分钟");
        assert_eq!(allowed(&ClockRule::calendar(45, 5)), "45秒");
        assert_eq!(allowed(&ClockRule::working_days(3, 3600)), "3个工作日");
    }

    #[test]
    fn deadlines_read_in_china_standard_time_to_the_minute() {
        assert_eq!(cst_minute(at(2026, 12, 30, 19, 35)), "2026-12-31 03:35");
    }

    #[test]
    fn every_fault_is_shown_at_its_field_and_in_the_summary() {
        let mut faults = Faults::default();
        faults.add(Some("category"), "请选择来信类别。");
        faults.add(Some("body"), "请填写来信内容（不超过 5000 字）。");
        faults.add(
            Some("body"),
            "a second fault of the same field is not repeated",
        );
        faults.add(Some("images"), "附件格式不支持。");
        let draft = Draft {
            category: "nonsense".to_owned(),
            body: "<script>alert(1)</script>".to_owned(),
            about_code: String::new(),
        };
        let page = write(&Flow::default(), "t", "138****5678", &draft, &faults);
        let html = page.clone().into_string();
        assert!(
            text(&page).contains("提交的内容有 3 处需要修改："),
            "{html}"
        );
        for (id, message) in [
            ("category", "请选择来信类别。"),
            ("body", "请填写来信内容（不超过 5000 字）。"),
            ("images", "附件格式不支持。"),
        ] {
            assert!(
                html.contains(&format!("<a href=\"#{id}\">{message}</a>")),
                "{id} in the summary: {html}"
            );
            assert!(
                html.contains(&format!(
                    "<p class=\"field-error\" id=\"{id}-error\">{message}</p>"
                )),
                "{id} at its field: {html}"
            );
            assert!(
                html.contains(&format!("{id}-error")),
                "{id} described: {html}"
            );
        }
        assert!(!html.contains("a second fault"));
        assert!(html.contains("aria-invalid=\"true\""));
        // What the writer typed comes back as text.
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        // The only script is the portal's own, by its address.
        assert_eq!(html.matches("<script").count(), 1, "{html}");
        assert!(html.contains("<script src=\"/static/portal.js\" defer></script>"));
        // The form as sent without a fault has no summary.
        let clean = write(
            &Flow::default(),
            "t",
            "138****5678",
            &draft,
            &Faults::default(),
        );
        assert!(!clean.into_string().contains("form-error"));
    }

    #[test]
    fn a_fault_of_the_whole_form_is_one_line() {
        let page = start(
            &Flow::default(),
            "",
            "",
            &Faults::general("操作太频繁，请 30 秒后再试。"),
        );
        let html = page.into_string();
        assert!(html.contains("<div class=\"alert\" role=\"alert\" id=\"form-error\">操作太频繁，请 30 秒后再试。</div>"), "{html}");
        assert!(!html.contains("处需要修改"));
    }

    #[test]
    fn the_file_pickers_are_labelled_in_chinese_and_keep_the_native_input_hidden() {
        let page = write(
            &Flow::default(),
            "t",
            "138****5678",
            &Draft::default(),
            &Faults::default(),
        );
        let html = page.clone().into_string();
        let words = text(&page);
        for label in ["选择图片或语音文件", "选择图片", "选择语音"] {
            assert!(words.contains(label), "{label}: {words}");
        }
        assert_eq!(
            html.matches("class=\"visually-hidden\"").count(),
            2,
            "{html}"
        );
        assert!(html.contains("name=\"images\"") && html.contains("name=\"voices\""));
    }

    #[test]
    fn the_receipt_promises_the_call_within_the_policy_contact_clock() {
        let page = done("SZ20261231K7PQ2X", false, false, &Policy::shenzhen());
        let words = text(&page);
        assert!(words.contains("我们将在30分钟内与您电话联系"), "{words}");
        assert!(words.contains("长按或选中即可复制"), "{words}");
        let mut policy = Policy::shenzhen();
        policy.contact = ClockRule::calendar(20 * 60, 5 * 60);
        let words = text(&done("SZ20261231K7PQ2X", false, false, &policy));
        assert!(words.contains("我们将在20分钟内与您电话联系"), "{words}");
        // A thank-you letter asks for no call.
        let words = text(&done("SZ20261231K7PQ2X", false, true, &policy));
        assert!(!words.contains("电话联系"), "{words}");
    }

    #[test]
    fn the_progress_page_shows_the_next_deadline() {
        let received = at(2026, 12, 26, 19, 35);
        let progress = PublicProgress {
            tracking_code: "SZ20261227K7PQ2X".to_owned(),
            state: LetterState::Handling,
            received_at: received,
            milestones: Vec::new(),
        };
        let next = NextStep {
            clock: ClockKind::FirstFeedback,
            due_at: at(2026, 12, 30, 19, 35),
            overdue: false,
        };
        let words = text(&super::progress(
            "",
            Some((&progress, Some(next))),
            false,
            None,
        ));
        assert!(
            words.contains("下一步：首次反馈，预计 2026-12-31 03:35 前"),
            "{words}"
        );
        let late = NextStep {
            overdue: true,
            ..next
        };
        let words = text(&super::progress(
            "",
            Some((&progress, Some(late))),
            false,
            None,
        ));
        assert!(
            words.contains("下一步：首次反馈，原定 2026-12-31 03:35 前（已超过期限"),
            "{words}"
        );
        let words = text(&super::progress("", Some((&progress, None)), false, None));
        assert!(!words.contains("下一步"), "{words}");
    }

    #[test]
    fn no_page_shows_example_data() {
        let policy = Policy::shenzhen();
        for page in [
            home(&policy),
            privacy(),
            start(&Flow::default(), "", "", &Faults::default()),
            write(
                &Flow {
                    thanks: true,
                    about: String::new(),
                },
                "t",
                "138****5678",
                &Draft::default(),
                &Faults::default(),
            ),
            done("SZ20261231K7PQ2X", false, false, &policy),
        ] {
            let words = text(&page);
            assert!(!words.contains("示例"), "{words}");
        }
        let words = text(&home(&policy));
        assert!(
            words.contains("30分钟内：民警与您联系") && words.contains("15天内"),
            "{words}"
        );
    }
}
