//! Server functions for Settings → API keys. Each one checks the session and
//! the role itself (viewers read; developers create and manage their own keys;
//! admins manage every key); the store checks key ownership again.

use super::{CreatedKey, KeyDetail, KeyListPage};
use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use server_fn::codec::Json;

/// The "Create key" form as the browser sends it. Validated on the server.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NewKeyForm {
    /// Unique among the workspace's keys that still work.
    #[cfg_attr(
        feature = "ssr",
        schema(min_length = 1, max_length = 80, examples("billing-sync"))
    )]
    pub name: String,
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(max_length = 500))]
    pub note: Option<String>,
    /// `live` or `test`.
    #[cfg_attr(feature = "ssr", schema(value_type = crate::keys::Environment))]
    pub environment: String,
    /// A preset (`read-only`, `read-write`) or catalogue scopes, and management scopes
    /// (`keys:read`, `keys:write`, `audit:read`) beside either.
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(examples(json!(["read-only"]))))]
    pub scopes: Vec<String>,
    /// `never`, `30d`, `60d`, `90d` or `date`.
    #[cfg_attr(feature = "ssr", schema(pattern = "^(never|30d|60d|90d|date)$"))]
    pub expiry: String,
    /// `YYYY-MM-DD` when `expiry` is `date`.
    #[serde(default)]
    pub expiry_date: Option<String>,
    /// Requests per minute (1 to 1 000 000), as text; empty or absent for no limit.
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(pattern = "^[0-9]{0,7}$"))]
    pub rate_limit_per_minute: Option<String>,
    /// The most requests at once, up to the per-minute limit (which it needs); empty: the whole limit.
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(pattern = "^[0-9]{0,7}$"))]
    pub rate_limit_burst: Option<String>,
    /// IPv4/IPv6 addresses and CIDR ranges the key works from (at most 100); empty: anywhere.
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(max_items = 100, examples(json!(["203.0.113.0/24", "2001:db8::/32"]))))]
    pub ip_allowlist: Vec<String>,
    /// Usage credits: uses the key has (0 to 1 000 000 000); empty or absent: unlimited.
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(pattern = "^[0-9]{0,10}$"))]
    pub credits: Option<String>,
    /// What each refill restores the credits to (needs `credits_refill_period`).
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(pattern = "^[0-9]{0,10}$"))]
    pub credits_refill_amount: Option<String>,
    /// `day` (every midnight UTC) or `month`; empty: no refill.
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(pattern = "^(day|month)?$"))]
    pub credits_refill_period: Option<String>,
    /// 1–31: the day of a monthly refill (default 1; the last day in shorter months).
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(pattern = "^[0-9]{0,2}$"))]
    pub credits_refill_day: Option<String>,
}

/// A key's edit: name, note, rate limit and an earlier expiry. Scopes and
/// environment are not editable (rotate into a new key instead). An absent
/// field stays as it is; an empty `note` or `rate_limit_per_minute` removes it.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyEditForm {
    #[serde(default)]
    #[cfg_attr(
        feature = "ssr",
        schema(min_length = 1, max_length = 80, examples("billing-sync"))
    )]
    pub name: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(max_length = 500))]
    pub note: Option<String>,
    /// Requests per minute (1 to 1 000 000), as text; empty for no limit.
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(pattern = "^[0-9]{0,7}$"))]
    pub rate_limit_per_minute: Option<String>,
    /// The most requests at once, up to the per-minute limit; empty removes it.
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(pattern = "^[0-9]{0,7}$"))]
    pub rate_limit_burst: Option<String>,
    /// Replaces the IP allowlist; an empty list removes it (the key works from anywhere).
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(max_items = 100))]
    pub ip_allowlist: Option<Vec<String>>,
    /// Sets the credits left; empty removes credits (and their refill): unlimited.
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(pattern = "^[0-9]{0,10}$"))]
    pub credits: Option<String>,
    /// With `credits_refill_period` (and `credits_refill_day`): a new refill;
    /// an empty period removes it. Any of the three replaces all three.
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(pattern = "^[0-9]{0,10}$"))]
    pub credits_refill_amount: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(pattern = "^(day|month)?$"))]
    pub credits_refill_period: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(pattern = "^[0-9]{0,2}$"))]
    pub credits_refill_day: Option<String>,
    /// `YYYY-MM-DD`: the key works through that day (UTC). Only earlier than
    /// the current expiry, and within the workspace's maximum lifetime.
    #[serde(default)]
    pub expiry_date: Option<String>,
    /// An exact new expiry (RFC 3339), instead of `expiry_date`; the same rules.
    #[serde(default)]
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[server(prefix = "/rpc", endpoint = "load_keys")]
pub async fn load_keys(
    environment: Option<String>,
    status: Option<String>,
    search: Option<String>,
    before: Option<String>,
    expiring: Option<String>,
) -> Result<KeyListPage, AppError> {
    use super::KeyFilter;
    use crate::workspaces::Role;
    let (state, member) = crate::http::rpc::member_with_role(Role::Viewer).await?;
    let filter = KeyFilter::parse(
        environment.as_deref(),
        status.as_deref(),
        search,
        expiring.as_deref(),
    )?;
    let mut page = super::list::list(
        &state.db,
        &member,
        &filter,
        before.as_deref(),
        state.clock.now(),
    )
    .await?;
    page.product_scopes = state.config.scopes.product_scopes().to_vec();
    crate::usage::query::fill_recent_use(&state.db, &member, &mut page.keys, page.now).await?;
    Ok(page)
}

