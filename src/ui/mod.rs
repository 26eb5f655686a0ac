//! The dashboard: pages and the components they share. Rendered on the server,
//! hydrated in the browser; data comes only through server functions.

use leptos::prelude::*;
use leptos_meta::{MetaTags, Title, provide_meta_context};
use leptos_router::components::{ParentRoute, Redirect, Route, Router, Routes};
use leptos_router::path;

mod account;
mod api_key;
mod api_keys;
mod api_reference;
mod audit_log;
pub mod browser;
mod confirm_button;
mod copy;
mod dialog;
mod forgot_password;
mod form;
mod invite;
mod key_actions;
mod key_dialogs;
mod layout;
mod members;
mod new_workspace;
mod password_reset;
mod service_tokens;
mod setup;
mod shown_once;
mod sign_in;
mod submission;
mod table;
mod time;
mod two_factor;
mod usage;
mod usage_chart;
mod webhooks;
mod workspace_settings;

/// The HTML document around the app (server only).
pub fn shell(options: LeptosOptions) -> impl IntoView {
    // The policy names the nonce the hydration scripts below carry.
    #[cfg(feature = "ssr")]
    crate::http::security_headers::send_page_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                <link rel="icon" type="image/svg+xml" href="/favicon.svg" />
                <AutoReload options=options.clone() />
                <HydrationScripts options=options.clone() islands=true />
                <leptos_meta::HashedStylesheet options id="leptos" />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Title formatter=|page: String| format!("{page} · Keyward") />
        <Router>
            <Routes fallback=NotFound>
                <Route path=path!("/") view=|| view! { <Redirect path="/settings/api-keys" /> } />
                <Route path=path!("/signin") view=sign_in::SignInPage />
                <Route path=path!("/signin/code") view=two_factor::SignInCodePage />
                <Route path=path!("/setup") view=setup::SetupPage />
                <Route path=path!("/invite/:token") view=invite::InvitePage />
                <Route path=path!("/forgot") view=forgot_password::ForgotPasswordPage />
                <Route path=path!("/reset/:token") view=password_reset::PasswordResetPage />
                <Route path=path!("/docs/api") view=api_reference::ApiReferencePage />
                <ParentRoute path=path!("/settings") view=layout::DashboardLayout>
                    <Route path=path!("") view=|| view! { <Redirect path="/settings/api-keys" /> } />
                    <Route path=path!("api-keys") view=api_keys::ApiKeysPage />
                    <Route path=path!("account") view=account::AccountPage />
                    <Route path=path!("api-keys/:id") view=api_key::ApiKeyPage />
                    <Route path=path!("usage") view=usage::UsagePage />
                    <Route path=path!("members") view=members::MembersPage />
                    <Route path=path!("audit-log") view=audit_log::AuditLogPage />
                    <Route path=path!("service-tokens") view=service_tokens::ServiceTokensPage />
                    <Route path=path!("webhooks") view=webhooks::WebhooksSettingsPage />
                    <Route path=path!("workspaces/new") view=new_workspace::NewWorkspacePage />
                    <Route path=path!("workspace") view=workspace_settings::WorkspaceSettingsPage />
                </ParentRoute>
            </Routes>
        </Router>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(axum::http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found" />
        <main class="centered-page">
            <div class="card narrow">
                <h1 class="card-title">"Page not found"</h1>
                <p class="muted">"There is nothing at this address."</p>
                <a class="button primary" href="/settings/api-keys">"Go to your API keys"</a>
            </div>
        </main>
    }
}
