//! A confirmation dialog for destructive actions: names what will happen,
//! focuses "Cancel", closes on Escape.

use leptos::prelude::*;

#[component]
pub fn ConfirmDialog(
    /// Whether the dialog is showing.
    open: RwSignal<bool>,
    title: Signal<String>,
    #[prop(into)] message: Signal<String>,
    confirm_label: &'static str,
    /// Runs when the user confirms; the dialog closes itself.
    on_confirm: Callback<()>,
) -> impl IntoView {
    let close = move || open.set(false);
    let cancel = NodeRef::<leptos::html::Button>::new();
    // Focus the safe choice when the dialog opens, so Enter does not destroy anything.
    Effect::new(move || {
        if open.get()
            && let Some(button) = cancel.get()
        {
            let _ = button.focus();
        }
    });
    view! {
        <Show when=move || open.get()>
            <div
                class="dialog-backdrop"
                on:click=move |_| close()
                on:keydown=move |event| {
                    if event.key() == "Escape" {
                        close();
                    }
                }
            >
                <div
                    class="dialog"
                    role="alertdialog"
                    aria-modal="true"
                    aria-labelledby="dialog-title"
                    aria-describedby="dialog-message"
                    on:click=|event| event.stop_propagation()
                >
                    <h2 id="dialog-title">{move || title.get()}</h2>
                    <p id="dialog-message">{move || message.get()}</p>
                    <div class="dialog-actions">
                        <button type="button" class="button" node_ref=cancel on:click=move |_| close()>
                            "Cancel"
                        </button>
                        <button
                            type="button"
                            class="button danger"
                            on:click=move |_| {
                                close();
                                on_confirm.run(());
                            }
                        >
                            {confirm_label}
                        </button>
                    </div>
                </div>
            </div>
        </Show>
    }
}
