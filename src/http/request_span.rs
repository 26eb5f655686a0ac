//! The span every request is logged in: its method and a path that is safe to
//! keep in logs. Query strings (the setup token, filters) and the token in an
//! invite or password-reset link never reach a log line, at any level.

use axum::http::Request;
use tracing::Span;

/// Used as the trace layer's `make_span_with`.
pub fn for_request<B>(request: &Request<B>) -> Span {
    tracing::debug_span!(
        "request",
        method = %request.method(),
        path = %loggable_path(request.uri().path()),
    )
}

/// The path with the secret segment of `/invite/<token>` and
/// `/reset/<token>` replaced by `…`.
/// (The query string is not part of `path`, so it is never there to begin with.)
pub fn loggable_path(path: &str) -> String {
    let mut previous = "";
    path.split('/')
        .map(|segment| {
            let shown = if matches!(previous, "invite" | "reset") && !segment.is_empty() {
                "…"
            } else {
                segment
            };
            previous = segment;
            shown
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::loggable_path;

    #[test]
    fn invite_tokens_are_redacted_and_other_paths_kept() {
        assert_eq!(loggable_path("/invite/0123abcd"), "/invite/…");
        assert_eq!(loggable_path("/invite/0123abcd/"), "/invite/…/");
        assert_eq!(loggable_path("/invite/"), "/invite/");
        assert_eq!(loggable_path("/reset/0123abcd"), "/reset/…");
        assert_eq!(loggable_path("/settings/api-keys"), "/settings/api-keys");
        assert_eq!(loggable_path("/rpc/accept_invite"), "/rpc/accept_invite");
    }
}
