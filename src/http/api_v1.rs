//! The dashboard's JSON API for scripts and CI (docs/design.md §4): list, create and
//! revoke keys, read the audit log. Callers authenticate with one of the
//! workspace's own API keys (`Authorization: Bearer`), checked by the same
//! verifier as `/v1/keys/verify`, with the management scopes `keys:read`,
//! `keys:write` and `audit:read` (never granted by a preset). A key acts with
//! its owner's current role and never more, in its own environment only, and
//! mints keys no more powerful than itself (`keys::minting`).

use crate::audit::AuditPage;
use crate::audit::query::{AuditScope, Cursor};
use crate::audit::store::ClientInfo;
use crate::auth::access::{self, Member};
use crate::auth::users;
use crate::error::AppError;
use crate::http::openapi::{ApiError, ApiRateLimited, ApiUnavailable};
use crate::keys::api::{KeyEditForm, NewKeyForm};
use crate::keys::credits::CreditPlan;
use crate::keys::minting::{self, MintRefusal};
use crate::keys::store::Cascade;
use crate::keys::{CreatedKey, Environment, KeyFilter, KeyListPage, KeyView};
use crate::state::AppState;
use crate::verify::lookup::KeyRecord;
use crate::verify::request::presented_key;
use crate::verify::{Audience, Rejection, Requirements};
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::marker::PhantomData;
use std::sync::Arc;

const AUDIT_PAGE_SIZE: i64 = 50;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/keys", get(list_keys).post(create_key))
        .route("/api/v1/keys/{id}", patch(update_key))
        .route("/api/v1/keys/{id}/revoke", post(revoke_key))
        .route("/api/v1/audit", get(read_audit))
        .route("/api/v1/audit/head", get(read_audit_head))
        .route("/api/v1/usage", get(super::api_v1_usage::workspace_usage))
        .route(
            "/api/v1/keys/{id}/usage",
            get(super::api_v1_usage::key_usage),
        )
}

/// Why an API call failed: the key (401/403/429/503 as in verification), a
/// refusal with its own code (403), or the action.
pub enum ApiFailure {
    Key(Rejection),
    Denied {
        code: &'static str,
        message: String,
        field: Option<&'static str>,
    },
    Action(AppError),
}

impl From<Rejection> for ApiFailure {
    fn from(rejection: Rejection) -> Self {
        Self::Key(rejection)
    }
}

impl From<AppError> for ApiFailure {
    fn from(error: AppError) -> Self {
        Self::Action(error)
    }
}

impl From<MintRefusal> for ApiFailure {
    fn from(refusal: MintRefusal) -> Self {
        Self::Denied {
            code: refusal.code(),
            message: refusal.to_string(),
            field: Some(refusal.field()),
        }
    }
}

impl ApiFailure {
    pub(super) fn other_environment(own: Environment) -> Self {
        Self::Denied {
            code: "ENVIRONMENT_NOT_ALLOWED",
            message: format!(
                "A {own} key reads and changes {own} keys only.",
                own = own.as_str()
            ),
            field: Some("environment"),
        }
    }
}

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        match self {
            Self::Key(rejection) if rejection.status() == StatusCode::UNAUTHORIZED => {
                // Missing, malformed, unknown, revoked, expired: all alike to the caller,
                // so a leaked or guessed key learns nothing. The verify API, for
                // service-token holders, is where the reason codes are.
                let body = json!({ "error": {
                    "type": "unauthorized",
                    "code": "UNAUTHORIZED",
                    "message": "Invalid or missing API key.",
                }});
                (StatusCode::UNAUTHORIZED, Json(body)).into_response()
            }
            Self::Key(rejection) => rejection.into_response(),
            Self::Denied {
                code,
                message,
                field,
            } => {
                let mut body = json!({ "error": {
                    "type": "forbidden",
                    "code": code,
                    "message": message,
                }});
                if let Some(field) = field {
                    body["error"]["field"] = json!(field);
                }
                (StatusCode::FORBIDDEN, Json(body)).into_response()
            }
            Self::Action(error) => error.into_response(),
        }
    }
}

/// A management scope a route needs from the calling key.
pub trait RouteScope: Send + Sync {
    const NAME: &'static str;
}

