//! Two-factor sign-in (issue 20) over raw HTTP: enrolment, the code step,
//! replays, clock drift, recovery codes, throttling, the workspace policy and
//! an admin's reset, each tried the way an attacker would.

use crate::common::*;
use chrono::Duration;
use keyward::auth::totp;
use reqwest::StatusCode;
use serde_json::Value;

/// A `KEYWARD_SECRET_KEY` for the tests (32 bytes of hex).
const SECRET_KEY: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

async fn spawn() -> TestApp {
    spawn_app_with(&[("KEYWARD_SECRET_KEY", SECRET_KEY)]).await
}

/// Moves the clock to one second into a TOTP step, so that the test has 29
/// seconds of real time before "now" moves on to the next step.
fn align_to_step_start(app: &TestApp) {
    let into_step = app.clock.now().timestamp().rem_euclid(30);
    app.clock.advance(Duration::seconds(30 - into_step + 1));
}

fn step(app: &TestApp) -> i64 {
    totp::step_of(app.clock.now())
}

/// What `client` sees in its Account page's two-factor section.
async fn two_factor_view(client: &Client) -> Value {
    client.ok("load_account", &[]).await["two_factor"].clone()
}

/// Turns two-factor sign-in on for `client`'s user; returns the secret and
/// the recovery codes, as the user would read them off the page.
async fn enrol(app: &TestApp, client: &Client) -> (Vec<u8>, Vec<String>) {
    client.ok("begin_two_factor", &[]).await;
    let pending = two_factor_view(client).await["Pending"].clone();
    let secret_text = pending["secret_text"].as_str().expect("a pending secret");
    let secret = totp::secret_from_text(secret_text).expect("the key reads back");
    let codes: Vec<String> = pending["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|code| code.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    assert!(
        pending["qr_svg"].as_str().unwrap().contains("<svg"),
        "{pending}"
    );
    let code = totp::code_at_step(&secret, step(app));
    client
        .ok(
            "confirm_two_factor",
            &[("code", &code), ("password", PASSWORD)],
        )
        .await;
    (secret, codes)
}

