//! A confirmation dialog for destructive actions: names what will happen,
//! focuses "Cancel", closes on Escape.

use leptos::prelude::*;

#[component]
pub fn ConfirmDialog(
    /// Whether the dialog is showing.
    open: RwSignal<bool>,
    title: Signal<String>,
    #[prop(into)] message: Signal<String>,
    confirm_label: String,
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
                            {confirm_label.clone()}
                        </button>
                    </div>
                </div>
            </div>
        </Show>
    }
}

/// A modal with its own content (a form): closes on Escape and on a click
/// outside. On opening it focuses the element marked `autofocus`, or else the
/// first field or button, so that the keyboard starts inside the dialog (the
/// attribute alone does nothing for elements added after load).
#[component]
pub fn Modal(
    /// Closes the modal (clears whatever state opened it).
    on_close: Callback<()>,
    title: String,
    #[prop(optional)] wide: bool,
    /// Ignore clicks outside: the content must not be lost by a stray click.
    #[prop(optional)]
    sticky: bool,
    children: Children,
) -> impl IntoView {
    let dialog = NodeRef::<leptos::html::Div>::new();
    Effect::new(move || {
        if let Some(dialog) = dialog.get() {
            focus_first_field(&dialog);
        }
    });
    view! {
        <div
            class="dialog-backdrop"
            on:click=move |_| {
                if !sticky {
                    on_close.run(());
                }
            }
            on:keydown=move |event| {
                if event.key() == "Escape" {
                    on_close.run(());
                }
            }
        >
            <div
                node_ref=dialog
                class=if wide { "dialog wide" } else { "dialog" }
                role="dialog"
                aria-modal="true"
                aria-labelledby="modal-title"
                on:click=|event| event.stop_propagation()
            >
                <h2 id="modal-title">{title}</h2>
                {children()}
            </div>
        </div>
    }
}

/// The footer of a dialog's form: "Cancel", and the submit button.
#[component]
pub fn DialogFooter(
    on_cancel: Callback<()>,
    submit_label: &'static str,
    #[prop(default = "button primary")] submit_class: &'static str,
    /// True while the action runs, or while the form cannot be sent.
    #[prop(into)]
    disabled: Signal<bool>,
    /// Focus "Cancel" when the dialog opens, so Enter does not destroy anything.
    #[prop(optional)]
    focus_cancel: bool,
) -> impl IntoView {
    view! {
        <div class="dialog-actions">
            <button type="button" class="button" autofocus=focus_cancel on:click=move |_| on_cancel.run(())>
                "Cancel"
            </button>
            <button type="submit" class=submit_class disabled=move || disabled.get()>{submit_label}</button>
        </div>
    }
}

fn focus_first_field(dialog: &web_sys::HtmlDivElement) {
    use wasm_bindgen::JsCast;
    let target = dialog
        .query_selector("[autofocus]")
        .ok()
        .flatten()
        .or_else(|| {
            dialog
                .query_selector("input, select, textarea, button")
                .ok()
                .flatten()
        });
    if let Some(element) = target.and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok()) {
        let _ = element.focus();
    }
}
