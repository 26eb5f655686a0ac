//! The interactive parts of the API keys pages, as islands: "Create key",
//! a key's "Rotate" and "Revoke", and "Revoke all keys". Everything around them
//! is rendered on the server; after a change the page loads again to show it.

use super::browser::go_to;
use super::key_dialogs::{
    CreateKeyDialog, KeyRef, NewSecretDialog, OffboardDialog, RevokeKeyDialog, RotateKeyDialog,
};
use super::submission::Submission;
use crate::error::AppError;
use crate::keys::CreatedKey;
use leptos::prelude::*;

/// What creating or rotating a key answered, once it has.
type NewSecret = Option<Result<CreatedKey, AppError>>;

/// Moves a new secret out of its action into `shown`, so that the action's
/// value does not keep a copy, and closes the dialog that asked for it.
fn take_new_secret(
    value: RwSignal<NewSecret>,
    shown: RwSignal<Option<CreatedKey>>,
    open: RwSignal<bool>,
) {
    Effect::new(move || {
        if let Some(Ok(created)) = value.get() {
            value.set(None);
            shown.set(Some(created));
            open.set(false);
        }
    });
}

/// "Create key": the form in a dialog, then the new secret, shown once.
#[island]
pub fn CreateKeyButton(product_scopes: String) -> impl IntoView {
    let action = Submission::<CreatedKey>::new();
    let open = RwSignal::new(false);
    let shown = RwSignal::new(None::<CreatedKey>);
    take_new_secret(action.answer(), shown, open);
    let close = Callback::new(move |()| open.set(false));
    view! {
        <button type="button" class="button primary" on:click=move |_| open.set(true)>
            "Create key"
        </button>
        <Show when=move || open.get()>
            <CreateKeyDialog action product_scopes=product_scopes.clone() on_close=close />
        </Show>
        {move || shown.get().map(|created| view! { <NewSecretDialog created /> })}
    }
}

/// A key's "Rotate" and "Revoke" buttons, each with its dialog. `compact` is
/// the size used in table rows.
#[island]
pub fn KeyButtons(key: KeyRef, rotatable: bool, revocable: bool, compact: bool) -> impl IntoView {
    let rotate = Submission::<CreatedKey>::new();
    let revoke = Submission::<usize>::new().reload_when_done();
    let rotating = RwSignal::new(false);
    let revoking = RwSignal::new(false);
    let shown = RwSignal::new(None::<CreatedKey>);
    take_new_secret(rotate.answer(), shown, rotating);
    let size = if compact { " small" } else { "" };
    let (rotate_key, revoke_key) = (key.clone(), key);
    view! {
        {rotatable.then(|| view! {
            <button type="button" class=format!("button{size}") on:click=move |_| rotating.set(true)>"Rotate"</button>
        })}
        {revocable.then(|| view! {
            <button type="button" class=format!("button danger-outline{size}") on:click=move |_| revoking.set(true)>"Revoke"</button>
        })}
        <Show when=move || rotating.get()>
            <RotateKeyDialog key=rotate_key.clone() action=rotate on_close=Callback::new(move |()| rotating.set(false)) />
        </Show>
        <Show when=move || revoking.get()>
            <RevokeKeyDialog key=revoke_key.clone() action=revoke on_close=Callback::new(move |()| revoking.set(false)) />
        </Show>
        {move || shown.get().map(|created| view! { <NewSecretDialog created /> })}
    }
}

/// "Revoke all keys…": asks for the workspace's name, then reports how many
/// keys stopped through the URL, which the page shows after it reloads.
#[island]
pub fn OffboardButton(workspace: String) -> impl IntoView {
    let action = Submission::<usize>::new();
    let open = RwSignal::new(false);
    Effect::new(move || {
        if let Some(Ok(count)) = action.answer().get() {
            go_to(&format!("/settings/api-keys?offboarded={count}"));
        }
    });
    view! {
        <button type="button" class="button danger-outline" on:click=move |_| open.set(true)>
            "Revoke all keys…"
        </button>
        <Show when=move || open.get()>
            <OffboardDialog workspace=workspace.clone() action on_close=Callback::new(move |()| open.set(false)) />
        </Show>
    }
}
