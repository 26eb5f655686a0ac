//! The dashboard frame: top bar (brand, workspace switcher, user menu), the
//! settings navigation, and the page in the middle.

use crate::auth::Me;
use crate::auth::api::load_me;
use crate::error::AppError;
use crate::workspaces::Role;
use leptos::prelude::*;
use leptos_router::components::{A, Outlet};

/// The signed-in user, loaded once per page by the layout and read by pages.
#[derive(Clone, Copy)]
pub struct CurrentUser(pub Resource<Result<Me, AppError>>);

/// The current user's role, once known.
pub fn current_role() -> Signal<Option<Role>> {
    let user = use_context::<CurrentUser>();
    Signal::derive(move || {
        user.and_then(|CurrentUser(me)| me.get().and_then(Result::ok).map(|me| me.workspace.role))
    })
}

#[component]
pub fn DashboardLayout() -> impl IntoView {
    let me = Resource::new(|| (), |_| load_me());
    provide_context(CurrentUser(me));
    view! {
        <div class="app">
            <header class="topbar">
                <a class="brand" href="/settings/api-keys">
                    "Keyward"
                </a>
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        me.await.ok().map(|me| view! { <WorkspaceSwitcher me=me.clone() /> <UserMenu me /> })
                    })}
                </Suspense>
            </header>
            <div class="frame">
                <SideNav />
                <main class="content" id="main">
                    <Outlet />
                </main>
            </div>
        </div>
    }
}

/// The current workspace, and a plain form to switch to another (works before hydration too).
#[component]
fn WorkspaceSwitcher(me: Me) -> impl IntoView {
    let current = me.workspace.clone();
    if me.workspaces.len() < 2 {
        return view! {
            <div class="workspace-switcher">
                <span class="muted small">"Workspace"</span>
                <span class="strong" data-testid="current-workspace">{current.name}</span>
            </div>
        }
        .into_any();
    }
    view! {
        <form class="workspace-switcher" method="post" action="/rpc/switch_workspace">
            <label for="workspace-switch" class="muted small">"Workspace"</label>
            <select id="workspace-switch" name="workspace_id" data-testid="current-workspace">
                {me
                    .workspaces
                    .into_iter()
                    .map(|workspace| {
                        let selected = workspace.id == current.id;
                        view! {
                            <option value=workspace.id selected=selected>
                                {workspace.name}
                            </option>
                        }
                    })
                    .collect_view()}
            </select>
            <button type="submit" class="button small">"Switch"</button>
        </form>
    }
    .into_any()
}

#[component]
fn UserMenu(me: Me) -> impl IntoView {
    let initials: String = me
        .name
        .split_whitespace()
        .filter_map(|word| word.chars().next())
        .take(2)
        .collect();
    view! {
        <details class="user-menu">
            // The visible name is part of the accessible name (WCAG 2.5.3: what a
            // speech user reads out is what activates it).
            <summary>
                <span class="avatar" aria-hidden="true">{initials.to_uppercase()}</span>
                <span class="user-name">{me.name.clone()}</span>
                <span class="visually-hidden">" (account menu)"</span>
            </summary>
            <div class="menu">
                <div class="menu-identity">
                    <span class="strong">{me.name}</span>
                    <span class="muted small">{me.email}</span>
                    <span class="muted small">{format!("{} in {}", me.workspace.role.label(), me.workspace.name)}</span>
                </div>
                <a class="menu-item" href="/settings/account">"Your account"</a>
                <a class="menu-item" href="/settings/workspaces/new">"New workspace"</a>
                <form method="post" action="/rpc/sign_out">
                    <button type="submit" class="menu-item">"Sign out"</button>
                </form>
            </div>
        </details>
    }
}

/// Settings navigation; pages are listed for the roles that may open them (the pages
/// and their server functions refuse others regardless).
#[component]
fn SideNav() -> impl IntoView {
    let role = current_role();
    let is_admin = move || role.get().is_some_and(|role| role.includes(Role::Admin));
    let is_developer = move || {
        role.get()
            .is_some_and(|role| role.includes(Role::Developer))
    };
    view! {
        <nav class="sidenav" aria-label="Settings">
            <p class="nav-heading">"Settings"</p>
            <A href="/settings/api-keys">"API keys"</A>
            <Suspense fallback=|| ()>
                <Show when=is_developer>
                    <A href="/settings/usage">"Usage"</A>
                </Show>
                <Show when=is_admin>
                    <A href="/settings/members">"Members"</A>
                    <A href="/settings/service-tokens">"Service tokens"</A>
                    <A href="/settings/webhooks">"Webhooks"</A>
                    <A href="/settings/workspace">"Workspace"</A>
                </Show>
                <Show when=is_developer>
                    <A href="/settings/audit-log">"Audit log"</A>
                </Show>
            </Suspense>
        </nav>
    }
}

/// What a page shows when its data was refused or failed to load.
#[component]
pub fn Refusal(error: AppError) -> impl IntoView {
    let (title, hint) = match &error {
        AppError::Forbidden => (
            "You don't have access to this page",
            "Ask an admin of this workspace for access.",
        ),
        AppError::Unauthenticated => ("Your session has ended", "Sign in again to continue."),
        AppError::TwoFactorRequired => (
            "Two-factor sign-in is required",
            "Set it up on your account page: it takes a minute with an authenticator app.",
        ),
        _ => ("This page could not be loaded", "Try again in a moment."),
    };
    view! {
        <div class="empty-state" role="alert">
            <h2>{title}</h2>
            <p class="muted">{error.to_string()}</p>
            <p class="muted small">{hint}</p>
        </div>
    }
}
