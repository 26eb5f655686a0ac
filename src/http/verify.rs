//! The verification API the company's API servers and gateways call (docs/design.md §4):
//! `POST /v1/keys/verify` (JSON) and `GET /v1/auth` (forward-auth), plus `/metrics`.

use crate::config::Config;
use crate::http::openapi::{VerifyError, VerifyRateLimited, VerifyUnavailable};
use crate::keys::Environment;
use crate::verify::request::{MAX_BODY_BYTES, VerifyRequest};
use crate::verify::response::{VerifiedBody, identity_headers};
use crate::verify::{Audience, Rejection, Verified, Verifier};
use axum::Json;
use axum::body::{Body, to_bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

const SERVICE_TOKEN_HEADER: HeaderName = HeaderName::from_static("x-keyward-service-token");

/// `POST /v1/keys/verify`.
#[utoipa::path(
    post,
    path = "/v1/keys/verify",
    tag = "verification",
    operation_id = "verifyKey",
    summary = "Verify an API key",
    description = "Asks whether a key that the API server's caller presented is good, and whose it \
        is. The service token is checked first; without a valid one the body is not read. Then the \
        body (at most 8 KiB of JSON), then the key: format and checksum, revoked, expired, \
        environment, scopes, and last its rate limit (a refused key does not spend it). A service \
        token verifies only its own workspace's keys; another workspace's key is `NOT_FOUND`.",
    request_body(content = crate::verify::request::Body, content_type = "application/json", example = json!({
        "key": "kw_live_…", "environment": "live", "scopes": ["invoices:write"], "client_ip": "203.0.113.9",
    })),
    security(("ServiceToken" = [])),
    responses(
        (status = 200, description = "The key is good.", body = VerifiedBody, headers(
            ("X-RateLimit-Limit" = u32, description = "The key's limit, requests per minute (only when it has one)."),
            ("X-RateLimit-Remaining" = u32, description = "Requests that may still be made now."),
            ("X-RateLimit-Reset" = i64, description = "Unix time (seconds) when the full limit is available again."),
        )),
        (status = 400, description = "`INVALID_REQUEST`: the body is not valid JSON of this shape, \
            or a field is invalid (the message names the field, never its value).", body = VerifyError),
        (status = 401, description = "`SERVICE_UNAUTHORIZED`: no valid service token. Otherwise the \
            key is refused: `MISSING`, `MALFORMED`, `NOT_FOUND`, `REVOKED`, `EXPIRED` or \
            `WRONG_ENVIRONMENT`, always with the message \"Invalid or missing API key.\"", body = VerifyError),
        (status = 403, description = "`INSUFFICIENT_SCOPE`: the key lacks a scope the request needs; \
            `IP_NOT_ALLOWED`: `client_ip` is not in the key's IP allowlist, or is missing for a key with one.", body = VerifyError),
        (status = 413, description = "`PAYLOAD_TOO_LARGE`: the body is over 8 KiB.", body = VerifyError),
        (status = 415, description = "`UNSUPPORTED_MEDIA_TYPE`: the body is not `application/json`.", body = VerifyError),
        (status = 429, response = inline(VerifyRateLimited)),
        (status = 503, response = inline(VerifyUnavailable)),
    ),
)]
pub async fn verify_key(
    State(verifier): State<Verifier>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match verify_key_request(&verifier, &headers, body).await {
        Ok(verified) => {
            let mut response_headers = HeaderMap::new();
            if let Some(state) = &verified.ratelimit {
                state.write_headers(&mut response_headers);
            }
            (
                StatusCode::OK,
                response_headers,
                Json(VerifiedBody::of(&verified)),
            )
                .into_response()
        }
        Err(rejection) => rejection.into_response(),
    }
}

async fn verify_key_request(
    verifier: &Verifier,
    headers: &HeaderMap,
    body: Body,
) -> Result<Verified, Rejection> {
    // The caller first: without a service token, nothing else is read.
    let caller = verifier
        .authenticate_service(header_text(headers, &SERVICE_TOKEN_HEADER))
        .await
        .inspect_err(|rejection| verifier.count_refused_request(rejection))?;
    let request = decode_body(headers, body)
        .await
        .inspect_err(|rejection| verifier.count_refused_request(rejection))?;
    verifier
        .verify_presented_key(
            request.key.as_deref(),
            &Audience::Workspace(caller.workspace_id),
            &request.required,
            request.client_ip,
        )
        .await
}

async fn decode_body(headers: &HeaderMap, body: Body) -> Result<VerifyRequest, Rejection> {
    let too_large = Rejection::PayloadTooLarge {
        max: MAX_BODY_BYTES,
    };
    let declared =
        header_text(headers, &header::CONTENT_LENGTH).and_then(|length| length.parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return Err(too_large);
    }
    let bytes = to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| too_large)?;
    VerifyRequest::from_json(header_text(headers, &header::CONTENT_TYPE), &bytes)
}

