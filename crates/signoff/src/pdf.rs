//! The printable PDF of a signed form: the form laid out like the paper 反馈表, the
//! handwritten signature, and a verification block (SM3 digest, DER signature, key
//! fingerprint, signer ID and the OpenSSL command).
//!
//! The font is a CJK font from the system (Debian: `fonts-noto-cjk`; or the file named
//! by `JSJB_CJK_FONT`), of which only the glyphs used are embedded (subset, CID-keyed,
//! with a ToUnicode map so the text can be copied and searched).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use jsjb_core::clock::ClockKind;
use jsjb_core::form::{FeedbackForm, Outcome};
use jsjb_core::letter::{Category, Channel, FormDecision};
use pdf_writer::types::{CidFontType, FontFlags, SystemInfo, UnicodeCmap};
use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, Str};

use crate::crypto::{DIST_ID, PublicKey, sm3_hex};
use crate::export::{KEY_CHECK_ZH, OPENSSL_FINGERPRINT, OPENSSL_VERIFY};
use crate::handwriting::{self, HandwritingError};

#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error(
        "no CJK font found (install fonts-noto-cjk, or set JSJB_CJK_FONT to a .ttc/.otf/.ttf); looked at {0:?}"
    )]
    NoFont(Vec<PathBuf>),
    #[error("font: {0}")]
    Font(String),
    #[error("the signed form cannot be read: {0}")]
    Form(String),
    #[error("the handwriting image is refused: {0}")]
    Image(#[from] HandwritingError),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

/// Where a CJK font is looked for when `JSJB_CJK_FONT` is not set.
pub const FONT_CANDIDATES: &[&str] = &[
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
];

/// A CJK font, loaded from a file (a collection's Simplified Chinese face).
pub struct CjkFont {
    data: Vec<u8>,
    index: u32,
}

impl CjkFont {
    /// The font named by `JSJB_CJK_FONT`, else the first of [`FONT_CANDIDATES`] present.
    pub fn find() -> Result<CjkFont, PdfError> {
        let mut paths: Vec<PathBuf> = std::env::var_os("JSJB_CJK_FONT")
            .map(PathBuf::from)
            .into_iter()
            .collect();
        paths.extend(FONT_CANDIDATES.iter().map(PathBuf::from));
        for path in &paths {
            if path.is_file() {
                return CjkFont::load(path);
            }
        }
        Err(PdfError::NoFont(paths))
    }

    /// Loads a font file; in a collection, picks the face whose family says "SC".
    pub fn load(path: &Path) -> Result<CjkFont, PdfError> {
        let data = std::fs::read(path)?;
        let count = ttf_parser::fonts_in_collection(&data).unwrap_or(1);
        let mut chosen = None;
        for index in 0..count {
            let Ok(face) = ttf_parser::Face::parse(&data, index) else {
                continue;
            };
            let family = face
                .names()
                .into_iter()
                .filter(|n| n.name_id == ttf_parser::name_id::FAMILY)
                .find_map(|n| n.to_string())
                .unwrap_or_default();
            if chosen.is_none() && face.glyph_index('国').is_some() {
                chosen = Some(index);
            }
            if family.contains(" SC") && face.glyph_index('国').is_some() {
                chosen = Some(index);
                break;
            }
        }
        let index = chosen
            .ok_or_else(|| PdfError::Font(format!("{} has no Chinese glyphs", path.display())))?;
        Ok(CjkFont { data, index })
    }
}

/// The glyphs used, remapped to consecutive ids (which the subset uses as CIDs).
struct Glyphs<'f> {
    face: ttf_parser::Face<'f>,
    remapper: subsetter::GlyphRemapper,
    /// char → new glyph id
    used: BTreeMap<char, u16>,
    units_per_em: f32,
}

