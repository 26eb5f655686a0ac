//! `/api/v1` usage: verification counts of one key or of the workspace, as
//! series with explicit bucket starts (scope `usage:read`). The calling key
//! acts as its owner: admins read every key, developers their own; keys of its
//! own environment only. Unknown and malformed keys belong to no environment,
//! so they are on the dashboard's Usage page, not here.

use super::api_v1::{ApiCaller, ApiFailure, UsageRead, query};
use crate::error::AppError;
use crate::http::openapi::{ApiError, ApiRateLimited, ApiUnavailable};
use crate::state::AppState;
use crate::usage::query::{KeySet, Scope, may_see_key_usage};
use crate::usage::{Granularity, Outcome, OutcomeCounts, UsageSeries};
use crate::verify::Rejection;
use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct UsageParams {
    /// The first bucket's time (RFC 3339), rounded down to its bucket. Default: 24 hours before `to`.
    #[param(value_type = Option<String>, format = DateTime)]
    from: Option<String>,
    /// The end, exclusive (RFC 3339). Default: now.
    #[param(value_type = Option<String>, format = DateTime)]
    to: Option<String>,
    /// `minute` (kept 48 hours by default), `hour` (the default) or `day` (both kept 90 days).
    #[param(value_type = Option<Granularity>)]
    granularity: Option<String>,
}

/// Verifications of keys by outcome; every outcome is present, zeros included.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct OutcomeTotals {
    valid: u64,
    rate_limited: u64,
    insufficient_scope: u64,
    wrong_environment: u64,
    expired: u64,
    revoked: u64,
    ip_not_allowed: u64,
    usage_exceeded: u64,
    total: u64,
}

impl From<&OutcomeCounts> for OutcomeTotals {
    fn from(counts: &OutcomeCounts) -> Self {
        Self {
            valid: counts.get(Outcome::Valid),
            rate_limited: counts.get(Outcome::RateLimited),
            insufficient_scope: counts.get(Outcome::InsufficientScope),
            wrong_environment: counts.get(Outcome::WrongEnvironment),
            expired: counts.get(Outcome::Expired),
            revoked: counts.get(Outcome::Revoked),
            ip_not_allowed: counts.get(Outcome::IpNotAllowed),
            usage_exceeded: counts.get(Outcome::UsageExceeded),
            total: counts.total(),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct UsageBucketJson {
    /// The bucket's start (UTC); it is one `granularity` long.
    start: DateTime<Utc>,
    #[serde(flatten)]
    counts: OutcomeTotals,
}

/// A usage series: every bucket of the range, oldest first, zeros included.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct UsageSeriesJson {
    /// The key, for `/api/v1/keys/{id}/usage`.
    #[serde(skip_serializing_if = "Option::is_none")]
    key_id: Option<String>,
    granularity: Granularity,
    /// The first bucket's start.
    from: DateTime<Utc>,
    /// The end of the last bucket (exclusive).
    to: DateTime<Utc>,
    totals: OutcomeTotals,
    buckets: Vec<UsageBucketJson>,
}

impl UsageSeriesJson {
    fn of(series: UsageSeries, key_id: Option<String>, to: DateTime<Utc>) -> Self {
        let from = series.buckets.first().map_or(to, |bucket| bucket.start);
        let width = series.granularity.width();
        let to = series
            .buckets
            .last()
            .map_or(to, |bucket| bucket.start + width);
        Self {
            key_id,
            granularity: series.granularity,
            from,
            to,
            totals: OutcomeTotals::from(&series.totals()),
            buckets: series
                .buckets
                .iter()
                .map(|bucket| UsageBucketJson {
                    start: bucket.start,
                    counts: OutcomeTotals::from(&bucket.counts),
                })
                .collect(),
        }
    }
}

/// The most buckets one answer holds.
const MAX_BUCKETS: i64 = 5_000;

/// A range that was asked for, checked against what the deployment keeps.
struct AskedRange {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    granularity: Granularity,
}

impl AskedRange {
    fn parse(
        params: UsageParams,
        now: DateTime<Utc>,
        policy: &crate::usage::retention::UsagePolicy,
    ) -> Result<Self, Rejection> {
        let bad = |name: &str, why: String| Rejection::BadRequest(format!("`{name}`: {why}"));
        let time = |name: &str, text: Option<String>| -> Result<Option<DateTime<Utc>>, Rejection> {
            text.filter(|text| !text.trim().is_empty())
                .map(|text| {
                    DateTime::parse_from_rfc3339(text.trim())
                        .map(|at| at.with_timezone(&Utc))
                        .map_err(|_| {
                            bad(
                                name,
                                "expected an RFC 3339 time such as 2026-12-01T09:00:00Z".into(),
                            )
                        })
                })
                .transpose()
        };
        let granularity = match params.granularity.as_deref().map(str::trim) {
            None | Some("") => Granularity::Hour,
            Some(text) => Granularity::parse(text)
                .ok_or_else(|| bad("granularity", "expected minute, hour or day".into()))?,
        };
        let to = time("to", params.to)?.unwrap_or(now);
        let from = time("from", params.from)?.unwrap_or(to - Duration::hours(24));
        if from >= to {
            return Err(bad("from", "must be before `to`".into()));
        }
        let (kept, what) = match granularity {
            Granularity::Minute => (policy.minute_retention, "minute"),
            Granularity::Hour | Granularity::Day => (policy.hour_retention, "hourly and daily"),
        };
        if from < now - kept {
            return Err(bad(
                "from",
                format!(
                    "{what} usage is kept for {} hours: start at most that long ago",
                    kept.num_hours()
                ),
            ));
        }
        if (to - from).num_seconds() / granularity.width().num_seconds() > MAX_BUCKETS {
            return Err(bad(
                "to",
                format!(
                    "the range holds more than {MAX_BUCKETS} buckets; choose a coarser granularity"
                ),
            ));
        }
        Ok(Self {
            from,
            to,
            granularity,
        })
    }
}

/// `GET /api/v1/usage`: the workspace's verifications.
#[utoipa::path(
    get,
    path = "/api/v1/usage",
    tag = "usage",
    operation_id = "workspaceUsage",
    summary = "Workspace usage",
    description = "Verifications of the workspace's keys in the calling key's environment, by \
        outcome, per bucket; a developer's key counts its owner's keys only. Keys that matched none \
        (`not_found`, `malformed`) belong to no environment: the dashboard's Usage page shows them \
        to admins. Needs `usage:read`.",
    params(UsageParams),
    security(("WorkspaceKey" = [])),
    responses(
        (status = 200, description = "The series.", body = UsageSeriesJson),
        (status = 400, description = "`INVALID_REQUEST`: a parameter is unreadable, the range is \
            empty, reaches past what is kept, or holds too many buckets (the message names the parameter).", body = ApiError),
        (status = 401, description = "`UNAUTHORIZED`: the key is missing, malformed, unknown, revoked or expired.", body = ApiError),
        (status = 403, description = "`INSUFFICIENT_SCOPE` or `FORBIDDEN` (the owner's role is viewer).", body = ApiError),
        (status = 429, response = inline(ApiRateLimited)),
        (status = 503, response = inline(ApiUnavailable)),
    ),
)]
pub(crate) async fn workspace_usage(
    State(state): State<AppState>,
    ApiCaller { member, key, .. }: ApiCaller<UsageRead>,
    params: Result<Query<UsageParams>, QueryRejection>,
) -> Result<Json<UsageSeriesJson>, ApiFailure> {
    member.require(crate::workspaces::Role::Developer)?;
    let now = state.clock.now();
    let range = AskedRange::parse(query(params)?, now, &state.config.usage)?;
    let scope = Scope::for_member(&member, Some(key.environment));
    series_answer(&state, &scope, &range, None).await
}