/// `keys:read`: list keys.
pub struct KeysRead;
/// `keys:write`: create, edit and revoke keys.
pub struct KeysWrite;
/// `audit:read`: read the audit log.
pub struct AuditRead;
/// `usage:read`: read verification counts.
pub struct UsageRead;

impl RouteScope for KeysRead {
    const NAME: &'static str = "keys:read";
}
impl RouteScope for KeysWrite {
    const NAME: &'static str = "keys:write";
}
impl RouteScope for AuditRead {
    const NAME: &'static str = "audit:read";
}
impl RouteScope for UsageRead {
    const NAME: &'static str = "usage:read";
}

/// The caller of an `/api/v1` route: a presented key that holds the route's
/// scope `S`, the member it acts as (its owner, in their current role), and
/// where the request came from. As an extractor it runs before the handler
/// reads anything else, so a bad key is refused before the query or body is
/// looked at.
pub(crate) struct ApiCaller<S> {
    pub(super) member: Member,
    pub(super) key: Arc<KeyRecord>,
    /// The calling key's credits left after this call spent its own, if it has credits.
    credits_left: Option<u64>,
    client: ClientInfo,
    scope: PhantomData<S>,
}

impl<S: RouteScope> FromRequestParts<AppState> for ApiCaller<S> {
    type Rejection = ApiFailure;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiFailure> {
        let client = crate::http::client_info::client_info(parts, &state.config);
        let key = presented_key(&parts.headers)?;
        let required = Requirements {
            scopes: vec![S::NAME.to_owned()],
            ..Requirements::default()
        };
        let verified = state
            .verifier
            .verify_presented_key(
                key.as_deref(),
                &Audience::AnyWorkspace,
                &required,
                client.ip.as_deref().and_then(|ip| ip.parse().ok()),
            )
            .await?;
        let credits_left = verified.credits.as_ref().map(|credits| credits.remaining);
        let key = verified.key;
        let owner = users::find_by_id(&state.db, &key.owner_id)
            .await?
            .ok_or(AppError::Forbidden)?;
        let mut member = access::membership(&state.db, &owner, &key.workspace_id)
            .await?
            .ok_or(AppError::Forbidden)?;
        // The audit log names the key, and whose it is.
        member.name = format!("API key {} ({}) of {}", key.name, key.masked, owner.name);
        Ok(Self {
            member,
            key,
            credits_left,
            client,
            scope: PhantomData,
        })
    }
}

/// A query parameter that cannot be read (a cursor that overflows, say) is a bad request: 400.
fn unreadable_query(error: AppError) -> Rejection {
    Rejection::BadRequest(error.to_string())
}

/// axum's own refusal of a query string or path (plain text) as the JSON envelope.
/// Its text names the parameter and may quote the value, which here is never a
/// secret (the key travels in a header).
fn unreadable_url(what: &str, reason: String) -> Rejection {
    Rejection::BadRequest(format!("The {what} cannot be read: {reason}"))
}

pub(super) fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, Rejection> {
    query
        .map(|Query(params)| params)
        .map_err(|rejection| unreadable_url("query string", rejection.body_text()))
}

/// A JSON body axum could not read: 415 without a JSON content type, 413 when a
/// chunked body outgrew the limit, else 400.
/// True when the request says a body follows: chunked, or a length above zero.
fn announces_a_body(headers: &axum::http::HeaderMap) -> bool {
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|length| length.to_str().ok())
            .is_some_and(|length| length.trim() != "0")
}

