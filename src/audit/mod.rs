//! The audit log: what happened, who did it, to what, from where.
//!
//! Types here are shared with the browser (the audit page renders them);
//! writing and reading the store is server-only (`store`, `api`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub mod api;
#[cfg(feature = "ssr")]
pub mod chain;
#[cfg(feature = "ssr")]
pub mod checkpoint;
#[cfg(feature = "ssr")]
pub mod export;
pub mod filter;
#[cfg(feature = "ssr")]
pub mod query;
#[cfg(feature = "ssr")]
pub mod store;

/// Every kind of event the log records. The string form is what the store keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuditAction {
    UserSetup,
    UserSignedIn,
    UserSignInFailed,
    UserSignedOut,
    UserUpdated,
    UserPasswordChanged,
    UserSessionsEnded,
    UserTwoFactorEnabled,
    UserTwoFactorDisabled,
    UserRecoveryCodeUsed,
    UserPasswordResetLinkCreated,
    UserPasswordReset,
    MemberInvited,
    MemberInviteRevoked,
    MemberJoined,
    MemberRoleChanged,
    MemberRemoved,
    MemberTwoFactorReset,
    WorkspaceCreated,
    KeyCreated,
    KeyRotated,
    KeyUpdated,
    KeyRevoked,
    KeyAutoRevoked,
    KeyExpired,
    KeyLeaked,
    WorkspaceOffboarded,
    ServiceTokenCreated,
    ServiceTokenRevoked,
    SettingsChanged,
    AuditExported,
    WebhookCreated,
    WebhookUpdated,
    WebhookSecretRotated,
    WebhookDeleted,
}

impl AuditAction {
    pub const ALL: [AuditAction; 35] = [
        Self::UserSetup,
        Self::UserSignedIn,
        Self::UserSignInFailed,
        Self::UserSignedOut,
        Self::UserUpdated,
        Self::UserPasswordChanged,
        Self::UserSessionsEnded,
        Self::UserTwoFactorEnabled,
        Self::UserTwoFactorDisabled,
        Self::UserRecoveryCodeUsed,
        Self::UserPasswordResetLinkCreated,
        Self::UserPasswordReset,
        Self::MemberInvited,
        Self::MemberInviteRevoked,
        Self::MemberJoined,
        Self::MemberRoleChanged,
        Self::MemberRemoved,
        Self::MemberTwoFactorReset,
        Self::WorkspaceCreated,
        Self::KeyCreated,
        Self::KeyRotated,
        Self::KeyUpdated,
        Self::KeyRevoked,
        Self::KeyAutoRevoked,
        Self::KeyExpired,
        Self::KeyLeaked,
        Self::WorkspaceOffboarded,
        Self::ServiceTokenCreated,
        Self::ServiceTokenRevoked,
        Self::SettingsChanged,
        Self::AuditExported,
        Self::WebhookCreated,
        Self::WebhookUpdated,
        Self::WebhookSecretRotated,
        Self::WebhookDeleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserSetup => "user.setup",
            Self::UserSignedIn => "user.signed_in",
            Self::UserSignInFailed => "user.sign_in_failed",
            Self::UserSignedOut => "user.signed_out",
            Self::UserUpdated => "user.updated",
            Self::UserPasswordChanged => "user.password_changed",
            Self::UserSessionsEnded => "user.sessions_ended",
            Self::UserTwoFactorEnabled => "user.two_factor_enabled",
            Self::UserTwoFactorDisabled => "user.two_factor_disabled",
            Self::UserRecoveryCodeUsed => "user.recovery_code_used",
            Self::UserPasswordResetLinkCreated => "user.password_reset_link_created",
            Self::UserPasswordReset => "user.password_reset",
            Self::MemberInvited => "member.invited",
            Self::MemberInviteRevoked => "member.invite_revoked",
            Self::MemberJoined => "member.joined",
            Self::MemberRoleChanged => "member.role_changed",
            Self::MemberRemoved => "member.removed",
            Self::MemberTwoFactorReset => "member.two_factor_reset",
            Self::WorkspaceCreated => "workspace.created",
            Self::KeyCreated => "key.created",
            Self::KeyRotated => "key.rotated",
            Self::KeyUpdated => "key.updated",
            Self::KeyRevoked => "key.revoked",
            Self::KeyAutoRevoked => "key.auto_revoked",
            Self::KeyExpired => "key.expired",
            Self::KeyLeaked => "key.leaked",
            Self::WorkspaceOffboarded => "workspace.offboarded",
            Self::ServiceTokenCreated => "service_token.created",
            Self::ServiceTokenRevoked => "service_token.revoked",
            Self::SettingsChanged => "settings.changed",
            Self::AuditExported => "audit.exported",
            Self::WebhookCreated => "webhook.created",
            Self::WebhookUpdated => "webhook.updated",
            Self::WebhookSecretRotated => "webhook.secret_rotated",
            Self::WebhookDeleted => "webhook.deleted",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|action| action.as_str() == text)
    }

    /// What the actor did, as the middle of a sentence ("Ana Diaz {verb} {target}").
    fn verb(self) -> &'static str {
        match self {
            Self::UserSetup => "set up Keyward and created",
            Self::UserSignedIn => "signed in",
            Self::UserSignInFailed => "failed to sign in",
            Self::UserSignedOut => "signed out",
            Self::UserUpdated => "changed their name",
            Self::UserPasswordChanged => "changed their password",
            Self::UserSessionsEnded => "signed out elsewhere",
            Self::UserTwoFactorEnabled => "turned on two-factor sign-in",
            Self::UserTwoFactorDisabled => "turned off two-factor sign-in",
            Self::UserRecoveryCodeUsed => "signed in with a recovery code",
            Self::UserPasswordResetLinkCreated => "made a password reset link for",
            Self::UserPasswordReset => "set a new password through a reset link",
            Self::MemberInvited => "invited",
            Self::MemberInviteRevoked => "revoked the invite for",
            Self::MemberJoined => "joined",
            Self::MemberRoleChanged => "changed the role of",
            Self::MemberRemoved => "removed",
            Self::MemberTwoFactorReset => "reset the two-factor sign-in of",
            Self::WorkspaceCreated => "created the workspace",
            Self::KeyCreated => "created key",
            Self::KeyRotated => "rotated key",
            Self::KeyUpdated => "changed key",
            Self::KeyRevoked => "revoked key",
            Self::KeyAutoRevoked => "revoked key",
            Self::KeyExpired => "expired key",
            Self::KeyLeaked => "received a leak report for key",
            Self::WorkspaceOffboarded => "offboarded the workspace",
            Self::ServiceTokenCreated => "created service token",
            Self::ServiceTokenRevoked => "revoked service token",
            Self::SettingsChanged => "changed the settings",
            Self::AuditExported => "exported the audit log",
            Self::WebhookCreated => "added the webhook endpoint",
            Self::WebhookUpdated => "changed the webhook endpoint",
            Self::WebhookSecretRotated => "rotated the signing secret of the webhook endpoint",
            Self::WebhookDeleted => "deleted the webhook endpoint",
        }
    }
}

