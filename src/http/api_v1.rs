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
use crate::keys::api::NewKeyForm;
use crate::keys::minting::{self, MintRefusal};
use crate::keys::store::Cascade;
use crate::keys::{CreatedKey, Environment, KeyFilter, KeyListPage};
use crate::state::AppState;
use crate::verify::lookup::KeyRecord;
use crate::verify::request::presented_key;
use crate::verify::{Audience, Rejection, Requirements};
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::marker::PhantomData;
use std::sync::Arc;

const AUDIT_PAGE_SIZE: i64 = 50;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/keys", get(list_keys).post(create_key))
        .route("/api/v1/keys/{id}/revoke", post(revoke_key))
        .route("/api/v1/audit", get(read_audit))
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
    fn other_environment(own: Environment) -> Self {
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
/// `keys:write`: create and revoke keys.
pub struct KeysWrite;
/// `audit:read`: read the audit log.
pub struct AuditRead;

impl RouteScope for KeysRead {
    const NAME: &'static str = "keys:read";
}
impl RouteScope for KeysWrite {
    const NAME: &'static str = "keys:write";
}
impl RouteScope for AuditRead {
    const NAME: &'static str = "audit:read";
}

/// The caller of an `/api/v1` route: a presented key that holds the route's
/// scope `S`, the member it acts as (its owner, in their current role), and
/// where the request came from. As an extractor it runs before the handler
/// reads anything else, so a bad key is refused before the query or body is
/// looked at.
struct ApiCaller<S> {
    member: Member,
    key: Arc<KeyRecord>,
    client: ClientInfo,
    scope: PhantomData<S>,
}

impl<S: RouteScope> FromRequestParts<AppState> for ApiCaller<S> {
    type Rejection = ApiFailure;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiFailure> {
        let client = crate::http::client_info::client_info(parts, &state.config);
        let key = presented_key(&parts.headers)?;
        let required = Requirements {
            environment: None,
            scopes: vec![S::NAME.to_owned()],
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
            client,
            scope: PhantomData,
        })
    }
}

/// A query parameter that cannot be read (a cursor that overflows, say) is a bad request: 400.
fn unreadable_query(error: AppError) -> Rejection {
    Rejection::BadRequest(error.to_string())
}

#[derive(Deserialize)]
struct ListParams {
    environment: Option<String>,
    status: Option<String>,
    search: Option<String>,
    before: Option<String>,
}

/// `GET /api/v1/keys`: the list of the calling key's environment, newest
/// first, 50 a page; `older` is the next `before`.
async fn list_keys(
    State(state): State<AppState>,
    ApiCaller { member, key, .. }: ApiCaller<KeysRead>,
    Query(params): Query<ListParams>,
) -> Result<Json<KeyListPage>, ApiFailure> {
    if let Some(cursor) = params.before.as_deref().filter(|text| !text.is_empty()) {
        crate::keys::parse_cursor(cursor).map_err(unreadable_query)?;
    }
    let mut filter = KeyFilter::parse(
        params.environment.as_deref(),
        params.status.as_deref(),
        params.search,
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
async fn create_key(
    State(state): State<AppState>,
    ApiCaller {
        member,
        key,
        client,
        ..
    }: ApiCaller<KeysWrite>,
    form: Result<Json<NewKeyForm>, JsonRejection>,
) -> Result<Response, ApiFailure> {
    let Json(form) = form.map_err(|rejection| {
        // A chunked body that outgrew the limit is caught here, while being read.
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return Rejection::PayloadTooLarge {
                max: crate::http::limits::MAX_BODY_BYTES,
            };
        }
        Rejection::BadRequest(format!(
            "The body must be JSON with name, environment, scopes and expiry: {}",
            rejection.body_text()
        ))
    })?;
    let now = state.clock.now();
    let mut new = crate::keys::validate::new_key(form, &state.config.scopes, now)?;
    minting::check_within(&key, &new, &state.config.scopes, now)?;
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

#[derive(Deserialize, Default)]
struct RevokeBody {
    reason: Option<String>,
}

#[derive(Deserialize, Default)]
struct RevokeParams {
    /// `true`: also revoke every key the revoked key minted, transitively.
    #[serde(default)]
    cascade: Option<String>,
}

/// `POST /api/v1/keys/{id}/revoke[?cascade=true]` with an optional `{ "reason": "…" }`.
async fn revoke_key(
    State(state): State<AppState>,
    ApiCaller {
        member,
        key,
        client,
        ..
    }: ApiCaller<KeysWrite>,
    Path(key_id): Path<String>,
    Query(params): Query<RevokeParams>,
    body: Option<Json<RevokeBody>>,
) -> Result<StatusCode, ApiFailure> {
    let cascade = match params.cascade.as_deref() {
        None | Some("false") => Cascade::KeyOnly,
        Some("true") => Cascade::MintedKeysToo,
        Some(_) => {
            return Err(AppError::invalid("cascade", "cascade is true or false.").into());
        }
    };
    let reason = crate::keys::validate::reason(body.unwrap_or_default().0.reason)?;
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

#[derive(Deserialize)]
struct AuditParams {
    // Strings, not numbers: serde's flatten hands every query value over as text.
    before: Option<String>,
    after: Option<String>,
    #[serde(flatten)]
    filter: crate::audit::filter::AuditFilterParams,
}

/// `GET /api/v1/audit`: the same pages and filters as Settings → Audit log, with the
/// same role rules (a developer's key sees entries about that developer's keys).
async fn read_audit(
    State(state): State<AppState>,
    ApiCaller { member, key, .. }: ApiCaller<AuditRead>,
    Query(params): Query<AuditParams>,
) -> Result<Json<AuditPage>, ApiFailure> {
    let scope = AuditScope::of(&member)?.in_environment(key.environment);
    let filter = params.filter.parse()?;
    let cursor = Cursor::from_params(params.before.as_deref(), params.after.as_deref())
        .map_err(unreadable_query)?;
    let page = crate::audit::query::page(&state.db, &scope, &filter, cursor, AUDIT_PAGE_SIZE)
        .await
        .map_err(AppError::from)?;
    Ok(Json(page))
}
