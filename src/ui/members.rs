//! Settings → Members: invite people by link, change roles, remove members,
//! revoke pending invites. Admins only; the server functions enforce it.

use super::dialog::ConfirmDialog;
use super::form::{FieldError, FormError, SubmitButton, TextField, action_error};
use super::layout::Refusal;
use super::shown_once::{ShownOnce, ShownOnceIds};
use super::time::{exact, relative};
use crate::workspaces::api::{
    ChangeMemberRole, InviteMember, RemoveMember, RevokeInvite, load_members,
};
use crate::workspaces::{CreatedInvite, InviteView, MemberView, Role};
use chrono::Utc;
use leptos::prelude::*;
use leptos_meta::Title;

/// What the confirmation dialog is about to do.
#[derive(Clone)]
enum PendingRemoval {
    Member { user_id: String, name: String },
    Invite { id: String, email: String },
}

#[component]
pub fn MembersPage() -> impl IntoView {
    let invite = ServerAction::<InviteMember>::new();
    let change_role = ServerAction::<ChangeMemberRole>::new();
    let remove = ServerAction::<RemoveMember>::new();
    let revoke = ServerAction::<RevokeInvite>::new();
    let page = Resource::new(
        move || {
            (
                invite.version().get(),
                change_role.version().get(),
                remove.version().get(),
                revoke.version().get(),
            )
        },
        |_| load_members(),
    );
    let change_error = action_error(change_role.value());
    let remove_error = action_error(remove.value());
    let revoke_error = action_error(revoke.value());
    let table_error = Signal::derive(move || {
        change_error
            .get()
            .or(remove_error.get())
            .or(revoke_error.get())
    });

    let pending = RwSignal::new(None::<PendingRemoval>);
    let dialog_open = RwSignal::new(false);
    let dialog_title = Signal::derive(move || match pending.get() {
        Some(PendingRemoval::Member { name, .. }) => format!("Remove {name}?"),
        Some(PendingRemoval::Invite { email, .. }) => format!("Revoke the invite for {email}?"),
        None => String::new(),
    });
    let dialog_message = Signal::derive(move || match pending.get() {
        Some(PendingRemoval::Member { .. }) => {
            "They lose access to this workspace at once. You can invite them again later."
                .to_owned()
        }
        Some(PendingRemoval::Invite { .. }) => "The link stops working at once.".to_owned(),
        None => String::new(),
    });
    let confirm = Callback::new(move |()| match pending.get_untracked() {
        Some(PendingRemoval::Member { user_id, .. }) => {
            remove.dispatch(RemoveMember { user_id });
        }
        Some(PendingRemoval::Invite { id, .. }) => {
            revoke.dispatch(RevokeInvite { invite_id: id });
        }
        None => {}
    });
    let ask = move |removal: PendingRemoval| {
        pending.set(Some(removal));
        dialog_open.set(true);
    };

    view! {
        <Title text="Members" />
        <div class="page-header">
            <div>
                <h1>"Members"</h1>
                <p class="muted">"People in this workspace and what they may do."</p>
            </div>
        </div>
        <InvitePanel invite />
        <Suspense fallback=|| view! { <p class="muted">"Loading members…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Err(error) => view! { <Refusal error /> }.into_any(),
                    Ok(page) => view! {
                        <FormError error=table_error />
                        <MembersTable members=page.members change_role ask />
                        <InvitesTable invites=page.invites ask />
                    }
                        .into_any(),
                }
            })}
        </Suspense>
        <ConfirmDialog
            open=dialog_open
            title=dialog_title
            message=dialog_message
            confirm_label="Yes, remove access"
            on_confirm=confirm
        />
    }
}

#[component]
fn InvitePanel(invite: ServerAction<InviteMember>) -> impl IntoView {
    let error = action_error(invite.value());
    let created = move || invite.value().get().and_then(Result::ok);
    view! {
        <section class="card section" aria-labelledby="invite-heading">
            <h2 id="invite-heading">"Invite someone"</h2>
            <p class="muted">"Creates a one-time link, valid for 7 days, for you to send them."</p>
            <ActionForm action=invite attr:class="inline-form" attr:novalidate=true>
                <div class="grow">
                    <TextField name="email" label="Email" kind="email" required=true error />
                </div>
                <div class="field">
                    <label for="role">"Role"</label>
                    <select id="role" name="role" aria-describedby="role-error">
                        {Role::ALL
                            .into_iter()
                            .map(|role| {
                                view! {
                                    <option value=role.as_str() selected=role == Role::Developer title=role.description()>
                                        {role.label()}
                                    </option>
                                }
                            })
                            .collect_view()}
                    </select>
                    <FieldError field="role" error />
                </div>
                <SubmitButton pending=invite.pending().into() label="Create invite link" pending_label="Creating…" />
            </ActionForm>
            <FormError error />
            {move || created().map(|created| view! { <InviteLink created on_done=move || invite.value().set(None) /> })}
        </section>
    }
}

