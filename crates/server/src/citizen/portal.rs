//! The web portal's handlers: plain HTML forms that work without JavaScript. Two pages
//! (the letter form and its receipt) load one small script from this origin, for what
//! HTML cannot do alone: list the chosen files, copy the tracking code.
//!
//! Writing a letter takes three steps, because file inputs cannot be refilled and a
//! code lasts 5 minutes while a letter can take longer to write: (1) name, phone and
//! consent → an SMS code; (2) the code → a ticket (a random token in a hidden field,
//! valid 60 minutes, which is also the form's CSRF token); (3) the letter with its
//! attachments, posted as multipart with the ticket → the tracking code.

use axum::Router;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Form, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jsjb_core::letter::{Category, Channel, Satisfaction};
use maud::Markup;
use serde::Deserialize;

use super::guards::{LimitedIp, PublicSlot};
use super::next_step::next_step;
use super::otp::{CodeError, mask_phone};
use super::pages::{self, Faults, Flow, MAX_COMMENT_CHARS, RatingDraft};
use crate::error::ApiError;
use crate::intake::{self, LetterInput, MAX_INTAKE_BODY, Upload};
use crate::state::AppState;
use jsjb_storage::{Actor, Rating};

const CSS: &str = include_str!("portal.css");
const JS: &str = include_str!("portal.js");
/// The strictest policy the pages allow: no script at all, styles from here only.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";
/// The policy of the pages that load /static/portal.js (the copy button, the chosen
/// files' names): scripts from this origin only — no inline script, no eval — and
/// Trusted Types required with no policy allowed, so no string ever becomes HTML.
pub(crate) const SCRIPTED_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'; require-trusted-types-for 'script'; trusted-types 'none'";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/privacy", get(privacy))
        .route("/letters/new", get(start).post(send_code))
        .route("/thanks/new", get(start_thanks))
        .route("/letters/verify", axum::routing::post(verify_code))
        .route(
            "/letters",
            axum::routing::post(submit).layer(DefaultBodyLimit::max(MAX_INTAKE_BODY)),
        )
        .route("/progress", get(progress))
        .route("/letters/{code}/rate", get(rate_page).post(rate))
        .route(
            "/letters/{code}/rate/confirm",
            axum::routing::post(rate_confirm),
        )
        .route("/static/portal.css", get(css))
        .route("/static/portal.js", get(js))
        .layer(middleware::map_response(security_headers))
}

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !headers.contains_key(header::CACHE_CONTROL) {
        // Pages carry tracking codes and names: keep them out of shared caches.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// A page, with its status; `script` when it loads the portal's script (the receipt,
/// the letter form), so that only those pages let a script run.
struct Page(StatusCode, Markup, Script);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Script {
    None,
    Portal,
}

impl Page {
    fn new(status: StatusCode, markup: Markup) -> Page {
        Page(status, markup, Script::None)
    }

    /// The page loads /static/portal.js (pages::enhanced).
    fn scripted(self) -> Page {
        Page(self.0, self.1, Script::Portal)
    }
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let mut response = (self.0, self.1.into_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        if self.2 == Script::Portal {
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(SCRIPTED_CSP),
            );
        }
        response
    }
}

fn ok(markup: Markup) -> Page {
    Page::new(StatusCode::OK, markup)
}

