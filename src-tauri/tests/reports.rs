//! The statistics screen's commands against the REAL server (same harness as `ipc.rs`):
//! `stats_view` shows the server's authoritative report of the user's unit while the
//! server answers, and the cache's estimate (labelled `offline`) only when it cannot be
//! reached; a refusal is an error, never an estimate; `save_report_export` writes the
//! server's CSV and XLSX into the folder the user picked.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{Duration, Utc};
use jsjb_server::demo::DEMO_PASSWORD;
use serde_json::{Value, json};

mod support;
use support::*;

fn last_days(days: i64) -> Value {
    let to = Utc::now() + Duration::hours(1);
    json!({"from": (to - Duration::days(days)).to_rfc3339(), "to": to.to_rfc3339()})
}

#[test]
fn the_screen_shows_the_servers_report_of_the_users_unit() {
    let desk = app();
    let me = desk.login("futianfj.desk");
    let view = desk.ok("stats_view", last_days(3));
    assert_eq!(view["source"], "server", "{view}");
    assert!(view["estimate"].is_null());
    let report = &view["server"];
    assert_eq!(report["unit_id"], me["me"]["unit_id"], "{me}");
    // The demo city has letters in the last days, and the branch has stations below it
    // to rank.
    assert!(report["letters"].as_u64().unwrap_or(0) > 0, "{report}");
    assert!(!report["ranking"].as_array().expect("ranking").is_empty());
    assert!(report["total"]["dispatched"].is_number(), "{report}");
}

#[test]
fn a_refusal_is_an_error_and_a_bad_period_is_refused_before_asking() {
    let admin = app();
    admin.login("admin");
    // An admin-only account reads no letters, so no reports — and no estimate either.
    assert_eq!(admin.err_code("stats_view", last_days(3)), "forbidden");

    let officer = app();
    officer.login("futian.liu");
    let now = Utc::now().to_rfc3339();
    assert_eq!(
        officer.err_code("stats_view", json!({"from": now, "to": now})),
        "invalid_input"
    );
}

#[test]
fn the_servers_csv_and_xlsx_are_saved_into_the_picked_folder() {
    let desk = app();
    desk.login("futianfj.desk");
    let picked = export_folder(&desk.data_dir);
    let mut args = last_days(7);
    args["dialogTitle"] = json!("导出");

    args["format"] = json!("csv");
    args["fileName"] = json!("../三率统计.csv");
    let csv = desk.ok("save_report_export", args.clone());
    let csv = std::path::PathBuf::from(csv["path"].as_str().expect("path"));
    assert_eq!(csv.parent(), Some(picked.as_path()), "{csv:?}");
    let text = std::fs::read(&csv).expect("read the csv");
    assert!(text.starts_with("\u{feff}".as_bytes()), "a BOM for Excel");
    assert!(String::from_utf8(text).expect("utf-8").contains("响应率"));

    args["format"] = json!("xlsx");
    args["fileName"] = json!("三率统计.xlsx");
    let xlsx = desk.ok("save_report_export", args);
    let bytes = std::fs::read(xlsx["path"].as_str().expect("path")).expect("read the xlsx");
    assert!(bytes.starts_with(b"PK\x03\x04"), "an XLSX is a zip");
}

/// A TCP forwarder to the demo server that can be cut, as a cable is pulled.
struct Cable {
    port: u16,
    cut: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Cable {
    fn to(upstream: std::net::SocketAddr) -> Cable {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let cut = Arc::new(AtomicBool::new(false));
        let open = Arc::new(Mutex::new(Vec::new()));
        let (cut2, open2) = (Arc::clone(&cut), Arc::clone(&open));
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if cut2.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                let mut streams = open2.lock().expect("open");
                streams.push(client.try_clone().expect("clone"));
                streams.push(server.try_clone().expect("clone"));
                drop(streams);
                for (mut from, mut to) in [
                    (
                        client.try_clone().expect("clone"),
                        server.try_clone().expect("clone"),
                    ),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16 * 1024];
                        while let Ok(n) = from.read(&mut buf) {
                            if n == 0 || to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        Cable { port, cut, open }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn pull(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for stream in self.open.lock().expect("open").drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

#[test]
fn without_the_server_the_screen_shows_the_caches_estimate_labelled_offline() {
    let cable = Cable::to(server().addr);
    let officer = app();
    officer.ok(
        "login",
        json!({"serverUrl": cable.url(), "username": "futian.liu", "password": DEMO_PASSWORD}),
    );
    officer.wait_synced();
    assert_eq!(officer.ok("stats_view", last_days(3))["source"], "server");

    cable.pull();
    let view = officer.ok("stats_view", last_days(3));
    assert_eq!(view["source"], "offline", "{view}");
    assert!(view["server"].is_null());
    let estimate = &view["estimate"];
    assert!(estimate["units"].is_array(), "{estimate}");
    assert!(
        estimate["letters"].as_u64().unwrap_or(0) > 0,
        "the cache has letters"
    );
    // The authoritative export needs the server: no file from the cache.
    let mut args = last_days(3);
    args["format"] = json!("csv");
    args["fileName"] = json!("三率.csv");
    args["dialogTitle"] = json!("导出");
    assert_eq!(officer.err_code("save_report_export", args), "unreachable");
}
