//! The header row every dashboard table shares.

use leptos::prelude::*;

/// `<thead>` with one column per name and, when `actions` is set, a last
/// column for the row's buttons, named for screen readers only.
#[component]
pub fn TableHead(
    columns: &'static [&'static str],
    #[prop(optional)] actions: bool,
) -> impl IntoView {
    view! {
        <thead>
            <tr>
                {columns.iter().map(|column| view! { <th scope="col">{*column}</th> }).collect_view()}
                {actions.then(|| view! { <th scope="col"><span class="visually-hidden">"Actions"</span></th> })}
            </tr>
        </thead>
    }
}
