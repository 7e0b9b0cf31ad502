//! `cargo xtask setup`: install what is missing, saying what is done at each step.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::shell::{self, say};

/// Debian 12 packages: to build (WebKitGTK, ALSA, the tray's appindicator, a C compiler
/// for bundled SQLite), to run and test headless (Xvfb, WebKitWebDriver), to show
/// Chinese (Noto CJK) and to draw icons and take screenshots (ImageMagick), and
/// Chromium for the citizen portal's page tests (tests/web), Python's venv for the API
/// contract step, a D-Bus session bus and GObject's Python bindings for the
/// notification-click test, nginx for the reverse-proxy test, and PostgreSQL for the
/// production backend's tests.
pub const APT_PACKAGES: &[&str] = &[
    "build-essential",
    "pkg-config",
    "libwebkit2gtk-4.1-dev",
    "libayatana-appindicator3-dev",
    "libasound2-dev",
    "xvfb",
    "webkit2gtk-driver",
    "fonts-noto-cjk",
    "imagemagick",
    "chromium",
    // The sign-off: OpenSSL 3 verifies our SM2 signatures in the tests; poppler-utils
    // turns the signed form's PDF into text and PNG to check it.
    "openssl",
    "poppler-utils",
    // The API contract step installs Schemathesis from PyPI into a virtual environment.
    "python3-venv",
    // The notification-click test: a private session bus and a stand-in notification
    // server written with Gio (tests/e2e/notification-server.py).
    "dbus-daemon",
    "python3-gi",
    // The reverse-proxy test runs the shipped deploy/nginx/jsjb.conf in Debian's nginx
    // (crates/server/tests/nginx.rs); the package's service is not needed, the test starts
    // its own unprivileged nginx.
    "nginx",
    // The PostgreSQL backend's tests (crates/storage-postgres) start a private cluster
    // of their own with the package's programs (xtask/src/postgres.rs); the package's
    // service is not needed.
    "postgresql",
];

/// The npm projects whose dependencies `npm ci` installs.
const NPM_PROJECTS: &[&str] = &["ui", "tests", "tests/web"];

pub fn run() -> Result<()> {
    system_packages()?;
    node_packages()?;
    tauri_driver()?;
    Ok(())
}

fn system_packages() -> Result<()> {
    say("System packages");
    if cfg!(windows) {
        println!(
            "Windows: nothing is installed automatically. You need: Node.js 20+ (https://nodejs.org), \
             the WebView2 runtime (part of Windows 10/11), the MSVC build tools, and for the \
             end-to-end tests msedgedriver matching your Edge version on PATH."
        );
        return Ok(());
    }
    if cfg!(target_os = "macos") {
        println!(
            "macOS: nothing is installed automatically. You need Xcode command line tools and \
             Node.js 20+. The end-to-end suite does not run on macOS (no WebDriver for WKWebView)."
        );
        return Ok(());
    }
    if !Path::new("/etc/debian_version").exists() || !shell::succeeds(probe("dpkg", ["--version"]))
    {
        println!(
            "Not Debian: install the equivalents of these packages by hand: {}",
            APT_PACKAGES.join(" ")
        );
        return Ok(());
    }
    let missing: Vec<&str> = APT_PACKAGES
        .iter()
        .copied()
        .filter(|pkg| !dpkg_installed(pkg))
        .collect();
    if missing.is_empty() {
        println!("all installed: {}", APT_PACKAGES.join(" "));
        return Ok(());
    }
    println!("missing: {}", missing.join(" "));
    let root = shell::root();
    apt(&["update"], &root)?;
    let mut install = vec!["install", "-y", "--no-install-recommends"];
    install.extend(missing.iter().copied());
    apt(&install, &root)
}

fn dpkg_installed(package: &str) -> bool {
    shell::output(probe("dpkg-query", ["-W", "-f=${Status}", package]))
        .is_some_and(|status| status.contains("install ok installed"))
}

/// apt-get as root, through sudo when we are not root.
fn apt(args: &[&str], dir: &Path) -> Result<()> {
    let is_root = shell::output(probe("id", ["-u"])).is_some_and(|uid| uid.trim() == "0");
    let mut cmd = if is_root {
        Command::new("apt-get")
    } else {
        let mut sudo = Command::new("sudo");
        sudo.arg("--preserve-env=DEBIAN_FRONTEND").arg("apt-get");
        sudo
    };
    cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
    shell::run(cmd, dir).context("installing the system packages")
}

fn node_packages() -> Result<()> {
    say("Node packages");
    let Some(version) = shell::output(probe_npm(["--version"])) else {
        bail!("npm was not found: install Node.js 20 or newer (it brings npm) and run this again");
    };
    println!("npm {}", version.trim());
    for project in NPM_PROJECTS {
        let dir = shell::root().join(project);
        if installed_from_lock(&dir) {
            println!(
                "{project}/node_modules matches {project}/package-lock.json — skipping npm ci"
            );
            continue;
        }
        let mut ci = shell::npm();
        ci.args(["ci", "--no-audit", "--no-fund"]);
        shell::run(ci, &dir).with_context(|| format!("installing {project}/'s npm packages"))?;
    }
    Ok(())
}

/// npm writes `node_modules/.package-lock.json` when it installs; when that is at least
/// as new as `package-lock.json`, the lock has not changed since.
fn installed_from_lock(dir: &Path) -> bool {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    match (
        modified(&dir.join("node_modules/.package-lock.json")),
        modified(&dir.join("package-lock.json")),
    ) {
        (Some(installed), Some(lock)) => installed >= lock,
        _ => false,
    }
}

fn tauri_driver() -> Result<()> {
    say("tauri-driver (WebDriver for the end-to-end tests)");
    if let Some(path) = tauri_driver_path() {
        println!("found {}", path.display());
        return Ok(());
    }
    let mut install = shell::cargo();
    install.args(["install", "tauri-driver", "--locked", "--version", "^2"]);
    shell::run(install, &shell::root()).context("installing tauri-driver")
}

/// tauri-driver on PATH or in cargo's bin folder.
pub fn tauri_driver_path() -> Option<std::path::PathBuf> {
    let exe = if cfg!(windows) {
        "tauri-driver.exe"
    } else {
        "tauri-driver"
    };
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
        .or_else(|| std::env::var_os("USERPROFILE").map(|h| Path::new(&h).join(".cargo")));
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain(cargo_home.map(|h| h.join("bin")))
        .map(|dir| dir.join(exe))
        .find(|candidate| candidate.is_file())
}

fn probe<const N: usize>(program: &str, args: [&str; N]) -> Command {
    let mut cmd = Command::new(program);
    cmd.args(args);
    cmd
}

fn probe_npm<const N: usize>(args: [&str; N]) -> Command {
    let mut cmd = shell::npm();
    cmd.args(args);
    cmd
}
