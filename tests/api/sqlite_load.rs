//! SQLite under mixed load (issue 18, docs/reliability.md): verifications,
//! dashboard writes, last-used flushes and audit exports on one file at the
//! same time. No request fails (`database is locked` least of all); how long
//! each kind took is printed for the docs. Always on SQLite: PostgreSQL has no
//! single writer lock to wait for.

use crate::common::*;
use crate::fixtures::*;
use keyward::keys::Environment;
use keyward::keys::format::SecretKey;
use reqwest::StatusCode;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const LOAD_FOR: Duration = Duration::from_secs(5);
const VERIFIERS: usize = 4;
const WRITERS: usize = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Work {
    /// A known key: answered from the cache.
    VerifyCached,
    /// A key nobody has: a read of the store each time.
    VerifyUnseen,
    /// A key created, then revoked: two write transactions with audit entries.
    CreateAndRevoke,
    /// The whole audit log as CSV, streamed from one long read.
    Export,
}

#[derive(Default)]
struct Record {
    took: BTreeMap<Work, Vec<Duration>>,
    failures: Vec<String>,
}

impl Record {
    fn add(&mut self, work: Work, took: Duration, outcome: Result<(), String>) {
        self.took.entry(work).or_default().push(took);
        if let Err(failure) = outcome {
            self.failures.push(format!("{work:?}: {failure}"));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_load_on_sqlite_fails_no_request() {
    // Last-used times flushed every 50 ms: the verifier's writes compete too.
    let app = spawn_sqlite_app_with(&[("KEYWARD_LAST_USED_FLUSH_MS", "50")]).await;
    let admin = admin(&app).await;
    let token = service_token(&admin, "billing-api").await;
    let mut secrets = Vec::new();
    for _ in 0..20 {
        secrets.push(create_key(&admin, json!({})).await.secret);
    }

    let record = Arc::new(Mutex::new(Record::default()));
    let running = Arc::new(AtomicBool::new(true));
    let mut tasks = Vec::new();
    for verifier in 0..VERIFIERS {
        let (base, token, secrets) = (app.base.clone(), token.clone(), secrets.clone());
        let (record, running) = (record.clone(), running.clone());
        tasks.push(tokio::spawn(async move {
            let http = http();
            let mut n = verifier;
            while running.load(Ordering::SeqCst) {
                n += 1;
                let (work, key, expected) = if n % 2 == 0 {
                    let key = secrets[n % secrets.len()].clone();
                    (Work::VerifyCached, key, StatusCode::OK)
                } else {
                    let key = SecretKey::generate("kw", Environment::Live);
                    (
                        Work::VerifyUnseen,
                        key.expose().to_owned(),
                        StatusCode::UNAUTHORIZED,
                    )
                };
                let started = Instant::now();
                let (status, body) = answer(
                    http.post(format!("{base}/v1/keys/verify"))
                        .header("x-keyward-service-token", &token)
                        .json(&json!({ "key": key })),
                )
                .await;
                let outcome = expect_status(status, expected, &body.to_string());
                record.lock().unwrap().add(work, started.elapsed(), outcome);
            }
        }));
    }
    for writer in 0..WRITERS {
        let admin = Client {
            http: admin.http.clone(),
            base: admin.base.clone(),
        };
        let (record, running) = (record.clone(), running.clone());
        tasks.push(tokio::spawn(async move {
            for n in 0.. {
                if !running.load(Ordering::SeqCst) {
                    break;
                }
                let started = Instant::now();
                let outcome = create_and_revoke(&admin, &format!("load {writer}-{n}")).await;
                record
                    .lock()
                    .unwrap()
                    .add(Work::CreateAndRevoke, started.elapsed(), outcome);
            }
        }));
    }
    {
        let admin = Client {
            http: admin.http.clone(),
            base: admin.base.clone(),
        };
        let (record, running) = (record.clone(), running.clone());
        tasks.push(tokio::spawn(async move {
            while running.load(Ordering::SeqCst) {
                let started = Instant::now();
                let outcome = export_audit_log(&admin).await;
                record
                    .lock()
                    .unwrap()
                    .add(Work::Export, started.elapsed(), outcome);
            }
        }));
    }
    tokio::time::sleep(LOAD_FOR).await;
    running.store(false, Ordering::SeqCst);
    for task in tasks {
        task.await.unwrap();
    }

    let record = record.lock().unwrap();
    for (work, took) in &record.took {
        let mut took = took.clone();
        took.sort();
        let at = |share: f64| took[((took.len() - 1) as f64 * share) as usize];
        eprintln!(
            "{work:?}: {} requests, median {:?}, p99 {:?}, slowest {:?}",
            took.len(),
            at(0.5),
            at(0.99),
            took[took.len() - 1]
        );
    }
    assert!(record.failures.is_empty(), "{:#?}", record.failures);
    for work in [
        Work::VerifyCached,
        Work::VerifyUnseen,
        Work::CreateAndRevoke,
        Work::Export,
    ] {
        let done = record.took.get(&work).map_or(0, Vec::len);
        assert!(done >= 3, "{work:?} ran beside the rest: {done} requests");
    }
}

fn expect_status(status: StatusCode, expected: StatusCode, body: &str) -> Result<(), String> {
    if status == expected {
        Ok(())
    } else {
        Err(format!("{status} (expected {expected}): {body}"))
    }
}

async fn create_and_revoke(admin: &Client, name: &str) -> Result<(), String> {
    let form = json!({ "form": {
        "name": name, "environment": "live", "scopes": ["read-only"], "expiry": "never",
    }});
    let (status, key) = admin.rpc_json("create_key", &form).await;
    expect_status(status, StatusCode::OK, &key.to_string())?;
    let id = key["id"].as_str().unwrap_or_default();
    let (status, body) = admin
        .rpc("revoke_key", &[("key_id", id), ("reason", "load test")])
        .await;
    expect_status(status, StatusCode::OK, &body.to_string())
}

/// The CSV export, read to its end: a failure in the middle of the stream counts.
async fn export_audit_log(admin: &Client) -> Result<(), String> {
    let response = admin
        .http
        .post(format!("{}/settings/audit-log/export", admin.base))
        .form(&[("format", "csv")])
        .send()
        .await
        .map_err(|error| error.to_string())?;
    let status = response.status();
    let text = response.text().await.map_err(|error| error.to_string())?;
    expect_status(status, StatusCode::OK, &text)?;
    if text.lines().count() < 2 {
        return Err(format!("an export with no entries: {text}"));
    }
    Ok(())
}
