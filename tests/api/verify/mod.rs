//! The verification API over HTTP, one file per concern: what a key's answer
//! says (`answers`), service tokens, forward auth, last use and metrics
//! (`usage`), and revocation reaching every cache at once (`revocation`).
//! Here: what they all set up.

mod answers;
mod forward_auth;
mod misses;
mod revocation;
mod service_tokens;
mod usage;

use crate::common::*;
use crate::fixtures::*;
use chrono::Duration;
use keyward::keys::Environment;
use keyward::keys::format::SecretKey;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Instant;

/// A signed-in admin, a service token and the app.
struct Setup {
    app: TestApp,
    admin: Client,
    token: String,
}

async fn setup() -> Setup {
    setup_with(&[]).await
}

async fn setup_with(settings: &[(&str, &str)]) -> Setup {
    let app = spawn_app_with(settings).await;
    let admin = admin(&app).await;
    let token = service_token(&admin, "billing-api").await;
    Setup { app, admin, token }
}

async fn verify_key(app: &TestApp, token: &str, key: &str) -> (StatusCode, Value) {
    verify(app, token, json!({ "key": key })).await
}

async fn revoke(client: &Client, key_id: &str) {
    client
        .ok("revoke_key", &[("key_id", key_id), ("reason", "test")])
        .await;
}

/// Prometheus text, one value per series line.
struct Metrics(std::collections::HashMap<String, f64>);

impl Metrics {
    fn value(&self, series: &str) -> f64 {
        self.0.get(series).copied().unwrap_or(0.0)
    }
}

async fn metrics(app: &TestApp) -> Metrics {
    let text = Client::new(app).get("/metrics").await.text().await.unwrap();
    Metrics(
        text.lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| {
                let (series, value) = line.rsplit_once(' ')?;
                Some((series.to_owned(), value.parse().ok()?))
            })
            .collect(),
    )
}
