//! Settings → New workspace: any signed-in user can start a workspace of their own.

use super::form::{FormError, SubmitButton, TextField, action_error, error_in_url};
use crate::error::AppError;
use crate::workspaces::api::CreateWorkspace;
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn NewWorkspacePage() -> impl IntoView {
    view! {
        <Title text="New workspace" />
        <div class="page-header">
            <div>
                <h1>"New workspace"</h1>
                <p class="muted">"A separate set of keys, members and audit log. You'll be its admin."</p>
            </div>
        </div>
        <section class="card narrow">
            <NewWorkspaceForm left_by_post=error_in_url() />
        </section>
    }
}

/// A plain form post: server-rendered, no island (see `sign_in`).
#[component]
fn NewWorkspaceForm(left_by_post: Option<AppError>) -> impl IntoView {
    let action = ServerAction::<CreateWorkspace>::new();
    let error = action_error(action.value(), left_by_post);
    view! {
        <ActionForm action attr:class="stack" attr:novalidate=true>
            <FormError error />
            <TextField name="name" label="Workspace name" hint="Usually a company, team or project." autofocus=true required=true error />
            <SubmitButton pending=action.pending().into() label="Create workspace" pending_label="Creating…" />
        </ActionForm>
    }
}