/// What a citizen is told about an error: Chinese, and what to do about it.
fn message(e: &ApiError) -> String {
    match e {
        ApiError::RateLimited { retry_after_secs } => {
            format!("操作太频繁，请 {retry_after_secs} 秒后再试。")
        }
        ApiError::Busy => "系统繁忙，请稍后再试。".to_owned(),
        ApiError::PayloadTooLarge(_) => format!(
            "附件太大：图片每张不超过 {} MB，语音每段不超过 {} MB。",
            crate::attachments::MAX_IMAGE_BYTES / (1024 * 1024),
            crate::attachments::MAX_VOICE_BYTES / (1024 * 1024)
        ),
        ApiError::UnsupportedAttachment(_) => {
            "附件格式不支持：图片请用 JPEG、PNG、WebP 或 GIF，语音请用 AMR、MP3、M4A、WAV 或 OGG。"
                .to_owned()
        }
        ApiError::TooManyAttachments(_) => format!(
            "附件太多：最多 {} 张图片和 {} 段语音。",
            crate::attachments::MAX_IMAGES,
            crate::attachments::MAX_VOICE_CLIPS
        ),
        ApiError::MalformedMultipart(_) => "上传没有完成，请重新提交。".to_owned(),
        ApiError::Invalid { field, .. } => match field.as_deref() {
            Some("body") => {
                return format!(
                    "请填写来信内容（不超过 {} 字）。",
                    crate::intake::MAX_BODY_CHARS
                );
            }
            Some("writer_name") | Some("name") => {
                return format!(
                    "请填写姓名（不超过 {} 字）。",
                    crate::intake::MAX_WRITER_NAME_CHARS
                );
            }
            Some("writer_phone") | Some("phone") => "请填写正确的 11 位手机号码。",
            Some("phone_last4") | Some("code") => "请填写查询编号和手机号后四位。",
            Some("consent") => "请阅读并同意《个人信息保护说明》。",
            Some("category") => "请选择来信类别。",
            Some("about") => "查询编号的格式不对，应为 SZ 开头的 16 位编号。",
            Some("satisfaction") => "请选择满意、基本满意或不满意。",
            Some("comment") => return format!("意见不超过 {MAX_COMMENT_CHARS} 字。"),
            Some("ticket") => "页面已过期，请重新验证手机号。",
            _ => "填写的内容有误，请检查后再提交。",
        }
        .to_owned(),
        ApiError::NotFound(_) => "没有找到与查询编号和手机号后四位相符的来信。".to_owned(),
        ApiError::Conflict {
            code: "not_closed", ..
        } => "来信办结后才能评价。".to_owned(),
        ApiError::Conflict {
            code: "already_rated",
            ..
        } => "这封来信已经评价过了，谢谢您。".to_owned(),
        _ => "系统出错了，请稍后再试。".to_owned(),
    }
}

fn status(e: &ApiError) -> StatusCode {
    e.status()
}

/// The id of the form field an error is about (the page shows it there), if any.
fn field_of(e: &ApiError) -> Option<&'static str> {
    let ApiError::Invalid { field, .. } = e else {
        return None;
    };
    match field.as_deref() {
        Some("body") => Some("body"),
        Some("name" | "writer_name") => Some("name"),
        Some("phone" | "writer_phone") => Some("phone"),
        Some("consent") => Some("consent"),
        Some("category") => Some("category"),
        Some("about") => Some("about-code"),
        Some("satisfaction") => Some("satisfaction"),
        Some("comment") => Some("comment"),
        _ => None,
    }
}

/// Adds `e` to the faults of a form, at its field.
fn add_fault(faults: &mut Faults, e: &ApiError) {
    faults.add(field_of(e), message(e));
}

fn error_page(e: &ApiError) -> Page {
    if let ApiError::Internal(cause) = e {
        tracing::error!(%cause, "internal error on a portal page");
    }
    Page::new(status(e), pages::error("出错了", &message(e)))
}

async fn home(State(state): State<AppState>, _slot: Result<PublicSlot, ApiError>) -> Page {
    ok(pages::home(state.rules.current(state.time.now())))
}

async fn privacy() -> Page {
    ok(pages::privacy())
}

async fn css() -> Response {
    asset(CSS, "text/css; charset=utf-8")
}

/// The script keeps the pages' strict CSP itself (it is not a document; nothing it
/// could load is allowed) and is served as JavaScript, which `nosniff` requires.
async fn js() -> Response {
    asset(JS, "text/javascript; charset=utf-8")
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}

#[derive(Debug, Default, Deserialize)]
struct FlowQuery {
    #[serde(default)]
    about: String,
}