fn unreadable_body(rejection: JsonRejection, expected: &str) -> Rejection {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => return Rejection::UnsupportedMediaType,
        _ if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return Rejection::PayloadTooLarge {
                max: crate::http::limits::MAX_BODY_BYTES,
            };
        }
        _ => {}
    }
    Rejection::BadRequest(format!(
        "The body must be JSON with {expected}: {}",
        rejection.body_text()
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListParams {
    /// The calling key's own environment (the other one is 403 `ENVIRONMENT_NOT_ALLOWED`).
    #[param(value_type = Option<Environment>)]
    environment: Option<String>,
    /// `active`, `expiring`, `expired` or `revoked`.
    #[param(value_type = Option<crate::keys::KeyStatus>)]
    status: Option<String>,
    /// A name fragment, or a pasted prefix such as `kw_live_3fJ9`.
    search: Option<String>,
    /// `7d`: only keys that still work and stop within 7 days.
    #[param(pattern = "^7d$")]
    expiring: Option<String>,
    /// The previous page's `older`, for the next (older) page.
    before: Option<String>,
}

/// `GET /api/v1/keys`: the list of the calling key's environment, newest
/// first, 50 a page; `older` is the next `before`.
#[utoipa::path(
    get,
    path = "/api/v1/keys",
    tag = "keys",
    operation_id = "listKeys",
    summary = "List keys",
    description = "The calling key's environment, newest first, 50 a page; pass `older` as \
        `before` for the next page. Needs `keys:read`. The key acts as its owner in their \
        current role.",
    params(ListParams),
    security(("WorkspaceKey" = [])),
    responses(
        (status = 200, description = "A page of keys (never a secret).", body = KeyListPage),
        (status = 400, description = "`INVALID_REQUEST`: an unreadable cursor or query string, or an \
            `Authorization` header of another scheme.", body = ApiError),
        (status = 401, description = "`UNAUTHORIZED`: the key is missing, malformed, unknown, revoked or expired.", body = ApiError),
        (status = 403, description = "`INSUFFICIENT_SCOPE`, `ENVIRONMENT_NOT_ALLOWED` or `FORBIDDEN`.", body = ApiError),
        (status = 422, description = "`INVALID`: a filter value is unknown (`field` names it).", body = ApiError),
        (status = 429, response = inline(ApiRateLimited)),
        (status = 503, response = inline(ApiUnavailable)),
    ),
)]
async fn list_keys(
    State(state): State<AppState>,
    ApiCaller { member, key, .. }: ApiCaller<KeysRead>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<KeyListPage>, ApiFailure> {
    let params = query(params)?;
    if let Some(cursor) = params.before.as_deref().filter(|text| !text.is_empty()) {
        crate::keys::parse_cursor(cursor).map_err(unreadable_query)?;
    }
    let mut filter = KeyFilter::parse(
        params.environment.as_deref(),
        params.status.as_deref(),
        params.search,
        params.expiring.as_deref(),
    )?;
    if filter
        .environment
        .is_some_and(|asked| asked != key.environment)
    {
        return Err(ApiFailure::other_environment(key.environment));
    }
    filter.environment = Some(key.environment);
    let page = crate::keys::list::list(
        &state.db,
        &member,
        &filter,
        params.before.as_deref(),
        state.clock.now(),
    )
    .await?;
    Ok(Json(page))
}

/// `POST /api/v1/keys`: the dashboard's create form as JSON; answers with the secret, once.
#[utoipa::path(
    post,
    path = "/api/v1/keys",
    tag = "keys",
    operation_id = "createKey",
    summary = "Create a key",
    description = "The dashboard's create form as JSON. Needs `keys:write`. A key creates only \
        keys no more powerful than itself: scopes it holds, in its own environment, a rate limit \
        no higher and an expiry no later than its own, an IP allowlist within its own, and credits \
        (refilled by no more than its own) when it has credits. The secret is in this answer only.",
    request_body(content = NewKeyForm, content_type = "application/json", example = json!({
        "name": "billing-sync", "environment": "live", "scopes": ["read-only"], "expiry": "90d",
    })),
    security(("WorkspaceKey" = [])),
    responses(
        (status = 201, description = "Created; `secret` is shown this once.", body = CreatedKey, headers(
            ("Cache-Control" = String, description = "`no-store`: the answer carries a secret."),
        )),
        (status = 400, description = "`INVALID_REQUEST`: the body is not JSON of this shape.", body = ApiError),
        (status = 401, description = "`UNAUTHORIZED`: the key is missing, malformed, unknown, revoked or expired.", body = ApiError),
        (status = 403, description = "`INSUFFICIENT_SCOPE`, `SCOPE_NOT_HELD`, `ENVIRONMENT_NOT_ALLOWED`, \
            `RATE_LIMIT_TOO_GENEROUS`, `BURST_TOO_GENEROUS`, `EXPIRES_TOO_LATE`, `IP_ALLOWLIST_TOO_WIDE`, \
            `CREDITS_TOO_GENEROUS` (with the form `field`), `IP_NOT_ALLOWED` or `FORBIDDEN`.", body = ApiError),
        (status = 409, description = "`CONFLICT`: a key that still works has that name.", body = ApiError),
        (status = 413, description = "`PAYLOAD_TOO_LARGE`: the body is over 64 KiB.", body = ApiError),
        (status = 415, description = "`UNSUPPORTED_MEDIA_TYPE`: a body without `Content-Type: application/json`.", body = ApiError),
        (status = 422, description = "`INVALID`: a form field is invalid (`field` names it).", body = ApiError),
        (status = 429, response = inline(ApiRateLimited)),
        (status = 503, response = inline(ApiUnavailable)),
    ),
)]
async fn create_key(
    State(state): State<AppState>,
    ApiCaller {
        member,
        key,
        credits_left,
        client,
        ..
    }: ApiCaller<KeysWrite>,
    form: Result<Json<NewKeyForm>, JsonRejection>,
) -> Result<Response, ApiFailure> {
    // A chunked body that outgrew the limit is caught here, while being read.
    let Json(form) = form
        .map_err(|rejection| unreadable_body(rejection, "name, environment, scopes and expiry"))?;
    let now = state.clock.now();
    let mut new = crate::keys::validate::new_key(form, &state.config.scopes, now)?;
    minting::check_within(&key, credits_left, &new, &state.config.scopes, now)?;
    new.minted_by_key = Some(key.id.clone());
    let created: CreatedKey = crate::keys::store::create(
        &state.db,
        &member,
        new,
        state.config.key_prefix.as_str(),
        now,
        &client,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, "no-store")],
        Json(created),
    )
        .into_response())
}

