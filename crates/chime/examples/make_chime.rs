//! Regenerates `crates/chime/assets/arrival.wav` and `warning.wav` from `jsjb_chime::synth`.
//!
//! The chime is synthesised by us from sine waves (no third-party recording, no licence
//! concerns). Run after changing the synthesiser, then commit the WAV:
//! `cargo run -p jsjb-chime --example make_chime`

use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let assets = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets");
    for (name, bytes) in [
        ("arrival.wav", jsjb_chime::synth::arrival_wav()),
        ("warning.wav", jsjb_chime::synth::warning_wav()),
    ] {
        let path = assets.join(name);
        std::fs::write(&path, &bytes)?;
        println!("wrote {} ({} bytes)", path.display(), bytes.len());
    }
    Ok(())
}
