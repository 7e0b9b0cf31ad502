//! A drawn signature for tests and demo data: a PNG of a pen stroke, deterministic per
//! seed. Real signatures come from the signature pad on screen.

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