fn valid_code(code: &str) -> bool {
    code.len() == 16 && code.starts_with("SZ") && code.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn flow_of(kind: &str, about: &str) -> Flow {
    let about = about.trim().to_ascii_uppercase();
    Flow {
        thanks: kind == "thanks",
        about: if valid_code(&about) {
            about
        } else {
            String::new()
        },
    }
}

async fn start() -> Page {
    ok(pages::start(&Flow::default(), "", "", &Faults::default()))
}

async fn start_thanks(query: Result<Query<FlowQuery>, QueryRejection>) -> Page {
    let about = query.map(|Query(q)| q.about).unwrap_or_default();
    ok(pages::start(
        &flow_of("thanks", &about),
        "",
        "",
        &Faults::default(),
    ))
}

#[derive(Debug, Default, Deserialize)]
struct StartForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    about: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    consent: String,
}

fn form_or_default<T: Default>(form: Result<Form<T>, FormRejection>) -> T {
    form.map(|Form(f)| f).unwrap_or_default()
}

fn clean_phone(phone: &str) -> String {
    phone
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect()
}

/// Step 1 → 2: checks the form (every field, so that the writer sees every fault at
/// once), sends the code.
async fn send_code(
    State(state): State<AppState>,
    slot: Result<PublicSlot, ApiError>,
    ip: Result<LimitedIp, ApiError>,
    form: Result<Form<StartForm>, FormRejection>,
) -> Page {
    let f = form_or_default(form);
    let flow = flow_of(&f.kind, &f.about);
    let name = f.name.trim().to_owned();
    let phone = clean_phone(&f.phone);
    let again = |status: StatusCode, faults: &Faults| {
        Page::new(status, pages::start(&flow, &name, &phone, faults))
    };
    if let Err(e) = slot.and(ip) {
        return again(status(&e), &Faults::general(message(&e)));
    }
    let mut faults = Faults::default();
    if name.is_empty() || name.chars().count() > intake::MAX_WRITER_NAME_CHARS {
        add_fault(&mut faults, &ApiError::invalid("name", "name"));
    }
    if !intake::is_mobile(&phone) {
        add_fault(&mut faults, &ApiError::invalid("phone", "phone"));
    }
    if f.consent != "yes" {
        add_fault(&mut faults, &ApiError::invalid("consent", "consent"));
    }
    if !faults.is_empty() {
        return again(StatusCode::BAD_REQUEST, &faults);
    }
    let now = state.time.now();
    let purpose = super::shared::CodePurpose::Letter { phone: &phone };
    if let Err(e) = state.citizen.send_code(purpose, &phone, now).await {
        let mut faults = Faults::default();
        add_fault(&mut faults, &e);
        return again(status(&e), &faults);
    }
    let sms = state.citizen.sms();
    ok(pages::verify(
        &flow,
        &name,
        &phone,
        &mask_phone(&phone),
        sms.simulated(),
        None,
    ))
}

#[derive(Debug, Default, Deserialize)]
struct VerifyForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    about: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    code: String,
}

/// Step 2 → 3: checks the code, issues the ticket.
async fn verify_code(
    State(state): State<AppState>,
    slot: Result<PublicSlot, ApiError>,
    ip: Result<LimitedIp, ApiError>,
    form: Result<Form<VerifyForm>, FormRejection>,
) -> Page {
    let f = form_or_default(form);
    let flow = flow_of(&f.kind, &f.about);
    let phone = clean_phone(&f.phone);
    let masked = mask_phone(&phone);
    let simulated = state.citizen.sms().simulated();
    let again = |status: StatusCode, msg: &str| {
        Page::new(
            status,
            pages::verify(&flow, &f.name, &phone, &masked, simulated, Some(msg)),
        )
    };
    if let Err(e) = slot.and(ip) {
        return again(status(&e), &message(&e));
    }
    let now = state.time.now();
    let key = super::shared::CodePurpose::Letter { phone: &phone }.key();
    match state.citizen.codes.verify(&key, &f.code, now).await {
        Ok(Ok(())) => {
            let name: String = f
                .name
                .trim()
                .chars()
                .take(intake::MAX_WRITER_NAME_CHARS)
                .collect();
            let ticket = match state.citizen.tickets.issue(&phone, &name, now).await {
                Ok(ticket) => ticket,
                Err(e) => return again(status(&e), &message(&e)),
            };
            let draft = pages::Draft {
                about_code: flow.about.clone(),
                ..pages::Draft::default()
            };
            ok(pages::write(
                &flow,
                &ticket,
                &masked,
                &draft,
                &Faults::default(),
            ))
            .scripted()
        }
        Ok(Err(e)) => again(StatusCode::UNPROCESSABLE_ENTITY, &code_message(e)),
        Err(e) => again(status(&e), &message(&e)),
    }
}

