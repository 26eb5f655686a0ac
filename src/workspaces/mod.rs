//! Workspaces (tenants), their members and roles, and invites.
//!
//! `Role` and the view types are shared with the browser; the store code is server-only.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub mod api;
#[cfg(feature = "ssr")]
pub mod invites;
#[cfg(feature = "ssr")]
pub mod members;
#[cfg(feature = "ssr")]
pub mod store;

/// A member's role in one workspace (docs/design.md §1). Ordered: each role can do
/// everything the ones below it can.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Developer,
    Admin,
}

/// A `role` column that holds no role: rows decode roles with
/// `#[sqlx(try_from = "String")]`, so such a row is an error, never a default.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not a role")]
pub struct UnknownRole(String);

impl TryFrom<String> for Role {
    type Error = UnknownRole;

    fn try_from(text: String) -> Result<Self, UnknownRole> {
        Self::parse(&text).ok_or(UnknownRole(text))
    }
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Admin, Role::Developer, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Developer => "developer",
            Self::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|role| role.as_str() == text)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Viewer => "Viewer",
            Self::Developer => "Developer",
            Self::Admin => "Admin",
        }
    }

    /// One line for the role picker.
    pub fn description(self) -> &'static str {
        match self {
            Self::Viewer => "Sees the list of API keys.",
            Self::Developer => "Creates keys and rotates or revokes their own.",
            Self::Admin => "Manages every key, the members and the audit log.",
        }
    }

    /// True when this role may do what `needed` may do.
    pub fn includes(self, needed: Role) -> bool {
        self >= needed
    }
}

/// A member as the Members page lists them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemberView {
    pub user_id: String,
    pub name: String,
    pub email: String,
    pub role: Role,
    pub joined_at: DateTime<Utc>,
    pub is_you: bool,
    /// Whether they sign in with a second factor.
    pub two_factor: bool,
}

/// An invite that has not been used or revoked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InviteView {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub invited_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub expired: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MembersPage {
    pub members: Vec<MemberView>,
    pub invites: Vec<InviteView>,
}

/// A new invite with its link, shown once to the admin who created it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CreatedInvite {
    pub link: String,
    pub email: String,
    pub role: Role,
    /// How long the link works (a count, so the browser needs no date parsing).
    pub valid_days: i64,
    /// With email on, whether the relay took the invite's message (`None`: email is off).
    pub emailed: Option<bool>,
}

/// What the invite page shows about an invite link.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum InviteStatus {
    Open(InviteDetails),
    Used,
    Expired,
    Revoked,
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InviteDetails {
    pub workspace_name: String,
    pub email: String,
    pub role: Role,
    pub invited_by: String,
    /// The invitee already has an account: they join with its password.
    pub account_exists: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_by_power() {
        assert!(Role::Admin.includes(Role::Developer));
        assert!(Role::Developer.includes(Role::Viewer));
        assert!(!Role::Viewer.includes(Role::Developer));
        assert!(!Role::Developer.includes(Role::Admin));
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("owner"), None);
    }
}
