//! A conversation on a messaging channel (WeChat, Weibo) becoming a letter.
//!
//! Chat is how citizens use these channels: several short messages, a photo, a voice
//! note. So messages collect into a *draft* per sender, and the writer sends 「提交」
//! when done; the reply carries the tracking code. Because the platforms do not give
//! the writer's phone number, a message that is only a mobile number is taken as the
//! phone, and 「提交」 asks for it when it is missing. 「取消」 drops the draft, 「帮助」
//! explains, 「进度」 tells how to follow progress. A draft untouched for 24 hours is
//! forgotten. The category is guessed from keywords; the desks reclassify.
//!
//! Every step answers with a short text the channel sends back as its passive reply.

use chrono::Duration;
use jsjb_core::letter::{Category, Channel};

use crate::attachments::{MAX_IMAGES, MAX_VOICE_CLIPS, sniff};
use crate::error::ApiError;
use crate::intake::{self, LetterInput, MAX_BODY_CHARS};
use crate::state::AppState;
use jsjb_storage::{AttachmentKind, AttachmentMeta, DraftEdit, DraftMessage, DraftOutcome};

/// A draft untouched for this long is started afresh.
const DRAFT_TTL_HOURS: i64 = 24;
const SUBJECT_CHARS: usize = 30;

#[derive(Debug, Clone)]
pub enum Incoming {
    Text(String),
    /// An image or voice clip: the bytes when they could be fetched, the platform's
    /// reference (MediaId, URL) either way, and WeChat's speech recognition if any.
    Media {
        kind: AttachmentKind,
        bytes: Option<Vec<u8>>,
        reference: String,
        recognition: Option<String>,
    },
    /// The writer followed the account.
    Followed,
    /// Anything else (location, link, video…).
    Other,
}

#[derive(Debug, Clone)]
pub struct Message {
    pub channel: Channel,
    pub sender: String,
    pub sender_name: String,
    /// The platform's message id, to ignore redeliveries.
    pub msg_id: Option<String>,
    pub incoming: Incoming,
}

pub const WELCOME: &str = "您好，这里是深圳市公安局“局长信箱”。请直接发送文字、图片或语音说明您的诉求，并发送您的手机号码（11 位）；写完后发送“提交”，我们会回复查询编号。发送“帮助”查看说明。";
const HELP: &str = "留言方法：1. 发送文字、图片（最多 9 张）或语音（最多 3 段）说明情况；2. 发送您的手机号码（11 位），便于民警联系您；3. 发送“提交”完成留言，您会收到查询编号。发送“取消”放弃本次留言。紧急情况请拨打 110。";
const PROGRESS: &str = "查询进度：请在“局长信箱”网站的“查询进度”页面输入查询编号和手机号后四位。";
/// How many of the sender's letters 「进度」 tells about, newest first.
const PROGRESS_LETTERS: u32 = 3;
/// A feedback or reply quoted in the chat is cut here (the whole is on the website).
const PROGRESS_DETAIL_CHARS: usize = 80;

/// The answer to a message holding characters a letter may not (control characters).
const UNREADABLE: &str = "这条消息含有无法识别的字符，没有记入。请重新输入文字。";

fn first_reply() -> &'static str {
    "已收到。您可继续发送文字、图片或语音补充；请发送您的手机号码（11 位）；写完后发送“提交”。"
}

