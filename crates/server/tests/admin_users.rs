//! Accounts run by admins: a password an admin chose must be changed at the next
//! sign-in, every user changes their own (proving the current one), a deactivated
//! user's sessions end at once and come back only on reactivation, each change in the
//! audit log with who and why; the user list shows the last sign-in. Scope first.

mod support;

use serde_json::{Value, json};
use support::*;

const NEW_PASSWORD: &str = "my-own-password-7";

async fn login_body(s: &TestServer, user: &str, password: &str) -> Value {
    let res = s.login(user, password).await;
    assert_eq!(res.status(), 200, "login of {user}");
    res.json().await.expect("json")
}

fn audit(s: &TestServer, action: &str) -> Vec<(Option<i64>, Option<i64>, String)> {
    let db = s.raw_db();
    let mut stmt = db
        .prepare(
            "SELECT actor_user_id, user_id, payload FROM audit_log WHERE action = ?1 ORDER BY seq",
        )
        .expect("prepare");
    stmt.query_map([action], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .map(|r| r.expect("row"))
        .collect()
}

#[tokio::test]
async fn an_admin_set_password_must_be_changed_and_the_users_own_change_clears_it() {
    let s = TestServer::start().await;
    let admin = s.admin_token().await;
    let branch = s.unit(&admin, s.city, "branch", "南山分局").await;
    let station = s.unit(&admin, branch, "station", "南头派出所").await;
    let id = s.user(&admin, station, "nt.liu", &["officer"]).await;

    // The initial password was the admin's choice: the login answer says to change it.
    let first = login_body(&s, "nt.liu", PASSWORD).await;
    assert_eq!(first["me"]["must_change_password"], true, "{first}");
    let token = first["token"].as_str().expect("token").to_owned();
    let other = s.token("nt.liu", PASSWORD).await;

    // The current password must be right, the new one long enough and different.
    problem(
        s.post_json(
            "/api/v1/me/password",
            Some(&token),
            &json!({"current_password": "wrong-password-0", "new_password": NEW_PASSWORD}),
        )
        .await,
        409,
        "wrong_password",
    )
    .await;
    problem(
        s.post_json(
            "/api/v1/me/password",
            Some(&token),
            &json!({"current_password": PASSWORD, "new_password": "short"}),
        )
        .await,
        400,
        "invalid_input",
    )
    .await;
    problem(
        s.post_json(
            "/api/v1/me/password",
            Some(&token),
            &json!({"current_password": PASSWORD, "new_password": PASSWORD}),
        )
        .await,
        400,
        "invalid_input",
    )
    .await;
    let res = s
        .post_json(
            "/api/v1/me/password",
            Some(&token),
            &json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), 204);

    // This session goes on; the other one ended; the old password is gone.
    assert_eq!(s.get("/api/v1/me", Some(&token)).await.status(), 200);
    assert_eq!(s.get("/api/v1/me", Some(&other)).await.status(), 401);
    assert_eq!(s.login("nt.liu", PASSWORD).await.status(), 401);
    let again = login_body(&s, "nt.liu", NEW_PASSWORD).await;
    assert_eq!(again["me"]["must_change_password"], false, "{again}");
    // Nobody but the user knows it now.
    let set_by: Option<i64> = s
        .raw_db()
        .query_row(
            "SELECT password_set_by FROM users WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .expect("set by");
    assert_eq!(set_by, Some(id));
    let changes = audit(&s, "user.password_change");
    assert_eq!(changes.len(), 1);
    assert_eq!((changes[0].0, changes[0].1), (Some(id), Some(id)));

    // An admin's reset makes it due again.
    let res = s
        .post_json(
            &format!("/api/v1/admin/users/{id}/password"),
            Some(&admin),
            &json!({"password": "reset-by-admin-3"}),
        )
        .await;
    assert_eq!(res.status(), 204);
    let reset = login_body(&s, "nt.liu", "reset-by-admin-3").await;
    assert_eq!(reset["me"]["must_change_password"], true);

    // The admin's list shows the last sign-in and the flag.
    let list: Value = s
        .get("/api/v1/admin/users", Some(&admin))
        .await
        .json()
        .await
        .expect("users");
    let row = list["users"]
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["id"] == id)
        .expect("listed")
        .clone();
    assert_eq!(row["must_change_password"], true);
    assert!(row["last_login_at"].is_string(), "{row}");
}

