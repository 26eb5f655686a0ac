//! The OpenAPI 3.1 document of Keyward's HTTP APIs, derived by utoipa from the
//! handlers' `#[utoipa::path]` annotations and the types they read and write,
//! so that it cannot drift from the code: `GET /openapi.json`, `keyward openapi`
//! (which writes `docs/openapi.json`), and the page `/docs/api`.
//!
//! The error envelopes are built with `json!` where they are answered
//! (`verify::Rejection`, `api_v1::ApiFailure`, `AppError`); the types here
//! describe them, and the tests below decode every variant's real response
//! into them, so a new reason code fails a test until it is documented.

use crate::http::{api_v1, api_v1_usage, leaks, verify};
use serde::Deserialize;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// Keyward's HTTP APIs: verification (service tokens) and `/api/v1` (workspace keys).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Keyward",
        description = "Self-hostable API-key service. The company's API servers verify their \
            customers' keys with `POST /v1/keys/verify` (or a gateway with `GET /v1/auth`), \
            presenting a service token; scripts manage a workspace's keys through `/api/v1` \
            with one of the workspace's own keys as a Bearer token.",
        license(name = "MIT", identifier = "MIT"),
    ),
    paths(
        verify::verify_key,
        verify::forward_auth,
        api_v1::list_keys,
        api_v1::create_key,
        api_v1::update_key,
        api_v1::revoke_key,
        api_v1::read_audit,
        api_v1::read_audit_head,
        api_v1_usage::workspace_usage,
        api_v1_usage::key_usage,
        leaks::github_report,
        leaks::scanner_report,
    ),
    components(schemas(VerifyError, ApiError, VerifyErrorCode, ApiErrorCode, ErrorType)),
    modifiers(&SecuritySchemes, &RequiredHeaders),
    tags(
        (name = "verification", description = "For the company's API servers and gateways: \
            is this key good, and whose is it?"),
        (name = "keys", description = "A workspace's keys, managed with one of its own keys."),
        (name = "audit", description = "A workspace's audit log."),
        (name = "usage", description = "Verification counts of a workspace's keys, by outcome."),
        (name = "leaks", description = "Reports of keys found in public, from GitHub's secret \
            scanning or the company's own scanners."),
    ),
)]
pub struct ApiDoc;

/// The document, with its security schemes and required headers filled in.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The document as served and committed: pretty JSON with a final newline.
pub fn document_json() -> String {
    // Serialising a tree of maps and strings cannot fail; an empty object would fail the tests.
    let mut json = document()
        .to_pretty_json()
        .unwrap_or_else(|_| "{}".to_owned());
    json.push('\n');
    json
}

/// `GET /openapi.json`: public, like the API reference built from it; it names
/// routes and shapes, never a secret.
pub async fn openapi_json() -> impl axum::response::IntoResponse {
    static DOCUMENT: std::sync::LazyLock<String> = std::sync::LazyLock::new(document_json);
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
}

/// The two credentials: a service token for verification, a workspace key for `/api/v1`.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "ServiceToken",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Keyward-Service-Token",
                "A service token of the workspace (`kwsvc_…`), created by an admin in \
                 Settings → Service tokens or with `keyward service-token create`.",
            ))),
        );
        components.add_security_scheme(
            "WorkspaceKey",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("kw_live_…")
                    .description(Some(
                        "A workspace's API key as a Bearer token. On `/api/v1`, one holding \
                         the route's management scope (`keys:read`, `keys:write` or \
                         `audit:read`); on `/v1/auth`, the key being checked.",
                    ))
                    .build(),
            ),
        );
    }
}

/// utoipa's header object has no `required`; headers that are always sent are
/// marked here, so that a client (and schemathesis) may rely on them.
struct RequiredHeaders;

impl RequiredHeaders {
    fn always_sent(status: &str, header: &str) -> bool {
        match header.to_ascii_lowercase().as_str() {
            "retry-after" | "cache-control" => true,
            name if name.starts_with("x-keyward-") => true,
            // On a 200 only when the key has a limit; always on a 429.
            name if name.starts_with("x-ratelimit-") => status == "429",
            _ => false,
        }
    }
}