/// `PATCH /api/v1/keys/{id}`: the key page's edit as JSON; answers with the key as it is now.
#[utoipa::path(
    patch,
    path = "/api/v1/keys/{id}",
    tag = "keys",
    operation_id = "updateKey",
    summary = "Edit a key",
    description = "Changes a key's name, note, rate limit and burst, IP allowlist, usage credits \
        or expiry without rotating it; the verifier sees the change at once, on every instance. \
        Absent fields stay as they are; an empty `note`, `rate_limit_per_minute`, \
        `rate_limit_burst` or `credits`, or an empty `ip_allowlist` list, removes it. `credits` \
        sets the balance; the refill fields replace the refill. An expiry can only be brought earlier, \
        and within the workspace's maximum key lifetime. Scopes and environment cannot be edited: \
        rotate into a new key instead. Needs `keys:write`; a developer's key edits only its owner's \
        keys, in its own environment, only keys whose scopes it holds too, and never gives a key a \
        rate limit above its own, an allowlist wider than its own, or (when it has credits) \
        unlimited use or a larger refill. One \
        `key.updated` audit entry with the changed fields before and after.",
    params(("id" = String, Path, description = "The key's id, as the list gives it.")),
    request_body(content = KeyEditForm, content_type = "application/json", example = json!({
        "name": "billing-sync-eu", "rate_limit_per_minute": "600", "expiry_date": "2026-12-31",
    })),
    security(("WorkspaceKey" = [])),
    responses(
        (status = 200, description = "Changed (or nothing to change): the key now.", body = KeyView),
        (status = 400, description = "`INVALID_REQUEST`: the body is not JSON of this shape.", body = ApiError),
        (status = 401, description = "`UNAUTHORIZED`: the key is missing, malformed, unknown, revoked or expired.", body = ApiError),
        (status = 403, description = "`INSUFFICIENT_SCOPE`, `ENVIRONMENT_NOT_ALLOWED`, `SCOPE_NOT_HELD` (the key \
            holds a scope the calling key does not), `RATE_LIMIT_TOO_GENEROUS`, `BURST_TOO_GENEROUS`, \
            `IP_ALLOWLIST_TOO_WIDE`, `CREDITS_TOO_GENEROUS` (also for the calling key itself), `IP_NOT_ALLOWED` (the calling key's allowlist) or `FORBIDDEN` (a \
            developer's key on another member's key).", body = ApiError),
        (status = 404, description = "`NOT_FOUND`: no such key in the workspace.", body = ApiError),
        (status = 409, description = "`CONFLICT`: the key is revoked or expired.", body = ApiError),
        (status = 413, description = "`PAYLOAD_TOO_LARGE`: the body is over 64 KiB.", body = ApiError),
        (status = 415, description = "`UNSUPPORTED_MEDIA_TYPE`: a body without `Content-Type: application/json`.", body = ApiError),
        (status = 422, description = "`INVALID`: a field is invalid, a later expiry, or one the workspace's \
            policy refuses (`field` names it).", body = ApiError),
        (status = 429, response = inline(ApiRateLimited)),
        (status = 503, response = inline(ApiUnavailable)),
    ),
)]
async fn update_key(
    State(state): State<AppState>,
    ApiCaller {
        member,
        key,
        credits_left,
        client,
        ..
    }: ApiCaller<KeysWrite>,
    key_id: Result<Path<String>, PathRejection>,
    form: Result<Json<KeyEditForm>, JsonRejection>,
) -> Result<Json<KeyView>, ApiFailure> {
    let Path(key_id) = key_id.map_err(|rejection| unreadable_url("path", rejection.body_text()))?;
    let Json(form) = form.map_err(|rejection| {
        unreadable_body(
            rejection,
            "name, note, rate_limit_per_minute, rate_limit_burst, ip_allowlist (a list), credits and its refill, or an expiry",
        )
    })?;
    let now = state.clock.now();
    let edit = crate::keys::validate::key_edit(form, now)?;
    let target = crate::keys::list::detail(&state.db, &member, &key_id, now)
        .await?
        .key;
    if target.environment != key.environment {
        return Err(ApiFailure::other_environment(key.environment));
    }
    // Nor on a key that holds more than the calling key: it could lift the
    // limit of a deliberately throttled, more powerful key.
    let catalogue = &state.config.scopes;
    let held = catalogue.expand(&key.scopes);
    if let Some(scope) = catalogue
        .expand(&target.scopes)
        .into_iter()
        .find(|scope| !held.contains(scope))
    {
        return Err(MintRefusal::ScopeNotHeld {
            scope: scope.to_owned(),
        }
        .into());
    }
    // No more power than the calling key: a limited key cannot lift or raise another's limit.
    if let (Some(limit), Some(asked)) = (key.rate_limit_per_minute, edit.rate_limit_per_minute)
        && asked.is_none_or(|asked| asked > limit)
    {
        return Err(MintRefusal::RateLimitTooGenerous { limit }.into());
    }
    if edit.shapes_rate() {
        let after =
            edit.rate_shaping_after((target.rate_limit_per_minute, target.rate_limit_burst));
        minting::check_burst(&key, after)?;
    }
    // Nor widen another key's allowlist or lift its credits past its own.
    if let Some(asked) = &edit.ip_allowlist {
        minting::check_allowlist(&key, asked.as_ref())?;
    }
    if edit.credits_remaining.is_some() || edit.credits_refill.is_some() {
        let current = target.credits.as_ref().and_then(CreditPlan::from_view);
        let after = minting::credits_after(current, edit.credits_remaining, edit.credits_refill);
        minting::check_credits(&key, credits_left, after)?;
    }
    crate::keys::store::update(&state.db, &member, &key_id, edit, now, &client).await?;
    let detail = crate::keys::list::detail(&state.db, &member, &key_id, now).await?;
    Ok(Json(detail.key))
}

