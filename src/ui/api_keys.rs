//! Settings → API keys. The key list, creation and rotation arrive with the
//! API keys feature; until then the page explains what will live here.

use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn ApiKeysPage() -> impl IntoView {
    view! {
        <Title text="API keys" />
        <div class="page-header">
            <div>
                <h1>"API keys"</h1>
                <p class="muted">"Secret keys let your backend call the API on behalf of this workspace."</p>
            </div>
        </div>
        <div class="empty-state">
            <span class="empty-icon" aria-hidden="true">"🔑"</span>
            <h2>"No API keys yet"</h2>
            <p class="muted">"Keys you create will be listed here with their last use, scopes and status."</p>
        </div>
    }
}