impl Modify for RequiredHeaders {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::RefOr;
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                item.get.as_mut(),
                item.post.as_mut(),
                item.put.as_mut(),
                item.delete.as_mut(),
                item.patch.as_mut(),
            ];
            for operation in operations.into_iter().flatten() {
                for (status, response) in operation.responses.responses.iter_mut() {
                    let RefOr::T(response) = response else {
                        continue;
                    };
                    for (name, header) in response.headers.iter_mut() {
                        let RefOr::T(header) = header else {
                            continue;
                        };
                        if Self::always_sent(status, name) {
                            header
                                .extensions
                                .get_or_insert_with(Default::default)
                                .insert("required".to_owned(), serde_json::Value::Bool(true));
                        }
                    }
                }
            }
        }
    }
}
/// The 429 and 503 answers every operation documents, each defined once and
/// inlined where it is used (the document reads as if written out in each).
///
/// `RATE_LIMITED` on `/api/v1`.
#[derive(utoipa::ToResponse)]
#[response(
    description = "`RATE_LIMITED`: the calling key's limit is spent; or `USAGE_EXCEEDED`: its \
        credits are (then `Retry-After` counts to the refill, and no rate-limit headers).",
    headers(
        ("Retry-After" = u64, description = "Seconds until the next request would pass."),
        ("X-RateLimit-Limit" = u32, description = "The key's limit, requests per minute."),
        ("X-RateLimit-Remaining" = u32, description = "Requests that may still be made now (0)."),
        ("X-RateLimit-Reset" = i64, description = "Unix time (seconds) when the full limit is available again."),
    )
)]
pub struct ApiRateLimited(pub ApiError);

/// `UNAVAILABLE` on `/api/v1`.
#[derive(utoipa::ToResponse)]
#[response(
    description = "`UNAVAILABLE`: the store is unreachable.",
    headers(("Retry-After" = u64, description = "Seconds to wait before retrying (1).")),
)]
pub struct ApiUnavailable(pub ApiError);

/// `RATE_LIMITED` on the verification API.
#[derive(utoipa::ToResponse)]
#[response(
    description = "`RATE_LIMITED`: the key's limit is spent; or `USAGE_EXCEEDED`: its credits \
        are (`refill_at` says until when; `Retry-After` counts to it, and no rate-limit headers).",
    headers(
        ("Retry-After" = u64, description = "Seconds until the next request would pass."),
        ("X-RateLimit-Limit" = u32, description = "The key's limit, requests per minute."),
        ("X-RateLimit-Remaining" = u32, description = "Requests that may still be made now (0)."),
        ("X-RateLimit-Reset" = i64, description = "Unix time (seconds) when the full limit is available again."),
    )
)]
pub struct VerifyRateLimited(pub VerifyError);

/// `UNAVAILABLE` on the verification API.
#[derive(utoipa::ToResponse)]
#[response(
    description = "`UNAVAILABLE`: the store is unreachable and the answer is not cached. Never a \
        200 that was not checked.",
    headers(("Retry-After" = u64, description = "Seconds to wait before retrying (1).")),
)]
pub struct VerifyUnavailable(pub VerifyError);

/// The error envelope of `/v1/keys/verify` and `/v1/auth`.
#[derive(ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyError {
    pub error: VerifyErrorDetail,
}

/// What went wrong; `code` is what callers branch on.
#[derive(ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyErrorDetail {
    #[serde(rename = "type")]
    #[schema(rename = "type")]
    pub kind: ErrorType,
    pub code: VerifyErrorCode,
    /// For every refused key the fixed "Invalid or missing API key."; never the input.
    pub message: String,
    /// `USAGE_EXCEEDED`: when the key's credits refill (null: they do not).
    #[serde(default)]
    pub refill_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The reason codes of the verification API (docs/design.md §4).
#[derive(ToSchema, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VerifyErrorCode {
    /// 401: no key in the body or headers.
    Missing,
    /// 401: not in this deployment's key format, or its checksum is wrong.
    Malformed,
    /// 401: no such key (or another workspace's).
    NotFound,
    /// 401: the key was revoked.
    Revoked,
    /// 401: the key expired, or its rotation's grace window ended.
    Expired,
    /// 401: the key belongs to the other environment.
    WrongEnvironment,
    /// 401: no valid `X-Keyward-Service-Token`; the key was not looked up.
    ServiceUnauthorized,
    /// 403: the key lacks a required scope.
    InsufficientScope,
    /// 429: the key's rate limit is spent.
    RateLimited,
    /// 403: the client's address is not in the key's IP allowlist, or none was sent.
    IpNotAllowed,
    /// 429: the key's usage credits are spent (`refill_at` says until when).
    UsageExceeded,
    /// 503: the store is unreachable and the answer is not cached.
    Unavailable,
    /// 400: the request cannot be read (names the field, never its value).
    InvalidRequest,
    /// 413: the body is over 8 KiB.
    PayloadTooLarge,
    /// 415: the body is not `application/json`.
    UnsupportedMediaType,
    /// 401 on `/v1/leaks/github`: the report is not signed by GitHub.
    InvalidSignature,
    /// 503 on `/v1/leaks/github`: GitHub's public keys could not be fetched.
    GithubKeysUnavailable,
}

/// The error envelope of `/api/v1`.
#[derive(ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiError {
    pub error: ApiErrorDetail,
}

