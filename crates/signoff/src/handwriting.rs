//! The handwritten signature: the checks every PNG passes before it is signed over or
//! drawn into a PDF ([`decode`]), and a drawn signature for tests and demo data
//! ([`sample_png`]). Real signatures come from the signature pad on screen.

/// The largest handwriting image accepted, in bytes (the server's cap too).
pub const MAX_BYTES: usize = 192 * 1024;
/// The widest and tallest image accepted: the pad is 420×150 CSS pixels, drawn at up
/// to twice that; this leaves room for any screen without letting a small file claim a
/// huge canvas.
pub const MAX_WIDTH: u32 = 4096;
pub const MAX_HEIGHT: u32 = 2048;
/// The most pixels accepted (16 MiB once expanded to RGBA).
pub const MAX_PIXELS: u64 = 4 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandwritingError {
    #[error("the handwriting is {0} bytes (at most {MAX_BYTES})")]
    TooLarge(usize),
    #[error("the handwriting is not a PNG")]
    NotPng,
    #[error(
        "the handwriting is {width}×{height} pixels (at most {MAX_WIDTH}×{MAX_HEIGHT}, {MAX_PIXELS} pixels)"
    )]
    TooManyPixels { width: u32, height: u32 },
    #[error("the handwriting PNG cannot be decoded: {0}")]
    Invalid(String),
}

/// A decoded handwriting image: 8-bit RGB and a separate 8-bit alpha channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
    pub alpha: Vec<u8>,
}

/// Decodes a handwriting PNG completely, refusing what is too large in bytes, what
/// claims too many pixels (checked on the header, before any pixel buffer is made),
/// and what does not decode to the end (truncated, bad checksum, wrong data length).
/// The decoder's own memory limit is set too, so no chunk can make it allocate more.
pub fn decode(png: &[u8]) -> Result<Image, HandwritingError> {
    if png.len() > MAX_BYTES {
        return Err(HandwritingError::TooLarge(png.len()));
    }
    if !png.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Err(HandwritingError::NotPng);
    }
    let invalid = |e: png::DecodingError| HandwritingError::Invalid(e.to_string());
    let limit = usize::try_from(MAX_PIXELS * 8).unwrap_or(usize::MAX);
    let mut decoder =
        png::Decoder::new_with_limits(std::io::Cursor::new(png), png::Limits { bytes: limit });
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(invalid)?;
    let (width, height) = {
        let info = reader.info();
        (info.width, info.height)
    };
    if width == 0
        || height == 0
        || width > MAX_WIDTH
        || height > MAX_HEIGHT
        || u64::from(width) * u64::from(height) > MAX_PIXELS
    {
        return Err(HandwritingError::TooManyPixels { width, height });
    }
    if reader.info().is_animated() {
        return Err(HandwritingError::Invalid("an animated PNG".to_owned()));
    }
    let size = reader
        .output_buffer_size()
        .ok_or(HandwritingError::TooManyPixels { width, height })?;
    let mut buf = vec![0; size];
    let info = reader.next_frame(&mut buf).map_err(invalid)?;
    // Read to the end: a file cut after the image data, or with junk chunks, fails here.
    reader.finish().map_err(invalid)?;
    let pixels = buf
        .get(..info.buffer_size())
        .ok_or_else(|| HandwritingError::Invalid("short frame".to_owned()))?;
    let n = usize::try_from(u64::from(width) * u64::from(height))
        .map_err(|_| HandwritingError::TooManyPixels { width, height })?;
    let (mut rgb, mut alpha) = (Vec::with_capacity(n * 3), Vec::with_capacity(n));
    match info.color_type {
        png::ColorType::Rgba => {
            for p in pixels.chunks_exact(4) {
                rgb.extend_from_slice(&p[..3]);
                alpha.push(p[3]);
            }
        }
        png::ColorType::Rgb => {
            rgb.extend_from_slice(pixels);
            alpha.resize(n, 255);
        }
        png::ColorType::GrayscaleAlpha => {
            for p in pixels.chunks_exact(2) {
                rgb.extend_from_slice(&[p[0], p[0], p[0]]);
                alpha.push(p[1]);
            }
        }
        png::ColorType::Grayscale => {
            for p in pixels {
                rgb.extend_from_slice(&[*p, *p, *p]);
            }
            alpha.resize(n, 255);
        }
        png::ColorType::Indexed => {
            return Err(HandwritingError::Invalid(
                "indexed PNG not expanded".to_owned(),
            ));
        }
    }
    if rgb.len() != n * 3 || alpha.len() != n {
        return Err(HandwritingError::Invalid(
            "unexpected pixel layout".to_owned(),
        ));
    }
    Ok(Image {
        width,
        height,
        rgb,
        alpha,
    })
}

/// A 320×110 transparent PNG with a dark pen stroke whose shape depends on `seed`.
pub fn sample_png(seed: u64) -> Vec<u8> {
    const W: u32 = 320;
    const H: u32 = 110;
    let mut pixels = vec![0_u8; (W * H * 4) as usize];
    let mut plot = |x: i64, y: i64| {
        for dy in -1..=1_i64 {
            for dx in -1..=1_i64 {
                let (px, py) = (x + dx, y + dy);
                if px >= 0 && py >= 0 && px < i64::from(W) && py < i64::from(H) {
                    let i = ((py as u32 * W + px as u32) * 4) as usize;
                    pixels[i..i + 4].copy_from_slice(&[20, 24, 60, 255]);
                }
            }
        }
    };
    // A few loops of a Lissajous-like curve, varied by the seed.
    let a = 2.0 + (seed % 3) as f64;
    let b = 3.0 + (seed / 3 % 4) as f64;
    let phase = (seed % 7) as f64 * 0.4;
    let steps = 4000;
    for i in 0..steps {
        let t = f64::from(i) / f64::from(steps);
        let x = 20.0 + t * 280.0 + 14.0 * (a * std::f64::consts::TAU * t + phase).sin();
        let y = 55.0 + 32.0 * (b * std::f64::consts::TAU * t).sin() * (1.0 - 0.5 * t);
        plot(x as i64, y as i64);
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, W, H);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    let written = encoder
        .write_header()
        .and_then(|mut w| w.write_image_data(&pixels));
    match written {
        Ok(()) => out,
        // Encoding a well-formed in-memory image cannot fail; an empty result would
        // be refused as "not a PNG" by the server rather than pass silently.
        Err(_) => Vec::new(),
    }
}