fn code_message(e: CodeError) -> String {
    match e {
        CodeError::Wrong { left } => format!("验证码不正确，还可以再试 {left} 次。"),
        CodeError::Expired => "验证码已过期，请重新获取。".to_owned(),
        CodeError::NoCode => "请先获取验证码。".to_owned(),
        CodeError::TooManyTries => "错误次数太多，请重新获取验证码。".to_owned(),
    }
}

/// The text fields of the write form.
#[derive(Debug, Default)]
struct WriteForm {
    ticket: String,
    kind: String,
    about: String,
    about_code: String,
    category: String,
    body: String,
}

/// Step 3: the letter. Reads the multipart form (the ticket first, so a request
/// without a valid one is refused before its files are read), then hands the letter
/// to the intake shared by every channel.
async fn submit(
    State(state): State<AppState>,
    slot: Result<PublicSlot, ApiError>,
    ip: Result<LimitedIp, ApiError>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Page {
    if let Err(e) = slot.and(ip) {
        return error_page(&e);
    }
    let mut multipart = match multipart {
        Ok(m) => m,
        Err(_) => return error_page(&ApiError::invalid("ticket", "not a form post")),
    };
    let now = state.time.now();
    let mut form = WriteForm::default();
    let mut uploads: Vec<Upload> = Vec::new();
    let (mut images, mut voices) = (0, 0);
    // The ticket is the form's first field (pages::write puts it there): nothing the
    // writer typed or attached is read before it is checked.
    let first = match multipart.next_field().await {
        Ok(Some(field)) if field.name() == Some("ticket") => read_text(field, "ticket", 64).await,
        _ => return error_page(&ApiError::invalid("ticket", "the ticket must come first")),
    };
    let verified = match first {
        Ok(ticket) => match state.citizen.tickets.get(&ticket, now).await {
            Ok(Some(v)) => {
                form.ticket = ticket;
                v
            }
            Ok(None) => {
                return error_page(&ApiError::invalid("ticket", "unknown or expired ticket"));
            }
            Err(e) => return error_page(&e),
        },
        Err(e) => return error_page(&e),
    };
    // What went wrong while reading, and the field it was read for: the reading stops
    // there, and what was read before it is still checked, so the writer is told of it too.
    let mut failure: Option<(Option<&'static str>, ApiError)> = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => {
                failure = Some((None, intake::multipart_error(e)));
                break;
            }
        };
        let name = field.name().unwrap_or_default().to_owned();
        let picker = match name.as_str() {
            "images" => Some("images"),
            "voices" => Some("voices"),
            _ => None,
        };
        if picker.is_some() {
            match intake::read_upload(field).await {
                Ok(Some(upload)) => {
                    if let Err(e) = intake::count_upload(&upload, &mut images, &mut voices) {
                        failure = Some((picker, e));
                        break;
                    }
                    uploads.push(upload);
                }
                Ok(None) => {}
                Err(e) => {
                    failure = Some((picker, e));
                    break;
                }
            }
            continue;
        }
        let value = match read_text(field, "body", intake::MAX_BODY_CHARS + 100).await {
            Ok(v) => v,
            Err(e) => {
                failure = Some((field_of(&e), e));
                break;
            }
        };
        match name.as_str() {
            "kind" => form.kind = value,
            "about" => form.about = value,
            "about_code" => form.about_code = value,
            "category" => form.category = value,
            "body" => form.body = value,
            _ => {}
        }
    }
    let flow = flow_of(&form.kind, &form.about);
    let draft = pages::Draft {
        category: form.category.clone(),
        body: form.body.clone(),
        about_code: form.about_code.clone(),
    };
    let masked = mask_phone(&verified.phone);
    let again = |status: StatusCode, faults: &Faults| {
        Page::new(
            status,
            pages::write(&flow, &form.ticket, &masked, &draft, faults),
        )
        .scripted()
    };
    // Every fault of the form at once, in the order of the form (a fault of the whole
    // request first); the page answers with the first one's status.
    let mut faults = Faults::default();
    let mut first_status = None;
    let mut fault = |field: Option<&'static str>, e: ApiError| {
        first_status.get_or_insert(status(&e));
        faults.add(field, message(&e));
    };
    let (mut failed_body, mut failed_files) = (None, None);
    match failure {
        Some((None, e)) => fault(None, e),
        Some((Some("body"), e)) => failed_body = Some(e),
        Some((field, e)) => failed_files = Some((field, e)),
        None => {}
    }
    let category = if flow.thanks {
        let about = form.about_code.trim().to_ascii_uppercase();
        if !about.is_empty() && !valid_code(&about) {
            fault(Some("about-code"), ApiError::invalid("about", "bad code"));
        }
        Some(Category::Thanks)
    } else {
        let category = Category::parse(&form.category).filter(|c| *c != Category::Thanks);
        if category.is_none() {
            fault(Some("category"), ApiError::invalid("category", "category"));
        }
        category
    };
    // Intake checks the body again; checked here too, beside the other fields.
    if let Some(e) = failed_body {
        fault(Some("body"), e);
    } else if let Err(e) = intake::checked_text("body", &form.body, intake::MAX_BODY_CHARS) {
        fault(Some("body"), e);
    }
    if let Some((field, e)) = failed_files {
        fault(field, e);
    }
    let (Some(category), None) = (category, first_status) else {
        return again(first_status.unwrap_or(StatusCode::BAD_REQUEST), &faults);
    };
    let subject = if flow.thanks {
        let about = form.about_code.trim().to_ascii_uppercase();
        if about.is_empty() {
            "感谢信".to_owned()
        } else {
            // The desk links it to the case with `link_thanks`; the code is in the subject.
            format!("感谢信（关于 {about}）")
        }
    } else {
        super::conversation::subject_of(&form.body, "来信")
    };
    let input = LetterInput {
        category,
        problem_tags: Vec::new(),
        subject,
        body: form.body.clone(),
        writer_name: verified.name.clone(),
        writer_phone: verified.phone.clone(),
        writer_contact: None,
    };
    // The ticket is used up before the letter is stored, so one verification stands
    // for one letter even when the form is sent twice at once (to two nodes).
    let verified = match state.citizen.tickets.take(&form.ticket, now).await {
        Ok(Some(taken)) => taken,
        Ok(None) => {
            return error_page(&ApiError::invalid("ticket", "unknown or expired ticket"));
        }
        Err(e) => return error_page(&e),
    };
    match intake::accept_public_letter(&state, Channel::Web, input, uploads, Vec::new()).await {
        Ok(receipt) => ok(pages::done(
            &receipt.tracking_code,
            receipt.duplicate,
            flow.thanks,
            state.rules.current(state.time.now()),
        ))
        .scripted(),
        Err(e) => {
            if let ApiError::Internal(cause) = &e {
                tracing::error!(%cause, "storing a portal letter");
            }
            if super::otp::stored_nothing(&e) {
                state
                    .citizen
                    .tickets
                    .give_back(&form.ticket, &verified)
                    .await;
            }
            let mut faults = Faults::default();
            add_fault(&mut faults, &e);
            again(status(&e), &faults)
        }
    }
}