/// `GET /v1/auth`: forward-auth for nginx `auth_request`, Caddy `forward_auth`,
/// Traefik ForwardAuth. 200 with the key's identity in headers, or the same
/// 401/403/429 bodies as the JSON endpoint.
#[utoipa::path(
    get,
    path = "/v1/auth",
    tag = "verification",
    operation_id = "forwardAuth",
    summary = "Forward auth for gateways",
    description = "For gateways with no code changes (nginx `auth_request`, Caddy `forward_auth`, \
        Traefik ForwardAuth; see docs/forward-auth.md). The key is read from `Authorization: Bearer`, \
        `Authorization: Basic` (the key as user name) or `X-Api-Key`. The service token is required \
        unless the deployment sets `KEYWARD_FORWARD_AUTH_SERVICE_TOKEN=false`. The answer's \
        `X-Keyward-*` headers are for the gateway to pass on to the upstream.",
    params(
        ("X-Api-Key" = Option<String>, Header, description = "The key, when `Authorization` is not used."),
        ("X-Keyward-Required-Scopes" = Option<String>, Header, description = "Scopes the request needs, separated by commas or spaces (at most 32)."),
        ("X-Keyward-Environment" = Option<Environment>, Header, description = "The environment the upstream serves."),
        ("X-Keyward-Client-Ip" = Option<String>, Header, description = "The caller's address, checked against an IP allowlist and recorded as the key's last use (else the last `X-Forwarded-For` hop). The gateway must set it, replacing any copy the client sent."),
        ("X-Forwarded-For" = Option<String>, Header, description = "The proxy chain; its last hop, the one the gateway appended, is the caller."),
    ),
    security(("ServiceToken" = [], "WorkspaceKey" = [])),
    responses(
        (status = 200, description = "The key is good; its identity is in the headers too.", body = VerifiedBody, headers(
            ("X-Keyward-Key-Id" = String, description = "The key's id."),
            ("X-Keyward-Workspace-Id" = String, description = "The key's workspace."),
            ("X-Keyward-Environment" = Environment, description = "`live` or `test`."),
            ("X-Keyward-Scopes" = String, description = "The key's scopes, separated by commas."),
            ("X-Keyward-Owner-Id" = String, description = "The member who owns the key."),
            ("X-RateLimit-Limit" = u32, description = "The key's limit, requests per minute (only when it has one)."),
            ("X-RateLimit-Remaining" = u32, description = "Requests that may still be made now."),
            ("X-RateLimit-Reset" = i64, description = "Unix time (seconds) when the full limit is available again."),
        )),
        (status = 400, description = "`INVALID_REQUEST`: a header is not plain text, `Authorization` \
            uses another scheme, or a requirement header is invalid.", body = VerifyError),
        (status = 401, description = "`SERVICE_UNAUTHORIZED`, or the key is refused: `MISSING`, \
            `MALFORMED`, `NOT_FOUND`, `REVOKED`, `EXPIRED` or `WRONG_ENVIRONMENT`.", body = VerifyError),
        (status = 403, description = "`INSUFFICIENT_SCOPE`: the key lacks a scope in `X-Keyward-Required-Scopes`; \
            `IP_NOT_ALLOWED`: the client's address (`X-Keyward-Client-Ip` or `X-Forwarded-For`) is not in the \
            key's IP allowlist, or missing.", body = VerifyError),
        (status = 429, response = inline(VerifyRateLimited)),
        (status = 503, response = inline(VerifyUnavailable)),
    ),
)]
pub async fn forward_auth(
    State(verifier): State<Verifier>,
    State(config): State<Arc<Config>>,
    headers: HeaderMap,
) -> Response {
    match forward_auth_request(&verifier, &config, &headers).await {
        Ok(verified) => {
            let mut response_headers = HeaderMap::new();
            identity_headers(&verified, &mut response_headers);
            if let Some(limit) = &verified.ratelimit {
                limit.write_headers(&mut response_headers);
            }
            (
                StatusCode::OK,
                response_headers,
                Json(VerifiedBody::of(&verified)),
            )
                .into_response()
        }
        Err(rejection) => rejection.into_response(),
    }
}

async fn forward_auth_request(
    verifier: &Verifier,
    config: &Config,
    headers: &HeaderMap,
) -> Result<Verified, Rejection> {
    // Only the parts it needs: cloning the whole AppState per request showed up in profiles.
    let audience = if config.forward_auth_requires_service_token {
        let caller = verifier
            .authenticate_service(header_text(headers, &SERVICE_TOKEN_HEADER))
            .await
            .inspect_err(|rejection| verifier.count_refused_request(rejection))?;
        Audience::Workspace(caller.workspace_id)
    } else {
        Audience::AnyWorkspace
    };
    let request = VerifyRequest::from_gateway_headers(headers)
        .inspect_err(|rejection| verifier.count_refused_request(rejection))?;
    verifier
        .verify_presented_key(
            request.key.as_deref(),
            &audience,
            &request.required,
            request.client_ip,
        )
        .await
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(verifier): State<Verifier>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        verifier.render_metrics(),
    )
}

fn header_text<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}
