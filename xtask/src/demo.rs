//! `cargo xtask demo`: everything needed to see the product, in order.
//!
//! Each step is one entry in [`steps`]; the central server with demo data will become a
//! step before the app, publishing its address through [`Demo::app_env`].

use anyhow::Result;

use crate::shell::{self, say};
use crate::{setup, test};

/// What the steps share: variables the app is started with (e.g. the server's URL).
#[derive(Default)]
pub struct Demo {
    pub app_env: Vec<(String, String)>,
}

struct Step {
    title: &'static str,
    action: fn(&mut Demo) -> Result<()>,
}

fn steps() -> Vec<Step> {
    vec![
        Step {
            title: "Install what is missing",
            action: |_| setup::run(),
        },
        Step {
            title: "Build the UI",
            action: |_| test::build_ui(),
        },
        Step {
            title: "Run the desktop app",
            action: run_app,
        },
    ]
}

pub fn run() -> Result<()> {
    let mut demo = Demo::default();
    for step in steps() {
        say(format!("demo: {}", step.title));
        (step.action)(&mut demo)?;
    }
    Ok(())
}

fn run_app(demo: &mut Demo) -> Result<()> {
    if cfg!(target_os = "linux")
        && std::env::var_os("DISPLAY").is_none()
        && std::env::var_os("WAYLAND_DISPLAY").is_none()
    {
        println!(
            "warning: no DISPLAY or WAYLAND_DISPLAY — the window needs a desktop session. \
             On a headless machine try: xvfb-run -a -s \"-screen 0 1366x768x24\" cargo xtask demo"
        );
    }
    let mut cmd = shell::cargo();
    cmd.args(["run", "-p", "jsjb-desk", "--features", "custom-protocol"]);
    cmd.envs(demo.app_env.iter().map(|(k, v)| (k, v)));
    shell::run(cmd, &shell::root())
}