#[server(prefix = "/rpc", endpoint = "load_key")]
pub async fn load_key(key_id: String) -> Result<KeyDetail, AppError> {
    use crate::workspaces::Role;
    let (state, member) = crate::http::rpc::member_with_role(Role::Viewer).await?;
    super::list::detail(&state.db, &member, &key_id, state.clock.now()).await
}

/// Creates a key and returns its secret: the only response that ever carries it.
#[server(prefix = "/rpc", endpoint = "create_key", input = Json)]
pub async fn create_key(form: NewKeyForm) -> Result<CreatedKey, AppError> {
    use crate::workspaces::Role;
    let (state, member) = crate::http::rpc::member_with_role(Role::Developer).await?;
    let now = state.clock.now();
    let new = super::validate::new_key(form, &state.config.scopes, now)?;
    let client = crate::http::rpc::client();
    let created = super::store::create(
        &state.db,
        &member,
        new,
        state.config.key_prefix.as_str(),
        now,
        &client,
    )
    .await?;
    crate::http::rpc::forbid_caching();
    Ok(created)
}

/// The key page's edit form as it posts: every field a string, as the
/// browser sends it (see [`update_key`] for what an empty one means).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct KeyPageEdit {
    pub name: String,
    pub note: String,
    pub rate_limit_per_minute: String,
    pub rate_limit_burst: Option<String>,
    /// One entry a line.
    pub ip_allowlist: Option<String>,
    pub credits: Option<String>,
    /// A checkbox: present when checked.
    pub credits_unlimited: Option<String>,
    pub credits_refill_amount: Option<String>,
    pub credits_refill_period: Option<String>,
    pub credits_refill_day: Option<String>,
    pub expiry_date: Option<String>,
}

/// Changes a key's name, note, rate limit and burst, IP allowlist, credits or
/// (only earlier) expiry, without rotating it; the verifier sees the change at
/// once. The key page's form sends every field: an empty note, limit, burst
/// or allowlist (one entry a line) removes it; an empty balance or expiry date
/// keeps it; `credits_unlimited` (a checkbox) removes the credits and their
/// refill. A field left out of the post stays as it is, except name, note and
/// limit, which every post of the form carries. A plain form post lands back
/// on the key page.
#[server(prefix = "/rpc", endpoint = "update_key")]
pub async fn update_key(
    key_id: String,
    #[server(flatten)] fields: KeyPageEdit,
) -> Result<(), AppError> {
    use crate::workspaces::Role;
    let (state, member) = crate::http::rpc::member_with_role(Role::Developer).await?;
    let now = state.clock.now();
    let KeyPageEdit {
        name,
        note,
        rate_limit_per_minute,
        rate_limit_burst,
        ip_allowlist,
        credits,
        credits_unlimited,
        credits_refill_amount,
        credits_refill_period,
        credits_refill_day,
        expiry_date,
    } = fields;
    let unlimited = credits_unlimited.is_some();
    // Unlimited use takes the refill with the credits.
    let refill = |field: Option<String>| field.filter(|_| !unlimited);
    let form = KeyEditForm {
        name: Some(name),
        note: Some(note),
        rate_limit_per_minute: Some(rate_limit_per_minute),
        rate_limit_burst,
        ip_allowlist: ip_allowlist.map(|text| vec![text]),
        credits: if unlimited {
            Some(String::new())
        } else {
            credits.filter(|credits| !credits.trim().is_empty())
        },
        credits_refill_amount: refill(credits_refill_amount),
        credits_refill_period: refill(credits_refill_period),
        credits_refill_day: refill(credits_refill_day),
        expiry_date,
        expires_at: None,
    };
    let edit = super::validate::key_edit(form, now)?;
    let client = crate::http::rpc::client();
    super::store::update(&state.db, &member, &key_id, edit, now, &client).await?;
    leptos_axum::redirect(&format!("/settings/api-keys/{key_id}?saved"));
    Ok(())
}

/// The workspace's key policy, for Settings → Workspace (anyone may read it).
#[server(prefix = "/rpc", endpoint = "load_key_policy")]
pub async fn load_key_policy() -> Result<super::policy::KeyPolicyView, AppError> {
    use crate::workspaces::Role;
    let (state, member) = crate::http::rpc::member_with_role(Role::Viewer).await?;
    let mut conn = state.db.pool().acquire().await?;
    Ok(super::policy::KeyPolicyView {
        policy: super::policy::load(&mut conn, &member.workspace_id).await?,
        can_change: member.role.includes(Role::Admin),
    })
}

