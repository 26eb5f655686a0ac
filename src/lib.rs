//! Keyward: a self-hostable API-key service.
//!
//! The `ssr` feature builds the axum server (dashboard, verification API, audit log);
//! the `hydrate` feature builds the wasm bundle that makes the dashboard interactive.
//! Server-only modules compile only under `ssr`, so nothing secret reaches the browser.

#![recursion_limit = "256"]

pub mod audit;
pub mod auth;
pub mod error;
pub mod keys;
pub mod service_tokens;
pub mod ui;
pub mod workspaces;

#[cfg(feature = "ssr")]
pub mod changes;
#[cfg(feature = "ssr")]
pub mod clock;
#[cfg(feature = "ssr")]
pub mod config;
#[cfg(feature = "ssr")]
pub mod db;
#[cfg(feature = "ssr")]
pub mod http;
#[cfg(feature = "ssr")]
pub mod server;
#[cfg(feature = "ssr")]
pub mod sql;
#[cfg(feature = "ssr")]
pub mod state;
#[cfg(feature = "ssr")]
pub mod text;
#[cfg(feature = "ssr")]
pub mod token;
#[cfg(feature = "ssr")]
pub mod verify;

/// Entry point of the wasm bundle: attach to the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(ui::App);
}