/// Posts the password step from a new browser; returns it and where it was sent.
async fn password_step(app: &TestApp, email: &str) -> (Client, String) {
    let client = Client::new(app);
    let response = client
        .http
        .post(format!("{}/rpc/sign_in", app.base))
        .form(&[("email", email), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    // Location is set for the browser's server-function client as well.
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    (client, location)
}

async fn status_of(client: &Client, name: &str, form: &[(&str, &str)]) -> (StatusCode, String) {
    let (status, body) = client.rpc(name, form).await;
    (status, body["kind"].as_str().unwrap_or_default().to_owned())
}

async fn actions(app: &TestApp, action: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM audit_entries WHERE action = $1")
        .bind(action)
        .fetch_one(app.db.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn enrolment_needs_one_valid_code_and_then_sign_in_asks_for_a_code() {
    let app = spawn().await;
    align_to_step_start(&app);
    let admin = admin(&app).await;
    assert_eq!(two_factor_view(&admin).await, "Off");
    admin.ok("begin_two_factor", &[]).await;
    let pending = two_factor_view(&admin).await["Pending"].clone();
    let secret = totp::secret_from_text(pending["secret_text"].as_str().unwrap()).unwrap();

    // Not on until a code proves the app has it; a wrong code says which field.
    let near =
        |code: &str| (-1..=1).any(|drift| totp::code_at_step(&secret, step(&app) + drift) == code);
    let wrong = if near("000000") { "111111" } else { "000000" };
    let (status, body) = admin
        .rpc(
            "confirm_two_factor",
            &[("code", wrong), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "code", "{body}");
    let (status, body) = admin
        .rpc(
            "confirm_two_factor",
            &[("code", "twelve"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // A borrowed session without the password cannot put the borrower's app on.
    let right = totp::code_at_step(&secret, step(&app));
    let (status, body) = admin
        .rpc(
            "confirm_two_factor",
            &[("code", &right), ("password", "not the password")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "password", "{body}");
    assert!(two_factor_view(&admin).await["Pending"].is_object());
    let (_, location) = password_step(&app, "ana@example.com").await;
    assert_eq!(
        location, "/settings/api-keys",
        "pending set-up changes nothing"
    );

    // A browser that signed in with the password alone is signed out by turning it on.
    let older = Client::new(&app);
    older
        .ok(
            "sign_in",
            &[("email", "ana@example.com"), ("password", PASSWORD)],
        )
        .await;
    let code = totp::code_at_step(&secret, step(&app));
    admin
        .ok(
            "confirm_two_factor",
            &[("code", &code), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(
        status_of(&older, "load_me", &[]).await.0,
        StatusCode::UNAUTHORIZED
    );
    let on = two_factor_view(&admin).await;
    assert_eq!(on["On"]["recovery_codes_left"], 10, "{on}");
    assert_eq!(actions(&app, "user.two_factor_enabled").await, 1);

    // The secret is sealed at rest; the codes are digests.
    let sealed: String = sqlx::query_scalar("SELECT secret_sealed FROM user_two_factor")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    let secret_text = pending["secret_text"].as_str().unwrap().replace(' ', "");
    assert!(!sealed.contains(&secret_text[..8]), "{sealed}");
    let first_code = pending["recovery_codes"][0].as_str().unwrap();
    let plain_codes = count(
        &app,
        &format!(
            "SELECT COUNT(*) FROM recovery_codes WHERE digest = '{first_code}' OR digest = '{}'",
            first_code.replace('-', "")
        ),
    )
    .await;
    assert_eq!(plain_codes, 0);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM user_two_factor WHERE recovery_sealed IS NOT NULL"
        )
        .await,
        0,
        "the shown codes are gone once it is on"
    );

    // The password alone now half signs in: nothing else is open.
    let (browser, location) = password_step(&app, "ana@example.com").await;
    assert_eq!(location, "/signin/code");
    assert_eq!(
        status_of(&browser, "load_me", &[]).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status_of(&browser, "load_account", &[]).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status_of(&browser, "begin_two_factor", &[]).await.0,
        StatusCode::UNAUTHORIZED
    );
    let page = browser.get("/settings/api-keys").await;
    assert_eq!(page.headers()["location"], "/signin");
    assert_eq!(browser.get("/signin/code").await.status(), StatusCode::OK);

    // The code that turned it on cannot sign in: its step is spent.
    let (status, body) = browser.rpc("sign_in_code", &[("code", &code)]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "code");
    app.clock.advance(Duration::seconds(30));
    let next = totp::code_at_step(&secret, step(&app));
    browser.ok("sign_in_code", &[("code", &next)]).await;
    assert_eq!(browser.ok("load_me", &[]).await["email"], "ana@example.com");
    let signed_in: Option<String> = sqlx::query_scalar(
        "SELECT changes FROM audit_entries WHERE action = 'user.signed_in' ORDER BY seq DESC LIMIT 1",
    )
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert!(signed_in.unwrap_or_default().contains("app_code"));

    // Replay: the same code from another browser, within its 90 seconds.
    let (thief, _) = password_step(&app, "ana@example.com").await;
    let (status, _) = thief.rpc("sign_in_code", &[("code", &next)]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        status_of(&thief, "load_me", &[]).await.0,
        StatusCode::UNAUTHORIZED
    );
    let sign_in_page = thief.get("/signin/code").await;
    assert_eq!(sign_in_page.status(), StatusCode::OK, "still owes a code");
}

#[tokio::test]
async fn codes_one_step_either_side_pass_and_two_steps_away_do_not() {
    let app = spawn().await;
    align_to_step_start(&app);
    let admin = admin(&app).await;
    let (secret, _) = enrol(&app, &admin).await;
    let now = step(&app);

    let (ahead, _) = password_step(&app, "ana@example.com").await;
    ahead
        .ok(
            "sign_in_code",
            &[("code", &totp::code_at_step(&secret, now + 1))],
        )
        .await;
    // Three steps on, a code of the step before now is from a slow phone.
    app.clock.advance(Duration::seconds(90));
    let (behind, _) = password_step(&app, "ana@example.com").await;
    behind
        .ok(
            "sign_in_code",
            &[("code", &totp::code_at_step(&secret, now + 2))],
        )
        .await;
    let (far, _) = password_step(&app, "ana@example.com").await;
    let now = step(&app);
    for far_step in [now + 2, now - 3] {
        let code = totp::code_at_step(&secret, far_step);
        let near = (-1..=1).any(|drift| totp::code_at_step(&secret, now + drift) == code);
        assert!(!near, "a one-in-a-million collision: rerun");
        let (status, _) = far.rpc("sign_in_code", &[("code", &code)]).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "step {far_step}");
    }
}

#[tokio::test]
async fn a_recovery_code_signs_in_once() {
    let app = spawn().await;
    let admin = admin(&app).await;
    let (_, codes) = enrol(&app, &admin).await;

    let (browser, _) = password_step(&app, "ana@example.com").await;
    // Typed in capitals without the dash: still the same code.
    let typed = codes[3].replace('-', "").to_ascii_uppercase();
    browser.ok("sign_in_code", &[("code", &typed)]).await;
    assert_eq!(browser.ok("load_me", &[]).await["email"], "ana@example.com");
    assert_eq!(actions(&app, "user.recovery_code_used").await, 1);
    assert_eq!(
        two_factor_view(&browser).await["On"]["recovery_codes_left"],
        9
    );

    let (again, _) = password_step(&app, "ana@example.com").await;
    let (status, body) = again.rpc("sign_in_code", &[("code", &codes[3])]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    again.ok("sign_in_code", &[("code", &codes[4])]).await;
}

#[tokio::test]
async fn the_code_step_expires_after_five_minutes() {
    let app = spawn().await;
    let admin = admin(&app).await;
    let (secret, _) = enrol(&app, &admin).await;
    let (browser, _) = password_step(&app, "ana@example.com").await;
    app.clock.advance(Duration::minutes(6));
    let code = totp::code_at_step(&secret, step(&app));
    let (status, _) = browser.rpc("sign_in_code", &[("code", &code)]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        browser.get("/signin/code").await.headers()["location"],
        "/signin"
    );
    // Without any password step at all, the same.
    let stranger = Client::new(&app);
    let (status, _) = stranger.rpc("sign_in_code", &[("code", &code)]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn wrong_codes_are_throttled_like_wrong_passwords() {
    let app = spawn().await;
    align_to_step_start(&app);
    let admin = admin(&app).await;
    let (secret, _) = enrol(&app, &admin).await;
    let (browser, _) = password_step(&app, "ana@example.com").await;
    let right = totp::code_at_step(&secret, step(&app) + 1);
    let wrong = if right == "123456" {
        "654321"
    } else {
        "123456"
    };
    // Ten guesses in parallel: each is counted before it is checked.
    let form = [("code", wrong)];
    let guesses = (0..10).map(|_| browser.rpc("sign_in_code", &form));
    for (status, body) in futures::future::join_all(guesses).await {
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
    let (status, body) = browser.rpc("sign_in_code", &[("code", &right)]).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(
        status_of(&browser, "load_me", &[]).await.0,
        StatusCode::UNAUTHORIZED
    );
    // The password step is throttled by the same count.
    let client = Client::new(&app);
    let (status, _) = client
        .rpc(
            "sign_in",
            &[("email", "ana@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn the_same_code_in_a_parallel_burst_signs_in_once() {
    let app = spawn().await;
    align_to_step_start(&app);
    let admin = admin(&app).await;
    let (secret, _) = enrol(&app, &admin).await;
    let mut browsers = Vec::new();
    for _ in 0..8 {
        browsers.push(password_step(&app, "ana@example.com").await.0);
    }
    let code = totp::code_at_step(&secret, step(&app) + 1);
    let form = [("code", code.as_str())];
    let tries = browsers
        .iter()
        .map(|browser| browser.rpc("sign_in_code", &form));
    let answers = futures::future::join_all(tries).await;
    let passed = answers
        .iter()
        .filter(|(status, _)| status.is_success() || status.is_redirection())
        .count();
    assert_eq!(passed, 1, "{answers:?}");
}

#[tokio::test]
async fn a_required_policy_closes_everything_but_enrolment_and_sign_out() {
    let app = spawn().await;
    align_to_step_start(&app);
    let admin = admin(&app).await;
    let developer = member(&app, &admin, "dev@example.com", "developer").await;
    let viewer = member(&app, &admin, "viewer@example.com", "viewer").await;

    // Only an admin, and only one who has it on themselves.
    let (status, kind) =
        status_of(&developer, "set_two_factor_policy", &[("required", "true")]).await;
    assert_eq!(
        (status, kind.as_str()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    let (status, body) = admin
        .rpc("set_two_factor_policy", &[("required", "true")])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "two_factor_required");
    let (status, _) = admin
        .rpc("set_two_factor_policy", &[("required", "yes please")])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    enrol(&app, &admin).await;
    admin
        .ok("set_two_factor_policy", &[("required", "true")])
        .await;
    let policy = admin.ok("load_two_factor_policy", &[]).await;
    assert_eq!(policy["required"], true);
    assert_eq!(policy["members_without"], 2);
    assert!(
        audit_actions(&app)
            .await
            .contains(&"settings.changed".to_owned())
    );

    // The developer without it: every workspace function refuses.
    for (name, form) in [
        ("load_keys", vec![]),
        ("load_members", vec![]),
        ("load_two_factor_policy", vec![]),
        ("rename_account", vec![("name", "Dev")]),
        ("create_workspace", vec![("name", "Escape hatch")]),
        ("end_other_sessions", vec![]),
    ] {
        let (status, kind) = status_of(&developer, name, &form).await;
        assert_eq!(
            (status, kind.as_str()),
            (StatusCode::FORBIDDEN, "two_factor_required"),
            "{name}"
        );
    }
    let page = developer.get("/settings/api-keys").await;
    assert!(page.status().is_redirection());
    assert!(
        page.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/settings/account?two_factor_required"),
        "{:?}",
        page.headers()
    );
    assert_eq!(
        developer.get("/settings/account").await.status(),
        StatusCode::OK
    );
    // …but the frame, the Account page's data and enrolment stay open.
    developer.ok("load_me", &[]).await;
    assert_eq!(
        developer.ok("load_account", &[]).await["two_factor_required"],
        true
    );
    enrol(&app, &developer).await;
    developer.ok("load_keys", &[]).await;
    assert_eq!(
        developer.ok("load_account", &[]).await["two_factor_required"],
        false
    );

    // A required policy cannot be switched off from one's own account.
    let (status, body) = developer
        .rpc("disable_two_factor", &[("password", PASSWORD)])
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // Signing out still works for the viewer who has not enrolled.
    let (status, kind) = status_of(&viewer, "load_keys", &[]).await;
    assert_eq!(
        (status, kind.as_str()),
        (StatusCode::FORBIDDEN, "two_factor_required")
    );
    viewer.ok("sign_out", &[]).await;
    assert_eq!(
        status_of(&viewer, "load_me", &[]).await.0,
        StatusCode::UNAUTHORIZED
    );

    // Off again: the viewer is back in without it.
    admin.ok("set_two_factor_policy", &[]).await;
    let viewer = Client::new(&app);
    viewer
        .ok(
            "sign_in",
            &[("email", "viewer@example.com"), ("password", PASSWORD)],
        )
        .await;
    viewer.ok("load_keys", &[]).await;
}

#[tokio::test]
async fn only_an_admin_of_the_members_workspace_can_reset_their_second_factor() {
    let app = spawn().await;
    align_to_step_start(&app);
    let admin = admin(&app).await;
    let developer = member(&app, &admin, "dev@example.com", "developer").await;
    let colleague = member(&app, &admin, "col@example.com", "developer").await;
    enrol(&app, &developer).await;
    let developer_id = user_id_of(&app, "dev@example.com").await;
    let members = admin.ok("load_members", &[]).await;
    let shown = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|member| member["email"] == "dev@example.com")
        .unwrap()
        .clone();
    assert_eq!(shown["two_factor"], true);

    let (status, _) = colleague
        .rpc("reset_member_two_factor", &[("user_id", &developer_id)])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // An admin of another workspace: the member is not theirs.
    let other_admin = Client::new(&app);
    let outsider_token = invite(&admin, "outsider@example.com", "viewer").await;
    other_admin
        .ok(
            "accept_invite",
            &[
                ("token", &outsider_token),
                ("name", "Out"),
                ("password", PASSWORD),
            ],
        )
        .await;
    other_admin
        .ok("create_workspace", &[("name", "Other Co")])
        .await;
    let (status, body) = other_admin
        .rpc("reset_member_two_factor", &[("user_id", &developer_id)])
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _) = admin
        .rpc("reset_member_two_factor", &[("user_id", "no-such-user")])
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    admin
        .ok("reset_member_two_factor", &[("user_id", &developer_id)])
        .await;
    assert_eq!(
        status_of(&developer, "load_me", &[]).await.0,
        StatusCode::UNAUTHORIZED,
        "the member's sessions end with the reset"
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM user_two_factor").await, 0);
    assert_eq!(actions(&app, "member.two_factor_reset").await, 1);
    let (status, _) = admin
        .rpc("reset_member_two_factor", &[("user_id", &developer_id)])
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "nothing left to reset");
    let (_, location) = password_step(&app, "dev@example.com").await;
    assert_eq!(location, "/settings/api-keys");
}

#[tokio::test]
async fn turning_it_off_needs_the_password() {
    let app = spawn().await;
    align_to_step_start(&app);
    let admin = admin(&app).await;
    enrol(&app, &admin).await;
    let (status, body) = admin
        .rpc("disable_two_factor", &[("password", "not my password")])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "password");
    admin
        .ok("disable_two_factor", &[("password", PASSWORD)])
        .await;
    assert_eq!(two_factor_view(&admin).await, "Off");
    assert_eq!(actions(&app, "user.two_factor_disabled").await, 1);
    let (status, _) = admin
        .rpc("disable_two_factor", &[("password", PASSWORD)])
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn joining_through_an_invite_does_not_skip_the_code() {
    let app = spawn().await;
    align_to_step_start(&app);
    let admin = admin(&app).await;
    let developer = member(&app, &admin, "dev@example.com", "developer").await;
    let (secret, _) = enrol(&app, &developer).await;
    // The developer (with a second factor) is invited into a second
    // workspace of Ana's, and accepts with their password.
    admin.ok("create_workspace", &[("name", "Third")]).await;
    let token = invite(&admin, "dev@example.com", "viewer").await;
    let browser = Client::new(&app);
    let response = browser
        .http
        .post(format!("{}/rpc/accept_invite", app.base))
        .form(&[("token", token.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(response.headers()["location"], "/signin/code");
    assert_eq!(
        status_of(&browser, "load_me", &[]).await.0,
        StatusCode::UNAUTHORIZED
    );
    let memberships = "SELECT COUNT(*) FROM memberships m JOIN users u ON u.id = m.user_id
                       WHERE u.email = 'dev@example.com'";
    assert_eq!(
        count(&app, memberships).await,
        1,
        "the password alone joins nothing"
    );
    let code = totp::code_at_step(&secret, step(&app) + 1);
    browser.ok("sign_in_code", &[("code", &code)]).await;
    let me = browser.ok("load_me", &[]).await;
    assert_eq!(me["email"], "dev@example.com");
    assert_eq!(
        me["workspace"]["name"], "Third",
        "the session starts in the joined workspace"
    );
    assert_eq!(count(&app, memberships).await, 2);
}

#[tokio::test]
async fn without_a_secret_key_two_factor_cannot_be_turned_on() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    assert_eq!(two_factor_view(&admin).await, "Unavailable");
    let (status, body) = admin.rpc("begin_two_factor", &[]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("KEYWARD_SECRET_KEY"),
        "{body}"
    );
    let (status, _) = admin
        .rpc("set_two_factor_policy", &[("required", "true")])
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        admin.ok("load_two_factor_policy", &[]).await["available"],
        false
    );
}

/// The attack a review found: with only the victim's password, make a
/// workspace, invite the victim, accept for them, then reset their second
/// factor as that workspace's admin. Accepting now joins nothing without the
/// code, and a reset needs an admin of every workspace the member is in.
#[tokio::test]
async fn a_password_and_a_workspace_of_ones_own_cannot_strip_a_second_factor() {
    let app = spawn().await;
    align_to_step_start(&app);
    let admin = admin(&app).await;
    let victim = member(&app, &admin, "victim@example.com", "developer").await;
    enrol(&app, &victim).await;
    let victim_id = user_id_of(&app, "victim@example.com").await;

    let attacker = member(&app, &admin, "mallory@example.com", "viewer").await;
    attacker
        .ok("create_workspace", &[("name", "Mallory Co")])
        .await;
    let token = invite(&attacker, "victim@example.com", "viewer").await;
    let stranger = Client::new(&app);
    let response = stranger
        .http
        .post(format!("{}/rpc/accept_invite", app.base))
        .form(&[("token", token.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["location"], "/signin/code");
    let (status, body) = attacker
        .rpc("reset_member_two_factor", &[("user_id", &victim_id)])
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    // Even a workspace the victim really joined does not give its admin the
    // reach to weaken their sign-in to Acme.
    victim
        .ok("create_workspace", &[("name", "Victim Co")])
        .await;
    let (status, body) = admin
        .rpc("reset_member_two_factor", &[("user_id", &victim_id)])
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(matches!(
        two_factor_view(&victim).await["On"],
        Value::Object(_)
    ));
}