/// Handles one message; `None` for a redelivery (already answered).
///
/// The message id is noted in the same transaction that stores what the message
/// changed ([`jsjb_storage::Storage::apply_message`]): a message that could not be
/// stored gets an error (the platform redelivers it), never a "delivered".
pub async fn handle(state: &AppState, mut msg: Message) -> Result<Option<String>, ApiError> {
    let now = state.time.now();
    // What the platform sent is hostile text like any other: a control character (a
    // NUL, which PostgreSQL cannot store) is answered, never stored, so the message is
    // delivered once and not redelivered for ever after a database error.
    let hostile = [
        Some(&msg.sender),
        Some(&msg.sender_name),
        msg.msg_id.as_ref(),
    ]
    .into_iter()
    .flatten()
    .any(|text| crate::extract::refused_control(text).is_some());
    if hostile {
        tracing::warn!(
            channel = msg.channel.as_str(),
            "a message with control characters in its sender; not stored"
        );
        return Ok(Some(UNREADABLE.to_owned()));
    }
    if let Incoming::Media {
        reference,
        recognition,
        ..
    } = &mut msg.incoming
    {
        // Only notes for the desk: what cannot be shown is left out.
        reference.retain(|c| !c.is_control());
        if let Some(text) = recognition {
            *text = text.replace(|c: char| c.is_control() && c != '\n', "");
        }
    }
    if let Some(id) = &msg.msg_id
        && state.store.message_seen(msg.channel, id).await?
    {
        return Ok(None);
    }
    let key = format!("{}:{}", msg.channel.as_str(), msg.sender);
    match state.citizen.limits.check_ip(&key, now).await {
        Ok(()) => {}
        Err(ApiError::RateLimited { .. }) => {
            return Ok(Some("您发送得太频繁了，请稍后再试。".to_owned()));
        }
        Err(e) => return Err(e),
    }
    // Taken out so that the media bytes are moved, not copied.
    let incoming = std::mem::replace(&mut msg.incoming, Incoming::Other);
    let apply = |edit: DraftEdit| {
        state.store.apply_message(DraftMessage {
            channel: msg.channel,
            sender: msg.sender.clone(),
            sender_name: msg.sender_name.clone(),
            msg_id: msg.msg_id.clone(),
            at: now,
            fresh_since: now - Duration::hours(DRAFT_TTL_HOURS),
            edit,
        })
    };
    let (edit, answer) = match incoming {
        Incoming::Followed => (DraftEdit::Nothing, Answer::Fixed(WELCOME.to_owned())),
        Incoming::Other => (
            DraftEdit::Nothing,
            Answer::Fixed("暂不支持这类消息。请发送文字、图片或语音。".to_owned()),
        ),
        Incoming::Text(text) => match text.trim() {
            "提交" => return submit(state, &msg, now).await.map(Some),
            "取消" => (
                DraftEdit::Delete,
                Answer::Fixed("已取消本次留言。需要时可随时重新发送。".to_owned()),
            ),
            "帮助" | "?" | "？" | "" => (DraftEdit::Nothing, Answer::Fixed(HELP.to_owned())),
            "进度" | "查询" => (
                DraftEdit::Nothing,
                Answer::Fixed(progress_reply(state, &msg).await?),
            ),
            phone if intake::is_mobile(phone) => (
                DraftEdit::SetPhone(phone.to_owned()),
                Answer::Fixed(format!(
                    "已记下您的手机号 {}。写完后请发送“提交”。",
                    super::otp::mask_phone(phone)
                )),
            ),
            text if crate::extract::refused_control(text).is_some() => {
                return Ok(Some(UNREADABLE.to_owned()));
            }
            text => (
                DraftEdit::AppendText {
                    text: text.to_owned(),
                    max_chars: MAX_BODY_CHARS,
                },
                Answer::Added("已收到。写完后请发送“提交”。".to_owned()),
            ),
        },
        Incoming::Media {
            kind,
            bytes,
            reference,
            recognition,
        } => {
            let (max, what) = match kind {
                AttachmentKind::Image => (MAX_IMAGES, "图片"),
                AttachmentKind::Voice => (MAX_VOICE_CLIPS, "语音"),
            };
            let mut notes = Vec::new();
            let attachment = match bytes {
                Some(bytes) => {
                    let (sniffed, mime) = match sniff(&bytes) {
                        Ok(found) => found,
                        Err(_) => return Ok(Some(format!("这个{what}的格式无法识别，没有记入。"))),
                    };
                    if sniffed != kind || bytes.len() > crate::attachments::max_bytes(kind) {
                        return Ok(Some(format!(
                            "这个{what}的格式或大小不符合要求，没有记入。"
                        )));
                    }
                    // The blob goes in first: if the draft is then not stored, an orphan
                    // blob is harmless, and the redelivery stores the same bytes again.
                    let blobs = state.blobs.clone();
                    let size = bytes.len() as u64;
                    let sha256 = tokio::task::spawn_blocking(move || blobs.put(&bytes))
                        .await
                        .map_err(|e| ApiError::Internal(format!("blob task: {e}")))?
                        .map_err(|e| ApiError::Internal(format!("storing media: {e}")))?;
                    Some(AttachmentMeta {
                        sha256,
                        mime: mime.to_owned(),
                        size,
                        kind,
                    })
                }
                None => {
                    // Keep the reference so that the desk can fetch it from the
                    // platform's console; nothing the writer sent is lost.
                    notes.push(format!("[{what}：{reference}，未能自动下载]"));
                    None
                }
            };
            if let Some(text) = recognition.filter(|t| !t.trim().is_empty()) {
                notes.push(format!("[语音转文字] {}", text.trim()));
            }
            (
                DraftEdit::AddMedia {
                    kind,
                    attachment,
                    notes,
                    max_of_kind: max,
                },
                Answer::Added(format!("已收到{what}。写完后请发送“提交”。")),
            )
        }
    };
    let kind_limit = match &edit {
        DraftEdit::AddMedia {
            kind, max_of_kind, ..
        } => Some((
            *max_of_kind,
            if *kind == AttachmentKind::Image {
                "图片"
            } else {
                "语音"
            },
        )),
        _ => None,
    };
    let reply = match apply(edit).await? {
        DraftOutcome::Redelivery => return Ok(None),
        DraftOutcome::TooLong => {
            format!("留言最多 {MAX_BODY_CHARS} 字，这条没有记入。请发送“提交”完成本次留言。")
        }
        DraftOutcome::TooManyOfKind => {
            let (max, what) = kind_limit.unwrap_or((0, "附件"));
            format!("一封留言最多 {max} 个{what}，这个没有记入。")
        }
        DraftOutcome::Applied { was_new } => match answer {
            Answer::Fixed(text) => text,
            Answer::Added(_) if was_new => first_reply().to_owned(),
            Answer::Added(text) => text,
        },
    };
    Ok(Some(reply))
}

