//! CSRF protection for everything the browser can change: a state-changing
//! request must come from our own origin (Origin, or Referer when Origin is
//! absent). A cross-site form post gets 403 before any handler runs.

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
    if is_same_origin(request.headers(), &config.public_url) {
        next.run(request).await
    } else {
        tracing::warn!(
            path,
            "refused a cross-site or origin-less state-changing request"
        );
        (
            StatusCode::FORBIDDEN,
            "Cross-site request refused: the request did not come from this site.",
        )
            .into_response()
    }
}

/// True when the request's Origin (or Referer) is the public URL or the host it was sent to.
fn is_same_origin(headers: &HeaderMap, public_url: &str) -> bool {
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
    if claimed.eq_ignore_ascii_case(public_url) {
        return true;
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

    #[test]
    fn same_origin_passes_and_others_do_not() {
        let public = "http://127.0.0.1:3000";
        assert!(is_same_origin(
            &headers(&[(header::ORIGIN, public)]),
            public
        ));
        assert!(is_same_origin(
            &headers(&[(header::REFERER, "http://127.0.0.1:3000/signin?x=1")]),
            public
        ));
        assert!(is_same_origin(
            &headers(&[
                (header::ORIGIN, "http://localhost:3000"),
                (header::HOST, "localhost:3000")
            ]),
            public
        ));
        assert!(!is_same_origin(
            &headers(&[(header::ORIGIN, "https://evil.example")]),
            public
        ));
        assert!(!is_same_origin(
            &headers(&[
                (header::ORIGIN, "https://evil.example"),
                (header::HOST, "127.0.0.1:3000")
            ]),
            public
        ));
        assert!(!is_same_origin(
            &headers(&[(header::ORIGIN, "null")]),
            public
        ));
        assert!(!is_same_origin(&headers(&[]), public));
    }
}