/// A text field of the write form, read a chunk at a time and refused past
/// `max_chars` characters (4 bytes each at most), so a huge field is never buffered.
/// `what` names the field the writer is told about (the body is the only long one).
async fn read_text(
    mut field: axum::extract::multipart::Field<'_>,
    what: &str,
    max_chars: usize,
) -> Result<String, ApiError> {
    let mut buf = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(intake::multipart_error)? {
        buf.extend_from_slice(&chunk);
        if buf.len() > max_chars * 4 {
            return Err(ApiError::invalid(what, "a field is too long"));
        }
    }
    let text = String::from_utf8(buf)
        .map_err(|_| ApiError::MalformedMultipart("a field is not UTF-8".to_owned()))?;
    Ok(text.chars().take(max_chars).collect())
}

#[derive(Debug, Default, Deserialize)]
struct ProgressForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    phone_last4: String,
}

async fn progress(
    State(state): State<AppState>,
    slot: Result<PublicSlot, ApiError>,
    parts: axum::http::request::Parts,
) -> Page {
    let q = Query::<ProgressForm>::try_from_uri(&parts.uri)
        .map(|Query(q)| q)
        .unwrap_or_default();
    let code = q.code.trim().to_ascii_uppercase();
    if q.phone_last4.trim().is_empty() {
        // Just the form (e.g. from the receipt's link, with the code filled in).
        return ok(pages::progress(&code, None, false, None));
    }
    let again = |e: ApiError| {
        Page::new(
            status(&e),
            pages::progress(&code, None, false, Some(&message(&e))),
        )
    };
    if let Err(e) = slot {
        return again(e);
    }
    // Look-ups are rate limited per address: with the code known, the last 4 digits
    // are only 10⁴ guesses.
    let ip = super::guards::client_bucket(&parts, &state);
    if let Err(e) = state.citizen.limits.check_ip(&ip, state.time.now()).await {
        return again(e);
    }
    match intake::prove_writer(&state, &code, &q.phone_last4).await {
        Ok(found) => {
            let progress = &found.progress;
            let rated = matches!(
                state.store.rating(&progress.tracking_code).await,
                Ok(Some(_))
            );
            let next = found.status.as_ref().and_then(|status| {
                next_step(
                    status,
                    &state.rules.policy_for(&status.clock_inputs),
                    state.rules.calendar(),
                    state.time.now(),
                )
            });
            ok(pages::progress(&code, Some((progress, next)), rated, None))
        }
        Err(e) => again(e),
    }
}

