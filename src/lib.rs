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
pub mod leaks;
pub mod service_tokens;
pub mod text;
pub mod ui;
pub mod usage;
pub mod webhooks;
pub mod workspaces;

#[cfg(feature = "ssr")]
pub mod backup;
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
pub mod ids;
#[cfg(feature = "ssr")]
pub mod mail;
#[cfg(feature = "ssr")]
pub mod secret_key;
#[cfg(feature = "ssr")]
pub mod server;
#[cfg(feature = "ssr")]
pub mod sql;
#[cfg(feature = "ssr")]
pub mod state;
#[cfg(feature = "ssr")]
pub mod token;
#[cfg(feature = "ssr")]
pub mod verify;

/// Entry point of the wasm bundle. The dashboard is rendered on the server;
/// only its islands (forms, dialogs, buttons that change something) hydrate,
/// which keeps the bundle small (see README, "The wasm bundle").
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    // Readable panics while developing; release bundles leave the formatting out.
    #[cfg(debug_assertions)]
    console_error_panic_hook::set_once();
    // There is no client-side router to follow a server function's redirect
    // (after sign-in, say): the browser goes there itself.
    _ = server_fn::redirect::set_redirect_hook(|location: &str| ui::browser::go_to(location));
    leptos::mount::hydrate_islands();
}
