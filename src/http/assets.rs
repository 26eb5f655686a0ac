//! Static files: the wasm/JS/CSS bundle under `/pkg` and everything from
//! `public/`, served by tower-http with precompressed variants, not through
//! the Leptos renderer.

use axum::Router;
use axum::http::{HeaderValue, header};
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

/// `/pkg`: names carry a content hash in release builds, so they may be cached for a year.
/// Debug builds have plain names and must be revalidated.
pub fn bundle_router<S: Clone + Send + Sync + 'static>(
    site_root: &str,
    hashed_names: bool,
) -> Router<S> {
    let cache = if hashed_names {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    Router::new()
        .nest_service(
            "/pkg",
            ServeDir::new(format!("{site_root}/pkg"))
                .precompressed_br()
                .precompressed_gzip(),
        )
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static(cache),
        ))
}

/// What an unknown path gets: a small page that leads back to the dashboard.
pub async fn not_found() -> (axum::http::StatusCode, axum::response::Html<&'static str>) {
    (
        axum::http::StatusCode::NOT_FOUND,
        axum::response::Html(concat!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Not found · Keyward</title>",
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"></head>",
            "<body style=\"font-family: system-ui, sans-serif; text-align: center; padding: 4rem 1rem\">",
            "<h1>Page not found</h1><p>There is nothing at this address.</p>",
            "<p><a href=\"/settings/api-keys\">Go to your API keys</a></p></body></html>"
        )),
    )
}
