//! A server function called from an island, and what it answered.
//!
//! Leptos' `ServerAction` does the same and more (inputs, versions, form
//! decoding), but every action type brings its own copy of that machinery into
//! the wasm bundle. Islands only need "running?" and "the answer", so this is
//! the lean version that keeps the bundle within its budget.

use super::browser::reload_page;
use crate::error::AppError;
use leptos::prelude::*;
use std::future::Future;

pub struct Submission<T: Send + Sync + 'static> {
    pending: RwSignal<bool>,
    answer: RwSignal<Option<Result<T, AppError>>>,
}

impl<T: Send + Sync + 'static> Clone for Submission<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Send + Sync + 'static> Copy for Submission<T> {}

impl<T: Send + Sync + 'static> Submission<T> {
    pub fn new() -> Self {
        Self {
            pending: RwSignal::new(false),
            answer: RwSignal::new(None),
        }
    }

    /// Starts `call` unless one is still running (a double click sends once).
    pub fn run(self, call: impl Future<Output = Result<T, AppError>> + 'static) {
        if self.pending.get_untracked() {
            return;
        }
        self.pending.set(true);
        leptos::task::spawn_local(async move {
            let answer = call.await;
            self.answer.set(Some(answer));
            self.pending.set(false);
        });
    }

    /// Reloads the page once a call succeeds, so the server renders the change.
    pub fn reload_when_done(self) -> Self {
        Effect::new(move || {
            if self.answer.with(|answer| matches!(answer, Some(Ok(_)))) {
                reload_page();
            }
        });
        self
    }

    /// A form's submit handler: instead of posting the form (which still works
    /// before hydration), calls the server function `call` makes of its fields.
    pub fn on_submit<Call>(
        self,
        call: impl Fn(Fields) -> Call + 'static,
    ) -> impl Fn(leptos::ev::SubmitEvent) + 'static
    where
        Call: Future<Output = Result<T, AppError>> + 'static,
    {
        move |event| {
            event.prevent_default();
            self.run(call(Fields::of(&event)));
        }
    }

    pub fn pending(self) -> Signal<bool> {
        self.pending.into()
    }

    /// The last answer; islands may take it (`set(None)`) once they used it.
    pub fn answer(self) -> RwSignal<Option<Result<T, AppError>>> {
        self.answer
    }
}

/// The text fields of a submitted form, by name.
pub struct Fields(Option<web_sys::FormData>);

impl Fields {
    pub fn of(event: &leptos::ev::SubmitEvent) -> Self {
        use wasm_bindgen::JsCast;
        let form = event
            .target()
            .and_then(|target| target.dyn_into::<web_sys::HtmlFormElement>().ok());
        Self(form.and_then(|form| web_sys::FormData::new_with_form(&form).ok()))
    }

    /// Every value of a field that repeats (checked checkboxes of one name).
    pub fn all(&self, name: &str) -> Vec<String> {
        let Some(data) = self.0.as_ref() else {
            return Vec::new();
        };
        let values = data.get_all(name);
        (0..values.length())
            .filter_map(|index| values.get(index).as_string())
            .collect()
    }

    /// The field's value; empty when the form has no such field.
    pub fn text(&self, name: &str) -> String {
        self.0
            .as_ref()
            .and_then(|data| data.get(name).as_string())
            .unwrap_or_default()
    }
}