/// The one read both routes end with: the scope's series over the asked range.
async fn series_answer(
    state: &AppState,
    scope: &Scope<'_>,
    range: &AskedRange,
    key_id: Option<String>,
) -> Result<Json<UsageSeriesJson>, ApiFailure> {
    let series =
        crate::usage::query::series(&state.db, scope, range.from, range.to, range.granularity)
            .await?;
    Ok(Json(UsageSeriesJson::of(series, key_id, range.to)))
}

/// `GET /api/v1/keys/{id}/usage`: one key's verifications.
#[utoipa::path(
    get,
    path = "/api/v1/keys/{id}/usage",
    tag = "usage",
    operation_id = "keyUsage",
    summary = "Key usage",
    description = "One key's verifications by outcome, per bucket. Admins' keys read any key of \
        their environment; developers' keys their owner's keys. Needs `usage:read`.",
    params(
        ("id" = String, Path, description = "The key's id."),
        UsageParams,
    ),
    security(("WorkspaceKey" = [])),
    responses(
        (status = 200, description = "The series.", body = UsageSeriesJson),
        (status = 400, description = "`INVALID_REQUEST`: a parameter is unreadable, the range is \
            empty, reaches past what is kept, or holds too many buckets (the message names the parameter).", body = ApiError),
        (status = 401, description = "`UNAUTHORIZED`: the key is missing, malformed, unknown, revoked or expired.", body = ApiError),
        (status = 403, description = "`INSUFFICIENT_SCOPE`, `ENVIRONMENT_NOT_ALLOWED` or `FORBIDDEN` \
            (someone else's key, for a developer's key).", body = ApiError),
        (status = 404, description = "`NOT_FOUND`: no such key in the workspace.", body = ApiError),
        (status = 429, response = inline(ApiRateLimited)),
        (status = 503, response = inline(ApiUnavailable)),
    ),
)]
pub(crate) async fn key_usage(
    State(state): State<AppState>,
    ApiCaller { member, key, .. }: ApiCaller<UsageRead>,
    id: Result<Path<String>, PathRejection>,
    params: Result<Query<UsageParams>, QueryRejection>,
) -> Result<Json<UsageSeriesJson>, ApiFailure> {
    let Path(key_id) = id.map_err(|rejection| {
        Rejection::BadRequest(format!(
            "The path cannot be read: {}",
            rejection.body_text()
        ))
    })?;
    let now = state.clock.now();
    let range = AskedRange::parse(query(params)?, now, &state.config.usage)?;
    let owner = crate::usage::query::key_owner(&state.db, &member.workspace_id, &key_id).await?;
    if !may_see_key_usage(&member, &owner) {
        return Err(AppError::Forbidden.into());
    }
    let environment = crate::keys::list::environment_of(&state.db, &member, &key_id).await?;
    if environment != key.environment {
        return Err(ApiFailure::other_environment(key.environment));
    }
    let ids = [key_id.as_str()];
    let scope = Scope {
        workspace_id: &member.workspace_id,
        keys: KeySet::Ids(&ids),
        environment: None,
        unmatched: false,
    };
    series_answer(&state, &scope, &range, Some(key_id.clone())).await
}
