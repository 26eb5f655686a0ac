//! Settings → Members: invite people by link, change roles, make a password
//! reset link for a member, remove members, revoke pending invites. Admins
//! only; the server functions enforce it. The tables are rendered on the
//! server; the invite form, the role pickers and the buttons are islands, and
//! a change reloads the page.

use super::browser::reload_page;
use super::confirm_button::{ConfirmButton, Confirmation, Destructive};
use super::form::{FieldError, FormError, InlineError, SubmitButton, TextField, action_error};
use super::layout::Refusal;
use super::shown_once::{ShownOnce, ShownOnceIds};
use super::submission::Submission;
use super::table::TableHead;
use super::time::{exact, relative};
use crate::workspaces::api::{InviteMember, change_member_role, invite_member, load_members};
use crate::workspaces::{CreatedInvite, InviteView, MemberView, Role};
use chrono::Utc;
use leptos::prelude::*;
use leptos_meta::Title;
use server_fn::ServerFn;

#[component]
pub fn MembersPage() -> impl IntoView {
    let page = Resource::new(|| (), |_| load_members());
    view! {
        <Title text="Members" />
        <div class="page-header">
            <div>
                <h1>"Members"</h1>
                <p class="muted">"People in this workspace and what they may do."</p>
            </div>
        </div>
        <section class="card section" aria-labelledby="invite-heading">
            <h2 id="invite-heading">"Invite someone"</h2>
            <p class="muted">"Creates a one-time link, valid for 7 days, for you to send them (and emails it to them when this server sends email)."</p>
            <InviteForm />
        </section>
        <Suspense fallback=|| view! { <p class="muted">"Loading members…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Err(error) => view! { <Refusal error /> }.into_any(),
                    Ok(page) => view! {
                        <MembersTable members=page.members />
                        <InvitesTable invites=page.invites />
                    }
                        .into_any(),
                }
            })}
        </Suspense>
    }
}

/// Email and role in; a one-time invite link out, shown once. "Done" reloads
/// the page, which then lists the invite.
#[island]
fn InviteForm() -> impl IntoView {
    let invite = Submission::<CreatedInvite>::new();
    let error = action_error(invite.answer(), None);
    let created = move || invite.answer().get().and_then(Result::ok);
    let submit =
        invite.on_submit(|fields| invite_member(fields.text("email"), fields.text("role")));
    view! {
        <form method="post" action=InviteMember::url() class="inline-form" novalidate on:submit=submit>
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
            <SubmitButton pending=invite.pending() label="Create invite link" pending_label="Creating…" />
        </form>
        <FormError error />
        {move || created().map(|created| view! { <InviteLink created /> })}
    }
}

/// The new invite's link, shown once.
#[component]
fn InviteLink(created: CreatedInvite) -> impl IntoView {
    view! {
        <ShownOnce
            title=format!("Invite link for {} ({})", created.email, created.role.label().to_lowercase())
            hint=format!(
                "{} It works once and expires in {} days. It won't be shown again.",
                match created.emailed {
                    Some(true) => "We emailed it to them; you can also send it yourself.",
                    Some(false) => "Emailing it failed: send it to them yourself.",
                    None => "Send it to them yourself.",
                },
                created.valid_days,
            )
            secret=created.link
            copy_label="Copy invite link"
            ids=ShownOnceIds { panel: "invite-panel", secret: "invite-link" }
            on_done=Callback::new(|()| reload_page())
        />
    }
}

