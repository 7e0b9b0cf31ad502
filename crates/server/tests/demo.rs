//! Demo mode: the seeded city goes through the real rules, shows every state and clock
//! colour, its people can sign in, and letters keep arriving.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use jsjb_core::calendar::WorkCalendar;
use jsjb_core::clock::{Band, Policy};
use jsjb_core::workflow::LetterStatus;
use jsjb_proto::{Change, SyncPage};
use jsjb_server::demo::{self, DEMO_PASSWORD, DemoOptions};
use jsjb_server::time::ManualTime;
use jsjb_server::{AppState, Config};
use serde_json::json;

async fn demo_server(opts: &DemoOptions) -> (AppState, std::net::SocketAddr, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::new(dir.path().join("demo.sqlite3"), dir.path().join("blobs"));
    config.argon2_memory_kib = 256;
    let state =
        jsjb_server::open_with_time(config, Arc::new(ManualTime::new(Utc::now()))).expect("open");
    let summary = demo::seed(&state, opts).await.expect("seed");
    assert!(!summary.already_seeded);
    assert_eq!(summary.refused, 0, "every planned step obeys the rules");
    assert!(summary.letters > 0 && summary.actions > summary.letters);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let serving = state.clone();
    tokio::spawn(async move {
        let _ = jsjb_server::serve(listener, serving, std::future::pending()).await;
    });
    (state, addr, dir)
}

async fn login(addr: std::net::SocketAddr, user: &str) -> String {
    let res = reqwest::Client::new()
        .post(format!("http://{addr}/api/v1/auth/login"))
        .json(&json!({"username": user, "password": DEMO_PASSWORD}))
        .send()
        .await
        .expect("login");
    assert_eq!(res.status(), 200, "{user}");
    res.json::<serde_json::Value>().await.expect("json")["token"]
        .as_str()
        .expect("token")
        .to_owned()
}

async fn all_letters(addr: std::net::SocketAddr, token: &str) -> Vec<jsjb_proto::LetterRecord> {
    let client = reqwest::Client::new();
    let mut cursor = 0;
    let mut out = Vec::new();
    loop {
        let page: SyncPage = client
            .get(format!(
                "http://{addr}/api/v1/sync?cursor={cursor}&limit=500"
            ))
            .bearer_auth(token)
            .send()
            .await
            .expect("sync")
            .json()
            .await
            .expect("page");
        for change in page.changes {
            if let Change::Letter { letter } = change {
                // A letter changed again (a notice to its writer, say) comes again:
                // the newest copy stands.
                out.retain(|l: &jsjb_proto::LetterRecord| l.id != letter.id);
                out.push(*letter);
            }
        }
        cursor = page.next_cursor;
        if !page.has_more {
            return out;
        }
    }
}

#[tokio::test]
async fn the_demo_city_has_history_in_every_state_and_colour() {
    let opts = DemoOptions {
        days: 20,
        per_day: 12,
        arrival_every: Duration::ZERO,
        seed: 7,
    };
    let (state, addr, _dir) = demo_server(&opts).await;
    let city_desk = login(addr, "shiju.zhang").await;
    let letters = all_letters(addr, &city_desk).await;
    assert!(letters.len() >= 240, "{}", letters.len());

    let states: HashSet<_> = letters.iter().map(|l| l.state).collect();
    assert!(states.len() >= 4, "{states:?}");
    let (policy, calendar, now) = (Policy::shenzhen(), WorkCalendar::china(), state.time.now());
    let mut bands = HashSet::new();
    for letter in &letters {
        let status = LetterStatus::from_events(
            letter.category,
            letter.events.iter().map(|e| (e.at, &e.payload)),
        )
        .expect("history");
        assert_eq!(status.state, letter.state);
        let clocks = status.clocks(&policy, &calendar, now);
        match clocks.most_urgent {
            Some(kind) => {
                let reading = clocks.get(kind).expect("reading");
                bands.insert(reading.band);
            }
            None => {
                bands.insert(Band::Done);
            }
        }
    }
    for band in [Band::Ok, Band::Warning, Band::Overdue, Band::Done] {
        assert!(bands.contains(&band), "no letter is {band:?}: {bands:?}");
    }

    // A station officer sees only the station's letters, writers masked.
    let officer = login(addr, "futian.liu").await;
    let theirs = all_letters(addr, &officer).await;
    assert!(!theirs.is_empty());
    assert!(theirs.len() < letters.len());
    assert!(
        theirs
            .iter()
            .all(|l| l.writer.masked && l.writer.phone.contains("****"))
    );

    // Every change is in the audit chain, and it holds.
    let admin = login(addr, "admin").await;
    let verify: serde_json::Value = reqwest::Client::new()
        .get(format!("http://{addr}/api/v1/audit/verify"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("verify")
        .json()
        .await
        .expect("json");
    assert_eq!(verify["ok"], true, "{verify}");

    // Seeding again finds the city and adds nothing.
    let again = demo::seed(&state, &opts).await.expect("reseed");
    assert!(again.already_seeded);
    assert_eq!(all_letters(addr, &city_desk).await.len(), letters.len());
}

#[tokio::test]
async fn letters_keep_arriving() {
    let opts = DemoOptions {
        days: 1,
        per_day: 2,
        arrival_every: Duration::from_millis(200),
        seed: 9,
    };
    let (state, addr, _dir) = demo_server(&opts).await;
    let desk = login(addr, "shiju.li").await;
    let before = all_letters(addr, &desk).await.len();
    let arrivals = demo::spawn_arrivals(state.clone(), opts);
    let mut after = before;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        after = all_letters(addr, &desk).await.len();
        if after >= before + 2 {
            break;
        }
    }
    arrivals.abort();
    assert!(after >= before + 2, "{before} → {after}");
}