async fn rate_page(Path(code): Path<String>) -> Page {
    let code = code.trim().to_ascii_uppercase();
    if !valid_code(&code) {
        return error_page(&ApiError::NotFound("no such code".to_owned()));
    }
    ok(pages::rate(
        &code,
        &RatingDraft::default(),
        &Faults::default(),
    ))
}

#[derive(Debug, Default, Deserialize)]
struct RateForm {
    #[serde(default)]
    phone_last4: String,
    #[serde(default)]
    satisfaction: String,
    #[serde(default)]
    comment: String,
}

impl RateForm {
    /// The form as it is shown again.
    fn draft(&self) -> RatingDraft {
        RatingDraft {
            phone_last4: self.phone_last4.trim().to_owned(),
            satisfaction: self.satisfaction.clone(),
            comment: self.comment.trim().to_owned(),
        }
    }
}

/// The rating's choices, checked the same way on both steps: every fault of the form at
/// once, at its field.
fn rating_choice(f: &RateForm) -> Result<(Satisfaction, String), Faults> {
    let mut faults = Faults::default();
    let last4 = f.phone_last4.trim();
    if last4.len() != 4 || !last4.bytes().all(|b| b.is_ascii_digit()) {
        faults.add(Some("phone_last4"), "请填写手机号后四位（4 位数字）。");
    }
    let satisfaction = Satisfaction::parse(&f.satisfaction);
    if satisfaction.is_none() {
        add_fault(
            &mut faults,
            &ApiError::invalid("satisfaction", "choose one"),
        );
    }
    let comment = f.comment.trim().to_owned();
    if comment.chars().count() > MAX_COMMENT_CHARS {
        add_fault(&mut faults, &ApiError::invalid("comment", "too long"));
    }
    match satisfaction {
        Some(satisfaction) if faults.is_empty() => Ok((satisfaction, comment)),
        _ => Err(faults),
    }
}

