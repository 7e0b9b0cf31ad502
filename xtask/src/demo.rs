//! `cargo xtask demo`: everything needed to see the product, in order.
//!
//! Each step is one entry in [`steps`]. The central server runs with demo data (a city,
//! a month of history, letters that keep arriving) from `.demo/`; the app starts signed
//! in to it as a station officer through the variables in [`Demo::app_env`], and the
//! server is stopped when the app exits.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::setup;
use crate::shell::{self, say};

/// The demo's station officer, signed in automatically.
const DEMO_USER: &str = "futian.liu";
/// Every demo account's password (crates/server/src/demo.rs).
const DEMO_PASSWORD: &str = "jsjb-demo-2026";
/// Seeding a month of history takes a while in a debug build.
const SERVER_START_TIMEOUT: Duration = Duration::from_secs(300);

/// What the steps share: variables the app is started with (the server's URL, the
/// sign-in), and the server process, stopped when this is dropped.
#[derive(Default)]
pub struct Demo {
    pub app_env: Vec<(String, String)>,
    server: Option<Child>,
}

impl Drop for Demo {
    fn drop(&mut self) {
        if let Some(mut server) = self.server.take() {
            say("demo: stopping the demo server");
            let _ = server.kill();
            let _ = server.wait();
        }
    }
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
            action: |_| shell::build_ui(),
        },
        Step {
            title: "Build the central server",
            action: |_| {
                let mut cmd = shell::cargo();
                cmd.args(["build", "-p", "jsjb-server"]);
                shell::run(cmd, &shell::root())
            },
        },
        Step {
            title: "Start the demo server (data in .demo/)",
            action: start_server,
        },
        Step {
            title: "Run the desktop app, signed in as a station officer",
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

fn demo_dir() -> PathBuf {
    shell::root().join(".demo")
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map_or_else(
            || shell::root().join("target"),
            |dir| {
                if dir.is_absolute() {
                    dir
                } else {
                    shell::root().join(dir)
                }
            },
        )
}

/// 127.0.0.1:8080 when free, else any free port.
fn free_address() -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:8080")
        .or_else(|_| TcpListener::bind("127.0.0.1:0"))
        .context("no free port on 127.0.0.1")?;
    Ok(listener.local_addr()?)
}

fn start_server(demo: &mut Demo) -> Result<()> {
    let dir = demo_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let binary = target_dir()
        .join("debug")
        .join(format!("jsjb-server{}", std::env::consts::EXE_SUFFIX));
    let addr = free_address()?;
    let mut cmd = Command::new(&binary);
    cmd.arg("demo")
        .env("JSJB_DB", dir.join("jsjb.sqlite3"))
        .env("JSJB_BLOB_DIR", dir.join("blobs"))
        .env("JSJB_LISTEN", addr.to_string())
        .current_dir(&dir);
    println!(
        "$ JSJB_DB=.demo/jsjb.sqlite3 JSJB_BLOB_DIR=.demo/blobs JSJB_LISTEN={addr} {} demo",
        binary.display()
    );
    let child = cmd
        .spawn()
        .with_context(|| format!("could not start {}", binary.display()))?;
    demo.server = Some(child);

    let started = Instant::now();
    println!("waiting for http://{addr}/healthz (the first start seeds a month of history) …");
    loop {
        if healthy(addr) {
            break;
        }
        if let Some(server) = demo.server.as_mut()
            && let Some(status) = server.try_wait()?
        {
            bail!("the demo server exited ({status}) before it answered");
        }
        if started.elapsed() > SERVER_START_TIMEOUT {
            bail!("the demo server did not answer /healthz within {SERVER_START_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let url = format!("http://{addr}");
    println!(
        "\nThe demo server is up at {url} (its log above lists every demo account).\n\
         Sign-in used by the app: {DEMO_USER} / {DEMO_PASSWORD} (福田派出所 officer).\n\
         Also try: futianfj.desk (福田分局 dispatcher), futian.chief (福田派出所 chief).\n"
    );
    demo.app_env = vec![
        ("JSJB_SERVER_URL".to_owned(), url),
        ("JSJB_AUTOLOGIN_USER".to_owned(), DEMO_USER.to_owned()),
        (
            "JSJB_AUTOLOGIN_PASSWORD".to_owned(),
            DEMO_PASSWORD.to_owned(),
        ),
        // The app's caches beside the demo database: a new demo database never meets
        // a cache of an older one.
        (
            "JSJB_DATA_DIR".to_owned(),
            dir.join("app").to_string_lossy().into_owned(),
        ),
    ];
    Ok(())
}

/// `GET /healthz` answers 200.
fn healthy(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 16];
    let n = stream.read(&mut head).unwrap_or(0);
    head[..n].starts_with(b"HTTP/1.1 200")
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
    // The server is stopped when `demo` is dropped, whether the app exits well or not.
    shell::run(cmd, &shell::root())
}
