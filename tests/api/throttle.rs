//! Sign-in throttling under concurrency (issue 12 §6): parallel guesses cannot
//! get more password checks than sequential ones, at sign-in and when joining
//! a workspace with an existing account.

use crate::common::*;
use reqwest::StatusCode;

const GUESSES: usize = 40;
const MAX_CHECKED: usize = 10;

/// Counts the answers: `(checked and wrong, throttled, anything else)`.
fn tally(statuses: &[StatusCode], wrong: StatusCode) -> (usize, usize, Vec<StatusCode>) {
    let checked = statuses.iter().filter(|s| **s == wrong).count();
    let throttled = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    let other = statuses
        .iter()
        .copied()
        .filter(|s| *s != wrong && *s != StatusCode::TOO_MANY_REQUESTS)
        .collect();
    (checked, throttled, other)
}

async fn failures_logged(app: &TestApp) -> usize {
    audit_actions(app)
        .await
        .iter()
        .filter(|action| *action == "user.sign_in_failed")
        .count()
}

#[tokio::test]
async fn forty_parallel_wrong_passwords_get_at_most_ten_checks() {
    let app = spawn_app().await;
    let _admin = admin(&app).await;
    let guesses = (0..GUESSES).map(|n| {
        let client = Client::new(&app);
        async move {
            let password = format!("wrong guess number {n}");
            let (status, _) = client
                .rpc(
                    "sign_in",
                    &[("email", "ana@example.com"), ("password", &password)],
                )
                .await;
            status
        }
    });
    let statuses = futures::future::join_all(guesses).await;
    let (checked, throttled, other) = tally(&statuses, StatusCode::UNAUTHORIZED);
    assert!(other.is_empty(), "unexpected answers: {other:?}");
    assert!(checked <= MAX_CHECKED, "{checked} guesses were checked");
    assert_eq!(checked + throttled, GUESSES);
    assert_eq!(failures_logged(&app).await, checked);
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM sign_in_failures").await,
        checked as i64,
        "refused attempts leave no row behind"
    );

    // Refused attempts count while they are in flight, so fewer than ten may have
    // been checked; one by one, the rest of the budget is spent, and no more.
    let mut later_checks = 0;
    loop {
        let (status, body) = Client::new(&app)
            .rpc(
                "sign_in",
                &[("email", "ana@example.com"), ("password", "one more guess")],
            )
            .await;
        match status {
            StatusCode::UNAUTHORIZED => later_checks += 1,
            StatusCode::TOO_MANY_REQUESTS => break,
            other => panic!("unexpected {other}: {body}"),
        }
        assert!(
            checked + later_checks <= MAX_CHECKED,
            "more than ten checks"
        );
    }
    assert_eq!(checked + later_checks, MAX_CHECKED);

    // The right password is throttled too now, until the window passes.
    let (status, _) = Client::new(&app)
        .rpc(
            "sign_in",
            &[("email", "ana@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

/// Ana (an admin of Acme) is invited to Bob's workspace; she already has an account.
async fn invite_existing_account(app: &TestApp) -> String {
    let ana = admin(app).await;
    let bob = member(app, &ana, "bob@example.com", "developer").await;
    bob.ok("create_workspace", &[("name", "Bob's Lab")]).await;
    invite(&bob, "ana@example.com", "viewer").await
}

#[tokio::test]
async fn forty_parallel_wrong_passwords_at_join_get_at_most_ten_checks() {
    let app = spawn_app().await;
    let token = invite_existing_account(&app).await;
    let before = failures_logged(&app).await;
    let guesses = (0..GUESSES).map(|n| {
        let client = Client::new(&app);
        let token = token.clone();
        async move {
            let password = format!("wrong guess number {n}");
            let (status, _) = client
                .rpc(
                    "accept_invite",
                    &[("token", &token), ("password", &password)],
                )
                .await;
            status
        }
    });
    let statuses = futures::future::join_all(guesses).await;
    let (checked, throttled, other) = tally(&statuses, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(other.is_empty(), "unexpected answers: {other:?}");
    assert!(checked <= MAX_CHECKED, "{checked} guesses were checked");
    assert_eq!(checked + throttled, GUESSES);
    assert_eq!(
        failures_logged(&app).await - before,
        checked,
        "each checked wrong password is a user.sign_in_failed entry"
    );
}

#[tokio::test]
async fn joining_with_an_existing_account_is_logged_like_sign_in() {
    let app = spawn_app().await;
    let token = invite_existing_account(&app).await;
    let ana = Client::new(&app);
    let (status, _) = ana
        .rpc(
            "accept_invite",
            &[("token", &token), ("password", "not her password")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    ana.ok(
        "accept_invite",
        &[("token", &token), ("password", PASSWORD)],
    )
    .await;

    let ana_id = user_id_of(&app, "ana@example.com").await;
    let entries: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT action, actor_email, ip FROM audit_entries
         WHERE action IN ('user.sign_in_failed', 'user.signed_in') AND actor_user_id = $1 ORDER BY seq",
    )
    .bind(&ana_id)
    .fetch_all(app.db.pool())
    .await
    .unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .map(|(action, _, _)| action.as_str())
        .collect();
    assert_eq!(actions, ["user.sign_in_failed", "user.signed_in"]);
    for (_, email, ip) in &entries {
        assert_eq!(email.as_deref(), Some("ana@example.com"));
        assert_eq!(ip.as_deref(), Some("127.0.0.1"));
    }
    // The success forgave the failure, as sign-in does.
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM sign_in_failures").await,
        0
    );
}
