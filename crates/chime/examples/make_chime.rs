//! Regenerates `crates/chime/assets/arrival.wav` from `jsjb_chime::synth`.
//!
//! The chime is synthesised by us from sine waves (no third-party recording, no licence
//! concerns). Run after changing the synthesiser, then commit the WAV:
//! `cargo run -p jsjb-chime --example make_chime`

use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/arrival.wav");
    let bytes = jsjb_chime::synth::arrival_wav();
    std::fs::write(&path, &bytes)?;
    println!("wrote {} ({} bytes)", path.display(), bytes.len());
    Ok(())
}