/// The new invite's link, shown once.
#[component]
fn InviteLink(created: CreatedInvite, on_done: impl Fn() + Send + Sync + 'static) -> impl IntoView {
    view! {
        <ShownOnce
            title=format!("Invite link for {} ({})", created.email, created.role.label().to_lowercase())
            hint=format!(
                "Send it to them yourself. It works once and expires {}. It won't be shown again.",
                relative(created.expires_at, Utc::now()),
            )
            secret=created.link
            copy_label="Copy invite link"
            ids=ShownOnceIds { panel: "invite-panel", secret: "invite-link" }
            on_done=Callback::new(move |()| on_done())
        />
    }
}

#[component]
fn MembersTable(
    members: Vec<MemberView>,
    change_role: ServerAction<ChangeMemberRole>,
    ask: impl Fn(PendingRemoval) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let now = Utc::now();
    view! {
        <section class="card flush section" aria-label="Members">
            <table class="table">
                <thead>
                    <tr>
                        <th scope="col">"Name"</th>
                        <th scope="col">"Email"</th>
                        <th scope="col">"Role"</th>
                        <th scope="col">"Joined"</th>
                        <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                    </tr>
                </thead>
                <tbody>
                    {members
                        .into_iter()
                        .map(|member| {
                            let user_id = member.user_id.clone();
                            let removal = PendingRemoval::Member { user_id: member.user_id.clone(), name: member.name.clone() };
                            view! {
                                <tr data-testid="member-row">
                                    <td class="strong">
                                        {member.name.clone()}
                                        {member.is_you.then(|| view! { " " <span class="badge">"you"</span> })}
                                    </td>
                                    <td>{member.email.clone()}</td>
                                    <td>
                                        <select
                                            aria-label=format!("Role of {}", member.name)
                                            on:change=move |event| {
                                                change_role.dispatch(ChangeMemberRole {
                                                    user_id: user_id.clone(),
                                                    role: event_target_value(&event),
                                                });
                                            }
                                        >
                                            {Role::ALL
                                                .into_iter()
                                                .map(|role| view! {
                                                    <option value=role.as_str() selected=role == member.role>{role.label()}</option>
                                                })
                                                .collect_view()}
                                        </select>
                                    </td>
                                    <td title=exact(member.joined_at)>{relative(member.joined_at, now)}</td>
                                    <td class="actions">
                                        <button type="button" class="button small danger-outline" on:click=move |_| ask(removal.clone())>
                                            "Remove"
                                        </button>
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </section>
    }
}

#[component]
fn InvitesTable(
    invites: Vec<InviteView>,
    ask: impl Fn(PendingRemoval) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    if invites.is_empty() {
        return ().into_any();
    }
    let now = Utc::now();
    view! {
        <section class="card flush section" aria-labelledby="invites-heading">
            <h2 id="invites-heading" class="card-title">"Pending invites"</h2>
            <table class="table">
                <thead>
                    <tr>
                        <th scope="col">"Email"</th>
                        <th scope="col">"Role"</th>
                        <th scope="col">"Invited by"</th>
                        <th scope="col">"Expires"</th>
                        <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                    </tr>
                </thead>
                <tbody>
                    {invites
                        .into_iter()
                        .map(|invite| {
                            let removal = PendingRemoval::Invite { id: invite.id.clone(), email: invite.email.clone() };
                            view! {
                                <tr data-testid="invite-row">
                                    <td>{invite.email.clone()}</td>
                                    <td><span class=format!("badge {}", invite.role.as_str())>{invite.role.label()}</span></td>
                                    <td>{invite.invited_by.clone()}</td>
                                    <td title=exact(invite.expires_at)>
                                        {if invite.expired {
                                            view! { <span class="badge expired">"expired"</span> }.into_any()
                                        } else {
                                            relative(invite.expires_at, now).into_any()
                                        }}
                                    </td>
                                    <td class="actions">
                                        <button type="button" class="button small danger-outline" on:click=move |_| ask(removal.clone())>
                                            "Revoke"
                                        </button>
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </section>
    }
    .into_any()
}