/// What went wrong; `field` names the form field or parameter when there is one.
#[derive(ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiErrorDetail {
    #[serde(rename = "type")]
    #[schema(rename = "type")]
    pub kind: ErrorType,
    pub code: ApiErrorCode,
    pub message: String,
    #[serde(default)]
    pub field: Option<String>,
    /// `USAGE_EXCEEDED`: when the calling key's credits refill (null: they do not).
    #[serde(default)]
    pub refill_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The codes `/api/v1` answers with. Every bad key is `UNAUTHORIZED` alike:
/// the reasons are for service-token holders, on `/v1/keys/verify`.
#[derive(ToSchema, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ApiErrorCode {
    /// 401: a missing, malformed, unknown, revoked or expired key.
    Unauthorized,
    /// 403: the key lacks the route's management scope.
    InsufficientScope,
    /// 403: a new key would hold a scope the calling key does not.
    ScopeNotHeld,
    /// 403: the calling key's environment bounds what it reads and changes.
    EnvironmentNotAllowed,
    /// 403: a new key's rate limit would be higher than the calling key's.
    RateLimitTooGenerous,
    /// 403: a key's burst would be bigger than the calling key's (its whole limit, without one).
    BurstTooGenerous,
    /// 403: a new key would work longer than the calling key.
    ExpiresTooLate,
    /// 403: a key's IP allowlist would be wider than the calling key's.
    IpAllowlistTooWide,
    /// 403: a key would have unlimited use, more credits than the calling key has left, or a larger refill than its own.
    CreditsTooGenerous,
    /// 403: the calling key's IP allowlist does not hold the client's address.
    IpNotAllowed,
    /// 429: the calling key's usage credits are spent.
    UsageExceeded,
    /// 403: the key's owner may not do this in their current role.
    Forbidden,
    /// 404: no such key in the workspace.
    NotFound,
    /// 409: e.g. a key of that name exists, or the key is already revoked.
    Conflict,
    /// 422: a form field or filter is invalid (`field` names it).
    Invalid,
    /// 400: the request cannot be read (a cursor, a body that is not JSON).
    InvalidRequest,
    /// 413: the body is over 64 KiB.
    PayloadTooLarge,
    /// 415: a body that is not `application/json`.
    UnsupportedMediaType,
    /// 429: the calling key's rate limit is spent.
    RateLimited,
    /// 503: the store is unreachable.
    Unavailable,
}