/// Rating, step 1: the writer's proof (code + last 4 digits) and the choice; the
/// letter must be closed and not rated. Then a code goes by SMS to the writer's phone:
/// the proof alone is not enough, because a desk that typed in a phone letter (or
/// revealed the writer) knows both parts, and only the writer may rate.
async fn rate(
    State(state): State<AppState>,
    slot: Result<PublicSlot, ApiError>,
    ip: Result<LimitedIp, ApiError>,
    Path(code): Path<String>,
    form: Result<Form<RateForm>, FormRejection>,
) -> Page {
    let code = code.trim().to_ascii_uppercase();
    let f = form_or_default(form);
    let draft = f.draft();
    let again_with =
        |status: StatusCode, faults: &Faults| Page::new(status, pages::rate(&code, &draft, faults));
    let again = |e: ApiError| again_with(status(&e), &Faults::general(message(&e)));
    if let Err(e) = slot.and(ip) {
        return again(e);
    }
    let (satisfaction, comment) = match rating_choice(&f) {
        Ok(choice) => choice,
        Err(faults) => return again_with(StatusCode::BAD_REQUEST, &faults),
    };
    let (progress, phone) = match intake::prove_writer(&state, &code, &f.phone_last4).await {
        Ok(found) => (found.progress, found.phone),
        Err(e) => return again(e),
    };
    if progress.state != jsjb_core::letter::LetterState::Closed {
        return again(ApiError::Conflict {
            code: "not_closed",
            detail: "not closed".to_owned(),
        });
    }
    match state.store.rating(&progress.tracking_code).await {
        Ok(None) => {}
        Ok(Some(_)) => {
            return again(ApiError::Conflict {
                code: "already_rated",
                detail: "rated".to_owned(),
            });
        }
        Err(e) => return again(e.into()),
    }
    let now = state.time.now();
    let purpose = super::shared::CodePurpose::Rating {
        tracking_code: &progress.tracking_code,
    };
    if let Err(e) = state.citizen.send_code(purpose, &phone, now).await {
        return again(e);
    }
    ok(pages::rate_confirm(
        &progress.tracking_code,
        &f.phone_last4,
        satisfaction.as_str(),
        &comment,
        &mask_phone(&phone),
        state.citizen.sms().simulated(),
        None,
    ))
}

#[derive(Debug, Default, Deserialize)]
struct RateConfirmForm {
    #[serde(default)]
    sms_code: String,
    #[serde(flatten)]
    rating: RateForm,
}

/// Rating, step 2: the SMS code (checked first), then the rating, once.
async fn rate_confirm(
    State(state): State<AppState>,
    slot: Result<PublicSlot, ApiError>,
    ip: Result<LimitedIp, ApiError>,
    Path(code): Path<String>,
    form: Result<Form<RateConfirmForm>, FormRejection>,
) -> Page {
    let code = code.trim().to_ascii_uppercase();
    let f = form_or_default(form);
    if let Err(e) = slot.and(ip) {
        return error_page(&e);
    }
    let now = state.time.now();
    let key = super::shared::CodePurpose::Rating {
        tracking_code: &code,
    }
    .key();
    match state.citizen.codes.verify(&key, &f.sms_code, now).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            // Back to step 1: a new code is sent from there.
            return Page::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                pages::rate(&code, &f.rating.draft(), &Faults::general(code_message(e))),
            );
        }
        Err(e) => return error_page(&e),
    }
    let (satisfaction, comment) = match rating_choice(&f.rating) {
        Ok(choice) => choice,
        Err(faults) => {
            return Page::new(
                StatusCode::BAD_REQUEST,
                pages::rate(&code, &f.rating.draft(), &faults),
            );
        }
    };
    let rating = Rating {
        satisfaction,
        comment,
        rated_at: now,
    };
    match state
        .store
        .rate_letter(&code, rating, Actor::public(Channel::Web))
        .await
    {
        Ok(()) => ok(pages::rated()),
        Err(e) => error_page(&e.into()),
    }
}