impl<'f> Glyphs<'f> {
    fn new(font: &'f CjkFont) -> Result<Glyphs<'f>, PdfError> {
        let face = ttf_parser::Face::parse(&font.data, font.index)
            .map_err(|e| PdfError::Font(e.to_string()))?;
        let units_per_em = f32::from(face.units_per_em());
        Ok(Glyphs {
            face,
            remapper: subsetter::GlyphRemapper::new(),
            used: BTreeMap::new(),
            units_per_em,
        })
    }

    fn old_id(&self, c: char) -> u16 {
        self.face.glyph_index(c).map(|g| g.0).unwrap_or(0)
    }

    /// Width of `c` at 1 pt.
    fn advance(&self, c: char) -> f32 {
        let gid = ttf_parser::GlyphId(self.old_id(c));
        f32::from(self.face.glyph_hor_advance(gid).unwrap_or(0)) / self.units_per_em
    }

    fn width(&self, text: &str, size: f32) -> f32 {
        text.chars().map(|c| self.advance(c)).sum::<f32>() * size
    }

    /// The string operand for `text`: 2-byte CIDs.
    fn encode(&mut self, text: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(text.len() * 2);
        for c in text.chars() {
            let old = self.old_id(c);
            let new = self.remapper.remap(old);
            self.used.entry(c).or_insert(new);
            out.extend_from_slice(&new.to_be_bytes());
        }
        out
    }
}

const PAGE_W: f32 = 595.0;
const PAGE_H: f32 = 842.0;
const MARGIN: f32 = 48.0;

/// A laid-out page: its content stream and whether it shows the handwriting image.
struct Layout<'f> {
    glyphs: Glyphs<'f>,
    pages: Vec<Content>,
    y: f32,
    /// (page, x, y, width, height) of the handwriting image.
    image_at: Option<(usize, f32, f32, f32, f32)>,
}

impl<'f> Layout<'f> {
    fn page(&mut self) -> &mut Content {
        if self.pages.is_empty() {
            self.pages.push(Content::new());
        }
        let last = self.pages.len() - 1;
        &mut self.pages[last]
    }

    fn new_page_if(&mut self, needed: f32) {
        if self.y - needed < MARGIN || self.pages.is_empty() {
            self.pages.push(Content::new());
            self.y = PAGE_H - MARGIN;
        }
    }

    fn text_at(&mut self, x: f32, size: f32, text: &str) {
        let bytes = self.glyphs.encode(text);
        let y = self.y;
        let page = self.page();
        page.begin_text();
        page.set_font(Name(b"F1"), size);
        page.next_line(x, y);
        page.show(Str(&bytes));
        page.end_text();
    }

    /// A line (wrapped to the width), moving down.
    fn para(&mut self, x: f32, size: f32, text: &str) {
        let max = PAGE_W - MARGIN - x;
        let mut line = String::new();
        let mut lines = Vec::new();
        for c in text.chars() {
            if c == '\n' {
                lines.push(std::mem::take(&mut line));
                continue;
            }
            line.push(c);
            if self.glyphs.width(&line, size) > max {
                line.pop();
                lines.push(std::mem::take(&mut line));
                line.push(c);
            }
        }
        lines.push(line);
        for l in lines {
            self.new_page_if(size * 1.42);
            self.y -= size * 1.42;
            self.text_at(x, size, &l);
        }
    }

    /// "label：value" with the value wrapped beside the label.
    fn field(&mut self, label: &str, value: &str) {
        self.new_page_if(16.0);
        let size = 10.5;
        let save = self.y;
        self.y -= size * 1.42;
        self.text_at(MARGIN, size, label);
        self.y = save;
        self.para(
            MARGIN + 78.0,
            size,
            if value.is_empty() { "—" } else { value },
        );
    }

    fn heading(&mut self, text: &str) {
        self.new_page_if(30.0);
        self.y -= 8.0;
        self.para(MARGIN, 12.5, text);
        let y = self.y - 4.0;
        let page = self.page();
        page.set_line_width(0.6);
        page.move_to(MARGIN, y);
        page.line_to(PAGE_W - MARGIN, y);
        page.stroke();
        self.y -= 4.0;
    }
}

fn cst(at: DateTime<Utc>) -> String {
    at.with_timezone(&jsjb_core::CST)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

fn channel_zh(c: Channel) -> &'static str {
    match c {
        Channel::Web => "网站",
        Channel::Weibo => "微博",
        Channel::Wechat => "微信",
        Channel::Phone => "电话",
    }
}

fn category_zh(c: Category) -> &'static str {
    match c {
        Category::Suggestion => "意见建议",
        Category::Help => "寻求帮助",
        Category::Complaint => "举报投诉",
        Category::Inquiry => "咨询",
        Category::Thanks => "感谢信",
    }
}

