//! Logins behind a reverse proxy: lock-outs per user name with a growing delay, the
//! per-address limit on the client's address (from a trusted proxy's
//! `X-Forwarded-For`, an IPv6 client by its /64), answers that do not tell which names
//! exist, argon2 on its own bounded pool, and SSE streams that end at logout.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration as StdDuration;

use chrono::Duration;
use serde_json::{Value, json};
use support::*;

async fn login_from(
    s: &TestServer,
    forwarded_for: &str,
    username: &str,
    password: &str,
) -> reqwest::Response {
    s.client
        .post(s.url("/api/v1/auth/login"))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .expect("request")
}

fn trust_local_proxy(c: &mut jsjb_server::Config) {
    c.trusted_proxies = vec!["127.0.0.1".parse().expect("cidr")];
}

/// (status, code, retry_after) of an answer, to compare answers.
async fn answer(res: reqwest::Response) -> (u16, String, Option<u64>) {
    let status = res.status().as_u16();
    let header = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let body: Value = res.json().await.expect("json");
    let code = body["code"].as_str().unwrap_or("ok").to_owned();
    assert_eq!(
        body["retry_after"].as_u64(),
        header,
        "body and header agree"
    );
    (status, code, header)
}

#[tokio::test]
async fn behind_a_trusted_proxy_one_users_typos_do_not_block_another() {
    // The README's deployment: every connection comes from the proxy on 127.0.0.1.
    let s = TestServer::start_with(trust_local_proxy).await;
    let admin = s.admin_token().await;
    s.user(&admin, s.city, "alice", &["officer"]).await;
    s.user(&admin, s.city, "bob", &["officer"]).await;

    // Alice, at her desk, mistypes 50 times (the limit per address in tests is 50).
    for _ in 0..50 {
        let res = login_from(&s, "203.0.113.1", "alice", "not-her-password").await;
        assert!(matches!(res.status().as_u16(), 401 | 429));
    }
    // Bob, at another desk behind the same proxy, signs in.
    let res = login_from(&s, "203.0.113.2", "bob", PASSWORD).await;
    assert_eq!(res.status(), 200, "bob is not refused for alice's typos");
    // Alice's own address is past its limit: its wrong guesses are slowed and say so…
    problem(
        login_from(&s, "203.0.113.1", "bob", "a-wrong-guess").await,
        429,
        "too_many_attempts",
    )
    .await;
    // …and only alice's name is locked.
    problem(
        login_from(&s, "203.0.113.2", "alice", PASSWORD).await,
        429,
        "account_locked",
    )
    .await;
}

