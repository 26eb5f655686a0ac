//! Headers that tell the browser what a Keyward response may do: where scripts
//! come from (Content-Security-Policy with a per-response nonce on pages),
//! that no other site may frame it, sniff it or learn its URL from a referrer,
//! and, behind HTTPS, that it is only ever reached over HTTPS.

use crate::config::Config;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// The policy of every response that is not a dashboard page (JSON, files,
/// plain-text refusals): nothing may run, nothing may frame it. Inline styles
/// stay allowed for the small built-in "not found" page.
const NO_PAGE_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; \
     frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Pages send the referrer to their own origin only. Not `no-referrer`: under
/// it Chromium sends `Origin: null` with the page's own form posts, which the
/// CSRF check must refuse, and Leptos' no-JavaScript form handling returns to
/// the page through its `Referer`. Other sites still learn nothing, so setup
/// and invite links never leave through a referrer.
const PAGE_REFERRER_POLICY: &str = "same-origin";

/// One year; no `includeSubDomains`, since Keyward cannot know what else lives
/// under its parent domain.
const STRICT_TRANSPORT: &str = "max-age=31536000";

/// What the layer adds besides the fixed headers.
#[derive(Clone, Copy, Debug)]
pub struct SecurityHeaders {
    /// `Strict-Transport-Security`: only when the public URL is HTTPS.
    strict_transport: bool,
}

impl SecurityHeaders {
    pub fn for_config(config: &Config) -> Self {
        Self {
            strict_transport: config.public_url.starts_with("https://"),
        }
    }
}

/// The layer around every route. A page's own policies (CSP with its nonce,
/// referrer; set by the shell) are kept; every other response gets the strict ones.
pub async fn add(
    State(settings): State<SecurityHeaders>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    set_unless_present(headers, header::CONTENT_SECURITY_POLICY, NO_PAGE_POLICY);
    set_unless_present(headers, header::REFERRER_POLICY, "no-referrer");
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if settings.strict_transport {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(STRICT_TRANSPORT),
        );
    }
    response
}

/// For the dashboard's own responses (pages, server functions, exports): they
/// carry a member's data and sometimes a link or a secret, so no browser or
/// proxy cache keeps them unless the handler chose otherwise.
pub async fn forbid_caching_by_default(mut response: Response) -> Response {
    set_unless_present(response.headers_mut(), header::CACHE_CONTROL, "no-store");
    response
}

fn set_unless_present(headers: &mut HeaderMap, name: HeaderName, value: &'static str) {
    if !headers.contains_key(&name) {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

/// The policy of a dashboard page. Scripts: Keyward's own files, the inline
/// hydration scripts that carry this response's nonce, and compiling the wasm
/// bundle. Styles, images and fetches: Keyward's own origin.
pub fn page_policy(nonce: Option<&str>) -> String {
    let nonce = nonce
        .map(|nonce| format!(" 'nonce-{nonce}'"))
        .unwrap_or_default();
    // `cargo leptos watch` reloads the page through a websocket on another port.
    let reload = if std::env::var_os("LEPTOS_WATCH").is_some() {
        " ws:"
    } else {
        ""
    };
    format!(
        "default-src 'self'; script-src 'self'{nonce} 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data:; font-src 'self'; connect-src 'self'{reload}; object-src 'none'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// Sends the page policy with the nonce Leptos gives this response's inline
/// scripts, and the page's referrer policy. Called by the shell, while the page renders.
pub fn send_page_policy() {
    let nonce = leptos::nonce::use_nonce();
    if nonce.is_none() {
        // Then the hydration script is refused: visible, and never looser.
        tracing::error!("no CSP nonce while rendering a page");
    }
    let policy = page_policy(nonce.as_deref());
    let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() else {
        return;
    };
    response.insert_header(
        header::REFERRER_POLICY,
        HeaderValue::from_static(PAGE_REFERRER_POLICY),
    );
    match HeaderValue::from_str(&policy) {
        Ok(value) => response.insert_header(header::CONTENT_SECURITY_POLICY, value),
        Err(error) => tracing::error!(%error, "the page policy is not a header value"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_policy_names_its_nonce_and_forbids_framing() {
        let policy = page_policy(Some("abc123"));
        assert!(
            policy.contains("script-src 'self' 'nonce-abc123' 'wasm-unsafe-eval'"),
            "{policy}"
        );
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
        assert!(!policy.contains("unsafe-inline"), "{policy}");
        assert!(!page_policy(None).contains("nonce"));
    }
}
