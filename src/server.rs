//! Assembling the server: open the store, build the router with its layers,
//! serve until SIGINT/SIGTERM. Tests call `prepare` to run the real app on a random port.

use crate::auth::session_store::DbSessionStore;
use crate::clock::Clock;
use crate::config::Config;
use crate::db::{Db, DbError};
use crate::http::limits::{self, limit_bodies};
use crate::http::{
    api_v1, assets, audit_export, csrf, health, leaks, openapi, page_access, request_span, rpc,
    security_headers, verify,
};
use crate::state::AppState;
use crate::ui::{App, shell};
use crate::verify::Verifier;
use axum::Router;
use axum::middleware::{from_fn_with_state, map_response};
use axum::routing::{get, post};
use leptos::config::LeptosOptions;
use leptos_axum::{LeptosRoutes, generate_route_list};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

/// A server ready to listen: its router, its state, and the first-run setup link if one is needed.
pub struct PreparedServer {
    pub router: Router,
    pub state: AppState,
    /// Printed on start-up while no user exists. A secret: shown, never logged.
    pub setup_link: Option<String>,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error(transparent)]
    Store(#[from] DbError),
    #[error(transparent)]
    Scopes(#[from] crate::keys::catalogue::CatalogueError),
    #[error("KEYWARD_REDIS_URL cannot be used: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("KEYWARD_SMTP_URL cannot be used: {0}")]
    Smtp(#[from] crate::mail::settings::SmtpError),
}

pub async fn prepare(config: Config, clock: Clock) -> Result<PreparedServer, PrepareError> {
    let db = Db::open(&config.database_url).await?;
    crate::keys::catalogue::ensure_held_scopes_listed(&db, &config.scopes, clock.now()).await?;
    crate::auth::password::warm_up();
    let verifier = Verifier::new(db.clone(), clock.clone(), &config)?;
    verifier.start(&config);
    verifier.connect_shared_limits().await;
    let mailer = config
        .smtp
        .as_ref()
        .map(crate::mail::Mailer::new)
        .transpose()?;
    crate::keys::expiry::spawn_sweeper(
        db.clone(),
        clock.clone(),
        crate::mail::notices::Notices::of(mailer.as_ref()),
        std::time::Duration::from_secs(60),
    );
    if let Some(mailer) = &mailer {
        crate::mail::notices::spawn_sender(
            db.clone(),
            clock.clone(),
            mailer.clone(),
            config.public_url.clone(),
            config.notice_poll,
        );
    }
    crate::webhooks::worker::spawn(db.clone(), clock.clone(), config.webhooks.clone());
    crate::audit::checkpoint::spawn_publisher(db.clone(), clock.clone());
    let github_keys =
        crate::leaks::github::GithubKeys::new(config.github_keys_url.clone(), clock.clone());
    if mailer.is_some() && !config.public_url_is_set {
        tracing::warn!(
            public_url = %config.public_url,
            "KEYWARD_SMTP_URL is set but KEYWARD_PUBLIC_URL is not: emailed links start with the listening address"
        );
    }
    let state = AppState {
        verifier,
        github_keys,
        mailer,
        leptos: leptos_options(&config),
        config: Arc::new(config),
        db,
        clock,
        setup: Default::default(),
    };
    let setup_link = state
        .setup
        .issue_if_needed(&state.db)
        .await
        .map_err(DbError::SetupState)?
        .map(|token| format!("{}/setup?token={}", state.config.public_url, token.expose()));
    let router = router(state.clone());
    Ok(PreparedServer {
        router,
        state,
        setup_link,
    })
}

/// The output name and package folder that `[package.metadata.leptos]` in
/// Cargo.toml gives cargo-leptos (a test below keeps the two the same).
const OUTPUT_NAME: &str = "keyward";
const SITE_PKG_DIR: &str = "pkg";

/// Built here rather than read with `get_configuration`, the way start-axum
/// does: that reads Cargo.toml or cargo-leptos's `LEPTOS_*` variables at run
/// time, and the release binary runs where neither exists. The address and
/// site root come from Keyward's own validated `Config`.
fn leptos_options(config: &Config) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name(OUTPUT_NAME)
        .site_root(config.site_root.as_str())
        .site_pkg_dir(SITE_PKG_DIR)
        .site_addr(config.addr)
        .hash_files(hash_file_present())
        .build()
}

/// cargo-leptos writes `hash.txt` beside the release binary when it hashes file names.
fn hash_file_present() -> bool {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("hash.txt")))
        .is_some_and(|path| Path::exists(&path))
}

