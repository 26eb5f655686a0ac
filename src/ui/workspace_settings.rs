//! Settings → Workspace: the workspace's name (admins only; the server function
//! enforces it). A change is recorded as `settings.changed`.

use super::form::{FormError, SubmitButton, TextField, action_error, error_in_url};
use super::layout::CurrentUser;
use crate::error::AppError;
use crate::workspaces::api::RenameWorkspace;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn WorkspaceSettingsPage() -> impl IntoView {
    let me = use_context::<CurrentUser>().map(|CurrentUser(me)| me);
    view! {
        <Title text="Workspace settings" />
        <div class="page-header">
            <div>
                <h1>"Workspace"</h1>
                <p class="muted">"How this workspace is named in the dashboard and the audit log."</p>
            </div>
        </div>
        <section class="card narrow section">
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let current = match me {
                        Some(me) => me.await.map(|me| me.workspace.name).unwrap_or_default(),
                        None => String::new(),
                    };
                    view! { <RenameForm current left_by_post=error_in_url() /> }
                })}
            </Suspense>
        </section>
    }
}

/// A plain form post: server-rendered, no island (see `sign_in`).
#[component]
fn RenameForm(current: String, left_by_post: Option<AppError>) -> impl IntoView {
    let rename = ServerAction::<RenameWorkspace>::new();
    let error = action_error(rename.value(), left_by_post);
    let saved = use_query_map().with_untracked(|query| query.get("saved").is_some());
    view! {
        <ActionForm action=rename attr:class="stack" attr:novalidate=true>
            <FormError error />
            <TextField name="name" label="Workspace name" value=current required=true error />
            <SubmitButton pending=rename.pending().into() label="Save" pending_label="Saving…" />
            {saved.then(|| view! { <p class="muted small" role="status">"Saved. The change is in the audit log."</p> })}
        </ActionForm>
    }
}
