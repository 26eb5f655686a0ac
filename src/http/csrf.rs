//! CSRF protection for everything the browser can change: a state-changing
//! request must come from our own origin (Origin, or Referer when Origin is
//! absent). A cross-site form post gets 403 before any handler runs.
//!
//! "Our own origin" is `KEYWARD_PUBLIC_URL`. The request's Host header is
//! believed only when no public URL was configured (local development): a
//! DNS-rebinding page sends a Host and an Origin that agree with each other,
//! so agreeing with the Host proves nothing once Keyward is deployed.

use crate::config::Config;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// Paths called by machines with API keys or service tokens, not by browsers with cookies.
const MACHINE_PREFIXES: [&str; 2] = ["/v1/", "/api/v1/"];

pub async fn require_same_origin(
    State(config): State<Arc<Config>>,
    request: Request,
    next: Next,
) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let path = request.uri().path();
    if safe
        || MACHINE_PREFIXES
            .iter()
            .any(|prefix| path.starts_with(prefix))
    {
        return next.run(request).await;
    }
    let trusted = TrustedOrigin {
        public_url: &config.public_url,
        or_request_host: !config.public_url_is_set,
    };
    if is_same_origin(request.headers(), &trusted) {
        next.run(request).await
    } else {
        tracing::warn!(
            path = %super::request_span::loggable_path(path),
            "refused a cross-site or origin-less state-changing request"
        );
        (
            StatusCode::FORBIDDEN,
            "Cross-site request refused: the request did not come from this site.",
        )
            .into_response()
    }
}

/// What a state-changing request's Origin must name.
struct TrustedOrigin<'a> {
    public_url: &'a str,
    /// Also the Host the request was sent to: only when no public URL was configured.
    or_request_host: bool,
}

/// True when the request's Origin (or Referer) is the public URL (or, in local
/// development only, the host it was sent to).
fn is_same_origin(headers: &HeaderMap, trusted: &TrustedOrigin<'_>) -> bool {
    let claimed = headers
        .get(header::ORIGIN)
        .and_then(|value| value.to_str().ok())
        .filter(|origin| *origin != "null")
        .map(str::to_owned)
        .or_else(|| {
            let referer = headers.get(header::REFERER)?.to_str().ok()?;
            origin_of(referer)
        });
    let Some(claimed) = claimed else { return false };
    if claimed.eq_ignore_ascii_case(trusted.public_url) {
        return true;
    }
    if !trusted.or_request_host {
        return false;
    }
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok());
    let claimed_host = claimed.split_once("://").map(|(_, rest)| rest);
    matches!((claimed_host, host), (Some(a), Some(b)) if a.eq_ignore_ascii_case(b))
}

/// `https://host:port` of a full URL.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    Some(format!("{scheme}://{authority}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    const DEVELOPMENT: TrustedOrigin<'static> = TrustedOrigin {
        public_url: "http://127.0.0.1:3000",
        or_request_host: true,
    };
    const DEPLOYED: TrustedOrigin<'static> = TrustedOrigin {
        public_url: "https://keys.example.com",
        or_request_host: false,
    };

    #[test]
    fn same_origin_passes_and_others_do_not() {
        let public = DEVELOPMENT.public_url;
        assert!(is_same_origin(
            &headers(&[(header::ORIGIN, public)]),
            &DEVELOPMENT
        ));
        assert!(is_same_origin(
            &headers(&[(header::REFERER, "http://127.0.0.1:3000/signin?x=1")]),
            &DEVELOPMENT
        ));
        assert!(is_same_origin(
            &headers(&[
                (header::ORIGIN, "http://localhost:3000"),
                (header::HOST, "localhost:3000")
            ]),
            &DEVELOPMENT
        ));
        assert!(!is_same_origin(
            &headers(&[(header::ORIGIN, "https://evil.example")]),
            &DEVELOPMENT
        ));
        assert!(!is_same_origin(
            &headers(&[
                (header::ORIGIN, "https://evil.example"),
                (header::HOST, "127.0.0.1:3000")
            ]),
            &DEVELOPMENT
        ));
        assert!(!is_same_origin(
            &headers(&[(header::ORIGIN, "null")]),
            &DEVELOPMENT
        ));
        assert!(!is_same_origin(&headers(&[]), &DEVELOPMENT));
    }

    #[test]
    fn a_configured_public_url_is_the_only_origin_accepted() {
        assert!(is_same_origin(
            &headers(&[(header::ORIGIN, "https://keys.example.com")]),
            &DEPLOYED
        ));
        // DNS rebinding: the attacker's name resolves to Keyward, so Host and Origin agree.
        assert!(!is_same_origin(
            &headers(&[
                (header::ORIGIN, "http://rebind.evil.example:3000"),
                (header::HOST, "rebind.evil.example:3000")
            ]),
            &DEPLOYED
        ));
    }
}