/// The dashboard's routes, listed once per process. Listing them runs the app
/// with resource loading suppressed by a process-wide flag (leptos_server's
/// `SuppressResourceLoad`): a page that first polled a resource while another
/// server in the same process was listing would wait forever
/// (leptos-rs/leptos#4773). Tests start many servers in one process.
fn dashboard_routes() -> Vec<leptos_axum::AxumRouteListing> {
    static ROUTES: std::sync::LazyLock<Vec<leptos_axum::AxumRouteListing>> =
        std::sync::LazyLock::new(|| generate_route_list(App));
    ROUTES.clone()
}

fn router(state: AppState) -> Router {
    // The verification API sits outside the session and CSRF layers: its callers are
    // servers with service tokens, not browsers with cookies.
    let verification = limit_bodies(
        Router::new()
            .route("/v1/keys/verify", post(verify::verify_key))
            .route("/v1/auth", get(verify::forward_auth))
            .route("/metrics", get(verify::metrics)),
        crate::verify::request::MAX_BODY_BYTES,
    )
    .with_state(crate::state::VerificationState::of(&state))
    .merge(limit_bodies(api_v1::routes(), limits::MAX_BODY_BYTES).with_state(state.clone()))
    .merge(leaks::routes().with_state(state.clone()))
    // The contract of the two APIs above, public: it names routes and shapes, no secret.
    .route("/openapi.json", get(openapi::openapi_json));
    let leptos = state.leptos.clone();
    let routes = dashboard_routes();
    let session_layer = session_layer(state.db.session_store(), &state.config);
    let context_state = state.clone();
    let dashboard = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        // A POST, so that the CSRF check covers it: the export writes an audit entry.
        .route("/settings/audit-log/export", post(audit_export::export))
        .leptos_routes_with_context(
            &state,
            routes,
            move || leptos::prelude::provide_context(context_state.clone()),
            move || shell(leptos.clone()),
        );
    // Static files never read a body; everything else is limited.
    let app = limit_bodies(dashboard, limits::MAX_BODY_BYTES)
        // Each layer gets only what it reads: its state is cloned for every request.
        .layer(from_fn_with_state(
            page_access::GuardState {
                db: state.db.clone(),
                clock: state.clock.clone(),
            },
            page_access::guard_pages,
        ))
        .layer(map_response(rpc::with_error_status))
        .layer(session_layer)
        .layer(from_fn_with_state(
            state.config.clone(),
            csrf::require_same_origin,
        ))
        .layer(map_response(security_headers::forbid_caching_by_default))
        .merge(verification)
        .merge(assets::bundle_router(
            &state.config.site_root,
            state.leptos.hash_files,
        ))
        .fallback_service(
            tower_http::services::ServeDir::new(state.config.site_root.as_str())
                .precompressed_gzip()
                .not_found_service(get(assets::not_found)),
        )
        .layer(TraceLayer::new_for_http().make_span_with(request_span::for_request))
        .layer(from_fn_with_state(
            security_headers::SecurityHeaders::for_config(&state.config),
            security_headers::add,
        ));
    app.with_state(state)
}

fn session_layer(store: DbSessionStore, config: &Config) -> SessionManagerLayer<DbSessionStore> {
    SessionManagerLayer::new(store)
        .with_name("keyward_session")
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(config.cookie_secure)
        .with_expiry(Expiry::OnInactivity(time::Duration::hours(
            config.session_idle_hours,
        )))
}

/// Listens on `addr` until SIGINT or SIGTERM, then closes the store.
pub async fn serve(
    prepared: PreparedServer,
    listener: tokio::net::TcpListener,
) -> std::io::Result<()> {
    let PreparedServer { router, state, .. } = prepared;
    // Without TCP_NODELAY a page streamed in several writes waits for the
    // client's delayed ACK (Nagle): 40 ms stalls in ./bench usage's page loads.
    let listener = axum::serve::ListenerExt::tap_io(listener, |stream| {
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
    });
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    // Uses seen since the last flush would otherwise be lost.
    state.verifier.flush_pending().await;
    state.db.close().await;
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut signal) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            signal.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_leptos_options_match_cargo_leptos_metadata() {
        let manifest = include_str!("../Cargo.toml");
        let manifest: toml::Table = toml::from_str(manifest).expect("Cargo.toml parses");
        let leptos = &manifest["package"]["metadata"]["leptos"];
        assert_eq!(leptos["output-name"].as_str(), Some(super::OUTPUT_NAME));
        assert_eq!(leptos["site-pkg-dir"].as_str(), Some(super::SITE_PKG_DIR));
        assert_eq!(
            leptos["hash-files"].as_bool(),
            Some(true),
            "hash_file_present expects hashed names"
        );
    }
}
