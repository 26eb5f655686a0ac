//! Form pieces shared by every page: labelled fields with their error under
//! them, a form-level alert, and a submit button that shows progress.

use crate::error::AppError;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use server_fn::error::ServerFnUrlError;

/// The error of an action's last run; before any run, `left_by_post`: the
/// error a plain (no-JavaScript) form post left in the URL, which the server
/// page reads with [`error_in_url`] and hands to the island.
pub fn action_error<T, V>(value: V, left_by_post: Option<AppError>) -> Signal<Option<AppError>>
where
    T: Send + Sync + 'static,
    V: With<Value = Option<Result<T, AppError>>> + Send + Sync + 'static,
{
    Signal::derive(move || {
        value
            .with(|result| match result {
                Some(Err(error)) => Some(Some(error.clone())),
                Some(Ok(_)) => Some(None),
                None => None,
            })
            .unwrap_or_else(|| left_by_post.clone())
    })
}

/// The error a plain form post was redirected back with (`?__err=…`), in
/// Keyward's own words (anyone can write such a URL). Read by server
/// components only: islands have no router to ask.
pub fn error_in_url() -> Option<AppError> {
    use_query_map().with_untracked(|query| {
        query
            .get("__err")
            .map(|encoded| ServerFnUrlError::<AppError>::decode_err(&encoded).reworded_from_url())
    })
}

/// A labelled input with its hint and its error, wired for screen readers.
#[component]
pub fn TextField(
    name: &'static str,
    label: &'static str,
    error: Signal<Option<AppError>>,
    #[prop(default = "text")] kind: &'static str,
    #[prop(default = "off")] autocomplete: &'static str,
    #[prop(optional)] hint: Option<&'static str>,
    #[prop(optional, into)] value: String,
    #[prop(optional)] autofocus: bool,
    #[prop(optional)] required: bool,
    /// The on-screen keyboard: `numeric` for codes.
    #[prop(optional)]
    inputmode: Option<&'static str>,
) -> impl IntoView {
    let invalid = move || error.with(|e| e.as_ref().and_then(AppError::field) == Some(name));
    let described_by = if hint.is_some() {
        format!("{name}-hint {name}-error")
    } else {
        format!("{name}-error")
    };
    view! {
        <div class="field">
            <label for=name>{label}</label>
            <input
                id=name
                name=name
                type=kind
                autocomplete=autocomplete
                inputmode=inputmode
                value=value
                autofocus=autofocus
                required=required
                aria-invalid=move || if invalid() { "true" } else { "false" }
                aria-describedby=described_by
            />
            {hint.map(|hint| view! { <p class="hint" id=format!("{name}-hint")>{hint}</p> })}
            <FieldError field=name error />
        </div>
    }
}

/// The message of an error that belongs to `field`, shown under it.
#[component]
pub fn FieldError(field: &'static str, error: Signal<Option<AppError>>) -> impl IntoView {
    let message = move || {
        error
            .get()
            .filter(|e| e.field() == Some(field))
            .map(|e| e.to_string())
    };
    view! {
        <p class="field-error" id=format!("{field}-error") hidden=move || message().is_none()>
            {message}
        </p>
    }
}

/// An error that belongs to no single field, above the form.
#[component]
pub fn FormError(error: Signal<Option<AppError>>) -> impl IntoView {
    let message = move || {
        error
            .get()
            .filter(|e| e.field().is_none())
            .map(|e| e.to_string())
    };
    view! {
        <Show when=move || message().is_some()>
            <div class="alert alert-error" role="alert">
                {message}
            </div>
        </Show>
    }
}

/// A refusal beside a control that is not a form field (a button or a picker
/// in a table row).
#[component]
pub fn InlineError(error: Signal<Option<AppError>>) -> impl IntoView {
    view! {
        <p class="field-error" role="alert" hidden=move || error.with(Option::is_none)>
            {move || error.get().map(|error| error.to_string())}
        </p>
    }
}

/// A submit button that is disabled and relabelled while its action runs.
#[component]
pub fn SubmitButton(
    pending: Signal<bool>,
    label: &'static str,
    pending_label: &'static str,
    #[prop(default = "button primary")] class: &'static str,
) -> impl IntoView {
    view! {
        <button type="submit" class=class disabled=move || pending.get() aria-busy=move || pending.get().to_string()>
            {move || if pending.get() { pending_label } else { label }}
        </button>
    }
}
