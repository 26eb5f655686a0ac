//! What every handler and server function can reach.

use crate::auth::setup::SetupToken;
use crate::clock::Clock;
use crate::config::Config;
use crate::db::Db;
use crate::verify::Verifier;
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use std::sync::Arc;

#[derive(Clone, FromRef)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub clock: Clock,
    pub setup: SetupToken,
    pub leptos: LeptosOptions,
    pub verifier: Verifier,
    /// GitHub's secret-scanning public keys, fetched and cached for `/v1/leaks/github`.
    pub github_keys: crate::leaks::github::GithubKeys,
    /// Sends email when `KEYWARD_SMTP_URL` is set.
    pub mailer: Option<crate::mail::Mailer>,
}

/// What the verification routes need, and no more: axum clones a router's
/// state for every request, and cloning the whole `AppState` (Leptos options,
/// store, setup token, …) showed in profiles of the hot path.
#[derive(Clone, FromRef)]
pub struct VerificationState {
    pub verifier: Verifier,
    pub config: Arc<Config>,
}

impl VerificationState {
    pub fn of(state: &AppState) -> Self {
        Self {
            verifier: state.verifier.clone(),
            config: state.config.clone(),
        }
    }
}