/// 「进度」: the milestones of the letters this sender wrote on this channel (the
/// platform vouches for the sender: the same OpenID or uid that wrote them), newest
/// first, each with its state, its latest step and what the writer was told.
async fn progress_reply(state: &AppState, msg: &Message) -> Result<String, ApiError> {
    use super::pages::{cst, milestone_label, state_label};
    let codes = state
        .store
        .letters_from_sender(msg.channel, &msg.sender, PROGRESS_LETTERS)
        .await?;
    if codes.is_empty() {
        return Ok(format!("没有找到您在这里提交的留言。{PROGRESS}"));
    }
    let mut lines = vec!["您的留言办理进度：".to_owned()];
    for (i, code) in codes.iter().enumerate() {
        let Some(record) = state.store.progress(code).await? else {
            continue;
        };
        let p = crate::intake::public_progress(&record);
        lines.push(format!(
            "{}. 编号 {}，{} 受理，当前：{}",
            i + 1,
            p.tracking_code,
            cst(p.received_at),
            state_label(p.state)
        ));
        for m in p.milestones.iter().skip(1).rev().take(3).rev() {
            let mut line = format!("   {} {}", cst(m.at), milestone_label(&m.kind));
            if let Some(detail) = m.detail.as_deref().filter(|_| m.kind != "extended") {
                let mut short: String = detail.chars().take(PROGRESS_DETAIL_CHARS).collect();
                if detail.chars().count() > PROGRESS_DETAIL_CHARS {
                    short.push('…');
                }
                line.push_str(&format!("：{short}"));
            }
            if let Some(due) = m
                .detail
                .as_deref()
                .filter(|_| m.kind == "extended")
                .and_then(|d| chrono::DateTime::parse_from_rfc3339(d).ok())
            {
                line.push_str(&format!(
                    "，新的期限 {}",
                    cst(due.with_timezone(&chrono::Utc))
                ));
            }
            lines.push(line);
        }
    }
    lines.push("完整进度请在“局长信箱”网站输入查询编号和手机号后四位查看。".to_owned());
    Ok(lines.join("\n"))
}

/// The reply to a message, once it is stored.
enum Answer {
    /// The same whatever the draft was.
    Fixed(String),
    /// Something was added: the first message of a draft gets the longer explanation.
    Added(String),
}

/// Guesses the category from keywords; the desk reclassifies when it is wrong.
pub fn guess_category(text: &str) -> Category {
    let has = |words: &[&str]| words.iter().any(|w| text.contains(w));
    if has(&["感谢", "谢谢", "锦旗", "表扬"]) {
        Category::Thanks
    } else if has(&["举报", "投诉"]) {
        Category::Complaint
    } else if has(&["建议", "意见"]) {
        Category::Suggestion
    } else if has(&["咨询", "请问", "如何办理", "怎么办理"]) {
        Category::Inquiry
    } else {
        Category::Help
    }
}

