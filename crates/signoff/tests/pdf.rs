//! The PDF of a signed form renders (Chinese text embedded and extractable, the
//! handwriting drawn, the key named by its fingerprint with what to check it against),
//! checked with poppler's tools when they are installed; a handwriting PNG that is too
//! large, claims a huge canvas or is cut short is refused before anything is rendered.

use std::process::Command;

use chrono::{TimeZone, Utc};
use jsjb_core::clock::ClockKind;
use jsjb_core::form::{
    FORM_FORMAT, FeedbackForm, FormDelegation, FormExtension, FormFeedback, FormLetter, FormSigner,
    Milestone, Outcome, Party, Stamp,
};
use jsjb_core::letter::{Category, Channel, FormDecision, LetterId};
use jsjb_core::org::Role;
use jsjb_signoff::export::KEY_CHECK_ZH;
use jsjb_signoff::handwriting::{self, HandwritingError, sample_png};
use jsjb_signoff::pdf::{CjkFont, PdfError, render, verification_rows};
use jsjb_signoff::verify::sha256_hex;
use jsjb_signoff::{Signer, SoftwareSigner};

fn at(h: u32, m: u32) -> Stamp {
    Stamp::new(
        Utc.with_ymd_and_hms(2026, 3, 2, h, m, 0)
            .single()
            .expect("time"),
    )
}

fn form(png: &[u8]) -> FeedbackForm {
    let party = |id, name: &str| Party {
        id,
        name: name.to_owned(),
    };
    FeedbackForm {
        format: FORM_FORMAT.to_owned(),
        letter: FormLetter {
            id: LetterId(42),
            code: "SZ20260302A7K9".to_owned(),
            channel: Channel::Web,
            category: Category::Help,
            received_at: at(1, 0),
            subject: "小区夜间施工噪音扰民".to_owned(),
            writer_name: "张**".to_owned(),
            writer_phone: "138****5678".to_owned(),
            version: 9,
        },
        handling_unit: party(11, "福田派出所"),
        handler: Some(party(111, "李明")),
        milestones: vec![
            Milestone { clock: ClockKind::SignFor, unit: Some(party(11, "福田派出所")), started_at: at(1, 2), due_at: at(1, 12), original_due_at: None, met_at: Some(at(1, 8)), outcome: Outcome::Met },
            Milestone { clock: ClockKind::Contact, unit: None, started_at: at(1, 0), due_at: at(1, 30), original_due_at: None, met_at: Some(at(1, 20)), outcome: Outcome::Met },
            Milestone { clock: ClockKind::FirstFeedback, unit: None, started_at: at(1, 0), due_at: at(5, 0), original_due_at: None, met_at: Some(at(3, 0)), outcome: Outcome::Met },
            Milestone { clock: ClockKind::Closure, unit: None, started_at: at(1, 0), due_at: at(23, 0), original_due_at: Some(at(20, 0)), met_at: None, outcome: Outcome::Running },
        ],
        extensions: vec![FormExtension {
            requested_at: at(4, 0),
            reason: "需调取监控录像".to_owned(),
            legal_basis: "《信访工作条例》第三十五条".to_owned(),
            requested_due: at(23, 0),
            decision: None,
        }],
        feedback: FormFeedback {
            submitted_at: at(9, 0),
            summary: "经现场核查，该工地夜间违规施工属实，已联合城管部门责令其停止夜间施工，并对施工单位负责人进行了批评教育。".to_owned(),
            result: "已解决".to_owned(),
            reply: "您反映的夜间施工噪音问题已处理，施工单位承诺晚十点后停止施工。感谢您的监督。".to_owned(),
        },
        decision: FormDecision::Approve,
        opinion: "同意办结。".to_owned(),
        signer: FormSigner {
            user: party(113, "王副所长"),
            unit: party(11, "福田派出所"),
            role: Role::Chief,
            on_behalf_of: Some(FormDelegation { grant_id: 3, chief: party(112, "陈所长") }),
        },
        handwriting_sha256: sha256_hex(png),
        signed_at: at(10, 5),
    }
}

#[test]
fn the_signed_form_renders_as_a_pdf_with_chinese_text_and_the_handwriting() {
    let png = sample_png(7);
    let bytes = form(&png).to_canonical().expect("canonical");
    let signer = SoftwareSigner::generate().expect("key");
    let sig = signer.sign(&bytes).expect("sign");
    let pem = signer.public_key().to_pem().expect("pem");
    let font = CjkFont::find().expect("a CJK font (cargo xtask setup installs fonts-noto-cjk)");
    let pdf = render(&font, &bytes, &sig, &pem, Some(&png)).expect("render");
    assert!(pdf.starts_with(b"%PDF-"));
    // Subset: far smaller than the 16 MB collection.
    assert!(pdf.len() < 400_000, "{} bytes", pdf.len());

    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("form.pdf");
    std::fs::write(&path, &pdf).expect("write");
    if let Some(out) = std::env::var_os("JSJB_PDF_OUT") {
        std::fs::write(out, &pdf).expect("write a copy to look at");
    }
    // poppler-utils is not part of the machine's base image: check with it when present.
    let Ok(text) = Command::new("pdftotext")
        .args(["-enc", "UTF-8"])
        .arg(&path)
        .arg("-")
        .output()
    else {
        eprintln!("pdftotext not installed (poppler-utils): skipping the rendering checks");
        return;
    };
    assert!(
        text.status.success(),
        "{}",
        String::from_utf8_lossy(&text.stderr)
    );
    let text = String::from_utf8_lossy(&text.stdout);
    for expected in [
        "局长信箱来信办理反馈表",
        "福田派出所",
        "同意办结",
        "代 陈所长",
        "签名有效",
        "openssl pkeyutl",
        "密钥核对",
        "请将此指纹与本局公布的签名密钥清单核对",
        &signer.public_key().fingerprint().expect("fingerprint"),
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
    let png_out = dir.path().join("page");
    let status = Command::new("pdftoppm")
        .args(["-png", "-r", "60", "-f", "1", "-l", "1"])
        .arg(&path)
        .arg(&png_out)
        .status()
        .expect("pdftoppm");
    assert!(status.success());
    let page = std::fs::read_dir(dir.path())
        .expect("dir")
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().starts_with("page"))
        .expect("a PNG page");
    assert!(std::fs::metadata(page.path()).expect("meta").len() > 10_000);
}

