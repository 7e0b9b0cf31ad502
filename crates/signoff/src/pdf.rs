//! The printable PDF of a signed form.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error(
        "no CJK font found (install fonts-noto-cjk, or set JSJB_CJK_FONT to a .ttc/.otf/.ttf): looked in {0:?}"
    )]
    NoFont(Vec<PathBuf>),
    #[error("font: {0}")]
    Font(String),
    #[error("the signed form cannot be read: {0}")]
    Form(String),
    #[error("the handwriting image cannot be read: {0}")]
    Image(String),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

/// A CJK font, loaded from a file.
pub struct CjkFont {
    data: Vec<u8>,
    index: u32,
}

impl CjkFont {
    pub fn find() -> Result<CjkFont, PdfError> {
        Err(PdfError::NoFont(Vec::new()))
    }

    pub fn load(path: &Path) -> Result<CjkFont, PdfError> {
        Ok(CjkFont {
            data: std::fs::read(path)?,
            index: 0,
        })
    }
}

pub fn render(
    font: &CjkFont,
    form_bytes: &[u8],
    signature_der: &[u8],
    public_key_pem: &str,
    handwriting_png: Option<&[u8]>,
) -> Result<Vec<u8>, PdfError> {
    let _ = (
        font.data.len(),
        font.index,
        form_bytes,
        signature_der,
        public_key_pem,
        handwriting_png,
    );
    Err(PdfError::Form("not yet".to_owned()))
}