#[tokio::test]
async fn a_deactivated_users_sessions_end_at_once_and_the_reason_is_logged() {
    let s = TestServer::start().await;
    let admin = s.admin_token().await;
    let admin_id: i64 = login_body(&s, "admin", ADMIN_PASSWORD).await["me"]["user_id"]
        .as_i64()
        .expect("admin id");
    let branch = s.unit(&admin, s.city, "branch", "福田分局").await;
    let other_branch = s.unit(&admin, s.city, "branch", "罗湖分局").await;
    let station = s.unit(&admin, branch, "station", "福田派出所").await;
    let id = s.user(&admin, station, "ft.wang", &["officer"]).await;
    s.user(&admin, other_branch, "lh.admin", &["admin"]).await;
    let outsider = s.token("lh.admin", PASSWORD).await;
    s.user(&admin, station, "ft.officer", &["officer"]).await;
    let officer = s.token("ft.officer", PASSWORD).await;
    let token = s.token("ft.wang", PASSWORD).await;
    let url = format!("/api/v1/admin/users/{id}/active");

    // Not an admin; an admin of another branch (as if there were no such user); a
    // deactivation without a reason; an admin deactivating themself.
    problem(
        s.post_json(
            &url,
            Some(&officer),
            &json!({"active": false, "reason": "调离"}),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    problem(
        s.post_json(
            &url,
            Some(&outsider),
            &json!({"active": false, "reason": "调离"}),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    problem(
        s.post_json(
            &url,
            Some(&admin),
            &json!({"active": false, "reason": "  "}),
        )
        .await,
        400,
        "invalid_input",
    )
    .await;
    problem(
        s.post_json(
            &format!("/api/v1/admin/users/{admin_id}/active"),
            Some(&admin),
            &json!({"active": false, "reason": "x"}),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    assert_eq!(s.get("/api/v1/me", Some(&token)).await.status(), 200);

    let res = s
        .post_json(
            &url,
            Some(&admin),
            &json!({"active": false, "reason": "调离本局"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["active"], false);
    assert_eq!(s.get("/api/v1/me", Some(&token)).await.status(), 401);
    assert_eq!(s.login("ft.wang", PASSWORD).await.status(), 401);
    problem(
        s.post_json(
            &url,
            Some(&admin),
            &json!({"active": false, "reason": "again"}),
        )
        .await,
        409,
        "already_done",
    )
    .await;

    let res = s
        .post_json(
            &url,
            Some(&admin),
            &json!({"active": true, "reason": "返岗"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    // The old session stays ended; a new sign-in works.
    assert_eq!(s.get("/api/v1/me", Some(&token)).await.status(), 401);
    assert_eq!(s.login("ft.wang", PASSWORD).await.status(), 200);

    let off = audit(&s, "user.deactivate");
    assert_eq!(off.len(), 1);
    assert_eq!((off[0].0, off[0].1), (Some(admin_id), Some(id)));
    assert!(off[0].2.contains("调离本局"), "{}", off[0].2);
    let on = audit(&s, "user.reactivate");
    assert_eq!(on.len(), 1);
    assert!(on[0].2.contains("返岗"), "{}", on[0].2);
}

#[tokio::test]
async fn a_unit_is_renamed_inside_the_admins_subtree_with_the_reason_logged() {
    let s = TestServer::start().await;
    let admin = s.admin_token().await;
    let branch = s.unit(&admin, s.city, "branch", "福田分局").await;
    let other = s.unit(&admin, s.city, "branch", "罗湖分局").await;
    let station = s.unit(&admin, branch, "station", "福田派出所").await;
    s.user(&admin, other, "lh.admin", &["admin"]).await;
    let outsider = s.token("lh.admin", PASSWORD).await;
    s.user(&admin, station, "ft.officer", &["officer"]).await;
    let officer = s.token("ft.officer", PASSWORD).await;
    let url = format!("/api/v1/admin/units/{station}/name");
    let body = json!({"name": "福田街道派出所", "reason": "机构调整"});

    problem(
        s.post_json(&url, Some(&officer), &body).await,
        403,
        "forbidden",
    )
    .await;
    problem(
        s.post_json(&url, Some(&outsider), &body).await,
        404,
        "not_found",
    )
    .await;
    problem(
        s.post_json(&url, Some(&admin), &json!({"name": "x", "reason": ""}))
            .await,
        400,
        "invalid_input",
    )
    .await;
    let res = s.post_json(&url, Some(&admin), &body).await;
    assert_eq!(res.status(), 200);
    let me: Value = s
        .get("/api/v1/me", Some(&officer))
        .await
        .json()
        .await
        .expect("me");
    let name = me["units"]
        .as_array()
        .expect("units")
        .iter()
        .find(|u| u["id"] == station)
        .map(|u| u["name"].clone());
    assert_eq!(name, Some(json!("福田街道派出所")));
    let renamed = audit(&s, "unit.rename");
    assert_eq!(renamed.len(), 1);
    assert!(
        renamed[0].2.contains("福田派出所") && renamed[0].2.contains("机构调整"),
        "{}",
        renamed[0].2
    );
}

async fn sync_page(s: &TestServer, token: &str, cursor: i64) -> Value {
    let res = s
        .get(
            &format!("/api/v1/sync?cursor={cursor}&limit=100"),
            Some(token),
        )
        .await;
    assert_eq!(res.status(), 200);
    res.json().await.expect("json")
}

#[tokio::test]
async fn a_station_moves_to_another_branch_and_both_branches_desktops_follow() {
    let s = TestServer::start().await;
    let admin = s.admin_token().await;
    let futian = s.unit(&admin, s.city, "branch", "福田分局").await;
    let luohu = s.unit(&admin, s.city, "branch", "罗湖分局").await;
    let station = s.unit(&admin, futian, "station", "莲花派出所").await;
    let other_station = s.unit(&admin, futian, "station", "园岭派出所").await;
    s.user(&admin, s.city, "city.desk", &["dispatcher"]).await;
    s.user(&admin, futian, "ft.desk", &["dispatcher"]).await;
    s.user(&admin, luohu, "lh.desk", &["dispatcher"]).await;
    s.user(&admin, luohu, "lh.admin", &["admin"]).await;
    s.user(&admin, station, "lh.officer", &["officer"]).await;
    let (desk, ft, lh) = (
        s.token("city.desk", PASSWORD).await,
        s.token("ft.desk", PASSWORD).await,
        s.token("lh.desk", PASSWORD).await,
    );
    let (outsider, officer) = (
        s.token("lh.admin", PASSWORD).await,
        s.token("lh.officer", PASSWORD).await,
    );
    let res = s.post_public_letter(&letter_json(), Vec::new()).await;
    assert_eq!(res.status(), 201);
    // The public answer carries the receipt only; the city desk's sync has the letter.
    let id = sync_page(&s, &desk, 0).await["changes"][0]["letter"]["id"]
        .as_i64()
        .expect("id");
    let res = s
        .client
        .post(s.url(&format!("/api/v1/letters/{id}/actions")))
        .bearer_auth(&desk)
        .header("Idempotency-Key", "2f7c1f0e-move-dispatch")
        .json(&json!({"expected_version": 1, "action": {"action": "dispatch", "to": station}}))
        .send()
        .await
        .expect("dispatch");
    assert_eq!(res.status(), 200, "{:?}", res.text().await);

    let ft_page = sync_page(&s, &ft, 0).await;
    assert_eq!(ft_page["changes"][0]["letter"]["id"], id, "{ft_page}");
    let lh_page = sync_page(&s, &lh, 0).await;
    assert_eq!(lh_page["changes"], json!([]));

    let url = format!("/api/v1/admin/units/{station}/parent");
    let body = json!({"parent_id": luohu, "reason": "辖区调整"});
    problem(
        s.post_json(&url, Some(&officer), &body).await,
        403,
        "forbidden",
    )
    .await;
    // The 罗湖 admin administers the target branch but not the station where it is.
    problem(
        s.post_json(&url, Some(&outsider), &body).await,
        404,
        "not_found",
    )
    .await;
    problem(
        s.post_json(
            &url,
            Some(&admin),
            &json!({"parent_id": other_station, "reason": "x"}),
        )
        .await,
        400,
        "invalid_input",
    )
    .await;
    problem(
        s.post_json(
            &format!("/api/v1/admin/units/{}/parent", s.city),
            Some(&admin),
            &json!({"parent_id": futian, "reason": "x"}),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    let res = s.post_json(&url, Some(&admin), &body).await;
    assert_eq!(res.status(), 200);
    let moved: Value = res.json().await.expect("json");
    assert_eq!(moved["parent_id"], luohu);

    // 福田's desktop forgets the letter, 罗湖's fetches it from where it stood.
    let ft_next = sync_page(&s, &ft, ft_page["next_cursor"].as_i64().expect("c")).await;
    assert_eq!(
        ft_next["changes"],
        json!([{"type": "removed", "letter_id": id}]),
        "{ft_next}"
    );
    let lh_next = sync_page(&s, &lh, lh_page["next_cursor"].as_i64().expect("c")).await;
    assert_eq!(lh_next["changes"][0]["letter"]["id"], id, "{lh_next}");
    // And the letter itself is now 罗湖's to read, not 福田's.
    assert_eq!(
        s.get(&format!("/api/v1/letters/{id}"), Some(&ft))
            .await
            .status(),
        404
    );
    assert_eq!(
        s.get(&format!("/api/v1/letters/{id}"), Some(&lh))
            .await
            .status(),
        200
    );
    let logged = audit(&s, "unit.move");
    assert_eq!(logged.len(), 1);
    assert!(logged[0].2.contains("辖区调整"), "{}", logged[0].2);
}

#[tokio::test]
async fn an_admin_changes_roles_and_unit_scoped_with_one_chief_per_unit() {
    let s = TestServer::start().await;
    let admin = s.admin_token().await;
    let admin_id = s
        .cli_user(s.city, "second.admin", &[jsjb_core::org::Role::Admin])
        .await;
    let second = s.token("second.admin", PASSWORD).await;
    let branch = s.unit(&admin, s.city, "branch", "南山分局").await;
    let other = s.unit(&admin, s.city, "branch", "宝安分局").await;
    let station = s.unit(&admin, branch, "station", "南头派出所").await;
    let elsewhere = s.unit(&admin, other, "station", "西乡派出所").await;
    s.user(&admin, station, "nt.chief", &["chief"]).await;
    let id = s.user(&admin, station, "nt.zhou", &["officer"]).await;
    s.user(&admin, branch, "ns.admin", &["admin"]).await;
    let branch_admin = s.token("ns.admin", PASSWORD).await;
    let token = s.token("nt.zhou", PASSWORD).await;
    let url = format!("/api/v1/admin/users/{id}");

    // A second chief for the unit is refused; so is a unit outside the admin's subtree.
    problem(
        s.post_json(
            &url,
            Some(&admin),
            &json!({"roles": ["chief"], "reason": "任命"}),
        )
        .await,
        409,
        "chief_exists",
    )
    .await;
    problem(
        s.post_json(
            &url,
            Some(&branch_admin),
            &json!({"unit_id": elsewhere, "reason": "调动"}),
        )
        .await,
        400,
        "invalid_input",
    )
    .await;
    problem(
        s.post_json(&url, Some(&admin), &json!({"reason": "无变化"}))
            .await,
        409,
        "already_done",
    )
    .await;
    problem(
        s.post_json(
            &format!("/api/v1/admin/users/{admin_id}"),
            Some(&second),
            &json!({"roles": ["officer"], "reason": "x"}),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    problem(
        s.post_json(&url, Some(&admin), &json!({"roles": [], "reason": "x"}))
            .await,
        400,
        "invalid_input",
    )
    .await;
    // A display name alone keeps the session; a new unit ends it.
    let res = s
        .post_json(
            &url,
            Some(&admin),
            &json!({"display_name": "周警官", "reason": "更正姓名"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(s.get("/api/v1/me", Some(&token)).await.status(), 200);
    let res = s
        .post_json(
            &url,
            Some(&admin),
            &json!({"unit_id": elsewhere, "roles": ["officer", "dispatcher"], "reason": "调动"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["user"]["unit_id"], elsewhere, "{body}");
    assert_eq!(body["sessions_revoked"], 1, "{body}");
    assert_eq!(s.get("/api/v1/me", Some(&token)).await.status(), 401);
    let me = login_body(&s, "nt.zhou", PASSWORD).await;
    assert_eq!(me["me"]["unit_id"], elsewhere);
    let logged = audit(&s, "user.update");
    assert_eq!(logged.len(), 2);
    assert!(logged[1].2.contains("调动"), "{}", logged[1].2);
    // The branch admin cannot reach the user any more: they left the subtree.
    problem(
        s.post_json(
            &url,
            Some(&branch_admin),
            &json!({"display_name": "x", "reason": "x"}),
        )
        .await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn a_unit_is_deactivated_only_when_nothing_depends_on_it_and_then_receives_no_letters() {
    let s = TestServer::start().await;
    let admin = s.admin_token().await;
    let branch = s.unit(&admin, s.city, "branch", "盐田分局").await;
    let station = s.unit(&admin, branch, "station", "沙头角派出所").await;
    let officer = s.user(&admin, station, "stj.he", &["officer"]).await;
    s.user(&admin, s.city, "city.desk", &["dispatcher"]).await;
    let desk = s.token("city.desk", PASSWORD).await;
    let url = format!("/api/v1/admin/units/{station}/active");
    problem(
        s.post_json(
            &url,
            Some(&admin),
            &json!({"active": false, "reason": "撤并"}),
        )
        .await,
        409,
        "unit_in_use",
    )
    .await;
    let res = s
        .post_json(
            &format!("/api/v1/admin/users/{officer}/active"),
            Some(&admin),
            &json!({"active": false, "reason": "调离"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = s
        .post_json(
            &url,
            Some(&admin),
            &json!({"active": false, "reason": "撤并"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["active"], false);
    // The tree still lists it (its letters' history names it), marked inactive.
    let me: Value = s
        .get("/api/v1/me", Some(&desk))
        .await
        .json()
        .await
        .expect("me");
    let listed = me["units"]
        .as_array()
        .expect("units")
        .iter()
        .find(|u| u["id"] == station)
        .cloned()
        .expect("listed");
    assert_eq!(listed["active"], false, "{listed}");
    // A dispatch to it is refused with a code the desk shows.
    let res = s.post_public_letter(&letter_json(), Vec::new()).await;
    assert_eq!(res.status(), 201);
    let id = sync_page(&s, &desk, 0).await["changes"][0]["letter"]["id"]
        .as_i64()
        .expect("id");
    let res = s
        .client
        .post(s.url(&format!("/api/v1/letters/{id}/actions")))
        .bearer_auth(&desk)
        .header("Idempotency-Key", "5c1e-deactivated-dispatch")
        .json(&json!({"expected_version": 1, "action": {"action": "dispatch", "to": station}}))
        .send()
        .await
        .expect("dispatch");
    problem(res, 422, "unit_inactive").await;
    let logged = audit(&s, "unit.deactivate");
    assert_eq!(logged.len(), 1);
    assert!(logged[0].2.contains("撤并"), "{}", logged[0].2);
}

#[tokio::test]
async fn a_session_renews_while_used_ends_when_idle_or_at_its_maximum_and_an_admin_ends_it_at_once()
{
    let s = TestServer::start_with(|c| {
        c.session_ttl_minutes = 16 * 60;
        c.session_idle_minutes = 4 * 60;
    })
    .await;
    let admin = s.admin_token().await;
    let branch = s.unit(&admin, s.city, "branch", "龙岗分局").await;
    let station = s.unit(&admin, branch, "station", "布吉派出所").await;
    let id = s.user(&admin, station, "bj.lin", &["officer"]).await;
    let busy = s.token("bj.lin", PASSWORD).await;
    let idle = s.token("bj.lin", PASSWORD).await;
    let me = |token: String| {
        let s = &s;
        async move { s.get("/api/v1/me", Some(&token)).await.status().as_u16() }
    };
    // A 12-hour shift of use, a request every three hours: never signed out.
    for _ in 0..4 {
        s.advance(chrono::Duration::hours(3));
        assert_eq!(me(busy.clone()).await, 200);
    }
    // The unused one ended after four idle hours.
    problem(
        s.get("/api/v1/me", Some(&idle)).await,
        401,
        "session_expired",
    )
    .await;
    // Use does not stretch a session past its maximum (16 h from sign-in).
    s.advance(chrono::Duration::hours(3));
    assert_eq!(me(busy.clone()).await, 200, "15 h");
    s.advance(chrono::Duration::hours(1));
    problem(
        s.get("/api/v1/me", Some(&busy)).await,
        401,
        "session_expired",
    )
    .await;

    // 强制下线: every open session of the user ends at once, with the reason logged.
    let admin = s.admin_token().await;
    let a = s.token("bj.lin", PASSWORD).await;
    let b = s.token("bj.lin", PASSWORD).await;
    let url = format!("/api/v1/admin/users/{id}/sessions/revoke");
    problem(
        s.post_json(&url, Some(&admin), &json!({"reason": ""}))
            .await,
        400,
        "invalid_input",
    )
    .await;
    let res = s
        .post_json(&url, Some(&admin), &json!({"reason": "工作站遗失"}))
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["sessions_revoked"], 2, "{body}");
    assert_eq!(me(a).await, 401);
    assert_eq!(me(b).await, 401);
    // The account itself stays usable.
    assert_eq!(s.login("bj.lin", PASSWORD).await.status(), 200);
    let logged = audit(&s, "user.sessions_revoke");
    assert!(logged[0].2.contains("工作站遗失"), "{}", logged[0].2);
}
