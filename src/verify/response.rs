//! What a good key's answer says (docs/design.md §4): the 200 body, encoded
//! from borrowed fields (no `serde_json::Value` tree per request), and the
//! `X-Keyward-*` identity headers forward auth hands to the upstream.

use super::Verified;
use super::credits::CreditState;
use super::rate_limit::RateLimitState;
use crate::keys::Environment;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// The 200 body of both verification endpoints.
#[derive(Serialize, utoipa::ToSchema)]
pub struct VerifiedBody<'a> {
    /// Always `true`: a refused key gets an error status and envelope instead.
    valid: bool,
    key_id: &'a str,
    workspace_id: &'a str,
    environment: Environment,
    scopes: &'a [String],
    owner_id: &'a str,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ratelimit: Option<&'a RateLimitState>,
    /// The key's usage credits after this verification, when it has them.
    #[serde(skip_serializing_if = "Option::is_none")]
    credits: Option<&'a CreditState>,
}

impl<'a> VerifiedBody<'a> {
    pub fn of(verified: &'a Verified) -> Self {
        let key = &verified.key;
        Self {
            valid: true,
            key_id: &key.id,
            workspace_id: &key.workspace_id,
            environment: key.environment,
            scopes: &key.scopes,
            owner_id: &key.owner_id,
            name: &key.name,
            expires_at: key.ends_at(),
            ratelimit: verified.ratelimit.as_ref(),
            credits: verified.credits.as_ref(),
        }
    }
}

static KEY_ID: HeaderName = HeaderName::from_static("x-keyward-key-id");
static WORKSPACE_ID: HeaderName = HeaderName::from_static("x-keyward-workspace-id");
static ENVIRONMENT: HeaderName = HeaderName::from_static("x-keyward-environment");
static SCOPES: HeaderName = HeaderName::from_static("x-keyward-scopes");
static OWNER_ID: HeaderName = HeaderName::from_static("x-keyward-owner-id");

/// `X-Keyward-*` headers a gateway can pass on to the upstream.
pub fn identity_headers(verified: &Verified, headers: &mut HeaderMap) {
    let key = &verified.key;
    let mut put = |name: &HeaderName, value: &str| {
        // Ids, environments and scope names are ASCII; a value that is not is left out.
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name.clone(), value);
        }
    };
    put(&KEY_ID, &key.id);
    put(&WORKSPACE_ID, &key.workspace_id);
    put(&SCOPES, &key.scopes.join(","));
    put(&OWNER_ID, &key.owner_id);
    headers.insert(
        ENVIRONMENT.clone(),
        HeaderValue::from_static(key.environment.as_str()),
    );
}