#[component]
fn MembersTable(members: Vec<MemberView>) -> impl IntoView {
    let now = Utc::now();
    view! {
        <section class="card flush section" aria-label="Members">
            <table class="table">
                <TableHead columns=&["Name", "Email", "Role", "Two-factor", "Joined"] actions=true />
                <tbody>
                    {members
                        .into_iter()
                        .map(|member| {
                            let removal = Destructive::RemoveMember { user_id: member.user_id.clone() };
                            let words = Confirmation {
                                button: "Remove".to_owned(),
                                button_aria: None,
                                title: format!("Remove {}?", member.name),
                                message: "They lose access to this workspace at once. You can invite them again later.".to_owned(),
                                confirm: "Yes, remove access".to_owned(),
                            };
                            view! {
                                <tr data-testid="member-row">
                                    <td class="strong">
                                        {member.name.clone()}
                                        {member.is_you.then(|| view! { " " <span class="badge">"you"</span> })}
                                    </td>
                                    <td>{member.email.clone()}</td>
                                    <td>
                                        <RoleSelect user_id=member.user_id.clone() name=member.name.clone() role=member.role />
                                    </td>
                                    <td>
                                        {if member.two_factor {
                                            view! { <span class="badge active">"On"</span> }.into_any()
                                        } else {
                                            view! { <span class="muted">"Off"</span> }.into_any()
                                        }}
                                    </td>
                                    <td title=exact(member.joined_at)>{relative(member.joined_at, now)}</td>
                                    <td class="actions">
                                        {(!member.is_you).then(|| reset_link_button(&member))}
                                        {(member.two_factor && !member.is_you).then(|| reset_two_factor_button(&member))}
                                        <ConfirmButton change=removal words />
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

/// "Reset password": after asking, a one-time reset link for the admin to
/// pass on, shown once in a dialog.
fn reset_link_button(member: &MemberView) -> impl IntoView + use<> {
    let words = Confirmation {
        button: "Reset password".to_owned(),
        button_aria: Some(format!("Reset password of {}", member.name)),
        title: format!("Create a password reset link for {}?", member.name),
        message: "A one-time link, valid for an hour, for you to pass on to them. Their password stays until they use it; using it signs them out everywhere, and two-factor sign-in, if on, is still asked for. Any earlier reset link of theirs stops working.".to_owned(),
        confirm: "Create reset link".to_owned(),
    };
    let change = Destructive::CreateResetLink {
        user_id: member.user_id.clone(),
    };
    view! { <ConfirmButton change words /> }
}

/// Turns off a member's second factor after asking (they lost their phone).
fn reset_two_factor_button(member: &MemberView) -> impl IntoView + use<> {
    let words = Confirmation {
        button: "Reset two-factor".to_owned(),
        button_aria: Some(format!("Reset two-factor sign-in of {}", member.name)),
        title: format!("Reset two-factor sign-in of {}?", member.name),
        message: "Their authenticator app and recovery codes stop working. They sign in with their password, then set up two-factor sign-in again (at once, if this workspace requires it).".to_owned(),
        confirm: "Yes, reset it".to_owned(),
    };
    let change = Destructive::ResetMemberTwoFactor {
        user_id: member.user_id.clone(),
    };
    view! { <ConfirmButton change words /> }
}

#[component]
fn InvitesTable(invites: Vec<InviteView>) -> impl IntoView {
    if invites.is_empty() {
        return ().into_any();
    }
    let now = Utc::now();
    view! {
        <section class="card flush section" aria-labelledby="invites-heading">
            <h2 id="invites-heading" class="card-title">"Pending invites"</h2>
            <table class="table">
                <TableHead columns=&["Email", "Role", "Invited by", "Expires"] actions=true />
                <tbody>
                    {invites
                        .into_iter()
                        .map(|invite| {
                            let revocation = Destructive::RevokeInvite { invite_id: invite.id.clone() };
                            let words = Confirmation {
                                button: "Revoke".to_owned(),
                                button_aria: None,
                                title: format!("Revoke the invite for {}?", invite.email),
                                message: "The link stops working at once.".to_owned(),
                                confirm: "Yes, revoke it".to_owned(),
                            };
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
                                        <ConfirmButton change=revocation words />
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

/// A member's role: choosing another one saves it and reloads the page; a
/// refusal (the last admin, say) shows under the picker.
#[island]
fn RoleSelect(user_id: String, name: String, role: Role) -> impl IntoView {
    let action = Submission::<()>::new().reload_when_done();
    let change = move |event: leptos::ev::Event| {
        action.run(change_member_role(
            user_id.clone(),
            event_target_value(&event),
        ));
    };
    view! {
        <select aria-label=format!("Role of {name}") disabled=move || action.pending().get() on:change=change>
            {Role::ALL
                .into_iter()
                .map(|choice| view! { <option value=choice.as_str() selected=choice == role>{choice.label()}</option> })
                .collect_view()}
        </select>
        <InlineError error=action_error(action.answer(), None) />
    }
}
