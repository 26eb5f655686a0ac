//! Leak reports in (issue 16, docs/secret-scanning.md): `POST /v1/leaks/github`
//! for GitHub's secret-scanning partner program (signed by GitHub), and
//! `POST /v1/leaks` for the company's own scanners (a service token). Both take
//! a JSON array of `{token, type, url, source}` of at most 1 MiB and answer
//! GitHub's feedback format. Every failure has its status: 401 for a bad or
//! missing signature or token, 400 for a malformed body, 413 for an oversized
//! one, 503 when GitHub's keys or the store cannot be reached; never a 500.

use crate::audit::store::ClientInfo;
use crate::leaks::github::SignatureError;
use crate::leaks::report::{LeakReport, MAX_REPORT_BYTES};
use crate::leaks::store::{Reporter, act_on_report};
use crate::state::AppState;
use crate::verify::Rejection;
use axum::body::{Body, Bytes, to_bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::json;

const KEY_ID_HEADER: HeaderName = HeaderName::from_static("github-public-key-identifier");
const SIGNATURE_HEADER: HeaderName = HeaderName::from_static("github-public-key-signature");
const SERVICE_TOKEN_HEADER: HeaderName = HeaderName::from_static("x-keyward-service-token");

/// The two routes, bodies limited to [`MAX_REPORT_BYTES`] (outside sessions and CSRF:
/// their callers are GitHub and scanners, not browsers).
pub fn routes() -> Router<AppState> {
    crate::http::limits::limit_bodies(
        Router::new()
            .route("/v1/leaks/github", post(github_report))
            .route("/v1/leaks", post(scanner_report)),
        MAX_REPORT_BYTES,
    )
}

/// Why a report was refused, in the verification API's envelope.
#[derive(Debug)]
enum Refusal {
    Signature(SignatureError),
    Malformed,
    TooLarge,
    StoreUnavailable,
    Service(Rejection),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let (status, error_type, code, message) = match self {
            Self::Service(rejection) => return rejection.into_response(),
            Self::Signature(SignatureError::KeysUnavailable) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "GITHUB_KEYS_UNAVAILABLE",
                "GitHub's secret-scanning public keys could not be fetched, so the signature \
                 cannot be checked. Retry later."
                    .to_owned(),
            ),
            Self::Signature(error) => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "INVALID_SIGNATURE",
                format!("The report is not signed by GitHub: {error}."),
            ),
            Self::Malformed => (
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "INVALID_REQUEST",
                crate::leaks::report::MalformedReport.to_string(),
            ),
            Self::TooLarge => return crate::http::limits::too_large(MAX_REPORT_BYTES),
            Self::StoreUnavailable => return Rejection::Unavailable.into_response(),
        };
        let mut response = (
            status,
            Json(json!({ "error": { "type": error_type, "code": code, "message": message } })),
        )
            .into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("60"));
        }
        response
    }
}

