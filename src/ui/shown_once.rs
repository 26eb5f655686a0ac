//! The panel that shows a new secret (an API key, a service token, an invite
//! link) exactly once, with a copy button and "Done", which forgets it.

use super::browser::reload_page;
use super::copy::CopyButton;
use super::dialog::Modal;
use leptos::prelude::*;

/// Test ids of a panel and of the secret in it.
#[derive(Clone, Copy)]
pub struct ShownOnceIds {
    pub panel: &'static str,
    pub secret: &'static str,
}

#[component]
pub fn ShownOnce(
    title: String,
    /// Why it must be copied now.
    hint: String,
    secret: String,
    copy_label: &'static str,
    ids: ShownOnceIds,
    on_done: Callback<()>,
    /// Anything else worth showing beside the secret (usage examples).
    #[prop(optional)]
    children: Option<Children>,
) -> impl IntoView {
    let heading = format!("{}-heading", ids.panel);
    let labelled_by = heading.clone();
    let copied = secret.clone();
    view! {
        <section class="secret-panel" role="status" aria-labelledby=labelled_by data-testid=ids.panel>
            <h2 id=heading class="strong">{title}</h2>
            <p class="muted small">{hint}</p>
            <div class="secret-row">
                <code class="secret" data-testid=ids.secret>{secret}</code>
                <CopyButton text=copied label=copy_label />
            </div>
            {children.map(|children| children())}
            <button type="button" class="button small" on:click=move |_| on_done.run(())>
                "Done"
            </button>
        </section>
    }
}

/// [`ShownOnce`] in a dialog of its own (a new key, a reset link): a stray
/// click outside does not close it, and closing it reloads the page, which
/// then shows what changed and nothing of the secret.
#[component]
pub fn ShownOnceDialog(
    heading: String,
    title: String,
    hint: String,
    secret: String,
    copy_label: &'static str,
    ids: ShownOnceIds,
) -> impl IntoView {
    let done = Callback::new(|()| reload_page());
    view! {
        <Modal on_close=done title=heading sticky=true>
            <ShownOnce title hint secret copy_label ids on_done=done />
        </Modal>
    }
}
