//! `cargo xtask bench desk`: the desktop's own benchmark (tests/bench/desk.mjs) on
//! release builds — the first sign-in, cold start, the UI's queries through the real
//! commands, scrolling, and idle memory against a bare Tauri window (issue 15 items 2,
//! 4 and 6). A benchmark, not a test: it seeds 100,000 letters and takes several minutes.
//! `cargo xtask test` runs its script once at a small size on the debug builds
//! ([`desk_smoke`]), so that CI builds everything it runs and the script cannot rot.

use std::path::PathBuf;

use anyhow::{Result, bail};

use crate::setup;
use crate::shell::{self, say};

pub fn run(args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        Some("desk") => desk(&args[1..]),
        _ => bail!("usage: cargo xtask bench desk [--letters N] [--runs N] [--idle SECS]"),
    }
}

fn desk(rest: &[String]) -> Result<()> {
    setup::run()?;
    say("bench desk: the release UI, app, bare window and server");
    build_release()?;
    say("bench desk: running tests/bench/desk.mjs");
    run_desk("release", rest)
}

/// The `cargo xtask test` step: the bench's script on the debug builds at a small size,
/// so that it cannot rot. Its figures mean nothing and nothing is asserted about them.
pub fn desk_smoke() -> Result<()> {
    let root = shell::root();
    let mut bare = shell::cargo();
    bare.args(["build", "-p", "jsjb-desk", "--features", "custom-protocol"])
        .args(["--example", "bare_window"]);
    shell::run(bare, &root)?;
    let mut server = shell::cargo();
    server.args(["build", "-p", "jsjb-server", "--bin", "jsjb-server"]);
    shell::run(server, &root)?;
    let small = ["--letters", "600", "--runs", "1", "--idle", "3"].map(String::from);
    run_desk("debug", &small)
}

/// Runs tests/bench/desk.mjs on the builds of `profile` (`debug` or `release`).
fn run_desk(profile: &str, rest: &[String]) -> Result<()> {
    let root = shell::root();
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let dir = if target.is_absolute() {
        target
    } else {
        root.join(target)
    }
    .join(profile);
    let exe = std::env::consts::EXE_SUFFIX;
    let mut node = std::process::Command::new("node");
    node.arg("bench/desk.mjs")
        .args(rest)
        .env("JSJB_APP_BINARY", dir.join(format!("jsjb-desk{exe}")))
        .env("JSJB_SERVER_BINARY", dir.join(format!("jsjb-server{exe}")))
        .env(
            "JSJB_BARE_WINDOW",
            dir.join("examples").join(format!("bare_window{exe}")),
        );
    shell::run(node, &root.join("tests"))
}

/// What the bench runs, in release.
fn build_release() -> Result<()> {
    shell::build_ui()?;
    let root = shell::root();
    let mut app = shell::cargo();
    app.args([
        "build",
        "--release",
        "-p",
        "jsjb-desk",
        "--features",
        "custom-protocol",
        "--bin",
        "jsjb-desk",
        "--example",
        "bare_window",
    ]);
    shell::run(app, &root)?;
    let mut server = shell::cargo();
    server.args([
        "build",
        "--release",
        "-p",
        "jsjb-server",
        "--bin",
        "jsjb-server",
    ]);
    shell::run(server, &root)
}