/// `POST /v1/leaks/github`: a report from GitHub's secret-scanning partner program.
#[utoipa::path(
    post,
    path = "/v1/leaks/github",
    tag = "leaks",
    operation_id = "reportLeakFromGithub",
    summary = "Receive a leak report from GitHub secret scanning",
    description = "For GitHub's secret-scanning partner program (docs/secret-scanning.md). The body \
        is signed by GitHub with ECDSA P-256 / SHA-256 over its raw bytes; the public keys come from \
        the configured URL. Each reported key this Keyward issued is acted on by its workspace's leak \
        policy (revoked, or flagged) and audited as `key.leaked`; the answer labels every token.",
    params(
        ("Github-Public-Key-Identifier" = String, Header, description = "The id of the key GitHub signed with."),
        ("Github-Public-Key-Signature" = String, Header, description = "The signature, base64 DER."),
    ),
    request_body(content = Vec<crate::leaks::report::RawToken>, content_type = "application/json"),
    responses(
        (status = 200, description = "Feedback per distinct token: `true_positive` only for a key this \
            Keyward issued.", body = Vec<crate::leaks::report::Feedback>),
        (status = 400, description = "`INVALID_REQUEST`: the body is not an array of reports.", body = crate::http::openapi::VerifyError),
        (status = 401, description = "`INVALID_SIGNATURE`: missing or bad signature, or an unknown key id.", body = crate::http::openapi::VerifyError),
        (status = 413, description = "`PAYLOAD_TOO_LARGE`: the body is over 1 MiB.", body = crate::http::openapi::VerifyError),
        (status = 503, description = "`GITHUB_KEYS_UNAVAILABLE` or `UNAVAILABLE`: GitHub's keys or the \
            store cannot be reached.", body = crate::http::openapi::VerifyError,
            headers(("Retry-After" = u64, description = "Seconds to wait before retrying."))),
    ),
)]
pub async fn github_report(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let key_id = header_text(&headers, &KEY_ID_HEADER);
        let signature = header_text(&headers, &SIGNATURE_HEADER);
        if key_id.is_none() || signature.is_none() {
            return Err(Refusal::Signature(SignatureError::Missing));
        }
        let body = read_body(&headers, body).await?;
        // Over the raw bytes, before anything reads them.
        state
            .github_keys
            .verify(key_id, signature, &body)
            .await
            .map_err(Refusal::Signature)?;
        answer(&state, Reporter::Github, &body, &client).await
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `POST /v1/leaks`: a report from the workspace's own scanner, with a service
/// token; it acts on that workspace's keys only.
#[utoipa::path(
    post,
    path = "/v1/leaks",
    tag = "leaks",
    operation_id = "reportLeak",
    summary = "Report leaked keys found by your own scanner",
    description = "For the company's own scanners (gitleaks, TruffleHog, a support agent): the same \
        array as GitHub's, with a service token. Acts only on the token's workspace's keys; whether \
        such a report revokes or only flags is the workspace's policy (Settings → Workspace).",
    request_body(content = Vec<crate::leaks::report::RawToken>, content_type = "application/json"),
    security(("ServiceToken" = [])),
    responses(
        (status = 200, description = "Feedback per distinct token: `true_positive` only for a key of \
            this workspace.", body = Vec<crate::leaks::report::Feedback>),
        (status = 400, description = "`INVALID_REQUEST`: the body is not an array of reports.", body = crate::http::openapi::VerifyError),
        (status = 401, description = "`SERVICE_UNAUTHORIZED`: no valid service token.", body = crate::http::openapi::VerifyError),
        (status = 413, description = "`PAYLOAD_TOO_LARGE`: the body is over 1 MiB.", body = crate::http::openapi::VerifyError),
        (status = 503, response = inline(crate::http::openapi::VerifyUnavailable)),
    ),
)]
pub async fn scanner_report(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let caller = state
            .verifier
            .authenticate_service(header_text(&headers, &SERVICE_TOKEN_HEADER))
            .await
            .map_err(Refusal::Service)?;
        let body = read_body(&headers, body).await?;
        let reporter = Reporter::ServiceToken {
            token_id: &caller.token_id,
            workspace_id: &caller.workspace_id,
        };
        answer(&state, reporter, &body, &client).await
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn answer(
    state: &AppState,
    reporter: Reporter<'_>,
    body: &[u8],
    client: &ClientInfo,
) -> Result<Response, Refusal> {
    let report = LeakReport::parse(body).map_err(|_| Refusal::Malformed)?;
    let feedback = act_on_report(
        &state.db,
        crate::mail::notices::Notices::of(state.mailer.as_ref()),
        reporter,
        &report,
        state.config.key_prefix.as_str(),
        state.clock.now(),
        client,
    )
    .await
    .map_err(|error| {
        tracing::error!(%error, "could not act on a leak report");
        Refusal::StoreUnavailable
    })?;
    Ok((StatusCode::OK, Json(feedback)).into_response())
}

async fn read_body(headers: &HeaderMap, body: Body) -> Result<Bytes, Refusal> {
    let declared =
        header_text(headers, &header::CONTENT_LENGTH).and_then(|length| length.parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_REPORT_BYTES as u64) {
        return Err(Refusal::TooLarge);
    }
    to_bytes(body, MAX_REPORT_BYTES)
        .await
        .map_err(|_| Refusal::TooLarge)
}

fn header_text<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}