#[tokio::test]
async fn a_right_password_from_an_address_past_its_limit_still_gets_in() {
    let s = TestServer::start_with(|c| {
        c.lockout_threshold = 3;
        c.login_ip_limit = 4;
    })
    .await;
    for name in ["a1", "a2", "a3", "a4"] {
        problem(
            s.login(name, "whatever-password").await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    // Wrong guesses from the address are slowed and answered `too_many_attempts`…
    let body = problem(
        s.login("a5", "whatever-password").await,
        429,
        "too_many_attempts",
    )
    .await;
    assert!(body["retry_after"].as_u64().is_some_and(|r| r > 0));
    // …one at a time, each after a pause of a second: guesses sent together are
    // checked in turn (a lower bound only — a slow machine just takes longer).
    let started = std::time::Instant::now();
    let guesses = ["b1", "b2", "b3"].map(|name| s.login(name, "whatever-password"));
    for res in futures_util::future::join_all(guesses).await {
        problem(res, 429, "too_many_attempts").await;
    }
    assert!(started.elapsed() >= StdDuration::from_secs(3));
    // …but a desk at the same address with the right password is let in.
    assert_eq!(s.login("admin", ADMIN_PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn the_client_address_comes_from_forwarded_for_only_through_a_trusted_proxy() {
    // Each server below has exactly one session.
    let session_ip = |s: &TestServer| -> String {
        s.raw_db()
            .query_row("SELECT ip FROM sessions", [], |r| r.get(0))
            .expect("one session")
    };

    // Trusted: the proxy's header names the client.
    let trusted = TestServer::start_with(trust_local_proxy).await;
    let res = login_from(&trusted, "198.51.100.7", "admin", ADMIN_PASSWORD).await;
    assert_eq!(res.status(), 200);
    assert_eq!(session_ip(&trusted), "198.51.100.7");

    // Untrusted: the peer may claim anything; it stays the peer, and its claims do not
    // spread its failures over made-up addresses.
    let untrusted = TestServer::start_with(|c| {
        c.trusted_proxies = vec!["10.0.0.1".parse().expect("cidr")];
        c.login_ip_limit = 4;
    })
    .await;
    let res = login_from(&untrusted, "198.51.100.7", "admin", ADMIN_PASSWORD).await;
    assert_eq!(res.status(), 200);
    assert_eq!(session_ip(&untrusted), "127.0.0.1");
    for (i, name) in ["u1", "u2", "u3", "u4"].iter().enumerate() {
        let res = login_from(&untrusted, &format!("192.0.2.{i}"), name, "wrong-password").await;
        problem(res, 401, "invalid_credentials").await;
    }
    problem(
        login_from(&untrusted, "192.0.2.200", "u5", "wrong-password").await,
        429,
        "too_many_attempts",
    )
    .await;
}

#[tokio::test]
async fn each_lock_out_of_a_name_lasts_twice_the_one_before() {
    let s = TestServer::start_with(|c| {
        c.lockout_threshold = 3;
        c.lockout_first_seconds = 60;
        c.lockout_minutes = 15;
    })
    .await;
    let fail_until_locked = || async {
        for _ in 0..2 {
            problem(
                s.login("admin", "wrong-password").await,
                401,
                "invalid_credentials",
            )
            .await;
        }
        let res = s.login("admin", "wrong-password").await;
        let (status, code, retry) = answer(res).await;
        assert_eq!((status, code.as_str()), (429, "account_locked"));
        retry.expect("retry after")
    };
    let mut expected = 60;
    for _ in 0..6 {
        assert_eq!(fail_until_locked().await, expected);
        // Still locked a second before the end, even with the right password…
        s.advance(Duration::seconds(expected as i64 - 1));
        problem(
            s.login("admin", ADMIN_PASSWORD).await,
            429,
            "account_locked",
        )
        .await;
        s.advance(Duration::seconds(1));
        expected = (expected * 2).min(15 * 60);
    }
    assert_eq!(
        expected,
        15 * 60,
        "the doubling reached the longest lock-out"
    );
    assert_eq!(fail_until_locked().await, 15 * 60);
    s.advance(Duration::minutes(15));
    // The right password after the lock ends the history: the next lock is short again.
    assert_eq!(s.login("admin", ADMIN_PASSWORD).await.status(), 200);
    assert_eq!(fail_until_locked().await, 60);
}

#[tokio::test]
async fn unknown_and_existing_names_get_the_same_answers() {
    let s = TestServer::start_with(|c| c.lockout_threshold = 3).await;
    let mut transcripts = Vec::new();
    for name in ["admin", "no-such-user"] {
        let mut t = Vec::new();
        for _ in 0..5 {
            t.push(answer(s.login(name, "wrong-password").await).await);
        }
        // Whatever the password, while locked.
        t.push(answer(s.login(name, ADMIN_PASSWORD).await).await);
        transcripts.push(t);
    }
    assert_eq!(transcripts[0], transcripts[1]);
    let codes: Vec<&str> = transcripts[0].iter().map(|a| a.1.as_str()).collect();
    assert_eq!(
        codes,
        [
            "invalid_credentials",
            "invalid_credentials",
            "account_locked",
            "account_locked",
            "account_locked",
            "account_locked"
        ]
    );
    // A name differing only in case is the same name, as for accounts.
    problem(
        s.login("NO-SUCH-USER", "wrong-password").await,
        429,
        "account_locked",
    )
    .await;
}

#[tokio::test]
async fn ipv6_clients_are_limited_by_their_64() {
    let s = TestServer::start_with(|c| {
        trust_local_proxy(c);
        c.lockout_threshold = 3;
        c.login_ip_limit = 4;
        c.citizen.rate_ip_burst = 2;
        c.citizen.rate_ip_per_minute = 1;
    })
    .await;
    // Every failure from a fresh address of one /64…
    for (i, name) in ["v1", "v2", "v3", "v4"].iter().enumerate() {
        let res = login_from(&s, &format!("2001:db8:1:2::{}", i + 1), name, "wrong-pw").await;
        problem(res, 401, "invalid_credentials").await;
    }
    // …counts for the whole /64…
    problem(
        login_from(&s, "2001:db8:1:2:ffff::9", "v5", "wrong-pw").await,
        429,
        "too_many_attempts",
    )
    .await;
    // …and not for the next one.
    problem(
        login_from(&s, "2001:db8:1:3::1", "v5", "wrong-pw").await,
        401,
        "invalid_credentials",
    )
    .await;

    // The citizen rate limits count the same way.
    let progress = |addr: &'static str| {
        s.client
            .get(s.url("/api/v1/public/progress?code=SZ20250101AAAAAA&phone_last4=1234"))
            .header("x-forwarded-for", addr)
            .send()
    };
    for addr in ["2001:db8:9:9::1", "2001:db8:9:9::2"] {
        assert_eq!(progress(addr).await.expect("request").status(), 404);
    }
    problem(
        progress("2001:db8:9:9:abcd::3").await.expect("request"),
        429,
        "rate_limited",
    )
    .await;
    assert_eq!(
        progress("2001:db8:9:a::1").await.expect("request").status(),
        404
    );
}

#[tokio::test]
async fn a_sync_stream_ends_at_logout_and_at_a_password_reset() {
    let s = TestServer::start().await;
    let first = s.admin_token().await;
    let second = s.admin_token().await;
    let open = |token: &str| {
        s.client
            .get(s.url("/api/v1/sync/stream"))
            .bearer_auth(token)
            .send()
    };
    let mut ending = open(&first).await.expect("stream");
    let mut staying = open(&second).await.expect("stream");
    assert_eq!(ending.status(), 200);
    assert_eq!(staying.status(), 200);

    let res = s
        .post_json("/api/v1/auth/logout", Some(&first), &json!({}))
        .await;
    assert_eq!(res.status(), 204);

    // The stream ends (the body finishes) well before the 15 s heartbeat: at logout.
    let end = tokio::time::timeout(StdDuration::from_secs(10), async {
        // Until the body ends (None) or the connection closes (an error).
        while let Ok(Some(_)) = ending.chunk().await {}
    })
    .await;
    assert!(end.is_ok(), "the stream of the logged-out session ended");
    // The other session's stream stays open.
    let other = tokio::time::timeout(StdDuration::from_millis(500), staying.chunk()).await;
    assert!(other.is_err(), "the other session's stream is still open");

    // A password reset ends every stream of that user.
    let admin = s.admin_token().await;
    let carol = s.user(&admin, s.city, "carol", &["officer"]).await;
    let token = s.token("carol", PASSWORD).await;
    let mut carols = open(&token).await.expect("stream");
    assert_eq!(carols.status(), 200);
    let res = s
        .post_json(
            &format!("/api/v1/admin/users/{carol}/password"),
            Some(&admin),
            &json!({"password": "a-new-password-2"}),
        )
        .await;
    assert_eq!(res.status(), 204);
    let end = tokio::time::timeout(StdDuration::from_secs(10), async {
        while let Ok(Some(_)) = carols.chunk().await {}
    })
    .await;
    assert!(end.is_ok(), "the stream ended at the password reset");
}

/// Starts a runtime with a small blocking pool, the one the SQLite readers use.
fn small_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn a_login_flood_does_not_stall_the_desks_reads() {
    small_runtime().block_on(async {
        let s = TestServer::start_with(|c| {
            // Costly hashes (argon2 is optimised even in debug builds) and one thread.
            c.argon2_memory_kib = 32 * 1024;
            c.argon2_workers = Some(1);
            c.argon2_queue = 256;
        })
        .await;
        let token = s.admin_token().await;
        let s = Arc::new(s);
        const FLOOD: usize = 24;
        let done = Arc::new(AtomicUsize::new(0));
        let mut logins = Vec::new();
        for _ in 0..FLOOD {
            let (s, done) = (Arc::clone(&s), Arc::clone(&done));
            logins.push(tokio::spawn(async move {
                let status = s.login("admin", ADMIN_PASSWORD).await.status();
                done.fetch_add(1, Ordering::SeqCst);
                status
            }));
        }
        // Let the flood reach the password queue.
        tokio::time::sleep(StdDuration::from_millis(200)).await;
        let me = s.get("/api/v1/me", Some(&token)).await;
        assert_eq!(me.status(), 200);
        let finished = done.load(Ordering::SeqCst);
        assert!(
            finished <= FLOOD / 2,
            "the desk's read waited for {finished} of {FLOOD} password checks"
        );
        for login in logins {
            assert_eq!(login.await.expect("task"), 200);
        }
    });
}

#[test]
fn a_full_password_queue_is_answered_busy_at_once() {
    small_runtime().block_on(async {
        let s = Arc::new(
            TestServer::start_with(|c| {
                c.argon2_memory_kib = 32 * 1024;
                c.argon2_workers = Some(1);
                c.argon2_queue = 1;
            })
            .await,
        );
        let mut logins = Vec::new();
        for _ in 0..12 {
            let s = Arc::clone(&s);
            logins.push(tokio::spawn(async move {
                answer(s.login("admin", ADMIN_PASSWORD).await).await
            }));
        }
        let mut answers = Vec::new();
        for login in logins {
            answers.push(login.await.expect("task"));
        }
        assert!(answers.iter().any(|a| a.0 == 200), "{answers:?}");
        let busy: Vec<_> = answers.iter().filter(|a| a.0 == 503).collect();
        assert!(!busy.is_empty(), "{answers:?}");
        for (_, code, retry) in busy {
            assert_eq!(code, "busy");
            assert!(retry.is_some_and(|r| r > 0));
        }
        // Nothing was counted as a failure: the name is not locked.
        assert_eq!(s.login("admin", ADMIN_PASSWORD).await.status(), 200);
    });
}