/// Sets the workspace's key policy (admins only): `max_lifetime` is `none`,
/// `30`, `90`, `180` or `365` (days); `expiry_required` and `note_required`
/// are `true` when checked; `live_key_creators` is `developers` or `admins`.
#[server(prefix = "/rpc", endpoint = "set_key_policy")]
pub async fn set_key_policy(
    max_lifetime: String,
    expiry_required: Option<String>,
    live_key_creators: String,
    note_required: Option<String>,
) -> Result<(), AppError> {
    use super::policy::{KeyPolicy, LIFETIME_CHOICES, LiveKeyCreators};
    use crate::workspaces::Role;
    let (state, member) = crate::http::rpc::member_with_role(Role::Admin).await?;
    let max_lifetime_days = match max_lifetime.trim() {
        "" | "none" => None,
        text => Some(
            text.parse::<u32>()
                .ok()
                .filter(|days| LIFETIME_CHOICES.contains(days))
                .ok_or_else(|| {
                    AppError::invalid("max_lifetime", "Choose none, 30, 90, 180 or 365 days.")
                })?,
        ),
    };
    // A checkbox sends `true` (or `on`) when checked, nothing when not.
    let checked = |field: &'static str, value: Option<String>| match value.as_deref().map(str::trim)
    {
        None | Some("" | "false") => Ok(false),
        Some("true" | "on") => Ok(true),
        Some(_) => Err(AppError::invalid(
            field,
            format!("{field} is true or false."),
        )),
    };
    let policy = KeyPolicy {
        max_lifetime_days,
        expiry_required: checked("expiry_required", expiry_required)?,
        live_key_creators: LiveKeyCreators::parse(live_key_creators.trim()).ok_or_else(|| {
            AppError::invalid("live_key_creators", "Choose developers or admins.")
        })?,
        note_required: checked("note_required", note_required)?,
    };
    super::policy::set(
        &state.db,
        &member,
        policy,
        state.clock.now(),
        &crate::http::rpc::client(),
    )
    .await?;
    leptos_axum::redirect("/settings/workspace?key_policy_saved");
    Ok(())
}

/// Replaces a key; the old one keeps working for the chosen grace window.
#[server(prefix = "/rpc", endpoint = "rotate_key")]
pub async fn rotate_key(key_id: String, grace: String) -> Result<CreatedKey, AppError> {
    use super::GraceWindow;
    use crate::workspaces::Role;
    let (state, member) = crate::http::rpc::member_with_role(Role::Developer).await?;
    let grace = GraceWindow::parse(grace.trim()).ok_or_else(|| {
        AppError::invalid(
            "grace",
            "Choose when the old key stops: now, 1 h, 12 h, 24 h or 7 days.",
        )
    })?;
    let client = crate::http::rpc::client();
    let now = state.clock.now();
    let created = super::store::rotate(
        &state.db,
        &member,
        &key_id,
        grace,
        state.config.key_prefix.as_str(),
        now,
        &client,
    )
    .await?;
    crate::http::rpc::forbid_caching();
    Ok(created)
}

/// Revokes a key; with `cascade`, also every key it minted through `/api/v1`.
/// Returns how many minted keys the cascade revoked.
#[server(prefix = "/rpc", endpoint = "revoke_key")]
pub async fn revoke_key(
    key_id: String,
    reason: Option<String>,
    cascade: Option<String>,
) -> Result<usize, AppError> {
    use super::store::Cascade;
    use crate::workspaces::Role;
    let (state, member) = crate::http::rpc::member_with_role(Role::Developer).await?;
    let reason = super::validate::reason(reason)?;
    // Text, not a bool: the browser's plain checkbox sends `true`, and the wasm
    // bundle needs no bool encoding for it.
    let cascade = match cascade.as_deref().map(str::trim) {
        None | Some("" | "false") => Cascade::KeyOnly,
        Some("true") => Cascade::MintedKeysToo,
        Some(_) => return Err(AppError::invalid("cascade", "cascade is true or false.")),
    };
    let client = crate::http::rpc::client();
    super::store::revoke(
        &state.db,
        &member,
        &key_id,
        reason,
        cascade,
        state.clock.now(),
        &client,
    )
    .await
}

/// Revokes every key of the workspace after the admin typed its name. Returns how many.
#[server(prefix = "/rpc", endpoint = "offboard_workspace")]
pub async fn offboard_workspace(confirmation: String) -> Result<usize, AppError> {
    use crate::workspaces::Role;
    let (state, member) = crate::http::rpc::member_with_role(Role::Admin).await?;
    let client = crate::http::rpc::client();
    super::store::offboard(
        &state.db,
        &member,
        &confirmation,
        state.clock.now(),
        &client,
    )
    .await
}
