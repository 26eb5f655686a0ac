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
}
