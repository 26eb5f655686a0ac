//! Server functions of Settings → Workspace's leak policy. Anyone in the
//! workspace may read it; only admins change it (checked in the store call).

use super::LeakPolicyView;
use crate::error::AppError;
use leptos::prelude::*;

#[server(prefix = "/rpc", endpoint = "load_leak_policy")]
pub async fn load_leak_policy() -> Result<LeakPolicyView, AppError> {
    use crate::workspaces::Role;
    let (state, member) = crate::http::rpc::member_with_role(Role::Viewer).await?;
    super::store::policy(&state.db, &member).await
}

/// Sets what a confirmed leak does to live and to test keys (`revoke` or
/// `flag`), and whether the workspace's own scanners may revoke (`revoke`:
/// they follow the policy) or only flag; absent, that stays as it is.
#[server(prefix = "/rpc", endpoint = "set_leak_policy")]
pub async fn set_leak_policy(
    live: String,
    test: String,
    scanners: Option<String>,
) -> Result<(), AppError> {
    use super::LeakAction;
    use crate::workspaces::Role;
    let (state, member) = crate::http::rpc::member_with_role(Role::Admin).await?;
    let parse = |field: &'static str, text: &str| {
        LeakAction::parse(text.trim())
            .ok_or_else(|| AppError::invalid(field, "Choose revoke or flag."))
    };
    let scanners = scanners
        .filter(|text| !text.trim().is_empty())
        .map(|text| parse("scanners", &text))
        .transpose()?;
    super::store::set_policy(
        &state.db,
        &member,
        parse("live", &live)?,
        parse("test", &test)?,
        scanners,
        state.clock.now(),
        &crate::http::rpc::client(),
    )
    .await?;
    leptos_axum::redirect("/settings/workspace?policy_saved");
    Ok(())
}
