//! The verification API the company's API servers and gateways call (docs/design.md §4):
//! `POST /v1/keys/verify` (JSON) and `GET /v1/auth` (forward-auth), plus `/metrics`.

use crate::config::Config;
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
