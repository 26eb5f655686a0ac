//! Settings → Workspace: the workspace's name (admins only; the server function
//! enforces it). A change is recorded as `settings.changed`.

use super::form::{FormError, SubmitButton, TextField, action_error};
use super::layout::CurrentUser;
use crate::workspaces::api::RenameWorkspace;
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn WorkspaceSettingsPage() -> impl IntoView {
    let rename = ServerAction::<RenameWorkspace>::new();
    let error = action_error(rename.value());
    let saved = move || matches!(rename.value().get(), Some(Ok(())));
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
                    view! {
                        <ActionForm action=rename attr:class="stack" attr:novalidate=true>
                            <FormError error />
                            <TextField name="name" label="Workspace name" value=current required=true error />
                            <SubmitButton pending=rename.pending().into() label="Save" pending_label="Saving…" />
                            <Show when=saved>
                                <p class="muted small" role="status">"Saved. The change is in the audit log."</p>
                            </Show>
                        </ActionForm>
                    }
                })}
            </Suspense>
        </section>
    }
}