/// The first line of the text, shortened: the letter's subject.
pub fn subject_of(text: &str, fallback: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or(fallback);
    let mut subject: String = line.chars().take(SUBJECT_CHARS).collect();
    if line.chars().count() > SUBJECT_CHARS {
        subject.push('…');
    }
    subject
}

/// 「提交」: the draft becomes a letter. The id is noted only after the letter is
/// stored; a redelivery in between meets duplicate detection and gets the same code.
async fn submit(
    state: &AppState,
    msg: &Message,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<String, ApiError> {
    let note = |edit: DraftEdit| {
        state.store.apply_message(DraftMessage {
            channel: msg.channel,
            sender: msg.sender.clone(),
            sender_name: msg.sender_name.clone(),
            msg_id: msg.msg_id.clone(),
            at: now,
            fresh_since: now - Duration::hours(DRAFT_TTL_HOURS),
            edit,
        })
    };
    let draft = state
        .store
        .draft(msg.channel, &msg.sender)
        .await?
        .filter(|d| d.updated_at >= now - Duration::hours(DRAFT_TTL_HOURS));
    let Some(draft) = draft.filter(|d| !d.body.trim().is_empty() || !d.attachments.is_empty())
    else {
        note(DraftEdit::Nothing).await?;
        return Ok("还没有留言内容。请先发送文字、图片或语音，再发送“提交”。".to_owned());
    };
    let Some(phone) = draft.phone.clone() else {
        // Keep what was written: the writer only has to add the phone.
        note(DraftEdit::Touch).await?;
        return Ok("请发送您的手机号码（11 位），以便民警与您联系；然后再发送“提交”。".to_owned());
    };
    let channel_name = match draft.channel {
        Channel::Weibo => "微博用户",
        _ => "微信用户",
    };
    // Kept under the key 「进度」 finds the writer's letters by.
    let id_key = jsjb_storage::sender_contact_key(draft.channel).unwrap_or("sender");
    let body = if draft.body.trim().is_empty() {
        "（图片或语音留言，见附件）".to_owned()
    } else {
        draft.body.clone()
    };
    let mut contact = serde_json::Map::new();
    contact.insert(id_key.to_owned(), draft.sender.clone().into());
    let name: String = if draft.sender_name.trim().is_empty() {
        channel_name.to_owned()
    } else {
        draft.sender_name.chars().take(32).collect()
    };
    let input = LetterInput {
        category: guess_category(&body),
        problem_tags: Vec::new(),
        subject: subject_of(&body, "留言"),
        body,
        writer_name: name,
        writer_phone: phone,
        writer_contact: Some(contact),
    };
    let stored = draft
        .attachments
        .iter()
        .cloned()
        .map(|a| (a, None))
        .collect();
    match intake::accept_public_letter(state, draft.channel, input, Vec::new(), stored).await {
        Ok(receipt) => {
            note(DraftEdit::Submitted(draft)).await?;
            Ok(format!(
                "您的留言已受理，查询编号：{}。请凭查询编号和手机号后四位在“局长信箱”网站查询办理进度。",
                receipt.tracking_code
            ))
        }
        Err(ApiError::RateLimited { .. }) => {
            note(DraftEdit::Nothing).await?;
            Ok("今天从这个手机号提交的留言较多，请稍后再提交。".to_owned())
        }
        Err(ApiError::Invalid { message, .. }) => {
            tracing::info!(%message, "a conversation draft was refused");
            note(DraftEdit::Nothing).await?;
            Ok("留言内容不符合要求，请检查后再发送“提交”。".to_owned())
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_and_subjects() {
        assert_eq!(guess_category("我要举报噪音"), Category::Complaint);
        assert_eq!(guess_category("感谢民警"), Category::Thanks);
        assert_eq!(guess_category("钱包丢了"), Category::Help);
        assert_eq!(subject_of("\n  第一行\n第二行", "x"), "第一行");
        assert_eq!(subject_of("", "留言"), "留言");
        assert_eq!(subject_of(&"长".repeat(40), "x").chars().count(), 31);
    }
}