/// One entry as the audit page shows it.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEntryView {
    pub id: String,
    pub at: DateTime<Utc>,
    pub actor: String,
    /// The person's email at the time; `None` for `system`.
    pub actor_email: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// Before/after as pretty-printed JSON, when the action changed something.
    pub changes: Option<String>,
}

impl AuditEntryView {
    /// The entry as a sentence: "Ana Diaz invited bob@example.com".
    pub fn sentence(&self) -> String {
        let verb: &str = match AuditAction::parse(&self.action) {
            Some(action) => action.verb(),
            None => &self.action,
        };
        match &self.target {
            Some(target) => format!("{} {verb} {target}", self.actor),
            None => format!("{} {verb}", self.actor),
        }
    }
}

/// A page of entries, newest first, with keyset cursors to its neighbours.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditPage {
    pub entries: Vec<AuditEntryView>,
    /// Pass as `after` to get the next newer page, if there is one.
    pub newer: Option<i64>,
    /// Pass as `before` to get the next older page, if there is one.
    pub older: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_round_trips_through_its_name() {
        for action in AuditAction::ALL {
            assert_eq!(AuditAction::parse(action.as_str()), Some(action));
        }
        assert_eq!(AuditAction::parse("key.exploded"), None);
    }

    #[test]
    fn entries_read_as_sentences() {
        let entry = AuditEntryView {
            id: "1".into(),
            at: Utc::now(),
            actor: "Ana Diaz".into(),
            actor_email: Some("ana@example.com".into()),
            action: "member.invited".into(),
            target: Some("bob@example.com".into()),
            ip: None,
            user_agent: None,
            changes: None,
        };
        assert_eq!(entry.sentence(), "Ana Diaz invited bob@example.com");
    }
}