/// Why a key is revoked, kept in the audit log.
#[derive(Deserialize, Default, utoipa::ToSchema)]
struct RevokeBody {
    /// At most 500 characters, no control characters.
    reason: Option<String>,
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct RevokeParams {
    /// `true`: also revoke every key the revoked key minted, transitively.
    #[serde(default)]
    #[param(value_type = Option<bool>)]
    cascade: Option<String>,
}

/// `POST /api/v1/keys/{id}/revoke[?cascade=true]` with an optional `{ "reason": "…" }`.
#[utoipa::path(
    post,
    path = "/api/v1/keys/{id}/revoke",
    tag = "keys",
    operation_id = "revokeKey",
    summary = "Revoke a key",
    description = "Takes effect at once, on every instance, and cannot be undone. Needs \
        `keys:write`; a developer's key revokes only its owner's keys, in its own environment. \
        The body is optional.",
    params(
        ("id" = String, Path, description = "The key's id, as the list gives it."),
        RevokeParams,
    ),
    request_body(content = Option<RevokeBody>, content_type = "application/json", example = json!({
        "reason": "Leaked in a CI log",
    })),
    security(("WorkspaceKey" = [])),
    responses(
        (status = 204, description = "Revoked."),
        (status = 400, description = "`INVALID_REQUEST`: the body or query string cannot be read.", body = ApiError),
        (status = 401, description = "`UNAUTHORIZED`: the key is missing, malformed, unknown, revoked or expired.", body = ApiError),
        (status = 403, description = "`INSUFFICIENT_SCOPE`, `ENVIRONMENT_NOT_ALLOWED` or `FORBIDDEN`.", body = ApiError),
        (status = 404, description = "`NOT_FOUND`: no such key in the workspace.", body = ApiError),
        (status = 409, description = "`CONFLICT`: the key is already revoked.", body = ApiError),
        (status = 413, description = "`PAYLOAD_TOO_LARGE`: the body is over 64 KiB.", body = ApiError),
        (status = 415, description = "`UNSUPPORTED_MEDIA_TYPE`: a body without `Content-Type: application/json`.", body = ApiError),
        (status = 422, description = "`INVALID`: `cascade` is not `true` or `false`, or the reason is invalid.", body = ApiError),
        (status = 429, response = inline(ApiRateLimited)),
        (status = 503, response = inline(ApiUnavailable)),
    ),
)]
async fn revoke_key(
    State(state): State<AppState>,
    ApiCaller {
        member,
        key,
        client,
        ..
    }: ApiCaller<KeysWrite>,
    key_id: Result<Path<String>, PathRejection>,
    params: Result<Query<RevokeParams>, QueryRejection>,
    headers: axum::http::HeaderMap,
    // No body, or `null` (the document says the body may be null), is no reason given.
    body: Result<Option<Json<Option<RevokeBody>>>, JsonRejection>,
) -> Result<StatusCode, ApiFailure> {
    let Path(key_id) = key_id.map_err(|rejection| unreadable_url("path", rejection.body_text()))?;
    let params = query(params)?;
    let body = body.map_err(|rejection| unreadable_body(rejection, "an optional reason"))?;
    // axum's `Option<Json>` is `None` for any body without a JSON content type, so a
    // reason sent without one would be dropped unseen: refuse it as the other routes do.
    if body.is_none() && announces_a_body(&headers) {
        return Err(Rejection::UnsupportedMediaType.into());
    }
    let cascade = match params.cascade.as_deref() {
        None | Some("false") => Cascade::KeyOnly,
        Some("true") => Cascade::MintedKeysToo,
        Some(_) => {
            return Err(AppError::invalid("cascade", "cascade is true or false.").into());
        }
    };
    let body = body.and_then(|Json(body)| body).unwrap_or_default();
    let reason = crate::keys::validate::reason(body.reason)?;
    let target = crate::keys::list::environment_of(&state.db, &member, &key_id).await?;
    if target != key.environment {
        return Err(ApiFailure::other_environment(key.environment));
    }
    crate::keys::store::revoke(
        &state.db,
        &member,
        &key_id,
        reason,
        cascade,
        state.clock.now(),
        &client,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The audit log's page cursors; the filters are `AuditFilterParams`, read from the same query.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditCursorParams {
    /// The page's `older`: entries before this sequence number.
    #[param(value_type = Option<i64>, minimum = 0)]
    before: Option<String>,
    /// The page's `newer`: entries after this sequence number.
    #[param(value_type = Option<i64>, minimum = 0)]
    after: Option<String>,
}

/// `GET /api/v1/audit`: the same pages and filters as Settings → Audit log, with the
/// same role rules (a developer's key sees entries about that developer's keys).
#[utoipa::path(
    get,
    path = "/api/v1/audit",
    tag = "audit",
    operation_id = "readAudit",
    summary = "Read the audit log",
    description = "Newest first, 50 a page, with keyset cursors (`older` → `before`, `newer` → \
        `after`). Needs `audit:read`. The same role rules as the dashboard (a developer's key sees \
        entries about its owner's keys), and only the calling key's environment's key entries.",
    params(AuditCursorParams, crate::audit::filter::AuditFilterParams),
    security(("WorkspaceKey" = [])),
    responses(
        (status = 200, description = "A page of entries.", body = AuditPage),
        (status = 400, description = "`INVALID_REQUEST`: a cursor is not a whole number from 0 to \
            2^63 − 2, or the query string cannot be read.", body = ApiError),
        (status = 401, description = "`UNAUTHORIZED`: the key is missing, malformed, unknown, revoked or expired.", body = ApiError),
        (status = 403, description = "`INSUFFICIENT_SCOPE` or `FORBIDDEN` (the owner's role may not read the log).", body = ApiError),
        (status = 422, description = "`INVALID`: a filter value is invalid (`field` names it).", body = ApiError),
        (status = 429, response = inline(ApiRateLimited)),
        (status = 503, response = inline(ApiUnavailable)),
    ),
)]
async fn read_audit(
    State(state): State<AppState>,
    ApiCaller { member, key, .. }: ApiCaller<AuditRead>,
    cursors: Result<Query<AuditCursorParams>, QueryRejection>,
    filter: Result<Query<crate::audit::filter::AuditFilterParams>, QueryRejection>,
) -> Result<Json<AuditPage>, ApiFailure> {
    let params = query(cursors)?;
    let scope = AuditScope::of(&member)?.in_environment(key.environment);
    let filter = query(filter)?.parse()?;
    let cursor = Cursor::from_params(params.before.as_deref(), params.after.as_deref())
        .map_err(unreadable_query)?;
    let page = crate::audit::query::page(&state.db, &scope, &filter, cursor, AUDIT_PAGE_SIZE)
        .await
        .map_err(AppError::from)?;
    Ok(Json(page))
}