fn clock_zh(k: ClockKind) -> &'static str {
    match k {
        ClockKind::SignFor => "签收",
        ClockKind::Contact => "联系来信人",
        ClockKind::FirstFeedback => "首次反馈",
        ClockKind::Closure => "办结",
    }
}

fn outcome_zh(o: Outcome) -> &'static str {
    match o {
        Outcome::Met => "按时",
        Outcome::MetLate => "超时完成",
        Outcome::Running => "进行中",
        Outcome::Breached => "已超时",
        Outcome::LeftUnsigned => "未签收即转出",
    }
}

/// Breaks a long ASCII string (hex, base64, a command) into lines of `n` characters.
fn chunks(text: &str, n: usize) -> String {
    text.chars()
        .collect::<Vec<_>>()
        .chunks(n)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The verification block's rows (label, value), in order: what the PDF prints under
/// 电子签名验证信息, the key named by its fingerprint with what to check it against.
pub fn verification_rows(
    form: &FeedbackForm,
    form_bytes: &[u8],
    signature_der: &[u8],
    key: &PublicKey,
    verified: bool,
) -> Vec<(&'static str, String)> {
    vec![
        (
            "签名状态",
            if verified {
                "签名有效（SM2 签名与内容一致）"
            } else {
                "签名无效"
            }
            .to_owned(),
        ),
        (
            "算法",
            format!("SM2 / SM3（GB/T 32918），签名者 ID {DIST_ID}"),
        ),
        (
            "内容格式",
            format!("{}，{} 字节", form.format, form_bytes.len()),
        ),
        ("内容 SM3", chunks(&sm3_hex(form_bytes), 64)),
        ("手写签名哈希", chunks(&form.handwriting_sha256, 64)),
        (
            "公钥指纹 SM3",
            chunks(&key.fingerprint().unwrap_or_default(), 64),
        ),
        ("密钥核对", KEY_CHECK_ZH.to_owned()),
        ("签名值 DER", chunks(&crate::b64::encode(signature_der), 64)),
        ("离线验证", chunks(OPENSSL_VERIFY, 70)),
        ("计算指纹", chunks(OPENSSL_FINGERPRINT, 70)),
    ]
}

/// Renders the signed form as a PDF (A4). The handwriting is decoded and checked
/// ([`handwriting::decode`]: size, dimensions, complete) before anything is laid out.
pub fn render(
    font: &CjkFont,
    form_bytes: &[u8],
    signature_der: &[u8],
    public_key_pem: &str,
    handwriting_png: Option<&[u8]>,
) -> Result<Vec<u8>, PdfError> {
    let form =
        FeedbackForm::from_canonical(form_bytes).map_err(|e| PdfError::Form(e.to_string()))?;
    let key = PublicKey::from_pem(public_key_pem).map_err(|e| PdfError::Form(e.to_string()))?;
    let verified = key.verify(form_bytes, signature_der).is_ok();
    let image = handwriting_png.map(handwriting::decode).transpose()?;

    let mut l = Layout {
        glyphs: Glyphs::new(font)?,
        pages: Vec::new(),
        y: PAGE_H - MARGIN,
        image_at: None,
    };
    l.new_page_if(0.0);
    let title = jsjb_core::form::FORM_TITLE;
    let w = l.glyphs.width(title, 18.0);
    l.y -= 20.0;
    l.text_at((PAGE_W - w) / 2.0, 18.0, title);
    let sub = "（一把手签字审批 · 电子签名）";
    let w = l.glyphs.width(sub, 10.5);
    l.y -= 18.0;
    l.text_at((PAGE_W - w) / 2.0, 10.5, sub);

    l.heading("来信情况");
    l.field("受理编号", &form.letter.code);
    l.field("来信渠道", channel_zh(form.letter.channel));
    l.field("来信类别", category_zh(form.letter.category));
    l.field("受理时间", &cst(form.letter.received_at.time()));
    l.field("来信标题", &form.letter.subject);
    l.field(
        "来信人",
        &format!("{}  {}", form.letter.writer_name, form.letter.writer_phone),
    );

    l.heading("承办情况");
    l.field("承办单位", &form.handling_unit.name);
    l.field(
        "承办人",
        form.handler.as_ref().map_or("", |h| h.name.as_str()),
    );
    for m in &form.milestones {
        let label = clock_zh(m.clock);
        let mut value = match &m.unit {
            Some(unit) => format!("{}：期限 {}", unit.name, cst(m.due_at.time())),
            None => format!("期限 {}", cst(m.due_at.time())),
        };
        if let Some(orig) = m.original_due_at {
            value.push_str(&format!("（原期限 {}，已延期）", cst(orig.time())));
        }
        if let Some(met) = m.met_at {
            value.push_str(&format!("；完成 {}", cst(met.time())));
        }
        value.push_str(&format!("；{}", outcome_zh(m.outcome)));
        l.field(label, &value);
    }
    for x in &form.extensions {
        let decided = match &x.decision {
            Some(d) if d.approved => format!("已批准（{}）", cst(d.decided_at.time())),
            Some(d) => format!("未批准（{}）{}", cst(d.decided_at.time()), d.note),
            None => "待审批".to_owned(),
        };
        l.field(
            "延期",
            &format!(
                "{} 申请延至 {}；理由：{}；依据：{}；{}",
                cst(x.requested_at.time()),
                cst(x.requested_due.time()),
                x.reason,
                x.legal_basis,
                decided
            ),
        );
    }
    l.field("提交时间", &cst(form.feedback.submitted_at.time()));
    l.field("办理情况", &form.feedback.summary);
    l.field("办理结果", &form.feedback.result);
    l.field("答复来信人", &form.feedback.reply);

    l.heading("一把手签批");
    l.field(
        "签批决定",
        match form.decision {
            FormDecision::Approve => "同意办结",
            FormDecision::SendBack => "退回重办",
        },
    );
    l.field("签批意见", &form.opinion);
    let signer = match &form.signer.on_behalf_of {
        Some(d) => format!(
            "{}（代 {} 签批）  {}",
            form.signer.user.name, d.chief.name, form.signer.unit.name
        ),
        None => format!("{}  {}", form.signer.user.name, form.signer.unit.name),
    };
    l.field("签批人", &signer);
    l.field("签批时间", &cst(form.signed_at.time()));
    if let Some(img) = &image {
        let width = 180.0_f32;
        let height = width * (img.height as f32) / (img.width as f32).max(1.0);
        l.new_page_if(height + 20.0);
        l.y -= 16.0;
        l.text_at(MARGIN, 10.5, "手写签名");
        let page = l.pages.len() - 1;
        l.image_at = Some((page, MARGIN + 78.0, l.y - height + 10.0, width, height));
        l.y -= height;
    }

    l.heading("电子签名验证信息");
    for (label, value) in verification_rows(&form, form_bytes, signature_der, &key, verified) {
        l.field(label, &value);
    }

    let Layout {
        glyphs,
        pages,
        image_at,
        ..
    } = l;
    // Every glyph has been encoded now: subset the font to them.
    let subset = subsetter::subset(&font.data, font.index, &glyphs.remapper)
        .map_err(|e| PdfError::Font(format!("{e:?}")))?;
    let raw = ttf_parser::RawFace::parse(&subset, 0).map_err(|e| PdfError::Font(e.to_string()))?;
    let cff = raw
        .table(ttf_parser::Tag::from_bytes(b"CFF "))
        .map(<[u8]>::to_vec);

    let mut next = 1;
    let mut id = || {
        let r = Ref::new(next);
        next += 1;
        r
    };
    let catalog = id();
    let tree = id();
    let type0 = id();
    let cid = id();
    let descriptor = id();
    let font_file = id();
    let cmap_id = id();
    let image_ids = image.as_ref().map(|_| (id(), id()));
    let page_ids: Vec<(Ref, Ref)> = pages.iter().map(|_| (id(), id())).collect();

    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids(page_ids.iter().map(|(p, _)| *p))
        .count(i32::try_from(page_ids.len()).unwrap_or(1));
    let base = Name(b"JSJBSB+NotoSansCJKsc");
    let info = SystemInfo {
        registry: Str(b"Adobe"),
        ordering: Str(b"Identity"),
        supplement: 0,
    };
    pdf.type0_font(type0)
        .base_font(base)
        .encoding_predefined(Name(b"Identity-H"))
        .descendant_font(cid)
        .to_unicode(cmap_id);
    let mut widths: BTreeMap<u16, f32> = BTreeMap::new();
    for (c, new) in &glyphs.used {
        widths.insert(*new, glyphs.advance(*c) * 1000.0);
    }
    {
        let mut cid_font = pdf.cid_font(cid);
        cid_font
            .subtype(if cff.is_some() {
                CidFontType::Type0
            } else {
                CidFontType::Type2
            })
            .base_font(base)
            .system_info(info)
            .font_descriptor(descriptor)
            .default_width(1000.0);
        if cff.is_none() {
            cid_font.cid_to_gid_map_predefined(Name(b"Identity"));
        }
        let mut w = cid_font.widths();
        for (gid, width) in &widths {
            w.consecutive(*gid, [*width]);
        }
        w.finish();
    }
    let bbox = glyphs.face.global_bounding_box();
    let scale = 1000.0 / glyphs.units_per_em;
    {
        let mut fd = pdf.font_descriptor(descriptor);
        fd.name(base)
            .flags(FontFlags::NON_SYMBOLIC)
            .bbox(Rect::new(
                f32::from(bbox.x_min) * scale,
                f32::from(bbox.y_min) * scale,
                f32::from(bbox.x_max) * scale,
                f32::from(bbox.y_max) * scale,
            ))
            .italic_angle(0.0)
            .ascent(f32::from(glyphs.face.ascender()) * scale)
            .descent(f32::from(glyphs.face.descender()) * scale)
            .cap_height(f32::from(glyphs.face.capital_height().unwrap_or(700)) * scale)
            .stem_v(80.0);
        if cff.is_some() {
            fd.font_file3(font_file);
        } else {
            fd.font_file2(font_file);
        }
    }
    match &cff {
        Some(cff) => {
            let compressed = miniz_oxide::deflate::compress_to_vec_zlib(cff, 6);
            pdf.stream(font_file, &compressed)
                .filter(Filter::FlateDecode)
                .pair(Name(b"Subtype"), Name(b"CIDFontType0C"));
        }
        None => {
            let compressed = miniz_oxide::deflate::compress_to_vec_zlib(&subset, 6);
            pdf.stream(font_file, &compressed)
                .filter(Filter::FlateDecode);
        }
    }
    let mut cmap = UnicodeCmap::new(Name(b"Custom"), info);
    for (c, new) in &glyphs.used {
        cmap.pair(*new, *c);
    }
    pdf.cmap(cmap_id, &cmap.finish());

    if let (Some(decoded), Some((img, mask))) = (&image, image_ids) {
        let rgb = miniz_oxide::deflate::compress_to_vec_zlib(&decoded.rgb, 6);
        let alpha = miniz_oxide::deflate::compress_to_vec_zlib(&decoded.alpha, 6);
        let (w, h) = (
            i32::try_from(decoded.width).unwrap_or(1),
            i32::try_from(decoded.height).unwrap_or(1),
        );
        let mut x = pdf.image_xobject(img, &rgb);
        x.filter(Filter::FlateDecode);
        x.width(w).height(h).bits_per_component(8).s_mask(mask);
        x.color_space().device_rgb();
        x.finish();
        let mut m = pdf.image_xobject(mask, &alpha);
        m.filter(Filter::FlateDecode);
        m.width(w).height(h).bits_per_component(8);
        m.color_space().device_gray();
        m.finish();
    }

    for (i, (content, (page_id, content_id))) in pages.into_iter().zip(&page_ids).enumerate() {
        let mut content = content;
        if let (Some((p, x, y, w, h)), Some((img, _))) = (image_at, image_ids) {
            if p == i {
                content.save_state();
                content.transform([w, 0.0, 0.0, h, x, y]);
                content.x_object(Name(b"Im1"));
                content.restore_state();
                let _ = img;
            }
        }
        let stream = miniz_oxide::deflate::compress_to_vec_zlib(&content.finish(), 6);
        pdf.stream(*content_id, &stream).filter(Filter::FlateDecode);
        let mut page = pdf.page(*page_id);
        page.media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H))
            .parent(tree)
            .contents(*content_id);
        let mut resources = page.resources();
        resources.fonts().pair(Name(b"F1"), type0);
        if let Some((img, _)) = image_ids {
            resources.x_objects().pair(Name(b"Im1"), img);
        }
        resources.finish();
        page.finish();
    }
    Ok(pdf.finish())
}
