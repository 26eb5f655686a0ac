//! One of two instances behind nginx stopped with SIGTERM under verification
//! load, then started again (issue 18, docs/reliability.md): the client sees
//! no failed request, and the last-used times the stopped instance held are
//! written before it exits. nginx is configured as docs/deploy.md shows.

use crate::binary::Binary;
use crate::common::*;
use crate::fixtures::*;
use crate::nginx::Nginx;
use reqwest::StatusCode;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// docs/deploy.md's upstream and verification location, with a log line per
/// request naming the instances nginx tried.
const BALANCER_CONF: &str = r#"
    log_format upstreams '$upstream_addr|$status';
    upstream keyward {
        server @A@ max_fails=1 fail_timeout=1s;
        server @B@ max_fails=1 fail_timeout=1s;
        keepalive 32;
    }
    server {
        listen @LISTEN@;
        access_log @DIR@/upstreams.log upstreams;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        location / {
            proxy_pass http://keyward;
            proxy_next_upstream error timeout http_502 http_503;
        }
        location = /v1/keys/verify {
            proxy_pass http://keyward;
            proxy_next_upstream error timeout http_502 http_503 non_idempotent;
        }
    }
"#;

const BEFORE: Duration = Duration::from_secs(2);
const DOWN_FOR: Duration = Duration::from_secs(1);
const AFTER: Duration = Duration::from_secs(3);
const CLIENTS: usize = 6;
/// Last-used times are written only at shutdown in this test: a time in the
/// store after SIGTERM was written by the shutdown flush.
const NEVER_FLUSH: (&str, &str) = ("KEYWARD_LAST_USED_FLUSH_MS", "3600000");

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Before,
    Stopped,
    Restarted,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_stopped_behind_nginx_fails_no_request_and_keeps_its_last_used_times() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let token = service_token(&admin, "billing-api").await;
    let mut keys = Vec::new();
    for _ in 0..8 {
        keys.push(create_key(&admin, json!({})).await);
    }
    let used_on_a_only = create_key(&admin, json!({})).await;

    let a = Binary::start_with(&app.database_url, free_port(), &[NEVER_FLUSH]).await;
    let b = Binary::start_with(&app.database_url, free_port(), &[NEVER_FLUSH]).await;
    let a_port = a.port;
    let (a_addr, b_addr) = (
        format!("127.0.0.1:{}", a.port),
        format!("127.0.0.1:{}", b.port),
    );
    let nginx = Nginx::start_with(|dir, listen| {
        BALANCER_CONF
            .replace("@DIR@", dir)
            .replace("@LISTEN@", listen)
            .replace("@A@", &a_addr)
            .replace("@B@", &b_addr)
    })
    .await;
    let (status, body) = verify_at(&a.base, &token, &used_on_a_only.secret).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let phase = Arc::new(Mutex::new(Phase::Before));
    let answers = Arc::new(Mutex::new(BTreeMap::<(Phase, u16, String), usize>::new()));
    let running = Arc::new(AtomicBool::new(true));
    let mut clients = Vec::new();
    for client in 0..CLIENTS {
        let (base, token) = (nginx.base.clone(), token.clone());
        let secrets: Vec<String> = keys.iter().map(|key| key.secret.clone()).collect();
        let (phase, answers, running) = (phase.clone(), answers.clone(), running.clone());
        clients.push(tokio::spawn(async move {
            let mut n = client;
            while running.load(Ordering::SeqCst) {
                n += 1;
                let now = *phase.lock().unwrap();
                let (status, body) = verify_at(&base, &token, &secrets[n % secrets.len()]).await;
                let answer = (now, status.as_u16(), code(&body).to_owned());
                *answers.lock().unwrap().entry(answer).or_default() += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }));
    }

    tokio::time::sleep(BEFORE).await;
    *phase.lock().unwrap() = Phase::Stopped;
    let exit = a.terminate(Duration::from_secs(10)).await;
    assert!(exit.success(), "SIGTERM is a clean exit: {exit}");
    // The shutdown flush wrote what A had seen: the timer would not for an hour.
    let last_used: Option<i64> =
        sqlx::query_scalar("SELECT last_used_at FROM api_keys WHERE id = $1")
            .bind(&used_on_a_only.id)
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert!(
        last_used.is_some(),
        "the stopped instance wrote its last-used times"
    );
    tokio::time::sleep(DOWN_FOR).await;
    let a = Binary::start_with(&app.database_url, a_port, &[NEVER_FLUSH]).await;
    let logged_before_restart = std::fs::metadata(nginx.path("upstreams.log"))
        .unwrap()
        .len();
    *phase.lock().unwrap() = Phase::Restarted;
    tokio::time::sleep(AFTER).await;
    running.store(false, Ordering::SeqCst);
    for client in clients {
        client.await.unwrap();
    }

    let answers = answers.lock().unwrap().clone();
    eprintln!("answers by phase: {answers:#?}");
    let failed: Vec<_> = answers
        .iter()
        .filter(|((_, status, _), _)| *status != 200)
        .collect();
    assert!(
        failed.is_empty(),
        "every request through nginx succeeded: {failed:?}"
    );
    for phase in [Phase::Before, Phase::Stopped, Phase::Restarted] {
        assert!(
            answers.keys().any(|(seen, _, _)| *seen == phase),
            "requests were made while {phase:?}: {answers:?}"
        );
    }

    // nginx's log: what it tried again elsewhere, and the restarted instance serving again.
    let log = std::fs::read(nginx.path("upstreams.log")).unwrap();
    let tried = |log: &[u8]| -> Vec<String> {
        String::from_utf8_lossy(log)
            .lines()
            .filter_map(|line| line.split('|').next().map(str::to_owned))
            .collect()
    };
    let all = tried(&log);
    let retried = all
        .iter()
        .filter(|upstreams| upstreams.contains(", "))
        .count();
    let after_restart = tried(&log[logged_before_restart as usize..]);
    let on_a = after_restart
        .iter()
        .filter(|upstreams| upstreams.ends_with(&a_addr))
        .count();
    eprintln!(
        "nginx: {} requests, {retried} tried again on the other instance; \
         after the restart {on_a} of {} answered by A",
        all.len(),
        after_restart.len()
    );
    assert!(on_a > 0, "A answers again after its restart");

    // Both stop cleanly: every key used under load has its last-used time.
    for instance in [a, b] {
        let exit = instance.terminate(Duration::from_secs(10)).await;
        assert!(exit.success(), "{exit}");
    }
    let never_used = count(
        &app,
        "SELECT COUNT(*) FROM api_keys WHERE last_used_at IS NULL",
    )
    .await;
    assert_eq!(never_used, 0, "no last-used time was lost");
}

async fn verify_at(base: &str, token: &str, secret: &str) -> (StatusCode, serde_json::Value) {
    answer(
        http()
            .post(format!("{base}/v1/keys/verify"))
            .header("x-keyward-service-token", token)
            .json(&json!({ "key": secret })),
    )
    .await
}