/// The head of a workspace's audit chain, to be kept outside Keyward.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct AuditHead {
    pub workspace_id: String,
    /// `null` before the workspace's first entry.
    pub head: Option<crate::audit::chain::ChainHead>,
}

/// `GET /api/v1/audit/head`: the newest entry's sequence number and hash, for
/// `keyward audit verify --checkpoint SEQ:HASH` later (docs/audit.md).
#[utoipa::path(
    get,
    path = "/api/v1/audit/head",
    tag = "audit",
    operation_id = "readAuditHead",
    summary = "Read the audit chain's head (a checkpoint)",
    description = "The workspace chain's newest entry: its sequence number, hash and time. Keep it \
        outside Keyward; `keyward audit verify --checkpoint SEQ:HASH` then fails once the log no \
        longer holds that entry with that hash (truncated or rewritten). Needs `audit:read` and an \
        admin owner: the head covers the whole workspace's log.",
    security(("WorkspaceKey" = [])),
    responses(
        (status = 200, description = "The head, or `null` before the first entry.", body = AuditHead),
        (status = 401, description = "`UNAUTHORIZED`: the key is missing, malformed, unknown, revoked or expired.", body = ApiError),
        (status = 403, description = "`INSUFFICIENT_SCOPE` or `FORBIDDEN` (the owner is not an admin).", body = ApiError),
        (status = 429, response = inline(ApiRateLimited)),
        (status = 503, response = inline(ApiUnavailable)),
    ),
)]
async fn read_audit_head(
    State(state): State<AppState>,
    ApiCaller { member, .. }: ApiCaller<AuditRead>,
) -> Result<Json<AuditHead>, ApiFailure> {
    member
        .require(crate::workspaces::Role::Admin)
        .map_err(ApiFailure::Action)?;
    let head = crate::audit::chain::head(&state.db, &member.workspace_id)
        .await
        .map_err(AppError::from)?;
    Ok(Json(AuditHead {
        workspace_id: member.workspace_id,
        head,
    }))
}