/// The kind of error, broader than its code.
#[derive(ToSchema, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ErrorType {
    Unauthorized,
    Forbidden,
    RateLimited,
    Unavailable,
    InvalidRequest,
    NotFound,
    Conflict,
    Invalid,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::AppError;
    use crate::keys::minting::MintRefusal;
    use crate::verify::Rejection;
    use crate::verify::rate_limit::RateLimitState;
    use axum::response::IntoResponse;
    use serde_json::Value;

    async fn body_of(response: axum::response::Response) -> (u16, Value) {
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    /// Every rejection, one of each; the match makes a new variant a compile error here.
    fn every_rejection() -> Vec<Rejection> {
        let all = vec![
            Rejection::Missing,
            Rejection::Malformed,
            Rejection::NotFound,
            Rejection::Revoked,
            Rejection::Expired,
            Rejection::WrongEnvironment,
            Rejection::InsufficientScope {
                missing: vec!["invoices:write".into()],
            },
            Rejection::RateLimited(RateLimitState {
                limit: 10,
                remaining: 0,
                reset: 1_700_000_000,
                retry_after_secs: 6,
            }),
            Rejection::IpNotAllowed,
            Rejection::UsageExceeded { refill_at: None },
            Rejection::UsageExceeded {
                refill_at: Some(chrono::Utc::now() + chrono::Duration::hours(3)),
            },
            Rejection::ServiceUnauthorized,
            Rejection::Unavailable,
            Rejection::BadRequest("The request body is not valid JSON.".into()),
            Rejection::PayloadTooLarge { max: 8192 },
            Rejection::UnsupportedMediaType,
        ];
        for rejection in &all {
            match rejection {
                Rejection::Missing
                | Rejection::Malformed
                | Rejection::NotFound
                | Rejection::Revoked
                | Rejection::Expired
                | Rejection::WrongEnvironment
                | Rejection::InsufficientScope { .. }
                | Rejection::RateLimited(_)
                | Rejection::IpNotAllowed
                | Rejection::UsageExceeded { .. }
                | Rejection::ServiceUnauthorized
                | Rejection::Unavailable
                | Rejection::BadRequest(_)
                | Rejection::PayloadTooLarge { .. }
                | Rejection::UnsupportedMediaType => {}
            }
        }
        all
    }

    /// The statuses each operation documents, from the document itself.
    fn documented_statuses(path: &str, method: &str) -> Vec<u16> {
        let document: Value = serde_json::from_str(&document_json()).unwrap();
        let responses = document["paths"][path][method]["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{method} {path} is documented"));
        responses
            .keys()
            .map(|status| status.parse().unwrap())
            .collect()
    }

    #[tokio::test]
    async fn every_verification_refusal_is_a_documented_code_and_status() {
        let verify = documented_statuses("/v1/keys/verify", "post");
        let forward = documented_statuses("/v1/auth", "get");
        for rejection in every_rejection() {
            let (status, body) = body_of(rejection.clone().into_response()).await;
            let decoded: Result<VerifyError, _> = serde_json::from_value(body.clone());
            assert!(
                decoded.is_ok(),
                "{rejection:?}: {body} is not a VerifyError"
            );
            assert!(verify.contains(&status), "{status} of {rejection:?}");
            let body_free = matches!(
                rejection,
                Rejection::PayloadTooLarge { .. } | Rejection::UnsupportedMediaType
            );
            assert!(
                forward.contains(&status) || body_free,
                "{status} of {rejection:?}"
            );
        }
    }

    #[tokio::test]
    async fn every_api_refusal_is_a_documented_code() {
        use crate::http::api_v1::ApiFailure;
        let mut failures: Vec<ApiFailure> = every_rejection()
            .into_iter()
            .filter(|rejection| {
                // The service token is not /api/v1's concern.
                !matches!(rejection, Rejection::ServiceUnauthorized)
            })
            .map(ApiFailure::from)
            .collect();
        // AppError kinds that no /api/v1 handler returns: session and sign-in errors,
        // and Internal (a 500 is a bug, which the contract test's not_a_server_error finds).
        let not_from_api = |error: &AppError| {
            matches!(
                error,
                AppError::Unauthenticated
                    | AppError::TwoFactorRequired
                    | AppError::BadCredentials
                    | AppError::TooManyAttempts { .. }
                    | AppError::Internal
                    | AppError::Transport { .. }
            )
        };
        failures.extend(
            crate::error::tests::every_kind()
                .into_iter()
                .filter(|error| !not_from_api(error))
                .map(ApiFailure::from),
        );
        let now = chrono::Utc::now();
        failures.extend(
            [
                MintRefusal::ScopeNotHeld {
                    scope: "keys:write".into(),
                },
                MintRefusal::OtherEnvironment {
                    own: crate::keys::Environment::Live,
                },
                MintRefusal::RateLimitTooGenerous { limit: 10 },
                MintRefusal::BurstTooGenerous { burst: 5 },
                MintRefusal::ExpiresTooLate { ends_at: now },
                MintRefusal::IpAllowlistTooWide,
                MintRefusal::CreditsTooGenerous { left: 5 },
            ]
            .map(|refusal| {
                // A new kind of refusal is a compile error here until it is documented.
                match refusal {
                    MintRefusal::ScopeNotHeld { .. }
                    | MintRefusal::OtherEnvironment { .. }
                    | MintRefusal::RateLimitTooGenerous { .. }
                    | MintRefusal::BurstTooGenerous { .. }
                    | MintRefusal::ExpiresTooLate { .. }
                    | MintRefusal::IpAllowlistTooWide
                    | MintRefusal::CreditsTooGenerous { .. } => ApiFailure::from(refusal),
                }
            }),
        );
        for failure in failures {
            let (status, body) = body_of(failure.into_response()).await;
            let decoded: Result<ApiError, _> = serde_json::from_value(body.clone());
            assert!(decoded.is_ok(), "{status}: {body} is not an ApiError");
        }
    }

    #[test]
    fn the_document_is_openapi_3_1_with_both_security_schemes() {
        let document: Value = serde_json::from_str(&document_json()).unwrap();
        assert_eq!(document["openapi"], "3.1.0");
        let schemes = &document["components"]["securitySchemes"];
        assert_eq!(schemes["ServiceToken"]["name"], "X-Keyward-Service-Token");
        assert_eq!(schemes["WorkspaceKey"]["scheme"], "bearer");
        let too_many = &document["paths"]["/v1/keys/verify"]["post"]["responses"]["429"];
        assert_eq!(too_many["headers"]["Retry-After"]["required"], true);
        assert_eq!(too_many["headers"]["X-RateLimit-Reset"]["required"], true);
        let ok = &document["paths"]["/v1/keys/verify"]["post"]["responses"]["200"];
        assert!(ok["headers"]["X-RateLimit-Limit"].get("required").is_none());
    }

    #[test]
    fn the_committed_document_is_what_the_code_generates() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json");
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == document_json(),
            "docs/openapi.json differs from what the code generates. Regenerate it with\n\n    \
             cargo run --features ssr -- openapi > docs/openapi.json\n\nand commit it."
        );
    }
}
