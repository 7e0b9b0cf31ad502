//! `cargo xtask test`: every check CI runs, in dependency order, with a summary.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::setup;
use crate::shell::{self, say};

/// Variable that switches the bindings test from "write" to "fail on drift".
const BINDINGS_ENV: (&str, &str) = ("JSJB_BINDINGS", "check");

struct Step {
    name: &'static str,
    /// When a required step fails, the steps after it cannot say anything useful.
    required: bool,
    action: fn() -> Result<()>,
}

enum Outcome {
    Passed,
    Failed(String),
    Skipped,
}

fn steps() -> Vec<Step> {
    vec![
        Step {
            name: "setup",
            required: true,
            action: setup::run,
        },
        Step {
            name: "cargo fmt --check",
            required: false,
            action: || {
                let mut cmd = shell::cargo();
                cmd.args(["fmt", "--all", "--check"]);
                shell::run(cmd, &shell::root())
            },
        },
        // custom-protocol embeds ui/dist, so the UI is built before any Rust build.
        Step {
            name: "ui: build (vue-tsc + vite)",
            required: true,
            action: shell::build_ui,
        },
        Step {
            name: "module circles",
            required: false,
            action: || crate::cycles::run(false, false),
        },
        Step {
            name: "cargo clippy",
            required: false,
            action: || {
                let mut cmd = shell::cargo();
                cmd.args([
                    "clippy",
                    "--workspace",
                    "--all-targets",
                    "--features",
                    "custom-protocol",
                    "--",
                    "-D",
                    "warnings",
                ]);
                shell::run(cmd, &shell::root())
            },
        },
        Step {
            name: "bindings drift",
            required: false,
            action: || {
                let mut cmd = shell::cargo();
                cmd.args(["test", "-p", "jsjb-desk", "--features", "custom-protocol"])
                    .args(["--test", "bindings"])
                    .env(BINDINGS_ENV.0, BINDINGS_ENV.1);
                shell::run(cmd, &shell::root())
            },
        },
        Step {
            name: "cargo test",
            required: false,
            action: || {
                // The PostgreSQL backend's tests run on a private cluster (postgres.rs).
                let postgres = crate::postgres::TestCluster::start()?;
                let mut cmd = shell::cargo();
                cmd.args(["test", "--workspace", "--features", "custom-protocol"])
                    .env(BINDINGS_ENV.0, BINDINGS_ENV.1)
                    .env(crate::postgres::TEST_URL_ENV, &postgres.url)
                    .env(crate::postgres::TEST_CTL_ENV, postgres.ctl());
                shell::run(cmd, &shell::root())
            },
        },
        Step {
            name: "API contract (schemathesis)",
            required: false,
            action: crate::contract::run,
        },
        Step {
            name: "ui: typecheck (vue-tsc)",
            required: false,
            action: || shell::npm_script("ui", "typecheck"),
        },
        Step {
            name: "ui: unit tests (vitest)",
            required: false,
            action: || shell::npm_script("ui", "test"),
        },
        Step {
            name: "app: build (custom-protocol)",
            required: false,
            action: build_app,
        },
        Step {
            name: "e2e (tauri-driver)",
            required: false,
            action: e2e,
        },
        Step {
            name: "web portal (chromium)",
            required: false,
            action: web,
        },
        Step {
            name: "bench desk (smoke, debug)",
            required: false,
            action: crate::bench::desk_smoke,
        },
    ]
}

pub fn run() -> Result<()> {
    let started = Instant::now();
    let mut results: Vec<(&'static str, Outcome, Duration)> = Vec::new();
    let mut blocked_by: Option<&'static str> = None;
    for step in steps() {
        if let Some(blocker) = blocked_by {
            results.push((step.name, Outcome::Skipped, Duration::ZERO));
            println!("\n==> test: {} — skipped ({blocker} failed)", step.name);
            continue;
        }
        say(format!("test: {}", step.name));
        let t = Instant::now();
        let outcome = match (step.action)() {
            Ok(()) => Outcome::Passed,
            Err(error) => {
                eprintln!("step `{}` failed: {error:#}", step.name);
                if step.required {
                    blocked_by = Some(step.name);
                }
                Outcome::Failed(format!("{error:#}"))
            }
        };
        results.push((step.name, outcome, t.elapsed()));
    }

    println!("\n==> Summary");
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for (name, outcome, took) in &results {
        let (mark, note) = match outcome {
            Outcome::Passed => {
                passed += 1;
                ("ok  ", String::new())
            }
            Outcome::Failed(why) => {
                failed += 1;
                (
                    "FAIL",
                    format!("  — {}", why.lines().next().unwrap_or_default()),
                )
            }
            Outcome::Skipped => {
                skipped += 1;
                ("skip", String::new())
            }
        };
        println!("  {mark}  {name:<32} {:>7.1}s{note}", took.as_secs_f64());
    }
    println!("  total {:.1}s", started.elapsed().as_secs_f64());
    // A plain closing line that CI can read.
    println!("xtask: {passed} passed, {failed} failed, {skipped} skipped");
    if failed > 0 || skipped > 0 {
        bail!("{failed} step(s) failed");
    }
    Ok(())
}

fn build_app() -> Result<()> {
    let mut cmd = shell::cargo();
    cmd.args(["build", "-p", "jsjb-desk", "--features", "custom-protocol"]);
    shell::run(cmd, &shell::root())
}

fn e2e() -> Result<()> {
    if cfg!(target_os = "macos") {
        println!("skipped: there is no WebDriver for WKWebView on macOS");
        return Ok(());
    }
    // The harness finds tauri-driver itself; setup made sure there is one.
    shell::npm_script("tests", "e2e")
}

/// The citizen portal in Debian's Chromium (tests/web): the suite starts the freshly
/// built `jsjb-server demo` on a free port with a temporary database.
fn web() -> Result<()> {
    let root = shell::root();
    let mut build = shell::cargo();
    build.args(["build", "-p", "jsjb-server"]);
    shell::run(build, &root)?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let mut node = std::process::Command::new("node");
    node.args(["--test", "--test-concurrency=1", "tests/web/"])
        .env("JSJB_SERVER_BIN", target.join("debug").join("jsjb-server"));
    shell::run(node, &root)
}

/// `cargo xtask bindings`: rewrite ui/src/ipc/bindings from the Rust types.
pub fn regenerate_bindings() -> Result<()> {
    let root = shell::root();
    if !root.join("ui/dist/index.html").exists() {
        // The app is compiled with custom-protocol, which embeds ui/dist; a plain Vite
        // build (without vue-tsc, which may need the new bindings) is enough for that.
        say("ui/dist is missing: building it without type-checking first");
        let mut cmd = shell::npm();
        cmd.args(["exec", "--", "vite", "build"]);
        shell::run(cmd, &root.join("ui"))?;
    }
    say("Generating TypeScript bindings");
    let mut cmd = shell::cargo();
    cmd.args(["test", "-p", "jsjb-desk", "--features", "custom-protocol"])
        .args(["--test", "bindings"])
        .env_remove(BINDINGS_ENV.0);
    shell::run(cmd, &root)?;
    println!("ui/src/ipc/bindings is up to date with the Rust types");
    Ok(())
}