#[test]
fn the_verification_block_names_the_key_by_fingerprint_and_says_to_check_the_published_list() {
    let png = sample_png(3);
    let f = form(&png);
    let bytes = f.to_canonical().expect("canonical");
    let signer = SoftwareSigner::generate().expect("key");
    let sig = signer.sign(&bytes).expect("sign");
    let rows = verification_rows(&f, &bytes, &sig, signer.public_key(), true);
    let find = |label: &str| {
        rows.iter()
            .position(|(l, _)| *l == label)
            .unwrap_or_else(|| panic!("{label} missing: {rows:?}"))
    };
    let fingerprint = signer.public_key().fingerprint().expect("fingerprint");
    assert_eq!(rows[find("公钥指纹 SM3")].1, fingerprint);
    let check = find("密钥核对");
    assert_eq!(
        check,
        find("公钥指纹 SM3") + 1,
        "right under the fingerprint"
    );
    assert_eq!(rows[check].1, KEY_CHECK_ZH);
    assert!(
        rows[check]
            .1
            .starts_with("请将此指纹与本局公布的签名密钥清单核对")
    );
}

/// A PNG chunk with its CRC (PNG's CRC-32, ISO 3309).
fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut crc = 0xffff_ffff_u32;
    for byte in kind.iter().chain(data) {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    let mut out = Vec::new();
    out.extend_from_slice(&u32::try_from(data.len()).expect("len").to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    out.extend_from_slice(&(!crc).to_be_bytes());
    out
}

/// A well-formed PNG header claiming `width`×`height` RGBA pixels, with a few bytes of
/// image data: a file of under a hundred bytes that asks for a huge canvas.
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(chunk(b"IHDR", &ihdr));
    png.extend(chunk(
        b"IDAT",
        &miniz_oxide::deflate::compress_to_vec_zlib(&[0; 64], 6),
    ));
    png.extend(chunk(b"IEND", &[]));
    png
}

/// A real, valid PNG of `width`×`height` (grey, 8 bit).
fn grey_png(width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let pixels = vec![200_u8; (width * height) as usize];
    encoder
        .write_header()
        .and_then(|mut w| w.write_image_data(&pixels))
        .expect("encode");
    out
}

#[test]
fn a_handwriting_png_too_large_huge_or_cut_short_is_refused_before_rendering() {
    let good = sample_png(7);
    let image = handwriting::decode(&good).expect("the pad's PNG decodes");
    assert_eq!((image.width, image.height), (320, 110));
    assert_eq!(image.rgb.len(), 320 * 110 * 3);

    // A header claiming 1 000 000 × 1 000 000 pixels (4 TB of RGBA) in 90 bytes.
    let huge = png_claiming(1_000_000, 1_000_000);
    assert!(huge.len() < 200);
    assert!(matches!(
        handwriting::decode(&huge),
        Err(HandwritingError::TooManyPixels {
            width: 1_000_000,
            ..
        })
    ));
    // Valid, small in bytes, but wider than any pad.
    let wide = grey_png(handwriting::MAX_WIDTH + 1, 2);
    assert!(matches!(
        handwriting::decode(&wide),
        Err(HandwritingError::TooManyPixels { .. })
    ));
    // Cut short: the magic and the header are there, the data is not.
    let cut = &good[..good.len() / 2];
    assert!(matches!(
        handwriting::decode(cut),
        Err(HandwritingError::Invalid(_))
    ));
    // The end (IEND) cut off.
    let no_end = &good[..good.len() - 12];
    assert!(matches!(
        handwriting::decode(no_end),
        Err(HandwritingError::Invalid(_))
    ));
    // Too many bytes, and not a PNG.
    let mut big = good.clone();
    big.resize(handwriting::MAX_BYTES + 1, 0);
    assert!(matches!(
        handwriting::decode(&big),
        Err(HandwritingError::TooLarge(_))
    ));
    assert!(matches!(
        handwriting::decode(b"GIF89a"),
        Err(HandwritingError::NotPng)
    ));

    // The PDF refuses them before laying anything out.
    let font = CjkFont::find().expect("a CJK font (cargo xtask setup installs fonts-noto-cjk)");
    for bad in [&huge[..], &wide[..], cut, no_end] {
        let bytes = form(bad).to_canonical().expect("canonical");
        let signer = SoftwareSigner::generate().expect("key");
        let sig = signer.sign(&bytes).expect("sign");
        let pem = signer.public_key().to_pem().expect("pem");
        assert!(matches!(
            render(&font, &bytes, &sig, &pem, Some(bad)),
            Err(PdfError::Image(_))
        ));
    }
}
